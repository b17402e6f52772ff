/* gRPC server: method table, TCP+TLS and unix-socket listeners, connection
 * limits, graceful shutdown with GOAWAY and a grace period. */
#include "rpc/server_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A connection must finish its TLS handshake and HTTP/2 preface in this time,
 * so idle or garbage connections cannot hold a slot for long. */
#define HANDSHAKE_MS 10000
#define IDLE_MS 300000
/* After the GOAWAY for idleness, a peer that does not read it is cut off. */
#define IDLE_GRACE_MS 5000
#define LIMIT_LOG_MS 60000

static void check_done(struct wm_rpc_server *srv);

void wm_rpc_server_set_call_done(struct wm_rpc_server *srv,
				 void (*cb)(void *data, const char *path, int grpc_status),
				 void *data)
{
	srv->call_done = cb;
	srv->call_done_data = data;
}

int wm_rpc_server_new(uv_loop_t *loop, const struct wm_rpc_server_config *cfg,
		      struct wm_rpc_server **out)
{
	struct wm_rpc_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	srv->max_message =
		cfg && cfg->max_message_size ? cfg->max_message_size : WM_RPC_DEFAULT_MAX_MESSAGE;
	srv->max_streams = cfg && cfg->max_concurrent_streams ? cfg->max_concurrent_streams : 100;
	srv->max_conns = cfg && cfg->max_connections ? cfg->max_connections : 512;
	srv->max_conns_per_source =
		cfg && cfg->max_connections_per_source ? cfg->max_connections_per_source : 32;
	srv->max_buffered_conn = cfg && cfg->max_buffered_per_connection
					 ? cfg->max_buffered_per_connection
					 : 2 * srv->max_message + (2u << 20);
	/* Every message the server accepts must fit in one connection's budget
	 * (its flow-control window): else it could never be read. */
	if (srv->max_buffered_conn < srv->max_message + 65536)
		srv->max_buffered_conn = srv->max_message + 65536;
	/* The window is an int32 in HTTP/2, with room for the slack below. */
	if (srv->max_buffered_conn > (1u << 30))
		srv->max_buffered_conn = 1u << 30;
	srv->max_buffered = cfg && cfg->max_buffered ? cfg->max_buffered : 32u << 20;
	if (srv->max_buffered < srv->max_buffered_conn)
		srv->max_buffered = srv->max_buffered_conn;
	srv->handshake_ms =
		cfg && cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : HANDSHAKE_MS;
	srv->idle_ms = cfg && cfg->idle_timeout_ms ? cfg->idle_timeout_ms : IDLE_MS;
	if (cfg) {
		srv->on_limit = cfg->on_limit;
		srv->on_limit_data = cfg->on_limit_data;
		if (cfg->static_dir && *cfg->static_dir &&
		    !(srv->static_dir = strdup(cfg->static_dir))) {
			free(srv);
			return -ENOMEM;
		}
	}
	wm_logonce_init(&srv->logonce, LIMIT_LOG_MS);
	*out = srv;
	return 0;
}

void wm_srv_limit_hit(struct wm_rpc_server *srv, const char *source, const char *what)
{
	if (srv->on_limit && wm_logonce_due(&srv->logonce, source, (int64_t)uv_now(srv->loop)))
		srv->on_limit(srv->on_limit_data, source, what);
}

const struct method *wm_srv_find_method(const struct wm_rpc_server *srv, const char *path)
{
	for (size_t i = 0; i < srv->n_methods; i++)
		if (strcmp(srv->methods[i].path, path) == 0)
			return &srv->methods[i];
	return NULL;
}

int wm_rpc_server_register(struct wm_rpc_server *srv, const struct wm_rpc_method *m)
{
	if (!m || !m->path || m->path[0] != '/' || !m->handler)
		return -EINVAL;
	if (wm_srv_find_method(srv, m->path))
		return -EEXIST;
	struct method *t = realloc(srv->methods, (srv->n_methods + 1) * sizeof(*t));
	if (!t)
		return -ENOMEM;
	srv->methods = t;
	char *path = strdup(m->path);
	if (!path)
		return -ENOMEM;
	t[srv->n_methods++] = (struct method){path, m->server_streaming, m->handler, m->data};
	return 0;
}

/* ------------------------------------------------------------ connections */

static int sconn_ready(struct wm_conn *c)
{
	struct sconn *sc = c->owner;
	/* Unverified on purpose (see wm_rpc_call_peer_cert): the caller's
	 * authenticator decides what the certificate is worth. */
	if (c->ssl && (SSL_get_verify_mode(c->ssl) & SSL_VERIFY_PEER)) {
		X509 *x = SSL_get0_peer_certificate(c->ssl);
		if (x && X509_up_ref(x))
			sc->peer_cert = x;
	}
	/* What key-auth signatures on this connection must be for. */
	if (c->ssl && wm_tls_cert_fingerprint(SSL_get_certificate(c->ssl), sc->own_fp) < 0)
		sc->own_fp[0] = '\0';
	int rv = wm_srv_session_new(sc);
	if (rv)
		return rv;
	if (sc->srv->shutting_down)
		nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0);
	return 0;
}

static void sconn_closed(struct wm_conn *c)
{
	struct sconn *sc = c->owner;
	struct wm_rpc_server *srv = sc->srv;
	wm_srv_detach_calls(sc);
	if (sc->prev)
		sc->prev->next = sc->next;
	else
		srv->conns = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	srv->n_conns--;
	X509_free(sc->peer_cert);
	free(sc);
	check_done(srv);
}

void wm_srv_conn_idle(struct sconn *sc, bool idle)
{
	struct wm_conn *c = &sc->conn;
	if (c->closing || !sc->spoke || sc->idle_closing)
		return;
	if (idle && sc->srv->idle_ms != UINT64_MAX)
		wm_conn_arm(c, sc->srv->idle_ms);
	else
		wm_conn_disarm(c);
}

static void sconn_timeout(struct wm_conn *c)
{
	struct sconn *sc = c->owner;
	if (!sc->spoke) {
		wm_conn_close(c, -ETIMEDOUT,
			      c->ready ? "no HTTP/2 settings received in time"
				       : "connection or TLS handshake timed out");
		return;
	}
	if (sc->idle_closing || !c->h2) {
		wm_conn_close(c, -ETIMEDOUT, "idle connection did not close after GOAWAY");
		return;
	}
	/* Like a shutdown: the client retries a call that crossed the GOAWAY
	 * on a new connection. */
	sc->idle_closing = true;
	nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
			      nghttp2_session_get_last_proc_stream_id(c->h2), NGHTTP2_NO_ERROR,
			      (const uint8_t *)"idle", 4);
	wm_conn_arm(c, IDLE_GRACE_MS);
	wm_conn_flush(c);
}

static const struct wm_conn_ops sconn_ops = {
	.ready = sconn_ready, .closed = sconn_closed, .timeout = sconn_timeout};

static struct sconn *sconn_new(struct wm_rpc_server *srv, bool pipe)
{
	struct sconn *sc = calloc(1, sizeof(*sc));
	if (!sc)
		return NULL;
	if (wm_conn_init(srv->loop, &sc->conn, pipe, &sconn_ops, sc) < 0) {
		free(sc);
		return NULL;
	}
	sc->srv = srv;
	sc->local = pipe;
	sc->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = sc;
	srv->conns = sc;
	srv->n_conns++;
	return sc;
}

static void sconn_start(struct sconn *sc, SSL_CTX *tls)
{
	struct wm_rpc_server *srv = sc->srv;
	wm_conn_set_peer(&sc->conn);
	if (wm_source_key(sc->conn.peer, sc->src) < 0)
		snprintf(sc->src, sizeof(sc->src), "unknown");
	if (srv->shutting_down) {
		wm_conn_close(&sc->conn, -ECANCELED, "server shutting down");
		return;
	}
	if (srv->n_conns > srv->max_conns) {
		char what[96];
		snprintf(what, sizeof(what), "connections refused: the server has %u (limit)",
			 srv->max_conns);
		wm_srv_limit_hit(srv, sc->src, what);
		wm_conn_close(&sc->conn, -EMFILE, "too many connections");
		return;
	}
	if (!sc->local) {
		uint32_t same = 0;
		for (struct sconn *o = srv->conns; o; o = o->next)
			same += o != sc && !o->local && strcmp(o->src, sc->src) == 0;
		if (same >= srv->max_conns_per_source) {
			char what[96];
			snprintf(what, sizeof(what),
				 "connections refused: %u from this source (limit)", same);
			wm_srv_limit_hit(srv, sc->src, what);
			wm_conn_close(&sc->conn, -EMFILE, "too many connections from this source");
			return;
		}
	}
	/* The answer to a call is often two small TLS records (headers, then
	 * data and trailers): Nagle would hold the second until the client's
	 * delayed ACK of the first, about 40 ms. */
	if (!sc->conn.is_pipe)
		(void)uv_tcp_nodelay(&sc->conn.io.tcp, 1);
	SSL *ssl = NULL;
	if (tls) {
		if (!(ssl = SSL_new(tls))) {
			wm_conn_close(&sc->conn, -ENOMEM, "out of memory");
			return;
		}
		SSL_set_accept_state(ssl);
	}
	wm_conn_arm(&sc->conn, srv->handshake_ms);
	wm_conn_start(&sc->conn, ssl);
}

static void connection_cb(uv_stream_t *server, int status)
{
	struct listener *l = server->data;
	if (status < 0 || !l->srv)
		return;
	struct sconn *sc = sconn_new(l->srv, l->tls == NULL);
	if (!sc)
		return; /* out of memory: the connection waits in the backlog */
	if (uv_accept(server, &sc->conn.io.stream) < 0) {
		wm_conn_close(&sc->conn, -ECONNABORTED, "accept failed");
		return;
	}
	sconn_start(sc, l->tls);
}

int wm_rpc_server_adopt_fd(struct wm_rpc_server *srv, int fd)
{
	struct sconn *sc = sconn_new(srv, true);
	if (!sc)
		return -ENOMEM;
	int rv = uv_pipe_open(&sc->conn.io.pipe, fd);
	if (rv < 0) {
		wm_conn_close(&sc->conn, rv, "cannot open the descriptor");
		return rv;
	}
	sconn_start(sc, NULL);
	return 0;
}

/* ------------------------------------------------------------ listeners */

static void listener_close_cb(uv_handle_t *h)
{
	struct listener *l = h->data;
	struct wm_rpc_server *srv = l->srv;
	if (l->unix_path) {
		struct stat st;
		if (lstat(l->unix_path, &st) == 0 && st.st_ino == l->unix_ino)
			unlink(l->unix_path);
		free(l->unix_path);
	}
	SSL_CTX_free(l->tls);
	free(l);
	if (srv) {
		srv->open_handles--;
		check_done(srv);
	}
}

/* A listener that failed is closed without the server knowing about it. */
static int listener_fail(struct listener *l, int err)
{
	l->srv = NULL;
	free(l->unix_path);
	l->unix_path = NULL;
	uv_close(&l->h.handle, listener_close_cb);
	return err;
}

static void listener_add(struct wm_rpc_server *srv, struct listener *l)
{
	l->next = srv->listeners;
	srv->listeners = l;
	srv->open_handles++;
}

int wm_rpc_server_listen_tcp(struct wm_rpc_server *srv, const char *host, uint16_t port,
			     SSL_CTX *tls)
{
	struct sockaddr_storage ss;
	if (!host || !tls || srv->shutting_down)
		return -EINVAL;
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
		return -EINVAL;
	struct listener *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	int rv = uv_tcp_init(srv->loop, &l->h.tcp);
	if (rv < 0) {
		free(l);
		return rv;
	}
	l->h.handle.data = l;
	l->srv = srv;
	if ((rv = uv_tcp_bind(&l->h.tcp, (struct sockaddr *)&ss, 0)) < 0 ||
	    (rv = uv_listen(&l->h.stream, 511, connection_cb)) < 0)
		return listener_fail(l, rv);
	SSL_CTX_up_ref(tls);
	l->tls = tls;
	listener_add(srv, l);
	return 0;
}

/* A socket file nobody answers on is left over from a crash: replace it. */
static int unix_path_free(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rv = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	close(fd);
	if (rv == 0)
		return -EADDRINUSE;
	if (e != ECONNREFUSED)
		return -e;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

int wm_rpc_server_listen_unix(struct wm_rpc_server *srv, const char *path, int mode)
{
	struct sockaddr_un sa;
	if (!path || !*path || srv->shutting_down)
		return -EINVAL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	int rv = unix_path_free(path);
	if (rv)
		return rv;
	struct listener *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	if ((rv = uv_pipe_init(srv->loop, &l->h.pipe, 0)) < 0) {
		free(l);
		return rv;
	}
	l->h.handle.data = l;
	l->srv = srv;
	if ((rv = uv_pipe_bind(&l->h.pipe, path)) < 0)
		return listener_fail(l, rv);
	struct stat st;
	if (!(l->unix_path = strdup(path))) {
		unlink(path);
		return listener_fail(l, -ENOMEM);
	}
	if (chmod(path, (mode_t)mode) < 0 || lstat(path, &st) < 0) {
		rv = -errno;
		unlink(path);
		return listener_fail(l, rv);
	}
	l->unix_ino = st.st_ino;
	if ((rv = uv_listen(&l->h.stream, 128, connection_cb)) < 0) {
		unlink(path);
		return listener_fail(l, rv);
	}
	listener_add(srv, l);
	return 0;
}

int wm_rpc_server_port(const struct wm_rpc_server *srv)
{
	for (const struct listener *l = srv->listeners; l; l = l->next) {
		struct sockaddr_storage ss;
		int len = sizeof(ss);
		if (l->unix_path || uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&ss, &len) < 0)
			continue;
		if (ss.ss_family == AF_INET)
			return ntohs(((struct sockaddr_in *)&ss)->sin_port);
		if (ss.ss_family == AF_INET6)
			return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return -ENOENT;
}

/* ------------------------------------------------------------ shutdown */

static void grace_close_cb(uv_handle_t *h)
{
	struct wm_rpc_server *srv = h->data;
	srv->open_handles--;
	check_done(srv);
}

static void grace_cb(uv_timer_t *t)
{
	struct wm_rpc_server *srv = t->data;
	for (struct sconn *sc = srv->conns; sc; sc = sc->next)
		wm_conn_close(&sc->conn, -ECANCELED, "server shut down");
}

static void check_done(struct wm_rpc_server *srv)
{
	if (!srv->shutting_down || srv->done || srv->n_conns > 0)
		return;
	if (srv->grace_open) {
		srv->grace_open = false;
		uv_close((uv_handle_t *)&srv->grace, grace_close_cb);
		return;
	}
	if (srv->open_handles > 0)
		return;
	srv->done = true;
	if (srv->done_cb)
		srv->done_cb(srv->done_data);
}

void wm_rpc_server_shutdown(struct wm_rpc_server *srv, uint64_t grace_ms,
			    void (*done_cb)(void *data), void *data)
{
	if (srv->shutting_down)
		return;
	srv->shutting_down = true;
	srv->done_cb = done_cb;
	srv->done_data = data;
	for (struct listener *l = srv->listeners, *next; l; l = next) {
		next = l->next;
		uv_close(&l->h.handle, listener_close_cb);
	}
	srv->listeners = NULL;
	for (struct sconn *sc = srv->conns; sc; sc = sc->next) {
		struct wm_conn *c = &sc->conn;
		if (!c->h2) {
			wm_conn_close(c, -ECANCELED, "server shutting down");
			continue;
		}
		/* Streams up to the last one we saw still complete; newer ones are
		 * refused and the client retries elsewhere. */
		nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
				      nghttp2_session_get_last_proc_stream_id(c->h2),
				      NGHTTP2_NO_ERROR, NULL, 0);
		wm_conn_flush(c);
	}
	uv_timer_init(srv->loop, &srv->grace);
	srv->grace.data = srv;
	srv->grace_open = true;
	srv->open_handles++;
	uv_timer_start(&srv->grace, grace_cb, grace_ms, 0);
	check_done(srv);
}

void wm_rpc_server_free(struct wm_rpc_server *srv)
{
	if (!srv)
		return;
	/* Freeing with open handles would leave callbacks pointing at freed
	 * memory: shutdown's done_cb must have run (or nothing was started). */
	if (srv->open_handles > 0 || srv->n_conns > 0)
		abort();
	for (size_t i = 0; i < srv->n_methods; i++)
		free(srv->methods[i].path);
	free(srv->methods);
	free(srv->static_dir);
	free(srv);
}
