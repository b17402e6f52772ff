/* The etcd store's replica of the mesh state and the commands beyond nodes
 * and the deny list (store_state.h). The replica is the Raft store's FSM
 * (store/fsm.h) on an in-memory database: fed the same commands in etcd's
 * revision order it holds what a Raft replica holds after the same log, so
 * reads, checks and the dump are the Raft store's own code. A command is
 * checked against the replica (wm_fsm_check_cmd), then written as one etcd
 * transaction that holds only if nothing it was checked against changed
 * since: the guard key (bumped by every such command) and the node keys it
 * names (see layout.h). */
#include "etcd/store_state.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "core/dnsname.h"
#include "core/error.h"
#include "core/ids.h"
#include "core/sort.h"
#include "etcd/layout.h"
#include "etcd/record.h"
#include "etcd/record_state.h"
#include "store/authz.h"
#include "store/fsm.h"

/* Conflicts a command goes through before it gives up (as store.c's). */
#define MAX_ATTEMPTS 32
/* A conflict on a node key whose change the replica has already seen (a
 * removal): try again after this long, the guard being unchanged. */
#define RETRY_MS 20

struct inc {
	char id[WM_NODE_ID_MAX + 1];
	int64_t create_rev, mod_rev;
};

enum sop_state { S_STEP, S_WAIT, S_DELAY, S_FLIGHT, S_END };

struct sop {
	struct wm_etcd_state *st; /* NULL once the state was freed */
	struct sop *next;
	enum sop_state state;
	Webmesh__V1__RaftCommand *cmd; /* our copy; NULL for a deferred result */
	int64_t wait_rev;
	uint64_t not_before;
	unsigned attempts;
	struct wm_etcd_gtxn txn;
	struct wm_etcd_change ch;
	/* What the record holds when it is not the command itself. */
	Webmesh__V1__RaftCommand rec;
	Webmesh__V1__PutRoutesCommand routes;
	char *route_v[WM_MAX_ROUTES];
	char route_text[WM_MAX_ROUTES][WM_PREFIX_STRLEN];
	Webmesh__V1__PutDnsRecordCommand dns;
	char dns_name[WM_DNS_NAME_MAX + 1], dns_type[8], dns_value[WM_DNS_VALUE_MAX + 1];
	struct wm_store_result res;
	struct wm_store_result refusal; /* the check's, while it is verified */
	int64_t checked_rev;		/* the replica's revision at that check */
	wm_store_apply_cb cb;
	void *data;
};

struct wm_etcd_state {
	uv_loop_t *loop;
	struct wm_etcd_client *client;
	char mesh[WM_ETCD_MESH_MAX + 1];
	char prefix[WM_ETCD_KEY_MAX];
	size_t prefix_len;
	struct wm_fsm *fsm;
	int64_t rev, guard_rev;
	int64_t loading_rev; /* while a load replays the records: its revision */
	struct inc *nodes;   /* sorted by ID */
	size_t n_nodes, cap_nodes;
	struct sop *ops;
	uv_timer_t *timer;
	bool pump_armed;
};

static void log_msg(struct wm_etcd_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void log_msg(struct wm_etcd_state *st, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (st->client) /* none in the fuzzer */
		wm_etcd_client_log(st->client, msg);
}

/* ------------------------------------------------------------ node revisions */

static size_t inc_find(const struct wm_etcd_state *st, const char *id, bool *found)
{
	return wm_etcd_sorted_find(st->nodes, st->n_nodes, sizeof(*st->nodes),
				   offsetof(struct inc, id), id, found);
}

static const struct inc *inc_get(const struct wm_etcd_state *st, const char *id)
{
	bool found;
	size_t i = inc_find(st, id, &found);
	return found ? &st->nodes[i] : NULL;
}

static int inc_put(struct wm_etcd_state *st, const char *id, int64_t create_rev, int64_t mod_rev)
{
	bool found;
	size_t i = inc_find(st, id, &found);
	if (!found) {
		void *grown = st->nodes;
		int gr = wm_etcd_sorted_insert(&grown, &st->n_nodes, &st->cap_nodes,
					       sizeof(*st->nodes), i);
		st->nodes = grown;
		if (gr < 0)
			return -ENOMEM;
		snprintf(st->nodes[i].id, sizeof(st->nodes[i].id), "%s", id);
	}
	st->nodes[i].create_rev = create_rev;
	st->nodes[i].mod_rev = mod_rev;
	return 0;
}

static void inc_del(struct wm_etcd_state *st, const char *id)
{
	bool found;
	size_t i = inc_find(st, id, &found);
	if (found)
		wm_etcd_sorted_remove(st->nodes, &st->n_nodes, sizeof(*st->nodes), i);
}

/* ------------------------------------------------------------ keys */

enum lkind { L_NONE, L_MESH, L_NODE, L_DENIED, L_STATE };

/* Which key of the mesh kv is; name receives a node ID (L_NODE, L_DENIED). */
static enum lkind classify(const struct wm_etcd_state *st, const Mvccpb__KeyValue *kv, char *name,
			   size_t namelen, enum wm_etcd_skind *sk)
{
	const uint8_t *k = kv->key.data;
	size_t len = kv->key.len;
	const char *why;
	if (len < st->prefix_len || memcmp(k, st->prefix, st->prefix_len) != 0)
		return L_NONE;
	k += st->prefix_len;
	len -= st->prefix_len;
	if (len == 4 && memcmp(k, "mesh", 4) == 0)
		return L_MESH;
	static const struct {
		const char *dir;
		enum lkind kind;
	} dirs[] = {{"nodes/", L_NODE}, {"denied/", L_DENIED}};
	for (size_t i = 0; i < 2; i++) {
		size_t dl = strlen(dirs[i].dir);
		if (len > dl && len - dl < namelen && memcmp(k, dirs[i].dir, dl) == 0) {
			memcpy(name, k + dl, len - dl);
			name[len - dl] = '\0';
			return wm_node_id_check(name, &why) == 0 ? dirs[i].kind : L_NONE;
		}
	}
	return wm_etcd_skey_kind(k, len, sk) == 0 ? L_STATE : L_NONE;
}

/* The command a mesh, node or denied key's change amounts to. */
static Webmesh__V1__RaftCommand *legacy_cmd(enum lkind kind, const char *name,
					    const Mvccpb__KeyValue *kv, bool deleted)
{
	Webmesh__V1__RaftCommand *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	webmesh__v1__raft_command__init(c);
	const ProtobufCBinaryData *v = &kv->value;
	switch (kind) {
	case L_MESH:
		if (deleted)
			break;
		c->bootstrap = webmesh__v1__bootstrap_mesh_command__unpack(NULL, v->len, v->data);
		c->command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP;
		if (c->bootstrap)
			return c;
		break;
	case L_NODE:
		if (!deleted) {
			c->join_node =
				webmesh__v1__join_node_command__unpack(NULL, v->len, v->data);
			c->command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE;
			if (c->join_node)
				return c;
			break;
		}
		c->remove_node = malloc(sizeof(*c->remove_node));
		if (!c->remove_node)
			break;
		webmesh__v1__remove_node_command__init(c->remove_node);
		c->command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE;
		if ((c->remove_node->id = strdup(name)))
			return c;
		break;
	case L_DENIED:
		if (!deleted) {
			c->deny_node =
				webmesh__v1__deny_node_command__unpack(NULL, v->len, v->data);
			c->command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DENY_NODE;
			if (c->deny_node)
				return c;
			break;
		}
		c->allow_node = malloc(sizeof(*c->allow_node));
		if (!c->allow_node)
			break;
		webmesh__v1__allow_node_command__init(c->allow_node);
		c->command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_ALLOW_NODE;
		if ((c->allow_node->node_id = strdup(name)))
			return c;
		break;
	default:
		break;
	}
	webmesh__v1__raft_command__free_unpacked(c, NULL);
	return NULL;
}

/* Applies c to the replica; true if the state took it. A refusal means etcd
 * holds what the Raft store would not have taken (a record someone else
 * wrote): said once, and the replica keeps its state. */
static bool replica_apply(struct wm_etcd_state *st, int64_t rev, const Webmesh__V1__RaftCommand *c)
{
	struct wm_store_result res;
	int r = wm_fsm_apply_cmd(st->fsm, (uint64_t)rev, c, &res);
	/* A deleted edge's record where the replayed joins made no edge (a
	 * node that asked for none, an explicit edge deleted): nothing to
	 * delete, the same state. */
	if (r == 0 && res.err == -ENOENT &&
	    c->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_EDGE &&
	    rev == st->loading_rev)
		return true;
	if (r < 0 || res.err) {
		log_msg(st, "etcd revision %lld: state refused a stored command (case %d): %s",
			(long long)rev, (int)c->command_case, res.message);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------ load */

static int by_create(const void *a, const void *b)
{
	const Mvccpb__KeyValue *x = *(Mvccpb__KeyValue *const *)a,
			       *y = *(Mvccpb__KeyValue *const *)b;
	return x->create_revision < y->create_revision ? -1
						       : x->create_revision > y->create_revision;
}

/* The order records are applied in, so that each finds what it refers to:
 * RBAC settings before objects, roles and groups before the bindings. */
static int rec_rank(enum wm_etcd_skind k, const Webmesh__V1__RaftCommand *c)
{
	switch (k) {
	case WM_ETCD_S_ROUTES:
		return 0;
	case WM_ETCD_S_AUTHZ_SET:
		return 1;
	case WM_ETCD_S_AUTHZ:
		return c->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE_BINDING ? 3
											      : 2;
	case WM_ETCD_S_EDGE:
		return 4;
	case WM_ETCD_S_DNS:
		return 5;
	default:
		return -1;
	}
}

/* A record whose nodes are those it was written for (not a node removed
 * and joined again since: the Raft store dropped what belonged to it). */
static bool rec_current(const struct wm_etcd_state *st, const Webmesh__V1__RaftCommand *c,
			int64_t a_rev, int64_t b_rev)
{
	const char *a = NULL, *b = NULL;
	if (c->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE) {
		a = c->put_edge->source;
		b = c->put_edge->target;
	} else if (c->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_EDGE) {
		a = c->delete_edge->source;
		b = c->delete_edge->target;
	} else if (c->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROUTES) {
		a = c->put_routes->node_id;
	}
	const struct inc *ia = a ? inc_get(st, a) : NULL, *ib = b ? inc_get(st, b) : NULL;
	if (a && (!ia || ia->create_rev != a_rev))
		return false;
	if (b && (!ib || ib->create_rev != b_rev))
		return false;
	return true;
}

int wm_etcd_state_load(struct wm_etcd_state *st, Mvccpb__KeyValue **kvs, size_t n, int64_t rev)
{
	struct wm_fsm *f;
	char err[256], name[WM_ETCD_KEY_MAX];
	enum wm_etcd_skind sk;
	int r = wm_fsm_open(":memory:", &f, err, sizeof(err));
	if (r < 0)
		return r;
	wm_fsm_close(st->fsm);
	st->fsm = f;
	st->n_nodes = 0;
	st->guard_rev = 0;
	st->loading_rev = rev;
	Mvccpb__KeyValue **nodes = malloc((n ? n : 1) * sizeof(*nodes));
	if (!nodes)
		return -ENOMEM;
	size_t n_nodes = 0;
	/* The mesh, then the nodes in the order they joined (a full mesh's
	 * edges, which the Raft store adds at each join, come out the same),
	 * then the records that refer to them, then the deny list. */
	for (int pass = 0; pass < 5; pass++) {
		for (size_t i = 0; i < n; i++) {
			const Mvccpb__KeyValue *kv = kvs[i];
			enum lkind k = classify(st, kv, name, sizeof(name), &sk);
			if (pass == 0 && k == L_MESH) {
				Webmesh__V1__RaftCommand *c = legacy_cmd(k, name, kv, false);
				if (c)
					replica_apply(st, rev, c);
				webmesh__v1__raft_command__free_unpacked(c, NULL);
			} else if (pass == 1 && k == L_NODE) {
				nodes[n_nodes++] = kvs[i];
			} else if (pass == 4 && k == L_DENIED) {
				Webmesh__V1__RaftCommand *c = legacy_cmd(k, name, kv, false);
				if (c)
					replica_apply(st, rev, c);
				webmesh__v1__raft_command__free_unpacked(c, NULL);
			} else if (k == L_STATE && sk == WM_ETCD_S_GUARD && pass == 0) {
				st->guard_rev = kv->mod_revision;
			}
		}
		if (pass == 1) {
			wm_sort(nodes, n_nodes, sizeof(*nodes), by_create);
			for (size_t i = 0; i < n_nodes; i++) {
				classify(st, nodes[i], name, sizeof(name), &sk);
				Webmesh__V1__RaftCommand *c =
					legacy_cmd(L_NODE, name, nodes[i], false);
				if (!c)
					log_msg(st,
						"etcd: skipped node %s: its record is not a node",
						name);
				if (c && replica_apply(st, rev, c))
					inc_put(st, name, nodes[i]->create_revision,
						nodes[i]->mod_revision);
				if (c)
					webmesh__v1__raft_command__free_unpacked(c, NULL);
			}
		}
		if (pass == 2 || pass == 3) {
			/* pass 2: routes, RBAC settings and objects; 3: edges, DNS */
			for (int rank = pass == 2 ? 0 : 4; rank <= (pass == 2 ? 3 : 5); rank++)
				for (size_t i = 0; i < n; i++) {
					Webmesh__V1__RaftCommand *c;
					int64_t a, b;
					if (classify(st, kvs[i], name, sizeof(name), &sk) !=
						    L_STATE ||
					    sk == WM_ETCD_S_GUARD || sk == WM_ETCD_S_CMD)
						continue;
					if (wm_etcd_srec_decode(sk, kvs[i]->value.data,
								kvs[i]->value.len, &c, &a,
								&b) < 0) {
						log_msg(st,
							"etcd: skipped %s: a record that is not "
							"ours",
							name);
						continue;
					}
					if (rec_rank(sk, c) == rank && rec_current(st, c, a, b))
						replica_apply(st, rev, c);
					webmesh__v1__raft_command__free_unpacked(c, NULL);
				}
		}
	}
	free(nodes);
	st->rev = rev;
	st->loading_rev = 0;
	return 0;
}

/* ------------------------------------------------------------ events */

void wm_etcd_state_event(struct wm_etcd_state *st, const Mvccpb__KeyValue *kv, bool deleted,
			 int64_t rev, Webmesh__V1__RaftCommand **feed)
{
	char name[WM_ETCD_KEY_MAX];
	enum wm_etcd_skind sk;
	Webmesh__V1__RaftCommand *c = NULL;
	*feed = NULL;
	if (rev > st->rev)
		st->rev = rev;
	if (!kv)
		return;
	enum lkind k = classify(st, kv, name, sizeof(name), &sk);
	if (k == L_MESH || k == L_NODE || k == L_DENIED) {
		c = legacy_cmd(k, name, kv, deleted);
		if (k == L_NODE && deleted)
			inc_del(st, name);
		else if (k == L_NODE)
			inc_put(st, name, kv->create_revision, kv->mod_revision);
	} else if (k == L_STATE && sk == WM_ETCD_S_GUARD) {
		st->guard_rev = deleted ? 0 : kv->mod_revision;
	} else if (k == L_STATE && sk == WM_ETCD_S_CMD && !deleted) {
		int64_t a, b;
		if (wm_etcd_srec_decode(sk, kv->value.data, kv->value.len, &c, &a, &b) < 0)
			log_msg(st, "etcd revision %lld: a command that is not ours",
				(long long)rev);
	}
	/* The other records say again what the cmd key of their revision
	 * says: they are for loading. */
	if (!c)
		return;
	if (replica_apply(st, rev, c))
		*feed = c;
	else
		webmesh__v1__raft_command__free_unpacked(c, NULL);
}

int64_t wm_etcd_state_guard_rev(const struct wm_etcd_state *st)
{
	return st->guard_rev;
}

int wm_etcd_state_check(struct wm_etcd_state *st, const Webmesh__V1__RaftCommand *cmd,
			struct wm_store_result *res)
{
	return wm_fsm_check_cmd(st->fsm, cmd, res, NULL, NULL);
}

int64_t wm_etcd_state_revision(const struct wm_etcd_state *st)
{
	return st->rev;
}

/* ------------------------------------------------------------ commands */

static void pump_arm(struct wm_etcd_state *st, uint64_t ms);

static void sop_free(struct sop *o)
{
	wm_etcd_gtxn_free(&o->txn);
	if (o->cmd)
		webmesh__v1__raft_command__free_unpacked(o->cmd, NULL);
	free(o);
}

static void sop_end(struct sop *o, int err, const char *msg)
{
	o->res.err = err;
	if (msg)
		snprintf(o->res.message, sizeof(o->res.message), "%.*s",
			 (int)sizeof(o->res.message) - 1, msg);
	o->state = S_END;
	pump_arm(o->st, 0);
}

static int node_revs(struct wm_etcd_state *st, const char *id, int64_t *mod, int64_t *create)
{
	const struct inc *i = id ? inc_get(st, id) : NULL;
	if (!i)
		return -ENOENT; /* the FSM found it: the two are fed together */
	*mod = i->mod_rev;
	*create = i->create_rev;
	return 0;
}

/* The node's routes an administrator put, as the command leaves them. */
static int after_routes(struct sop *o, struct wm_fsm *f, const char *id)
{
	sqlite3_stmt *q;
	size_t n = 0;
	if (sqlite3_prepare_v2(wm_fsm_db(f),
			       "SELECT prefix FROM routes WHERE node_id = ?1 ORDER BY prefix", -1,
			       &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	while (sqlite3_step(q) == SQLITE_ROW && n < WM_MAX_ROUTES) {
		snprintf(o->route_text[n], sizeof(o->route_text[n]), "%s",
			 (const char *)sqlite3_column_text(q, 0));
		o->route_v[n] = o->route_text[n];
		n++;
	}
	sqlite3_finalize(q);
	webmesh__v1__put_routes_command__init(&o->routes);
	o->routes.node_id = (char *)id;
	o->routes.routes = o->route_v;
	o->routes.n_routes = n;
	webmesh__v1__raft_command__init(&o->rec);
	o->rec.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROUTES;
	o->rec.put_routes = &o->routes;
	o->ch.record = &o->rec;
	o->ch.put = n > 0;
	o->ch.node_a = id;
	int r = node_revs(o->st, id, &o->ch.rev_a, &o->ch.create_a);
	if (r == 0)
		r = wm_etcd_skey(o->st->mesh, WM_ETCD_S_ROUTES, id, NULL, NULL, o->ch.key,
				 sizeof(o->ch.key));
	return r;
}

/* The canonical name, type and value the FSM stores (core/dnsname.h). */
static int dns_canon(struct sop *o, struct wm_fsm *f, const char *name, const char *type,
		     const char *value)
{
	struct wm_mesh_info m;
	const char *why;
	int r = wm_fsm_mesh_info(f, &m), t;
	if (r < 0)
		return r;
	if (wm_dns_record_name(name, m.domain, o->dns_name, sizeof(o->dns_name), &why) < 0 ||
	    (t = wm_dns_record_type(type)) < 0)
		return -EINVAL;
	snprintf(o->dns_type, sizeof(o->dns_type), "%s", wm_dns_record_type_name(t));
	o->dns_value[0] = '\0';
	if (value && value[0] &&
	    wm_dns_record_value(t, value, o->dns_value, sizeof(o->dns_value), &why) < 0)
		return -EINVAL;
	return wm_etcd_skey(o->st->mesh, WM_ETCD_S_DNS, o->dns_name, o->dns_type,
			    o->dns_value[0] ? o->dns_value : NULL, o->ch.key, sizeof(o->ch.key));
}

/* Runs inside the FSM's check, on the state as the command would leave it:
 * which records the command changes. */
static int after_cb(void *data, struct wm_fsm *f)
{
	struct sop *o = data;
	const Webmesh__V1__RaftCommand *c = o->cmd;
	struct wm_etcd_state *st = o->st;
	int r = 0;

	memset(&o->ch, 0, sizeof(o->ch));
	o->ch.record = c;
	o->ch.put = true;
	switch (c->command_case) {
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_EDGE: {
		bool put = c->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE;
		o->ch.node_a = put ? c->put_edge->source : c->delete_edge->source;
		o->ch.node_b = put ? c->put_edge->target : c->delete_edge->target;
		/* A deleted edge is a record too: the full mesh implies an
		 * edge between every two nodes, and this one is gone. */
		if ((r = node_revs(st, o->ch.node_a, &o->ch.rev_a, &o->ch.create_a)) < 0 ||
		    (r = node_revs(st, o->ch.node_b, &o->ch.rev_b, &o->ch.create_b)) < 0)
			return r;
		return wm_etcd_skey(st->mesh, WM_ETCD_S_EDGE, o->ch.node_a, o->ch.node_b, NULL,
				    o->ch.key, sizeof(o->ch.key));
	}
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROUTES:
		return after_routes(o, f, c->put_routes->node_id);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_ROUTES:
		return after_routes(o, f, c->delete_routes->node_id);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_DNS_RECORD: {
		const Webmesh__V1__PutDnsRecordCommand *d = c->put_dns_record;
		if ((r = dns_canon(o, f, d->name, d->type, d->value)) < 0)
			return r;
		o->dns = *d;
		o->dns.name = o->dns_name;
		o->dns.type = o->dns_type;
		o->dns.value = o->dns_value;
		webmesh__v1__raft_command__init(&o->rec);
		o->rec.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_DNS_RECORD;
		o->rec.put_dns_record = &o->dns;
		o->ch.record = &o->rec;
		return 0;
	}
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_DNS_RECORD: {
		const Webmesh__V1__DeleteDnsRecordCommand *d = c->delete_dns_record;
		o->ch.put = false;
		o->ch.del_prefix = !d->value || !d->value[0];
		return dns_canon(o, f, d->name, d->type, d->value);
	}
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE:
		return wm_etcd_skey(st->mesh, WM_ETCD_S_AUTHZ, "roles", c->put_role->name, NULL,
				    o->ch.key, sizeof(o->ch.key));
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE_BINDING:
		return wm_etcd_skey(st->mesh, WM_ETCD_S_AUTHZ, "rolebindings",
				    c->put_role_binding->name, NULL, o->ch.key, sizeof(o->ch.key));
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_GROUP:
		return wm_etcd_skey(st->mesh, WM_ETCD_S_AUTHZ, "groups", c->put_group->name, NULL,
				    o->ch.key, sizeof(o->ch.key));
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_NETWORK_ACL:
		return wm_etcd_skey(st->mesh, WM_ETCD_S_AUTHZ, "networkacls",
				    c->put_network_acl->name, NULL, o->ch.key, sizeof(o->ch.key));
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_AUTHZ:
		o->ch.put = false;
		return wm_etcd_skey(st->mesh, WM_ETCD_S_AUTHZ, c->delete_authz->kind,
				    c->delete_authz->name, NULL, o->ch.key, sizeof(o->ch.key));
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP_AUTHZ:
		return wm_etcd_skey(st->mesh, WM_ETCD_S_AUTHZ_SET, NULL, NULL, NULL, o->ch.key,
				    sizeof(o->ch.key));
	default:
		return -ENOTSUP;
	}
}

static const Mvccpb__KeyValue *fail_kv(const Etcdserverpb__TxnResponse *r, size_t i)
{
	if (i >= r->n_responses ||
	    r->responses[i]->response_case != ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE)
		return NULL;
	const Etcdserverpb__RangeResponse *rr = r->responses[i]->response_range;
	return rr && rr->n_kvs ? rr->kvs[0] : NULL;
}

static void txn_cb(void *data, int err, const char *message, const uint8_t *resp, size_t len)
{
	struct sop *o = data;
	if (!o->st) { /* freed meanwhile */
		sop_free(o);
		return;
	}
	wm_etcd_gtxn_free(&o->txn);
	if (err < 0) {
		char msg[300];
		snprintf(msg, sizeof(msg), "etcd: %s", message ? message : strerror(-err));
		sop_end(o, err == -ECANCELED ? -ECANCELED : -WM_ERPC, msg);
		return;
	}
	Etcdserverpb__TxnResponse *r = etcdserverpb__txn_response__unpack(NULL, len, resp);
	if (!r) {
		sop_end(o, -WM_ERPC, "etcd: undecodable Txn response");
		return;
	}
	if (r->succeeded) {
		o->res.index = (uint64_t)(r->header ? r->header->revision : 0);
		sop_end(o, 0, NULL);
	} else {
		/* Something the check saw changed: check again once the
		 * replica has seen that change. */
		const Mvccpb__KeyValue *g = fail_kv(r, 0);
		o->wait_rev = g ? g->mod_revision : 0;
		if (o->wait_rev > o->st->rev) {
			o->state = S_WAIT;
		} else {
			o->state = S_DELAY;
			o->not_before = uv_now(o->st->loop) + RETRY_MS;
		}
		pump_arm(o->st, o->state == S_DELAY ? RETRY_MS : 0);
	}
	etcdserverpb__txn_response__free_unpacked(r, NULL);
}

/* The node IDs a command names (their keys are compared by its write). */
static void cmd_nodes(const Webmesh__V1__RaftCommand *c, const char **a, const char **b)
{
	*a = *b = NULL;
	switch (c->command_case) {
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE:
		*a = c->put_edge->source;
		*b = c->put_edge->target;
		break;
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_EDGE:
		*a = c->delete_edge->source;
		*b = c->delete_edge->target;
		break;
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROUTES:
		*a = c->put_routes->node_id;
		break;
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_ROUTES:
		*a = c->delete_routes->node_id;
		break;
	default:
		break;
	}
}

static void verify_cb(void *data, int err, const char *message, const uint8_t *resp, size_t len)
{
	struct sop *o = data;
	(void)message;
	if (!o->st) {
		sop_free(o);
		return;
	}
	wm_etcd_gtxn_free(&o->txn);
	Etcdserverpb__TxnResponse *r =
		err < 0 ? NULL : etcdserverpb__txn_response__unpack(NULL, len, resp);
	int64_t newest = 0;
	for (size_t i = 0; r && i < r->n_responses; i++) {
		const Mvccpb__KeyValue *kv = fail_kv(r, i);
		if (kv && kv->mod_revision > newest)
			newest = kv->mod_revision;
	}
	if (r)
		etcdserverpb__txn_response__free_unpacked(r, NULL);
	if (newest > o->checked_rev) {
		/* The replica was behind what the command names when it
		 * checked: check again once it holds it (now, maybe). */
		o->wait_rev = newest;
		o->state = S_WAIT;
		pump_arm(o->st, 0);
		return;
	}
	/* The refusal stands (or etcd cannot say otherwise now). */
	o->res = o->refusal;
	sop_end(o, o->res.err, NULL);
}

/* A refusal is the replica's: another server may have written what the
 * command needs a moment ago, and this replica not heard of it yet. One read
 * of the guard and of the nodes the command names says whether it is
 * behind; a refusal stands only when it is not. */
static int verify(struct sop *o, const struct wm_store_result *res)
{
	struct wm_etcd_state *st = o->st;
	char key[WM_ETCD_SKEY_MAX];
	const char *ids[2];
	int r;
	o->refusal = *res;
	o->checked_rev = st->rev;
	wm_etcd_gtxn_init(&o->txn);
	cmd_nodes(o->cmd, &ids[0], &ids[1]);
	if ((r = wm_etcd_skey(st->mesh, WM_ETCD_S_GUARD, NULL, NULL, NULL, key, sizeof(key))) < 0 ||
	    (r = wm_etcd_gtxn_read(&o->txn, key)) < 0)
		return r;
	for (size_t i = 0; i < 2; i++)
		if (ids[i] &&
		    wm_etcd_key(st->mesh, WM_ETCD_KEY_NODE, ids[i], key, sizeof(key)) == 0 &&
		    (r = wm_etcd_gtxn_read(&o->txn, key)) < 0)
			return r;
	r = wm_etcd_call(st->client, "/etcdserverpb.KV/Txn", &o->txn.req.base, verify_cb, o);
	if (r == 0)
		o->state = S_FLIGHT;
	return r;
}

static void sop_step(struct sop *o)
{
	struct wm_etcd_state *st = o->st;
	struct wm_store_result res;
	if (++o->attempts > MAX_ATTEMPTS) {
		char msg[100];
		snprintf(msg, sizeof(msg), "etcd: gave up after %u conflicting writes; retry",
			 o->attempts - 1);
		sop_end(o, -EAGAIN, msg);
		return;
	}
	int r = wm_fsm_check_cmd(st->fsm, o->cmd, &res, after_cb, o);
	if (r == 0 && res.err && res.err != -EINVAL && verify(o, &res) == 0)
		return; /* bad input needs no second look */
	if (r < 0 || res.err) {
		wm_etcd_gtxn_free(&o->txn);
		o->res = res;
		sop_end(o, res.err ? res.err : r, NULL);
		return;
	}
	o->res = res;
	r = wm_etcd_txn_change(&o->txn, st->mesh, st->guard_rev, &o->ch, o->cmd);
	if (r == 0)
		r = wm_etcd_call(st->client, "/etcdserverpb.KV/Txn", &o->txn.req.base, txn_cb, o);
	if (r < 0) {
		char msg[200];
		wm_etcd_gtxn_free(&o->txn);
		snprintf(msg, sizeof(msg), "etcd: %s", wm_strerror(r));
		sop_end(o, -WM_ERPC, msg);
		return;
	}
	o->state = S_FLIGHT;
}

static void pump(uv_timer_t *t)
{
	struct wm_etcd_state *st = t->data;
	uint64_t now = uv_now(st->loop);
	bool delayed = false;
	st->pump_armed = false;
	/* Unlink the finished first: a callback may apply another command. */
	struct sop *done = NULL, **pp = &st->ops;
	while (*pp) {
		struct sop *o = *pp;
		if (o->state == S_WAIT && o->wait_rev <= st->rev)
			o->state = S_STEP;
		if (o->state == S_DELAY && now >= o->not_before)
			o->state = S_STEP;
		if (o->state == S_STEP)
			sop_step(o);
		delayed |= o->state == S_DELAY;
		/* A result is given once the replica holds its write: a read
		 * after the callback sees it. */
		if (o->state == S_END && (o->res.err || (int64_t)o->res.index <= st->rev)) {
			*pp = o->next;
			o->next = done;
			done = o;
			continue;
		}
		pp = &o->next;
	}
	while (done) {
		struct sop *o = done;
		done = o->next;
		/* A join's node as the state holds it now, as the Raft
		 * store answers: with the routes put behind it. */
		if (!o->cmd && o->res.err == 0 && o->res.node.id[0])
			wm_fsm_get_node(st->fsm, o->res.node.id, &o->res.node);
		if (o->cb)
			o->cb(o->data, &o->res);
		sop_free(o);
	}
	if (delayed)
		pump_arm(st, RETRY_MS);
}

static void pump_arm(struct wm_etcd_state *st, uint64_t ms)
{
	if (!st || (st->pump_armed && ms > 0))
		return;
	st->pump_armed = true;
	uv_timer_start(st->timer, pump, ms, 0);
}

void wm_etcd_state_caught_up(struct wm_etcd_state *st)
{
	if (st->ops)
		pump_arm(st, 0);
}

int wm_etcd_state_defer(struct wm_etcd_state *st, int64_t rev, wm_store_apply_cb cb, void *data,
			const struct wm_store_result *res)
{
	struct sop *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->st = st;
	o->state = S_END;
	o->res = *res;
	o->res.index = (uint64_t)rev;
	o->cb = cb;
	o->data = data;
	o->next = st->ops;
	st->ops = o;
	pump_arm(st, 0);
	return 0;
}

bool wm_etcd_state_handles(const Webmesh__V1__RaftCommand *cmd)
{
	switch (cmd->command_case) {
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_EDGE:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROUTES:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_ROUTES:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE_BINDING:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_GROUP:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_NETWORK_ACL:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_AUTHZ:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP_AUTHZ:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_DNS_RECORD:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_DNS_RECORD:
		return true;
	default:
		return false;
	}
}

int wm_etcd_state_apply(struct wm_etcd_state *st, const Webmesh__V1__RaftCommand *cmd,
			wm_store_apply_cb cb, void *data)
{
	if (!wm_etcd_state_handles(cmd))
		return -ENOTSUP;
	struct sop *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	/* Our own copy: the caller's command is theirs. */
	o->cmd = (Webmesh__V1__RaftCommand *)wm_etcd_msg_copy(&cmd->base);
	if (!o->cmd) {
		free(o);
		return -ENOMEM;
	}
	o->st = st;
	o->cb = cb;
	o->data = data;
	o->state = S_STEP;
	o->next = st->ops;
	st->ops = o;
	pump_arm(st, 0);
	return 0;
}

/* ------------------------------------------------------------ life */

static void timer_free_cb(uv_handle_t *h)
{
	free(h);
}

int wm_etcd_state_new(uv_loop_t *loop, struct wm_etcd_client *client, const char *mesh,
		      struct wm_etcd_state **out)
{
	char err[256];
	struct wm_etcd_state *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->loop = loop;
	st->client = client;
	snprintf(st->mesh, sizeof(st->mesh), "%s", mesh);
	int r = wm_etcd_mesh_prefix(mesh, st->prefix, sizeof(st->prefix));
	if (r == 0)
		r = wm_fsm_open(":memory:", &st->fsm, err, sizeof(err));
	if (r == 0 && !(st->timer = malloc(sizeof(*st->timer))))
		r = -ENOMEM;
	if (r < 0) {
		wm_fsm_close(st->fsm);
		free(st);
		return r;
	}
	st->prefix_len = strlen(st->prefix);
	uv_timer_init(loop, st->timer);
	st->timer->data = st;
	*out = st;
	return 0;
}

void wm_etcd_state_free(struct wm_etcd_state *st)
{
	if (!st)
		return;
	for (struct sop *o = st->ops, *next; o; o = next) {
		next = o->next;
		o->res.err = -ECANCELED;
		snprintf(o->res.message, sizeof(o->res.message), "the store is closing");
		if (o->cb)
			o->cb(o->data, &o->res);
		/* An etcd call holds it still: freed when that ends. */
		if (o->state == S_FLIGHT)
			o->st = NULL;
		else
			sop_free(o);
	}
	uv_close((uv_handle_t *)st->timer, timer_free_cb);
	wm_fsm_close(st->fsm);
	free(st->nodes);
	free(st);
}

struct wm_fsm *wm_etcd_state_fsm(struct wm_etcd_state *st)
{
	return st->fsm;
}
