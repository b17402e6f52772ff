/* libraft's transport for webmesh. A Raft connection is TCP, then TLS 1.3
 * with an ephemeral self-signed certificate that nobody verifies, then one
 * hello each way (core/raft_hello.h): node ID, raft ID, address and
 * HMAC(K, "webmesh-raft-v1\n" ROLE "\n" EXPORTER), K shared by the two
 * nodes' WireGuard keys. The exporter binds the MAC to this TLS session, so
 * a man in the middle holding two sessions cannot relay it; the key binds it
 * to the two nodes. The acceptor takes only current voters and observers.
 *
 * libraft then gets a plain stream: one end of a socketpair, whose other end
 * this file pumps through TLS. libraft's own TCP transport did its handshake
 * (protocol, ID, address) inside the transport too, so libraft reads and
 * writes exactly as before. Until a hello is verified nothing reaches
 * libraft: a refused connection is closed and logged, once per source and
 * reason. */
#include "store/raft_transport.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <uv.h>

#include "core/net.h"
#include "core/raft_hello.h"
#include "store/store.h"
#include "util/crypto.h"

#define KEEPALIVE_S 2
/* A SYN that gets no answer in this time went to a peer that is down or cut
 * off: give up, and libraft tries again after its retry delay (store.c).
 * Waiting longer only waits for the kernel's SYN retransmits, which back off
 * (1 s, 3 s, 7 s...): a peer that came back would wait for the next one.
 * On the overlay a live peer answers in milliseconds. */
#define SYN_TIMEOUT_MS 700
#define READ_CHUNK 16384
/* Bytes queued towards one side before the other side stops being read:
 * a slow peer or a slow libraft cannot make us buffer more than this. */
#define QUEUE_HIGH (256 * 1024)
#define QUEUE_LOW (64 * 1024)
/* Connections that have not finished their hello; more are refused. */
#define MAX_UNAUTHENTICATED 32
#define LOGGED_SLOTS 64

enum conn_state { ST_TCP, ST_TLS, ST_HELLO, ST_PUMP, ST_CLOSED };

struct tp;

struct conn {
	struct tp *tp;
	struct conn *prev, *next;
	bool client;
	enum conn_state state;
	uv_tcp_t tcp;
	uv_pipe_t pipe;	     /* our end of the socketpair */
	uv_pipe_t *raft_end; /* libraft's end, until handed over */
	uv_connect_t connect;
	uv_timer_t timer;
	int handles; /* still open: free once 0 */
	bool pipe_open;
	SSL *ssl;
	BIO *rbio, *wbio; /* network -> TLS, TLS -> network */
	bool first_byte_seen;
	char peer[64]; /* source or target, for the log */
	/* connector: what libraft asked for */
	struct raft_uv_connect *req;
	raft_uv_connect_cb cb;
	raft_id want_id;
	/* the peer, once known (connector: before connecting) */
	char peer_id[WM_NODE_ID_MAX + 1];
	uint8_t peer_pub[32];
	struct wm_raft_hello hello;
	uint8_t in[1024]; /* plaintext before the pump starts */
	size_t in_len;
	size_t tcp_queued, pipe_queued;
	bool tcp_paused, pipe_paused;
	char rbuf[READ_CHUNK];
	char pbuf[READ_CHUNK];
};

struct wreq {
	uv_write_t w;
	struct conn *c;
	bool to_tcp;
	size_t len;
	char data[];
};

struct tp {
	uv_loop_t *loop;
	char node_id[WM_NODE_ID_MAX + 1];
	raft_id id;
	char address[WM_RAFT_ADDRESS_MAX + 1];
	uint8_t priv[32];
	wm_raft_identify_fn identify;
	wm_raft_log_fn log;
	void *data;
	unsigned user_timeout_ms, handshake_timeout_ms;
	SSL_CTX *server_ctx, *client_ctx;
	uv_tcp_t listener;
	bool listening;
	raft_uv_accept_cb accept_cb;
	struct conn *conns;
	unsigned n_unauth;
	bool closing;
	raft_uv_transport_close_cb close_cb;
	struct raft_uv_transport *t;
	uint64_t logged[LOGGED_SLOTS];
	unsigned logged_next;
};

static void conn_close(struct conn *c, int status);
static void read_plain(struct conn *c);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void pipe_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* FNV-1a: only to recognise a (source, reason) pair logged before. */
static uint64_t hash_str(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
	return h;
}

/* kind: what makes two refusals the same, e.g. their format string (a peer
 * varying the node ID it claims must not make every attempt a new line). */
static void log_once(struct tp *tp, const char *source, const char *kind, const char *msg)
{
	if (!tp->log)
		return;
	uint64_t h = hash_str(hash_str(0xcbf29ce484222325ULL, source), kind);
	for (unsigned i = 0; i < LOGGED_SLOTS; i++)
		if (tp->logged[i] == h)
			return;
	tp->logged[tp->logged_next] = h;
	tp->logged_next = (tp->logged_next + 1) % LOGGED_SLOTS;
	tp->log(tp->data, msg);
}

/* Refuses the connection: logs why (once per source and kind) and closes. */
static void refuse(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(struct conn *c, const char *fmt, ...)
{
	char why[256], msg[400];
	va_list ap;

	if (c->state == ST_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (c->client)
		snprintf(msg, sizeof(msg), "raft: connection to %s refused: %s", c->peer, why);
	else
		snprintf(msg, sizeof(msg), "raft: connection from %s refused: %s", c->peer, why);
	log_once(c->tp, c->peer, fmt, msg);
	conn_close(c, RAFT_NOCONNECTION);
}

static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	return r ? r : "connection closed";
}

static void handle_closed_cb(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct tp *tp = c->tp;

	if (--c->handles > 0)
		return;
	SSL_free(c->ssl); /* frees both BIOs */
	if (c->prev)
		c->prev->next = c->next;
	else
		tp->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
	if (tp->closing && !tp->conns && !tp->listening && tp->close_cb) {
		raft_uv_transport_close_cb cb = tp->close_cb;
		tp->close_cb = NULL;
		cb(tp->t);
	}
}

static void raft_end_closed_cb(uv_handle_t *h)
{
	raft_free(h);
}

/* Closes everything of c; a connector's callback gets status unless libraft
 * already has the stream. */
static void conn_close(struct conn *c, int status)
{
	if (c->state == ST_CLOSED)
		return;
	if (!c->client && c->state != ST_PUMP)
		c->tp->n_unauth--;
	c->state = ST_CLOSED;
	if (c->client && c->cb) {
		raft_uv_connect_cb cb = c->cb;
		c->cb = NULL;
		cb(c->req, NULL, c->tp->closing ? RAFT_CANCELED : status);
	}
	if (c->raft_end) {
		uv_close((uv_handle_t *)c->raft_end, raft_end_closed_cb);
		c->raft_end = NULL;
	}
	if (c->pipe_open)
		uv_close((uv_handle_t *)&c->pipe, handle_closed_cb);
	uv_close((uv_handle_t *)&c->timer, handle_closed_cb);
	uv_close((uv_handle_t *)&c->tcp, handle_closed_cb);
}

static void write_cb(uv_write_t *w, int status)
{
	struct wreq *r = (struct wreq *)w;
	struct conn *c = r->c;
	bool to_tcp = r->to_tcp;
	size_t len = r->len;

	free(r);
	if (c->state == ST_CLOSED)
		return;
	if (status < 0) {
		conn_close(c, RAFT_NOCONNECTION);
		return;
	}
	if (to_tcp) {
		c->tcp_queued -= len;
		if (c->pipe_paused && c->tcp_queued < QUEUE_LOW) {
			c->pipe_paused = false;
			uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, pipe_read_cb);
		}
	} else {
		c->pipe_queued -= len;
		if (c->tcp_paused && c->pipe_queued < QUEUE_LOW) {
			c->tcp_paused = false;
			read_plain(c); /* what TLS still holds first */
		}
	}
}

/* Queues a copy of data on the TCP connection or our end of the pipe. */
static int queue_write(struct conn *c, bool to_tcp, const void *data, size_t len)
{
	struct wreq *r = malloc(sizeof(*r) + len);
	if (!r)
		return -ENOMEM;
	r->c = c;
	r->to_tcp = to_tcp;
	r->len = len;
	memcpy(r->data, data, len);
	uv_buf_t b = uv_buf_init(r->data, (unsigned)len);
	int rc = uv_write(&r->w, to_tcp ? (uv_stream_t *)&c->tcp : (uv_stream_t *)&c->pipe, &b, 1,
			  write_cb);
	if (rc < 0) {
		free(r);
		return rc;
	}
	if (to_tcp)
		c->tcp_queued += len;
	else
		c->pipe_queued += len;
	return 0;
}

/* Sends what TLS wrote into its output BIO. */
static int flush_tls(struct conn *c)
{
	char buf[READ_CHUNK];
	int n;

	while ((n = BIO_read(c->wbio, buf, sizeof(buf))) > 0) {
		int rc = queue_write(c, true, buf, (size_t)n);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)suggested;
	if (h == (uv_handle_t *)&c->tcp)
		*buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
	else
		*buf = uv_buf_init(c->pbuf, sizeof(c->pbuf));
}

static void pipe_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	if (c->state != ST_PUMP || n == 0)
		return;
	if (n < 0) { /* libraft closed its end */
		conn_close(c, 0);
		return;
	}
	/* A memory BIO takes everything: SSL_write cannot want to write. */
	ERR_clear_error();
	if (SSL_write(c->ssl, buf->base, (int)n) != (int)n || flush_tls(c) < 0) {
		conn_close(c, 0);
		return;
	}
	if (c->tcp_queued > QUEUE_HIGH) {
		c->pipe_paused = true;
		uv_read_stop((uv_stream_t *)&c->pipe);
	}
}

static void tcp_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* Gives libraft its end of a socketpair; ours goes through TLS. */
static int start_pump(struct conn *c)
{
	struct tp *tp = c->tp;
	int fds[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		return -errno;
	c->raft_end = raft_malloc(sizeof(*c->raft_end));
	if (!c->raft_end) {
		close(fds[0]);
		close(fds[1]);
		return -ENOMEM;
	}
	uv_pipe_init(tp->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->pipe_open = true;
	c->handles++;
	uv_pipe_init(tp->loop, c->raft_end, 0);
	int rc = uv_pipe_open(&c->pipe, fds[0]);
	if (rc < 0) {
		close(fds[0]);
		close(fds[1]);
		return rc;
	}
	rc = uv_pipe_open(c->raft_end, fds[1]);
	if (rc < 0) {
		close(fds[1]);
		return rc;
	}
	rc = uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, pipe_read_cb);
	if (rc < 0)
		return rc;
	uv_timer_stop(&c->timer);
	c->state = ST_PUMP;
	if (!c->client)
		tp->n_unauth--;
	/* What arrived behind the hello is libraft's already. */
	if (c->in_len > 0) {
		rc = queue_write(c, false, c->in, c->in_len);
		c->in_len = 0;
	}
	return rc;
}

static int exporter(struct conn *c, uint8_t out[WM_RAFT_EXPORTER_LEN])
{
	static const char label[] = WM_RAFT_EXPORTER_LABEL;
	return SSL_export_keying_material(c->ssl, out, WM_RAFT_EXPORTER_LEN, label,
					  sizeof(label) - 1, NULL, 0, 0) == 1
		       ? 0
		       : -EIO;
}

/* The MAC role's side of this session sends, under the key we share with
 * peer_pub. */
static int make_mac(struct conn *c, const char *role, uint8_t mac[WM_RAFT_MAC_LEN])
{
	uint8_t k[32], ex[WM_RAFT_EXPORTER_LEN], in[WM_RAFT_MAC_INPUT_MAX];
	int rc = exporter(c, ex);
	if (rc == 0)
		rc = wm_node_shared_key(c->tp->priv, c->peer_pub, WM_RAFT_HELLO_LABEL, k);
	int n = rc == 0 ? wm_raft_mac_input(role, ex, in) : rc;
	rc = n < 0 ? n : wm_hmac_sha256(k, in, (size_t)n, mac);
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

static int send_hello(struct conn *c)
{
	struct tp *tp = c->tp;
	struct wm_raft_hello h;
	uint8_t buf[WM_RAFT_HELLO_MAX];

	memset(&h, 0, sizeof(h));
	snprintf(h.node_id, sizeof(h.node_id), "%s", tp->node_id);
	snprintf(h.address, sizeof(h.address), "%s", tp->address);
	h.raft_id = tp->id;
	int rc = make_mac(c, c->client ? "client" : "server", h.mac);
	int n = rc < 0 ? rc : wm_raft_hello_encode(&h, buf);
	if (n < 0)
		return n;
	if (SSL_write(c->ssl, buf, n) != n)
		return -EIO;
	return flush_tls(c);
}

/* Checks the peer's hello; 0, or refuses the connection and returns -1. */
static int check_hello(struct conn *c, const struct wm_raft_hello *h)
{
	struct tp *tp = c->tp;
	uint8_t mac[WM_RAFT_MAC_LEN];

	if (h->raft_id != wm_store_raft_id(h->node_id)) {
		refuse(c, "raft ID %llx is not that of node %s", (unsigned long long)h->raft_id,
		       h->node_id);
		return -1;
	}
	if (c->client) {
		if (h->raft_id != c->want_id || strcmp(h->node_id, c->peer_id) != 0) {
			refuse(c, "reached node %s, not node %s (raft ID %llx)", h->node_id,
			       c->peer_id, (unsigned long long)c->want_id);
			return -1;
		}
	} else {
		char id[WM_NODE_ID_MAX + 1];
		bool is_server = false;
		if (tp->identify(tp->data, h->raft_id, id, c->peer_pub, &is_server) != 0 ||
		    strcmp(id, h->node_id) != 0) {
			refuse(c, "node %s is unknown", h->node_id);
			return -1;
		}
		if (!is_server) {
			refuse(c, "node %s is not a voter or observer", h->node_id);
			return -1;
		}
		snprintf(c->peer_id, sizeof(c->peer_id), "%s", h->node_id);
	}
	if (make_mac(c, c->client ? "server" : "client", mac) < 0) {
		refuse(c, "cannot compute the MAC for node %s", h->node_id);
		return -1;
	}
	if (!wm_ct_equal(mac, h->mac, sizeof(mac))) {
		refuse(c, "node %s did not prove its WireGuard key", h->node_id);
		return -1;
	}
	return 0;
}

/* A hello arrived in c->in (or part of one). */
static void take_hello(struct conn *c)
{
	struct tp *tp = c->tp;
	const char *why = "?";
	int n = c->in_len ? wm_raft_hello_parse(c->in, c->in_len, &c->hello, &why) : -EAGAIN;

	if (n == -EAGAIN) {
		if (c->in_len == sizeof(c->in))
			refuse(c, "hello too long");
		return;
	}
	if (n < 0) {
		refuse(c, "bad hello: %s", why);
		return;
	}
	memmove(c->in, c->in + n, c->in_len - (size_t)n);
	c->in_len -= (size_t)n;
	if (check_hello(c, &c->hello) < 0)
		return;
	if (!c->client && send_hello(c) < 0) {
		conn_close(c, RAFT_NOCONNECTION);
		return;
	}
	if (start_pump(c) < 0) {
		conn_close(c, RAFT_NOCONNECTION);
		return;
	}
	uv_stream_t *stream = (uv_stream_t *)c->raft_end;
	c->raft_end = NULL; /* libraft's from here on: it closes and frees it */
	if (c->client) {
		raft_uv_connect_cb cb = c->cb;
		c->cb = NULL;
		cb(c->req, stream, 0);
	} else {
		tp->accept_cb(tp->t, c->hello.raft_id, c->hello.address, stream);
	}
}

/* Moves plaintext out of TLS: into c->in before the pump, to libraft after. */
static void read_plain(struct conn *c)
{
	char buf[READ_CHUNK];

	while (c->state == ST_HELLO || (c->state == ST_PUMP && !c->tcp_paused)) {
		size_t room = c->state == ST_HELLO ? sizeof(c->in) - c->in_len : sizeof(buf);
		if (room == 0) {
			take_hello(c);
			return;
		}
		ERR_clear_error();
		int n = SSL_read(c->ssl, c->state == ST_HELLO ? (char *)c->in + c->in_len : buf,
				 (int)room);
		if (n <= 0) {
			int e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_WANT_READ)
				break;
			if (c->state == ST_PUMP)
				conn_close(c, 0);
			else
				refuse(c, "TLS failed before the hello: %s", ssl_reason());
			return;
		}
		if (c->state == ST_HELLO) {
			c->in_len += (size_t)n;
			take_hello(c);
			continue;
		}
		if (queue_write(c, false, buf, (size_t)n) < 0) {
			conn_close(c, 0);
			return;
		}
		if (c->pipe_queued > QUEUE_HIGH)
			c->tcp_paused = true;
	}
	if (c->state == ST_CLOSED)
		return;
	if (flush_tls(c) < 0) {
		conn_close(c, RAFT_NOCONNECTION);
		return;
	}
	if (c->state == ST_PUMP) {
		if (c->tcp_paused)
			uv_read_stop((uv_stream_t *)&c->tcp);
		else
			uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, tcp_read_cb);
	}
}

static void drive(struct conn *c)
{
	if (c->state == ST_TLS) {
		ERR_clear_error();
		int r = SSL_do_handshake(c->ssl);
		if (flush_tls(c) < 0) {
			conn_close(c, RAFT_NOCONNECTION);
			return;
		}
		if (r != 1) {
			if (SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ)
				refuse(c, "TLS handshake failed: %s", ssl_reason());
			return;
		}
		c->state = ST_HELLO;
		if (c->client && send_hello(c) < 0) {
			refuse(c, "cannot send the hello");
			return;
		}
	}
	read_plain(c);
}

static void tcp_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	if (c->state == ST_CLOSED || n == 0)
		return;
	if (n < 0) {
		if (c->state == ST_PUMP)
			conn_close(c, 0);
		else
			refuse(c, "closed by the peer before the hello (%s)", uv_err_name((int)n));
		return;
	}
	/* Every TLS connection opens with a handshake record (22); libraft's
	 * own handshake opens with protocol version 1. Say which it was. */
	if (!c->first_byte_seen) {
		c->first_byte_seen = true;
		if ((uint8_t)buf->base[0] != 22) {
			refuse(c, "not TLS (first byte 0x%02x)", (uint8_t)buf->base[0]);
			return;
		}
	}
	if (BIO_write(c->rbio, buf->base, (int)n) != (int)n) {
		conn_close(c, RAFT_NOCONNECTION);
		return;
	}
	drive(c);
}

static void timer_cb(uv_timer_t *t)
{
	struct conn *c = t->data;
	/* A peer that never answered the SYN is down or cut off: libraft
	 * retries, and there is no refusal to report. */
	if (c->client && c->state == ST_TCP)
		conn_close(c, RAFT_NOCONNECTION);
	else
		refuse(c, "no hello within %u ms", c->tp->handshake_timeout_ms);
}

static void tune(struct conn *c)
{
	uv_os_fd_t fd;
	if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
		unsigned ms = c->tp->user_timeout_ms;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
	}
	(void)uv_tcp_keepalive(&c->tcp, 1, KEEPALIVE_S);
	(void)uv_tcp_nodelay(&c->tcp, 1);
}

static struct conn *conn_new(struct tp *tp, bool client)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->tp = tp;
	c->client = client;
	c->state = ST_TCP;
	c->ssl = SSL_new(client ? tp->client_ctx : tp->server_ctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (!c->ssl || !c->rbio || !c->wbio) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	if (client)
		SSL_set_connect_state(c->ssl);
	else
		SSL_set_accept_state(c->ssl);
	uv_tcp_init(tp->loop, &c->tcp);
	uv_timer_init(tp->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->handles = 2;
	c->next = tp->conns;
	if (tp->conns)
		tp->conns->prev = c;
	tp->conns = c;
	if (!client)
		tp->n_unauth++; /* incoming, until its hello is verified */
	uv_timer_start(&c->timer, timer_cb,
		       client && tp->handshake_timeout_ms > SYN_TIMEOUT_MS
			       ? SYN_TIMEOUT_MS
			       : tp->handshake_timeout_ms,
		       0);
	return c;
}

static struct tp *tp_of(struct raft_uv_transport *t)
{
	return t->impl;
}

static int tp_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
	struct tp *tp = tp_of(t);
	if (strlen(address) > WM_RAFT_ADDRESS_MAX)
		return RAFT_INVALID;
	tp->id = id;
	snprintf(tp->address, sizeof(tp->address), "%s", address);
	return 0;
}

/* Raft addresses are mesh IPv4 endpoints: core/net.h owns their syntax (this
 * used strtol, which took "+9000" and " 9000"). */
static int parse_addr(const char *address, struct sockaddr_in *sa)
{
	struct wm_endpoint e;
	if (wm_endpoint_parse(address, &e) < 0 || e.ip.family != AF_INET)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(e.port);
	memcpy(&sa->sin_addr, e.ip.addr, 4);
	return 0;
}

static void free_handle_cb(uv_handle_t *h)
{
	free(h);
}

static void accept_conn_cb(uv_stream_t *server, int status)
{
	struct tp *tp = server->data;

	if (status < 0 || tp->closing)
		return;
	struct conn *c = conn_new(tp, false);
	if (!c) {
		/* Take the connection off the backlog anyway: libuv stops
		 * listening while one waits to be accepted. */
		uv_tcp_t *tmp = malloc(sizeof(*tmp));
		if (!tmp)
			return;
		uv_tcp_init(tp->loop, tmp);
		(void)uv_accept(server, (uv_stream_t *)tmp);
		uv_close((uv_handle_t *)tmp, free_handle_cb);
		return;
	}
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c, 0);
		return;
	}
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	snprintf(c->peer, sizeof(c->peer), "?");
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
		/* Named as the RPC layer names peers (IPv4-mapped as IPv4), so that
		 * the refusal log counts one host once. */
		struct wm_endpoint e = {0};
		if (ss.ss_family == AF_INET6) {
			e.ip.family = AF_INET6;
			e.ip.len = 128;
			memcpy(e.ip.addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
			wm_prefix_unmap(&e.ip);
		} else if (ss.ss_family == AF_INET) {
			e.ip.family = AF_INET;
			e.ip.len = 32;
			memcpy(e.ip.addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
		}
		if (e.ip.family)
			wm_prefix_format_addr(&e.ip, c->peer, sizeof(c->peer));
	}
	if (tp->n_unauth > MAX_UNAUTHENTICATED) {
		refuse(c, "more than %d connections waiting for their hello", MAX_UNAUTHENTICATED);
		return;
	}
	tune(c);
	c->state = ST_TLS;
	if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, tcp_read_cb) < 0)
		conn_close(c, 0);
}

static int tp_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	struct tp *tp = tp_of(t);
	struct sockaddr_in sa;
	int rc = parse_addr(tp->address, &sa);
	if (rc < 0) {
		snprintf(t->errmsg, sizeof(t->errmsg), "bad raft address %s", tp->address);
		return RAFT_INVALID;
	}
	tp->accept_cb = cb;
	uv_tcp_init(tp->loop, &tp->listener);
	tp->listener.data = tp;
	tp->listening = true;
	rc = uv_tcp_bind(&tp->listener, (struct sockaddr *)&sa, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&tp->listener, 128, accept_conn_cb);
	if (rc < 0) {
		snprintf(t->errmsg, sizeof(t->errmsg), "listen on %s: %s", tp->address,
			 uv_strerror(rc));
		return RAFT_IOERR;
	}
	return 0;
}

static void connected_cb(uv_connect_t *req, int status)
{
	struct conn *c = req->data;

	if (c->state == ST_CLOSED)
		return;
	if (status < 0) {
		/* A peer that is down is libraft's business (it retries), not a
		 * refusal worth a log line. */
		conn_close(c, RAFT_NOCONNECTION);
		return;
	}
	tune(c);
	c->state = ST_TLS;
	/* Connected: the rest of the handshake gets its own time. */
	uv_timer_start(&c->timer, timer_cb, c->tp->handshake_timeout_ms, 0);
	if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, tcp_read_cb) < 0) {
		conn_close(c, RAFT_NOCONNECTION);
		return;
	}
	drive(c); /* the ClientHello */
}

static int tp_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
		      const char *address, raft_uv_connect_cb cb)
{
	struct tp *tp = tp_of(t);
	struct sockaddr_in sa;
	char peer_id[WM_NODE_ID_MAX + 1];
	uint8_t pub[32];
	bool is_server = false;

	if (tp->closing)
		return RAFT_CANCELED;
	if (parse_addr(address, &sa) < 0)
		return RAFT_NOCONNECTION;
	/* Without the peer's key we cannot prove anything to it. */
	if (tp->identify(tp->data, id, peer_id, pub, &is_server) != 0) {
		char msg[200];
		snprintf(msg, sizeof(msg), "raft: no WireGuard key known for raft ID %llx at %s",
			 (unsigned long long)id, address);
		log_once(tp, address, "no key", msg);
		return RAFT_NOCONNECTION;
	}
	struct conn *c = conn_new(tp, true);
	if (!c)
		return RAFT_NOMEM;
	snprintf(c->peer, sizeof(c->peer), "%s", address);
	snprintf(c->peer_id, sizeof(c->peer_id), "%s", peer_id);
	memcpy(c->peer_pub, pub, sizeof(pub));
	c->want_id = id;
	c->connect.data = c;
	int rc = uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&sa, connected_cb);
	if (rc < 0) {
		conn_close(c, 0); /* no callback: we return the error */
		return RAFT_NOCONNECTION;
	}
	c->req = req;
	c->cb = cb;
	return 0;
}

static void listener_closed_cb(uv_handle_t *h)
{
	struct tp *tp = h->data;
	tp->listening = false;
	if (!tp->conns && tp->close_cb) {
		raft_uv_transport_close_cb cb = tp->close_cb;
		tp->close_cb = NULL;
		cb(tp->t);
	}
}

static void tp_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
	struct tp *tp = tp_of(t);

	tp->closing = true;
	tp->close_cb = cb;
	/* Pending connects get RAFT_CANCELED from conn_close. */
	for (struct conn *c = tp->conns; c; c = c->next)
		conn_close(c, RAFT_CANCELED);
	if (tp->listening)
		uv_close((uv_handle_t *)&tp->listener, listener_closed_cb);
	else if (!tp->conns) {
		tp->close_cb = NULL;
		cb(t);
	}
}

static SSL_CTX *new_ctx(bool server, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;

	if (!ctx)
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (!server)
		return ctx;
	SSL_CTX_set_num_tickets(ctx, 0);
	/* TLS 1.3 needs a server certificate; nobody checks it (the hello's MAC
	 * over the exporter authenticates), so one per process, made here. */
	key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	cert = X509_new();
	if (!key || !cert)
		goto fail;
	uint8_t serial[8];
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert))) {
		BN_free(bn);
		goto fail;
	}
	BN_free(bn);
	X509_NAME *name = X509_get_subject_name(cert);
	if (X509_set_version(cert, 2) != 1 || !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), 3600L * 24 * 365 * 10) ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				       (const unsigned char *)"webmesh-raft", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(cert, name) != 1 || X509_set_pubkey(cert, key) != 1 ||
	    X509_sign(cert, key, NULL) <= 0 || SSL_CTX_use_certificate(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1)
		goto fail;
	X509_free(cert);
	EVP_PKEY_free(key);
	return ctx;
fail:
	snprintf(err, errlen, "raft TLS setup: %s", ssl_reason());
	X509_free(cert);
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx);
	return NULL;
}

int wm_raft_transport_init(struct raft_uv_transport *t, const struct wm_raft_transport_config *cfg,
			   char *err, size_t errlen)
{
	if (!cfg->loop || !cfg->node_id || !cfg->wg_private_key || !cfg->identify ||
	    strlen(cfg->node_id) > WM_NODE_ID_MAX) {
		snprintf(err, errlen,
			 "raft transport: the node ID, WireGuard private key and "
			 "peer lookup are required");
		return -EINVAL;
	}
	struct tp *tp = calloc(1, sizeof(*tp));
	if (!tp)
		return -ENOMEM;
	tp->loop = cfg->loop;
	snprintf(tp->node_id, sizeof(tp->node_id), "%s", cfg->node_id);
	memcpy(tp->priv, cfg->wg_private_key, sizeof(tp->priv));
	tp->identify = cfg->identify;
	tp->log = cfg->log;
	tp->data = cfg->data;
	tp->user_timeout_ms = cfg->user_timeout_ms ? cfg->user_timeout_ms : 5000;
	tp->handshake_timeout_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : 5000;
	tp->server_ctx = new_ctx(true, err, errlen);
	tp->client_ctx = tp->server_ctx ? new_ctx(false, err, errlen) : NULL;
	if (!tp->client_ctx) {
		SSL_CTX_free(tp->server_ctx);
		OPENSSL_cleanse(tp->priv, sizeof(tp->priv));
		free(tp);
		return -EIO;
	}
	tp->t = t;
	t->impl = tp;
	t->init = tp_init;
	t->listen = tp_listen;
	t->connect = tp_connect;
	t->close = tp_close;
	return 0;
}

void wm_raft_transport_free(struct raft_uv_transport *t)
{
	struct tp *tp = t ? tp_of(t) : NULL;
	if (!tp)
		return;
	SSL_CTX_free(tp->server_ctx);
	SSL_CTX_free(tp->client_ctx);
	OPENSSL_cleanse(tp->priv, sizeof(tp->priv));
	free(tp);
	t->impl = NULL;
}
