/* gRPC over HTTP/2 (nghttp2) with TLS (OpenSSL) on a libuv loop: server and client.
 *
 * Wire format (gRPC over HTTP/2): POST /pkg.Service/Method, content-type
 * application/grpc, each message framed as 1 byte compressed-flag + 4 bytes
 * big-endian length + payload; the status travels in trailers (grpc-status,
 * grpc-message percent-encoded), or in the headers for a trailers-only reply.
 * Compressed messages are refused with UNIMPLEMENTED (we advertise identity).
 *
 * Everything runs on the caller's libuv loop, without threads. A process using
 * this layer must ignore SIGPIPE (libuv writes to sockets with write(2)).
 */
#ifndef WM_RPC_RPC_H
#define WM_RPC_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

/* gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
enum wm_grpc_status {
	WM_GRPC_OK = 0,
	WM_GRPC_CANCELLED = 1,
	WM_GRPC_UNKNOWN = 2,
	WM_GRPC_INVALID_ARGUMENT = 3,
	WM_GRPC_DEADLINE_EXCEEDED = 4,
	WM_GRPC_NOT_FOUND = 5,
	WM_GRPC_ALREADY_EXISTS = 6,
	WM_GRPC_PERMISSION_DENIED = 7,
	WM_GRPC_RESOURCE_EXHAUSTED = 8,
	WM_GRPC_FAILED_PRECONDITION = 9,
	WM_GRPC_ABORTED = 10,
	WM_GRPC_OUT_OF_RANGE = 11,
	WM_GRPC_UNIMPLEMENTED = 12,
	WM_GRPC_INTERNAL = 13,
	WM_GRPC_UNAVAILABLE = 14,
	WM_GRPC_DATA_LOSS = 15,
	WM_GRPC_UNAUTHENTICATED = 16,
};
const char *wm_grpc_status_name(int status);

#define WM_RPC_DEFAULT_MAX_MESSAGE (4u * 1024 * 1024)

/* Request/response metadata: lower-case ASCII keys, as HTTP/2 requires. */
struct wm_rpc_metadata {
	const char *key;
	const char *value;
};

/* ------------------------------------------------------------------ server */

struct wm_rpc_server;
struct wm_rpc_call;

/* Called once per incoming call with the first (and for our methods only)
 * request message (req is borrowed for the duration of the call). The handler owns the call until
 * it calls wm_rpc_call_finish (at once or later, from any loop callback). If the client goes away
 * first, the call stays valid, its send functions return -ECANCELED, and the cancel callback (if
 * set) tells the handler to finish it. */
typedef void (*wm_rpc_handler_cb)(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				  void *data);
typedef void (*wm_rpc_cancel_cb)(struct wm_rpc_call *call, void *data);

struct wm_rpc_method {
	const char *path;      /* "/webmesh.v1.Membership/Join" */
	bool server_streaming; /* the handler may send many messages */
	wm_rpc_handler_cb handler;
	void *data;
};

/* Limits that hold before anyone is authenticated. A request's bytes (its
 * metadata and its message, by the length the message announces) are counted
 * from their arrival until the handler finishes the call; a message that does
 * not fit in what is left of its connection's or the server's budget is
 * refused with RESOURCE_EXHAUSTED before it is read (an announced length is
 * never an allocation). The connection's HTTP/2 flow-control window is that
 * budget: a peer cannot send more than it, whatever it announces. */
struct wm_rpc_server_config {
	size_t max_message_size;	     /* 0 = WM_RPC_DEFAULT_MAX_MESSAGE; larger requests get
						RESOURCE_EXHAUSTED */
	uint32_t max_concurrent_streams;     /* 0 = 100 (SETTINGS_MAX_CONCURRENT_STREAMS; more
						are refused with REFUSED_STREAM) */
	uint32_t max_connections;	     /* 0 = 512; more are closed at accept */
	uint32_t max_connections_per_source; /* 0 = 32, per IPv4 address or IPv6 /64
						(core/source.h); TCP only */
	size_t max_buffered_per_connection;  /* 0 = 2 x max_message_size + 2 MiB; at least
						max_message_size + 64 KiB */
	size_t max_buffered;		     /* 0 = the larger of 32 MiB and the above */
	uint64_t handshake_timeout_ms;	     /* 0 = 10 s: TLS handshake and HTTP/2 preface */
	uint64_t idle_timeout_ms;	     /* 0 = 300 s: no call in progress and no request
						frame received; then GOAWAY and close.
						UINT64_MAX = never */
	/* Called when a limit refuses something, at most once per source and
	 * minute (and 64 sources a minute): what says which limit. NULL = none. */
	void (*on_limit)(void *data, const char *source, const char *what);
	void *on_limit_data;
	/* The web console's built files (build/console): GET requests are
	 * answered from there (a .gz beside a file is sent to clients that
	 * accept gzip); NULL = every GET is 404. Requests with content-type
	 * application/grpc-web* are gRPC-web (rpc/grpcweb.h), same-origin only. */
	const char *static_dir;
};

int wm_rpc_server_new(uv_loop_t *loop, const struct wm_rpc_server_config *cfg,
		      struct wm_rpc_server **out);
/* The method table is copied; paths must be unique (-EEXIST) and start with
 * '/' (-EINVAL). Unknown paths get UNIMPLEMENTED. May be called while serving. */
int wm_rpc_server_register(struct wm_rpc_server *srv, const struct wm_rpc_method *m);
/* cb runs as a handler finishes a call of a registered method (the path, the
 * gRPC status sent), for counting; calls whose client left first are not
 * reported. NULL cb: none. */
void wm_rpc_server_set_call_done(struct wm_rpc_server *srv,
				 void (*cb)(void *data, const char *path, int grpc_status),
				 void *data);
/* Listens on host:port ("0.0.0.0", "::", or an address). tls must be a server
 * context with ALPN "h2" set by wm_tls_server_ctx_new (it is up-ref'd). */
int wm_rpc_server_listen_tcp(struct wm_rpc_server *srv, const char *host, uint16_t port,
			     SSL_CTX *tls);
/* Listens in cleartext HTTP/2 (prior knowledge) on a unix socket; an existing
 * stale socket file is replaced, a live one is -EADDRINUSE, a file that is no
 * socket -EEXIST. The socket is chmod'ed to mode and removed at shutdown. */
int wm_rpc_server_listen_unix(struct wm_rpc_server *srv, const char *path, int mode);
/* Stops accepting, sends GOAWAY on every connection, lets running calls finish
 * for up to grace_ms, then closes everything and calls done_cb (from a later
 * loop callback; may be called from a handler). Handlers still owning calls
 * then see them cancelled and must still finish them; that is safe after free. */
void wm_rpc_server_shutdown(struct wm_rpc_server *srv, uint64_t grace_ms,
			    void (*done_cb)(void *data), void *data);
/* Frees a server after shutdown's done_cb ran (or one that never listened). */
void wm_rpc_server_free(struct wm_rpc_server *srv);
/* The bound port of the first TCP listener (useful after listening on port 0),
 * or -ENOENT. */
int wm_rpc_server_port(const struct wm_rpc_server *srv);

/* Sends one message (framed) on the call. Unary handlers send exactly one.
 * Returns 0, -ECANCELED (client gone or deadline passed), -EINVAL (a second
 * message on a unary call, or after finish), -ENOBUFS (the client does not
 * read: more than 2 x max_message_size + 64 KiB queued) or -ENOMEM. */
int wm_rpc_call_send(struct wm_rpc_call *call, const uint8_t *msg, size_t len);
/* Ends the call with a status and message (message may be NULL) and gives up the
 * handler's ownership. Safe after cancel; the call must not be used afterwards. */
void wm_rpc_call_finish(struct wm_rpc_call *call, int grpc_status, const char *message);
void wm_rpc_call_set_cancel_cb(struct wm_rpc_call *call, wm_rpc_cancel_cb cb, void *data);
/* True once the client went away or the deadline passed (sends then fail with
 * -ECANCELED). A cancel callback set after that point is not called. */
bool wm_rpc_call_cancelled(const struct wm_rpc_call *call);
/* Request-scoped data for the layer that wraps handlers (the authorization
 * gate keeps the caller's identity here): the call owns it from now on and
 * passes it to user_free (if set) when the call is freed, or when replaced. */
void wm_rpc_call_set_user(struct wm_rpc_call *call, void *user, void (*user_free)(void *user));
/* What wm_rpc_call_set_user stored, or NULL. */
void *wm_rpc_call_user(const struct wm_rpc_call *call);
/* Request metadata value for key, or NULL. */
const char *wm_rpc_call_metadata(const struct wm_rpc_call *call, const char *key);
/* The i-th entry of the request's metadata, in the order received (plugins,
 * issue 12): false past the last. The strings are valid while the call is. */
bool wm_rpc_call_metadata_at(const struct wm_rpc_call *call, size_t i, struct wm_rpc_metadata *out);
/* The method path of the call. */
const char *wm_rpc_call_path(const struct wm_rpc_call *call);
/* Peer address text ("1.2.3.4:5678" or "unix"), never NULL. */
const char *wm_rpc_call_peer(const struct wm_rpc_call *call);
/* The client certificate the peer presented, or NULL. Borrowed. With a
 * client CA configured the TLS layer accepts any certificate (so that a bad
 * one becomes UNAUTHENTICATED rather than a failed handshake): this one is
 * NOT verified; verify it before trusting it (src/auth/mtls.c does). */
X509 *wm_rpc_call_peer_cert(const struct wm_rpc_call *call);
/* "sha256:<hex>" of the certificate this server presented on the call's
 * connection, or NULL (unix socket). */
const char *wm_rpc_call_server_fingerprint(const struct wm_rpc_call *call);
/* True when the call came in on the local unix socket. */
bool wm_rpc_call_is_local(const struct wm_rpc_call *call);
/* Milliseconds until the client's grpc-timeout expires, or -1 for none. The
 * server itself fails the call with DEADLINE_EXCEEDED when it does. */
int64_t wm_rpc_call_remaining_ms(const struct wm_rpc_call *call);

/* ------------------------------------------------------------------ client */

struct wm_rpc_client;
struct wm_rpc_stream;

struct wm_rpc_client_config {
	const char *host; /* numeric address or name for TCP; NULL with unix_path */
	uint16_t port;
	const char *unix_path; /* cleartext HTTP/2 over a unix socket */
	SSL_CTX *tls;	       /* client context (wm_tls_client_ctx_new); NULL for unix */
	/* TCP without TLS (HTTP/2 prior knowledge), for a server that offers
	 * nothing else (an etcd with http:// URLs): host and port without tls.
	 * Nothing is authenticated or private on such a connection. */
	bool cleartext;
	const char *server_name; /* SNI and :authority (default: host); the name
				    checked is the context's verify_name */
	size_t max_message_size; /* 0 = default */
	/* HTTP/2 PING keepalive: once the connection is up, a PING goes out
	 * keepalive_ms after the last PING answer, and a connection that
	 * receives no frame at all within keepalive_timeout_ms of a PING is
	 * closed (its calls fail with UNAVAILABLE). A server that was killed or
	 * cut off sends no RST, so this is how a client learns of it quickly.
	 * 0 = no keepalive. The connect and TLS handshake get connect_timeout_ms
	 * (0 = 20 s). */
	uint32_t keepalive_ms;
	uint32_t keepalive_timeout_ms;
	uint32_t connect_timeout_ms;
	/* The local address TCP connections bind to before connecting (numeric,
	 * the family of the server's; port chosen by the kernel); NULL = the
	 * kernel picks it. A host with many addresses (bench/memsim) makes each
	 * client come from its own, as separate machines would. */
	const char *source;
	/* Credentials for every call: called as each call goes out on a
	 * connection, it fills up to max entries (valid until it is called
	 * again) that are sent after the call's own metadata; NULL = none.
	 * server_fp is the fingerprint ("sha256:<hex>") of the certificate the
	 * server presented in this connection's handshake (NULL on a unix
	 * socket) and path the call's method: signatures name the server and
	 * the method they are for. Signatures over
	 * the time need a fresh value per call, hence a function and not a list. */
	size_t (*call_metadata)(void *data, const char *path, const char *server_fp,
				struct wm_rpc_metadata *md, size_t max);
	void *call_metadata_data;
};

/* Connects lazily on the first call and again after the connection is lost
 * (a name is resolved with uv_getaddrinfo; its addresses are tried in turn).
 * -EINVAL unless exactly one of host (with port, and tls unless cleartext)
 * or unix_path is set, or when source is set but is no numeric address.
 * The client takes its own reference on tls. */
int wm_rpc_client_new(uv_loop_t *loop, const struct wm_rpc_client_config *cfg,
		      struct wm_rpc_client **out);
/* Fails every pending call with CANCELLED (their callbacks run before it
 * returns), closes the connection and frees the client once its handles are
 * closed: run the loop afterwards (uv_run) before uv_loop_close. Safe to call
 * from one of the client's own callbacks. */
void wm_rpc_client_free(struct wm_rpc_client *c);

/* The response of a unary call: status, message (may be NULL) and the response
 * bytes (NULL unless status is OK). Borrowed for the duration of the callback. */
typedef void (*wm_rpc_unary_cb)(void *data, int grpc_status, const char *message,
				const uint8_t *resp, size_t len);
/* A stream message; return non-zero to cancel the stream. */
typedef int (*wm_rpc_message_cb)(void *data, const uint8_t *msg, size_t len);
/* The stream ended (always called exactly once, also on cancel and connection loss:
 * then with UNAVAILABLE or CANCELLED). */
typedef void (*wm_rpc_close_cb)(void *data, int grpc_status, const char *message);

/* timeout_ms 0 = no deadline; otherwise sent as grpc-timeout (what is left of
 * it when the request goes out). The server answers DEADLINE_EXCEEDED; the
 * client gives up by itself at the deadline if the request was never sent, or
 * 1 s after it if the server stays silent. md keys are lower case [a-z0-9-_.]
 * and not grpc-*; values printable ASCII. Returns 0 (the callback then runs
 * exactly once, never before this returns), -EINVAL, -ECANCELED (the client
 * is being freed), -ENOMEM or -EIO. Calls beyond the server's stream limit
 * wait in the client; a call refused by a server going away (GOAWAY) is sent
 * once more on a new connection. */
int wm_rpc_client_unary(struct wm_rpc_client *c, const char *path, const uint8_t *req, size_t len,
			uint64_t timeout_ms, const struct wm_rpc_metadata *md, size_t n_md,
			wm_rpc_unary_cb cb, void *data);
int wm_rpc_client_stream(struct wm_rpc_client *c, const char *path, const uint8_t *req, size_t len,
			 uint64_t timeout_ms, const struct wm_rpc_metadata *md, size_t n_md,
			 wm_rpc_message_cb msg_cb, wm_rpc_close_cb close_cb, void *data,
			 struct wm_rpc_stream **out);
/* Cancels a stream (RST_STREAM CANCEL); close_cb runs with CANCELLED before it
 * returns. *out of wm_rpc_client_stream is valid until close_cb has run. */
void wm_rpc_stream_cancel(struct wm_rpc_stream *s);

/* Blocking helper for command-line tools: runs loop until the unary call
 * completes. *resp is malloc'd (caller frees) when status is OK; *message is
 * malloc'd or NULL. Returns the gRPC status. */
int wm_rpc_client_unary_sync(struct wm_rpc_client *c, uv_loop_t *loop, const char *path,
			     const uint8_t *req, size_t len, uint64_t timeout_ms,
			     const struct wm_rpc_metadata *md, size_t n_md, uint8_t **resp,
			     size_t *resp_len, char **message);

#endif
