/* Liveness: every node sends Heartbeat to its server, which forwards it to the
 * leader. The leader keeps, in memory only, when it last heard from each node:
 * silent nodes are reported unreachable and, after remove_after_ms, removed
 * from the mesh, so dead nodes do not accumulate. Nothing of this goes through
 * the log: a new leader starts every clock afresh, which can delay a removal
 * but never cause a wrong one.
 *
 * On a storage plugin (etcd) there is no leader, and a server hears only
 * the members that heartbeat to it: each marks every node it has not heard
 * from for unreachable-after, writes those marks as a LivenessCommand of
 * its own (kept on its server lease), and a node is unreachable when every
 * server's marks hold it (src/etcd/liveset.h). The change feed brings every
 * server those marks in force, so every server computes the same peer sets,
 * as on Raft. A server writes its first marks only after a full
 * unreachable-after of listening, so that a server that just started does
 * not take back marks it cannot judge yet. A mark is in force within
 * unreachable-after plus one sweep (a quarter of it, at most 5 s) plus
 * etcd's watch delay. Nothing is removed on a plugin: only Raft's leader
 * hears every node. */
#include "services/services_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/ids.h"
#include "core/sort.h"
#include "services/gate.h"
#include "util/log.h"

/* Adds a node the replica knows; any other ID (a heartbeat for a node that
 * is not in the mesh) gets no entry, so the table holds the mesh's nodes at
 * most, and never more than liveness-max-nodes. */
static struct wm_live_entry *find_or_add(struct wm_services *s, const char *id, uint64_t now,
					 bool known)
{
	struct wm_live_entry *e = wm_live_find(&s->live, id);
	struct wm_mesh_node n;
	int r;

	if (e)
		return e;
	if (!known && (!s->cfg.store || wm_store_get_node(s->cfg.store, id, &n) < 0))
		return NULL;
	r = wm_live_add(&s->live, id, now, &e);
	if (r == -ENOSPC && !s->live_full_logged) {
		wm_warn("liveness: tracking %zu nodes already (liveness-max-nodes); node %s and "
			"any further node are not tracked",
			s->live.n, id);
		s->live_full_logged = true;
	}
	return r < 0 ? NULL : e;
}

static bool on_plugin(struct wm_services *s)
{
	struct wm_store_status st;
	if (!s->cfg.store)
		return false;
	wm_store_status(s->cfg.store, &st);
	return st.storage && strcmp(st.storage, "raft") != 0;
}

static void post_marks(struct wm_services *s);
static void own_marks(struct wm_services *s, struct wm_arena *a, char ***ids, size_t *n);

static int id_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* FNV-1a over the sorted IDs, each with its terminating zero: tells one
 * set of marks from another (never 0: the basis starts it). */
static uint64_t marks_hash(char **ids, size_t n)
{
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < n; i++)
		for (const char *p = ids[i];; p++) {
			h = (h ^ (uint8_t)*p) * 1099511628211ull;
			if (!*p)
				break;
		}
	return h ? h : 1;
}

static void posted_cb(void *data, const struct wm_store_result *res)
{
	struct wm_services *s = data;
	s->live_posting = false;
	if (!res->err)
		s->live_own_hash = s->live_post_hash;
	/* On an error (lost leadership, a full log) the next sweep sends them
	 * again; otherwise marks that changed meanwhile go now. */
	if (!res->err)
		post_marks(s);
}

/* Every server computes peers for its own subscribers, and a route of a node
 * marked unreachable goes to the next node advertising it (core/peers.h):
 * so the marks travel through the log, as one LivenessCommand holding all of
 * them, whenever they change. */
static void post_marks(struct wm_services *s)
{
	struct wm_arena a;
	char **ids;
	size_t n;
	struct wm_store_status st;

	if (!s->cfg.store || s->live_posting || s->stopped)
		return;
	wm_store_status(s->cfg.store, &st);
	if (!st.is_leader)
		return;
	bool plugin = st.storage && strcmp(st.storage, "raft") != 0;
	/* A fresh table judges nothing yet (every clock starts at the first
	 * sweep): on a plugin, where our marks can take back the others',
	 * ours wait for a full period of listening. */
	if (plugin && (!s->live_since_ms ||
		       uv_now(s->cfg.loop) - s->live_since_ms <= s->cfg.unreachable_after_ms))
		return;
	wm_arena_init(&a);
	own_marks(s, &a, &ids, &n);
	if (!ids) {
		wm_arena_free(&a);
		return;
	}
	wm_sort(ids, n, sizeof(*ids), id_cmp);
	if (plugin) {
		/* Ours are one server's of several (src/etcd/liveset.h): they
		 * are compared with what we last wrote, not with the marks
		 * in force. */
		uint64_t h = marks_hash(ids, n);
		/* The first record is written even when empty: a server that
		 * hears every node takes every mark back (liveset.h). */
		if (h == s->live_own_hash) {
			wm_arena_free(&a);
			return;
		}
		s->live_post_hash = h;
	} else {
		/* Written only when they differ from the marks in force, as
		 * this replica applied them: a new leader of a mesh with
		 * nothing unreachable writes nothing, and a stale command of
		 * the last leader applied after ours is corrected by the next
		 * sweep. */
		bool same = n == s->n_marks;
		for (size_t i = 0; same && i < n; i++)
			same = strcmp(ids[i], s->marks[i]) == 0;
		if (same) {
			wm_arena_free(&a);
			return;
		}
	}
	Webmesh__V1__LivenessCommand lc = WEBMESH__V1__LIVENESS_COMMAND__INIT;
	lc.unreachable = ids;
	lc.n_unreachable = n;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_LIVENESS;
	cmd.liveness = &lc;
	if (wm_store_apply(s->cfg.store, &cmd, posted_cb, s) == 0)
		s->live_posting = true;
	wm_arena_free(&a);
}

void wm_services_seen(struct wm_services *s, const char *node_id)
{
	uint64_t now = uv_now(s->cfg.loop);
	struct wm_live_entry *e = find_or_add(s, node_id, now, false);
	if (!e)
		return;
	bool back = e->unreachable;
	e->last_ms = now;
	e->unreachable = false;
	if (back) {
		/* On a plugin a server's own marks are no news (it marks every
		 * member of the others); the marks in force are logged as they
		 * change (wm_liveness_follow). */
		if (!on_plugin(s))
			wm_info("node %s is reachable again", node_id);
		post_marks(s);
	}
}

/* The nodes this server marks itself. */
static void own_marks(struct wm_services *s, struct wm_arena *a, char ***ids, size_t *n)
{
	struct wm_live_entry *e;
	size_t pos = 0;

	*n = 0;
	*ids = wm_arena_alloc(a, sizeof(char *) * (s->live.n + 1));
	while (*ids && (e = wm_live_next(&s->live, &pos)))
		if (e->unreachable && e->present)
			(*ids)[(*n)++] = wm_arena_strdup(a, e->id);
}

void wm_services_unreachable(struct wm_services *s, struct wm_arena *a, char ***ids, size_t *n)
{
	if (!on_plugin(s)) {
		own_marks(s, a, ids, n);
		return;
	}
	/* A server's own marks hold every member of the others: the marks
	 * in force are what all servers agree on. */
	*n = 0;
	*ids = wm_arena_alloc(a, sizeof(char *) * (s->n_marks + 1));
	for (size_t i = 0; *ids && i < s->n_marks; i++)
		(*ids)[(*n)++] = wm_arena_strdup(a, s->marks[i]);
}

static void removed_cb(void *data, const struct wm_store_result *res)
{
	struct wm_services *s = data;
	if (res->err && res->err != -ENOENT)
		wm_warn("could not remove a dead node: %s",
			res->message[0] ? res->message : wm_strerror(res->err));
	(void)s;
}

static void remove_node(struct wm_services *s, struct wm_live_entry *e)
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
	struct wm_live_entry *e;
	size_t pos = 0;
	wm_store_status(s->cfg.store, &st);
	if (!st.is_leader) {
		wm_live_table_free(&s->live);
		s->live_since_ms = 0;
		return;
	}
	/* On a storage plugin every server writes, and each hears only the
	 * nodes that heartbeat to it: it marks every node it does not hear,
	 * a node all servers mark is unreachable (post_marks), and none is
	 * removed (another server may hear the node well; issue 12). */
	bool plugin = st.storage && strcmp(st.storage, "raft") != 0;
	uint64_t now = uv_now(s->cfg.loop);
	if (!s->live_since_ms)
		s->live_since_ms = now;
	struct wm_mesh_node *nodes = NULL;
	size_t n = 0;
	if (wm_store_list_nodes(s->cfg.store, &nodes, &n) < 0)
		return;
	while ((e = wm_live_next(&s->live, &pos)))
		e->present = false;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(nodes[i].id, s->node_id) == 0)
			continue;
		/* A node we have no record of gets a full period from now: a
		 * fresh leader does not know who was silent before it. */
		e = find_or_add(s, nodes[i].id, now, true);
		if (e)
			e->present = true;
	}
	free(nodes);
	/* Nodes that left the mesh are forgotten. */
	wm_live_keep_present(&s->live);
	pos = 0;
	while ((e = wm_live_next(&s->live, &pos))) {
		uint64_t silent = now - e->last_ms;
		if (!e->unreachable && silent > s->cfg.unreachable_after_ms) {
			e->unreachable = true;
			if (!plugin)
				wm_warn("node %s is unreachable: not heard from for %llu ms", e->id,
					(unsigned long long)silent);
		}
		if (s->cfg.remove_after_ms && silent > s->cfg.remove_after_ms && !e->removing &&
		    !plugin)
			remove_node(s, e);
	}
	post_marks(s);
}

static int mark_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* On a plugin no server's own marks are news: the marks in force are,
 * as they change (at most a few lines per change). */
static void log_changes(struct wm_services *s, char (*marks)[WM_NODE_ID_MAX + 1], size_t n)
{
	size_t i = 0, j = 0, lines = 0, more = 0;
	while (i < s->n_marks || j < n) {
		int c = i == s->n_marks ? 1 : j == n ? -1 : strcmp(s->marks[i], marks[j]);
		const char *id = c < 0 ? s->marks[i] : marks[j];
		if (c != 0 && lines++ < 8) {
			if (c < 0)
				wm_info("node %s is reachable again (a server hears it)", id);
			else
				wm_warn("node %s is unreachable: no server has heard from it", id);
		} else if (c != 0) {
			more++;
		}
		i += c <= 0;
		j += c >= 0;
	}
	if (more)
		wm_info("liveness: %zu more nodes changed reachability", more);
}

void wm_liveness_follow(struct wm_services *s, const Webmesh__V1__RaftCommand *cmd)
{
	if (cmd->command_case != WEBMESH__V1__RAFT_COMMAND__COMMAND_LIVENESS || !cmd->liveness)
		return;
	const Webmesh__V1__LivenessCommand *lc = cmd->liveness;
	size_t n = 0, cap = lc->n_unreachable;
	char(*marks)[WM_NODE_ID_MAX + 1] = cap ? calloc(cap, sizeof(*marks)) : NULL;
	if (cap && !marks) {
		wm_warn("liveness: out of memory for %zu marks; keeping the previous ones", cap);
		return;
	}
	/* From the log, so the leader wrote it; an ID that is not one names no
	 * node and is left out. */
	for (size_t i = 0; i < lc->n_unreachable; i++)
		if (wm_node_id_check(lc->unreachable[i], NULL) == 0)
			snprintf(marks[n++], sizeof(marks[0]), "%s", lc->unreachable[i]);
	wm_sort(marks, n, sizeof(*marks), mark_cmp);
	if (on_plugin(s))
		log_changes(s, marks, n);
	free(s->marks);
	s->marks = marks;
	s->n_marks = n;
}

bool wm_liveness_marked(void *data, const char *id)
{
	struct wm_services *s = data;
	return s->n_marks && bsearch(id, s->marks, s->n_marks, sizeof(*s->marks), mark_cmp);
}

void wm_liveness_init(struct wm_services *s)
{
	wm_live_table_init(&s->live, s->cfg.liveness_max_nodes, uv_hrtime());
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
		/* decode_id held r->id to the caller's own identity */
		wm_store_note_version(s->cfg.store, r->id, r->command_version);
		webmesh__v1__heartbeat_request__free_unpacked(r, NULL);
		Webmesh__V1__HeartbeatResponse resp = WEBMESH__V1__HEARTBEAT_RESPONSE__INIT;
		wm_services_reply(call, &resp.base);
		return;
	}
	webmesh__v1__heartbeat_request__free_unpacked(r, NULL);
	/* Forwarded for our caller (proxied-for, with this server's node proof),
	 * not as this server: the leader lets a node heartbeat only as itself. */
	wm_services_forward(s, call, req, len);
}
