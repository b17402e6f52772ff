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
enum sproto { S_NEG, S_IDENTIFY, S_IDPUSH, S_PING, S_EXT };

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
	struct conn *conn;
	const struct wm_p2p_proto *ext; /* S_EXT: whose stream, with its context */
	void *ctx;
};

/* A stream asked for before its connection was ready. */
struct pending_open {
	struct pending_open *next;
	const struct wm_p2p_proto *proto;
	void *ctx;
};

#define MAX_PROTOS 8
#define EPHEMERAL_IDLE_MS 30000 /* a connection dialed for streams, once idle */

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
	bool ephemeral; /* dialed by wm_p2p_stream_open */
	struct pending_open *pending;
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
	const struct wm_p2p_proto *protos[MAX_PROTOS];
	size_t nprotos;
	size_t nephemeral;
	bool closing;
	int pending_closes;
	void (*done_cb)(void *data);
	void *done_data;
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

static void send_raw(struct conn *c, const uint8_t *buf, size_t len)
{
	if (c->state == C_CLOSING || len == 0)
		return;
	/* A peer that grants window but never reads would grow our queue
	 * (its pings echoed, say): past the bound, the connection goes. */
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + len > WRITE_QUEUE_MAX) {
		conn_close(c, "the peer does not read what we send");
		return;
	}
	struct wreq *w = malloc(sizeof(*w) + len);
	if (!w) {
		conn_close(c, "out of memory");
		return;
	}
	memcpy(w->data, buf, len);
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
	w->req.data = c;
	int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
	if (rc) {
		free(w);
		conn_close(c, uv_strerror(rc));
	}
}

/* Plaintext over the Noise channel, in frames of at most 65535 bytes. */
static void send_secure(struct conn *c, const uint8_t *buf, size_t len)
{
	while (len && c->state != C_CLOSING) {
		size_t n = len > WM_NOISE_PLAIN_MAX ? WM_NOISE_PLAIN_MAX : len;
		uint8_t *f = malloc(2 + n + WM_NOISE_TAG);
		if (!f || wm_noise_encrypt(&c->tx, NULL, 0, buf, n, f + 2)) {
			free(f);
			conn_close(c, "cannot encrypt");
			return;
		}
		f[0] = (uint8_t)((n + WM_NOISE_TAG) >> 8);
		f[1] = (uint8_t)(n + WM_NOISE_TAG);
		send_raw(c, f, 2 + n + WM_NOISE_TAG);
		free(f);
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
			if (s->ext && s->ext->gone)
				s->ext->gone((struct wm_p2p_stream *)s);
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
	for (size_t i = 0; i < p->nprotos && m->nprotocols < WM_IDENTIFY_PROTOS; i++)
		snprintf(m->protocols[m->nprotocols++], WM_IDENTIFY_STR, "%s", p->protos[i]->name);
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
	for (size_t i = 0; i < c->host->nprotos; i++)
		if (c->host->protos[i]->identified)
			c->host->protos[i]->identified(c->host->protos[i]->ud, &c->peer, &c->ident);
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
		if (s->outbound && s->want == S_EXT) {
			if (strcmp(text, s->ext->name))
				return -EPROTONOSUPPORT;
			s->proto = S_EXT;
			s->ext->opened((struct wm_p2p_stream *)s);
			return 0; /* s may be gone */
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
		const struct wm_p2p_proto *ext = NULL;
		for (size_t i = 0; i < c->host->nprotos && !ext; i++)
			if (!strcmp(text, c->host->protos[i]->name))
				ext = c->host->protos[i];
		if (ext) {
			stream_write_ms(c, s->id, text);
			if (ext->accept(ext->ud, (struct wm_p2p_stream *)s))
				return -EPROTO;
			s->proto = S_EXT;
			s->ext = ext; /* from here its gone callback is owed */
			return 0;
		}
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

	/* Closing our side may have ended the stream: look it up again. */
	s = stream_find(c, id);
	if (!s)
		return;
	if (rc < 0) {
		wm_debug("libp2p: stream %" PRIu32 " negotiation failed: %s", s->id, strerror(-rc));
		stream_reset(c, s);
		return;
	}
	if (s->proto == S_EXT && s->n) {
		/* What came with the negotiation is the protocol's first bytes. */
		uint8_t *b = s->buf;
		size_t n = s->n;
		s->buf = NULL;
		s->n = 0;
		s->ext->data((struct wm_p2p_stream *)s, b, n);
		free(b);
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
	if (s->proto == S_EXT) {
		s->ext->data((struct wm_p2p_stream *)s, buf, len);
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
	if (s->proto == S_EXT) {
		s->ext->fin((struct wm_p2p_stream *)s);
		return;
	}
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

static void on_idle_check(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (!c->streams)
		conn_close(c, "idle");
}

static int open_ext(struct conn *c, const struct wm_p2p_proto *proto, void *ctx)
{
	uint32_t id;
	int rc = wm_yamux_open(&c->y, &id);

	if (rc)
		return rc;
	struct stream *s = stream_add(c, id, true);
	if (!s) {
		wm_yamux_reset(&c->y, id);
		return -ENOMEM;
	}
	s->want = S_EXT;
	s->ext = proto;
	s->ctx = ctx;
	stream_write_ms(c, id, WM_MS_PROTOCOL);
	stream_write_ms(c, id, proto->name);
	return 0;
}

static void open_pending(struct conn *c)
{
	while (c->pending && c->state == C_MUX) {
		struct pending_open *po = c->pending;
		c->pending = po->next;
		int rc = open_ext(c, po->proto, po->ctx);
		if (rc)
			po->proto->failed(po->proto->ud, po->ctx, rc);
		free(po);
	}
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
	open_pending(c);
	if (c->ephemeral)
		uv_timer_start(&c->timer, on_idle_check, EPHEMERAL_IDLE_MS, EPHEMERAL_IDLE_MS);
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
	if (c->ephemeral)
		p->nephemeral--;
	while (c->pending) {
		struct pending_open *po = c->pending;
		c->pending = po->next;
		po->proto->failed(po->proto->ud, po->ctx, -ECONNRESET);
		free(po);
	}
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

/* An outbound connection to addr; NULL at the limit or out of memory.
 * A failure to connect closes it on the loop (conn_close). */
static struct conn *conn_dial(struct wm_p2p *p, const struct wm_maddr_tcp *addr)
{
	struct conn *c = conn_new(p, true);
	struct sockaddr_storage ss = {0};

	if (!c)
		return NULL;
	c->peer = addr->peer;
	c->peer_known = addr->has_peer;
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
	if (rc)
		conn_close(c, uv_strerror(rc));
	return c;
}

static void dial_start(struct dial *d)
{
	struct conn *c = conn_dial(d->host, &d->addr);

	if (!c) {
		uv_timer_start(&d->timer, on_redial, REDIAL_MAX_MS, 0);
		return;
	}
	if (c->state == C_CLOSING) { /* it failed at once, before it knew d */
		uv_timer_start(&d->timer, on_redial, d->backoff_ms, 0);
		return;
	}
	c->dial = d;
	d->conn = c;
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

/* ---- protocols of the module's other files ---- */

int wm_p2p_register(struct wm_p2p *p, const struct wm_p2p_proto *proto)
{
	if (p->nprotos >= MAX_PROTOS)
		return -ENOSPC;
	p->protos[p->nprotos++] = proto;
	return 0;
}

static bool is_loopback(const struct wm_maddr_tcp *t)
{
	static const uint8_t v6[16] = {[15] = 1};

	return t->family == 4 ? t->ip[0] == 127 : memcmp(t->ip, v6, 16) == 0;
}

int wm_p2p_stream_open(struct wm_p2p *p, const struct wm_peer_id *peer,
		       const uint8_t (*addrs)[WM_MADDR_MAX], const size_t *addr_len, size_t naddrs,
		       const struct wm_p2p_proto *proto, void *ctx)
{
	struct conn *c = NULL;

	if (p->closing)
		return -ESHUTDOWN;
	for (struct conn *o = p->conns; o && !c; o = o->next)
		if (o->peer_known && o->state != C_CLOSING && wm_peer_id_equal(&o->peer, peer))
			c = o;
	if (c && c->state == C_MUX)
		return open_ext(c, proto, ctx);
	if (!c) {
		struct wm_maddr_tcp t;
		size_t i = naddrs;
		/* Peers list their loopback addresses too (so do we): those
		 * are ours, not theirs, unless nothing else is given. */
		for (int pass = 0; pass < 2 && i == naddrs; pass++)
			for (i = 0; i < naddrs; i++)
				if (wm_maddr_to_tcp(addrs[i], addr_len[i], &t) == 0 &&
				    (!t.has_peer || wm_peer_id_equal(&t.peer, peer)) &&
				    (pass == 1 || !is_loopback(&t)))
					break;
		if (i == naddrs)
			return -EHOSTUNREACH;
		/* Dialed for others' streams: bounded like accepted ones. */
		if (p->nephemeral >= p->max_conns)
			return -EMFILE;
		t.has_peer = true;
		t.peer = *peer;
		c = conn_dial(p, &t);
		if (!c)
			return -EMFILE;
		if (c->state == C_CLOSING)
			return -ECONNREFUSED;
		c->ephemeral = true;
		p->nephemeral++;
	}
	struct pending_open *po = calloc(1, sizeof(*po));
	if (!po)
		return -ENOMEM;
	po->proto = proto;
	po->ctx = ctx;
	po->next = c->pending;
	c->pending = po;
	return 0;
}

int wm_p2p_stream_write(struct wm_p2p_stream *ws, const void *buf, size_t len)
{
	struct stream *s = (struct stream *)ws;

	return wm_yamux_write(&s->conn->y, s->id, buf, len);
}

void wm_p2p_stream_close(struct wm_p2p_stream *ws)
{
	struct stream *s = (struct stream *)ws;

	wm_yamux_close(&s->conn->y, s->id);
}

void wm_p2p_stream_reset(struct wm_p2p_stream *ws)
{
	struct stream *s = (struct stream *)ws;

	stream_reset(s->conn, s);
}

void wm_p2p_stream_set_ctx(struct wm_p2p_stream *ws, void *ctx)
{
	((struct stream *)ws)->ctx = ctx;
}

void *wm_p2p_stream_ctx(const struct wm_p2p_stream *ws)
{
	return ((const struct stream *)ws)->ctx;
}

const struct wm_peer_id *wm_p2p_stream_peer(const struct wm_p2p_stream *ws)
{
	return &((const struct stream *)ws)->conn->peer;
}

const struct wm_peer_id *wm_p2p_id(const struct wm_p2p *p)
{
	return &p->id;
}

size_t wm_p2p_listen_addrs(struct wm_p2p *p, uint8_t (*out)[WM_MADDR_MAX], size_t *len, size_t max)
{
	struct wm_identify *m = calloc(1, sizeof(*m));
	size_t n = 0;

	if (!m)
		return 0;
	our_listen_addrs(p, m);
	for (; n < m->nlisten && n < max; n++) {
		memcpy(out[n], m->listen[n], m->listen_len[n]);
		len[n] = m->listen_len[n];
	}
	free(m);
	return n;
}

uv_loop_t *wm_p2p_loop(const struct wm_p2p *p)
{
	return p->loop;
}
