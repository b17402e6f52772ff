/* A storage plugin for test_plugin_storage.c, on include/webmesh/plugin.h
 * only: commands kept in memory, each answered on the next loop turn and
 * reported by the change feed feed-delay-ms later (a store whose answer
 * comes before its feed, as etcd's may), and reads in the header's text
 * forms, one of them malformed on purpose (node "bad"). misbehave=MODE
 * breaks the header's contract on purpose, for webmeshd's checks: "twice"
 * answers each command twice, "inline" answers from within apply, "late"
 * leaves commands pending at close and answers them afterwards, "never"
 * never answers them,
 * "null-store" opens with no store, "ready-twice" reports ready and then a
 * failure; node "null-endpoints" and the edge attributes read are
 * malformed in every mode. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "webmesh/plugin.h"

struct conf {
	unsigned feed_delay_ms;
	char misbehave[16];
};

struct pending {
	uv_timer_t t;
	struct fstore *s;
	uint8_t *cmd;
	size_t len;
	uint64_t index;
	webmesh_storage_done_fn done;
	void *token;
	int stage; /* 0: answer, 1: feed */
};

struct fstore {
	const struct webmesh_storage_host *host;
	struct conf conf; /* a copy: commands may outlive fini ("late") */
	uv_timer_t ready;
	uint64_t rev;
	int closed;
	unsigned refs; /* the ready timer's and each pending command's */
};

/* Within a call to webmeshd's host or done: webmeshd must not close the
 * store then (the header's promise; a real store would be freed under its
 * own caller, as etcd's is). */
static int in_host;

static void host_call_begin(void)
{
	in_host++;
}

static void host_call_end(void)
{
	in_host--;
}

static int mode(const struct fstore *s, const char *m)
{
	return strcmp(s->conf.misbehave, m) == 0;
}

static void store_unref(struct fstore *s)
{
	if (--s->refs == 0)
		free(s);
}

static int init(const struct webmesh_plugin_init_args *a, void **state, char *msg, size_t len)
{
	struct conf *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < a->n_config; i++) {
		if (strcmp(a->config[i].key, "misbehave") == 0) {
			snprintf(c->misbehave, sizeof(c->misbehave), "%s", a->config[i].value);
			continue;
		}
		if (strcmp(a->config[i].key, "feed-delay-ms") != 0) {
			snprintf(msg, len, "unknown setting \"%s\"", a->config[i].key);
			free(c);
			return -EINVAL;
		}
		c->feed_delay_ms = (unsigned)atoi(a->config[i].value);
	}
	*state = c;
	return 0;
}

static void fini(void *state)
{
	free(state);
}

static void ready_cb(uv_timer_t *t)
{
	struct fstore *s = t->data;
	host_call_begin();
	s->host->ready(s->host->ctx, 0, NULL);
	if (mode(s, "ready-twice"))
		s->host->ready(s->host->ctx, -EIO, "changed its mind");
	host_call_end();
}

static int s_open(void *state, const struct webmesh_storage_host *host, void **out, char *msg,
		  size_t len)
{
	(void)msg, (void)len;
	struct fstore *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->host = host;
	s->conf = *(const struct conf *)state;
	s->refs = 1;
	if (mode(s, "null-store")) {
		free(s);
		*out = NULL;
		return 0;
	}
	uv_timer_init(host->loop, &s->ready);
	s->ready.data = s;
	uv_timer_start(&s->ready, ready_cb, 0, 0);
	*out = s;
	return 0;
}

static void free_store_cb(uv_handle_t *h)
{
	store_unref(h->data);
}

static void s_close(void *store)
{
	struct fstore *s = store;
	if (in_host) {
		fprintf(stderr, "fixture: close from within a host callback\n");
		abort();
	}
	s->closed = 1;
	uv_close((uv_handle_t *)&s->ready, free_store_cb);
}

static void pending_free_cb(uv_handle_t *h)
{
	struct pending *p = h->data;
	store_unref(p->s);
	free(p->cmd);
	free(p);
}

static void pending_cb(uv_timer_t *t)
{
	struct pending *p = t->data;
	if (p->stage == 0) {
		struct webmesh_storage_result r = {.err = 0, .message = "", .index = p->index};
		host_call_begin();
		p->done(p->token, &r);
		if (mode(p->s, "twice"))
			p->done(p->token, &r);
		host_call_end();
		p->stage = 1;
		uv_timer_start(t, pending_cb, p->s->conf.feed_delay_ms, 0);
		return;
	}
	if (!p->s->closed) {
		host_call_begin();
		p->s->host->changed(p->s->host->ctx, p->index, p->cmd, p->len);
		host_call_end();
	}
	uv_close((uv_handle_t *)t, pending_free_cb);
}

static int s_apply(void *store, const uint8_t *cmd, size_t len, webmesh_storage_done_fn done,
		   void *token)
{
	struct fstore *s = store;
	if (mode(s, "never"))
		return 0; /* taken, never answered */
	struct pending *p = calloc(1, sizeof(*p));
	if (!p || !(p->cmd = malloc(len ? len : 1))) {
		free(p);
		return -ENOMEM;
	}
	memcpy(p->cmd, cmd, len);
	p->len = len;
	p->s = s;
	p->index = ++s->rev;
	p->done = done;
	p->token = token;
	s->refs++;
	uv_timer_init(s->host->loop, &p->t);
	p->t.data = p;
	if (mode(s, "inline")) {
		struct webmesh_storage_result r = {.err = 0, .message = "", .index = p->index};
		host_call_begin();
		done(token, &r);
		host_call_end();
		p->stage = 1;
	}
	uv_timer_start(&p->t, pending_cb, mode(s, "late") ? 50 : 0, 0);
	return 0;
}

static int s_read(void *store, uint32_t what, const char *arg, const struct webmesh_storage_sink *k,
		  char *msg, size_t len)
{
	(void)store;
	static const char *const eps[] = {"192.0.2.1:51820", "[2001:db8::1]:51820"};
	static const char *const routes[] = {"10.99.0.0/16"};
	struct webmesh_storage_node a = {
		.id = "node-a",
		.public_key = "YNv0dxJDr9kH0OQOqWNaoajIVsR8fTBEbz1tWg8G2ng=",
		.ipv4 = "10.42.0.2/32",
		.ipv6 = "fd42:1:2:3:4:5:6:0/112",
		.endpoints = eps,
		.n_endpoints = 2,
		.listen_port = 51820,
		.raft_role = 0,
		.zone = "z1",
		.joined_at = 1700000000,
		.routes = routes,
		.n_routes = 1,
		.exit_node = "",
	};
	struct webmesh_storage_node b = a;
	b.id = "node-b";
	b.ipv4 = "10.42.0.3/32";
	b.n_routes = 0;
	switch (what) {
	case WEBMESH_STORAGE_READ_MESH:
		return -ENOENT;
	case WEBMESH_STORAGE_READ_NODE:
		if (strcmp(arg, "bad") == 0) {
			b.id = "bad";
			b.public_key = "not base64";
			return k->node(k->ctx, &b);
		}
		if (strcmp(arg, "node-a") == 0)
			return k->node(k->ctx, &a);
		if (strcmp(arg, "null-endpoints") == 0) {
			b.endpoints = NULL;
			return k->node(k->ctx, &b);
		}
		return -ENOENT;
	case WEBMESH_STORAGE_READ_NODES: {
		int r = k->node(k->ctx, &a);
		return r ? r : k->node(k->ctx, &b);
	}
	case WEBMESH_STORAGE_READ_EDGES: {
		struct webmesh_storage_edge e = {
			.source = "node-a", .target = "node-b", .weight = 1};
		return k->edge(k->ctx, &e);
	}
	case WEBMESH_STORAGE_READ_EDGE_ATTRS:
		/* Items of another kind: webmeshd's sink has no such function
		 * for this read. */
		return k->dns_record(k->ctx, "a.example", "A", "192.0.2.1");
	case WEBMESH_STORAGE_READ_AUTHZ: {
		struct webmesh_storage_authz z = {.bootstrapped = 1,
						  .default_accept = 1,
						  .has_mesh_auth = 1,
						  .auth_methods = "mtls,basic",
						  .ca_fingerprint = "sha256:00",
						  .rbac = 1};
		int r = k->authz(k->ctx, &z);
		if (!r)
			r = k->role(k->ctx, "admin", "*:*");
		if (!r)
			r = k->binding(k->ctx, "admins", "admin", "user:alice");
		if (!r)
			r = k->denied(k->ctx, "evil");
		return r;
	}
	default:
		snprintf(msg, len, "this store keeps no read %u", what);
		return -ENOTSUP;
	}
}

static void s_status(void *store, struct webmesh_storage_status *out)
{
	struct fstore *s = store;
	out->state = "serving";
	out->ready = 1;
	out->revision = s->rev;
	snprintf(out->endpoints, sizeof(out->endpoints), "mem://fixture");
}

static int s_register(void *store, const char *id, const char *addr, char *msg, size_t len)
{
	(void)store, (void)id, (void)addr, (void)msg, (void)len;
	return 0;
}

static const struct webmesh_storage_ops ops = {
	.size = sizeof(ops),
	.open = s_open,
	.close = s_close,
	.apply = s_apply,
	.read = s_read,
	.status = s_status,
	.register_server = s_register,
};

__attribute__((visibility("default"))) const struct webmesh_plugin webmesh_plugin = {
	.abi = WEBMESH_PLUGIN_ABI,
	.size = sizeof(struct webmesh_plugin),
	.name = "fixture",
	.version = "1",
	.capabilities = WEBMESH_PLUGIN_CAP_STORAGE,
	.init = init,
	.fini = fini,
	.storage = &ops,
};
