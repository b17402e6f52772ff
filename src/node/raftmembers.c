/* On the leader, Raft membership follows the mesh state: nodes stored as
 * voters or observers are added to the Raft configuration at their mesh
 * address, and members whose node left (or became a plain member) are
 * removed. Doing this as a reconciliation loop rather than inside Join makes
 * it survive leader changes, unreachable joiners and failed promotions: the
 * next leader simply finishes the job. libraft allows one configuration
 * change at a time, so at most one is in flight. */
#include "node/raftmembers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "util/log.h"

#define RECONCILE_MS 300

static void change_done_cb(void *data, int err)
{
	struct wm_raftmembers *rm = data;
	rm->change_pending = false;
	rm->reconciled_index = 0; /* look again, whatever the outcome */
	if (err && err != -ECANCELED) {
		wm_warn("raft membership change for %s failed (%s); will retry after the others",
			rm->changing, wm_strerror(err));
		snprintf(rm->failed, sizeof(rm->failed), "%s", rm->changing);
	} else if (!err && strcmp(rm->failed, rm->changing) == 0) {
		rm->failed[0] = '\0';
	}
}

static const struct wm_store_member *find_member(const struct wm_store_status *st, const char *id)
{
	for (size_t i = 0; i < st->n_members; i++)
		if (strcmp(st->members[i].node_id, id) == 0)
			return &st->members[i];
	return NULL;
}

static bool wants_raft(const struct wm_mesh_node *n)
{
	return n->raft_role == WM_ROLE_VOTER || n->raft_role == WM_ROLE_OBSERVER;
}

/* Starts at most one addition (or re-addition), skipping the node whose
 * last change failed when skip is set; returns true if it did. */
static bool add_once(struct wm_raftmembers *rm, const struct wm_store_status *st,
		     const struct wm_mesh_node *nodes, size_t n, bool skip_failed)
{
	for (size_t i = 0; i < n; i++) {
		const struct wm_mesh_node *node = &nodes[i];
		if (!wants_raft(node) || node->ipv4.family != AF_INET)
			continue;
		if (skip_failed && strcmp(node->id, rm->failed) == 0)
			continue;
		char host[WM_PREFIX_STRLEN], addr[WM_PREFIX_STRLEN + 8];
		wm_prefix_format_addr(&node->ipv4, host, sizeof(host));
		snprintf(addr, sizeof(addr), "%s:%u", host, rm->c.raft_port);
		const struct wm_store_member *m = find_member(st, node->id);
		if (m && m->role == node->raft_role && strcmp(m->address, addr) == 0)
			continue;
		snprintf(rm->changing, sizeof(rm->changing), "%s", node->id);
		if (m && strcmp(m->address, addr) != 0) {
			if (wm_store_remove_member(rm->store, node->id, change_done_cb, rm) == 0) {
				wm_info("raft: re-adding %s at its new address %s", node->id, addr);
				return true;
			}
			continue;
		}
		int err = wm_store_add_member(rm->store, node->id, addr, node->raft_role,
					      change_done_cb, rm);
		if (err == 0) {
			wm_info("raft: adding %s as %s at %s", node->id,
				node->raft_role == WM_ROLE_VOTER ? "voter" : "observer", addr);
			return true;
		}
		if (err != -EALREADY && err != -EBUSY)
			wm_debug("raft: cannot add %s yet: %s", node->id, wm_strerror(err));
	}
	return false;
}

/* Starts at most one change; returns true if it did. */
static bool reconcile_once(struct wm_raftmembers *rm, const struct wm_store_status *st,
			   const struct wm_mesh_node *nodes, size_t n)
{
	if (add_once(rm, st, nodes, n, true))
		return true;
	for (size_t i = 0; i < st->n_members; i++) {
		const struct wm_store_member *m = &st->members[i];
		if (strcmp(m->node_id, rm->c.node_id) == 0)
			continue;
		/* Its node was removed from the mesh: nothing maps the raft ID
		 * to a node any more, yet it would count towards the quorum
		 * (and stay among the Raft port's servers) for ever. */
		snprintf(rm->changing, sizeof(rm->changing), "%s", m->node_id);
		if (!m->node_id[0]) {
			if (wm_store_remove_raft_id(rm->store, m->raft_id, change_done_cb, rm) ==
			    0) {
				wm_info("raft: removing %s (raft ID %llx), its node was removed",
					m->address, (unsigned long long)m->raft_id);
				return true;
			}
			continue;
		}
		bool keep = false;
		for (size_t j = 0; j < n && !keep; j++)
			keep = strcmp(nodes[j].id, m->node_id) == 0 && wants_raft(&nodes[j]);
		if (keep)
			continue;
		if (wm_store_remove_member(rm->store, m->node_id, change_done_cb, rm) == 0) {
			wm_info("raft: removing %s, it is no longer a voter or observer",
				m->node_id);
			return true;
		}
	}
	/* Nothing else to do: the node that failed last gets its turn again. */
	return rm->failed[0] && add_once(rm, st, nodes, n, false);
}

static void term_barrier_cb(void *data, const struct wm_store_result *res)
{
	(void)data;
	if (res->err)
		wm_debug("raft: the new term's barrier failed: %s", wm_strerror(res->err));
}

/* libraft 0.15 appends nothing when a leader is elected, so after a full
 * restart nothing is known to be committed (and no replica counts as caught
 * up, see wm_store_status) until the first write of the term: a barrier is
 * that write. */
static void term_barrier(struct wm_raftmembers *rm)
{
	int err = wm_store_barrier(rm->store, term_barrier_cb, rm);
	if (err)
		wm_debug("raft: cannot start the new term's barrier: %s", wm_strerror(err));
}

static void reconcile_cb(uv_timer_t *t)
{
	struct wm_raftmembers *rm = t->data;
	if (rm->closed || !rm->store || rm->c.stopping(rm->c.data))
		return;
	struct wm_store_status st;
	wm_store_status(rm->store, &st);
	/* Leadership changes are logged where operators look; libraft 0.15 has
	 * no callback for them, so this timer is also the detector. */
	if (strcmp(st.leader_id, rm->last_leader) != 0 || st.term != rm->last_term) {
		if (st.leader_id[0])
			wm_info("raft: leader is %s (term %llu)%s", st.leader_id,
				(unsigned long long)st.term, st.is_leader ? ", this node" : "");
		else
			wm_info("raft: no leader (term %llu)", (unsigned long long)st.term);
		snprintf(rm->last_leader, sizeof(rm->last_leader), "%s", st.leader_id);
		rm->last_term = st.term;
		if (st.is_leader && !st.caught_up)
			term_barrier(rm);
		rm->c.leader_changed(rm->c.data);
	}
	rm->c.status_cb(rm->c.data, &st);
	if (!st.is_leader || rm->change_pending || !rm->c.running(rm->c.data))
		return;
	/* Nothing applied (membership changes are log entries too) and the
	 * same term since a pass that found nothing to do: the answer is the
	 * same, and reading every node ten times a second stalls the loop for
	 * milliseconds at 1,000 nodes (MeshDNS's latency showed it). */
	if (st.applied_index == rm->reconciled_index && st.term == rm->reconciled_term)
		return;
	struct wm_mesh_node *nodes = NULL;
	size_t n = 0;
	if (wm_store_list_nodes(rm->store, &nodes, &n) < 0)
		return;
	rm->change_pending = reconcile_once(rm, &st, nodes, n);
	if (!rm->change_pending) {
		rm->reconciled_index = st.applied_index;
		rm->reconciled_term = st.term;
	}
	free(nodes);
}

void wm_raftmembers_init(struct wm_raftmembers *rm, const struct wm_raftmembers_config *c)
{
	*rm = (struct wm_raftmembers){.c = *c};
	uv_timer_init(c->loop, &rm->timer);
	rm->timer.data = rm;
}

void wm_raftmembers_start(struct wm_raftmembers *rm, struct wm_store *store)
{
	if (rm->closed)
		return;
	rm->store = store;
	/* The detector runs at the heartbeat interval so that a leader change is
	 * noticed within one heartbeat; reconciliation rides along. */
	uint64_t period = rm->c.period_ms < RECONCILE_MS ? rm->c.period_ms : RECONCILE_MS;
	uv_timer_start(&rm->timer, reconcile_cb, period, period);
}

void wm_raftmembers_close(struct wm_raftmembers *rm)
{
	if (rm->closed)
		return;
	rm->closed = true;
	uv_close((uv_handle_t *)&rm->timer, NULL);
}
