/* gRPC client: lazy connections (TCP+TLS or unix socket), unary and
 * server-streaming calls, deadlines, and failure of pending calls when the
 * connection is lost or the client is freed. */
#include "rpc/client_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

/* Connect, TLS handshake and the server's SETTINGS must complete in this time. */
#define CONNECT_MS 20000

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res);
static struct cconn *cconn_alloc(struct wm_rpc_client *cl);
static void connect_addr(struct cconn *cc, const struct sockaddr *sa);

/* ------------------------------------------------------------ connections */

static void cconn_fail_calls(struct cconn *cc, int status, const char *why)
{
	while (cc->calls)
		wm_cl_call_complete(cc->calls, status, why);
}

static void cconn_closed(struct wm_conn *c)
{
	struct cconn *cc = c->owner;
	struct wm_rpc_client *cl = cc->cl;
	if (cc->gai) {
		cc->gai->cc = NULL;
		uv_cancel((uv_req_t *)&cc->gai->req);
		cc->gai = NULL;
	}
	if (!cc->connected && cc->next_addr < cc->n_addrs && cc->calls && !cl->freeing) {
		/* The next address of the name (e.g. 127.0.0.1 after ::1) gets the
		 * waiting calls, which were never sent. */
		struct cconn *nc = cconn_alloc(cl);
		if (nc) {
			nc->addrs = cc->addrs;
			nc->n_addrs = cc->n_addrs;
			nc->next_addr = cc->next_addr + 1;
			cc->addrs = NULL;
			while (cc->calls)
				wm_cl_call_move(cc->calls, nc);
			if (cl->active == cc)
				cl->active = nc;
			connect_addr(nc, (struct sockaddr *)&nc->addrs[nc->next_addr - 1]);
		}
	}
	if (cl->active == cc)
		cl->active = NULL;
	char msg[512];
	snprintf(msg, sizeof(msg), "%s %s: %s",
		 cc->conn.ready ? "connection to" : "cannot connect to", cl->target,
		 c->why[0] ? c->why : "closed");
	cconn_fail_calls(cc, cl->freeing ? WM_GRPC_CANCELLED : WM_GRPC_UNAVAILABLE, msg);
	if (cc->prev)
		cc->prev->next = cc->next;
	else
		cl->conns = cc->next;
	if (cc->next)
		cc->next->prev = cc->prev;
	cl->n_conns--;
	free(cc->addrs);
	free(cc);
	if (cl->freeing && cl->n_conns == 0)
		wm_cl_free_now(cl);
}

static int cconn_ready(struct wm_conn *c)
{
	struct cconn *cc = c->owner;
	X509 *srv = c->ssl ? SSL_get0_peer_certificate(c->ssl) : NULL;
	if (!srv || wm_tls_cert_fingerprint(srv, cc->server_fp) < 0)
		cc->server_fp[0] = '\0';
	int rv = wm_cl_session_new(cc);
	if (rv)
		return rv;
	for (struct wm_rpc_stream *s = cc->calls, *next; s; s = next) {
		next = s->next;
		if (!s->stream_id)
			wm_cl_call_submit(s);
	}
	return 0;
}

static void cconn_timeout(struct wm_conn *c)
{
	wm_cl_conn_timeout(c->owner);
}

static const struct wm_conn_ops cconn_ops = {
	.ready = cconn_ready, .closed = cconn_closed, .timeout = cconn_timeout};

static void connect_cb(uv_connect_t *req, int status)
{
	struct cconn *cc = req->data;
	struct wm_rpc_client *cl = cc->cl;
	char why[160];
	if (cc->conn.closing)
		return;
	if (status < 0) {
		snprintf(why, sizeof(why), "%s", uv_strerror(status));
		wm_conn_close(&cc->conn, status, why);
		return;
	}
	cc->connected = true;
	/* Small gRPC frames go out at once: without this a request or a TLS
	 * record waits behind an unacknowledged write for the peer's delayed
	 * ACK (about 40 ms on Linux). */
	if (!cc->conn.is_pipe)
		(void)uv_tcp_nodelay(&cc->conn.io.tcp, 1);
	SSL *ssl = NULL;
	if (cl->tls) {
		if (!(ssl = SSL_new(cl->tls))) {
			wm_conn_close(&cc->conn, -ENOMEM, "out of memory");
			return;
		}
		SSL_set_connect_state(ssl);
		struct in6_addr a;
		const char *sni = cl->server_name ? cl->server_name : cl->host;
		/* SNI carries names only, never address literals (RFC 6066 3). */
		if (sni && inet_pton(AF_INET, sni, &a) != 1 && inet_pton(AF_INET6, sni, &a) != 1)
			SSL_set_tlsext_host_name(ssl, sni);
	}
	wm_conn_set_peer(&cc->conn);
	wm_conn_start(&cc->conn, ssl);
}

static void connect_addr(struct cconn *cc, const struct sockaddr *sa)
{
	cc->connect_req.data = cc;
	int rv = 0;
	if (cc->cl->source.ss_family == sa->sa_family)
		rv = uv_tcp_bind(&cc->conn.io.tcp, (const struct sockaddr *)&cc->cl->source, 0);
	if (rv == 0)
		rv = uv_tcp_connect(&cc->connect_req, &cc->conn.io.tcp, sa, connect_cb);
	if (rv < 0)
		wm_conn_close(&cc->conn, rv, uv_strerror(rv));
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct gai *g = (struct gai *)req;
	struct cconn *cc = g->cc;
	free(g);
	if (cc)
		cc->gai = NULL;
	if (!cc || cc->conn.closing) {
		uv_freeaddrinfo(res);
		return;
	}
	if (status < 0 || !res) {
		char why[160];
		snprintf(why, sizeof(why), "cannot resolve %s: %s", cc->cl->host,
			 uv_strerror(status));
		wm_conn_close(&cc->conn, status < 0 ? status : -ENOENT, why);
		uv_freeaddrinfo(res);
		return;
	}
	size_t n = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
		n++;
	cc->addrs = calloc(n, sizeof(*cc->addrs));
	for (struct addrinfo *ai = res; cc->addrs && ai; ai = ai->ai_next)
		if (ai->ai_addrlen <= sizeof(*cc->addrs))
			memcpy(&cc->addrs[cc->n_addrs++], ai->ai_addr, ai->ai_addrlen);
	uv_freeaddrinfo(res);
	if (!cc->n_addrs) {
		wm_conn_close(&cc->conn, -ENOMEM, "out of memory");
		return;
	}
	cc->next_addr = 1;
	connect_addr(cc, (struct sockaddr *)&cc->addrs[0]);
}

static struct cconn *cconn_alloc(struct wm_rpc_client *cl)
{
	struct cconn *cc = calloc(1, sizeof(*cc));
	if (!cc)
		return NULL;
	if (wm_conn_init(cl->loop, &cc->conn, cl->unix_path != NULL, &cconn_ops, cc) < 0) {
		free(cc);
		return NULL;
	}
	cc->cl = cl;
	cc->next = cl->conns;
	if (cl->conns)
		cl->conns->prev = cc;
	cl->conns = cc;
	cl->n_conns++;
	wm_conn_arm(&cc->conn, cl->connect_timeout_ms ? cl->connect_timeout_ms : CONNECT_MS);
	return cc;
}

static struct cconn *cconn_new(struct wm_rpc_client *cl)
{
	struct cconn *cc = cconn_alloc(cl);
	if (!cc)
		return NULL;
	/* Failures below are reported through the close callback, never to the
	 * caller, so a call's callback is never run from inside its own start. */
	if (cl->unix_path) {
		cc->connect_req.data = cc;
		uv_pipe_connect(&cc->connect_req, &cc->conn.io.pipe, cl->unix_path, connect_cb);
		return cc;
	}
	struct sockaddr_storage ss;
	if (uv_ip4_addr(cl->host, cl->port, (struct sockaddr_in *)&ss) == 0 ||
	    uv_ip6_addr(cl->host, cl->port, (struct sockaddr_in6 *)&ss) == 0) {
		connect_addr(cc, (struct sockaddr *)&ss);
		return cc;
	}
	struct gai *g = calloc(1, sizeof(*g));
	char port[8];
	snprintf(port, sizeof(port), "%u", cl->port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	int rv = g ? uv_getaddrinfo(cl->loop, &g->req, gai_cb, cl->host, port, &hints) : -ENOMEM;
	if (rv < 0) {
		free(g);
		wm_conn_close(&cc->conn, rv, "cannot start name resolution");
		return cc;
	}
	g->cc = cc;
	cc->gai = g;
	return cc;
}

/* The connection new calls go to: the current one unless it is going away. */
struct cconn *wm_cl_conn_get(struct wm_rpc_client *cl)
{
	struct cconn *cc = cl->active;
	if (cc && !cc->draining && !cc->conn.closing)
		return cc;
	cl->active = cconn_new(cl);
	return cl->active;
}

/* ------------------------------------------------------------ client */

int wm_rpc_client_new(uv_loop_t *loop, const struct wm_rpc_client_config *cfg,
		      struct wm_rpc_client **out)
{
	if (!cfg || (!cfg->unix_path == !cfg->host) ||
	    (cfg->host && (!cfg->tls == !cfg->cleartext || !cfg->port)))
		return -EINVAL;
	struct sockaddr_storage src = {.ss_family = AF_UNSPEC};
	if (cfg->source && uv_ip4_addr(cfg->source, 0, (struct sockaddr_in *)&src) != 0 &&
	    uv_ip6_addr(cfg->source, 0, (struct sockaddr_in6 *)&src) != 0)
		return -EINVAL;
	struct wm_rpc_client *cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	cl->source = src;
	cl->loop = loop;
	cl->port = cfg->port;
	cl->call_metadata = cfg->call_metadata;
	cl->keepalive_ms = cfg->keepalive_ms;
	cl->keepalive_timeout_ms = cfg->keepalive_timeout_ms;
	cl->connect_timeout_ms = cfg->connect_timeout_ms;
	cl->call_metadata_data = cfg->call_metadata_data;
	cl->max_message =
		cfg->max_message_size ? cfg->max_message_size : WM_RPC_DEFAULT_MAX_MESSAGE;
	if ((cfg->host && !(cl->host = strdup(cfg->host))) ||
	    (cfg->unix_path && !(cl->unix_path = strdup(cfg->unix_path))) ||
	    (cfg->server_name && !(cl->server_name = strdup(cfg->server_name)))) {
		wm_cl_free_now(cl);
		return -ENOMEM;
	}
	if (cfg->tls && cfg->host) {
		SSL_CTX_up_ref(cfg->tls);
		cl->tls = cfg->tls;
	}
	if (cl->unix_path) {
		snprintf(cl->authority, sizeof(cl->authority), "localhost");
		snprintf(cl->target, sizeof(cl->target), "unix:%s", cl->unix_path);
	} else {
		const char *name = cl->server_name ? cl->server_name : cl->host;
		bool v6 = strchr(name, ':') != NULL;
		snprintf(cl->authority, sizeof(cl->authority), "%s%s%s:%u", v6 ? "[" : "", name,
			 v6 ? "]" : "", cl->port);
		v6 = strchr(cl->host, ':') != NULL;
		snprintf(cl->target, sizeof(cl->target), "%s%s%s:%u", v6 ? "[" : "", cl->host,
			 v6 ? "]" : "", cl->port);
	}
	*out = cl;
	return 0;
}

void wm_cl_free_now(struct wm_rpc_client *cl)
{
	SSL_CTX_free(cl->tls);
	free(cl->host);
	free(cl->unix_path);
	free(cl->server_name);
	free(cl);
}

void wm_rpc_client_free(struct wm_rpc_client *cl)
{
	if (!cl || cl->freeing)
		return;
	cl->freeing = true;
	cl->active = NULL;
	for (struct cconn *cc = cl->conns; cc; cc = cc->next) {
		cconn_fail_calls(cc, WM_GRPC_CANCELLED, "the client was closed");
		wm_conn_close(&cc->conn, -ECANCELED, "the client was closed");
	}
	if (cl->n_conns == 0)
		wm_cl_free_now(cl);
}

/* ------------------------------------------------------------ sync helper */

struct sync_result {
	bool done;
	int status;
	char *message;
	uint8_t *resp;
	size_t len;
};

static void sync_cb(void *data, int status, const char *message, const uint8_t *resp, size_t len)
{
	struct sync_result *r = data;
	r->done = true;
	r->status = status;
	r->message = message ? strdup(message) : NULL;
	if (status == WM_GRPC_OK) {
		r->resp = malloc(len ? len : 1);
		if (r->resp) {
			memcpy(r->resp, resp, len);
			r->len = len;
		} else {
			r->status = WM_GRPC_RESOURCE_EXHAUSTED;
		}
	}
}

int wm_rpc_client_unary_sync(struct wm_rpc_client *c, uv_loop_t *loop, const char *path,
			     const uint8_t *req, size_t len, uint64_t timeout_ms,
			     const struct wm_rpc_metadata *md, size_t n_md, uint8_t **resp,
			     size_t *resp_len, char **message)
{
	struct sync_result r = {0};
	*resp = NULL;
	*resp_len = 0;
	*message = NULL;
	int rv = wm_rpc_client_unary(c, path, req, len, timeout_ms, md, n_md, sync_cb, &r);
	if (rv) {
		*message = strdup(rv == -EINVAL ? "invalid call arguments" : strerror(-rv));
		return rv == -EINVAL ? WM_GRPC_INVALID_ARGUMENT : WM_GRPC_INTERNAL;
	}
	/* The call always keeps a handle active until it completes; the bound
	 * only guards against a loop that has nothing left to run. */
	while (!r.done && uv_run(loop, UV_RUN_ONCE) != 0)
		;
	if (!r.done) {
		*message = strdup("the event loop stopped before the call completed");
		return WM_GRPC_INTERNAL;
	}
	*resp = r.resp;
	*resp_len = r.len;
	*message = r.message;
	return r.status;
}
