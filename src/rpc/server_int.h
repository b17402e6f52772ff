/* Server internals shared by server.c (listeners, connections, shutdown) and
 * server_call.c (HTTP/2 streams as gRPC calls). */
#ifndef WM_RPC_SERVER_INT_H
#define WM_RPC_SERVER_INT_H

#include "core/source.h"
#include "rpc/conn.h"
#include "rpc/frame.h"
#include "rpc/grpcweb.h"
#include "rpc/rpc.h"
#include "rpc/tls.h"

struct method {
	char *path;
	bool streaming;
	wm_rpc_handler_cb handler;
	void *data;
};

struct listener {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	struct wm_rpc_server *srv; /* NULL for a listener that failed to start */
	SSL_CTX *tls;		   /* NULL: cleartext unix socket */
	char *unix_path;
	ino_t unix_ino; /* unlink the socket at close only if it is still ours */
	struct listener *next;
};

struct sconn {
	struct wm_conn conn;
	struct wm_rpc_server *srv;
	struct sconn *prev, *next;
	struct wm_rpc_call *calls;	 /* calls whose stream is open */
	X509 *peer_cert;		 /* verified client certificate, up-ref'd */
	char own_fp[WM_FINGERPRINT_LEN]; /* our certificate on this connection, "" on unix */
	bool local;
	char src[WM_SOURCE_KEY_MAX]; /* wm_source_key of the peer */
	size_t n_calls;		     /* calls whose stream is open */
	size_t n_active;	     /* of them, dispatched and not finished */
	size_t buffered;	     /* request bytes counted against the budgets */
	bool spoke;		     /* a first HTTP/2 frame arrived */
	bool idle_closing;	     /* GOAWAY sent for idleness, hard close pending */
};

struct wm_rpc_server {
	uv_loop_t *loop;
	size_t max_message;
	uint32_t max_streams;
	uint32_t max_conns;
	uint32_t max_conns_per_source;
	size_t max_buffered_conn, max_buffered;
	uint64_t handshake_ms, idle_ms;
	void (*on_limit)(void *data, const char *source, const char *what);
	/* wm_rpc_server_set_call_done: metrics count every answered call */
	void (*call_done)(void *data, const char *path, int grpc_status);
	void *call_done_data;
	void *on_limit_data;
	char *static_dir; /* the web console's files, or NULL */
	size_t buffered;  /* over every connection */
	struct wm_logonce logonce;
	struct method *methods;
	size_t n_methods;
	struct listener *listeners;
	struct sconn *conns;
	size_t n_conns;
	int open_handles; /* listeners and the grace timer */
	bool shutting_down;
	bool done;
	uv_timer_t grace;
	bool grace_open;
	void (*done_cb)(void *data);
	void *done_data;
};

struct md {
	char *key;
	char *value;
};

struct outq {
	uint8_t *data;
	size_t off, len, cap;
};

struct wm_rpc_call {
	uv_loop_t *loop;
	struct sconn *sc; /* NULL once the stream is gone */
	int32_t stream_id;
	struct wm_rpc_call *prev, *next;
	int refs; /* one for the open stream, one while the handler owns it */

	/* request */
	char *path;
	struct md *md;
	size_t n_md, hdr_bytes;
	char peer[64];
	X509 *peer_cert;
	char own_fp[WM_FINGERPRINT_LEN];
	bool local;
	bool bad_method, ctype_ok, bad_timeout, bad_encoding, hdr_overflow, over_budget;
	bool active;	      /* counted in sc->n_active */
	char budget_why[112]; /* which budget refused the request */
	bool has_timeout;
	uint64_t deadline; /* loop time in ms */
	uv_timer_t *timer;
	struct wm_grpc_decoder dec;
	uint8_t *req;
	size_t req_len;
	unsigned n_req;
	size_t max_message;
	struct method m; /* copied: the table may grow */
	size_t budget;	 /* bytes counted on sc->buffered and the server's */
	size_t held;	 /* DATA bytes not yet returned to the connection window */

	/* response */
	struct outq out;
	unsigned n_sent;
	bool headers_sent, deferred, ended, remote_closed, dispatched, owned, cancelled;
	int status;
	char *message; /* percent-encoded */
	wm_rpc_cancel_cb cancel_cb;
	void *cancel_data;
	/* request-scoped data of the layer in front of the handler (the gate's caller) */
	void *user;
	void (*user_free)(void *user);

	/* gRPC-web (grpcweb.h): the request's mode (0: plain gRPC) */
	uint8_t web;
	struct wm_grpcweb_b64 web_b64; /* text mode: the request body's base64 */
	bool get;		       /* a GET for a static file of the console */
	bool bad_forward;	       /* x-webmesh-proxied-* seen (refused for gRPC-web) */
	char *authority;	       /* :authority, to check a browser's Origin */
	/* A call of wm_grpcweb_call_start: no HTTP/2 stream (sc stays NULL),
	 * the response goes to the sink until the transport detaches. */
	bool virt;
	const struct wm_grpcweb_sink *sink; /* NULL once detached */
	void *sink_data;
	bool sink_failed; /* the sink refused bytes: the client is gone */
};

/* server_call.c */
int wm_srv_session_new(struct sconn *sc);
/* Drops a reference on the call, freeing it with the last one. */
void wm_srv_call_unref(struct wm_rpc_call *call);
/* grpcweb.c: wm_rpc_call_send and _finish of a call that has a sink. */
int wm_grpcweb_virt_send(struct wm_rpc_call *call, const uint8_t *msg, size_t len);
void wm_grpcweb_virt_finish(struct wm_rpc_call *call, int status, const char *message);
/* server.c: the connection has no call in progress (start the idle timer) or
 * has one again (stop it). */
void wm_srv_conn_idle(struct sconn *sc, bool idle);
/* server.c: the registered method with this exact path, or NULL. Both
 * transports (HTTP/2 and gRPC-web) dispatch through it. */
const struct method *wm_srv_find_method(const struct wm_rpc_server *srv, const char *path);
/* server.c: reports a limit hit by the connection's source, once per source
 * and minute. */
void wm_srv_limit_hit(struct wm_rpc_server *srv, const char *source, const char *what);
/* The connection is gone: every call still on it is cancelled. */
void wm_srv_detach_calls(struct sconn *sc);

/* server.c: adopts a connected stream fd as an accepted unix-socket connection
 * (used by the fuzzer and tests to drive a server over a socketpair). */
int wm_rpc_server_adopt_fd(struct wm_rpc_server *srv, int fd);

#endif
