/* A storage plugin behind the store table (storage.h): commands are packed
 * RaftCommands, reads arrive through a sink in the header's text forms and
 * are parsed back into the store's structs, the change feed is unpacked once
 * and handed to every listener. */
#include "plugin/storage.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cmdver.h"
#include "core/error.h"
#include "core/key.h"
#include "core/meshauth.h"
#include "plugin/plugin.h"
#include "store/authz.h"
#include "util/log.h"
#include "util/module.h"

#define MAX_LISTENERS 16
/* How long a command's result waits for the change feed to report it (see
 * apply_done): longer only when the store wrote nothing the feed can see. */
#define HOLD_MS 2000
/* How long a command may wait for the plugin's answer before its caller
 * hears -ETIMEDOUT (wm_store_config.storage_answer_ms). */
#define ANSWER_MS 60000

struct held;

struct storage {
	uv_loop_t *loop;
	char node_id[WM_NODE_ID_MAX + 1];
	char api_address[64];
	void *state; /* the plugin's init */
	void *store; /* its open; NULL once closed */
	struct webmesh_storage_host host;
	bool ready, failed, registered;
	char why[256];
	struct {
		wm_store_change_cb cb;
		void *data;
	} listeners[MAX_LISTENERS];
	size_t n_listeners;
	uint64_t fed_index;	 /* the last index the change feed reported */
	struct held *held;	 /* results waiting for the feed, oldest first */
	struct held **held_tail; /* where the next one goes */
	uv_timer_t *hold_timer;
	uint64_t applying; /* the serial in the plugin's apply: its result now is too early */
	unsigned depth;	   /* within the plugin's callbacks (changed, done, ready) */
	uint64_t answer_ms;
	uv_timer_t *answer_timer; /* fails commands the plugin never answers */
};

static const struct webmesh_plugin *plugin;
static char plugin_name[32];

/* ---- the plugin's text forms -> the store's structs ---- */

static int node_from(const struct webmesh_storage_node *p, struct wm_mesh_node *n)
{
	memset(n, 0, sizeof(*n));
	if (!p->id || strlen(p->id) > WM_NODE_ID_MAX || !p->public_key ||
	    wm_key_from_base64(p->public_key, n->public_key) < 0)
		return -EINVAL;
	snprintf(n->id, sizeof(n->id), "%s", p->id);
	if (p->ipv4 && *p->ipv4 && wm_prefix_parse(p->ipv4, &n->ipv4) < 0)
		return -EINVAL;
	if (p->ipv6 && *p->ipv6 && wm_prefix_parse(p->ipv6, &n->ipv6) < 0)
		return -EINVAL;
	if (p->n_endpoints > WM_MAX_ENDPOINTS || p->n_routes > WM_MAX_ROUTES ||
	    p->listen_port > 65535 || p->raft_role > WM_ROLE_OBSERVER ||
	    (p->n_endpoints && !p->endpoints) || (p->n_routes && !p->routes))
		return -EINVAL;
	for (size_t i = 0; i < p->n_endpoints; i++)
		if (!p->endpoints[i] || wm_endpoint_parse(p->endpoints[i], &n->endpoints[i]) < 0)
			return -EINVAL;
	n->n_endpoints = p->n_endpoints;
	for (size_t i = 0; i < p->n_routes; i++)
		if (!p->routes[i] || wm_prefix_parse(p->routes[i], &n->routes[i]) < 0)
			return -EINVAL;
	n->n_routes = p->n_routes;
	n->listen_port = (uint16_t)p->listen_port;
	n->raft_role = (int)p->raft_role;
	n->joined_at = p->joined_at;
	if ((p->zone && strlen(p->zone) > WM_NODE_ID_MAX) ||
	    (p->exit_node && strlen(p->exit_node) > WM_NODE_ID_MAX))
		return -EINVAL;
	snprintf(n->zone, sizeof(n->zone), "%s", p->zone ? p->zone : "");
	snprintf(n->exit_node, sizeof(n->exit_node), "%s", p->exit_node ? p->exit_node : "");
	return 0;
}

/* One growing array per read. */
struct items {
	void *v;
	size_t n, cap, size;
};

static void *items_add(struct items *it)
{
	if (it->n == it->cap) {
		size_t cap = it->cap ? it->cap * 2 : 16;
		void *v = realloc(it->v, cap * it->size);
		if (!v)
			return NULL;
		it->v = v;
		it->cap = cap;
	}
	void *slot = (char *)it->v + it->n++ * it->size;
	memset(slot, 0, it->size);
	return slot;
}

static int sink_mesh(void *ctx, const struct webmesh_storage_mesh *m)
{
	struct wm_mesh_info *out = ctx;
	memset(out, 0, sizeof(*out));
	if (!m->ipv4_network || !m->ipv6_network || !m->domain ||
	    wm_prefix_parse(m->ipv4_network, &out->ipv4_network) < 0 ||
	    wm_prefix_parse(m->ipv6_network, &out->ipv6_network) < 0 ||
	    strlen(m->domain) > WM_DOMAIN_MAX || m->topology > WM_TOPOLOGY_MANUAL)
		return -EINVAL;
	snprintf(out->domain, sizeof(out->domain), "%s", m->domain);
	out->created_at = m->created_at;
	out->topology = (int)m->topology;
	return 0;
}

static int sink_node(void *ctx, const struct webmesh_storage_node *p)
{
	struct wm_mesh_node *n = items_add(ctx);
	return n ? node_from(p, n) : -ENOMEM;
}

static int sink_edge(void *ctx, const struct webmesh_storage_edge *p)
{
	struct wm_mesh_edge *e = items_add(ctx);
	if (!e)
		return -ENOMEM;
	if (!p->source || !p->target || strlen(p->source) > WM_NODE_ID_MAX ||
	    strlen(p->target) > WM_NODE_ID_MAX || p->weight < 1)
		return -EINVAL;
	snprintf(e->source, sizeof(e->source), "%s", p->source);
	snprintf(e->target, sizeof(e->target), "%s", p->target);
	e->weight = p->weight;
	e->ice = p->ice != 0;
	return 0;
}

static int sink_edge_attr(void *ctx, const char *source, const char *target, const char *key,
			  const char *value)
{
	struct wm_edge_attr *a = items_add(ctx);
	if (!a)
		return -ENOMEM;
	if (!source || !target || !key || !value || strlen(source) > WM_NODE_ID_MAX ||
	    strlen(target) > WM_NODE_ID_MAX || strlen(key) > WM_EDGE_ATTR_KEY_MAX ||
	    strlen(value) > WM_EDGE_ATTR_VALUE_MAX)
		return -EINVAL;
	snprintf(a->source, sizeof(a->source), "%s", source);
	snprintf(a->target, sizeof(a->target), "%s", target);
	snprintf(a->key, sizeof(a->key), "%s", key);
	snprintf(a->value, sizeof(a->value), "%s", value);
	return 0;
}

static int sink_dns(void *ctx, const char *name, const char *type, const char *value)
{
	struct wm_dns_record *r = items_add(ctx);
	if (!r)
		return -ENOMEM;
	if (!name || !type || !value || strlen(name) > WM_DNS_NAME_MAX ||
	    wm_dns_record_type(type) < 0 || strlen(value) > WM_DNS_VALUE_MAX)
		return -EINVAL;
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->type, sizeof(r->type), "%s", type);
	snprintf(r->value, sizeof(r->value), "%s", value);
	return 0;
}

/* ---- authz: every string copied into the snapshot's own list ---- */

static const char *keep(struct wm_authz_snapshot *s, const char *v)
{
	if (!v)
		v = "";
	if (s->n_strings == s->cap_strings) {
		size_t cap = s->cap_strings ? s->cap_strings * 2 : 32;
		char **n = realloc(s->strings, cap * sizeof(*n));
		if (!n)
			return NULL;
		s->strings = n;
		s->cap_strings = cap;
	}
	char *c = strdup(v);
	if (c)
		s->strings[s->n_strings++] = c;
	return c;
}

static void *grow(void **arr, size_t *n, size_t size)
{
	/* Power-of-two steps from 8, so the capacity follows from n. */
	if (*n == 0 || (*n >= 8 && (*n & (*n - 1)) == 0)) {
		size_t cap = *n ? *n * 2 : 8;
		void *v = realloc(*arr, cap * size);
		if (!v)
			return NULL;
		*arr = v;
	}
	void *slot = (char *)*arr + (*n)++ * size;
	memset(slot, 0, size);
	return slot;
}

static int sink_authz(void *ctx, const struct webmesh_storage_authz *a)
{
	struct wm_authz_snapshot *s = ctx;
	s->bootstrapped = a->bootstrapped != 0;
	s->default_accept = a->default_accept != 0;
	s->has_mesh_auth = a->has_mesh_auth != 0;
	if (!s->has_mesh_auth)
		return 0;
	if (!a->auth_methods || strcmp(a->auth_methods, "open") == 0)
		s->mesh_auth.methods = 0;
	else if (wm_mesh_auth_methods_parse(a->auth_methods, &s->mesh_auth.methods) < 0)
		return -EINVAL;
	if (a->ca_fingerprint && strlen(a->ca_fingerprint) >= sizeof(s->mesh_auth.ca_fingerprint))
		return -EINVAL;
	snprintf(s->mesh_auth.ca_fingerprint, sizeof(s->mesh_auth.ca_fingerprint), "%s",
		 a->ca_fingerprint ? a->ca_fingerprint : "");
	s->mesh_auth.rbac = a->rbac != 0;
	return 0;
}

static int sink_role(void *ctx, const char *name, const char *rules)
{
	struct wm_authz_snapshot *s = ctx;
	struct wm_rbac_role *r = grow((void **)&s->roles, &s->n_roles, sizeof(*r));
	if (!r || !(r->name = keep(s, name)) || !(r->rules = keep(s, rules)))
		return -ENOMEM;
	return 0;
}

static int sink_binding(void *ctx, const char *name, const char *role, const char *subjects)
{
	struct wm_authz_snapshot *s = ctx;
	struct wm_rbac_binding *b = grow((void **)&s->bindings, &s->n_bindings, sizeof(*b));
	if (!b || !(b->name = keep(s, name)) || !(b->role = keep(s, role)) ||
	    !(b->subjects = keep(s, subjects)))
		return -ENOMEM;
	return 0;
}

static int sink_group(void *ctx, const char *name, const char *subjects)
{
	struct wm_authz_snapshot *s = ctx;
	struct wm_rbac_group *g = grow((void **)&s->groups, &s->n_groups, sizeof(*g));
	if (!g || !(g->name = keep(s, name)) || !(g->subjects = keep(s, subjects)))
		return -ENOMEM;
	return 0;
}

static int sink_acl(void *ctx, const struct webmesh_storage_acl *a)
{
	struct wm_authz_snapshot *s = ctx;
	struct wm_acl *c = grow((void **)&s->acls, &s->n_acls, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->priority = a->priority;
	c->accept = a->accept != 0;
	if (!(c->name = keep(s, a->name)) || !(c->src_nodes = keep(s, a->src_nodes)) ||
	    !(c->dst_nodes = keep(s, a->dst_nodes)) || !(c->src_cidrs = keep(s, a->src_cidrs)) ||
	    !(c->dst_cidrs = keep(s, a->dst_cidrs)) || !(c->protocols = keep(s, a->protocols)) ||
	    !(c->ports = keep(s, a->ports)))
		return -ENOMEM;
	return 0;
}

static int sink_denied(void *ctx, const char *id)
{
	struct wm_authz_snapshot *s = ctx;
	const char **d = grow((void **)&s->denied, &s->n_denied, sizeof(*d));
	if (!d || !(*d = keep(s, id)))
		return -ENOMEM;
	return 0;
}

/* wm_authz_snapshot_free's work, here: this file sits in a library linked
 * after the store loader that holds that function. */
static void snapshot_free(struct wm_authz_snapshot *s)
{
	for (size_t i = 0; i < s->n_strings; i++)
		free(s->strings[i]);
	free(s->strings);
	free(s->roles);
	free(s->bindings);
	free(s->groups);
	free(s->acls);
	free(s->denied);
	memset(s, 0, sizeof(*s));
}

static int sink_text(void *ctx, const char *text)
{
	char **out = ctx;
	free(*out);
	*out = strdup(text ? text : "");
	return *out ? 0 : -ENOMEM;
}

/* Every sink function a read does not expect refuses its item: a plugin
 * that answers one read with items of another kind gets an error, never a
 * call through NULL (the header lets webmeshd leave them out). */
static int no_mesh(void *c, const struct webmesh_storage_mesh *m)
{
	(void)c, (void)m;
	return -EINVAL;
}
static int no_node(void *c, const struct webmesh_storage_node *n)
{
	(void)c, (void)n;
	return -EINVAL;
}
static int no_edge(void *c, const struct webmesh_storage_edge *e)
{
	(void)c, (void)e;
	return -EINVAL;
}
static int no_str4(void *c, const char *a, const char *b, const char *d, const char *e)
{
	(void)c, (void)a, (void)b, (void)d, (void)e;
	return -EINVAL;
}
static int no_str3(void *c, const char *a, const char *b, const char *d)
{
	(void)c, (void)a, (void)b, (void)d;
	return -EINVAL;
}
static int no_str2(void *c, const char *a, const char *b)
{
	(void)c, (void)a, (void)b;
	return -EINVAL;
}
static int no_str1(void *c, const char *a)
{
	(void)c, (void)a;
	return -EINVAL;
}
static int no_authz(void *c, const struct webmesh_storage_authz *a)
{
	(void)c, (void)a;
	return -EINVAL;
}
static int no_acl(void *c, const struct webmesh_storage_acl *a)
{
	(void)c, (void)a;
	return -EINVAL;
}

static struct webmesh_storage_sink sink_refusing(void *ctx)
{
	return (struct webmesh_storage_sink){
		.ctx = ctx,
		.mesh = no_mesh,
		.node = no_node,
		.edge = no_edge,
		.edge_attr = no_str4,
		.dns_record = no_str3,
		.authz = no_authz,
		.role = no_str2,
		.binding = no_str3,
		.group = no_str2,
		.acl = no_acl,
		.denied = no_str1,
		.text = no_str1,
	};
}

/* ---- reads ---- */

static int plugin_read(struct storage *st, uint32_t what, const char *arg,
		       const struct webmesh_storage_sink *sink)
{
	if (!st->ready)
		return -EAGAIN;
	char msg[WEBMESH_PLUGIN_MSG_MAX] = "";
	int r = plugin->storage->read(st->store, what, arg, sink, msg, sizeof(msg));
	if (r < 0 && r != -ENOENT && msg[0])
		wm_warn("storage %s: read %u: %s", plugin_name, what, msg);
	return r > 0 ? -EIO : r;
}

static int read_items(struct storage *st, uint32_t what, struct webmesh_storage_sink *sink,
		      size_t size, void **out, size_t *n)
{
	struct items it = {.size = size};
	sink->ctx = &it;
	int r = plugin_read(st, what, NULL, sink);
	if (r < 0) {
		free(it.v);
		return r;
	}
	*out = it.v;
	*n = it.n;
	return 0;
}

#define ST(s) ((struct storage *)(void *)(s))

static int a_mesh_info(struct wm_store *s, struct wm_mesh_info *out)
{
	struct webmesh_storage_sink sink = sink_refusing(out);
	sink.mesh = sink_mesh;
	int r = plugin_read(ST(s), WEBMESH_STORAGE_READ_MESH, NULL, &sink);
	return r == -ENOENT ? -WM_ENOMESH : r;
}

static int a_get_node(struct wm_store *s, const char *id, struct wm_mesh_node *out)
{
	struct items it = {.size = sizeof(*out)};
	struct webmesh_storage_sink sink = sink_refusing(&it);
	sink.node = sink_node;
	int r = plugin_read(ST(s), WEBMESH_STORAGE_READ_NODE, id, &sink);
	if (r == 0 && it.n != 1)
		r = -EIO;
	if (r == 0)
		*out = *(struct wm_mesh_node *)it.v;
	free(it.v);
	return r;
}

static int a_list_nodes(struct wm_store *s, struct wm_mesh_node **out, size_t *n)
{
	struct webmesh_storage_sink sink = sink_refusing(NULL);
	sink.node = sink_node;
	return read_items(ST(s), WEBMESH_STORAGE_READ_NODES, &sink, sizeof(**out), (void **)out, n);
}

static int a_list_edges(struct wm_store *s, struct wm_mesh_edge **out, size_t *n)
{
	struct webmesh_storage_sink sink = sink_refusing(NULL);
	sink.edge = sink_edge;
	return read_items(ST(s), WEBMESH_STORAGE_READ_EDGES, &sink, sizeof(**out), (void **)out, n);
}

static int a_list_edge_attrs(struct wm_store *s, struct wm_edge_attr **out, size_t *n)
{
	struct webmesh_storage_sink sink = sink_refusing(NULL);
	sink.edge_attr = sink_edge_attr;
	return read_items(ST(s), WEBMESH_STORAGE_READ_EDGE_ATTRS, &sink, sizeof(**out),
			  (void **)out, n);
}

static int a_list_dns_records(struct wm_store *s, struct wm_dns_record **out, size_t *n)
{
	struct webmesh_storage_sink sink = sink_refusing(NULL);
	sink.dns_record = sink_dns;
	return read_items(ST(s), WEBMESH_STORAGE_READ_DNS, &sink, sizeof(**out), (void **)out, n);
}

static int a_authz_load(struct wm_store *s, struct wm_authz_snapshot *out)
{
	memset(out, 0, sizeof(*out));
	struct webmesh_storage_sink sink = sink_refusing(out);
	sink.authz = sink_authz;
	sink.role = sink_role;
	sink.binding = sink_binding;
	sink.group = sink_group;
	sink.acl = sink_acl;
	sink.denied = sink_denied;
	int r = plugin_read(ST(s), WEBMESH_STORAGE_READ_AUTHZ, NULL, &sink);
	if (r < 0)
		snapshot_free(out);
	return r;
}

static int a_dump(struct wm_store *s, char **out)
{
	*out = NULL;
	struct webmesh_storage_sink sink = sink_refusing(out);
	sink.text = sink_text;
	int r = plugin_read(ST(s), WEBMESH_STORAGE_READ_DUMP, NULL, &sink);
	if (r == 0 && !*out)
		r = -EIO;
	if (r < 0) {
		free(*out);
		*out = NULL;
	}
	return r;
}

/* ---- callbacks on the loop, later ---- */

struct later {
	uv_timer_t t;
	void (*fn)(struct later *l);
	struct storage *st;
	void *store; /* a close put off a turn: the plugin's store */
	wm_store_apply_cb apply_cb;
	void (*done_cb)(void *data);
	void *data;
};

static void later_free_cb(uv_handle_t *h)
{
	free(h->data);
}

static void later_cb(uv_timer_t *t)
{
	struct later *l = t->data;
	l->fn(l);
	uv_close((uv_handle_t *)t, later_free_cb);
}

static int later(uv_loop_t *loop, struct later *l)
{
	uv_timer_init(loop, &l->t);
	l->t.data = l;
	return uv_timer_start(&l->t, later_cb, 0, 0);
}

/* ---- commands ---- */

/* A command the plugin holds. The plugin's token is the request's serial
 * number, never a pointer: a result for a serial not in flight (called
 * twice, after close, made up) finds nothing and is ignored, where a
 * pointer would be freed memory. */
struct apply_req {
	struct apply_req *next;
	uint64_t serial;
	uint64_t since_ms;
	struct storage *st;
	wm_store_apply_cb cb;
	void *data;
};

/* One storage plugin per process; this list spans its stores. */
static struct apply_req *in_flight;
static uint64_t last_serial;

static struct apply_req *in_flight_take(uint64_t serial)
{
	for (struct apply_req **pp = &in_flight; *pp; pp = &(*pp)->next) {
		if ((*pp)->serial == serial) {
			struct apply_req *q = *pp;
			*pp = q->next;
			return q;
		}
	}
	return NULL;
}

/* A result whose change the feed has not reported yet. */
struct held {
	struct held *next;
	struct apply_req *q;
	uint64_t since_ms;
	struct wm_store_result res;
};

static void held_deliver(struct storage *st, bool all)
{
	uint64_t now = uv_now(st->loop);
	while (st->held && (all || st->held->res.index <= st->fed_index ||
			    now - st->held->since_ms >= HOLD_MS)) {
		struct held *h = st->held;
		st->held = h->next;
		if (!st->held)
			st->held_tail = &st->held;
		h->q->cb(h->q->data, &h->res);
		free(h->q);
		free(h);
	}
	if (!st->held && st->hold_timer)
		uv_timer_stop(st->hold_timer);
}

static void handle_free_cb(uv_handle_t *h)
{
	free(h);
}

static void hold_timer_cb(uv_timer_t *t)
{
	held_deliver(t->data, false);
}

static void apply_done(void *token, const struct webmesh_storage_result *pr)
{
	struct apply_req *q = in_flight_take((uint64_t)(uintptr_t)token);
	if (!q) {
		wm_warn("storage %s: a result for no command in flight (answered twice, "
			"after close or after its time); ignored",
			plugin_name);
		return;
	}
	struct storage *st = q->st;
	if (!pr) {
		static const struct webmesh_storage_result none = {
			.err = -EIO, .message = "the storage plugin answered no result"};
		pr = &none;
	}
	struct held *h = calloc(1, sizeof(*h));
	struct wm_store_result tmp, *res = h ? &h->res : &tmp;
	memset(res, 0, sizeof(*res));
	res->err = pr->err > 0 ? -EIO : pr->err;
	res->index = pr->index;
	snprintf(res->message, sizeof(res->message), "%s", pr->message ? pr->message : "");
	if (!res->err && pr->node && node_from(pr->node, &res->node) < 0) {
		res->err = -EIO;
		snprintf(res->message, sizeof(res->message),
			 "storage %s answered a node webmeshd cannot read", plugin_name);
	}
	/* The Raft store answers once the entry is applied here and every
	 * listener has seen it; callers rely on that (the join handler reads
	 * the joiner's peers from the services' cache, which follows the
	 * feed). A plugin may answer before its feed reports the change: the
	 * result waits for it, in order, for at most HOLD_MS (a write the
	 * feed never shows, e.g. one that changed nothing). Refusals and a
	 * closing store need no wait, but a result given from within apply
	 * (against the header) waits too: no caller is called back from
	 * within its own wm_store_apply. */
	bool early = st->applying == q->serial;
	bool wait = h && st->store &&
		    (early || (!res->err && (st->held || res->index > st->fed_index)));
	if (early)
		wm_warn("storage %s: a result from within apply (the header says later); "
			"held until the loop's next turns",
			plugin_name);
	if (wait && !st->hold_timer && (st->hold_timer = malloc(sizeof(*st->hold_timer)))) {
		uv_timer_init(st->loop, st->hold_timer);
		st->hold_timer->data = st;
	}
	if (!wait || !st->hold_timer) {
		st->depth++;
		q->cb(q->data, res);
		st->depth--;
		free(q);
		free(h);
		return;
	}
	h->q = q;
	h->since_ms = uv_now(st->loop);
	*st->held_tail = h;
	st->held_tail = &h->next;
	uv_timer_start(st->hold_timer, hold_timer_cb, HOLD_MS / 4, HOLD_MS / 4);
}

/* Fails st's commands the plugin still holds: all of them (after its
 * close, which should have ended them: the header says so), or those it
 * has not answered within answer_ms (the header says done comes exactly
 * once; a plugin that hangs must not hold its callers for ever). A later
 * answer for them is ignored. Whether any of st's remain. */
static bool fail_in_flight(struct storage *st, bool all)
{
	uint64_t now = uv_now(st->loop);
	bool left = false;
	for (struct apply_req **pp = &in_flight; *pp;) {
		struct apply_req *q = *pp;
		if (q->st != st || (!all && now - q->since_ms < st->answer_ms)) {
			left |= q->st == st;
			pp = &q->next;
			continue;
		}
		*pp = q->next;
		struct wm_store_result res;
		memset(&res, 0, sizeof(res));
		res.err = all ? -ECANCELED : -ETIMEDOUT;
		if (all) {
			wm_warn("storage %s: a command still pending after close; cancelled",
				plugin_name);
			snprintf(res.message, sizeof(res.message), "the storage closed");
		} else {
			wm_warn("storage %s: a command unanswered for %llu ms; failed", plugin_name,
				(unsigned long long)(now - q->since_ms));
			snprintf(res.message, sizeof(res.message),
				 "storage %s did not answer within %llu ms", plugin_name,
				 (unsigned long long)st->answer_ms);
		}
		q->cb(q->data, &res);
		free(q);
		left = false;
		pp = &in_flight; /* the callback may have changed the list */
	}
	return left;
}

static void answer_timer_cb(uv_timer_t *t)
{
	struct storage *st = t->data;
	if (!fail_in_flight(st, false) && st->answer_timer)
		uv_timer_stop(st->answer_timer);
}

static void answer_watch(struct storage *st)
{
	if (!st->answer_timer) {
		st->answer_timer = malloc(sizeof(*st->answer_timer));
		if (!st->answer_timer)
			return; /* then only close ends what the plugin never answers */
		uv_timer_init(st->loop, st->answer_timer);
		st->answer_timer->data = st;
	}
	if (!uv_is_active((uv_handle_t *)st->answer_timer)) {
		uint64_t every = st->answer_ms / 2 ? st->answer_ms / 2 : 1;
		uv_timer_start(st->answer_timer, answer_timer_cb, every, every);
	}
}

static int a_apply(struct wm_store *s, const Webmesh__V1__RaftCommand *cmd, wm_store_apply_cb cb,
		   void *data)
{
	struct storage *st = ST(s);
	if (!st->store)
		return -ECANCELED;
	if (!st->ready)
		return -WM_ENOTLEADER;
	if (cmd->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND__NOT_SET)
		return -EINVAL;
	size_t len = protobuf_c_message_get_packed_size(&cmd->base);
	uint8_t *buf = malloc(len ? len : 1);
	struct apply_req *q = malloc(sizeof(*q));
	if (!buf || !q) {
		free(buf);
		free(q);
		return -ENOMEM;
	}
	protobuf_c_message_pack(&cmd->base, buf);
	q->st = st;
	q->cb = cb;
	q->data = data;
	q->serial = ++last_serial;
	q->since_ms = uv_now(st->loop);
	q->next = in_flight;
	in_flight = q;
	st->applying = q->serial;
	int r = plugin->storage->apply(st->store, buf, len, apply_done,
				       (void *)(uintptr_t)q->serial);
	st->applying = 0;
	free(buf);
	if (r < 0 && in_flight_take(q->serial)) {
		free(q);
		return r;
	}
	if (st->store) /* not closed by a result from within apply */
		answer_watch(st);
	/* r < 0 after its result came anyway: the result stands (the
	 * caller hears it once, from the hold). */
	if (r < 0)
		wm_warn("storage %s: apply failed (%s) after answering; the answer stands",
			plugin_name, wm_strerror(r));
	return 0;
}

static void barrier_cb(struct later *l)
{
	struct wm_store_result res;
	memset(&res, 0, sizeof(res));
	struct webmesh_storage_status ps;
	memset(&ps, 0, sizeof(ps));
	if (l->st->store)
		plugin->storage->status(l->st->store, &ps);
	else
		res.err = -ECANCELED;
	res.index = ps.revision;
	l->apply_cb(l->data, &res);
}

/* The plugin's reads are its current state once it is ready (the header's
 * contract), so every change it reported is already applied here. */
static int a_barrier(struct wm_store *s, wm_store_apply_cb cb, void *data)
{
	struct storage *st = ST(s);
	if (!st->store)
		return -ECANCELED;
	if (!st->ready)
		return -WM_ENOTLEADER;
	struct later *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->fn = barrier_cb;
	l->st = st;
	l->apply_cb = cb;
	l->data = data;
	return later(st->loop, l);
}

/* ---- the change feed ---- */

static void host_changed(void *ctx, uint64_t index, const uint8_t *cmd, size_t len)
{
	struct storage *st = ctx;
	Webmesh__V1__RaftCommand *c = NULL;
	if (!st->store)
		return; /* closed: the header promises no more changes */
	if (cmd) {
		c = webmesh__v1__raft_command__unpack(NULL, len, cmd);
		if (!c) {
			/* Not ours to guess at: every listener reloads. */
			wm_warn("storage %s: a change at %llu is no RaftCommand; "
				"reloading",
				plugin_name, (unsigned long long)index);
		}
	}
	if (index > st->fed_index)
		st->fed_index = index;
	st->depth++;
	for (size_t i = 0; i < st->n_listeners; i++)
		st->listeners[i].cb(st->listeners[i].data, index, c);
	if (c)
		webmesh__v1__raft_command__free_unpacked(c, NULL);
	held_deliver(st, false);
	st->depth--;
}

static int a_on_change(struct wm_store *s, wm_store_change_cb cb, void *data)
{
	struct storage *st = ST(s);
	if (st->n_listeners == MAX_LISTENERS)
		return -ENOSPC;
	st->listeners[st->n_listeners].cb = cb;
	st->listeners[st->n_listeners].data = data;
	st->n_listeners++;
	return 0;
}

static void a_off_change(struct wm_store *s, wm_store_change_cb cb, void *data)
{
	struct storage *st = ST(s);
	for (size_t i = 0; i < st->n_listeners; i++) {
		if (st->listeners[i].cb == cb && st->listeners[i].data == data) {
			memmove(&st->listeners[i], &st->listeners[i + 1],
				(st->n_listeners - i - 1) * sizeof(st->listeners[0]));
			st->n_listeners--;
			return;
		}
	}
}

/* ---- life cycle ---- */

static void host_log(void *ctx, const char *msg)
{
	(void)ctx;
	wm_warn("storage %s: %s", plugin_name, msg);
}

static void host_ready(void *ctx, int err, const char *msg)
{
	struct storage *st = ctx;
	if (!st->store || st->ready || st->failed) {
		wm_warn("storage %s: ready called again or after close; ignored", plugin_name);
		return;
	}
	if (err) {
		st->failed = true;
		/* Said once, by the server that stops on it (status "failed"). */
		snprintf(st->why, sizeof(st->why), "storage %s: %s", plugin_name,
			 msg && *msg ? msg : wm_strerror(err));
		return;
	}
	st->ready = true;
	char m[WEBMESH_PLUGIN_MSG_MAX] = "";
	if (st->api_address[0] &&
	    plugin->storage->register_server(st->store, st->node_id, st->api_address, m,
					     sizeof(m)) < 0) {
		/* Members still join through this server; other servers just
		 * cannot list it. */
		wm_warn("storage %s: cannot register this server: %s", plugin_name, m);
		return;
	}
	st->registered = st->api_address[0] != '\0';
}

static int a_open(uv_loop_t *loop, const struct wm_store_config *cfg, struct wm_store **out,
		  char *err, size_t errlen)
{
	struct storage *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->loop = loop;
	st->held_tail = &st->held;
	st->answer_ms = cfg->storage_answer_ms ? cfg->storage_answer_ms : ANSWER_MS;
	snprintf(st->node_id, sizeof(st->node_id), "%s", cfg->node_id);
	snprintf(st->api_address, sizeof(st->api_address), "%s",
		 cfg->api_address ? cfg->api_address : "");
	struct webmesh_kv kv[16];
	if (cfg->n_storage_config > sizeof(kv) / sizeof(kv[0])) {
		snprintf(err, errlen, "storage %s: more than 16 settings", plugin_name);
		free(st);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->n_storage_config; i++) {
		kv[i].key = cfg->storage_keys[i];
		kv[i].value = cfg->storage_values[i];
	}
	struct webmesh_plugin_init_args args = {
		.name = plugin_name,
		.config = kv,
		.n_config = cfg->n_storage_config,
	};
	char msg[WEBMESH_PLUGIN_MSG_MAX] = "";
	int r = plugin->init(&args, &st->state, msg, sizeof(msg));
	if (r < 0) {
		snprintf(err, errlen, "storage %s: %s", plugin_name, msg[0] ? msg : wm_strerror(r));
		free(st);
		return r;
	}
	st->host = (struct webmesh_storage_host){
		.ctx = st,
		.loop = loop,
		.node_id = st->node_id,
		.ready = host_ready,
		.changed = host_changed,
		.log = host_log,
	};
	r = plugin->storage->open(st->state, &st->host, &st->store, msg, sizeof(msg));
	if (r >= 0 && !st->store) {
		r = -EPROTO;
		snprintf(msg, sizeof(msg), "open succeeded but gave no store");
	}
	if (r < 0) {
		snprintf(err, errlen, "storage %s: %s", plugin_name, msg[0] ? msg : wm_strerror(r));
		if (plugin->fini)
			plugin->fini(st->state);
		free(st);
		return r;
	}
	*out = (struct wm_store *)(void *)st;
	return 0;
}

static void close_cb(struct later *l)
{
	/* The plugin's handles closed on the loop's turns since close. */
	if (plugin->fini)
		plugin->fini(l->st->state);
	free(l->st);
	if (l->done_cb)
		l->done_cb(l->data);
}

static void close_now(struct storage *st, void *store, void (*done_cb)(void *data), void *data)
{
	if (store)
		plugin->storage->close(store);
	fail_in_flight(st, true);
	st->n_listeners = 0;
	/* Applied already: their callers hear so now, as the contract's
	 * "within close" says for what is pending. */
	held_deliver(st, true);
	if (st->hold_timer) {
		uv_close((uv_handle_t *)st->hold_timer, handle_free_cb);
		st->hold_timer = NULL;
	}
	if (st->answer_timer) {
		uv_close((uv_handle_t *)st->answer_timer, handle_free_cb);
		st->answer_timer = NULL;
	}
	struct later *l = calloc(1, sizeof(*l));
	if (!l) {
		/* Cannot wait a turn: finish now (fini may then run with
		 * handles still closing, which the header allows for). */
		if (plugin->fini)
			plugin->fini(st->state);
		free(st);
		if (done_cb)
			done_cb(data);
		return;
	}
	l->fn = close_cb;
	l->st = st;
	l->done_cb = done_cb;
	l->data = data;
	later(st->loop, l);
}

static void deferred_close_cb(struct later *l)
{
	close_now(l->st, l->store, l->done_cb, l->data);
}

static void a_close(struct wm_store *s, void (*done_cb)(void *data), void *data)
{
	struct storage *st = ST(s);
	void *store = st->store;
	st->store = NULL; /* nothing reaches the plugin from now on */
	st->ready = false;
	struct later *l = st->depth ? calloc(1, sizeof(*l)) : NULL;
	if (!l) {
		close_now(st, store, done_cb, data);
		return;
	}
	/* Called back from within the plugin (its change feed or a result):
	 * the plugin's close would free what its own caller still uses, so
	 * it waits a turn; its results and changes meanwhile find the store
	 * closing. */
	st->n_listeners = 0;
	l->fn = deferred_close_cb;
	l->st = st;
	l->store = store;
	l->done_cb = done_cb;
	l->data = data;
	later(st->loop, l);
}

/* ---- servers ---- */

static void a_status(struct wm_store *s, struct wm_store_status *out)
{
	struct storage *st = ST(s);
	struct webmesh_storage_status ps;
	memset(out, 0, sizeof(*out));
	memset(&ps, 0, sizeof(ps));
	if (st->store)
		plugin->storage->status(st->store, &ps);
	ps.endpoints[sizeof(ps.endpoints) - 1] = '\0';
	ps.detail[sizeof(ps.detail) - 1] = '\0';
	out->storage = plugin_name;
	snprintf(out->storage_endpoints, sizeof(out->storage_endpoints), "%s", ps.endpoints);
	snprintf(out->storage_detail, sizeof(out->storage_detail), "%s",
		 st->failed ? st->why : ps.detail);
	out->storage_revision = ps.revision;
	/* No leader: every server on the store writes to it directly, so
	 * each one does what the Raft leader does. */
	bool up = st->ready && !st->failed && ps.ready;
	out->state = st->failed ? "failed" : up ? "serving" : "connecting";
	out->is_leader = up;
	out->caught_up = up;
	out->behind = up ? NULL : "the storage is not ready yet";
	out->applied_index = out->commit_index = out->last_index = ps.revision;
	out->command_version = WM_CMD_VERSION;
	out->mesh_command_version = up ? WM_CMD_VERSION : 0;
}

/* Raft membership has no meaning on a storage plugin: servers register in
 * the store instead (host_ready). */
static int a_add_member(struct wm_store *s, const char *node_id, const char *address, int role,
			wm_store_done_cb cb, void *data)
{
	(void)s, (void)node_id, (void)address, (void)role, (void)cb, (void)data;
	return -ENOTSUP;
}

static int a_remove_member(struct wm_store *s, const char *node_id, wm_store_done_cb cb, void *data)
{
	(void)s, (void)node_id, (void)cb, (void)data;
	return -ENOTSUP;
}

static int a_remove_raft_id(struct wm_store *s, uint64_t raft_id, wm_store_done_cb cb, void *data)
{
	(void)s, (void)raft_id, (void)cb, (void)data;
	return -ENOTSUP;
}

static int a_transfer_leadership(struct wm_store *s, wm_store_done_cb cb, void *data)
{
	(void)s, (void)cb, (void)data;
	return -ENOENT; /* as the Raft store says with no other voter */
}

static void a_note_version(struct wm_store *s, const char *node_id, uint32_t version)
{
	(void)s, (void)node_id, (void)version;
}

static const struct wm_store_module table = {
	.header = {.abi = WM_STORE_MODULE_ABI, .size = sizeof(struct wm_store_module)},
	.open = a_open,
	.close = a_close,
	.apply = a_apply,
	.barrier = a_barrier,
	.mesh_info = a_mesh_info,
	.get_node = a_get_node,
	.list_nodes = a_list_nodes,
	.list_edges = a_list_edges,
	.list_edge_attrs = a_list_edge_attrs,
	.list_dns_records = a_list_dns_records,
	.authz_load = a_authz_load,
	.dump = a_dump,
	.on_change = a_on_change,
	.off_change = a_off_change,
	.status = a_status,
	.add_member = a_add_member,
	.remove_member = a_remove_member,
	.remove_raft_id = a_remove_raft_id,
	.transfer_leadership = a_transfer_leadership,
	.note_version = a_note_version,
};

const struct wm_store_module *wm_storage_plugin_module(const char *name, char *err, size_t errlen)
{
	char mod[64];
	if (!name || !*name || strlen(name) > 24 ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(name)) {
		snprintf(err, errlen, "storage \"%.32s\": not a storage name", name ? name : "");
		return NULL;
	}
	snprintf(mod, sizeof(mod), "webmesh-%s", name);
	const struct webmesh_plugin *t =
		wm_module_load(mod, WEBMESH_PLUGIN_SYMBOL, WEBMESH_PLUGIN_ABI,
			       sizeof(struct webmesh_plugin), err, errlen);
	if (!t)
		return NULL;
	if (wm_plugin_table_check(t, name, err, errlen) < 0)
		return NULL;
	if (!(t->capabilities & WEBMESH_PLUGIN_CAP_STORAGE)) {
		snprintf(err, errlen, "plugin %s: %s.so has no storage capability", name, mod);
		return NULL;
	}
	plugin = t;
	snprintf(plugin_name, sizeof(plugin_name), "%s", name);
	return &table;
}
