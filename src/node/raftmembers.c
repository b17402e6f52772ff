/* On the leader, Raft membership follows the mesh state: nodes stored as
 * voters or observers are added to the Raft configuration at their mesh
 * address, and members whose node left (or became a plain member) are
 * removed. Doing this as a reconciliation loop rather than inside Join makes
 * it survive leader changes, unreachable joiners and failed promotions: the
 * next leader simply finishes the job. libraft allows one configuration
 * change at a time, so at most one is in flight. */
#include "node/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "util/log.h"

#define RECONCILE_MS 300

static void change_done_cb(void *data, int err)
{
	struct wm_daemon *d = data;
	d->raft_change_pending = false;
	d->raft_reconciled_index = 0; /* look again, whatever the outcome */
	if (err && err != -ECANCELED) {
		wm_warn("raft membership change for %s failed (%s); will retry after the others",
			d->raft_changing, wm_strerror(err));
		snprintf(d->raft_failed, sizeof(d->raft_failed), "%s", d->raft_changing);
	} else if (!err && strcmp(d->raft_failed, d->raft_changing) == 0) {
		d->raft_failed[0] = '\0';
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
static bool add_once(struct wm_daemon *d, const struct wm_store_status *st,
		     const struct wm_mesh_node *nodes, size_t n, bool skip_failed)
{
	for (size_t i = 0; i < n; i++) {
		const struct wm_mesh_node *node = &nodes[i];
		if (!wants_raft(node) || node->ipv4.family != AF_INET)
			continue;
		if (skip_failed && strcmp(node->id, d->raft_failed) == 0)
			continue;
		char host[WM_PREFIX_STRLEN], addr[WM_PREFIX_STRLEN + 8];
		wm_prefix_format_addr(&node->ipv4, host, sizeof(host));
		snprintf(addr, sizeof(addr), "%s:%u", host, d->cfg->raft_port);
		const struct wm_store_member *m = find_member(st, node->id);
		if (m && m->role == node->raft_role && strcmp(m->address, addr) == 0)
			continue;
		snprintf(d->raft_changing, sizeof(d->raft_changing), "%s", node->id);
		if (m && strcmp(m->address, addr) != 0) {
			if (wm_store_remove_member(d->store, node->id, change_done_cb, d) == 0) {
				wm_info("raft: re-adding %s at its new address %s", node->id, addr);
				return true;
			}
			continue;
		}
		int err = wm_store_add_member(d->store, node->id, addr, node->raft_role,
					      change_done_cb, d);
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
static bool reconcile_once(struct wm_daemon *d, const struct wm_store_status *st,
			   const struct wm_mesh_node *nodes, size_t n)
{
	if (add_once(d, st, nodes, n, true))
		return true;
	for (size_t i = 0; i < st->n_members; i++) {
		const struct wm_store_member *m = &st->members[i];
		if (strcmp(m->node_id, d->node_id) == 0)
			continue;
		/* Its node was removed from the mesh: nothing maps the raft ID
		 * to a node any more, yet it would count towards the quorum
		 * (and stay among the Raft port's servers) for ever. */
		snprintf(d->raft_changing, sizeof(d->raft_changing), "%s", m->node_id);
		if (!m->node_id[0]) {
			if (wm_store_remove_raft_id(d->store, m->raft_id, change_done_cb, d) == 0) {
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
		if (wm_store_remove_member(d->store, m->node_id, change_done_cb, d) == 0) {
			wm_info("raft: removing %s, it is no longer a voter or observer",
				m->node_id);
			return true;
		}
	}
	/* Nothing else to do: the node that failed last gets its turn again. */
	return d->raft_failed[0] && add_once(d, st, nodes, n, false);
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
static void term_barrier(struct wm_daemon *d)
{
	int err = wm_store_barrier(d->store, term_barrier_cb, d);
	if (err)
		wm_debug("raft: cannot start the new term's barrier: %s", wm_strerror(err));
}

static void reconcile_cb(uv_timer_t *t)
{
	struct wm_daemon *d = t->data;
	if (d->phase == WM_PHASE_STOPPING || !d->store)
		return;
	struct wm_store_status st;
	wm_store_status(d->store, &st);
	/* Leadership changes are logged where operators look; libraft 0.15 has
	 * no callback for them, so this timer is also the detector. */
	if (strcmp(st.leader_id, d->last_leader) != 0 || st.term != d->last_term) {
		if (st.leader_id[0])
			wm_info("raft: leader is %s (term %llu)%s", st.leader_id,
				(unsigned long long)st.term, st.is_leader ? ", this node" : "");
		else
			wm_info("raft: no leader (term %llu)", (unsigned long long)st.term);
		snprintf(d->last_leader, sizeof(d->last_leader), "%s", st.leader_id);
		d->last_term = st.term;
		if (st.is_leader && !st.caught_up)
			term_barrier(d);
		wm_services_leader_changed(d->services);
	}
	wm_raftguard_sync(d, &st);
	if (!st.is_leader || d->raft_change_pending || d->phase != WM_PHASE_RUNNING)
		return;
	/* Nothing applied (membership changes are log entries too) and the
	 * same term since a pass that found nothing to do: the answer is the
	 * same, and reading every node ten times a second stalls the loop for
	 * milliseconds at 1,000 nodes (MeshDNS's latency showed it). */
	if (st.applied_index == d->raft_reconciled_index && st.term == d->raft_reconciled_term)
		return;
	struct wm_mesh_node *nodes = NULL;
	size_t n = 0;
	if (wm_store_list_nodes(d->store, &nodes, &n) < 0)
		return;
	d->raft_change_pending = reconcile_once(d, &st, nodes, n);
	if (!d->raft_change_pending) {
		d->raft_reconciled_index = st.applied_index;
		d->raft_reconciled_term = st.term;
	}
	free(nodes);
}

void wm_raftmembers_start(struct wm_daemon *d)
{
	/* The detector runs at the heartbeat interval so that a leader change is
	 * noticed within one heartbeat; reconciliation rides along. */
	uint64_t period =
		d->cfg->raft_heartbeat_ms < RECONCILE_MS ? d->cfg->raft_heartbeat_ms : RECONCILE_MS;
	uv_timer_start(&d->raft_timer, reconcile_cb, period, period);
}
