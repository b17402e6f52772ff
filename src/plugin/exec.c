/* Out-of-process plugins (--plugin NAME=exec:/path/to/prog): webmeshd starts
 * the program with a unix socket path in WEBMESH_PLUGIN_SOCKET, calls it over
 * gRPC (proto/webmesh/v1/plugin.proto), and restarts it with backoff when it
 * exits. To the host it is one more plugin table: its auth function runs on a
 * pool thread, hands the request to the loop (where the gRPC client lives)
 * and the answer comes back through the usual completion, so the bounded
 * wait and fail-closed rules of auth.c hold unchanged. */
#include "plugin/plugin_int.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc/rpc.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "webmesh/v1/plugin.pb-c.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define ENV_MAX 256
#define AUTH_PATH "/webmesh.v1.AuthPlugin/Authenticate"

extern char **environ;

struct exec_req {
	struct exec_req *next;
	uint8_t *buf;
	size_t len;
	webmesh_auth_done_fn done;
	void *token;
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
	int handles; /* open libuv handles, for close */
};

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

static void unary_cb(void *data, int grpc_status, const char *message, const uint8_t *resp,
		     size_t len)
{
	struct exec_req *q = data;
	char why[WEBMESH_PLUGIN_MSG_MAX];
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
			answer(q, -EIO, NULL, "its process is not running");
		} else {
			int r = wm_rpc_client_unary(x->client, AUTH_PATH, q->buf, q->len,
						    x->timeout_ms, NULL, 0, unary_cb, q);
			if (r < 0)
				answer(q, -EIO, NULL, "cannot call its process");
		}
		q = next;
	}
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
	q->done = done;
	q->token = token;
	q->x = x;
	uv_mutex_lock(&x->mu);
	if (x->closed) {
		uv_mutex_unlock(&x->mu);
		free(q->buf);
		free(q);
		snprintf(msg, msglen, "the plugin is shutting down");
		return -ECANCELED;
	}
	*x->tail = q;
	x->tail = &q->next;
	/* Under the lock: close cannot close the handle in between. */
	uv_async_send(&x->async);
	uv_mutex_unlock(&x->mu);
	return 0;
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

const struct webmesh_plugin wm_plugin_exec_table = {
	.abi = WEBMESH_PLUGIN_ABI,
	.size = sizeof(struct webmesh_plugin),
	.name = "exec",
	.version = "exec",
	.capabilities = WEBMESH_PLUGIN_CAP_AUTH,
	.init = exec_init,
	.auth = &exec_auth_ops,
};

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

int wm_plugin_exec_new(uv_loop_t *loop, const char *name, const char *prog, const char *dir,
		       const struct webmesh_kv *cfg, size_t n_cfg, uint32_t timeout_ms,
		       struct wm_plugin_exec **out, char *err, size_t errlen)
{
	struct wm_plugin_exec *x = calloc(1, sizeof(*x));
	size_t n_env = 0, k = 0;
	int r = -ENOMEM;

	if (!x)
		return -ENOMEM;
	if (access(prog, X_OK) != 0) {
		snprintf(err, errlen, "plugin %s: %s is not an executable file: %s", name, prog,
			 strerror(errno));
		free(x);
		return -ENOENT;
	}
	if (wm_mkdir_p(dir, 0700) < 0 ||
	    snprintf(x->sock, sizeof(x->sock), "%s/%s.sock", dir, name) >= (int)sizeof(x->sock)) {
		snprintf(err, errlen, "plugin %s: cannot make its socket in %s (too long a path?)",
			 name, dir);
		free(x);
		return -EINVAL;
	}
	x->loop = loop;
	snprintf(x->name, sizeof(x->name), "%s", name);
	x->backoff_ms = BACKOFF_MIN_MS;
	x->timeout_ms = timeout_ms;
	x->tail = &x->head;
	/* webmeshd's own WEBMESH_* settings are not the child's business. */
	while (environ[n_env])
		n_env++;
	x->prog = strdup(prog);
	x->env = calloc(n_env + n_cfg + 3, sizeof(char *));
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
	for (size_t i = 0; i < n_cfg; i++)
		if (!(x->env[k++] = config_env(&cfg[i])))
			goto fail;
	struct wm_rpc_client_config cc = {.unix_path = x->sock, .connect_timeout_ms = 2000};
	r = wm_rpc_client_new(loop, &cc, &x->client);
	if (r < 0)
		goto fail;
	if (uv_mutex_init(&x->mu) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	uv_async_init(loop, &x->async, async_cb);
	x->async.data = x;
	uv_timer_init(loop, &x->restart);
	x->restart.data = x;
	start(x);
	*out = x;
	return 0;
fail:
	snprintf(err, errlen, "plugin %s: out of memory", name);
	if (x->client)
		wm_rpc_client_free(x->client);
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
		answer(q, -ECANCELED, NULL, "the server is shutting down");
		q = next;
	}
	wm_rpc_client_free(x->client); /* pending calls answer CANCELLED now */
	x->client = NULL;
	/* SIGTERM, and no waiting for the exit: a child that ignores it must
	 * not hold the daemon's shutdown (it is reparented when we exit). */
	if (x->running)
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
	/* Closed and its handles' callbacks run (the loop ran after close). */
	unlink(x->sock);
	uv_mutex_destroy(&x->mu);
	for (size_t i = 0; x->env && x->env[i]; i++)
		free(x->env[i]);
	free(x->env);
	free(x->prog);
	free(x);
}
