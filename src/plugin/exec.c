/* Out-of-process plugins: --plugin NAME=exec:/path/to/prog, which webmeshd
 * starts with a unix socket path in WEBMESH_PLUGIN_SOCKET and restarts with
 * backoff when it exits, and --plugin NAME=grpcs://HOST:PORT, dialled with
 * mutual TLS and dialled again after a backoff when it fails. Either is
 * called over gRPC (proto/webmesh/v1/plugin.proto) and is, to the host, one
 * more plugin table with the capabilities configured for it: auth hands the
 * request to the loop (where the gRPC client lives) and answers through the
 * usual completion; ipam (a pool thread) and watch (its thread) wait for
 * their call's answer, bounded by the call's deadline. Every failure fails
 * closed as for an in-process plugin. */
#include "plugin/plugin_int.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rpc/rpc.h"
#include "rpc/tls.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "webmesh/v1/plugin.pb-c.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define ENV_MAX 256
#define AUTH_PATH "/webmesh.v1.AuthPlugin/Authenticate"
#define ALLOCATE_PATH "/webmesh.v1.IpamPlugin/Allocate"
#define RELEASE_PATH "/webmesh.v1.IpamPlugin/Release"
#define DELIVER_PATH "/webmesh.v1.WatchPlugin/Deliver"
#define WATCH_RETRY_MAX_MS 5000

extern char **environ;

/* A call made from a worker thread that waits for its answer (ipam on the
 * pool, watch on its thread): the loop fills it and signals. */
struct exec_sync {
	uv_mutex_t mu;
	uv_cond_t cv;
	bool done;
	int grpc_status;
	char message[WEBMESH_PLUGIN_MSG_MAX];
	uint8_t *resp;
	size_t len;
};

struct exec_req {
	struct exec_req *next;
	const char *path;
	uint8_t *buf;
	size_t len;
	webmesh_auth_done_fn done; /* auth: answered asynchronously */
	void *token;
	struct exec_sync *sync; /* ipam, watch: a thread waits */
	struct wm_plugin_exec *x;
};

struct wm_plugin_exec {
	uv_loop_t *loop;
	char name[WM_PLUGIN_ID_MAX];
	char *prog;
	char sock[108];
	char **env; /* environ + ours, for every start */
	uv_process_t proc;
	bool running, proc_open;
	uv_timer_t restart;
	uint32_t backoff_ms;
	uint64_t timeout_ms;
	struct wm_rpc_client *client;
	uv_async_t async;
	uv_mutex_t mu; /* queue, closed */
	struct exec_req *head, **tail;
	bool closed;
	int handles;		     /* open libuv handles, for close */
	struct webmesh_plugin table; /* wm_plugin_exec_table with our capabilities */
	bool remote;		     /* grpcs://: no process, always "running" */
	SSL_CTX *tls;
	bool watch_failing;  /* watch thread only: logged once per outage */
	uint64_t hold_until; /* grpcs: loop time before which no dial is tried */
	bool remote_down;    /* grpcs: logged once per outage */
};

/* grpcs: after a failed dial, calls fail at once for the backoff instead of
 * each waiting for a connect timeout; the first call after it dials again. */
static void remote_result(struct wm_plugin_exec *x, int grpc_status, const char *message)
{
	/* CANCELLED is our own shutdown: it says nothing of the plugin */
	if (!x->remote || grpc_status == WM_GRPC_CANCELLED)
		return;
	if (grpc_status == WM_GRPC_UNAVAILABLE || grpc_status == WM_GRPC_DEADLINE_EXCEEDED) {
		if (!x->remote_down)
			wm_warn("plugin %s: unreachable (%s: %.150s); its calls fail, dialling "
				"again "
				"with backoff",
				x->name, wm_grpc_status_name(grpc_status), message ? message : "");
		x->remote_down = true;
		x->hold_until = uv_now(x->loop) + x->backoff_ms;
		x->backoff_ms =
			x->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : x->backoff_ms * 2;
	} else {
		if (x->remote_down)
			wm_info("plugin %s: reachable again", x->name);
		x->remote_down = false;
		x->backoff_ms = BACKOFF_MIN_MS;
	}
}

static void start(struct wm_plugin_exec *x);

static void restart_cb(uv_timer_t *t)
{
	start(t->data);
}

static void proc_close_cb(uv_handle_t *h)
{
	struct wm_plugin_exec *x = h->data;
	x->proc_open = false;
}

static void exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct wm_plugin_exec *x = p->data;
	x->running = false;
	uv_close((uv_handle_t *)p, proc_close_cb);
	if (x->closed)
		return;
	/* Logged once per exit, with the reason: calls meanwhile fail closed. */
	if (sig)
		wm_warn("plugin %s: its process was killed by signal %d; its calls fail until it "
			"is restarted in %u ms",
			x->name, sig, x->backoff_ms);
	else
		wm_warn("plugin %s: its process exited with status %lld; its calls fail until it "
			"is restarted in %u ms",
			x->name, (long long)status, x->backoff_ms);
	uv_timer_start(&x->restart, restart_cb, x->backoff_ms, 0);
	x->backoff_ms = x->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : x->backoff_ms * 2;
}

static void start(struct wm_plugin_exec *x)
{
	if (x->closed || x->running || x->proc_open)
		return;
	unlink(x->sock); /* a previous run's */
	char *args[] = {x->prog, NULL};
	uv_stdio_container_t stdio[3] = {
		{.flags = UV_IGNORE},
		{.flags = UV_INHERIT_FD, .data.fd = 1},
		{.flags = UV_INHERIT_FD, .data.fd = 2},
	};
	uv_process_options_t o = {
		.exit_cb = exit_cb,
		.file = x->prog,
		.args = args,
		.env = x->env,
		.stdio = stdio,
		.stdio_count = 3,
	};
	x->proc.data = x;
	int r = uv_spawn(x->loop, &x->proc, &o);
	x->proc_open = true;
	if (r < 0) {
		uv_close((uv_handle_t *)&x->proc, proc_close_cb);
		wm_warn("plugin %s: cannot start %s: %s; trying again in %u ms", x->name, x->prog,
			uv_strerror(r), x->backoff_ms);
		uv_timer_start(&x->restart, restart_cb, x->backoff_ms, 0);
		x->backoff_ms =
			x->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : x->backoff_ms * 2;
		return;
	}
	x->running = true;
	wm_info("plugin %s: started %s (pid %d)", x->name, x->prog, x->proc.pid);
}

static void answer(struct exec_req *q, int status, const char *identity, const char *message)
{
	q->done(q->token, status, identity, message);
	free(q->buf);
	free(q);
}

static void sync_finish(struct exec_req *q, int grpc_status, const char *message,
			const uint8_t *resp, size_t len)
{
	struct exec_sync *s = q->sync;
	uv_mutex_lock(&s->mu);
	s->grpc_status = grpc_status;
	snprintf(s->message, sizeof(s->message), "%s", message ? message : "");
	if (grpc_status == WM_GRPC_OK && (s->resp = malloc(len ? len : 1)) != NULL) {
		memcpy(s->resp, resp, len);
		s->len = len;
	} else if (grpc_status == WM_GRPC_OK) {
		s->grpc_status = WM_GRPC_INTERNAL;
		snprintf(s->message, sizeof(s->message), "out of memory");
	}
	s->done = true;
	uv_cond_signal(&s->cv);
	uv_mutex_unlock(&s->mu);
	free(q->buf);
	free(q);
}

/* A call that never reached the plugin: auth refuses, a waiter is told. */
static void fail_req(struct exec_req *q, int err, const char *why)
{
	if (q->sync)
		sync_finish(q, err == -ECANCELED ? WM_GRPC_CANCELLED : WM_GRPC_UNAVAILABLE, why,
			    NULL, 0);
	else
		answer(q, err, NULL, why);
}

static void sync_cb(void *data, int grpc_status, const char *message, const uint8_t *resp,
		    size_t len)
{
	struct exec_req *q = data;
	if (q->x->remote)
		remote_result(q->x, grpc_status, message);
	else if (grpc_status == WM_GRPC_OK)
		q->x->backoff_ms = BACKOFF_MIN_MS;
	sync_finish(q, grpc_status, message, resp, len);
}

static void unary_cb(void *data, int grpc_status, const char *message, const uint8_t *resp,
		     size_t len)
{
	struct exec_req *q = data;
	char why[WEBMESH_PLUGIN_MSG_MAX];
	remote_result(q->x, grpc_status, message);
	if (grpc_status != WM_GRPC_OK) {
		snprintf(why, sizeof(why), "its process answered %s: %.150s",
			 wm_grpc_status_name(grpc_status), message ? message : "");
		answer(q, -EIO, NULL, why);
		return;
	}
	Webmesh__V1__PluginAuthResponse *r =
		webmesh__v1__plugin_auth_response__unpack(NULL, len, resp);
	if (!r) {
		answer(q, -EIO, NULL, "its process answered a malformed PluginAuthResponse");
		return;
	}
	/* A success resets the backoff: the next crash restarts quickly. */
	q->x->backoff_ms = BACKOFF_MIN_MS;
	switch (r->decision) {
	case WEBMESH__V1__PLUGIN_AUTH_RESPONSE__DECISION__ACCEPT:
		answer(q, 0, r->identity, r->message);
		break;
	case WEBMESH__V1__PLUGIN_AUTH_RESPONSE__DECISION__REFUSE:
		answer(q, -EACCES, NULL, r->message);
		break;
	case WEBMESH__V1__PLUGIN_AUTH_RESPONSE__DECISION__NO_CREDENTIALS:
		answer(q, -ENOENT, NULL, r->message);
		break;
	default:
		answer(q, -EIO, NULL,
		       r->message && *r->message ? r->message : "its process answered no decision");
	}
	webmesh__v1__plugin_auth_response__free_unpacked(r, NULL);
}

/* On the loop: send every queued request. */
/* Takes every queued request; close marks the plugin closed on the way. */
static struct exec_req *take_all(struct wm_plugin_exec *x, bool close)
{
	uv_mutex_lock(&x->mu);
	struct exec_req *q = x->head;
	x->head = NULL;
	x->tail = &x->head;
	x->closed = x->closed || close;
	uv_mutex_unlock(&x->mu);
	return q;
}

static void async_cb(uv_async_t *a)
{
	struct wm_plugin_exec *x = a->data;
	struct exec_req *q = take_all(x, false);
	while (q) {
		struct exec_req *next = q->next;
		if (!x->running) {
			fail_req(q, -EIO, "its process is not running");
		} else if (x->remote && uv_now(x->loop) < x->hold_until) {
			fail_req(q, -EIO, "it is unreachable (dialled again after a backoff)");
		} else {
			int r = wm_rpc_client_unary(x->client, q->path, q->buf, q->len,
						    x->timeout_ms, NULL, 0,
						    q->sync ? sync_cb : unary_cb, q);
			if (r < 0)
				fail_req(q, -EIO, "cannot call it");
		}
		q = next;
	}
}

/* From any thread; fails once the plugin is closed. */
static int enqueue(struct wm_plugin_exec *x, struct exec_req *q)
{
	q->x = x;
	uv_mutex_lock(&x->mu);
	if (x->closed) {
		uv_mutex_unlock(&x->mu);
		return -ECANCELED;
	}
	*x->tail = q;
	x->tail = &q->next;
	/* Under the lock: close cannot close the handle in between. */
	uv_async_send(&x->async);
	uv_mutex_unlock(&x->mu);
	return 0;
}

/* On a pool thread (auth.c's waiter holds the token). */
static int exec_authenticate(void *state, const struct webmesh_auth_request *req,
			     webmesh_auth_done_fn done, void *token, char *msg, size_t msglen)
{
	struct wm_plugin_exec *x = state;
	Webmesh__V1__PluginAuthRequest pr = WEBMESH__V1__PLUGIN_AUTH_REQUEST__INIT;
	Webmesh__V1__PluginMetadata md[WM_AUTH_MD_MAX], *mdp[WM_AUTH_MD_MAX];
	ProtobufCBinaryData cert[1];
	size_t n = req->n_metadata < WM_AUTH_MD_MAX ? req->n_metadata : WM_AUTH_MD_MAX;

	for (size_t i = 0; i < n; i++) {
		webmesh__v1__plugin_metadata__init(&md[i]);
		md[i].key = (char *)req->metadata[i].key;
		md[i].value = (char *)req->metadata[i].value;
		mdp[i] = &md[i];
	}
	pr.metadata = mdp;
	pr.n_metadata = n;
	if (req->n_certs) {
		cert[0].data = (uint8_t *)req->cert_der[0];
		cert[0].len = req->cert_len[0];
		pr.cert_der = cert;
		pr.n_cert_der = 1;
	}
	pr.peer = (char *)req->peer;
	pr.now = req->now;
	struct exec_req *q = calloc(1, sizeof(*q));
	size_t len = webmesh__v1__plugin_auth_request__get_packed_size(&pr);
	if (!q || !(q->buf = malloc(len ? len : 1))) {
		free(q);
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	webmesh__v1__plugin_auth_request__pack(&pr, q->buf);
	q->len = len;
	q->path = AUTH_PATH;
	q->done = done;
	q->token = token;
	int r = enqueue(x, q);
	if (r < 0) {
		free(q->buf);
		free(q);
		snprintf(msg, msglen, "the plugin is shutting down");
	}
	return r;
}

/* On a worker thread: one unary call, waiting for its answer (the call has
 * the plugin's timeout, so the wait is bounded). The response is malloc'd
 * into *resp on WM_GRPC_OK; msg gets the reason otherwise. */
static int call_sync(struct wm_plugin_exec *x, const char *path, uint8_t *buf, size_t len,
		     uint8_t **resp, size_t *resp_len, char *msg, size_t msglen)
{
	struct exec_sync s = {0};
	struct exec_req *q = calloc(1, sizeof(*q));
	*resp = NULL;
	if (!q || uv_mutex_init(&s.mu) < 0) {
		free(q);
		free(buf);
		snprintf(msg, msglen, "out of memory");
		return WM_GRPC_RESOURCE_EXHAUSTED;
	}
	if (uv_cond_init(&s.cv) < 0) {
		uv_mutex_destroy(&s.mu);
		free(q);
		free(buf);
		snprintf(msg, msglen, "out of memory");
		return WM_GRPC_RESOURCE_EXHAUSTED;
	}
	q->path = path;
	q->buf = buf;
	q->len = len;
	q->sync = &s;
	if (enqueue(x, q) < 0) {
		free(q->buf);
		free(q);
		s.done = true;
		s.grpc_status = WM_GRPC_CANCELLED;
		snprintf(s.message, sizeof(s.message), "the plugin is shutting down");
	}
	uv_mutex_lock(&s.mu);
	while (!s.done)
		uv_cond_wait(&s.cv, &s.mu);
	uv_mutex_unlock(&s.mu);
	uv_cond_destroy(&s.cv);
	uv_mutex_destroy(&s.mu);
	if (s.grpc_status == WM_GRPC_OK) {
		*resp = s.resp;
		*resp_len = s.len;
	} else {
		snprintf(msg, msglen, "it answered %s: %.150s", wm_grpc_status_name(s.grpc_status),
			 s.message);
	}
	return s.grpc_status;
}

static int exec_allocate(void *state, const struct webmesh_ipam_request *req, char *addr,
			 size_t addrlen, char *msg, size_t msglen)
{
	struct wm_plugin_exec *x = state;
	Webmesh__V1__PluginIpamAllocateRequest pr = WEBMESH__V1__PLUGIN_IPAM_ALLOCATE_REQUEST__INIT;
	pr.node_id = (char *)req->node_id;
	pr.public_key = (char *)req->public_key;
	pr.network = (char *)req->network;
	size_t len = webmesh__v1__plugin_ipam_allocate_request__get_packed_size(&pr), rlen = 0;
	uint8_t *buf = malloc(len ? len : 1), *resp;
	if (!buf) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	webmesh__v1__plugin_ipam_allocate_request__pack(&pr, buf);
	int st = call_sync(x, ALLOCATE_PATH, buf, len, &resp, &rlen, msg, msglen);
	if (st != WM_GRPC_OK)
		return st == WM_GRPC_RESOURCE_EXHAUSTED ? -ENOSPC : -EIO;
	Webmesh__V1__PluginIpamAllocateResponse *r =
		webmesh__v1__plugin_ipam_allocate_response__unpack(NULL, rlen, resp);
	free(resp);
	if (!r) {
		snprintf(msg, msglen, "it answered a malformed PluginIpamAllocateResponse");
		return -EIO;
	}
	/* host.c checks the address itself; here only that it fits. */
	int ret = 0;
	if (!r->address || strlen(r->address) >= addrlen) {
		snprintf(msg, msglen, "it answered an address too long to be IPv4");
		ret = -EIO;
	} else {
		snprintf(addr, addrlen, "%s", r->address);
	}
	webmesh__v1__plugin_ipam_allocate_response__free_unpacked(r, NULL);
	return ret;
}

static int exec_release(void *state, const char *node_id, const char *address, char *msg,
			size_t msglen)
{
	struct wm_plugin_exec *x = state;
	Webmesh__V1__PluginIpamReleaseRequest pr = WEBMESH__V1__PLUGIN_IPAM_RELEASE_REQUEST__INIT;
	pr.node_id = (char *)node_id;
	pr.address = (char *)address;
	size_t len = webmesh__v1__plugin_ipam_release_request__get_packed_size(&pr), rlen = 0;
	uint8_t *buf = malloc(len ? len : 1), *resp;
	if (!buf) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	webmesh__v1__plugin_ipam_release_request__pack(&pr, buf);
	int st = call_sync(x, RELEASE_PATH, buf, len, &resp, &rlen, msg, msglen);
	free(resp);
	return st == WM_GRPC_OK ? 0 : -EIO;
}

static bool is_closed(struct wm_plugin_exec *x)
{
	uv_mutex_lock(&x->mu);
	bool c = x->closed;
	uv_mutex_unlock(&x->mu);
	return c;
}

/* One Deliver, sent again until the plugin acknowledges it or webmeshd
 * stops: the watch thread blocks here meanwhile, so later events wait in
 * host.c's bounded queue (overflow dropped and counted there) and what is
 * delivered stays in order. */
static void deliver(struct wm_plugin_exec *x, const struct webmesh_watch_event *ev,
		    uint64_t dropped)
{
	Webmesh__V1__PluginWatchEvent e = WEBMESH__V1__PLUGIN_WATCH_EVENT__INIT, *ep = &e;
	Webmesh__V1__PluginWatchDeliverRequest pr = WEBMESH__V1__PLUGIN_WATCH_DELIVER_REQUEST__INIT;
	if (ev) {
		e.kind = ev->kind;
		e.seq = ev->seq;
		e.index = ev->index;
		e.time_ms = ev->time_ms;
		e.node_id = (char *)ev->node_id;
		e.peer_id = (char *)ev->peer_id;
		e.address = (char *)ev->address;
		e.detail = (char *)ev->detail;
		pr.events = &ep;
		pr.n_events = 1;
	}
	pr.dropped = dropped;
	size_t len = webmesh__v1__plugin_watch_deliver_request__get_packed_size(&pr);
	uint32_t wait_ms = BACKOFF_MIN_MS;
	while (!is_closed(x)) {
		uint8_t *buf = malloc(len ? len : 1), *resp = NULL;
		size_t rlen = 0;
		char why[WEBMESH_PLUGIN_MSG_MAX];
		if (buf) {
			webmesh__v1__plugin_watch_deliver_request__pack(&pr, buf);
			int st = call_sync(x, DELIVER_PATH, buf, len, &resp, &rlen, why,
					   sizeof(why));
			free(resp);
			if (st == WM_GRPC_OK) {
				if (x->watch_failing)
					wm_info("plugin %s: delivers watch events again", x->name);
				x->watch_failing = false;
				return;
			}
			if (st == WM_GRPC_CANCELLED && is_closed(x))
				return;
		} else {
			snprintf(why, sizeof(why), "out of memory");
		}
		if (!x->watch_failing)
			wm_warn("plugin %s: cannot deliver watch event %llu: %s; sending it again "
				"until it is acknowledged (later events wait, overflow is dropped "
				"and counted)",
				x->name, (unsigned long long)(ev ? ev->seq : 0), why);
		x->watch_failing = true;
		/* in steps, so that a stop is noticed quickly */
		for (uint32_t t = 0; t < wait_ms && !is_closed(x); t += 100)
			uv_sleep(100);
		wait_ms = wait_ms * 2 > WATCH_RETRY_MAX_MS ? WATCH_RETRY_MAX_MS : wait_ms * 2;
	}
}

static void exec_event(void *state, const struct webmesh_watch_event *ev)
{
	deliver(state, ev, 0);
}

static void exec_dropped(void *state, uint64_t n)
{
	deliver(state, NULL, n);
}

static int exec_init(const struct webmesh_plugin_init_args *args, void **state, char *msg,
		     size_t msglen)
{
	(void)args, (void)state;
	snprintf(msg, msglen, "an exec plugin is made by wm_plugin_exec_new");
	return -EINVAL;
}

static const struct webmesh_auth_ops exec_auth_ops = {
	.size = sizeof(struct webmesh_auth_ops),
	.authenticate = exec_authenticate,
};

static const struct webmesh_ipam_ops exec_ipam_ops = {
	.size = sizeof(struct webmesh_ipam_ops),
	.allocate = exec_allocate,
	.release = exec_release,
};

static const struct webmesh_watch_ops exec_watch_ops = {
	.size = sizeof(struct webmesh_watch_ops),
	.event = exec_event,
	.dropped = exec_dropped,
};

const struct webmesh_plugin wm_plugin_exec_table = {
	.abi = WEBMESH_PLUGIN_ABI,
	.size = sizeof(struct webmesh_plugin),
	.name = "exec",
	.version = "exec",
	.capabilities = WEBMESH_PLUGIN_CAP_AUTH,
	.init = exec_init,
	.auth = &exec_auth_ops,
	.ipam = &exec_ipam_ops,
	.watch = &exec_watch_ops,
};

const struct webmesh_plugin *wm_plugin_exec_get_table(const struct wm_plugin_exec *x)
{
	return &x->table;
}

/* WEBMESH_PLUGIN_CONFIG_KEY for a config key: upper case, '-' as '_'. */
static char *config_env(const struct webmesh_kv *kv)
{
	size_t n = strlen("WEBMESH_PLUGIN_CONFIG_") + strlen(kv->key) + strlen(kv->value) + 2;
	char *s = malloc(n), *p;
	if (!s)
		return NULL;
	p = s + snprintf(s, n, "WEBMESH_PLUGIN_CONFIG_");
	for (const char *k = kv->key; *k; k++)
		*p++ = *k == '-' ? '_' : (char)toupper((unsigned char)*k);
	snprintf(p, n - (size_t)(p - s), "=%s", kv->value);
	return s;
}

static bool ours(const char *e)
{
	return strncmp(e, "WEBMESH_", 8) == 0;
}

/* "grpcs://host:port", host a name, IPv4 or [IPv6]. */
static int parse_remote(const char *t, char *host, size_t hostlen, uint16_t *port)
{
	const char *h = t + strlen("grpcs://"), *end, *colon;
	if (*h == '[') {
		end = strchr(h, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		h++;
		colon = end + 1;
	} else {
		colon = strrchr(h, ':');
		if (!colon)
			return -EINVAL;
		end = colon;
	}
	size_t n = (size_t)(end - h);
	if (n == 0 || n >= hostlen || memchr(h, '/', n) || memchr(h, '@', n))
		return -EINVAL;
	char *e;
	errno = 0;
	unsigned long p = strtoul(colon + 1, &e, 10);
	if (errno || *e || colon[1] == '\0' || p == 0 || p > 65535)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (uint16_t)p;
	return 0;
}

static int remote_client(struct wm_plugin_exec *x, const struct wm_plugin_exec_opts *o, char *err,
			 size_t errlen)
{
	char host[256], tlserr[256] = "";
	uint16_t port;
	if (parse_remote(o->target, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "plugin %s: \"%.100s\" is not grpcs://HOST:PORT", o->name,
			 o->target);
		return -EINVAL;
	}
	/* mTLS or nothing: the plugin decides who joins (auth), which address a
	 * node gets (ipam) or sees every change (watch). */
	if (!o->ca_file || !o->cert_file || !o->key_file) {
		snprintf(err, errlen,
			 "plugin %s: a grpcs:// plugin needs plugin-config %s.ca-file, %s.cert "
			 "and %s.key (mutual TLS)",
			 o->name, o->name, o->name, o->name);
		return -EINVAL;
	}
	struct wm_tls_client_opts to = {.ca_file = o->ca_file,
					.cert_file = o->cert_file,
					.key_file = o->key_file,
					.verify_name = host};
	x->tls = wm_tls_client_ctx_new(&to, tlserr, sizeof(tlserr));
	if (!x->tls) {
		snprintf(err, errlen, "plugin %s: %s", o->name, tlserr);
		return -EINVAL;
	}
	struct wm_rpc_client_config cc = {.host = host,
					  .port = port,
					  .tls = x->tls,
					  .connect_timeout_ms = 2000,
					  .keepalive_ms = 5000,
					  .keepalive_timeout_ms = 5000};
	int r = wm_rpc_client_new(x->loop, &cc, &x->client);
	if (r < 0)
		snprintf(err, errlen, "plugin %s: cannot make its client: %s", o->name,
			 strerror(-r));
	return r;
}

static bool private_dir(const char *dir, bool parent)
{
	char p[4096];
	struct stat st;
	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
		return false;
	if (parent) {
		char *slash = strrchr(p, '/');
		if (!slash)
			snprintf(p, sizeof(p), ".");
		else
			slash[slash == p] = '\0'; /* "/x" has "/" for parent */
	}
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	       !(st.st_mode & (S_IWGRP | S_IWOTH));
}

int wm_plugin_exec_new(uv_loop_t *loop, const struct wm_plugin_exec_opts *o,
		       struct wm_plugin_exec **out, char *err, size_t errlen)
{
	struct wm_plugin_exec *x = calloc(1, sizeof(*x));
	size_t n_env = 0, k = 0;
	int r = -ENOMEM;
	const char *name = o->name;

	if (!x)
		return -ENOMEM;
	x->loop = loop;
	snprintf(x->name, sizeof(x->name), "%s", name);
	x->backoff_ms = BACKOFF_MIN_MS;
	x->timeout_ms = o->timeout_ms;
	x->tail = &x->head;
	x->table = wm_plugin_exec_table;
	x->table.capabilities = o->capabilities;
	if (strncmp(o->target, "grpcs://", 8) == 0) {
		x->remote = true;
		x->table.version = "grpcs"; /* what wmctl status shows */
		r = remote_client(x, o, err, errlen);
		if (r < 0)
			goto fail_quiet;
		goto handles;
	}
	const char *prog = o->target + strlen("exec:");
	if (access(prog, X_OK) != 0) {
		snprintf(err, errlen, "plugin %s: %s is not an executable file: %s", name, prog,
			 strerror(errno));
		free(x);
		return -ENOENT;
	}
	if (wm_mkdir_p(o->dir, 0700) < 0 || snprintf(x->sock, sizeof(x->sock), "%s/%s.sock", o->dir,
						     name) >= (int)sizeof(x->sock)) {
		snprintf(err, errlen, "plugin %s: cannot make its socket in %s (too long a path?)",
			 name, o->dir);
		free(x);
		return -EINVAL;
	}
	/* Whoever can write the directory (or its parent, to swap it) can bind
	 * the socket path before the child does and answer auth calls in its
	 * place: both must be ours and closed to others' writes (mkdir's 0700
	 * holds only for a new directory). */
	if (!private_dir(o->dir, false) || !private_dir(o->dir, true)) {
		snprintf(err, errlen,
			 "plugin %s: %s and its parent must be directories of this user that no "
			 "one else can write (the plugin's socket is made there)",
			 name, o->dir);
		free(x);
		return -EPERM;
	}
	/* webmeshd's own WEBMESH_* settings are not the child's business. */
	while (environ[n_env])
		n_env++;
	x->prog = strdup(prog);
	x->env = calloc(n_env + o->n_cfg + 3, sizeof(char *));
	if (!x->prog || !x->env)
		goto fail;
	for (size_t i = 0; i < n_env; i++)
		if (!ours(environ[i]) && !(x->env[k++] = strdup(environ[i])))
			goto fail;
	if (asprintf(&x->env[k++], "WEBMESH_PLUGIN_SOCKET=%s", x->sock) < 0) {
		x->env[k - 1] = NULL;
		goto fail;
	}
	if (asprintf(&x->env[k++], "WEBMESH_PLUGIN_NAME=%s", x->name) < 0) {
		x->env[k - 1] = NULL;
		goto fail;
	}
	for (size_t i = 0; i < o->n_cfg; i++)
		if (!(x->env[k++] = config_env(&o->cfg[i])))
			goto fail;
	struct wm_rpc_client_config cc = {.unix_path = x->sock, .connect_timeout_ms = 2000};
	r = wm_rpc_client_new(loop, &cc, &x->client);
	if (r < 0)
		goto fail;
handles:
	if (uv_mutex_init(&x->mu) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	uv_async_init(loop, &x->async, async_cb);
	x->async.data = x;
	uv_timer_init(loop, &x->restart);
	x->restart.data = x;
	if (x->remote)
		x->running = true; /* dialled on the first call, again after a failure */
	else
		start(x);
	*out = x;
	return 0;
fail:
	snprintf(err, errlen, "plugin %s: out of memory", name);
fail_quiet:
	if (x->client)
		wm_rpc_client_free(x->client);
	if (x->tls)
		SSL_CTX_free(x->tls);
	for (size_t i = 0; x->env && x->env[i]; i++)
		free(x->env[i]);
	free(x->env);
	free(x->prog);
	free(x);
	return r;
}

static void handle_close_cb(uv_handle_t *h)
{
	struct wm_plugin_exec *x = h->data;
	x->handles--;
}

void wm_plugin_exec_close(struct wm_plugin_exec *x)
{
	if (!x || x->closed)
		return;
	struct exec_req *q = take_all(x, true);
	while (q) {
		struct exec_req *next = q->next;
		fail_req(q, -ECANCELED, "the server is shutting down");
		q = next;
	}
	wm_rpc_client_free(x->client); /* pending calls answer CANCELLED now */
	x->client = NULL;
	/* SIGTERM, and no waiting for the exit: a child that ignores it must
	 * not hold the daemon's shutdown (it is reparented when we exit). */
	if (x->running && !x->remote)
		uv_process_kill(&x->proc, SIGTERM);
	x->running = false;
	if (x->proc_open && !uv_is_closing((uv_handle_t *)&x->proc))
		uv_close((uv_handle_t *)&x->proc, proc_close_cb);
	uv_timer_stop(&x->restart);
	x->handles = 2;
	uv_close((uv_handle_t *)&x->restart, handle_close_cb);
	uv_close((uv_handle_t *)&x->async, handle_close_cb);
}

void wm_plugin_exec_free(struct wm_plugin_exec *x)
{
	if (!x)
		return;
	/* Closed and its handles' callbacks run (the loop ran after close);
	 * or a start that failed after the child was spawned, which must not
	 * outlive us. */
	if (!x->closed && x->running && !x->remote)
		kill(x->proc.pid, SIGTERM);
	if (!x->remote)
		unlink(x->sock);
	if (x->tls)
		SSL_CTX_free(x->tls);
	uv_mutex_destroy(&x->mu);
	for (size_t i = 0; x->env && x->env[i]; i++)
		free(x->env[i]);
	free(x->env);
	free(x->prog);
	free(x);
}
