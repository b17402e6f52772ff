/* The libp2p host on libuv (see host.h). One connection moves through
 * multistream-select for /noise, the Noise XX handshake, multistream-select
 * for /yamux/1.0.0 inside the secure channel, then yamux; its streams speak
 * identify, identify push and ping. Everything a peer sends is bounded: a
 * connection's buffers, its streams (yamux), a stream's buffer and the
 * number of protocols it may propose. */
#include "p2p/host.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/error.h"
#include "p2p/identify.h"
#include "p2p/noise.h"
#include "core/p2pwire.h"
#include "p2p/yamux.h"
#include "util/fsutil.h"
#include "util/log.h"

#define YAMUX_PROTOCOL "/yamux/1.0.0"
#define IDPUSH_PROTOCOL "/ipfs/id/push/1.0.0"
#define PROTOCOL_VERSION "ipfs/0.1.0"
#define PING_LEN 32
#define STREAM_BUF_MAX (WM_IDENTIFY_MAX + 2 * WM_MS_MAX)
#define MAX_PROPOSALS 8 /* "na" answers before a stream or connection is dropped */
#define HANDSHAKE_TIMEOUT_MS 20000
#define WRITE_QUEUE_MAX (4u * 1024u * 1024u) /* bytes queued to one peer */
#define REDIAL_MIN_MS 1000
#define REDIAL_MAX_MS 60000

enum cstate { C_CONNECTING, C_MS_SEC, C_NOISE, C_MS_MUX, C_MUX, C_CLOSING };
enum sproto { S_NEG, S_IDENTIFY, S_IDPUSH, S_PING, S_HANDLER };

struct stream {
	struct stream *next;
	uint32_t id;
	bool outbound;
	bool header_seen;
	enum sproto proto;
	enum sproto want; /* outbound: what we proposed */
	int proposals;
	uint8_t *buf;
	size_t n;
	uint8_t ping[PING_LEN];
	uint64_t ping_sent_ns;
	/* S_HANDLER: a registered protocol's stream (wm_p2p_register) */
	struct conn *conn;
	const struct wm_p2p_proto *handler;
	void *ud;
};

struct dial;

struct conn {
	struct conn *next;
	struct wm_p2p *host;
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_timer_t timer; /* handshake deadline */
	enum cstate state;
	bool outbound;
	bool header_seen;
	int proposals;
	struct dial *dial; /* the configured peer this connection serves, or NULL */
	uint8_t *in;	   /* received, not yet processed (raw, or plaintext in C_MS_MUX) */
	size_t nin, capin;
	uint8_t *plain;
	size_t nplain;
	struct wm_noise_hs hs;
	struct wm_noise_cs tx, rx;
	struct wm_yamux y;
	bool y_init;
	struct wm_peer_id peer;
	bool peer_known;
	struct stream *streams;
	struct wm_identify ident;
	bool identified;
	int64_t rtt_us;
	uint8_t remote[WM_MADDR_MAX];
	size_t remote_len;
	uint8_t src[9]; /* inbound: family, then the IPv4 address or the IPv6 /64 */
	int closing_handles;
};

struct dial {
	struct wm_p2p *host;
	struct wm_maddr_tcp addr;
	char text[WM_MADDR_TEXT_MAX];
	struct conn *conn;
	uv_timer_t timer;
	uint32_t backoff_ms;
};

struct listener {
	struct wm_p2p *host;
	uv_tcp_t tcp;
	uint8_t addr[WM_MADDR_MAX]; /* as bound, port resolved */
	size_t addr_len;
};

struct wm_p2p {
	uv_loop_t *loop;
	uint8_t seed[32];
	uint8_t pk[32];
	struct wm_peer_id id;
	char agent[WM_IDENTIFY_STR];
	uint32_t ping_interval_ms, max_conns, max_streams;
	struct listener *listeners;
	size_t nlisteners;
	struct dial *dials;
	size_t ndials;
	struct conn *conns;
	size_t nconns;
	size_t ninbound; /* the part of nconns that max_conns bounds */
	uv_timer_t ping_timer;
	bool closing;
	int pending_closes;
	void (*done_cb)(void *data);
	void *done_data;
	const struct wm_p2p_proto *handlers[WM_P2P_MAX_HANDLERS];
	size_t nhandlers;
};

static void conn_close(struct conn *c, const char *why);
static void stream_on_data(struct conn *c, struct stream *s);

static int random_bytes(void *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -EIO;
}

/* ---- identity ---- */

static int load_identity(struct wm_p2p *p, const char *path, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int rc = wm_read_file(path, 64, &buf, &len);

	if (rc == -ENOENT) {
		if ((rc = random_bytes(p->seed, sizeof(p->seed))) ||
		    (rc = wm_write_file_atomic(path, p->seed, sizeof(p->seed), 0600))) {
			wm_seterr(err, errlen, "libp2p key %s: cannot create: %s", path,
				  strerror(-rc));
			return rc;
		}
		wm_info("libp2p: created the identity key %s", path);
	} else if (rc) {
		wm_seterr(err, errlen, "libp2p key %s: %s", path, strerror(-rc));
		return rc;
	} else {
		if (stat(path, &st) == 0 && (st.st_mode & 077)) {
			free(buf);
			wm_seterr(err, errlen,
				  "libp2p key %s: readable by others (mode %o); chmod 600 it", path,
				  (unsigned)(st.st_mode & 0777));
			return -EACCES;
		}
		if (len != sizeof(p->seed)) {
			OPENSSL_cleanse(buf, len);
			free(buf);
			wm_seterr(err, errlen,
				  "libp2p key %s: must hold the 32 bytes of an Ed25519 seed; "
				  "remove it "
				  "to make a new identity",
				  path);
			return -EINVAL;
		}
		memcpy(p->seed, buf, sizeof(p->seed));
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	if (wm_ed25519_public(p->seed, p->pk)) {
		wm_seterr(err, errlen, "libp2p key %s: not a usable Ed25519 seed", path);
		return -EINVAL;
	}
	wm_peer_id_from_pubkey(p->pk, &p->id);
	return 0;
}

/* ---- writing ---- */

struct wreq {
	uv_write_t req;
	uint8_t data[];
};

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = req->data;

	free(w);
	if (status < 0 && status != UV_ECANCELED && c->state != C_CLOSING)
		conn_close(c, uv_strerror(status));
}

/* Queues len bytes of w->data; w is the write's from now on. */
static void send_wreq(struct conn *c, struct wreq *w, size_t len)
{
	if (c->state == C_CLOSING) {
		free(w);
		return;
	}
	/* A peer that grants window but never reads would grow our queue
	 * (its pings echoed, say): past the bound, the connection goes. */
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + len > WRITE_QUEUE_MAX) {
		free(w);
		conn_close(c, "the peer does not read what we send");
		return;
	}
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
	w->req.data = c;
	int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
	if (rc) {
		free(w);
		conn_close(c, uv_strerror(rc));
	}
}

static void send_raw(struct conn *c, const uint8_t *buf, size_t len)
{
	if (c->state == C_CLOSING || len == 0)
		return;
	struct wreq *w = malloc(sizeof(*w) + len);
	if (!w) {
		conn_close(c, "out of memory");
		return;
	}
	memcpy(w->data, buf, len);
	send_wreq(c, w, len);
}

/* Plaintext over the Noise channel, in frames of at most 65535 bytes. */
static void send_secure(struct conn *c, const uint8_t *buf, size_t len)
{
	while (len && c->state != C_CLOSING) {
		size_t n = len > WM_NOISE_PLAIN_MAX ? WM_NOISE_PLAIN_MAX : len;
		/* Encrypted straight into the write's buffer: no copy after. */
		struct wreq *w = malloc(sizeof(*w) + 2 + n + WM_NOISE_TAG);
		if (!w || wm_noise_encrypt(&c->tx, NULL, 0, buf, n, w->data + 2)) {
			free(w);
			conn_close(c, "cannot encrypt");
			return;
		}
		w->data[0] = (uint8_t)((n + WM_NOISE_TAG) >> 8);
		w->data[1] = (uint8_t)(n + WM_NOISE_TAG);
		send_wreq(c, w, 2 + n + WM_NOISE_TAG);
		buf += n;
		len -= n;
	}
}

static void send_ms(struct conn *c, const char *text, bool secure)
{
	uint8_t b[WM_MS_MAX + WM_VARINT_MAX];
	int n = wm_ms_encode(text, b, sizeof(b));

	if (n < 0)
		return;
	if (secure)
		send_secure(c, b, (size_t)n);
	else
		send_raw(c, b, (size_t)n);
}

/* ---- streams ---- */

static struct stream *stream_find(struct conn *c, uint32_t id)
{
	for (struct stream *s = c->streams; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

static struct stream *stream_add(struct conn *c, uint32_t id, bool outbound)
{
	struct stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->id = id;
	s->outbound = outbound;
	s->conn = c;
	s->next = c->streams;
	c->streams = s;
	return s;
}

static void stream_free(struct conn *c, uint32_t id)
{
	for (struct stream **pp = &c->streams; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct stream *s = *pp;
			*pp = s->next;
			if (s->handler && s->handler->gone)
				s->handler->gone(s->ud);
			free(s->buf);
			free(s);
			return;
		}
	}
}

static void stream_reset(struct conn *c, struct stream *s)
{
	uint32_t id = s->id;

	wm_yamux_reset(&c->y, id);
	stream_free(c, id);
}

static void stream_write_ms(struct conn *c, uint32_t id, const char *text)
{
	uint8_t b[WM_MS_MAX + WM_VARINT_MAX];
	int n = wm_ms_encode(text, b, sizeof(b));

	if (n > 0)
		wm_yamux_write(&c->y, id, b, (size_t)n);
}

static void consume(struct stream *s, size_t n)
{
	memmove(s->buf, s->buf + n, s->n - n);
	s->n -= n;
}

static int maddr_of_sockaddr(const struct sockaddr *sa, uint8_t *out, size_t cap)
{
	struct wm_maddr_tcp t = {0};

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		t.family = 4;
		memcpy(t.ip, &in->sin_addr, 4);
		t.port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		t.family = 6;
		memcpy(t.ip, &in6->sin6_addr, 16);
		t.port = ntohs(in6->sin6_port);
	} else {
		return -EAFNOSUPPORT;
	}
	return wm_maddr_from_tcp(&t, out, cap);
}

/* Our listen addresses as identify advertises them: an unspecified bind
 * address stands for every address of this host's interfaces. */
static void our_listen_addrs(struct wm_p2p *p, struct wm_identify *m)
{
	uv_interface_address_t *ifs = NULL;
	int nifs = 0;

	for (size_t i = 0; i < p->nlisteners && m->nlisten < WM_IDENTIFY_ADDRS; i++) {
		struct wm_maddr_tcp t;
		if (wm_maddr_to_tcp(p->listeners[i].addr, p->listeners[i].addr_len, &t))
			continue;
		static const uint8_t zero[16];
		if (memcmp(t.ip, zero, t.family == 4 ? 4 : 16)) {
			memcpy(m->listen[m->nlisten], p->listeners[i].addr,
			       p->listeners[i].addr_len);
			m->listen_len[m->nlisten++] = p->listeners[i].addr_len;
			continue;
		}
		if (!ifs && uv_interface_addresses(&ifs, &nifs))
			nifs = 0;
		for (int k = 0; k < nifs && m->nlisten < WM_IDENTIFY_ADDRS; k++) {
			const struct sockaddr *sa = (const struct sockaddr *)&ifs[k].address;
			if ((t.family == 4) != (sa->sa_family == AF_INET))
				continue;
			struct wm_maddr_tcp a = t;
			if (sa->sa_family == AF_INET)
				memcpy(a.ip, &ifs[k].address.address4.sin_addr, 4);
			else if (sa->sa_family == AF_INET6 &&
				 !IN6_IS_ADDR_LINKLOCAL(&ifs[k].address.address6.sin6_addr))
				memcpy(a.ip, &ifs[k].address.address6.sin6_addr, 16);
			else
				continue;
			int n = wm_maddr_from_tcp(&a, m->listen[m->nlisten], WM_MADDR_MAX);
			if (n > 0)
				m->listen_len[m->nlisten++] = (size_t)n;
		}
	}
	if (ifs)
		uv_free_interface_addresses(ifs, nifs);
}

static void send_identify(struct conn *c, uint32_t id)
{
	struct wm_p2p *p = c->host;
	struct wm_identify *m = calloc(1, sizeof(*m));
	uint8_t *buf = malloc(WM_IDENTIFY_MAX + WM_VARINT_MAX);
	int n;

	if (!m || !buf)
		goto out;
	snprintf(m->protocol_version, sizeof(m->protocol_version), "%s", PROTOCOL_VERSION);
	snprintf(m->agent_version, sizeof(m->agent_version), "%s", p->agent);
	m->has_pubkey = true;
	memcpy(m->pubkey, p->pk, 32);
	our_listen_addrs(p, m);
	memcpy(m->observed, c->remote, c->remote_len);
	m->observed_len = c->remote_len;
	const char *protos[] = {WM_IDENTIFY_PROTOCOL, IDPUSH_PROTOCOL, WM_PING_PROTOCOL};
	for (size_t i = 0; i < 3; i++)
		snprintf(m->protocols[m->nprotocols++], WM_IDENTIFY_STR, "%s", protos[i]);
	for (size_t i = 0; i < p->nhandlers && m->nprotocols < WM_IDENTIFY_PROTOS; i++)
		snprintf(m->protocols[m->nprotocols++], WM_IDENTIFY_STR, "%s",
			 p->handlers[i]->name);
	n = wm_identify_encode(m, buf + WM_VARINT_MAX, WM_IDENTIFY_MAX);
	if (n > 0) {
		uint8_t v[WM_VARINT_MAX];
		size_t vl = wm_varint_encode((uint64_t)n, v);
		memcpy(buf + WM_VARINT_MAX - vl, v, vl);
		wm_yamux_write(&c->y, id, buf + WM_VARINT_MAX - vl, vl + (size_t)n);
	}
out:
	free(m);
	free(buf);
}

/* A whole identify message (length-prefixed) from the stream's buffer. */
static void take_identify(struct conn *c, struct stream *s)
{
	uint64_t len;
	int vl = wm_varint_decode(s->buf, s->n, &len);
	char peer[WM_PEERID_TEXT_MAX];

	if (vl <= 0 || len > WM_IDENTIFY_MAX || s->n - (size_t)vl < len) {
		wm_debug("libp2p: incomplete identify message from a peer");
		return;
	}
	struct wm_identify m;
	if (wm_identify_decode(s->buf + vl, (size_t)len, &m)) {
		wm_warn("libp2p: malformed identify message, ignored");
		return;
	}
	/* A peer speaks for its own key only. */
	if (m.has_pubkey) {
		struct wm_peer_id id;
		wm_peer_id_from_pubkey(m.pubkey, &id);
		if (!wm_peer_id_equal(&id, &c->peer)) {
			wm_warn("libp2p: identify names another key than the Noise handshake, "
				"ignored");
			return;
		}
	}
	c->ident = m;
	c->identified = true;
	wm_peer_id_print(&c->peer, peer);
	wm_info("libp2p: identified %s (%s, %zu protocols)", peer, m.agent_version, m.nprotocols);
}

static void open_stream(struct conn *c, enum sproto want)
{
	uint32_t id;
	const char *name = want == S_PING ? WM_PING_PROTOCOL : WM_IDENTIFY_PROTOCOL;

	if (c->state != C_MUX || wm_yamux_open(&c->y, &id))
		return;
	struct stream *s = stream_add(c, id, true);
	if (!s) {
		wm_yamux_reset(&c->y, id);
		return;
	}
	s->want = want;
	stream_write_ms(c, id, WM_MS_PROTOCOL);
	stream_write_ms(c, id, name);
}

static void ping_send(struct conn *c, struct stream *s)
{
	random_bytes(s->ping, sizeof(s->ping));
	s->ping_sent_ns = uv_hrtime();
	wm_yamux_write(&c->y, s->id, s->ping, sizeof(s->ping));
}

/* An inbound stream for a registered protocol: its accept callback decides
 * on the Noise-authenticated peer ID. */
static bool handler_accepts(struct conn *c, struct stream *s, const char *name)
{
	for (size_t i = 0; i < c->host->nhandlers; i++) {
		const struct wm_p2p_proto *h = c->host->handlers[i];
		if (strcmp(h->name, name))
			continue;
		void *ud = NULL;
		if (h->accept(h->data, &c->peer, (struct wm_p2p_stream *)s, &ud))
			return false;
		s->handler = h;
		s->ud = ud;
		return true;
	}
	return false;
}

/* Negotiation on a stream: our answers as listener, the peer's as dialer. */
static int stream_negotiate(struct conn *c, struct stream *s)
{
	char text[WM_MS_MAX];
	size_t used;

	while (s->proto == S_NEG) {
		int rc = wm_ms_decode(s->buf, s->n, text, sizeof(text), &used);
		if (rc <= 0)
			return rc;
		consume(s, used);
		if (!s->header_seen) {
			if (strcmp(text, WM_MS_PROTOCOL))
				return -EPROTO;
			s->header_seen = true;
			if (!s->outbound)
				stream_write_ms(c, s->id, WM_MS_PROTOCOL);
			continue;
		}
		if (s->outbound && s->handler) {
			if (strcmp(text, s->handler->name))
				return -EPROTONOSUPPORT; /* refused by the peer */
			s->proto = S_HANDLER;
			return 0;
		}
		if (s->outbound) {
			const char *want =
				s->want == S_PING ? WM_PING_PROTOCOL : WM_IDENTIFY_PROTOCOL;
			if (strcmp(text, want))
				return -EPROTONOSUPPORT; /* "na", or anything else */
			s->proto = s->want;
			if (s->proto == S_PING)
				ping_send(c, s);
			else
				wm_yamux_close(&c->y,
					       s->id); /* we only read identify; s may be gone */
			return 0;
		}
		if (++s->proposals > MAX_PROPOSALS)
			return -EPROTO;
		if (!strcmp(text, WM_IDENTIFY_PROTOCOL)) {
			s->proto = S_IDENTIFY;
			stream_write_ms(c, s->id, text);
			send_identify(c, s->id);
			wm_yamux_close(&c->y, s->id);
			return 0; /* s may be gone */
		} else if (!strcmp(text, IDPUSH_PROTOCOL)) {
			stream_write_ms(c, s->id, text);
			s->proto = S_IDPUSH;
		} else if (!strcmp(text, WM_PING_PROTOCOL)) {
			stream_write_ms(c, s->id, text);
			s->proto = S_PING;
		} else if (handler_accepts(c, s, text)) {
			stream_write_ms(c, s->id, text);
			s->proto = S_HANDLER;
		} else {
			stream_write_ms(c, s->id, WM_MS_NA);
		}
	}
	return 0;
}

static void stream_on_data(struct conn *c, struct stream *s)
{
	uint32_t id = s->id;
	int rc = stream_negotiate(c, s);

	s = stream_find(c, id);
	if (s && rc == 0 && s->proto == S_HANDLER && !s->handler)
		s->n = 0; /* its protocol is gone: dropped */
	if (s && rc == 0 && s->proto == S_HANDLER && s->n) {
		/* The handler takes what came after the negotiation and may
		 * reset the stream: nothing of s is touched after it. */
		size_t n = s->n;
		s->n = 0;
		if (s->handler->recv(s->ud, s->buf, n) < 0) {
			s = stream_find(c, id);
			if (s)
				stream_reset(c, s);
		}
		return;
	}

	/* Closing our side may have ended the stream: look it up again. */
	s = stream_find(c, id);
	if (!s)
		return;
	if (rc < 0) {
		wm_debug("libp2p: stream %" PRIu32 " negotiation failed: %s", s->id, strerror(-rc));
		stream_reset(c, s);
		return;
	}
	if (s->proto == S_PING) {
		if (!s->outbound) {
			/* Echo whole 32-byte pings; keep a partial one. */
			size_t n = s->n - s->n % PING_LEN;
			if (n) {
				wm_yamux_write(&c->y, s->id, s->buf, n);
				consume(s, n);
			}
		} else if (s->n >= PING_LEN) {
			if (memcmp(s->buf, s->ping, PING_LEN)) {
				wm_warn("libp2p: a ping came back changed");
			} else {
				c->rtt_us = (int64_t)((uv_hrtime() - s->ping_sent_ns) / 1000);
				wm_debug("libp2p: ping %" PRId64 " us", c->rtt_us);
			}
			consume(s, PING_LEN);
			wm_yamux_close(&c->y, s->id);
		}
	}
	/* Identify and push: read until the peer's FIN (stream_fin_cb). */
}

/* ---- yamux callbacks ---- */

static void y_send(void *ud, const uint8_t *buf, size_t len)
{
	send_secure(ud, buf, len);
}

static int y_open(void *ud, uint32_t id)
{
	return stream_add(ud, id, false) ? 0 : -ENOMEM;
}

static void y_data(void *ud, uint32_t id, const uint8_t *buf, size_t len)
{
	struct conn *c = ud;
	struct stream *s = stream_find(c, id);

	if (!s)
		return;
	if (s->proto == S_HANDLER) {
		if (s->handler && s->handler->recv(s->ud, buf, len) < 0 && (s = stream_find(c, id)))
			stream_reset(c, s);
		return;
	}
	if (len > STREAM_BUF_MAX - s->n) {
		stream_reset(c, s);
		return;
	}
	uint8_t *b = realloc(s->buf, s->n + len);
	if (!b) {
		stream_reset(c, s);
		return;
	}
	memcpy(b + s->n, buf, len);
	s->buf = b;
	s->n += len;
	stream_on_data(c, s);
}

static void y_fin(void *ud, uint32_t id)
{
	struct conn *c = ud;
	struct stream *s = stream_find(c, id);

	if (!s)
		return;
	if ((s->proto == S_IDENTIFY && s->outbound) || s->proto == S_IDPUSH)
		take_identify(c, s);
	wm_yamux_close(&c->y, id);
}

static void y_gone(void *ud, uint32_t id)
{
	stream_free(ud, id);
}

static void y_go_away(void *ud, uint32_t code)
{
	(void)code;
	conn_close(ud, "the peer went away");
}

static const struct wm_yamux_cb ycb = {
	.send = y_send,
	.stream_open = y_open,
	.stream_data = y_data,
	.stream_fin = y_fin,
	.stream_gone = y_gone,
	.go_away = y_go_away,
};

/* ---- connection phases ---- */

static void noise_start(struct conn *c)
{
	uint8_t s[32], e[32], msg[64];
	int rc;

	c->state = C_NOISE;
	/* A fresh static key per connection: the identity key signs it. */
	if (random_bytes(s, 32) || random_bytes(e, 32) ||
	    wm_noise_hs_init(&c->hs, c->outbound, s, e, NULL, 0)) {
		OPENSSL_cleanse(s, 32);
		OPENSSL_cleanse(e, 32);
		conn_close(c, "cannot start the Noise handshake");
		return;
	}
	OPENSSL_cleanse(s, 32);
	OPENSSL_cleanse(e, 32);
	if (!c->outbound)
		return;
	rc = wm_noise_hs_write(&c->hs, NULL, 0, msg + 2, sizeof(msg) - 2);
	if (rc < 0) {
		conn_close(c, "Noise message 1");
		return;
	}
	msg[0] = 0;
	msg[1] = (uint8_t)rc;
	send_raw(c, msg, 2 + (size_t)rc);
}

static void mux_ready(struct conn *c)
{
	char peer[WM_PEERID_TEXT_MAX];

	if (wm_yamux_init(&c->y, c->outbound, c->host->max_streams, &ycb, c)) {
		conn_close(c, "out of memory");
		return;
	}
	c->y_init = true;
	c->state = C_MUX;
	uv_timer_stop(&c->timer);
	if (c->dial)
		c->dial->backoff_ms = REDIAL_MIN_MS;
	wm_peer_id_print(&c->peer, peer);
	wm_info("libp2p: connected to %s (%s)", peer, c->outbound ? "outbound" : "inbound");
	open_stream(c, S_IDENTIFY);
}

/* The handshake message just read; our next one when it is our turn. */
static int noise_step(struct conn *c, const uint8_t *msg, size_t len)
{
	uint8_t payload[512], out[2 + 32 + 48 + 512 + 16];
	int n = wm_noise_hs_read(&c->hs, msg, len, payload, sizeof(payload));

	if (n < 0)
		return n;
	if (c->hs.step >= 2) { /* messages 2 and 3 carry the peer's identity */
		struct wm_peer_id id;
		int rc = wm_p2p_noise_payload_verify(payload, (size_t)n, c->hs.rs, &id);
		if (rc)
			return rc;
		if (c->peer_known && !wm_peer_id_equal(&id, &c->peer))
			return -EACCES; /* not the peer the address names */
		c->peer = id;
		c->peer_known = true;
	}
	if (c->hs.step == 3)
		goto done;
	int pl = wm_p2p_noise_payload(c->host->seed, c->hs.s_pub, payload, sizeof(payload));
	if (pl < 0)
		return pl;
	n = wm_noise_hs_write(&c->hs, payload, (size_t)pl, out + 2, sizeof(out) - 2);
	if (n < 0)
		return n;
	out[0] = (uint8_t)(n >> 8);
	out[1] = (uint8_t)n;
	send_raw(c, out, 2 + (size_t)n);
	if (c->hs.step != 3)
		return 0;
done:
	wm_noise_hs_split(&c->hs, &c->tx, &c->rx);
	wm_noise_hs_wipe(&c->hs);
	c->state = C_MS_MUX;
	if (c->outbound) {
		send_ms(c, WM_MS_PROTOCOL, true);
		send_ms(c, YAMUX_PROTOCOL, true);
	}
	return 0;
}

/* multistream-select at connection level: /noise in the clear, then
 * /yamux/1.0.0 in the secure channel; buf is c->in or c->plain. */
static int conn_negotiate(struct conn *c, uint8_t *buf, size_t *len)
{
	char text[WM_MS_MAX];
	size_t used;
	bool secure = c->state == C_MS_MUX;
	const char *want = secure ? YAMUX_PROTOCOL : WM_NOISE_PROTOCOL;

	for (;;) {
		int rc = wm_ms_decode(buf, *len, text, sizeof(text), &used);
		if (rc <= 0)
			return rc;
		memmove(buf, buf + used, *len - used);
		*len -= used;
		if (!c->header_seen) {
			if (strcmp(text, WM_MS_PROTOCOL))
				return -EPROTO;
			c->header_seen = true;
			if (!c->outbound)
				send_ms(c, WM_MS_PROTOCOL, secure);
			continue;
		}
		if (c->outbound && strcmp(text, want))
			return -EPROTONOSUPPORT;
		if (!c->outbound && strcmp(text, want)) {
			if (++c->proposals > MAX_PROPOSALS)
				return -EPROTO;
			send_ms(c, WM_MS_NA, secure);
			continue;
		}
		if (!c->outbound)
			send_ms(c, want, secure);
		c->header_seen = false;
		c->proposals = 0;
		if (secure)
			mux_ready(c);
		else
			noise_start(c);
		return 1;
	}
}

/* Decrypts whole frames from c->in; plaintext goes to the muxer's
 * negotiation buffer or to yamux. */
static int secure_input(struct conn *c)
{
	while (c->nin >= 2 && c->state != C_CLOSING) {
		size_t fl = (size_t)c->in[0] << 8 | c->in[1];
		if (c->nin < 2 + fl)
			return 0;
		if (fl < WM_NOISE_TAG)
			return -EBADMSG;
		uint8_t *pt = malloc(fl);
		if (!pt)
			return -ENOMEM;
		int rc = wm_noise_decrypt(&c->rx, NULL, 0, c->in + 2, fl, pt);
		memmove(c->in, c->in + 2 + fl, c->nin - 2 - fl);
		c->nin -= 2 + fl;
		size_t pl = fl - WM_NOISE_TAG;
		if (rc) {
			free(pt);
			return rc;
		}
		if (c->state == C_MS_MUX && pl == 0) {
			free(pt); /* an empty frame: nothing to negotiate with */
			continue;
		}
		if (c->state == C_MS_MUX) {
			if (c->nplain + pl > 2 * WM_MS_MAX + WM_NOISE_MAX) {
				free(pt);
				return -EPROTO;
			}
			uint8_t *b = realloc(c->plain, c->nplain + pl);
			if (!b) {
				free(pt);
				return -ENOMEM;
			}
			memcpy(b + c->nplain, pt, pl);
			c->plain = b;
			c->nplain += pl;
			free(pt);
			rc = conn_negotiate(c, c->plain, &c->nplain);
			if (rc < 0)
				return rc;
			if (c->state == C_MUX && c->nplain) {
				rc = wm_yamux_feed(&c->y, c->plain, c->nplain);
				c->nplain = 0;
				if (rc)
					return rc;
			}
			continue;
		}
		rc = c->state == C_MUX ? wm_yamux_feed(&c->y, pt, pl) : 0;
		free(pt);
		if (rc)
			return rc;
	}
	return 0;
}

static int conn_input(struct conn *c)
{
	int rc;

	if (c->state == C_MS_SEC) {
		rc = conn_negotiate(c, c->in, &c->nin);
		if (rc <= 0)
			return rc;
	}
	while (c->state == C_NOISE && c->nin >= 2) {
		size_t fl = (size_t)c->in[0] << 8 | c->in[1];
		if (c->nin < 2 + fl)
			return 0;
		uint8_t *m = malloc(fl ? fl : 1);
		if (!m)
			return -ENOMEM;
		memcpy(m, c->in + 2, fl);
		memmove(c->in, c->in + 2 + fl, c->nin - 2 - fl);
		c->nin -= 2 + fl;
		rc = noise_step(c, m, fl);
		free(m);
		if (rc)
			return rc;
	}
	if (c->state == C_MS_MUX || c->state == C_MUX)
		return secure_input(c);
	return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	size_t want = 2 + WM_NOISE_MAX + 64;

	(void)suggested;
	/* Never more than one frame plus a little beyond what is held. */
	if (c->capin < c->nin + want) {
		uint8_t *b = realloc(c->in, c->nin + want);
		if (!b) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		c->in = b;
		c->capin = c->nin + want;
	}
	*buf = uv_buf_init((char *)c->in + c->nin, (unsigned)(c->capin - c->nin));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = st->data;
	int rc;

	(void)buf;
	if (nread < 0) {
		conn_close(c, nread == UV_EOF ? "closed by the peer" : uv_strerror((int)nread));
		return;
	}
	c->nin += (size_t)nread;
	rc = conn_input(c);
	if (rc < 0 && c->state != C_CLOSING)
		conn_close(c, rc == -EACCES   ? "the peer's identity was refused"
			      : rc == -EPROTO ? "protocol violation"
					      : wm_strerror(rc));
	/* Shrink an idle buffer back: many idle connections stay small. */
	if (c->state != C_CLOSING && c->nin == 0 && c->capin > 4096) {
		free(c->in);
		c->in = NULL;
		c->capin = 0;
	}
}

static void conn_begin(struct conn *c)
{
	uv_tcp_nodelay(&c->tcp, 1);
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
		int n = maddr_of_sockaddr((struct sockaddr *)&ss, c->remote, sizeof(c->remote));
		c->remote_len = n > 0 ? (size_t)n : 0;
	}
	c->state = C_MS_SEC;
	if (c->outbound) {
		send_ms(c, WM_MS_PROTOCOL, false);
		send_ms(c, WM_NOISE_PROTOCOL, false);
	}
	int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (rc)
		conn_close(c, uv_strerror(rc));
}

static void on_handshake_timeout(uv_timer_t *t)
{
	conn_close(t->data, "handshake timed out");
}

static void on_redial(uv_timer_t *t);

static void maybe_done(struct wm_p2p *p)
{
	if (p->closing && p->pending_closes == 0) {
		OPENSSL_cleanse(p->seed, sizeof(p->seed));
		void (*cb)(void *) = p->done_cb;
		void *data = p->done_data;
		free(p->listeners);
		free(p->dials);
		free(p);
		if (cb)
			cb(data);
	}
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct wm_p2p *p = c->host;

	if (--c->closing_handles > 0)
		return;
	while (c->streams)
		stream_free(c, c->streams->id);
	if (c->y_init)
		wm_yamux_free(&c->y);
	OPENSSL_cleanse(&c->tx, sizeof(c->tx));
	OPENSSL_cleanse(&c->rx, sizeof(c->rx));
	wm_noise_hs_wipe(&c->hs);
	free(c->in);
	free(c->plain);
	free(c);
	p->pending_closes--;
	maybe_done(p);
}

static void conn_close(struct conn *c, const char *why)
{
	struct wm_p2p *p = c->host;
	char peer[WM_PEERID_TEXT_MAX] = "a peer";

	if (c->state == C_CLOSING)
		return;
	if (c->peer_known)
		wm_peer_id_print(&c->peer, peer);
	if (c->dial)
		wm_info("libp2p: connection to %s (%s) closed: %s", c->dial->text, peer, why);
	else
		wm_debug("libp2p: connection from %s closed: %s", peer, why);
	c->state = C_CLOSING;
	for (struct conn **pp = &p->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			p->nconns--;
			if (!c->outbound)
				p->ninbound--;
			break;
		}
	}
	if (c->dial) {
		struct dial *d = c->dial;
		d->conn = NULL;
		if (!p->closing) {
			uv_timer_start(&d->timer, on_redial, d->backoff_ms, 0);
			d->backoff_ms = d->backoff_ms * 2 > REDIAL_MAX_MS ? REDIAL_MAX_MS
									  : d->backoff_ms * 2;
		}
	}
	p->pending_closes++;
	c->closing_handles = 2;
	uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

static struct conn *conn_new(struct wm_p2p *p, bool outbound)
{
	struct conn *c;

	/* Only accepted connections count against max_conns: strangers filling
	 * it must not stop our dials (one per configured peer at most). */
	if (!outbound && p->ninbound >= p->max_conns)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->host = p;
	c->outbound = outbound;
	c->rtt_us = -1;
	if (uv_tcp_init(p->loop, &c->tcp)) {
		free(c);
		return NULL;
	}
	uv_timer_init(p->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->next = p->conns;
	p->conns = c;
	p->nconns++;
	if (!outbound)
		p->ninbound++;
	uv_timer_start(&c->timer, on_handshake_timeout, HANDSHAKE_TIMEOUT_MS, 0);
	return c;
}

/* One source (an IPv4 address, an IPv6 /64) may hold a quarter of the
 * accepted connections (at least 2), so that one host cannot take them all
 * with handshakes it never finishes. Sets c->src as it counts. */
static bool over_source_limit(struct wm_p2p *p, struct conn *c)
{
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl))
		return true;
	if (ss.ss_family == AF_INET) {
		c->src[0] = 4;
		memcpy(c->src + 1, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		c->src[0] = 6;
		memcpy(c->src + 1, &((struct sockaddr_in6 *)&ss)->sin6_addr, 8);
	} else {
		return true;
	}
	uint32_t limit = p->max_conns / 4 > 2 ? p->max_conns / 4 : 2;
	uint32_t n = 0;
	for (const struct conn *o = p->conns; o; o = o->next)
		if (o != c && !o->outbound && memcmp(o->src, c->src, sizeof(c->src)) == 0)
			n++;
	return n >= limit;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct listener *l = server->data;
	struct conn *c;

	if (status < 0)
		return;
	c = conn_new(l->host, false);
	if (!c) {
		/* At the limit: accept and drop, so the backlog does not fill. */
		uv_tcp_t *t = malloc(sizeof(*t));
		if (t && uv_tcp_init(server->loop, t) == 0) {
			if (uv_accept(server, (uv_stream_t *)t) == 0)
				wm_debug("libp2p: connection refused, at the limit");
			uv_close((uv_handle_t *)t, (uv_close_cb)free);
		} else {
			free(t);
		}
		return;
	}
	if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
		conn_close(c, "accept failed");
		return;
	}
	if (over_source_limit(l->host, c)) {
		conn_close(c, "too many connections from its source");
		return;
	}
	conn_begin(c);
}

static void on_connected(uv_connect_t *req, int status)
{
	struct conn *c = req->data;

	if (c->state == C_CLOSING)
		return;
	if (status < 0) {
		conn_close(c, uv_strerror(status));
		return;
	}
	conn_begin(c);
}

static void dial_start(struct dial *d)
{
	struct wm_p2p *p = d->host;
	struct conn *c = conn_new(p, true);
	struct sockaddr_storage ss = {0};

	if (!c) {
		uv_timer_start(&d->timer, on_redial, REDIAL_MAX_MS, 0);
		return;
	}
	c->dial = d;
	d->conn = c;
	c->peer = d->addr.peer;
	c->peer_known = d->addr.has_peer;
	if (d->addr.family == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, d->addr.ip, 4);
		in->sin_port = htons(d->addr.port);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, d->addr.ip, 16);
		in6->sin6_port = htons(d->addr.port);
	}
	c->connect.data = c;
	int rc = uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&ss, on_connected);
	if (rc)
		conn_close(c, uv_strerror(rc));
}

static void on_redial(uv_timer_t *t)
{
	struct dial *d = t->data;

	if (!d->conn && !d->host->closing)
		dial_start(d);
}

static void on_ping_timer(uv_timer_t *t)
{
	struct wm_p2p *p = t->data;

	for (struct conn *c = p->conns; c; c = c->next)
		if (c->state == C_MUX && c->outbound)
			open_stream(c, S_PING);
}

static void on_simple_closed(uv_handle_t *h)
{
	struct wm_p2p *p = h->data;

	p->pending_closes--;
	maybe_done(p);
}

/* ---- public ---- */

static int parse_tcp(const char *text, struct wm_maddr_tcp *t, const char *what, char *err,
		     size_t errlen)
{
	uint8_t b[WM_MADDR_MAX];
	char e[256];
	int n = wm_maddr_parse(text, b, sizeof(b), e, sizeof(e));

	if (n < 0) {
		wm_seterr(err, errlen, "%s: %s", what, e);
		return -EINVAL;
	}
	if (wm_maddr_to_tcp(b, (size_t)n, t)) {
		wm_seterr(err, errlen, "%s: \"%s\" is not /ip4|ip6/ADDR/tcp/PORT[/p2p/ID]", what,
			  text);
		return -EINVAL;
	}
	return 0;
}

int wm_p2p_new(const struct wm_p2p_config *cfg, struct wm_p2p **out, char *err, size_t errlen)
{
	struct wm_p2p *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	/* The module has its own copy of the logger: set it as the daemon's. */
	wm_log_set_level((enum wm_log_level)cfg->log_level);
	if (cfg->log_name)
		wm_log_set_name(cfg->log_name);
	p->loop = cfg->loop;
	p->ping_interval_ms = cfg->ping_interval_ms;
	p->max_conns = cfg->max_conns ? cfg->max_conns : 64;
	p->max_streams = cfg->max_streams ? cfg->max_streams : 64;
	snprintf(p->agent, sizeof(p->agent), "%s", cfg->agent ? cfg->agent : "webmesh");
	p->listeners = calloc(cfg->nlisten ? cfg->nlisten : 1, sizeof(*p->listeners));
	p->dials = calloc(cfg->npeers ? cfg->npeers : 1, sizeof(*p->dials));
	if (!p->listeners || !p->dials) {
		rc = -ENOMEM;
		goto fail_mem;
	}
	/* Check every address before anything is bound. */
	for (size_t i = 0; i < cfg->npeers; i++) {
		struct dial *d = &p->dials[i];
		if ((rc = parse_tcp(cfg->peers[i], &d->addr, "libp2p-peers", err, errlen)))
			goto fail_mem;
		snprintf(d->text, sizeof(d->text), "%s", cfg->peers[i]);
	}
	struct wm_maddr_tcp lt[16];
	if (cfg->nlisten > 16) {
		wm_seterr(err, errlen, "libp2p-listen: at most 16 addresses");
		rc = -EINVAL;
		goto fail_mem;
	}
	for (size_t i = 0; i < cfg->nlisten; i++) {
		if ((rc = parse_tcp(cfg->listen[i], &lt[i], "libp2p-listen", err, errlen)))
			goto fail_mem;
		if (lt[i].has_peer) {
			wm_seterr(err, errlen, "libp2p-listen: \"%s\": no /p2p part here",
				  cfg->listen[i]);
			rc = -EINVAL;
			goto fail_mem;
		}
	}
	if ((rc = load_identity(p, cfg->key_path, err, errlen)))
		goto fail_mem;
	for (size_t i = 0; i < cfg->nlisten; i++) {
		struct listener *l = &p->listeners[i];
		struct sockaddr_storage ss = {0};
		int sl = sizeof(ss);
		if (lt[i].family == 4) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			in->sin_family = AF_INET;
			memcpy(&in->sin_addr, lt[i].ip, 4);
			in->sin_port = htons(lt[i].port);
		} else {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
			in6->sin6_family = AF_INET6;
			memcpy(&in6->sin6_addr, lt[i].ip, 16);
			in6->sin6_port = htons(lt[i].port);
		}
		l->host = p;
		uv_tcp_init(p->loop, &l->tcp);
		l->tcp.data = l;
		p->nlisteners++;
		rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss,
				 lt[i].family == 6 ? UV_TCP_IPV6ONLY : 0);
		if (!rc)
			rc = uv_listen((uv_stream_t *)&l->tcp, 64, on_connection);
		if (!rc)
			rc = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &sl);
		if (rc) {
			wm_seterr(err, errlen, "libp2p-listen: cannot listen on %s: %s",
				  cfg->listen[i], uv_strerror(rc));
			goto fail_handles;
		}
		int n = maddr_of_sockaddr((struct sockaddr *)&ss, l->addr, sizeof(l->addr));
		l->addr_len = n > 0 ? (size_t)n : 0;
	}
	uv_timer_init(p->loop, &p->ping_timer);
	p->ping_timer.data = p;
	if (p->ping_interval_ms)
		uv_timer_start(&p->ping_timer, on_ping_timer, p->ping_interval_ms,
			       p->ping_interval_ms);
	for (size_t i = 0; i < cfg->npeers; i++) {
		struct dial *d = &p->dials[i];
		d->host = p;
		d->backoff_ms = REDIAL_MIN_MS;
		uv_timer_init(p->loop, &d->timer);
		d->timer.data = d;
		p->ndials++;
		dial_start(d);
	}
	char id[WM_PEERID_TEXT_MAX];
	wm_peer_id_print(&p->id, id);
	wm_info("libp2p: peer ID %s, %zu listeners, %zu peers", id, p->nlisteners, p->ndials);
	*out = p;
	return 0;

fail_handles:
	/* The listeners' handles must close on the loop: free then. */
	p->closing = true;
	for (size_t i = 0; i < p->nlisteners; i++) {
		p->pending_closes++;
		p->listeners[i].tcp.data = p;
		uv_close((uv_handle_t *)&p->listeners[i].tcp, on_simple_closed);
	}
	return rc;
fail_mem:
	OPENSSL_cleanse(p->seed, sizeof(p->seed));
	free(p->listeners);
	free(p->dials);
	free(p);
	return rc;
}

void wm_p2p_free(struct wm_p2p *p, void (*done_cb)(void *data), void *data)
{
	if (!p) {
		if (done_cb)
			done_cb(data);
		return;
	}
	p->closing = true;
	p->done_cb = done_cb;
	p->done_data = data;
	p->pending_closes++; /* held until everything below is started */
	for (size_t i = 0; i < p->nlisteners; i++) {
		p->pending_closes++;
		p->listeners[i].tcp.data = p;
		uv_close((uv_handle_t *)&p->listeners[i].tcp, on_simple_closed);
	}
	for (size_t i = 0; i < p->ndials; i++) {
		p->pending_closes++;
		p->dials[i].timer.data = p;
		uv_close((uv_handle_t *)&p->dials[i].timer, on_simple_closed);
	}
	p->pending_closes++;
	uv_close((uv_handle_t *)&p->ping_timer, on_simple_closed);
	while (p->conns) {
		struct conn *c = p->conns;
		if (c->y_init && c->state == C_MUX)
			wm_yamux_go_away(&c->y, 0);
		conn_close(c, "shutting down");
	}
	p->pending_closes--;
	maybe_done(p);
}

void wm_p2p_status(const struct wm_p2p *p, struct wm_p2p_status *out)
{
	memset(out, 0, sizeof(*out));
	wm_peer_id_print(&p->id, out->peer_id);
	for (size_t i = 0; i < p->nlisteners && out->nlisten < WM_P2P_STATUS_ADDRS; i++)
		if (wm_maddr_print(p->listeners[i].addr, p->listeners[i].addr_len,
				   out->listen[out->nlisten], sizeof(out->listen[0])) == 0)
			out->nlisten++;
	for (const struct conn *c = p->conns; c && out->nconns < WM_P2P_STATUS_CONNS; c = c->next) {
		struct wm_p2p_conn_status *cs = &out->conns[out->nconns];
		if (c->state != C_MUX)
			continue;
		out->nconns++;
		wm_peer_id_print(&c->peer, cs->peer_id);
		if (c->remote_len)
			wm_maddr_print(c->remote, c->remote_len, cs->addr, sizeof(cs->addr));
		cs->outbound = c->outbound;
		cs->identified = c->identified;
		cs->rtt_us = c->rtt_us;
		snprintf(cs->agent, sizeof(cs->agent), "%s", c->ident.agent_version);
		for (size_t k = 0; k < c->ident.nprotocols && cs->nprotocols < 8; k++) {
			/* Longer names than status keeps are cut, not dropped. */
			char *dst = cs->protocols[cs->nprotocols++];
			size_t n = strnlen(c->ident.protocols[k], sizeof(cs->protocols[0]) - 1);
			memcpy(dst, c->ident.protocols[k], n);
			dst[n] = '\0';
		}
		for (size_t k = 0; k < c->ident.nlisten && cs->nlisten < WM_P2P_STATUS_ADDRS; k++)
			if (wm_maddr_print(c->ident.listen[k], c->ident.listen_len[k],
					   cs->listen[cs->nlisten], sizeof(cs->listen[0])) == 0)
				cs->nlisten++;
	}
}

/* ---- protocols of other parts of the module (host.h) ---- */

uv_loop_t *wm_p2p_loop(const struct wm_p2p *p)
{
	return p->loop;
}

int wm_p2p_register(struct wm_p2p *p, const struct wm_p2p_proto *proto)
{
	if (p->nhandlers >= WM_P2P_MAX_HANDLERS)
		return -ENOSPC;
	p->handlers[p->nhandlers++] = proto;
	return 0;
}

void wm_p2p_unregister(struct wm_p2p *p, const struct wm_p2p_proto *proto)
{
	for (size_t i = 0; i < p->nhandlers; i++)
		if (p->handlers[i] == proto) {
			p->handlers[i] = p->handlers[--p->nhandlers];
			break;
		}
	/* Its open streams forget it: no callback into what is gone. */
	for (struct conn *c = p->conns; c; c = c->next)
		for (struct stream *s = c->streams; s; s = s->next)
			if (s->handler == proto)
				s->handler = NULL;
}

static struct conn *conn_to(struct wm_p2p *p, const struct wm_peer_id *peer, bool any_state)
{
	for (struct conn *c = p->conns; c; c = c->next)
		if (c->peer_known && wm_peer_id_equal(&c->peer, peer) &&
		    (c->state == C_MUX || (any_state && c->state != C_CLOSING)))
			return c;
	return NULL;
}

/* A dial that is no configured peer's: no redial (the caller asks again),
 * only the key named may answer. This is where a relayed connection (circuit
 * relay v2, /p2p-circuit) slots in when no direct address works. */
int wm_p2p_connect(struct wm_p2p *p, const struct wm_peer_id *peer, const struct wm_maddr_tcp *addr)
{
	struct sockaddr_storage ss = {0};
	struct conn *c;

	if (p->closing)
		return -ESHUTDOWN;
	if (conn_to(p, peer, false))
		return 0;
	if (conn_to(p, peer, true))
		return -EINPROGRESS;
	if (!addr)
		return -ENOTCONN;
	c = conn_new(p, true);
	if (!c)
		return -ENOMEM;
	c->peer = *peer;
	c->peer_known = true;
	if (addr->family == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, addr->ip, 4);
		in->sin_port = htons(addr->port);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, addr->ip, 16);
		in6->sin6_port = htons(addr->port);
	}
	c->connect.data = c;
	int rc = uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&ss, on_connected);
	if (rc) {
		conn_close(c, uv_strerror(rc));
		return rc;
	}
	return -EINPROGRESS;
}

int wm_p2p_stream_open(struct wm_p2p *p, const struct wm_peer_id *peer,
		       const struct wm_p2p_proto *proto, void *ud, struct wm_p2p_stream **out)
{
	struct conn *c = conn_to(p, peer, false);
	uint32_t id;
	int rc;

	if (!c)
		return -ENOTCONN;
	if ((rc = wm_yamux_open(&c->y, &id)))
		return rc;
	struct stream *s = stream_add(c, id, true);
	if (!s) {
		wm_yamux_reset(&c->y, id);
		return -ENOMEM;
	}
	s->handler = proto;
	s->ud = ud;
	stream_write_ms(c, id, WM_MS_PROTOCOL);
	stream_write_ms(c, id, proto->name);
	*out = (struct wm_p2p_stream *)s;
	return 0;
}

int wm_p2p_stream_write(struct wm_p2p_stream *st, const void *buf, size_t len)
{
	struct stream *s = (struct stream *)st;
	struct conn *c = s->conn;

	if (c->state != C_MUX || s->proto != S_HANDLER)
		return -EAGAIN;
	/* Past a quarter of the connection's bound, datagram-like users drop
	 * rather than have the connection closed for a peer that reads too
	 * slowly. */
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + len > WRITE_QUEUE_MAX / 4)
		return -ENOBUFS;
	return wm_yamux_write(&c->y, s->id, buf, len);
}

void wm_p2p_stream_reset(struct wm_p2p_stream *st)
{
	struct stream *s = (struct stream *)st;

	s->handler = NULL; /* the caller knows: no gone callback */
	stream_reset(s->conn, s);
}

void wm_p2p_stream_info(const struct wm_p2p_stream *st, struct wm_p2p_stream_info *out)
{
	const struct stream *s = (const struct stream *)st;

	memset(out, 0, sizeof(*out));
	out->ready = s->proto == S_HANDLER && s->conn->state == C_MUX;
	out->outbound = s->outbound;
	if (s->conn->remote_len)
		wm_maddr_print(s->conn->remote, s->conn->remote_len, out->remote,
			       sizeof(out->remote));
}
