/* Liveness: every node sends Heartbeat to its server, which forwards it to the
 * leader. The leader keeps, in memory only, when it last heard from each node:
 * silent nodes are reported unreachable and, after remove_after_ms, removed
 * from the mesh, so dead nodes do not accumulate. Nothing of this goes through
 * the log: a new leader starts every clock afresh, which can delay a removal
 * but never cause a wrong one. */
#include "services/services_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/ids.h"
#include "services/gate.h"
#include "util/log.h"

struct liveness_entry {
	char id[WM_NODE_ID_MAX + 1];
	uint64_t last_ms;
	bool unreachable;
	bool removing;
	bool present; /* still in the mesh at the last sweep */
};

static struct liveness_entry *find(struct wm_services *s, const char *id)
{
	for (size_t i = 0; i < s->n_live; i++)
		if (strcmp(s->live[i].id, id) == 0)
			return &s->live[i];
	return NULL;
}

static struct liveness_entry *find_or_add(struct wm_services *s, const char *id, uint64_t now)
{
	struct liveness_entry *e = find(s, id);
	if (e)
		return e;
	if (s->n_live == s->cap_live) {
		size_t cap = s->cap_live ? s->cap_live * 2 : 64;
		struct liveness_entry *n = realloc(s->live, cap * sizeof(*n));
		if (!n)
			return NULL;
		s->live = n;
		s->cap_live = cap;
	}
	e = &s->live[s->n_live++];
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->last_ms = now;
	return e;
}

void wm_services_seen(struct wm_services *s, const char *node_id)
{
	uint64_t now = uv_now(s->cfg.loop);
	struct liveness_entry *e = find_or_add(s, node_id, now);
	if (!e)
		return;
	if (e->unreachable)
		wm_info("node %s is reachable again", node_id);
	e->last_ms = now;
	e->unreachable = false;
}

void wm_services_unreachable(struct wm_services *s, struct wm_arena *a, char ***ids, size_t *n)
{
	*n = 0;
	*ids = wm_arena_alloc(a, sizeof(char *) * (s->n_live + 1));
	for (size_t i = 0; *ids && i < s->n_live; i++)
		if (s->live[i].unreachable && s->live[i].present)
			(*ids)[(*n)++] = wm_arena_strdup(a, s->live[i].id);
}

static void removed_cb(void *data, const struct wm_store_result *res)
{
	struct wm_services *s = data;
	if (res->err && res->err != -ENOENT)
		wm_warn("could not remove a dead node: %s",
			res->message[0] ? res->message : wm_strerror(res->err));
	(void)s;
}

static void remove_node(struct wm_services *s, struct liveness_entry *e)
{
	Webmesh__V1__RemoveNodeCommand rc = WEBMESH__V1__REMOVE_NODE_COMMAND__INIT;
	rc.id = e->id;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE;
	cmd.remove_node = &rc;
	if (wm_store_apply(s->cfg.store, &cmd, removed_cb, s) == 0) {
		wm_warn("removing node %s: not heard from for %llu ms", e->id,
			(unsigned long long)s->cfg.remove_after_ms);
		e->removing = true;
	}
}

static void sweep_cb(uv_timer_t *t)
{
	struct wm_services *s = t->data;
	struct wm_store_status st;
	wm_store_status(s->cfg.store, &st);
	if (!st.is_leader) {
		s->n_live = 0;
		s->was_leader = false;
		return;
	}
	uint64_t now = uv_now(s->cfg.loop);
	struct wm_mesh_node *nodes = NULL;
	size_t n = 0;
	if (wm_store_list_nodes(s->cfg.store, &nodes, &n) < 0)
		return;
	for (size_t i = 0; i < s->n_live; i++)
		s->live[i].present = false;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(nodes[i].id, s->node_id) == 0)
			continue;
		/* A node we have no record of gets a full period from now: a
		 * fresh leader does not know who was silent before it. */
		struct liveness_entry *e = find_or_add(s, nodes[i].id, now);
		if (!e)
			break;
		e->present = true;
	}
	free(nodes);
	size_t kept = 0;
	for (size_t i = 0; i < s->n_live; i++) {
		struct liveness_entry *e = &s->live[i];
		if (!e->present)
			continue; /* left the mesh: forget it */
		uint64_t silent = now - e->last_ms;
		if (!e->unreachable && silent > s->cfg.unreachable_after_ms) {
			e->unreachable = true;
			wm_warn("node %s is unreachable: not heard from for %llu ms", e->id,
				(unsigned long long)silent);
		}
		if (s->cfg.remove_after_ms && silent > s->cfg.remove_after_ms && !e->removing)
			remove_node(s, e);
		s->live[kept++] = *e;
	}
	s->n_live = kept;
	s->was_leader = true;
}

void wm_liveness_init(struct wm_services *s)
{
	uv_timer_init(s->cfg.loop, &s->live_timer);
	s->live_timer.data = s;
	wm_liveness_start(s);
}

void wm_liveness_start(struct wm_services *s)
{
	if (!s->cfg.store || !s->cfg.unreachable_after_ms)
		return;
	uint64_t period = s->cfg.unreachable_after_ms / 4;
	if (period < 100)
		period = 100;
	if (period > 5000)
		period = 5000;
	uv_timer_start(&s->live_timer, sweep_cb, period, period);
}

static void heartbeat_forwarded_cb(void *data, int status, const char *message, const uint8_t *resp,
				   size_t len)
{
	(void)resp;
	(void)len;
	struct wm_rpc_call *call = data;
	wm_rpc_call_finish(call, status, message);
}

void wm_membership_heartbeat(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	Webmesh__V1__HeartbeatRequest *r = (Webmesh__V1__HeartbeatRequest *)wm_services_decode_id(
		call, &webmesh__v1__heartbeat_request__descriptor, req, len);
	if (!r)
		return;
	struct wm_store_status st;
	if (s->cfg.store)
		wm_store_status(s->cfg.store, &st);
	if (s->cfg.store && st.is_leader) {
		wm_services_seen(s, r->id);
		webmesh__v1__heartbeat_request__free_unpacked(r, NULL);
		Webmesh__V1__HeartbeatResponse resp = WEBMESH__V1__HEARTBEAT_RESPONSE__INIT;
		wm_services_reply(call, &resp.base);
		return;
	}
	webmesh__v1__heartbeat_request__free_unpacked(r, NULL);
	/* For a member: vouched for by this server with its node proof. */
	const struct wm_identity *who = wm_gate_caller(call);
	char pf[WM_AUTH_ID_MAX + 8];
	if (s->cfg.store && !wm_rpc_call_metadata(call, WM_HDR_PROXIED_FROM) && who &&
	    wm_gate_proxied_for(who, s->node_id, pf, sizeof(pf)) == 0 &&
	    wm_services_call_leader(s, wm_rpc_call_path(call), req, len, pf, heartbeat_forwarded_cb,
				    call) == 0)
		return;
	wm_services_forward(s, call, req, len);
}
