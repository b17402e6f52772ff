/* The HTTP/1.1 server on libuv and http-parser: connections, limits, the
 * mount table, console sessions and the response API of http.h. */
#include "http/http.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <http_parser.h>

#include "core/key.h"
#include "core/net.h"
#include "core/source.h"
#include "http/session.h"
#include "util/crypto.h"

#define DEF_MAX_CONN 256
#define DEF_MAX_CONN_PER_SOURCE 32
#define DEF_MAX_HEADER (16 * 1024)
#define DEF_MAX_BODY (1024 * 1024)
#define DEF_IDLE_MS 30000
#define DEF_MAX_PENDING (8 * 1024 * 1024)
#define DEF_SESSION_TTL_MS (12ull * 3600 * 1000)
#define DEF_TOKEN_TTL_MS (5ull * 60 * 1000)
#define MAX_HEADERS 64
/* bytes of the next requests kept while one is being answered */
#define MAX_PIPELINED (64 * 1024)
#define SESSION_COOKIE "wm_session"

struct mount {
	char method[16];
	char *prefix;
	size_t prefix_len;
	bool public;
	wm_http_handler fn;
	void *arg;
};

struct hdr {
	char *name, *value;
};

struct conn;

struct wm_http_req {
	struct conn *c; /* NULL once the client left or the server closed */
	char method[16];
	char *url; /* as sent: path and query */
	char *path, *query;
	struct hdr headers[MAX_HEADERS];
	size_t n_headers;
	uint8_t *body;
	size_t body_len;
	char peer[WM_SOURCE_KEY_MAX];
	bool session;
	bool keep_alive;
	bool started, finished;
	bool finishing; /* inside respond or end: on_close is not called then */
	void (*on_close)(void *data);
	void *on_close_data;
};

struct conn {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
	} h;
	struct wm_http *srv;
	bool local_loopback; /* arrived on 127/8 or ::1: Host must name this machine */
	struct conn *prev, *next;
	uv_timer_t timer;
	int closing; /* handles still to close */
	http_parser parser;
	char peer[WM_SOURCE_KEY_MAX];
	char source[WM_SOURCE_KEY_MAX];
	/* the request being parsed */
	struct wm_http_req *parsing;
	size_t hdr_bytes;
	bool last_was_value;
	int refuse; /* a status to answer with once the request is read, then close */
	/* the request being answered: parsing pauses until it is finished */
	struct wm_http_req *active;
	uint8_t *in;
	size_t in_len;
	size_t pending_write;
	bool close_after; /* close once the queued writes are out */
	bool reading;
	bool in_parse; /* inside parse_more: a request finished at once is followed
			  by the loop there, not by a recursion per request */
};

struct wm_http {
	struct wm_http_config cfg;
	uv_tcp_t listener;
	bool listening;
	uint16_t port;
	struct mount *mounts;
	size_t n_mounts;
	struct conn *conns;
	size_t n_conns;
	struct wm_sessions sessions;
	bool closing;
	int open_handles;
	void (*done_cb)(void *data);
	void *done_data;
	http_parser_settings settings;
};

struct wreq {
	uv_write_t w;
	struct conn *c;
	size_t len;
	char data[];
};

static void conn_close(struct conn *c);
static void dispatch(struct conn *c);
static void parse_more(struct conn *c);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 421:
		return "Misdirected Request";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	default:
		return "Status";
	}
}

/* ---- the request ---- */

static void req_free(struct wm_http_req *r)
{
	if (!r)
		return;
	free(r->url);
	free(r->path);
	free(r->query);
	for (size_t i = 0; i < r->n_headers; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->body);
	free(r);
}

const char *wm_http_req_method(const struct wm_http_req *req)
{
	return req->method;
}

const char *wm_http_req_path(const struct wm_http_req *req)
{
	return req->path ? req->path : "/";
}

const char *wm_http_req_query(const struct wm_http_req *req)
{
	return req->query ? req->query : "";
}

const char *wm_http_req_header(const struct wm_http_req *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

const uint8_t *wm_http_req_body(const struct wm_http_req *req, size_t *len)
{
	*len = req->body_len;
	return req->body;
}

const char *wm_http_req_peer(const struct wm_http_req *req)
{
	return req->peer;
}

bool wm_http_req_session(const struct wm_http_req *req)
{
	return req->session;
}

void wm_http_req_on_close(struct wm_http_req *req, void (*cb)(void *data), void *data)
{
	req->on_close = cb;
	req->on_close_data = data;
}

/* ---- writing ---- */

static void write_cb(uv_write_t *w, int status)
{
	struct wreq *wr = (struct wreq *)w;
	struct conn *c = wr->c;
	c->pending_write -= wr->len;
	free(wr);
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (c->close_after && c->pending_write == 0)
		conn_close(c);
}

static int conn_write(struct conn *c, const void *a, size_t alen, const void *b, size_t blen,
		      const void *tail, size_t tlen)
{
	if (c->closing)
		return -ECONNRESET;
	size_t len = alen + blen + tlen;
	struct wreq *wr = malloc(sizeof(*wr) + len);
	if (!wr)
		return -ENOMEM;
	wr->c = c;
	wr->len = len;
	memcpy(wr->data, a, alen);
	if (blen)
		memcpy(wr->data + alen, b, blen);
	if (tlen)
		memcpy(wr->data + alen + blen, tail, tlen);
	uv_buf_t buf = uv_buf_init(wr->data, (unsigned)len);
	int rc = uv_write(&wr->w, &c->h.stream, &buf, 1, write_cb);
	if (rc < 0) {
		free(wr);
		conn_close(c);
		return rc;
	}
	c->pending_write += len;
	return 0;
}

static bool header_ok(const char *s)
{
	return s && !strpbrk(s, "\r\n") && s[0];
}

/* Status line and headers into a malloc'ed string; NULL for a bad header. */
static char *head(const struct wm_http_req *r, int status, const char *const *headers,
		  const char *framing, size_t *len)
{
	size_t cap = 256 + strlen(framing);
	for (size_t i = 0; headers && headers[i]; i += 2) {
		if (!headers[i + 1] || !header_ok(headers[i]) || strpbrk(headers[i + 1], "\r\n"))
			return NULL;
		cap += strlen(headers[i]) + strlen(headers[i + 1]) + 4;
	}
	char *h = malloc(cap);
	if (!h)
		return NULL;
	size_t n = (size_t)snprintf(h, cap, "HTTP/1.1 %d %s\r\n", status, reason(status));
	for (size_t i = 0; headers && headers[i]; i += 2)
		n += (size_t)snprintf(h + n, cap - n, "%s: %s\r\n", headers[i], headers[i + 1]);
	n += (size_t)snprintf(h + n, cap - n, "%s%s\r\n", framing,
			      r->keep_alive ? "" : "Connection: close\r\n");
	*len = n;
	return h;
}

/* The request is done: its connection reads the next one, or closes. */
static void req_done(struct wm_http_req *r)
{
	r->finished = true;
	struct conn *c = r->c;
	if (!c) {
		req_free(r);
		return;
	}
	r->c = NULL;
	c->active = NULL;
	bool keep = r->keep_alive;
	req_free(r);
	if (!keep) {
		c->close_after = true;
		if (c->pending_write == 0)
			conn_close(c);
		return;
	}
	/* a new request must arrive whole within the idle timeout */
	uv_timer_again(&c->timer);
	http_parser_pause(&c->parser, 0);
	if (!c->reading && uv_read_start(&c->h.stream, alloc_cb, read_cb) == 0)
		c->reading = true;
	if (!c->in_parse)
		parse_more(c);
}

int wm_http_respond(struct wm_http_req *req, int status, const char *const *headers,
		    const void *body, size_t len)
{
	if (req->finished || req->started || req->finishing)
		return -EINVAL;
	req->finishing = true;
	if (!req->c) {
		req_done(req);
		return -ECONNRESET;
	}
	char framing[64];
	snprintf(framing, sizeof(framing), "Content-Length: %zu\r\n", len);
	size_t hlen;
	char *h = head(req, status, headers, framing, &hlen);
	int rc;
	if (!h) {
		static const char err[] = "HTTP/1.1 500 Internal Server Error\r\n"
					  "Content-Length: 0\r\nConnection: close\r\n\r\n";
		req->keep_alive = false;
		conn_write(req->c, err, sizeof(err) - 1, NULL, 0, NULL, 0);
		req_done(req);
		return -EINVAL;
	}
	rc = conn_write(req->c, h, hlen, strcmp(req->method, "HEAD") ? body : NULL,
			strcmp(req->method, "HEAD") ? len : 0, NULL, 0);
	free(h);
	req_done(req);
	return rc;
}

int wm_http_start(struct wm_http_req *req, int status, const char *const *headers)
{
	if (req->finished || req->started)
		return -EINVAL;
	req->started = true;
	if (!req->c)
		return -ECONNRESET;
	size_t hlen;
	char *h = head(req, status, headers, "Transfer-Encoding: chunked\r\n", &hlen);
	if (!h) {
		req->started = false;
		wm_http_respond(req, 500, NULL, NULL, 0);
		return -EINVAL;
	}
	int rc = conn_write(req->c, h, hlen, NULL, 0, NULL, 0);
	free(h);
	return rc;
}

int wm_http_chunk(struct wm_http_req *req, const void *p, size_t len)
{
	if (!req->started || req->finished)
		return -EINVAL;
	if (!req->c)
		return -ECONNRESET;
	if (len == 0)
		return 0;
	if (req->c->pending_write + len > req->c->srv->cfg.max_pending_write)
		return -ENOBUFS;
	char size[32];
	int n = snprintf(size, sizeof(size), "%zx\r\n", len);
	return conn_write(req->c, size, (size_t)n, p, len, "\r\n", 2);
}

int wm_http_end(struct wm_http_req *req)
{
	if (!req->started || req->finished || req->finishing)
		return -EINVAL;
	req->finishing = true;
	int rc = -ECONNRESET;
	if (req->c)
		rc = conn_write(req->c, "0\r\n\r\n", 5, NULL, 0, NULL, 0);
	req_done(req);
	return rc;
}

/* An answer of the server's own (errors, the token redirect). */
static void respond_text(struct wm_http_req *r, int status, const char *const *extra,
			 const char *text)
{
	const char *h[16] = {"Content-Type", "text/plain; charset=utf-8", "Cache-Control",
			     "no-store"};
	size_t n = 4;
	for (size_t i = 0; extra && extra[i] && n < 14; i++)
		h[n++] = extra[i];
	h[n] = NULL;
	wm_http_respond(r, status, h, text, strlen(text));
}

/* ---- the mount table ---- */

static int mount_add(struct wm_http *srv, const char *method, const char *prefix,
		     wm_http_handler fn, void *arg, bool public)
{
	if (!method || !prefix || !fn || prefix[0] != '/' || strlen(method) == 0 ||
	    strlen(method) >= sizeof(srv->mounts[0].method))
		return -EINVAL;
	for (const char *p = method; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p == '*' && method[1] == '\0')))
			return -EINVAL;
	for (size_t i = 0; i < srv->n_mounts; i++)
		if (strcmp(srv->mounts[i].method, method) == 0 &&
		    strcmp(srv->mounts[i].prefix, prefix) == 0)
			return -EEXIST;
	struct mount *m = realloc(srv->mounts, sizeof(*m) * (srv->n_mounts + 1));
	if (!m)
		return -ENOMEM;
	srv->mounts = m;
	m = &srv->mounts[srv->n_mounts];
	memset(m, 0, sizeof(*m));
	if (!(m->prefix = strdup(prefix)))
		return -ENOMEM;
	snprintf(m->method, sizeof(m->method), "%s", method);
	m->prefix_len = strlen(prefix);
	m->public = public;
	m->fn = fn;
	m->arg = arg;
	srv->n_mounts++;
	return 0;
}

int wm_http_mount(struct wm_http *srv, const char *method, const char *prefix, wm_http_handler fn,
		  void *arg)
{
	return mount_add(srv, method, prefix, fn, arg, false);
}

int wm_http_mount_public(struct wm_http *srv, const char *method, const char *prefix,
			 wm_http_handler fn, void *arg)
{
	return mount_add(srv, method, prefix, fn, arg, true);
}

static bool prefix_matches(const struct mount *m, const char *path)
{
	if (strncmp(path, m->prefix, m->prefix_len) != 0)
		return false;
	char last = m->prefix[m->prefix_len - 1];
	char next = path[m->prefix_len];
	return next == '\0' || next == '/' || last == '/' || last == '.';
}

/* The longest matching prefix for the method; *other when only another
 * method matched. */
static const struct mount *route(const struct wm_http *srv, const char *method, const char *path,
				 bool *other)
{
	const struct mount *best = NULL;
	*other = false;
	for (size_t i = 0; i < srv->n_mounts; i++) {
		const struct mount *m = &srv->mounts[i];
		if (!prefix_matches(m, path))
			continue;
		bool same = strcmp(m->method, "*") == 0 || strcmp(m->method, method) == 0;
		if (!same) {
			*other = true;
			continue;
		}
		if (!best || m->prefix_len > best->prefix_len)
			best = m;
	}
	return best;
}

/* ---- console sessions ---- */

int wm_http_token_new(struct wm_http *srv, char out[WM_HTTP_TOKEN_LEN + 1])
{
	uint8_t rnd[WM_SESSION_SECRET_LEN];
	int rc = wm_random(rnd, sizeof(rnd));
	if (rc)
		return rc;
	wm_sessions_token_add(&srv->sessions, rnd, now_ms(), out);
	memset(rnd, 0, sizeof(rnd));
	return 0;
}

/* ?token=: spent for a cookie and a redirect to the same path without it
 * (so that the token stays out of the history). True when answered. */
static bool redeem_token(struct conn *c, struct wm_http_req *r)
{
	char token[WM_SESSION_HEX_LEN + 2];
	int rc = wm_http_query_get(wm_http_req_query(r), "token", token, sizeof(token));
	if (rc == -ENOENT)
		return false;
	uint8_t rnd[WM_SESSION_SECRET_LEN];
	char cookie[WM_SESSION_HEX_LEN + 1];
	if (rc || strcmp(r->method, "GET") || wm_random(rnd, sizeof(rnd)) ||
	    wm_sessions_redeem(&c->srv->sessions, token, rnd, now_ms(), cookie)) {
		respond_text(r, 401, NULL,
			     "this console token is unknown, expired or spent: run "
			     "wmctl console for a new one\n");
		return true;
	}
	memset(rnd, 0, sizeof(rnd));
	char set[160];
	snprintf(set, sizeof(set),
		 SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%llu", cookie,
		 (unsigned long long)(c->srv->cfg.session_ttl_ms / 1000));
	memset(cookie, 0, sizeof(cookie));
	/* "//host/x" (or "/\\host/x", which browsers read alike) as a Location
	 * would send the new session's browser to another site */
	const char *path = wm_http_req_path(r);
	const char *to = path[0] == '/' && path[1] != '/' && path[1] != '\\' ? path : "/";
	const char *extra[] = {"Set-Cookie", set, "Location", to, NULL};
	respond_text(r, 303, extra, "session started\n");
	return true;
}

/* ---- parsing ---- */

static struct conn *conn_of(http_parser *p)
{
	return p->data;
}

static int append(char **dst, const char *at, size_t len)
{
	size_t old = *dst ? strlen(*dst) : 0;
	char *n = realloc(*dst, old + len + 1);
	if (!n)
		return -1;
	memcpy(n + old, at, len);
	n[old + len] = '\0';
	*dst = n;
	return 0;
}

static int count_header_bytes(struct conn *c, size_t len)
{
	c->hdr_bytes += len;
	if (c->hdr_bytes > c->srv->cfg.max_header_bytes) {
		c->refuse = 431;
		return -1;
	}
	return 0;
}

static int on_message_begin(http_parser *p)
{
	struct conn *c = conn_of(p);
	c->parsing = calloc(1, sizeof(*c->parsing));
	if (!c->parsing)
		return -1;
	memcpy(c->parsing->peer, c->peer, sizeof(c->peer));
	c->hdr_bytes = 0;
	c->last_was_value = false;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);
	if (count_header_bytes(c, len))
		return -1;
	return append(&c->parsing->url, at, len);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);
	struct wm_http_req *r = c->parsing;
	if (count_header_bytes(c, len))
		return -1;
	if (c->last_was_value || r->n_headers == 0) {
		if (r->n_headers == MAX_HEADERS) {
			c->refuse = 431;
			return -1;
		}
		r->n_headers++;
	}
	c->last_was_value = false;
	return append(&r->headers[r->n_headers - 1].name, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);
	struct wm_http_req *r = c->parsing;
	if (count_header_bytes(c, len))
		return -1;
	c->last_was_value = true;
	return append(&r->headers[r->n_headers - 1].value, at, len);
}

static int on_headers_complete(http_parser *p)
{
	struct conn *c = conn_of(p);
	struct wm_http_req *r = c->parsing;
	for (size_t i = 0; i < r->n_headers; i++)
		if (!r->headers[i].value && append(&r->headers[i].value, "", 0))
			return -1;
	snprintf(r->method, sizeof(r->method), "%s", http_method_str(p->method));
	/* a body announced beyond the limit is refused before it is read */
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->srv->cfg.max_body_bytes) {
		c->refuse = 413;
		return -1;
	}
	if (!r->url) {
		c->refuse = 400;
		return -1;
	}
	struct http_parser_url u;
	http_parser_url_init(&u);
	if (http_parser_parse_url(r->url, strlen(r->url), p->method == HTTP_CONNECT, &u) ||
	    !(u.field_set & (1 << UF_PATH)) || r->url[0] != '/') {
		c->refuse = 400;
		return -1;
	}
	r->path = strndup(r->url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
	r->query = (u.field_set & (1 << UF_QUERY)) ? strndup(r->url + u.field_data[UF_QUERY].off,
							     u.field_data[UF_QUERY].len)
						   : strdup("");
	if (!r->path || !r->query)
		return -1;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);
	struct wm_http_req *r = c->parsing;
	/* chunked bodies have no announced length: counted as they come */
	if (r->body_len + len > c->srv->cfg.max_body_bytes) {
		c->refuse = 413;
		return -1;
	}
	uint8_t *b = realloc(r->body, r->body_len + len);
	if (!b)
		return -1;
	memcpy(b + r->body_len, at, len);
	r->body = b;
	r->body_len += len;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct conn *c = conn_of(p);
	c->parsing->keep_alive = http_should_keep_alive(p) && !c->srv->closing;
	c->active = c->parsing;
	c->parsing = NULL;
	c->active->c = c;
	/* one request at a time: the rest waits in c->in */
	http_parser_pause(p, 1);
	return 0;
}

/* A bad request: a short answer, then the connection closes. */
static void refuse(struct conn *c, int status)
{
	char msg[160];
	int n = snprintf(msg, sizeof(msg),
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s\n",
			 status, reason(status), strlen(reason(status)) + 1, reason(status));
	req_free(c->parsing);
	c->parsing = NULL;
	c->close_after = true;
	c->in_len = 0;
	if (c->reading) {
		uv_read_stop(&c->h.stream);
		c->reading = false;
	}
	if (conn_write(c, msg, (size_t)n, NULL, 0, NULL, 0) == 0 && c->pending_write)
		return;
	conn_close(c);
}

static void parse_more(struct conn *c)
{
	c->in_parse = true;
	while (!c->closing && !c->close_after && !c->active && c->in_len > 0) {
		size_t n = http_parser_execute(&c->parser, &c->srv->settings, (char *)c->in,
					       c->in_len);
		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
		if (e != HPE_OK && e != HPE_PAUSED) {
			refuse(c, c->refuse ? c->refuse : 400);
			break;
		}
		if (c->parser.upgrade) {
			/* no WebSocket or CONNECT here */
			req_free(c->active);
			c->active = NULL;
			refuse(c, c->parser.method == HTTP_CONNECT ? 405 : 400);
			break;
		}
		memmove(c->in, c->in + n, c->in_len - n);
		c->in_len -= n;
		if (c->active)
			dispatch(c);
		else if (n == 0)
			break;
	}
	c->in_parse = false;
}

/* DNS rebinding: a page of evil.example re-pointed at 127.0.0.1 (or at this
 * node's LAN address, from a browser inside that LAN) is same-origin with
 * this listener for its browser, and /metrics is public. Its requests carry
 * Host: evil.example, so the listener refuses names it does not know: over
 * loopback all but IP literals and localhost names, over other addresses all
 * but IP literals, localhost names and http-allowed-hosts. One Host only; none
 * is a client that is not a browser. */
static bool host_ok(const struct conn *c, const struct wm_http_req *r)
{
	const char *host = NULL;
	for (size_t i = 0; i < r->n_headers; i++) {
		if (strcasecmp(r->headers[i].name, "Host"))
			continue;
		if (host)
			return false;
		host = r->headers[i].value;
	}
	if (!host || wm_http_host_is_local(host))
		return true;
	return !c->local_loopback &&
	       wm_http_host_named(host, c->srv->cfg.allowed_hosts, c->srv->cfg.n_allowed_hosts);
}

static void dispatch(struct conn *c)
{
	struct wm_http_req *r = c->active;
	struct wm_http *srv = c->srv;
	uv_timer_stop(&c->timer);
	if (!host_ok(c, r)) {
		respond_text(
			r, 421, NULL,
			c->local_loopback
				? "this listener answers only to its address or localhost as Host\n"
				: "this listener answers only to its address, localhost or a name "
				  "of http-allowed-hosts as Host\n");
		return;
	}
	char cookie[WM_SESSION_HEX_LEN + 2];
	const char *ch = wm_http_req_header(r, "Cookie");
	r->session = ch && wm_cookie_get(ch, SESSION_COOKIE, cookie, sizeof(cookie)) == 0 &&
		     wm_sessions_valid(&srv->sessions, cookie, now_ms());
	if (redeem_token(c, r))
		return;
	bool other;
	const struct mount *m = route(srv, r->method, wm_http_req_path(r), &other);
	if (!m) {
		if (other)
			respond_text(r, 405, NULL, "method not allowed here\n");
		else
			respond_text(r, 404, NULL, "not found\n");
		return;
	}
	if (!m->public && !r->session) {
		respond_text(r, 401, NULL,
			     "no console session: open the URL that wmctl console prints\n");
		return;
	}
	m->fn(r, m->arg);
}

/* ---- connections ---- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct conn *c = h->data;
	size_t want = c->srv->cfg.max_header_bytes + 4096;
	if (want < 16384)
		want = 16384;
	uint8_t *n = realloc(c->in, c->in_len + want);
	if (!n) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	c->in = n;
	*buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)want);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	struct conn *c = s->data;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->in_len += (size_t)nread;
	if (c->active) {
		/* pipelined: kept while the answer before it is produced, within bounds */
		if (c->in_len > MAX_PIPELINED) {
			uv_read_stop(&c->h.stream);
			c->reading = false;
		}
		return;
	}
	parse_more(c);
}

/* One per open handle (the listener, each connection): the last one frees
 * the server once it is closing. */
static void srv_unref(struct wm_http *srv)
{
	if (--srv->open_handles > 0 || !srv->closing)
		return;
	void (*cb)(void *) = srv->done_cb;
	void *data = srv->done_data;
	for (size_t i = 0; i < srv->n_mounts; i++)
		free(srv->mounts[i].prefix);
	free(srv->mounts);
	free(srv);
	if (cb)
		cb(data);
}

static void handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->closing > 0)
		return;
	struct wm_http *srv = c->srv;
	free(c->in);
	free(c);
	srv_unref(srv);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = 2;
	struct wm_http *srv = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	req_free(c->parsing);
	c->parsing = NULL;
	struct wm_http_req *r = c->active;
	c->active = NULL;
	if (r) {
		/* the handler still owns it: it learns, and frees it when it finishes */
		r->c = NULL;
		if (r->on_close && !r->finishing)
			r->on_close(r->on_close_data);
	}
	uv_close((uv_handle_t *)&c->timer, handle_closed);
	uv_close(&c->h.handle, handle_closed);
}

static void idle_cb(uv_timer_t *t)
{
	conn_close(t->data);
}

static size_t source_count(const struct wm_http *srv, const char *source)
{
	size_t n = 0;
	for (const struct conn *c = srv->conns; c; c = c->next)
		n += strcmp(c->source, source) == 0;
	return n;
}

static void peer_name(uv_tcp_t *t, char *out, size_t len)
{
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	snprintf(out, len, "unknown");
	if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &sl))
		return;
	char ip[INET6_ADDRSTRLEN] = ""; /* fits out: WM_SOURCE_KEY_MAX */
	if (ss.ss_family == AF_INET)
		uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
	else
		uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
	struct wm_prefix p;
	if (wm_prefix_parse(ip, &p) == 0) {
		wm_prefix_unmap(&p);
		wm_prefix_format_addr(&p, out, len);
	} else {
		snprintf(out, len, "%s", ip);
	}
}

/* The address the connection came in on, not the listener's: a listener on
 * 0.0.0.0 or :: takes loopback connections too, which a rebinding page on
 * this machine reaches as 127.0.0.1. */
static bool arrived_on_loopback(uv_tcp_t *t)
{
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	if (uv_tcp_getsockname(t, (struct sockaddr *)&ss, &sl))
		return true; /* unknown: the stricter rule */
	if (ss.ss_family == AF_INET)
		return ((const uint8_t *)&((struct sockaddr_in *)&ss)->sin_addr)[0] == 127;
	const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

static void accept_cb(uv_stream_t *l, int status)
{
	struct wm_http *srv = l->data;
	if (status < 0 || srv->closing)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->srv = srv;
	uv_tcp_init(srv->cfg.loop, &c->h.tcp);
	uv_timer_init(srv->cfg.loop, &c->timer);
	c->h.handle.data = c;
	c->timer.data = c;
	srv->open_handles++;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;
	if (uv_accept(l, &c->h.stream)) {
		conn_close(c);
		return;
	}
	peer_name(&c->h.tcp, c->peer, sizeof(c->peer));
	c->local_loopback = arrived_on_loopback(&c->h.tcp);
	char with_port[WM_SOURCE_KEY_MAX + 8];
	snprintf(with_port, sizeof(with_port), strchr(c->peer, ':') ? "[%s]:0" : "%s:0", c->peer);
	if (wm_source_key(with_port, c->source))
		snprintf(c->source, sizeof(c->source), "%s", c->peer);
	/* over a limit: closed at once, before a byte is read */
	if (srv->n_conns > srv->cfg.max_connections ||
	    source_count(srv, c->source) > srv->cfg.max_connections_per_source) {
		conn_close(c);
		return;
	}
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	uv_timer_start(&c->timer, idle_cb, srv->cfg.idle_timeout_ms, srv->cfg.idle_timeout_ms);
	if (uv_read_start(&c->h.stream, alloc_cb, read_cb)) {
		conn_close(c);
		return;
	}
	c->reading = true;
}

/* ---- the server ---- */

int wm_http_new(const struct wm_http_config *cfg, struct wm_http **out)
{
	struct wm_http *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->cfg = *cfg;
	struct wm_http_config *c = &srv->cfg;
	c->max_connections = c->max_connections ? c->max_connections : DEF_MAX_CONN;
	c->max_connections_per_source = c->max_connections_per_source
						? c->max_connections_per_source
						: DEF_MAX_CONN_PER_SOURCE;
	c->max_header_bytes = c->max_header_bytes ? c->max_header_bytes : DEF_MAX_HEADER;
	c->max_body_bytes = c->max_body_bytes ? c->max_body_bytes : DEF_MAX_BODY;
	c->idle_timeout_ms = c->idle_timeout_ms ? c->idle_timeout_ms : DEF_IDLE_MS;
	c->max_pending_write = c->max_pending_write ? c->max_pending_write : DEF_MAX_PENDING;
	c->session_ttl_ms = c->session_ttl_ms ? c->session_ttl_ms : DEF_SESSION_TTL_MS;
	c->token_ttl_ms = c->token_ttl_ms ? c->token_ttl_ms : DEF_TOKEN_TTL_MS;
	wm_sessions_init(&srv->sessions, c->token_ttl_ms, c->session_ttl_ms);
	srv->settings = (http_parser_settings){
		.on_message_begin = on_message_begin,
		.on_url = on_url,
		.on_header_field = on_header_field,
		.on_header_value = on_header_value,
		.on_headers_complete = on_headers_complete,
		.on_body = on_body,
		.on_message_complete = on_message_complete,
	};
	uv_tcp_init(c->loop, &srv->listener);
	srv->listener.data = srv;
	srv->open_handles = 1;
	*out = srv;
	return 0;
}

/* "IP:PORT" or "[IPv6]:PORT", port 0 allowed (tests pick a free one) */
static int parse_listen(const char *addr, struct wm_prefix *ip, uint16_t *port)
{
	char host[WM_PREFIX_STRLEN + 2];
	const char *colon = addr ? strrchr(addr, ':') : NULL;
	if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	char *h = host;
	if (h[0] == '[') {
		size_t n = strlen(h);
		if (n < 3 || h[n - 1] != ']')
			return -EINVAL;
		h[n - 1] = '\0';
		h++;
	} else if (strchr(h, ':')) {
		return -EINVAL; /* IPv6 needs its brackets */
	}
	char *end;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || p > 65535 || colon[1] == '-' || colon[1] == '+')
		return -EINVAL;
	if (wm_prefix_parse(h, ip) < 0 || strchr(h, '/'))
		return -EINVAL;
	*port = (uint16_t)p;
	return 0;
}

int wm_http_listen(struct wm_http *srv, const char *addr)
{
	struct {
		struct wm_prefix ip;
		uint16_t port;
	} e;
	if (parse_listen(addr, &e.ip, &e.port) < 0)
		return -EINVAL;
	char ip[WM_PREFIX_STRLEN];
	wm_prefix_format_addr(&e.ip, ip, sizeof(ip));
	struct sockaddr_storage ss;
	int rc = e.ip.family == AF_INET ? uv_ip4_addr(ip, e.port, (struct sockaddr_in *)&ss)
					: uv_ip6_addr(ip, e.port, (struct sockaddr_in6 *)&ss);
	if (rc)
		return rc;
	if ((rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&ss, 0)))
		return rc;
	if ((rc = uv_listen((uv_stream_t *)&srv->listener, 128, accept_cb)))
		return rc;
	int sl = sizeof(ss);
	if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &sl) == 0)
		srv->port =
			ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	srv->listening = true;
	return 0;
}

uint16_t wm_http_port(const struct wm_http *srv)
{
	return srv ? srv->port : 0;
}

static void listener_closed(uv_handle_t *h)
{
	srv_unref(h->data);
}

void wm_http_close(struct wm_http *srv, void (*done_cb)(void *data), void *data)
{
	if (!srv) {
		if (done_cb)
			done_cb(data);
		return;
	}
	if (srv->closing)
		return;
	srv->closing = true;
	srv->done_cb = done_cb;
	srv->done_data = data;
	memset(&srv->sessions, 0, sizeof(srv->sessions));
	while (srv->conns)
		conn_close(srv->conns);
	uv_close((uv_handle_t *)&srv->listener, listener_closed);
}

/* ---- queries ---- */

int wm_http_query_get(const char *query, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	for (const char *p = query; p && *p;) {
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len >= nlen && strncmp(p, name, nlen) == 0 && (len == nlen || p[nlen] == '=')) {
			size_t o = 0;
			for (size_t i = nlen + (len > nlen); i < len; i++) {
				char ch = p[i];
				if (ch == '%') {
					if (i + 2 >= len)
						return -EINVAL;
					int hi = wm_hex_digit(p[i + 1]),
					    lo = wm_hex_digit(p[i + 2]);
					if (hi < 0 || lo < 0)
						return -EINVAL;
					ch = (char)(hi * 16 + lo);
					i += 2;
				} else if (ch == '+') {
					ch = ' ';
				}
				if (ch == '\0' || o + 1 >= outlen)
					return -EINVAL;
				out[o++] = ch;
			}
			out[o] = '\0';
			return 0;
		}
		p = end ? end + 1 : NULL;
	}
	return -ENOENT;
}
