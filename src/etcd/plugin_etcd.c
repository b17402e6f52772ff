/* webmesh-etcd.so: the mesh state in etcd v3 as a storage plugin, written on
 * include/webmesh/plugin.h alone as a third party would, forwarding to the
 * etcd store (store.h). webmeshd loads it for `--storage etcd` and hands it
 * endpoints, ca-file, cert and key from its etcd-* settings. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webmesh/plugin.h"

#include "core/key.h"
#include "etcd/client.h"
#include "etcd/store.h"
#include "store/authz.h"

/* How long a server's registration outlives its last renewal. */
#define SERVER_TTL_S 10

struct conf {
	char *endpoints, *ca_file, *cert, *key, *mesh;
};

struct estore {
	const struct webmesh_storage_host *host;
	const struct conf *conf;
	struct wm_etcd_client *client;
	struct wm_etcd_store *store;
	int ready; /* 0 loading, 1 ready, -1 failed */
};

static void msgf(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void msgf(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
}

static void conf_free(struct conf *c)
{
	if (!c)
		return;
	free(c->endpoints);
	free(c->ca_file);
	free(c->cert);
	free(c->key);
	free(c->mesh);
	free(c);
}

static int init(const struct webmesh_plugin_init_args *args, void **state, char *msg, size_t msglen)
{
	struct conf *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < args->n_config; i++) {
		const char *k = args->config[i].key, *v = args->config[i].value;
		char **slot = strcmp(k, "endpoints") == 0 ? &c->endpoints
			      : strcmp(k, "ca-file") == 0 ? &c->ca_file
			      : strcmp(k, "cert") == 0	  ? &c->cert
			      : strcmp(k, "key") == 0	  ? &c->key
			      : strcmp(k, "mesh") == 0	  ? &c->mesh
							  : NULL;
		if (!slot) {
			msgf(msg, msglen,
			     "unknown setting \"%.40s\" (endpoints, ca-file, cert, key, mesh)", k);
			conf_free(c);
			return -EINVAL;
		}
		free(*slot);
		*slot = strdup(v);
		if (!*slot) {
			conf_free(c);
			return -ENOMEM;
		}
	}
	if (!c->endpoints) {
		msgf(msg, msglen, "no endpoints: where are the etcd members?");
		conf_free(c);
		return -EINVAL;
	}
	if (!c->mesh && !(c->mesh = strdup("webmesh"))) {
		conf_free(c);
		return -ENOMEM;
	}
	const char *why = NULL;
	if (wm_etcd_mesh_check(c->mesh, &why) < 0) {
		msgf(msg, msglen, "mesh \"%.63s\": %s", c->mesh, why ? why : "not a mesh name");
		conf_free(c);
		return -EINVAL;
	}
	*state = c;
	return 0;
}

static void fini(void *state)
{
	conf_free(state);
}

/* ---- the store's structs -> the header's text forms ---- */

struct node_text {
	char key[WM_KEY_B64_LEN + 1];
	char v4[WM_PREFIX_STRLEN], v6[WM_PREFIX_STRLEN];
	char eps[WM_MAX_ENDPOINTS][WM_ENDPOINT_STRLEN];
	const char *ep_ptrs[WM_MAX_ENDPOINTS];
	char routes[WM_MAX_ROUTES][WM_PREFIX_STRLEN];
	const char *route_ptrs[WM_MAX_ROUTES];
	struct webmesh_storage_node pub;
};

static void node_text(const struct wm_mesh_node *n, struct node_text *t)
{
	memset(t, 0, sizeof(*t));
	wm_key_to_base64(n->public_key, t->key);
	if (n->ipv4.family)
		wm_prefix_format(&n->ipv4, t->v4, sizeof(t->v4));
	if (n->ipv6.family)
		wm_prefix_format(&n->ipv6, t->v6, sizeof(t->v6));
	for (size_t i = 0; i < n->n_endpoints; i++) {
		wm_endpoint_format(&n->endpoints[i], t->eps[i], sizeof(t->eps[i]));
		t->ep_ptrs[i] = t->eps[i];
	}
	for (size_t i = 0; i < n->n_routes; i++) {
		wm_prefix_format(&n->routes[i], t->routes[i], sizeof(t->routes[i]));
		t->route_ptrs[i] = t->routes[i];
	}
	t->pub = (struct webmesh_storage_node){
		.id = n->id,
		.public_key = t->key,
		.ipv4 = t->v4,
		.ipv6 = t->v6,
		.endpoints = t->ep_ptrs,
		.n_endpoints = n->n_endpoints,
		.listen_port = n->listen_port,
		.raft_role = (uint32_t)n->raft_role,
		.zone = n->zone,
		.joined_at = n->joined_at,
		.routes = t->route_ptrs,
		.n_routes = n->n_routes,
		.exit_node = n->exit_node,
	};
}

/* ---- life cycle ---- */

static void ready_cb(void *data, int err, const char *msg)
{
	struct estore *e = data;
	e->ready = err ? -1 : 1;
	e->host->ready(e->host->ctx, err, msg);
}

static void change_cb(void *data, uint64_t index, const Webmesh__V1__RaftCommand *cmd)
{
	struct estore *e = data;
	if (!cmd) {
		e->host->changed(e->host->ctx, index, NULL, 0);
		return;
	}
	size_t len = protobuf_c_message_get_packed_size(&cmd->base);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf) {
		/* Cannot hand the change over: a reload says as much. */
		e->host->changed(e->host->ctx, index, NULL, 0);
		return;
	}
	protobuf_c_message_pack(&cmd->base, buf);
	e->host->changed(e->host->ctx, index, buf, len);
	free(buf);
}

static void client_log(void *data, const char *msg)
{
	const struct webmesh_storage_host *h = data;
	h->log(h->ctx, msg);
}

static int s_open(void *state, const struct webmesh_storage_host *host, void **out, char *msg,
		  size_t msglen)
{
	const struct conf *c = state;
	struct estore *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->host = host;
	e->conf = c;
	struct wm_etcd_config ec = {
		.endpoints = c->endpoints,
		.ca_file = c->ca_file,
		.cert_file = c->cert,
		.key_file = c->key,
		.log = client_log,
		.log_data = (void *)host,
	};
	int r = wm_etcd_client_new(host->loop, &ec, &e->client, msg, msglen);
	if (r < 0) {
		free(e);
		return r;
	}
	/* The client warns of plain http:// endpoints itself, through log. */
	r = wm_etcd_store_open(host->loop, e->client, c->mesh, ready_cb, e, &e->store);
	if (r == 0)
		r = wm_etcd_store_on_change(e->store, change_cb, e);
	if (r < 0) {
		msgf(msg, msglen, "cannot open the mesh in etcd at %s: %s", c->endpoints,
		     strerror(-r));
		if (e->store)
			wm_etcd_store_close(e->store);
		wm_etcd_client_free(e->client);
		free(e);
		return r;
	}
	*out = e;
	return 0;
}

static void s_close(void *store)
{
	struct estore *e = store;
	wm_etcd_store_close(e->store);
	wm_etcd_client_free(e->client);
	free(e);
}

/* ---- commands ---- */

struct apply_req {
	webmesh_storage_done_fn done;
	void *token;
};

static void apply_cb(void *data, const struct wm_store_result *res)
{
	struct apply_req *q = data;
	struct node_text *t = NULL;
	struct webmesh_storage_result r = {
		.err = res->err,
		.message = res->message,
		.index = res->index,
	};
	if (!res->err && res->node.id[0] && (t = malloc(sizeof(*t)))) {
		node_text(&res->node, t);
		r.node = &t->pub;
	}
	q->done(q->token, &r);
	free(t);
	free(q);
}

static int s_apply(void *store, const uint8_t *cmd, size_t len, webmesh_storage_done_fn done,
		   void *token)
{
	struct estore *e = store;
	Webmesh__V1__RaftCommand *c = webmesh__v1__raft_command__unpack(NULL, len, cmd);
	if (!c)
		return -EINVAL;
	struct apply_req *q = malloc(sizeof(*q));
	if (!q) {
		webmesh__v1__raft_command__free_unpacked(c, NULL);
		return -ENOMEM;
	}
	q->done = done;
	q->token = token;
	int r = wm_etcd_store_apply(e->store, c, apply_cb, q);
	webmesh__v1__raft_command__free_unpacked(c, NULL);
	if (r < 0)
		free(q);
	return r;
}

/* ---- reads ---- */

static int read_authz(struct estore *e, const struct webmesh_storage_sink *k)
{
	struct wm_authz_snapshot a;
	int r = wm_etcd_store_authz_load(e->store, &a);
	if (r < 0)
		return r;
	char methods[WM_MESH_AUTH_TEXT_MAX] = "open";
	if (a.has_mesh_auth)
		wm_mesh_auth_methods_format(a.mesh_auth.methods, methods);
	struct webmesh_storage_authz pa = {
		.bootstrapped = a.bootstrapped,
		.default_accept = a.default_accept,
		.has_mesh_auth = a.has_mesh_auth,
		.auth_methods = methods,
		.ca_fingerprint = a.mesh_auth.ca_fingerprint,
		.rbac = a.mesh_auth.rbac,
	};
	r = k->authz(k->ctx, &pa);
	for (size_t i = 0; !r && i < a.n_roles; i++)
		r = k->role(k->ctx, a.roles[i].name, a.roles[i].rules);
	for (size_t i = 0; !r && i < a.n_bindings; i++)
		r = k->binding(k->ctx, a.bindings[i].name, a.bindings[i].role,
			       a.bindings[i].subjects);
	for (size_t i = 0; !r && i < a.n_groups; i++)
		r = k->group(k->ctx, a.groups[i].name, a.groups[i].subjects);
	for (size_t i = 0; !r && i < a.n_acls; i++) {
		const struct wm_acl *c = &a.acls[i];
		struct webmesh_storage_acl pc = {
			.name = c->name,
			.priority = c->priority,
			.accept = c->accept,
			.src_nodes = c->src_nodes,
			.dst_nodes = c->dst_nodes,
			.src_cidrs = c->src_cidrs,
			.dst_cidrs = c->dst_cidrs,
			.protocols = c->protocols,
			.ports = c->ports,
		};
		r = k->acl(k->ctx, &pc);
	}
	for (size_t i = 0; !r && i < a.n_denied; i++)
		r = k->denied(k->ctx, a.denied[i]);
	wm_authz_snapshot_free(&a);
	return r;
}

static int read_nodes(struct estore *e, const char *id, const struct webmesh_storage_sink *k)
{
	struct wm_mesh_node *nodes = NULL, one;
	size_t n = 0;
	int r;
	if (id) {
		r = wm_etcd_store_get_node(e->store, id, &one);
		nodes = &one;
		n = 1;
	} else {
		r = wm_etcd_store_list_nodes(e->store, &nodes, &n);
	}
	if (r < 0)
		return r;
	struct node_text *t = malloc(sizeof(*t));
	if (!t)
		r = -ENOMEM;
	for (size_t i = 0; !r && i < n; i++) {
		node_text(&nodes[i], t);
		r = k->node(k->ctx, &t->pub);
	}
	free(t);
	if (!id)
		free(nodes);
	return r;
}

static int s_read(void *store, uint32_t what, const char *arg, const struct webmesh_storage_sink *k,
		  char *msg, size_t msglen)
{
	struct estore *e = store;
	int r = 0;
	if (e->ready != 1) {
		msgf(msg, msglen, "not loaded from etcd yet");
		return -EAGAIN;
	}
	switch (what) {
	case WEBMESH_STORAGE_READ_MESH: {
		struct wm_mesh_info m;
		char v4[WM_PREFIX_STRLEN], v6[WM_PREFIX_STRLEN];
		r = wm_etcd_store_mesh_info(e->store, &m);
		if (r < 0)
			return -ENOENT;
		wm_prefix_format(&m.ipv4_network, v4, sizeof(v4));
		wm_prefix_format(&m.ipv6_network, v6, sizeof(v6));
		struct webmesh_storage_mesh pm = {
			.ipv4_network = v4,
			.ipv6_network = v6,
			.domain = m.domain,
			.created_at = m.created_at,
			.topology = (uint32_t)m.topology,
		};
		return k->mesh(k->ctx, &pm);
	}
	case WEBMESH_STORAGE_READ_NODE:
		if (!arg)
			return -EINVAL;
		return read_nodes(e, arg, k);
	case WEBMESH_STORAGE_READ_NODES:
		return read_nodes(e, NULL, k);
	case WEBMESH_STORAGE_READ_EDGES: {
		struct wm_mesh_edge *v = NULL;
		size_t n = 0;
		r = wm_etcd_store_list_edges(e->store, &v, &n);
		for (size_t i = 0; !r && i < n; i++) {
			struct webmesh_storage_edge pe = {.source = v[i].source,
							  .target = v[i].target,
							  .weight = v[i].weight,
							  .ice = v[i].ice};
			r = k->edge(k->ctx, &pe);
		}
		free(v);
		return r;
	}
	case WEBMESH_STORAGE_READ_EDGE_ATTRS: {
		struct wm_edge_attr *v = NULL;
		size_t n = 0;
		r = wm_etcd_store_list_edge_attrs(e->store, &v, &n);
		for (size_t i = 0; !r && i < n; i++)
			r = k->edge_attr(k->ctx, v[i].source, v[i].target, v[i].key, v[i].value);
		free(v);
		return r;
	}
	case WEBMESH_STORAGE_READ_DNS: {
		struct wm_dns_record *v = NULL;
		size_t n = 0;
		r = wm_etcd_store_list_dns_records(e->store, &v, &n);
		for (size_t i = 0; !r && i < n; i++)
			r = k->dns_record(k->ctx, v[i].name, v[i].type, v[i].value);
		free(v);
		return r;
	}
	case WEBMESH_STORAGE_READ_AUTHZ:
		return read_authz(e, k);
	case WEBMESH_STORAGE_READ_DUMP: {
		char *t = NULL;
		r = wm_etcd_store_dump(e->store, &t);
		if (!r)
			r = k->text(k->ctx, t);
		free(t);
		return r;
	}
	default:
		msgf(msg, msglen, "unknown read %u", what);
		return -ENOTSUP;
	}
}

/* ---- servers ---- */

static void s_status(void *store, struct webmesh_storage_status *out)
{
	struct estore *e = store;
	out->state = e->ready == 1 ? "serving" : e->ready < 0 ? "failed" : "connecting";
	out->ready = e->ready == 1;
	out->revision = (uint64_t)wm_etcd_store_revision(e->store);
	snprintf(out->endpoints, sizeof(out->endpoints), "%s", e->conf->endpoints);
	snprintf(out->detail, sizeof(out->detail), "mesh %s via %s, watch restarted %u times",
		 e->conf->mesh, wm_etcd_client_endpoint(e->client),
		 wm_etcd_store_watch_restarts(e->store));
}

static int s_register_server(void *store, const char *node_id, const char *api_address, char *msg,
			     size_t msglen)
{
	struct estore *e = store;
	int r = wm_etcd_store_register_server(e->store, node_id, api_address, SERVER_TTL_S);
	if (r < 0)
		msgf(msg, msglen, "cannot register %s at %s: %s", node_id, api_address,
		     strerror(-r));
	return r;
}

static const struct webmesh_storage_ops storage_ops = {
	.size = sizeof(struct webmesh_storage_ops),
	.open = s_open,
	.close = s_close,
	.apply = s_apply,
	.read = s_read,
	.status = s_status,
	.register_server = s_register_server,
};

__attribute__((visibility("default"))) const struct webmesh_plugin webmesh_plugin = {
	.abi = WEBMESH_PLUGIN_ABI,
	.size = sizeof(struct webmesh_plugin),
	.name = "etcd",
	.version = "1",
	.capabilities = WEBMESH_PLUGIN_CAP_STORAGE,
	.init = init,
	.fini = fini,
	.storage = &storage_ops,
};
