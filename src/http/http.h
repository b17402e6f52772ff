/* The HTTP/1.1 listener (metrics, health, the console, gRPC-web): one server
 * on the daemon's libuv loop, parsing with Debian's http-parser, with limits
 * on what a client may cost (header and body bytes, connections in all and
 * per source, idle time) and a mount table that others fill.
 *
 * Mount interface
 * ---------------
 * A handler is mounted for a method ("GET", "POST", ...; "*" for any) and a
 * path prefix ("/metrics", "/webmesh.v1."). The longest matching prefix wins;
 * a prefix matches a path equal to it, or one that continues with '/' or with
 * any character when the prefix itself ends in '/' or '.'. A path that some
 * mount matches with another method gets 405, no match at all 404.
 *
 * wm_http_mount'ed handlers see only requests that carry a valid loopback
 * console session (the cookie set by a one-time token, see wm_http_token_new);
 * others get 401 before any handler runs. wm_http_mount_public'ed handlers
 * see every request and may ask wm_http_req_session themselves.
 *
 * A handler gets a request that it owns until it finishes it, exactly once:
 * with wm_http_respond (a whole answer), or wm_http_start, any number of
 * wm_http_chunk and wm_http_end (chunked transfer-encoding). It may finish at
 * once or later from any loop callback. When the client leaves first, the
 * callback set with wm_http_req_on_close runs (once); the handler must still
 * finish the request (respond/chunk/end then return -ECONNRESET and only
 * free it). Requests of one connection are answered in order: a pipelined
 * request waits until the one before it finished.
 *
 * Everything runs on the loop thread; nothing here is thread-safe.
 */
#ifndef WM_HTTP_HTTP_H
#define WM_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct wm_http;
struct wm_http_req;

typedef void (*wm_http_handler)(struct wm_http_req *req, void *arg);

struct wm_http_config {
	uv_loop_t *loop;
	uint32_t max_connections;	     /* 0 = 256; more are closed at accept */
	uint32_t max_connections_per_source; /* 0 = 32, per IPv4 address or IPv6 /64 */
	size_t max_header_bytes;	     /* 0 = 16 KiB: request line and headers; 431 */
	size_t max_body_bytes;		     /* 0 = 1 MiB; 413 */
	uint64_t idle_timeout_ms;	     /* 0 = 30 s: a whole request must arrive within it of
						the connection's start or the last answer */
	size_t max_pending_write;	     /* 0 = 8 MiB: bytes queued to a slow client; beyond
						it wm_http_chunk returns -ENOBUFS */
	uint64_t session_ttl_ms;	     /* 0 = 12 h: a console session's life */
	uint64_t token_ttl_ms;		     /* 0 = 5 min: an unspent one-time token's life */
	/* Host names a request arriving on a non-loopback address may carry
	 * besides IP literals (http-allowed-hosts); others get 421. Not copied:
	 * they must outlive the server. */
	const char *const *allowed_hosts;
	size_t n_allowed_hosts;
};

/* A new server (not listening yet); 0 or -errno. */
int wm_http_new(const struct wm_http_config *cfg, struct wm_http **out);
/* Listens on "IP:PORT" ("127.0.0.1:8080", "[::1]:8080"; port 0 picks one, see
 * wm_http_port). 0, -EINVAL for a bad address, or the bind's -errno. */
int wm_http_listen(struct wm_http *srv, const char *addr);
/* The port listened on (0 before listen). */
uint16_t wm_http_port(const struct wm_http *srv);
/* Mounts fn for method and prefix (copied). -EINVAL for a bad method or a
 * prefix not starting with '/', -EEXIST for the same pair twice, -ENOMEM.
 * Requests need a console session; wm_http_mount_public: any request. */
int wm_http_mount(struct wm_http *srv, const char *method, const char *prefix, wm_http_handler fn,
		  void *arg);
int wm_http_mount_public(struct wm_http *srv, const char *method, const char *prefix,
			 wm_http_handler fn, void *arg);
/* A one-time console token (64 hex characters and a NUL in out), valid for
 * token_ttl_ms: the first request carrying ?token=... gets a session cookie
 * and a redirect to the same path without the token; the token is spent.
 * 0 or -errno (randomness). */
#define WM_HTTP_TOKEN_LEN 64
int wm_http_token_new(struct wm_http *srv, char out[WM_HTTP_TOKEN_LEN + 1]);
/* Stops listening, closes every connection (on-close callbacks run) and
 * calls done_cb once after the last handle closed, then frees the server.
 * NULL srv: done_cb at once. Requests still owned by handlers stay valid
 * until they are finished. */
void wm_http_close(struct wm_http *srv, void (*done_cb)(void *data), void *data);

/* ---- the request, valid until its handler finished it ---- */
const char *wm_http_req_method(const struct wm_http_req *req);
/* The path as sent, without the query ("/a%20b"). */
const char *wm_http_req_path(const struct wm_http_req *req);
/* The query after '?', "" without one. */
const char *wm_http_req_query(const struct wm_http_req *req);
/* The first header of that name (case-insensitive), or NULL. */
const char *wm_http_req_header(const struct wm_http_req *req, const char *name);
const uint8_t *wm_http_req_body(const struct wm_http_req *req, size_t *len);
/* The client's address ("127.0.0.1", "::1"; IPv4-mapped shown as IPv4). */
const char *wm_http_req_peer(const struct wm_http_req *req);
/* True when the request carries a valid console session cookie. */
bool wm_http_req_session(const struct wm_http_req *req);
/* cb runs once if the client leaves before the request is finished. */
void wm_http_req_on_close(struct wm_http_req *req, void (*cb)(void *data), void *data);

/* headers: NULL or a NULL-terminated list of name, value pairs
 * ({"Content-Type", "text/plain", NULL}); names and values must not contain
 * CR or LF (-EINVAL, and the request is answered 500). Content-Length,
 * Transfer-Encoding, Connection and Date are the server's. */
int wm_http_respond(struct wm_http_req *req, int status, const char *const *headers,
		    const void *body, size_t len);
int wm_http_start(struct wm_http_req *req, int status, const char *const *headers);
/* A chunk of a started answer (an empty one is skipped). -ENOBUFS when the
 * client reads too slowly (the chunk is dropped), -ECONNRESET after it left. */
int wm_http_chunk(struct wm_http_req *req, const void *p, size_t len);
int wm_http_end(struct wm_http_req *req);

/* Copies the value of name in a query ("a=1&token=xyz") percent-decoded into
 * out: 0, -ENOENT, or -EINVAL (bad escape, or longer than outlen - 1). */
int wm_http_query_get(const char *query, const char *name, char *out, size_t outlen);

#endif
