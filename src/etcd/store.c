/* The mesh state in etcd (store.h): a cache loaded by one Range and kept by a
 * Watch from the revision after it, and the node, lease and deny-list commands
 * as transactions (record.h). The same Range and Watch feed the replica
 * (store_state.c), which answers the other reads and takes the other
 * commands. */
#include "etcd/store.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/denied.h"
#include "core/error.h"
#include "core/ids.h"
#include "core/sort.h"
#include "etcd/liveset.h"
#include "etcd/record.h"
#include "etcd/store_state.h"
#include "store/fsm.h"

#define MAX_LISTENERS 16
/* Conflicts one command goes through before it gives up: each is another
 * writer taking the address or changing the node between our read and our
 * transaction, so a handful means heavy contention, not a loop. */
#define MAX_ATTEMPTS 32

struct cnode {
	struct wm_mesh_node n;
	int64_t mod_rev;
	struct wm_etcd_join_flags fl; /* its first join's, kept by rejoins */
};

struct listener {
	wm_store_change_cb cb;
	void *data;
};

struct op;
struct reg;
static void reg_close(struct reg *g);

struct wm_etcd_store {
	uv_loop_t *loop;
	struct wm_etcd_client *client;
	char mesh[WM_ETCD_MESH_MAX + 1];
	char prefix[WM_ETCD_KEY_MAX];
	size_t prefix_len;
	bool has_mesh;
	struct wm_mesh_info info;
	uint32_t first, last;
	struct cnode *nodes; /* sorted by ID */
	size_t n_nodes, cap_nodes;
	int64_t revision;
	struct wm_etcd_watch *watch;
	struct listener listeners[MAX_LISTENERS];
	size_t n_listeners;
	struct op *ops;
	char (*denied)[WM_NODE_ID_MAX + 1]; /* sorted */
	size_t n_denied, cap_denied;
	struct wm_etcd_server *servers; /* sorted by ID */
	size_t n_servers;
	struct reg *reg;
	struct wm_etcd_state *st; /* the whole state, for reads and the other commands */
	/* Every server's liveness marks (liveset.h); dirty: the marks in
	 * force may have changed since the feed last said them. live_own: our last record
	 * (a packed LivenessCommand), put again on a new lease. */
	struct wm_etcd_liveset live;
	bool live_dirty;
	uint64_t live_said; /* hash of the marks the feed last said (none) */
	uint8_t *live_own;
	size_t live_own_len;
	/* One Put of our liveness key at a time (a LivenessCommand's or the
	 * registration's put again), so that a repeat of an older one after
	 * backoff (client.h) cannot land after a newer one. live_wait: the
	 * newest command waiting for it; a newer one replaces it. */
	bool live_busy;
	struct op *live_wait;
	void (*ready_cb)(void *data, int err, const char *msg);
	void *ready_data;
	bool loading, closing;
};

enum op_kind { OP_BOOTSTRAP, OP_JOIN, OP_REMOVE, OP_LOAD, OP_DENY, OP_ALLOW, OP_FIND, OP_LIVE };

struct op {
	struct wm_etcd_store *s;
	struct op *prev, *next;
	enum op_kind kind;
	Webmesh__V1__BootstrapMeshCommand *boot; /* a copy */
	Webmesh__V1__DenyNodeCommand deny;	 /* points into node.id, by */
	char by[256];
	struct wm_mesh_node node;
	uint32_t want;	  /* requested lease, 0 = none */
	uint32_t *leased; /* the leases as last read, sorted */
	size_t n_leased;
	int64_t mod_rev;   /* rejoin / remove: the node key as read */
	int64_t since_rev; /* bootstrap: the revision the replica had when sent */
	bool rejoin;
	struct wm_etcd_join_flags fl;	 /* what the record keeps of the join */
	struct wm_etcd_join_flags asked; /* the command's, for a new node */
	bool strict;			 /* the requested address or none (IPAM) */
	/* A join that advertises routes: checked against every node's routes
	 * on the replica, and written only if the guard is still guard_rev. */
	bool guarded;
	int64_t guard_rev;
	Webmesh__V1__RaftCommand *orig; /* the join as given, for that check */
	unsigned attempts;
	struct wm_etcd_txn txn;
	uv_timer_t *later; /* a refusal found before any etcd call */
	struct wm_store_result res;
	wm_store_apply_cb cb;
	void *data;
	uint8_t *live_val; /* OP_LIVE: the packed LivenessCommand */
	size_t live_len;
};

/* This server's registration (servers/<id>) and its lease: 0 when none
 * (not registered, or the lease is being granted again). */
static int64_t reg_lease(const struct reg *g, const char **node_id);
/* The Put of our liveness key in flight ended: the next one may go. */
static void live_next(struct wm_etcd_store *s);

/* ------------------------------------------------------------ cache */

static size_t node_find(const struct wm_etcd_store *s, const char *id, bool *found)
{
	return wm_etcd_sorted_find(s->nodes, s->n_nodes, sizeof(*s->nodes),
				   offsetof(struct cnode, n.id), id, found);
}

static int node_put(struct wm_etcd_store *s, const struct wm_mesh_node *n, int64_t mod_rev,
		    const struct wm_etcd_join_flags *fl)
{
	bool found;
	size_t i = node_find(s, n->id, &found);
	if (found) {
		/* An older revision (our own write seen again by the watch, or
		 * the other way round) never overwrites a newer one. */
		if (s->nodes[i].mod_rev <= mod_rev) {
			s->nodes[i].n = *n;
			s->nodes[i].mod_rev = mod_rev;
			s->nodes[i].fl = *fl;
		}
		return 0;
	}
	void *grown = s->nodes;
	int gr = wm_etcd_sorted_insert(&grown, &s->n_nodes, &s->cap_nodes, sizeof(*s->nodes), i);
	s->nodes = grown;
	if (gr < 0)
		return -ENOMEM;
	s->nodes[i].n = *n;
	s->nodes[i].mod_rev = mod_rev;
	s->nodes[i].fl = *fl;
	return 0;
}

static bool node_del(struct wm_etcd_store *s, const char *id)
{
	bool found;
	size_t i = node_find(s, id, &found);
	if (found)
		wm_etcd_sorted_remove(s->nodes, &s->n_nodes, sizeof(*s->nodes), i);
	return found;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The cache's leases, sorted: the first guess at which addresses are free. */
static int cache_leases(struct wm_etcd_store *s, uint32_t **out, size_t *n)
{
	*out = malloc((s->n_nodes ? s->n_nodes : 1) * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	*n = 0;
	for (size_t i = 0; i < s->n_nodes; i++)
		if (s->nodes[i].n.ipv4.family == AF_INET)
			(*out)[(*n)++] = wm_prefix_ipv4_u32(&s->nodes[i].n.ipv4);
	wm_sort(*out, *n, sizeof(**out), u32_cmp);
	return 0;
}

/* What a key under the prefix is: its kind and name (NULL for the mesh). */
static int key_kind(const struct wm_etcd_store *s, const uint8_t *key, size_t len,
		    enum wm_etcd_kind *kind, char *name, size_t namelen)
{
	static const struct {
		const char *dir;
		enum wm_etcd_kind kind;
	} dirs[] = {{"nodes/", WM_ETCD_KEY_NODE},	  {"leases/v4/", WM_ETCD_KEY_LEASE_V4},
		    {"leases/v6/", WM_ETCD_KEY_LEASE_V6}, {"servers/", WM_ETCD_KEY_SERVER},
		    {"denied/", WM_ETCD_KEY_DENIED},	  {"liveness/", WM_ETCD_KEY_LIVENESS}};
	if (len < s->prefix_len || memcmp(key, s->prefix, s->prefix_len) != 0)
		return -EINVAL;
	key += s->prefix_len;
	len -= s->prefix_len;
	if (len == 4 && memcmp(key, "mesh", 4) == 0) {
		*kind = WM_ETCD_KEY_MESH;
		name[0] = '\0';
		return 0;
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		size_t dl = strlen(dirs[i].dir);
		if (len > dl && memcmp(key, dirs[i].dir, dl) == 0 && len - dl < namelen) {
			memcpy(name, key + dl, len - dl);
			name[len - dl] = '\0';
			*kind = dirs[i].kind;
			return 0;
		}
	}
	return -EINVAL;
}

static bool denied_has(const struct wm_etcd_store *s, const char *id, size_t *at)
{
	bool found;
	*at = wm_etcd_sorted_find(s->denied, s->n_denied, sizeof(*s->denied), 0, id, &found);
	return found;
}

static int denied_apply(struct wm_etcd_store *s, const char *id, bool present)
{
	const char *why;
	size_t i;
	bool found = denied_has(s, id, &i);
	if (wm_node_id_check(id, &why) < 0 || found == present)
		return 0;
	if (!present) {
		wm_etcd_sorted_remove(s->denied, &s->n_denied, sizeof(*s->denied), i);
		return 0;
	}
	void *grown = s->denied;
	int gr = wm_etcd_sorted_insert(&grown, &s->n_denied, &s->cap_denied, sizeof(*s->denied), i);
	s->denied = grown;
	if (gr < 0)
		return -ENOMEM;
	snprintf(s->denied[i], sizeof(s->denied[i]), "%.*s", WM_NODE_ID_MAX, id);
	return 0;
}

/* A server key put (kv) or deleted (NULL). A value that is not IP:port is
 * not a server of ours. */
static int server_apply(struct wm_etcd_store *s, const char *id, const Mvccpb__KeyValue *kv)
{
	size_t i = 0;
	while (i < s->n_servers && strcmp(s->servers[i].node_id, id) < 0)
		i++;
	bool found = i < s->n_servers && strcmp(s->servers[i].node_id, id) == 0;
	struct wm_endpoint e;
	char text[WM_ENDPOINT_STRLEN];
	const char *why;

	if (wm_node_id_check(id, &why) < 0)
		return 0;
	if (kv && (kv->value.len >= sizeof(text) ||
		   (memcpy(text, kv->value.data, kv->value.len), text[kv->value.len] = '\0',
		    wm_endpoint_parse(text, &e) < 0)))
		kv = NULL;
	if (!kv) {
		if (found) {
			memmove(&s->servers[i], &s->servers[i + 1],
				(s->n_servers - i - 1) * sizeof(*s->servers));
			s->n_servers--;
		}
		return 0;
	}
	if (!found) {
		struct wm_etcd_server *v =
			realloc(s->servers, (s->n_servers + 1) * sizeof(*s->servers));
		if (!v)
			return -ENOMEM;
		s->servers = v;
		memmove(&s->servers[i + 1], &s->servers[i],
			(s->n_servers - i) * sizeof(*s->servers));
		s->n_servers++;
		snprintf(s->servers[i].node_id, sizeof(s->servers[i].node_id), "%.*s",
			 WM_NODE_ID_MAX, id);
	}
	s->servers[i].api = e;
	return 0;
}

static void notify(struct wm_etcd_store *s, int64_t rev, const Webmesh__V1__RaftCommand *cmd)
{
	for (size_t i = 0; i < s->n_listeners; i++)
		s->listeners[i].cb(s->listeners[i].data, (uint64_t)rev, cmd);
}

/* A server's liveness record put (kv) or deleted (NULL: the server stopped
 * marking, or its lease ended with it). A record that is not a
 * LivenessCommand of node IDs is not ours: it counts as none. */
static int live_apply(struct wm_etcd_store *s, const char *server, const Mvccpb__KeyValue *kv)
{
	Webmesh__V1__LivenessCommand *lc =
		kv ? webmesh__v1__liveness_command__unpack(NULL, kv->value.len, kv->value.data)
		   : NULL;
	bool changed = false;
	int r = 0;
	if (lc)
		r = wm_etcd_liveset_put(&s->live, server, lc->unreachable, lc->n_unreachable,
					&changed);
	if (!lc || r == -EINVAL || r == -E2BIG) {
		if (kv) {
			char msg[200];
			snprintf(msg, sizeof(msg),
				 "etcd: the liveness record of server %.64s is not ours; "
				 "it counts as no marks",
				 server);
			wm_etcd_client_log(s->client, msg);
		}
		changed = wm_etcd_liveset_del(&s->live, server);
		r = 0;
	}
	if (lc)
		webmesh__v1__liveness_command__free_unpacked(lc, NULL);
	if (changed)
		s->live_dirty = true;
	return r;
}

/* The feed's LivenessCommand: the marks every server's record holds, as
 * the Raft leader's command would hold them. */
static void live_notify(struct wm_etcd_store *s)
{
	char **ids;
	size_t n;
	s->live_dirty = false;
	if (wm_etcd_liveset_marks(&s->live, &ids, &n) < 0) {
		s->live_dirty = true; /* said at the next event */
		return;
	}
	/* Said only when they changed: a record rewritten, a server come or
	 * gone, or a reload that leave them as they were are no news. */
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < n; i++)
		for (const char *p = ids[i];; p++) {
			h = (h ^ (uint8_t)*p) * 1099511628211ull;
			if (!*p)
				break;
		}
	if (h == (s->live_said ? s->live_said : 14695981039346656037ull)) {
		free(ids);
		return;
	}
	s->live_said = h;
	Webmesh__V1__LivenessCommand lc = WEBMESH__V1__LIVENESS_COMMAND__INIT;
	lc.unreachable = ids;
	lc.n_unreachable = n;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_LIVENESS;
	cmd.liveness = &lc;
	notify(s, s->revision, &cmd);
	free(ids);
}

/* One key of the mesh as read or seen changing. The change feed is the
 * replica's (store_state.c), which sees every kind of command. */
static int cache_apply(struct wm_etcd_store *s, const Mvccpb__KeyValue *kv, bool deleted)
{
	enum wm_etcd_kind kind;
	char name[WM_ETCD_KEY_MAX], why[256];
	if (!kv || key_kind(s, kv->key.data, kv->key.len, &kind, name, sizeof(name)) < 0)
		return 0; /* not ours: someone else's key under the prefix */
	if (kind == WM_ETCD_KEY_MESH) {
		if (deleted) {
			s->has_mesh = false;
			return 0;
		}
		int r = wm_etcd_mesh_decode(kv->value.data, kv->value.len, &s->info, &s->first,
					    &s->last, why, sizeof(why));
		s->has_mesh = r == 0;
		return r;
	}
	if (kind == WM_ETCD_KEY_SERVER)
		return server_apply(s, name, deleted ? NULL : kv);
	if (kind == WM_ETCD_KEY_DENIED)
		return denied_apply(s, name, !deleted);
	if (kind == WM_ETCD_KEY_LIVENESS)
		return live_apply(s, name, deleted ? NULL : kv);
	if (kind != WM_ETCD_KEY_NODE || !s->has_mesh)
		return 0;
	if (deleted) {
		node_del(s, name);
		return 0;
	}
	struct wm_mesh_node n;
	if (wm_etcd_node_decode(&s->info, kv->value.data, kv->value.len, &n) < 0 ||
	    strcmp(n.id, name) != 0)
		return 0; /* a record we did not write: not a node */
	struct wm_etcd_join_flags fl;
	wm_etcd_join_flags_decode(kv->value.data, kv->value.len, &fl);
	return node_put(s, &n, kv->mod_revision, &fl);
}

static void cmd_free(Webmesh__V1__RaftCommand *c)
{
	if (c)
		webmesh__v1__raft_command__free_unpacked(c, NULL);
}

/* ------------------------------------------------------------ ops */

static void op_unlink(struct op *o)
{
	struct wm_etcd_store *s = o->s;
	if (o->prev)
		o->prev->next = o->next;
	else
		s->ops = o->next;
	if (o->next)
		o->next->prev = o->prev;
}

static void timer_free_cb(uv_handle_t *h)
{
	free(h);
}

static void op_end(struct op *o)
{
	if (o->s)
		op_unlink(o);
	/* Reads go to the replica (store_state.c), which the watch feeds: a
	 * write is reported once it is there. */
	if (o->cb && o->s && o->res.err == 0 && o->res.index &&
	    wm_etcd_state_defer(o->s->st, (int64_t)o->res.index, o->cb, o->data, &o->res) == 0)
		o->cb = NULL;
	if (o->cb)
		o->cb(o->data, &o->res);
	wm_etcd_txn_free(&o->txn);
	if (o->boot)
		webmesh__v1__bootstrap_mesh_command__free_unpacked(o->boot, NULL);
	if (o->orig)
		webmesh__v1__raft_command__free_unpacked(o->orig, NULL);
	if (o->later)
		uv_close((uv_handle_t *)o->later, timer_free_cb);
	free(o->leased);
	free(o->live_val);
	free(o);
}

static void op_fail(struct op *o, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void op_fail(struct op *o, int err, const char *fmt, ...)
{
	va_list ap;
	o->res.err = err;
	va_start(ap, fmt);
	vsnprintf(o->res.message, sizeof(o->res.message), fmt, ap);
	va_end(ap);
	op_end(o);
}

static void later_cb(uv_timer_t *t)
{
	op_end(t->data);
}

/* Ends o with its refusal on the next turn of the loop (apply never calls
 * back from within itself). */
static int op_refuse_later(struct op *o)
{
	o->later = malloc(sizeof(*o->later));
	if (!o->later)
		return -ENOMEM;
	uv_timer_init(o->s->loop, o->later);
	o->later->data = o;
	return uv_timer_start(o->later, later_cb, 0, 0);
}

static int op_step(struct op *o);

static const Etcdserverpb__RangeResponse *resp_range(const Etcdserverpb__TxnResponse *r, size_t i)
{
	if (i >= r->n_responses ||
	    r->responses[i]->response_case != ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE)
		return NULL;
	return r->responses[i]->response_range;
}

static const Mvccpb__KeyValue *resp_kv(const Etcdserverpb__TxnResponse *r, size_t i)
{
	const Etcdserverpb__RangeResponse *rr = resp_range(r, i);
	return rr && rr->n_kvs ? rr->kvs[0] : NULL;
}

static void retry(struct op *o)
{
	wm_etcd_txn_free(&o->txn);
	if (++o->attempts >= MAX_ATTEMPTS) {
		op_fail(o, -EAGAIN, "etcd: gave up after %u conflicting writes; retry",
			o->attempts);
		return;
	}
	int r = op_step(o);
	if (r < 0)
		op_fail(o, -WM_ERPC, "etcd: %s", strerror(-r));
}

static void refuse_denied(struct op *o)
{
	char why[WM_DENIED_REASON_MAX];
	wm_denied_reason(o->node.id, why, sizeof(why));
	op_fail(o, -EPERM, "%s", why);
}

/* The failure side of a join: which of node, v4 lease, v6 key, denied key
 * exists. */
static void join_conflict(struct op *o, const Etcdserverpb__TxnResponse *r)
{
	struct wm_etcd_store *s = o->s;
	const Mvccpb__KeyValue *node = resp_kv(r, 0), *v4 = resp_kv(r, 1), *v6 = resp_kv(r, 2);

	if (resp_kv(r, 3)) {
		denied_apply(s, o->node.id, true);
		refuse_denied(o);
		return;
	}
	if (node) {
		struct wm_mesh_node old;
		if (wm_etcd_node_decode(&s->info, node->value.data, node->value.len, &old) < 0) {
			op_fail(o, -EIO, "etcd: the record of node %s is not a node", o->node.id);
			return;
		}
		if (!wm_key_equal(old.public_key, o->node.public_key)) {
			op_fail(o, -WM_EKEYMISMATCH,
				"node ID %s is registered with another public key", o->node.id);
			return;
		}
		/* The same node again: a refresh that keeps its lease (and a
		 * retried join whose first try did commit lands here too). */
		o->rejoin = true;
		o->node.ipv4 = old.ipv4;
		o->node.joined_at = old.joined_at;
		o->mod_rev = node->mod_revision;
		wm_etcd_join_flags_decode(node->value.data, node->value.len, &o->fl);
		retry(o);
		return;
	}
	if (v6 && !(v6->value.len == strlen(o->node.id) &&
		    memcmp(v6->value.data, o->node.id, v6->value.len) == 0)) {
		/* The prefix derives from the key: the same key under another
		 * ID is said as the Raft store says it (store_conform.c). */
		char other[WM_NODE_ID_MAX + 1];
		struct wm_mesh_node held;
		snprintf(other, sizeof(other), "%.*s",
			 (int)(v6->value.len > WM_NODE_ID_MAX ? WM_NODE_ID_MAX : v6->value.len),
			 (const char *)v6->value.data);
		if (wm_fsm_get_node(wm_etcd_state_fsm(s->st), other, &held) == 0 &&
		    wm_key_equal(held.public_key, o->node.public_key))
			op_fail(o, -EEXIST,
				"the public key of node %s is already registered to node %s",
				o->node.id, other);
		else
			op_fail(o, -EEXIST, "node %s's derived IPv6 prefix collides with node %s",
				o->node.id, other);
		return;
	}
	if (v4) {
		/* Another join took the address since we looked: read the
		 * leases as they are now and pick again. */
		o->kind = OP_LOAD;
		o->n_leased = 0;
	}
	retry(o);
}

static void guard_resume(void *data, const struct wm_store_result *res)
{
	struct op *o = data;
	if (!o->s || res->err) {
		op_end(o); /* the store closed: its caller has heard */
		return;
	}
	retry(o);
}

/* A guarded join failed: if the guard moved (another command that checks
 * routes committed), try again once the replica holds that command. */
static bool guard_moved(struct op *o, const Etcdserverpb__TxnResponse *r)
{
	const Mvccpb__KeyValue *g = r->n_responses ? resp_kv(r, r->n_responses - 1) : NULL;
	int64_t now = g ? g->mod_revision : 0;
	struct wm_store_result wait = {0};
	if (now == o->guard_rev)
		return false;
	wm_etcd_txn_free(&o->txn);
	if (wm_etcd_state_defer(o->s->st, now, guard_resume, o, &wait) < 0)
		op_fail(o, -ENOMEM, "out of memory");
	return true;
}

/* Whether an etcd call of o came back with a response to read: if not, o
 * ended here (the store closed meanwhile, or the call failed). */
static bool op_answered(struct op *o, int err, const char *message)
{
	if (!o->s) {
		op_end(o);
		return false;
	}
	if (err < 0) {
		op_fail(o, err == -ECANCELED ? -ECANCELED : -WM_ERPC, "etcd: %s",
			message ? message : strerror(-err));
		return false;
	}
	return true;
}

static void txn_cb(void *data, int err, const char *message, const uint8_t *resp, size_t len)
{
	struct op *o = data;
	struct wm_etcd_store *s = o->s;

	if (!op_answered(o, err, message))
		return;
	Etcdserverpb__TxnResponse *r = etcdserverpb__txn_response__unpack(NULL, len, resp);
	if (!r) {
		op_fail(o, -WM_ERPC, "etcd: undecodable Txn response");
		return;
	}
	int64_t rev = r->header ? r->header->revision : 0;
	o->res.index = (uint64_t)rev;
	switch (o->kind) {
	case OP_BOOTSTRAP: {
		int64_t ours_rev = rev;
		bool ours = !r->succeeded &&
			    wm_etcd_bootstrap_ours(&o->txn, r, o->since_rev, &ours_rev);
		if (ours)
			/* Our Txn had been applied, its answer lost, and the
			 * client sent it again: the mesh is the one we made. */
			wm_etcd_client_log(s->client, "etcd: the mesh key holds this server's own "
						      "bootstrap record (a repeated transaction): "
						      "bootstrapped");
		if (r->succeeded || ours) {
			Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
			kv.key = o->txn.put[0].key;
			kv.value = o->txn.put[0].value;
			kv.mod_revision = ours_rev;
			cache_apply(s, &kv, false);
			op_end(o);
		} else {
			op_fail(o, -EEXIST, "the mesh is already bootstrapped");
		}
		break;
	}
	case OP_JOIN:
		if (!r->succeeded && o->guarded && guard_moved(o, r)) {
			break;
		} else if (r->succeeded) {
			node_put(s, &o->node, rev, &o->fl);
			o->res.node = o->node;
			op_end(o);
		} else if (o->rejoin) {
			const Mvccpb__KeyValue *kv = resp_kv(r, 0);
			if (resp_kv(r, 1)) {
				denied_apply(s, o->node.id, true);
				refuse_denied(o);
				break;
			}
			if (!kv) { /* removed meanwhile: join anew */
				o->rejoin = false;
				o->node.ipv4.family = 0;
				o->fl = o->asked;
			} else {
				o->mod_rev = kv->mod_revision;
				wm_etcd_join_flags_decode(kv->value.data, kv->value.len, &o->fl);
			}
			retry(o);
		} else {
			join_conflict(o, r);
		}
		break;
	case OP_REMOVE:
		if (r->succeeded) {
			node_del(s, o->node.id);
			op_end(o);
		} else {
			const Mvccpb__KeyValue *kv = resp_kv(r, 0);
			if (!kv || wm_etcd_node_decode(&s->info, kv->value.data, kv->value.len,
						       &o->node) < 0) {
				op_fail(o, -ENOENT, "node %s does not exist", o->node.id);
			} else {
				o->mod_rev = kv->mod_revision;
				retry(o);
			}
		}
		break;
	case OP_DENY:
		denied_apply(s, o->node.id, true);
		op_end(o);
		break;
	case OP_ALLOW:
		if (r->succeeded) {
			denied_apply(s, o->node.id, false);
			op_end(o);
		} else {
			denied_apply(s, o->node.id, false);
			op_fail(o, -ENOENT, "node %s is not denied", o->node.id);
		}
		break;
	case OP_LOAD:
	case OP_FIND:
	case OP_LIVE:
		break;
	}
	etcdserverpb__txn_response__free_unpacked(r, NULL);
}

/* A node to remove that the cache does not hold: etcd says whether it
 * exists (another server may have joined it a moment ago). */
static void find_cb(void *data, int err, const char *message, const uint8_t *resp, size_t len)
{
	struct op *o = data;
	if (!op_answered(o, err, message))
		return;
	Etcdserverpb__RangeResponse *r = etcdserverpb__range_response__unpack(NULL, len, resp);
	const Mvccpb__KeyValue *kv = r && r->n_kvs ? r->kvs[0] : NULL;
	int rv = -ENOENT;
	if (kv && o->s->has_mesh &&
	    wm_etcd_node_decode(&o->s->info, kv->value.data, kv->value.len, &o->node) == 0) {
		o->mod_rev = kv->mod_revision;
		o->kind = OP_REMOVE;
		rv = op_step(o);
	}
	if (r)
		etcdserverpb__range_response__free_unpacked(r, NULL);
	if (rv == -ENOENT)
		op_fail(o, -ENOENT, "node %.64s does not exist", o->node.id);
	else if (rv < 0)
		op_fail(o, -WM_ERPC, "etcd: %s", strerror(-rv));
}

/* The leases as they are in etcd now (keys only), then the join again. */
static void leases_cb(void *data, int err, const char *message, const uint8_t *resp, size_t len)
{
	struct op *o = data;
	if (!op_answered(o, err, message))
		return;
	Etcdserverpb__RangeResponse *r = etcdserverpb__range_response__unpack(NULL, len, resp);
	uint32_t *v = r ? malloc((r->n_kvs ? r->n_kvs : 1) * sizeof(*v)) : NULL;
	if (!v) {
		if (r)
			etcdserverpb__range_response__free_unpacked(r, NULL);
		op_fail(o, -WM_ERPC, "etcd: undecodable Range response");
		return;
	}
	size_t n = 0;
	for (size_t i = 0; i < r->n_kvs; i++) {
		const ProtobufCBinaryData *k = &r->kvs[i]->key;
		if (k->len >= 8 &&
		    wm_etcd_v4_parse((const char *)k->data + k->len - 8, 8, &v[n]) == 0)
			n++;
	}
	etcdserverpb__range_response__free_unpacked(r, NULL);
	wm_sort(v, n, sizeof(*v), u32_cmp);
	free(o->leased);
	o->leased = v;
	o->n_leased = n;
	o->kind = OP_JOIN;
	int rv = op_step(o);
	if (rv < 0)
		op_fail(o, -WM_ERPC, "etcd: %s", strerror(-rv));
}

/* The addresses o must not pick: those leased when it last looked, and
 * those the other joins of this store are trying right now. Without the
 * latter, concurrent joins through one server would all try the same lowest
 * free address and go through one conflict each per join ahead of them. */
static int pick_avoid(struct wm_etcd_store *s, const struct op *o, uint32_t **out, size_t *n)
{
	size_t cap = o->n_leased + 1;
	for (const struct op *p = s->ops; p; p = p->next)
		cap++;
	uint32_t *v = malloc(cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (o->n_leased)
		memcpy(v, o->leased, o->n_leased * sizeof(*v));
	size_t k = o->n_leased;
	for (const struct op *p = s->ops; p; p = p->next)
		if (p != o && p->kind == OP_JOIN && !p->rejoin && p->node.ipv4.family == AF_INET)
			v[k++] = wm_prefix_ipv4_u32(&p->node.ipv4);
	wm_sort(v, k, sizeof(*v), u32_cmp);
	size_t m = 0;
	for (size_t i = 0; i < k; i++)
		if (m == 0 || v[m - 1] != v[i])
			v[m++] = v[i];
	*out = v;
	*n = m;
	return 0;
}

static void live_put_cb(void *data, int err, const char *message, const uint8_t *resp, size_t len)
{
	struct op *o = data;
	if (!o->s) {
		op_end(o);
		return;
	}
	/* Kept, to be put again with a new lease (reg_put_cb). */
	uint8_t *own = err < 0 ? NULL : malloc(o->live_len ? o->live_len : 1);
	if (own) {
		if (o->live_len)
			memcpy(own, o->live_val, o->live_len);
		free(o->s->live_own);
		o->s->live_own = own;
		o->s->live_own_len = o->live_len;
	}
	/* Before o's caller hears: a command it sends from its callback
	 * must queue behind the one waiting, not overtake it. */
	live_next(o->s);
	if (err < 0) {
		op_fail(o, err == -ECANCELED ? -ECANCELED : -WM_ERPC, "etcd: %s",
			message ? message : strerror(-err));
		return;
	}
	/* Reported once the replica is there (op_end), as every write: the
	 * caller may read what other servers wrote before it. */
	Etcdserverpb__PutResponse *r = etcdserverpb__put_response__unpack(NULL, len, resp);
	o->res.index = r && r->header ? (uint64_t)r->header->revision : 0;
	if (r)
		etcdserverpb__put_response__free_unpacked(r, NULL);
	op_end(o);
}

/* Our marks, on our server lease: when this server dies, they go too. */
static int live_put(struct op *o)
{
	const char *id;
	int64_t lease = reg_lease(o->s->reg, &id);
	char key[WM_ETCD_KEY_MAX];
	int r;
	if (!lease) {
		o->res.err = -EAGAIN;
		snprintf(o->res.message, sizeof(o->res.message),
			 "this server holds no etcd lease yet: its liveness marks wait");
		return op_refuse_later(o);
	}
	if ((r = wm_etcd_key(o->s->mesh, WM_ETCD_KEY_LIVENESS, id, key, sizeof(key))) < 0)
		return r;
	Etcdserverpb__PutRequest rq = ETCDSERVERPB__PUT_REQUEST__INIT;
	rq.key = (ProtobufCBinaryData){strlen(key), (uint8_t *)key};
	rq.value = (ProtobufCBinaryData){o->live_len, o->live_val};
	rq.lease = lease;
	r = wm_etcd_call(o->s->client, "/etcdserverpb.KV/Put", &rq.base, live_put_cb, o);
	if (r == 0)
		o->s->live_busy = true;
	return r;
}

/* A waiting liveness command that a newer one replaced: its marks would be
 * overwritten at once, so they are not written at all. */
static void live_supersede(struct op *o)
{
	o->res.err = -ECANCELED;
	snprintf(o->res.message, sizeof(o->res.message),
		 "superseded by a newer liveness record of this server");
	if (op_refuse_later(o) < 0)
		op_end(o);
}

static int op_step(struct op *o)
{
	struct wm_etcd_store *s = o->s;
	int r;

	switch (o->kind) {
	case OP_BOOTSTRAP:
		o->since_rev = wm_etcd_state_revision(s->st);
		r = wm_etcd_txn_bootstrap(&o->txn, s->mesh, o->boot);
		break;
	case OP_LOAD: {
		Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
		char pfx[WM_ETCD_KEY_MAX];
		uint8_t end[WM_ETCD_KEY_MAX];
		r = wm_etcd_key(s->mesh, WM_ETCD_KEY_LEASE_V4, "", pfx, sizeof(pfx));
		if (r < 0)
			return r;
		rq.key = (ProtobufCBinaryData){strlen(pfx), (uint8_t *)pfx};
		rq.range_end.len = wm_etcd_prefix_end(rq.key.data, rq.key.len, end);
		rq.range_end.data = end;
		rq.keys_only = true;
		return wm_etcd_call(s->client, "/etcdserverpb.KV/Range", &rq.base, leases_cb, o);
	}
	case OP_FIND: {
		Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
		char key[WM_ETCD_KEY_MAX];
		r = wm_etcd_key(s->mesh, WM_ETCD_KEY_NODE, o->node.id, key, sizeof(key));
		if (r < 0)
			return r;
		rq.key = (ProtobufCBinaryData){strlen(key), (uint8_t *)key};
		return wm_etcd_call(s->client, "/etcdserverpb.KV/Range", &rq.base, find_cb, o);
	}
	case OP_JOIN:
		if (o->guarded) {
			/* The FSM's checks of a join's routes against the
			 * other nodes' (claims) and against the routes put
			 * behind it (at most WM_MAX_ROUTES in all), on the
			 * state the guard stands for. */
			struct wm_store_result res;
			o->guard_rev = wm_etcd_state_guard_rev(s->st);
			r = wm_etcd_state_check(s->st, o->orig, &res);
			if (r == 0 && (res.err == -EACCES || res.err == -EINVAL)) {
				o->res = res;
				return op_refuse_later(o);
			}
		}
		if (o->rejoin) {
			r = wm_etcd_txn_rejoin_flags(&o->txn, s->mesh, &o->node, o->mod_rev,
						     &o->fl);
		} else {
			uint32_t a, *taken;
			size_t n_taken;
			r = pick_avoid(s, o, &taken, &n_taken);
			if (r < 0)
				return r;
			r = wm_etcd_lease_pick(s->first, s->last, taken, n_taken, o->want, &a);
			free(taken);
			if (o->strict && (r < 0 || a != o->want)) {
				/* As the FSM's lease_pick: an IPAM plugin's address is
				 * never second-guessed into another one. */
				o->res.err = -EEXIST;
				snprintf(o->res.message, sizeof(o->res.message),
					 "the IPAM plugin's address for the node is leased to "
					 "another node");
				return op_refuse_later(o);
			}
			if (r == -WM_EEXHAUSTED) {
				char net[WM_PREFIX_STRLEN];
				wm_prefix_format(&s->info.ipv4_network, net, sizeof(net));
				o->res.err = r;
				snprintf(o->res.message, sizeof(o->res.message),
					 "no free IPv4 address left in the mesh network %s", net);
				return op_refuse_later(o);
			}
			o->node.ipv4 = wm_prefix_from_ipv4_u32(a, 32);
			r = wm_etcd_txn_join_flags(&o->txn, s->mesh, &o->node, &o->fl);
		}
		break;
	case OP_REMOVE:
		r = wm_etcd_txn_remove(&o->txn, s->mesh, &o->node, o->mod_rev);
		break;
	case OP_DENY:
		r = wm_etcd_txn_deny(&o->txn, s->mesh, &o->deny);
		break;
	case OP_ALLOW:
		r = wm_etcd_txn_allow(&o->txn, s->mesh, o->node.id);
		break;
	case OP_LIVE:
		return live_put(o);
	default:
		return -EINVAL;
	}
	if (r == 0 && o->kind == OP_JOIN && o->guarded)
		r = wm_etcd_txn_guard(&o->txn, s->mesh, o->guard_rev);
	if (r < 0)
		return r;
	/* A deny compares nothing and an allow only that the key exists: a
	 * repeat of one that was applied could undo an allow or deny another
	 * server made meanwhile. They are not sent again after an error that
	 * leaves it open whether etcd applied them; the caller hears so, and
	 * the watch shows what happened. */
	unsigned flags = o->kind == OP_DENY || o->kind == OP_ALLOW ? WM_ETCD_CALL_ONCE : 0;
	return wm_etcd_call_flags(s->client, "/etcdserverpb.KV/Txn", &o->txn.req.base, flags,
				  txn_cb, o);
}

/* A LivenessCommand: this server's marks, not the mesh's (on Raft the
 * leader's are all there is; here each server judges the members that
 * heartbeat to it, and the feed says the marks all agree on: liveset.h). */
static int live_apply_cmd(struct wm_etcd_store *s, const Webmesh__V1__RaftCommand *cmd,
			  wm_store_apply_cb cb, void *data)
{
	const Webmesh__V1__LivenessCommand *lc = cmd->liveness;
	const char *why = NULL;
	if (!lc)
		return -EINVAL;
	struct op *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->s = s;
	o->kind = OP_LIVE;
	o->cb = cb;
	o->data = data;
	bool refused = false;
	if (lc->n_unreachable > WM_ETCD_LIVE_MAX_MARKS) {
		o->res.err = -E2BIG;
		snprintf(o->res.message, sizeof(o->res.message), "%zu liveness marks: at most %d",
			 lc->n_unreachable, WM_ETCD_LIVE_MAX_MARKS);
		refused = true;
	}
	for (size_t i = 0; !refused && i < lc->n_unreachable; i++) {
		if (!lc->unreachable[i] || wm_node_id_check(lc->unreachable[i], &why) < 0) {
			o->res.err = -EINVAL;
			snprintf(o->res.message, sizeof(o->res.message),
				 "invalid node ID in the liveness marks: %s",
				 why ? why : "missing");
			refused = true;
		}
	}
	if (!refused) {
		o->live_len = webmesh__v1__liveness_command__get_packed_size(lc);
		o->live_val = malloc(o->live_len ? o->live_len : 1);
		if (!o->live_val) {
			free(o);
			return -ENOMEM;
		}
		webmesh__v1__liveness_command__pack(lc, o->live_val);
	}
	o->next = s->ops;
	if (s->ops)
		s->ops->prev = o;
	s->ops = o;
	int r;
	if (refused) {
		r = op_refuse_later(o);
	} else if (s->live_busy) {
		if (s->live_wait)
			live_supersede(s->live_wait);
		s->live_wait = o;
		r = 0;
	} else {
		r = op_step(o);
	}
	if (r < 0) {
		op_unlink(o);
		if (o->later)
			uv_close((uv_handle_t *)o->later, timer_free_cb);
		free(o->live_val);
		free(o);
	}
	return r;
}

int wm_etcd_store_apply(struct wm_etcd_store *s, const Webmesh__V1__RaftCommand *cmd,
			wm_store_apply_cb cb, void *data)
{
	if (!cmd)
		return -EINVAL;
	if (s->closing)
		return -ECANCELED;
	if (cmd->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_LIVENESS)
		return live_apply_cmd(s, cmd, cb, data);
	if (wm_etcd_state_handles(cmd))
		return wm_etcd_state_apply(s->st, cmd, cb, data);
	struct op *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->s = s;
	o->cb = cb;
	o->data = data;
	bool refused = false;
	int r = 0;

	switch (cmd->command_case) {
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP: {
		struct wm_mesh_info info;
		uint32_t first, last;
		o->kind = OP_BOOTSTRAP;
		if (wm_etcd_mesh_from_cmd(cmd->bootstrap, &info, &first, &last, o->res.message,
					  sizeof(o->res.message)) < 0) {
			o->res.err = -EINVAL;
			refused = true;
			break;
		}
		/* A copy the op owns: the caller's command is theirs. */
		o->boot = (Webmesh__V1__BootstrapMeshCommand *)wm_etcd_msg_copy(
			&cmd->bootstrap->base);
		if (!o->boot)
			r = -ENOMEM;
		break;
	}
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DENY_NODE:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_ALLOW_NODE: {
		const char *why = NULL;
		bool deny = cmd->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_DENY_NODE;
		const char *id = deny ? cmd->deny_node->node_id : cmd->allow_node->node_id;
		o->kind = deny ? OP_DENY : OP_ALLOW;
		/* The FSM's checks (fsm_deny.c). */
		if (!id || wm_node_id_check(id, &why) < 0) {
			o->res.err = -EINVAL;
			snprintf(o->res.message, sizeof(o->res.message), "invalid node ID: %s",
				 why ? why : "missing");
			refused = true;
			break;
		}
		snprintf(o->node.id, sizeof(o->node.id), "%s", id);
		if (deny) {
			if (!cmd->deny_node->by || strlen(cmd->deny_node->by) > 255) {
				o->res.err = -EINVAL;
				snprintf(o->res.message, sizeof(o->res.message),
					 "invalid remover (at most 255 characters)");
				refused = true;
				break;
			}
			snprintf(o->by, sizeof(o->by), "%s", cmd->deny_node->by);
			webmesh__v1__deny_node_command__init(&o->deny);
			o->deny.node_id = o->node.id;
			o->deny.by = o->by;
			o->deny.denied_at = cmd->deny_node->denied_at;
		}
		break;
	}
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE: {
		bool found;
		size_t at;
		o->kind = OP_JOIN;
		/* As the FSM: a denied node is refused before anything else is
		 * looked at; the transaction checks it again, atomically. */
		if (cmd->join_node->id && denied_has(s, cmd->join_node->id, &at)) {
			snprintf(o->node.id, sizeof(o->node.id), "%.*s", WM_NODE_ID_MAX,
				 cmd->join_node->id);
			wm_denied_reason(o->node.id, o->res.message, sizeof(o->res.message));
			o->res.err = -EPERM;
			refused = true;
			break;
		}
		if (!s->has_mesh) {
			o->res.err = -WM_ENOMESH;
			snprintf(o->res.message, sizeof(o->res.message),
				 "the mesh has not been bootstrapped yet");
			refused = true;
			break;
		}
		if (wm_etcd_node_from_cmd(&s->info, s->first, s->last, cmd->join_node, &o->node,
					  o->res.message, sizeof(o->res.message)) < 0) {
			o->res.err = -EINVAL;
			refused = true;
			break;
		}
		if (o->node.ipv4.family == AF_INET)
			o->want = wm_prefix_ipv4_u32(&o->node.ipv4);
		o->strict = cmd->join_node->ipv4_request_strict && o->want;
		o->fl.full_mesh = cmd->join_node->full_mesh;
		if (cmd->join_node->via && *cmd->join_node->via)
			snprintf(o->fl.via, sizeof(o->fl.via), "%.*s", WM_NODE_ID_MAX,
				 cmd->join_node->via);
		o->asked = o->fl;
		if (cmd->join_node->n_routes) {
			o->orig = (Webmesh__V1__RaftCommand *)wm_etcd_msg_copy(&cmd->base);
			o->guarded = true;
			if (!o->orig) {
				r = -ENOMEM;
				break;
			}
		}
		size_t i = node_find(s, o->node.id, &found);
		if (found && !wm_key_equal(s->nodes[i].n.public_key, o->node.public_key)) {
			o->res.err = -WM_EKEYMISMATCH;
			snprintf(o->res.message, sizeof(o->res.message),
				 "node ID %s is registered with another public key", o->node.id);
			refused = true;
		} else if (found) {
			o->rejoin = true;
			o->node.ipv4 = s->nodes[i].n.ipv4;
			o->node.joined_at = s->nodes[i].n.joined_at;
			o->mod_rev = s->nodes[i].mod_rev;
			o->fl = s->nodes[i].fl;
		} else {
			r = cache_leases(s, &o->leased, &o->n_leased);
		}
		break;
	}
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE: {
		bool found;
		o->kind = OP_REMOVE;
		const char *id = cmd->remove_node->id ? cmd->remove_node->id : "";
		size_t i = node_find(s, id, &found);
		const char *why;
		snprintf(o->node.id, sizeof(o->node.id), "%.*s", WM_NODE_ID_MAX, id);
		if (!found && wm_node_id_check(id, &why) < 0) {
			o->res.err = -ENOENT;
			snprintf(o->res.message, sizeof(o->res.message),
				 "node %.64s does not exist", id);
			refused = true;
		} else if (!found) {
			o->kind = OP_FIND; /* not here yet, maybe */
		} else {
			o->node = s->nodes[i].n;
			o->mod_rev = s->nodes[i].mod_rev;
		}
		break;
	}
	default:
		free(o);
		return -ENOTSUP;
	}
	if (r < 0) {
		if (o->boot)
			webmesh__v1__bootstrap_mesh_command__free_unpacked(o->boot, NULL);
		if (o->orig)
			webmesh__v1__raft_command__free_unpacked(o->orig, NULL);
		free(o->leased);
		free(o);
		return r;
	}
	o->next = s->ops;
	if (s->ops)
		s->ops->prev = o;
	s->ops = o;
	r = refused ? op_refuse_later(o) : op_step(o);
	if (r < 0) {
		op_unlink(o);
		wm_etcd_txn_free(&o->txn);
		if (o->boot)
			webmesh__v1__bootstrap_mesh_command__free_unpacked(o->boot, NULL);
		if (o->orig)
			webmesh__v1__raft_command__free_unpacked(o->orig, NULL);
		free(o->leased);
		if (o->later)
			uv_close((uv_handle_t *)o->later, timer_free_cb);
		free(o);
	}
	return r;
}

/* ------------------------------------------------------------ load, watch */

static void load(struct wm_etcd_store *s);

static void watch_cb(void *data, int64_t revision, const Mvccpb__Event *ev)
{
	struct wm_etcd_store *s = data;
	Webmesh__V1__RaftCommand *cmd = NULL;

	if (!ev) {
		/* Compacted past what we saw: read everything again. */
		load(s);
		return;
	}
	bool deleted = ev->type == MVCCPB__EVENT__EVENT_TYPE__DELETE;
	cache_apply(s, ev->kv, deleted);
	if (revision > s->revision)
		s->revision = revision;
	/* The feed is what the replica applied: every kind of command, and
	 * a node this store removed itself (gone from the cache already). */
	wm_etcd_state_event(s->st, ev->kv, deleted, revision, &cmd);
	if (cmd)
		notify(s, revision, cmd);
	cmd_free(cmd);
	if (s->live_dirty)
		live_notify(s);
	wm_etcd_state_caught_up(s->st);
}

static void load_done(struct wm_etcd_store *s, int err, const char *msg)
{
	s->loading = false;
	if (s->ready_cb) {
		void (*cb)(void *, int, const char *) = s->ready_cb;
		s->ready_cb = NULL;
		cb(s->ready_data, err, msg);
	} else if (err == 0) {
		notify(s, s->revision, NULL);
	}
	/* Once read: the listeners (there from the start) learn the marks in
	 * force, if any, and after a reload whether they changed. */
	if (err == 0)
		live_notify(s);
}

static void load_cb(void *data, int err, const char *message, const uint8_t *resp, size_t len)
{
	struct wm_etcd_store *s = data;
	if (err < 0) {
		load_done(s, err, message ? message : strerror(-err));
		return;
	}
	Etcdserverpb__RangeResponse *r = etcdserverpb__range_response__unpack(NULL, len, resp);
	if (!r) {
		load_done(s, -EPROTO, "undecodable Range response");
		return;
	}
	s->n_nodes = 0;
	s->n_servers = 0;
	s->n_denied = 0;
	s->has_mesh = false;
	wm_etcd_liveset_clear(&s->live);
	/* The mesh first: nodes are read against its networks. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < r->n_kvs; i++) {
			enum wm_etcd_kind kind;
			char name[WM_ETCD_KEY_MAX];
			const Mvccpb__KeyValue *kv = r->kvs[i];
			if (key_kind(s, kv->key.data, kv->key.len, &kind, name, sizeof(name)) < 0 ||
			    (kind == WM_ETCD_KEY_MESH) != (pass == 0))
				continue;
			cache_apply(s, kv, false);
		}
	s->revision = r->header ? r->header->revision : 0;
	int sr = wm_etcd_state_load(s->st, r->kvs, r->n_kvs, s->revision);
	etcdserverpb__range_response__free_unpacked(r, NULL);
	if (sr < 0) {
		load_done(s, sr, "cannot rebuild the state");
		return;
	}
	wm_etcd_state_caught_up(s->st);
	if (s->watch)
		wm_etcd_watch_stop(s->watch);
	s->watch = NULL;
	int rv = wm_etcd_watch_start(s->client, s->prefix, s->revision + 1, watch_cb, s, &s->watch);
	load_done(s, rv, rv < 0 ? "cannot start the watch" : NULL);
}

static void load(struct wm_etcd_store *s)
{
	Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
	uint8_t end[WM_ETCD_KEY_MAX];

	if (s->loading)
		return;
	s->loading = true;
	rq.key = (ProtobufCBinaryData){s->prefix_len, (uint8_t *)s->prefix};
	rq.range_end.len = wm_etcd_prefix_end(rq.key.data, rq.key.len, end);
	rq.range_end.data = end;
	int r = wm_etcd_call(s->client, "/etcdserverpb.KV/Range", &rq.base, load_cb, s);
	if (r < 0) {
		s->loading = false;
		if (s->ready_cb) /* at open: its caller gets the error */
			s->ready_cb = NULL;
	}
}

int wm_etcd_store_open(uv_loop_t *loop, struct wm_etcd_client *client, const char *mesh,
		       void (*ready_cb)(void *data, int err, const char *err_msg), void *data,
		       struct wm_etcd_store **out)
{
	struct wm_etcd_store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->client = client;
	snprintf(s->mesh, sizeof(s->mesh), "%s", mesh);
	if (wm_etcd_mesh_prefix(mesh, s->prefix, sizeof(s->prefix)) < 0) {
		free(s);
		return -EINVAL;
	}
	s->prefix_len = strlen(s->prefix);
	int r = wm_etcd_state_new(loop, client, mesh, &s->st);
	if (r < 0) {
		free(s);
		return r;
	}
	s->ready_cb = ready_cb;
	s->ready_data = data;
	load(s);
	if (!s->loading) {
		wm_etcd_state_free(s->st);
		free(s);
		return -ECONNREFUSED;
	}
	*out = s;
	return 0;
}

void wm_etcd_store_close(struct wm_etcd_store *s)
{
	if (!s)
		return;
	s->closing = true;
	if (s->watch)
		wm_etcd_watch_stop(s->watch);
	if (s->live_wait) {
		/* No call or timer holds it: it ends here. */
		struct op *o = s->live_wait;
		s->live_wait = NULL;
		o->res.err = -ECANCELED;
		snprintf(o->res.message, sizeof(o->res.message), "the store is closing");
		op_end(o);
	}
	/* Each op still has an etcd call or a timer that holds it: the
	 * caller hears of the end now, the op is freed when that ends. */
	for (struct op *o = s->ops, *next; o; o = next) {
		next = o->next;
		o->res.err = -ECANCELED;
		snprintf(o->res.message, sizeof(o->res.message), "the store is closing");
		if (o->cb)
			o->cb(o->data, &o->res);
		o->cb = NULL;
		o->s = NULL;
	}
	s->ops = NULL;
	wm_etcd_state_free(s->st);
	reg_close(s->reg);
	free(s->servers);
	free(s->denied);
	free(s->nodes);
	wm_etcd_liveset_free(&s->live);
	free(s->live_own);
	free(s);
}

/* ------------------------------------------------------------ servers */

struct reg {
	struct wm_etcd_store *s; /* NULL once the store closed */
	char node_id[WM_NODE_ID_MAX + 1];
	char address[WM_ENDPOINT_STRLEN];
	unsigned ttl_s;
	int64_t lease;	   /* 0: none granted (yet, or lost) */
	bool in_flight;	   /* an etcd call holds the reg */
	bool reput;	   /* our liveness record is to be put on the new lease */
	bool live_blocked; /* reput waits for a liveness Put in flight */
	uv_timer_t *timer;
};

#define REG_RETRY_MS 1000

static int64_t reg_lease(const struct reg *g, const char **node_id)
{
	if (!g)
		return 0;
	*node_id = g->node_id;
	return g->lease;
}

static void reg_step(struct reg *g);

static void reg_timer_cb(uv_timer_t *t)
{
	reg_step(t->data);
}

static void reg_later(struct reg *g, uint64_t ms)
{
	if (g->s)
		uv_timer_start(g->timer, reg_timer_cb, ms, 0);
}

static void reg_log(struct reg *g, const char *what, const char *why)
{
	char msg[300];
	snprintf(msg, sizeof(msg), "server %s: %s: %s", g->node_id, what, why ? why : "failed");
	wm_etcd_client_log(g->s->client, msg);
}

/* A call of the registration ended: free it if the store closed meanwhile. */
static bool reg_gone(struct reg *g)
{
	g->in_flight = false;
	if (g->s)
		return false;
	free(g);
	return true;
}

static void reg_put_cb(void *data, int err, const char *message, const uint8_t *resp, size_t len)
{
	struct reg *g = data;
	(void)resp;
	(void)len;
	if (reg_gone(g))
		return;
	if (err < 0) {
		reg_log(g, "cannot register", message);
		reg_later(g, REG_RETRY_MS);
		return;
	}
	/* A new lease: our liveness record went with the last one, if we
	 * had written one; reg_step puts it again first. */
	if (g->s->live_own) {
		g->reput = true;
		reg_later(g, 0);
		return;
	}
	reg_later(g, g->ttl_s * 1000ull / 3);
}

static void reg_grant_cb(void *data, int err, const char *message, const uint8_t *resp, size_t len)
{
	struct reg *g = data;
	if (reg_gone(g))
		return;
	Etcdserverpb__LeaseGrantResponse *r =
		err < 0 ? NULL : etcdserverpb__lease_grant_response__unpack(NULL, len, resp);
	if (!r || r->id == 0 || (r->error && *r->error)) {
		reg_log(g, "cannot get an etcd lease", r && r->error ? r->error : message);
		if (r)
			etcdserverpb__lease_grant_response__free_unpacked(r, NULL);
		reg_later(g, REG_RETRY_MS);
		return;
	}
	g->lease = r->id;
	etcdserverpb__lease_grant_response__free_unpacked(r, NULL);

	Etcdserverpb__PutRequest rq = ETCDSERVERPB__PUT_REQUEST__INIT;
	char key[WM_ETCD_KEY_MAX];
	if (wm_etcd_key(g->s->mesh, WM_ETCD_KEY_SERVER, g->node_id, key, sizeof(key)) < 0)
		return;
	rq.key = (ProtobufCBinaryData){strlen(key), (uint8_t *)key};
	rq.value = (ProtobufCBinaryData){strlen(g->address), (uint8_t *)g->address};
	rq.lease = g->lease;
	if (wm_etcd_call(g->s->client, "/etcdserverpb.KV/Put", &rq.base, reg_put_cb, g) == 0)
		g->in_flight = true;
	else
		reg_later(g, REG_RETRY_MS);
}

static void reg_renew_cb(void *data, int err, const char *message, const uint8_t *resp, size_t len)
{
	struct reg *g = data;
	if (reg_gone(g))
		return;
	Etcdserverpb__LeaseKeepAliveResponse *r =
		err < 0 ? NULL : etcdserverpb__lease_keep_alive_response__unpack(NULL, len, resp);
	if (!r) {
		reg_log(g, "cannot renew its etcd lease", message);
		reg_later(g, REG_RETRY_MS);
		return;
	}
	if (r->ttl <= 0) {
		/* Expired (we were cut off for longer than the TTL): the key
		 * went with it; register anew. */
		reg_log(g, "its etcd lease expired", "registering again");
		g->lease = 0;
		reg_later(g, 0);
	} else {
		reg_later(g, g->ttl_s * 1000ull / 3);
	}
	etcdserverpb__lease_keep_alive_response__free_unpacked(r, NULL);
}

static void reg_reput_cb(void *data, int err, const char *message, const uint8_t *resp, size_t len)
{
	struct reg *g = data;
	(void)resp;
	(void)len;
	if (reg_gone(g))
		return;
	if (err < 0) {
		reg_log(g, "cannot put its liveness record again", message);
		reg_later(g, REG_RETRY_MS);
	} else {
		g->reput = false;
		reg_later(g, g->ttl_s * 1000ull / 3);
	}
	live_next(g->s);
}

static void reg_step(struct reg *g)
{
	int r;
	char key[WM_ETCD_KEY_MAX];
	if (!g->s || g->in_flight)
		return;
	if (g->lease && g->reput && g->s->live_own &&
	    wm_etcd_key(g->s->mesh, WM_ETCD_KEY_LIVENESS, g->node_id, key, sizeof(key)) == 0) {
		/* Until it is there, the marks in force lack this server's
		 * word on the members that heartbeat to it. */
		if (g->s->live_busy) {
			g->live_blocked = true; /* live_next calls again */
			return;
		}
		Etcdserverpb__PutRequest rq = ETCDSERVERPB__PUT_REQUEST__INIT;
		rq.key = (ProtobufCBinaryData){strlen(key), (uint8_t *)key};
		rq.value = (ProtobufCBinaryData){g->s->live_own_len, g->s->live_own};
		rq.lease = g->lease;
		r = wm_etcd_call(g->s->client, "/etcdserverpb.KV/Put", &rq.base, reg_reput_cb, g);
		if (r == 0)
			g->in_flight = g->s->live_busy = true;
		else
			reg_later(g, REG_RETRY_MS);
		return;
	}
	g->reput = false;
	if (g->lease == 0) {
		Etcdserverpb__LeaseGrantRequest rq = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
		rq.ttl = g->ttl_s;
		r = wm_etcd_call(g->s->client, "/etcdserverpb.Lease/LeaseGrant", &rq.base,
				 reg_grant_cb, g);
	} else {
		r = wm_etcd_lease_keepalive(g->s->client, g->lease, reg_renew_cb, g);
	}
	if (r == 0)
		g->in_flight = true;
	else
		reg_later(g, REG_RETRY_MS);
}

static void live_next(struct wm_etcd_store *s)
{
	struct op *o = s->live_wait;
	s->live_busy = false;
	s->live_wait = NULL;
	if (o) {
		/* It writes a newer record on the lease we hold now: putting
		 * the older one again for a new lease is moot. */
		if (s->reg)
			s->reg->reput = false;
		int r = live_put(o);
		if (r < 0)
			op_fail(o, -WM_ERPC, "etcd: %s", strerror(-r));
	}
	if (s->reg && s->reg->live_blocked) {
		s->reg->live_blocked = false;
		reg_later(s->reg, 0);
	}
}

int wm_etcd_store_register_server(struct wm_etcd_store *s, const char *node_id,
				  const char *api_address, unsigned ttl_s)
{
	const char *why;
	struct wm_endpoint e;

	if (s->reg)
		return -EALREADY;
	if (!node_id || wm_node_id_check(node_id, &why) < 0 || !api_address ||
	    wm_endpoint_parse(api_address, &e) < 0 || ttl_s < 3 || ttl_s > 3600)
		return -EINVAL;
	struct reg *g = calloc(1, sizeof(*g));
	if (!g || !(g->timer = malloc(sizeof(*g->timer)))) {
		free(g);
		return -ENOMEM;
	}
	g->s = s;
	snprintf(g->node_id, sizeof(g->node_id), "%s", node_id);
	wm_endpoint_format(&e, g->address, sizeof(g->address));
	g->ttl_s = ttl_s;
	uv_timer_init(s->loop, g->timer);
	g->timer->data = g;
	s->reg = g;
	reg_step(g);
	return 0;
}

static void reg_close(struct reg *g)
{
	if (!g)
		return;
	uv_close((uv_handle_t *)g->timer, timer_free_cb);
	g->s = NULL;
	if (!g->in_flight)
		free(g);
}

int wm_etcd_store_list_servers(struct wm_etcd_store *s, struct wm_etcd_server **out, size_t *n)
{
	*out = malloc((s->n_servers ? s->n_servers : 1) * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	if (s->n_servers)
		memcpy(*out, s->servers, s->n_servers * sizeof(**out));
	*n = s->n_servers;
	return 0;
}

/* ------------------------------------------------------------ reads */

int wm_etcd_store_mesh_info(struct wm_etcd_store *s, struct wm_mesh_info *out)
{
	if (!s->has_mesh)
		return -WM_ENOMESH;
	*out = s->info;
	return 0;
}

/* Nodes as the replica holds them: with the routes an administrator put
 * behind them, as the Raft store lists them (the cache above keeps only
 * what the join commands need). */
int wm_etcd_store_get_node(struct wm_etcd_store *s, const char *id, struct wm_mesh_node *out)
{
	return wm_fsm_get_node(wm_etcd_state_fsm(s->st), id, out);
}

int wm_etcd_store_list_nodes(struct wm_etcd_store *s, struct wm_mesh_node **out, size_t *n)
{
	return wm_fsm_list_nodes(wm_etcd_state_fsm(s->st), out, n);
}

struct wm_etcd_state *wm_etcd_store_state(struct wm_etcd_store *s)
{
	return s->st;
}

int64_t wm_etcd_store_revision(const struct wm_etcd_store *s)
{
	return s->revision;
}

unsigned wm_etcd_store_watch_restarts(const struct wm_etcd_store *s)
{
	return s->watch ? wm_etcd_watch_restarts(s->watch) : 0;
}

int wm_etcd_store_on_change(struct wm_etcd_store *s, wm_store_change_cb cb, void *data)
{
	if (s->n_listeners == MAX_LISTENERS)
		return -ENOSPC;
	s->listeners[s->n_listeners++] = (struct listener){cb, data};
	return 0;
}

void wm_etcd_store_off_change(struct wm_etcd_store *s, wm_store_change_cb cb, void *data)
{
	for (size_t i = 0; i < s->n_listeners; i++)
		if (s->listeners[i].cb == cb && s->listeners[i].data == data) {
			memmove(&s->listeners[i], &s->listeners[i + 1],
				(s->n_listeners - i - 1) * sizeof(s->listeners[0]));
			s->n_listeners--;
			return;
		}
}
