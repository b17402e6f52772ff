/* Whether this replica has caught up with the mesh: a replica that has just
 * restarted holds its last snapshot only, until the leader confirms which
 * of its log entries are committed, so it would answer "not in the mesh"
 * for nodes that joined since. */
#include <stdio.h>

#include "store/store_int.h"

/* The term of the entry at index in libraft's in-memory log, 0 if it is not
 * there. libraft 0.15 exports no lookup; struct raft_log is in its public
 * header: a circular buffer [front, back) of size slots holding indexes
 * offset+1 onwards, the snapshot's last index and term beside it. */
static raft_term term_at(const struct raft_log *l, raft_index index)
{
	if (index == 0)
		return 0;
	if (index == l->snapshot.last_index)
		return l->snapshot.last_term;
	if (index <= l->offset || l->size == 0)
		return 0;
	size_t n = l->back >= l->front ? l->back - l->front : l->size - l->front + l->back;
	raft_index k = index - l->offset - 1;
	if (k >= n)
		return 0;
	return l->entries[(l->front + k) % l->size].term;
}

void wm_store_catchup_status(struct wm_store *s, struct wm_store_status *out)
{
	struct raft *r = &s->raft;
	int state = raft_state(r);
	out->caught_up = false;
	if (out->stalled_index)
		out->behind = "this server stopped applying the Raft log at an entry that needs a "
			      "newer webmeshd (wmctl status)";
	else if (state != RAFT_LEADER && state != RAFT_FOLLOWER)
		out->behind = "this server has no Raft leader right now";
	else if (state == RAFT_FOLLOWER && !out->leader_address[0])
		out->behind = "this server has not heard from the Raft leader yet";
	else if (r->last_applied < r->commit_index)
		out->behind = "this server is applying the Raft log";
	/* Only an entry of the current term, once committed, proves that
	 * everything committed before it is here too (Raft 5.4.2): until the
	 * leader's first entry of its term is applied, the replica may miss
	 * entries that other servers have applied. */
	else if (term_at(&r->log, r->last_applied) != r->current_term)
		out->behind = "this server has not yet applied an entry of the leader's term";
	else {
		out->behind = NULL;
		out->caught_up = true;
	}
}
