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
#include <net/if.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/error.h"
#include "p2p/identify.h"
#include "p2p/dcutr.h"
#include "p2p/noise.h"
#include "p2p/noiseframe.h"
#include "core/p2pwire.h"
#include "p2p/relay.h"
#include "p2p/yamux.h"
#include "util/fsutil.h"
#include "util/log.h"

#define YAMUX_PROTOCOL "/yamux/1.0.0"
#define IDPUSH_PROTOCOL "/ipfs/id/push/1.0.0"
#define PROTOCOL_VERSION "ipfs/0.1.0"
#define PING_LEN 32
#define STREAM_BUF_MAX (WM_IDENTIFY_MAX + 2 * WM_MS_MAX)
#define MAX_PROPOSALS 8 /* "na" answers before a stream or connection is dropped */
#define REDIAL_MIN_MS 1000
#define REDIAL_MAX_MS 60000

enum cstate { C_CONNECTING, C_MS_SEC, C_NOISE, C_MS_MUX, C_MUX, C_CLOSING };
enum sproto { S_NEG, S_IDENTIFY, S_IDPUSH, S_PING, S_APP };
#define MAX_HANDLERS 8
#define MAX_WATCHERS 4
#define EPHEMERAL_IDLE_MS 30000 /* a connection dialed for streams, once idle */
#define APP_PROTO_MAX 128
/* A relayed connection's input held at once: a Noise frame behind a yamux
 * window's worth of data (what one stream delivery can carry). */
#define VIA_IN_MAX (WM_YAMUX_WINDOW + 2 * (2 + WM_NOISE_MAX))
#define VIA_WINDOW (1024u * 1024u)
/* One read takes up to a Noise frame; on a connection whose reads fill
 * that (bulk traffic: WireGuard), up to four, so that a syscall moves four
 * frames. The buffer stays while reads keep coming and goes once a second
 * without one (sweep_cb): idle connections hold none. */
#define READ_ONE (2 + WM_NOISE_MAX + 64)
#define READ_BULK (4 * (2 + WM_NOISE_MAX))
#define SMALL_BUF 4096
#define READ_MIN 1024 /* room a small read buffer keeps beyond what it holds */
#define SWEEP_MS 1000
/* Full-frame write buffers kept while traffic flows (1 MiB at most, freed
 * by the sweep once it stops): as many as a WireGuard link at full speed
 * has in flight behind a full socket, so that none is malloc'ed (and, with
 * main's trim threshold, faulted in anew) per frame. 4 left most of a
 * libp2p-direct run's page faults in the loop thread. */
#define WREQ_SPARES 16
/* Frames sealed for one connection during one pass of the event loop go out
 * in one writev, flushed before the loop waits again (out_flush_all). On
 * this machine's veth a TCP write costs about 20 us before its bytes (the
 * push, the receiver's softirq, waking it): 48 KiB writes moved a Gbit for
 * 0.089 s of CPU, 192 KiB ones for 0.043 s. A WireGuard link sealed a frame
 * and wrote it, 49 KiB on average. */
#define OUT_FRAMES 8

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
	/* S_APP (host.h's stream API): the owner, and for an outbound one the
	 * protocol proposed */
	struct conn *conn;
	const struct wm_p2p_stream_cb *cb;
	void *ud;
	char app[APP_PROTO_MAX];
	/* ours, opened while its connection was being made: no yamux ID (0)
	 * until the connection is up (mux_ready); fin_pending: closed before */
	bool pending, fin_pending;
	uint32_t window; /* wm_p2p_set_window's, for a pending one */
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
	/* relayed: the connection runs over this stream of the relay's
	 * connection instead of TCP (wm_p2p_conn_over) */
	bool relayed;
	struct stream *via;
	struct wm_peer_id relay_id;
	bool ephemeral;	    /* dialed by wm_p2p_dial: closed once idle */
	bool kept;	    /* was, until wm_p2p_keep: a relay we reserve on */
	bool punched;	    /* a DCUtR hole punch made it (wm_p2p_punch) */
	bool bulk;	    /* the last read filled what it was offered */
	bool read_recently; /* since the last sweep */
	/* sealed frames not written yet (OUT_FRAMES), and the host's list of
	 * connections holding some */
	struct wreq *out[OUT_FRAMES];
	unsigned nout;
	size_t out_bytes;
	struct conn *out_next;
	bool out_listed;
};

struct dial {
	struct wm_p2p *host;
	struct wm_maddr_tcp addr;
	char text[WM_MADDR_TEXT_MAX];
	struct conn *conn;
	uv_timer_t timer;
	uint32_t backoff_ms;
};

struct handler {
	char proto[APP_PROTO_MAX];
	wm_p2p_accept_fn fn;
	void *arg;
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
	char mesh_ifname[IF_NAMESIZE];
	uint32_t ping_interval_ms, max_conns, max_streams;
	uint32_t handshake_timeout_ms, write_queue_max, held_per_stream, held_per_conn;
	struct listener *listeners;
	size_t nlisteners;
	struct dial *dials;
	size_t ndials;
	struct conn *conns;
	size_t nconns;
	size_t ninbound; /* the part of nconns that max_conns bounds */
	uv_timer_t ping_timer;
	uv_timer_t sweep;		  /* frees big input buffers of connections gone quiet */
	struct wreq *spares[WREQ_SPARES]; /* full-frame write buffers, kept while traffic flows */
	size_t nspares;
	bool spares_used; /* since the last sweep */
	/* connections with frames to write, flushed after the loop's I/O
	 * callbacks (check) and before it waits (prepare: for what timers
	 * and other phases queued) */
	struct conn *out_list;
	uint64_t writes, frames; /* wm_p2p_status's */
	uv_check_t out_check;
	uv_prepare_t out_prepare;
	bool closing;
	int pending_closes;
	void (*done_cb)(void *data);
	void *done_data;
	struct handler handlers[MAX_HANDLERS];
	size_t nhandlers;
	struct wm_relay_svc *relay;
	struct {
		wm_p2p_identified_fn fn;
		void *arg;
	} watchers[MAX_WATCHERS];
	size_t nwatchers;
	size_t nephemeral; /* connections dialed by wm_p2p_dial, open now */
	struct wm_dcutr *dcutr;
};

static void conn_close(struct conn *c, const char *why);
static void sweep_cb(uv_timer_t *t);

/* Starts the sweep that frees what bulk traffic keeps (big input buffers,
 * spare write buffers, yamux's held-back data) once it stops. */
static void sweep_arm(struct wm_p2p *p)
{
	if (!uv_is_active((uv_handle_t *)&p->sweep) && !p->closing)
		uv_timer_start(&p->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
}
static void stream_on_data(struct conn *c, struct stream *s);
static int via_write(struct conn *c, const uint8_t *buf, size_t len);

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
	struct wm_p2p *host;
	struct wreq *next; /* the rest of a writev's frames, done with this one */
	size_t len;
	bool spare; /* WREQ_BIG bytes of data: goes back to the host's spares */
	uint8_t data[];
};

/* A whole Noise frame: what bulk traffic writes, again and again. */
#define WREQ_BIG (2 + WM_NOISE_MAX)

/* A write's buffer for len bytes: a full-size one from the spares (a
 * malloc and free of 64 KiB per frame made glibc grow and trim the heap,
 * a brk each way), else its own. */
static struct wreq *wreq_get(struct wm_p2p *p, size_t len)
{
	struct wreq *w;

	if (len > SMALL_BUF && len <= WREQ_BIG) {
		w = p->nspares ? p->spares[--p->nspares] : malloc(sizeof(*w) + WREQ_BIG);
		if (w) {
			w->host = p;
			w->spare = true;
		}
		return w;
	}
	w = malloc(sizeof(*w) + len);
	if (w) {
		w->host = p;
		w->spare = false;
	}
	return w;
}

static void wreq_put(struct wreq *w)
{
	struct wm_p2p *p = w->host;

	if (w->spare && p->nspares < WREQ_SPARES && !p->closing) {
		p->spares[p->nspares++] = w;
		p->spares_used = true;
		sweep_arm(p);
		return;
	}
	free(w);
}

static void wreq_put_chain(struct wreq *w)
{
	while (w) {
		struct wreq *next = w->next;
		wreq_put(w);
		w = next;
	}
}

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = req->data;

	wreq_put_chain(w);
	if (status < 0 && status != UV_ECANCELED && c->state != C_CLOSING)
		conn_close(c, uv_strerror(status));
}

/* Writes the connection's sealed frames, in one writev: 0, or libuv's
 * error (the frames are freed). */
static int out_write(struct conn *c)
{
	uv_buf_t b[OUT_FRAMES];
	unsigned n = c->nout;

	if (!n)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		b[i] = uv_buf_init((char *)c->out[i]->data, (unsigned)c->out[i]->len);
		c->out[i]->next = i + 1 < n ? c->out[i + 1] : NULL;
	}
	struct wreq *head = c->out[0];
	c->nout = 0;
	c->out_bytes = 0;
	head->req.data = c;
	c->host->writes++;
	c->host->frames += n;
	int rc = uv_write(&head->req, (uv_stream_t *)&c->tcp, b, n, on_written);
	if (rc)
		wreq_put_chain(head);
	return rc;
}

static void out_flush(struct conn *c)
{
	int rc = out_write(c);

	if (rc)
		conn_close(c, uv_strerror(rc));
}

static void out_flush_all(struct wm_p2p *p)
{
	while (p->out_list) {
		struct conn *c = p->out_list;
		p->out_list = c->out_next;
		c->out_listed = false;
		out_flush(c);
	}
	uv_check_stop(&p->out_check);
	uv_prepare_stop(&p->out_prepare);
}

static void on_out_check(uv_check_t *h)
{
	out_flush_all(h->data);
}

static void on_out_prepare(uv_prepare_t *h)
{
	out_flush_all(h->data);
}

/* Leaves the host's list (a closing connection, flushed first). */
static void out_unlist(struct conn *c)
{
	if (!c->out_listed)
		return;
	for (struct conn **pp = &c->host->out_list; *pp; pp = &(*pp)->out_next)
		if (*pp == c) {
			*pp = c->out_next;
			break;
		}
	c->out_listed = false;
}

/* Queues len bytes of w->data; w is the write's from now on. */
static void send_wreq(struct conn *c, struct wreq *w, size_t len)
{
	if (c->state == C_CLOSING) {
		wreq_put(w);
		return;
	}
	if (c->relayed) {
		/* The relay's stream copies what it takes: w is done with. */
		int rc = via_write(c, w->data, len);
		wreq_put(w);
		if (rc)
			conn_close(c, "the relay's stream is gone or does not drain");
		return;
	}
	/* A peer that grants window but never reads would grow our queue
	 * (its pings echoed, say): past the bound, the connection goes. */
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + c->out_bytes + len >
	    c->host->write_queue_max) {
		wreq_put(w);
		conn_close(c, "the peer does not read what we send");
		return;
	}
	w->len = len;
	c->out[c->nout++] = w;
	c->out_bytes += len;
	if (c->nout == OUT_FRAMES) {
		out_flush(c);
		return;
	}
	if (!c->out_listed) {
		struct wm_p2p *p = c->host;
		if (!p->out_list) {
			uv_check_start(&p->out_check, on_out_check);
			uv_prepare_start(&p->out_prepare, on_out_prepare);
		}
		c->out_next = p->out_list;
		p->out_list = c;
		c->out_listed = true;
	}
}

static void send_raw(struct conn *c, const uint8_t *buf, size_t len)
{
	if (c->state == C_CLOSING || len == 0)
		return;
	struct wreq *w = wreq_get(c->host, len);
	if (!w) {
		conn_close(c, "out of memory");
		return;
	}
	memcpy(w->data, buf, len);
	send_wreq(c, w, len);
}

/* Plaintext a then b over the Noise channel, in frames of at most 65535
 * bytes, sealed straight into the write's buffer: no copy before or after. */
static void send_secure2(struct conn *c, const uint8_t *a, size_t alen, const uint8_t *b,
			 size_t blen)
{
	while (alen + blen && c->state != C_CLOSING) {
		size_t n = alen + blen > WM_NOISE_PLAIN_MAX ? WM_NOISE_PLAIN_MAX : alen + blen;
		size_t na = alen < n ? alen : n;
		struct wreq *w = wreq_get(c->host, 2 + n + WM_NOISE_TAG);
		if (!w || wm_noise_encrypt2(&c->tx, a, na, b, n - na, w->data + 2)) {
			if (w)
				wreq_put(w);
			conn_close(c, "cannot encrypt");
			return;
		}
		w->data[0] = (uint8_t)((n + WM_NOISE_TAG) >> 8);
		w->data[1] = (uint8_t)(n + WM_NOISE_TAG);
		send_wreq(c, w, 2 + n + WM_NOISE_TAG);
		a += na;
		alen -= na;
		b += n - na;
		blen -= n - na;
	}
}

static void send_secure(struct conn *c, const uint8_t *buf, size_t len)
{
	send_secure2(c, buf, len, NULL, 0);
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
		if (s->id == id && !s->pending)
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

/* By pointer: streams waiting for their connection all have ID 0. */
static void stream_free_s(struct conn *c, struct stream *target)
{
	for (struct stream **pp = &c->streams; *pp; pp = &(*pp)->next) {
		if (*pp == target) {
			struct stream *s = *pp;
			*pp = s->next;
			/* Unlinked first: the owner may touch other streams. */
			if (s->cb) {
				const struct wm_p2p_stream_cb *cb = s->cb;
				s->cb = NULL;
				cb->gone(s->ud, (struct wm_p2p_stream *)s);
			}
			free(s->buf);
			free(s);
			return;
		}
	}
}

static void stream_free(struct conn *c, uint32_t id)
{
	struct stream *s = stream_find(c, id);

	if (s)
		stream_free_s(c, s);
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
/* An interface address a wildcard listener of this family is reached on
 * (copied into ip): never IPv6 link-local (useless without its scope). */
static bool if_addr_usable(const uv_interface_address_t *ifa, int family, uint8_t ip[16])
{
	if (family == 4 && ifa->address.address4.sin_family == AF_INET) {
		memcpy(ip, &ifa->address.address4.sin_addr, 4);
		return true;
	}
	if (family == 6 && ifa->address.address6.sin6_family == AF_INET6 &&
	    !IN6_IS_ADDR_LINKLOCAL(&ifa->address.address6.sin6_addr)) {
		memcpy(ip, &ifa->address.address6.sin6_addr, 16);
		return true;
	}
	return false;
}

static bool is_mesh_if(const struct wm_p2p *p, const uv_interface_address_t *ifa)
{
	return p->mesh_ifname[0] && strcmp(ifa->name, p->mesh_ifname) == 0;
}

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
		/* Loopback leads a peer back to itself: offered only by a
		 * host that has nothing else (tests on one machine). The
		 * mesh's own addresses never: a connection to one would run
		 * inside the WireGuard tunnel it may itself be carrying. */
		bool external = false;
		for (int k = 0; k < nifs; k++) {
			uint8_t ip[16];
			if (!ifs[k].is_internal && !is_mesh_if(p, &ifs[k]) &&
			    if_addr_usable(&ifs[k], t.family, ip))
				external = true;
		}
		for (int k = 0; k < nifs && m->nlisten < WM_IDENTIFY_ADDRS; k++) {
			struct wm_maddr_tcp a = t;
			if ((external && ifs[k].is_internal) || is_mesh_if(p, &ifs[k]) ||
			    !if_addr_usable(&ifs[k], t.family, a.ip))
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
	/* Over a relay we saw no address of the peer's, only the circuit:
	 * no observed address then (js-libp2p fails identify on one). */
	if (!c->relayed) {
		memcpy(m->observed, c->remote, c->remote_len);
		m->observed_len = c->remote_len;
	}
	const char *protos[] = {WM_IDENTIFY_PROTOCOL, IDPUSH_PROTOCOL, WM_PING_PROTOCOL};
	for (size_t i = 0; i < 3; i++)
		snprintf(m->protocols[m->nprotocols++], WM_IDENTIFY_STR, "%s", protos[i]);
	for (size_t i = 0; i < p->nhandlers && m->nprotocols < WM_IDENTIFY_PROTOS; i++)
		snprintf(m->protocols[m->nprotocols++], WM_IDENTIFY_STR, "%s",
			 p->handlers[i].proto);
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
	bool hop = false;
	for (size_t i = 0; i < m.nprotocols; i++)
		hop = hop || !strcmp(m.protocols[i], WM_RELAY_HOP_PROTOCOL);
	if (c->host->relay)
		wm_relay_svc_peer_up(c->host->relay, &c->peer, hop, c->dial != NULL, c->relayed);
	/* A watcher may close connections (this one too): c->ident is copied. */
	struct wm_p2p *p = c->host;
	struct wm_peer_id id = c->peer;
	for (size_t i = 0; i < p->nwatchers; i++)
		p->watchers[i].fn(p->watchers[i].arg, &id, &m);
	/* DCUtR: the side that accepted a relayed connection starts it. */
	bool dcutr = false;
	for (size_t i = 0; i < m.nprotocols; i++)
		dcutr = dcutr || !strcmp(m.protocols[i], WM_DCUTR_PROTOCOL);
	if (c->host->dcutr && c->relayed && !c->outbound && dcutr)
		wm_dcutr_relayed_up(c->host->dcutr, &c->peer);
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

static const struct handler *find_handler(const struct wm_p2p *p, const char *proto)
{
	for (size_t i = 0; i < p->nhandlers; i++)
		if (!strcmp(p->handlers[i].proto, proto))
			return &p->handlers[i];
	return NULL;
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
		if (s->outbound) {
			const char *want = s->want == S_APP    ? s->app
					   : s->want == S_PING ? WM_PING_PROTOCOL
							       : WM_IDENTIFY_PROTOCOL;
			if (strcmp(text, want))
				return -EPROTONOSUPPORT; /* "na", or anything else */
			s->proto = s->want;
			if (s->proto == S_APP) {
				if (s->cb && s->cb->opened)
					s->cb->opened(s->ud, (struct wm_p2p_stream *)s);
				return 0; /* s may be gone */
			}
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
		} else if (find_handler(c->host, text)) {
			const struct handler *h = find_handler(c->host, text);
			const struct wm_p2p_stream_cb *cb = NULL;
			void *ud = NULL;
			stream_write_ms(c, s->id, text);
			s->proto = S_APP;
			if (h->fn(h->arg, (struct wm_p2p_stream *)s, &cb, &ud) || !cb)
				return -ECONNREFUSED;
			s->cb = cb;
			s->ud = ud;
			return 0;
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
	if (s->proto == S_APP) {
		/* What came behind the negotiation goes to the owner, once. */
		if (s->n && s->cb) {
			uint8_t *b = s->buf;
			size_t n = s->n;
			s->buf = NULL;
			s->n = 0;
			s->cb->data(s->ud, (struct wm_p2p_stream *)s, b, n);
			free(b);
		}
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

static void y_send2(void *ud, const uint8_t *hdr, size_t hlen, const uint8_t *buf, size_t len)
{
	send_secure2(ud, hdr, hlen, buf, len);
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
	if (s->proto == S_APP) {
		if (s->cb)
			s->cb->data(s->ud, (struct wm_p2p_stream *)s, buf, len);
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
	if (s->proto == S_APP) {
		if (s->cb && s->cb->fin)
			s->cb->fin(s->ud, (struct wm_p2p_stream *)s);
		return; /* the owner closes its side when it is done */
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
	.send2 = y_send2,
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

/* The streams opened while the connection was being made: proposed now.
 * An owner's gone may reset others: look again from the start each time. */
static void open_pending(struct conn *c)
{
	for (;;) {
		struct stream *s = c->streams;
		uint32_t id;
		while (s && !s->pending)
			s = s->next;
		if (!s || c->state != C_MUX)
			return;
		if (wm_yamux_open(&c->y, &id)) {
			stream_free_s(c, s); /* gone tells its owner */
			continue;
		}
		s->pending = false;
		s->id = id;
		if (s->window)
			wm_yamux_set_window(&c->y, id, s->window);
		stream_write_ms(c, id, WM_MS_PROTOCOL);
		stream_write_ms(c, id, s->app);
		if (s->fin_pending)
			wm_yamux_close(&c->y, id);
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
	/* A data frame and its header fill one Noise message at most, never
	 * a full one and a 29-byte one after it. */
	c->y.max_data = WM_NOISE_PLAIN_MAX - WM_YAMUX_HDR_LEN;
	c->y.pending_max = c->host->held_per_stream;
	c->y.session_pending_max = c->host->held_per_conn;
	c->state = C_MUX;
	uv_timer_stop(&c->timer);
	if (c->dial)
		c->dial->backoff_ms = REDIAL_MIN_MS;
	wm_peer_id_print(&c->peer, peer);
	wm_info("libp2p: connected to %s (%s%s)", peer, c->outbound ? "outbound" : "inbound",
		c->punched   ? ", hole punched"
		: c->relayed ? ", relayed"
			     : "");
	/* A direct connection replaces relayed ones to the same peer (the
	 * upgrade DCUtR is for): the relay's bytes are spent no more. */
	if (!c->relayed) {
		bool replaced = false, replaced_ephemeral = false;
		for (struct conn *o = c->host->conns, *next; o; o = next) {
			next = o->next;
			if (o != c && o->relayed && o->state == C_MUX &&
			    wm_peer_id_equal(&o->peer, &c->peer)) {
				replaced = true;
				replaced_ephemeral = replaced_ephemeral || o->ephemeral;
				conn_close(o, "a direct connection replaces it");
				next = c->host->conns; /* the list changed */
			}
		}
		/* A punched connection carries what the relayed one did, so
		 * it is closed once idle as that one would have been (one
		 * dialed for streams, a WireGuard link's); one that replaces
		 * none (its punch completed after the relayed connection was
		 * gone) is nobody's once idle. Else it would outlive the
		 * streams it was made for and stay the peer's best connection
		 * while its path may have silently died. */
		if (c->punched && !c->ephemeral && (replaced_ephemeral || !replaced)) {
			c->ephemeral = true;
			c->host->nephemeral++;
		}
	}
	open_stream(c, S_IDENTIFY);
	open_pending(c);
	if (c->ephemeral && c->state == C_MUX)
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

/* Opens whole frames from c->in, each in place (its ciphertext is not
 * needed after), and moves what is left to the front once, after them all;
 * plaintext goes to the muxer's negotiation buffer or to yamux. */
static int secure_input(struct conn *c)
{
	size_t off = 0, used, pl;
	uint8_t *pt;
	int rc = 0;

	while (c->state != C_CLOSING &&
	       (rc = wm_noise_frame_open(&c->rx, c->in + off, c->nin - off, &used, &pt, &pl)) > 0) {
		off += used;
		rc = 0;
		if (c->state == C_MS_MUX && pl == 0)
			continue; /* an empty frame: nothing to negotiate with */
		if (c->state == C_MS_MUX) {
			if (c->nplain + pl > 2 * WM_MS_MAX + WM_NOISE_MAX) {
				rc = -EPROTO;
				break;
			}
			uint8_t *b = realloc(c->plain, c->nplain + pl);
			if (!b) {
				rc = -ENOMEM;
				break;
			}
			memcpy(b + c->nplain, pt, pl);
			c->plain = b;
			c->nplain += pl;
			rc = conn_negotiate(c, c->plain, &c->nplain);
			if (rc < 0)
				break;
			rc = 0;
			if (c->state == C_MUX && c->nplain) {
				rc = wm_yamux_feed(&c->y, c->plain, c->nplain);
				c->nplain = 0;
				if (rc)
					break;
			}
			continue;
		}
		if (c->state == C_MUX && (rc = wm_yamux_feed(&c->y, pt, pl)))
			break;
	}
	if (off) {
		memmove(c->in, c->in + off, c->nin - off);
		c->nin -= off;
	}
	return rc;
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
	size_t cap;

	(void)suggested;
	/* Bulk reads get a large buffer, sized once for both a read and a
	 * frame's leftover (resizing it with every read's leftover was a
	 * mremap per read). Other reads (a ping, a handshake, a datagram now
	 * and then) fit in a small one, which a connection keeps: it grows to
	 * a whole frame once that frame's length prefix is in, and a read that
	 * fills it makes the connection bulk. A 64 KiB buffer per read, freed
	 * after, was a malloc and a free of it per ping. */
	if (c->bulk && c->state == C_MUX) {
		cap = c->nin + READ_BULK;
		if (cap < READ_BULK + READ_ONE)
			cap = READ_BULK + READ_ONE;
	} else if (c->bulk) {
		cap = c->nin + READ_ONE;
	} else {
		cap = c->nin + READ_MIN;
		bool framed = c->state == C_NOISE || c->state == C_MS_MUX || c->state == C_MUX;
		if (framed && c->nin >= 2) {
			size_t frame = 2 + ((size_t)c->in[0] << 8 | c->in[1]);
			if (cap < frame)
				cap = frame;
		}
		if (cap < SMALL_BUF)
			cap = SMALL_BUF;
	}
	if (c->capin < cap) {
		uint8_t *b = realloc(c->in, cap);
		if (!b) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		c->in = b;
		c->capin = cap;
	}
	*buf = uv_buf_init((char *)c->in + c->nin, (unsigned)(c->capin - c->nin));
}

static void conn_after_input(struct conn *c, int rc);

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = st->data;
	int rc;

	if (nread < 0) {
		conn_close(c, nread == UV_EOF ? "closed by the peer" : uv_strerror((int)nread));
		return;
	}
	c->bulk = buf->len && (size_t)nread == buf->len;
	c->read_recently = true;
	c->nin += (size_t)nread;
	rc = conn_input(c);
	conn_after_input(c, rc);
}

static void sweep_cb(uv_timer_t *t)
{
	struct wm_p2p *p = t->data;
	bool big = false;

	for (struct conn *c = p->conns; c; c = c->next) {
		/* Empty, and either idle or not bulk (a ping's read, a
		 * handshake's): one free a period, not one per read. */
		if (c->capin > SMALL_BUF && c->nin == 0 && (!c->read_recently || !c->bulk)) {
			free(c->in);
			c->in = NULL;
			c->capin = 0;
			c->bulk = false;
		}
		c->read_recently = false;
		big = big || c->capin > SMALL_BUF;
		if (c->state == C_MUX)
			big = wm_yamux_trim(&c->y) > 0 || big;
	}
	if (!p->spares_used) {
		while (p->nspares)
			free(p->spares[--p->nspares]);
	}
	p->spares_used = false;
	if (!big && !p->nspares)
		uv_timer_stop(t);
}

static void conn_after_input(struct conn *c, int rc)
{
	if (rc < 0 && c->state != C_CLOSING)
		conn_close(c, rc == -EACCES   ? "the peer's identity was refused"
			      : rc == -EPROTO ? "protocol violation"
					      : wm_strerror(rc));
	if (c->state == C_CLOSING || c->capin <= SMALL_BUF)
		return;
	/* A big buffer is kept between reads, and the sweep frees it: once a
	 * period when reads do not fill it, once they stop when they do (bulk
	 * traffic). Freed after every read that left nothing, it was a malloc
	 * and a free of 64 KiB per read, and with main's trim threshold a brk
	 * each way. */
	sweep_arm(c->host);
}

/* A connection whose path died (a NAT that forgot it, a firewall that now
 * drops it) must end: a WireGuard link would keep writing into it, and a
 * punch to the same peer cannot reuse its 4-tuple while it exists. Data left
 * unacknowledged for CONN_USER_TIMEOUT_MS ends it, as do keepalive probes
 * (every CONN_KEEPINTVL_S once idle for CONN_KEEPIDLE_S) left unanswered. */
#define CONN_USER_TIMEOUT_MS 20000
#define CONN_KEEPIDLE_S 15
#define CONN_KEEPINTVL_S 5
#define CONN_KEEPCNT 3

static void conn_begin(struct conn *c)
{
	uv_os_fd_t fd;
	unsigned int user_timeout = CONN_USER_TIMEOUT_MS;
	int intvl = CONN_KEEPINTVL_S, cnt = CONN_KEEPCNT;

	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_keepalive(&c->tcp, 1, CONN_KEEPIDLE_S);
	if (!uv_fileno((uv_handle_t *)&c->tcp, &fd)) {
		/* best effort: without them the connection ends as TCP's defaults
		 * say, minutes later */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
		(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
		(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout,
				 sizeof(user_timeout));
	}
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
		while (p->nspares)
			free(p->spares[--p->nspares]);
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
		stream_free_s(c, c->streams);
	if (c->y_init)
		wm_yamux_free(&c->y);
	wm_noise_cs_free(&c->tx);
	wm_noise_cs_free(&c->rx);
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
	/* What was sealed goes out as it would have before the close (a
	 * go-away, a reset): libuv writes it now if the socket takes it. A
	 * write that fails changes nothing here: the connection goes anyway. */
	(void)out_write(c);
	out_unlist(c);
	if (c->peer_known)
		wm_peer_id_print(&c->peer, peer);
	if (c->dial)
		wm_info("libp2p: connection to %s (%s) closed: %s", c->dial->text, peer, why);
	else
		wm_debug("libp2p: connection from %s closed: %s", peer, why);
	c->state = C_CLOSING;
	if (c->ephemeral)
		p->nephemeral--;
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
	/* The streams' owners learn now; the structures go with the handles.
	 * An owner may reset other streams here: look again each time. */
	for (;;) {
		struct stream *s = c->streams;
		while (s && !s->cb)
			s = s->next;
		if (!s)
			break;
		const struct wm_p2p_stream_cb *cb = s->cb;
		s->cb = NULL;
		cb->gone(s->ud, (struct wm_p2p_stream *)s);
	}
	p->pending_closes++;
	if (c->relayed) {
		struct stream *v = c->via;
		c->via = NULL;
		if (v)
			wm_p2p_reset((struct wm_p2p_stream *)v);
		c->closing_handles = 1;
		uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
		return;
	}
	/* A punched connection's 4-tuple (our listen port, the peer's) is the
	 * only one the next punch to this peer can use. Closed with a FIN it
	 * stays held in FIN-WAIT or TIME-WAIT for a minute, longer when the
	 * path is gone and the FIN goes unanswered, and that punch's connect
	 * fails ("no connection could be started"). Closed with a RST it is
	 * free at once; the connection carries nothing by now. */
	if (c->punched) {
		uv_os_fd_t fd;
		struct linger abortive = {.l_onoff = 1, .l_linger = 0};
		if (!uv_fileno((uv_handle_t *)&c->tcp, &fd))
			(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof(abortive));
	}
	c->closing_handles = 2;
	uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

static struct conn *conn_new(struct wm_p2p *p, bool outbound, bool relayed)
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
	c->relayed = relayed;
	if (!relayed && uv_tcp_init(p->loop, &c->tcp)) {
		free(c);
		return NULL;
	}
	uv_timer_init(p->loop, &c->timer);
	if (!relayed)
		c->tcp.data = c;
	c->timer.data = c;
	c->next = p->conns;
	p->conns = c;
	p->nconns++;
	if (!outbound)
		p->ninbound++;
	uv_timer_start(&c->timer, on_handshake_timeout, p->handshake_timeout_ms, 0);
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
	c = conn_new(l->host, false, false);
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
 * A failure to connect closes it on the spot (state C_CLOSING). */
static struct conn *conn_dial(struct wm_p2p *p, const struct wm_maddr_tcp *addr)
{
	struct conn *c = conn_new(p, true, false);
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

static int reuse_port(uv_tcp_t *t)
{
	uv_os_fd_t fd;
	int one = 1;

	if (uv_fileno((uv_handle_t *)t, &fd))
		return UV_EBADF;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		return uv_translate_sys_error(errno);
	return 0;
}

static void on_relay_closed(void *data)
{
	struct wm_p2p *p = data;

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
	struct wm_peer_id *ctarget = NULL, *crelay = NULL; /* circuit targets and relays */
	size_t ncircuits = 0, ndials = 0;
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
	p->handshake_timeout_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : 20000;
	p->write_queue_max = cfg->write_queue_max ? cfg->write_queue_max : 4u * 1024u * 1024u;
	p->held_per_stream = cfg->held_per_stream ? cfg->held_per_stream : WM_YAMUX_PENDING_MAX;
	p->held_per_conn = cfg->held_per_conn ? cfg->held_per_conn : WM_YAMUX_SESSION_PENDING_MAX;
	snprintf(p->agent, sizeof(p->agent), "%s", cfg->agent ? cfg->agent : "webmesh");
	snprintf(p->mesh_ifname, sizeof(p->mesh_ifname), "%s",
		 cfg->mesh_ifname ? cfg->mesh_ifname : "");
	p->listeners = calloc(cfg->nlisten ? cfg->nlisten : 1, sizeof(*p->listeners));
	p->dials = calloc(cfg->npeers ? cfg->npeers : 1, sizeof(*p->dials));
	ctarget = calloc(cfg->npeers ? cfg->npeers : 1, sizeof(*ctarget));
	crelay = calloc(cfg->npeers ? cfg->npeers : 1, sizeof(*crelay));
	if (!ctarget || !crelay) {
		rc = -ENOMEM;
		goto fail_mem;
	}
	if (!p->listeners || !p->dials) {
		rc = -ENOMEM;
		goto fail_mem;
	}
	/* Check every address before anything is bound. A circuit address
	 * (.../p2p/RELAY/p2p-circuit/p2p/TARGET) dials its relay and keeps
	 * the target connected through it (relay.c). */
	for (size_t i = 0; i < cfg->npeers; i++) {
		char relay_text[WM_MADDR_TEXT_MAX], e[320];
		const char *text = cfg->peers[i];
		struct dial *d = &p->dials[ndials];
		rc = wm_relay_circuit_split(text, relay_text, sizeof(relay_text),
					    &ctarget[ncircuits], e, sizeof(e));
		if (rc < 0) {
			wm_seterr(err, errlen, "libp2p-peers: %s", e);
			goto fail_mem;
		}
		if (rc == 1)
			text = relay_text;
		if ((rc = parse_tcp(text, &d->addr, "libp2p-peers", err, errlen)))
			goto fail_mem;
		if (text == relay_text) {
			crelay[ncircuits++] = d->addr.peer;
			bool dup = false;
			for (size_t k = 0; k < ndials; k++)
				dup = dup ||
				      (p->dials[k].addr.has_peer &&
				       wm_peer_id_equal(&p->dials[k].addr.peer, &d->addr.peer));
			if (dup) {
				memset(d, 0, sizeof(*d));
				continue;
			}
		}
		snprintf(d->text, sizeof(d->text), "%s", text);
		ndials++;
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
	if ((rc = wm_relay_svc_new(p, cfg, &p->relay, err, errlen)))
		goto fail_mem;
	for (size_t i = 0; i < ncircuits; i++)
		wm_relay_svc_keep(p->relay, &crelay[i], &ctarget[i]);
	if ((rc = wm_dcutr_new(p, p->loop, &p->dcutr, err, errlen)))
		goto fail_mem;
	free(ctarget);
	free(crelay);
	ctarget = crelay = NULL;
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
		uv_tcp_init_ex(p->loop, &l->tcp, lt[i].family == 6 ? AF_INET6 : AF_INET);
		l->tcp.data = l;
		p->nlisteners++;
		/* DCUtR punches from the listen port (the port peers learn
		 * through NATs that keep it): the listener must share it. */
		rc = reuse_port(&l->tcp);
		if (!rc)
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
	uv_timer_init(p->loop, &p->sweep);
	p->sweep.data = p;
	uv_check_init(p->loop, &p->out_check);
	p->out_check.data = p;
	uv_prepare_init(p->loop, &p->out_prepare);
	p->out_prepare.data = p;
	if (p->ping_interval_ms)
		uv_timer_start(&p->ping_timer, on_ping_timer, p->ping_interval_ms,
			       p->ping_interval_ms);
	for (size_t i = 0; i < ndials; i++) {
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
	if (p->relay) {
		p->pending_closes++;
		wm_relay_svc_free(p->relay, on_relay_closed, p);
		p->relay = NULL;
	}
	if (p->dcutr) {
		p->pending_closes++;
		wm_dcutr_free(p->dcutr, on_relay_closed, p);
		p->dcutr = NULL;
	}
	for (size_t i = 0; i < p->nlisteners; i++) {
		p->pending_closes++;
		p->listeners[i].tcp.data = p;
		uv_close((uv_handle_t *)&p->listeners[i].tcp, on_simple_closed);
	}
	return rc;
fail_mem:
	free(ctarget);
	free(crelay);
	if (p->relay) { /* its timer closes on the loop: p goes then */
		p->pending_closes++;
		p->closing = true;
		wm_relay_svc_free(p->relay, on_relay_closed, p);
		return rc;
	}
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
	if (p->relay) {
		/* First: its circuits reset while their connections still work. */
		p->pending_closes++;
		wm_relay_svc_free(p->relay, on_relay_closed, p);
		p->relay = NULL;
	}
	if (p->dcutr) {
		p->pending_closes++;
		wm_dcutr_free(p->dcutr, on_relay_closed, p);
		p->dcutr = NULL;
	}
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
	p->pending_closes++;
	uv_close((uv_handle_t *)&p->sweep, on_simple_closed);
	while (p->conns) {
		struct conn *c = p->conns;
		if (c->y_init && c->state == C_MUX)
			wm_yamux_go_away(&c->y, 0);
		conn_close(c, "shutting down");
	}
	/* After the connections: their go-aways (and what the streams' owners
	 * wrote on hearing of their end) start the flush handles, and a closed
	 * handle started again would stay active after p is gone. Every
	 * connection is closed and flushed by now. */
	p->pending_closes += 2;
	uv_close((uv_handle_t *)&p->out_check, on_simple_closed);
	uv_close((uv_handle_t *)&p->out_prepare, on_simple_closed);
	p->pending_closes--;
	maybe_done(p);
}

void wm_p2p_status(const struct wm_p2p *p, struct wm_p2p_status *out)
{
	memset(out, 0, sizeof(*out));
	wm_peer_id_print(&p->id, out->peer_id);
	for (const struct conn *c = p->conns; c; c = c->next)
		out->buffered += c->capin;
	out->buffered += p->nspares * (sizeof(struct wreq) + WREQ_BIG);
	out->writes = p->writes;
	out->frames = p->frames;
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
		cs->relayed = c->relayed;
		cs->punched = c->punched;
		if (c->relayed)
			wm_peer_id_print(&c->relay_id, cs->relay_id);
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
	if (p->relay)
		wm_relay_svc_status(p->relay, out);
}

/* ---- streams of other protocols (host.h) ---- */

static bool proto_ok(const char *proto)
{
	size_t n = strnlen(proto, APP_PROTO_MAX);

	if (n == 0 || n >= APP_PROTO_MAX || proto[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if (proto[i] < 0x21 || proto[i] > 0x7e)
			return false;
	return true;
}

int wm_p2p_handle(struct wm_p2p *p, const char *protocol, wm_p2p_accept_fn fn, void *arg)
{
	if (!proto_ok(protocol) || !fn)
		return -EINVAL;
	if (find_handler(p, protocol) || !strcmp(protocol, WM_IDENTIFY_PROTOCOL) ||
	    !strcmp(protocol, IDPUSH_PROTOCOL) || !strcmp(protocol, WM_PING_PROTOCOL))
		return -EEXIST;
	if (p->nhandlers >= MAX_HANDLERS)
		return -ENOSPC;
	struct handler *h = &p->handlers[p->nhandlers++];
	snprintf(h->proto, sizeof(h->proto), "%s", protocol);
	h->fn = fn;
	h->arg = arg;
	return 0;
}

/* The connection to peer that is up: a direct one before a relayed one. */
static struct conn *best_conn(const struct wm_p2p *p, const struct wm_peer_id *peer)
{
	struct conn *best = NULL;

	for (struct conn *c = p->conns; c; c = c->next) {
		if (c->state != C_MUX || !c->peer_known || !wm_peer_id_equal(&c->peer, peer))
			continue;
		if (!c->relayed)
			return c;
		best = best ? best : c;
	}
	return best;
}

int wm_p2p_connected(const struct wm_p2p *p, const struct wm_peer_id *peer)
{
	const struct conn *c = best_conn(p, peer);

	return !c ? 0 : c->relayed ? 2 : 1;
}

bool wm_p2p_speaks(const struct wm_p2p *p, const struct wm_peer_id *peer, const char *protocol)
{
	const struct conn *c = best_conn(p, peer);

	if (!c || c->relayed || !c->identified)
		return false;
	for (size_t i = 0; i < c->ident.nprotocols; i++)
		if (!strcmp(c->ident.protocols[i], protocol))
			return true;
	return false;
}

void wm_p2p_keep(struct wm_p2p *p, const struct wm_peer_id *peer, bool keep)
{
	for (struct conn *c = p->conns; c; c = c->next) {
		if (c->state != C_MUX || c->relayed || !c->peer_known ||
		    !wm_peer_id_equal(&c->peer, peer))
			continue;
		if (keep && c->ephemeral) {
			c->ephemeral = false;
			c->kept = true;
			p->nephemeral--;
			uv_timer_stop(&c->timer);
		} else if (!keep && c->kept) {
			c->kept = false;
			c->ephemeral = true;
			p->nephemeral++;
			uv_timer_start(&c->timer, on_idle_check, EPHEMERAL_IDLE_MS,
				       EPHEMERAL_IDLE_MS);
		}
	}
}

struct wm_relay_svc *wm_p2p_relay_svc(struct wm_p2p *p)
{
	return p->relay;
}

void wm_p2p_unhandle(struct wm_p2p *p, const char *protocol)
{
	for (size_t i = 0; i < p->nhandlers; i++)
		if (!strcmp(p->handlers[i].proto, protocol)) {
			/* In order: identify lists them as they were added. */
			memmove(&p->handlers[i], &p->handlers[i + 1],
				(p->nhandlers - i - 1) * sizeof(p->handlers[0]));
			p->nhandlers--;
			return;
		}
}

int wm_p2p_watch(struct wm_p2p *p, wm_p2p_identified_fn fn, void *arg)
{
	if (!fn)
		return -EINVAL;
	if (p->nwatchers >= MAX_WATCHERS)
		return -ENOSPC;
	p->watchers[p->nwatchers].fn = fn;
	p->watchers[p->nwatchers++].arg = arg;
	return 0;
}

/* A connection to peer that is being made and knows it is peer's. */
static struct conn *coming_conn(const struct wm_p2p *p, const struct wm_peer_id *peer)
{
	for (struct conn *c = p->conns; c; c = c->next)
		if (c->state != C_MUX && c->state != C_CLOSING && c->peer_known &&
		    wm_peer_id_equal(&c->peer, peer))
			return c;
	return NULL;
}

static bool is_loopback(const struct wm_maddr_tcp *t)
{
	static const uint8_t v6[16] = {[15] = 1};

	return t->family == 4 ? t->ip[0] == 127 : memcmp(t->ip, v6, 16) == 0;
}

/* Dials peer directly from to: the connection (being made), or NULL with
 * *rc: -EHOSTUNREACH when to has no usable address, else why it failed. */
static struct conn *dial_direct(struct wm_p2p *p, const struct wm_peer_id *peer,
				const struct wm_p2p_dial *to, int *rc)
{
	struct wm_maddr_tcp t;
	size_t i;
	struct conn *c;

	*rc = -EHOSTUNREACH;
	i = to->naddrs;
	/* Peers list their loopback addresses too (so do we): those are
	 * ours, not theirs, unless nothing else is given. */
	for (int pass = 0; pass < 2 && i == to->naddrs; pass++)
		for (i = 0; i < to->naddrs; i++)
			if (wm_maddr_to_tcp(to->addrs[i], to->lens[i], &t) == 0 &&
			    (!t.has_peer || wm_peer_id_equal(&t.peer, peer)) &&
			    (pass == 1 || !is_loopback(&t)))
				break;
	if (i == to->naddrs)
		return NULL;
	/* Dialed for others' streams: bounded like accepted ones. */
	if (p->nephemeral >= p->max_conns) {
		*rc = -EMFILE;
		return NULL;
	}
	t.has_peer = true;
	t.peer = *peer;
	if (!(c = conn_dial(p, &t))) {
		*rc = -EMFILE;
		return NULL;
	}
	if (c->state == C_CLOSING) {
		*rc = -ECONNREFUSED;
		return NULL;
	}
	c->ephemeral = true;
	p->nephemeral++;
	return c;
}

int wm_p2p_dial(struct wm_p2p *p, const struct wm_peer_id *peer, const struct wm_p2p_dial *to)
{
	struct conn *coming;
	int rc = -EHOSTUNREACH;

	if (p->closing)
		return -ESHUTDOWN;
	if (best_conn(p, peer))
		return 0;
	coming = coming_conn(p, peer);
	if (!to)
		return coming ? -EINPROGRESS : -ENOTCONN;
	if (!coming && dial_direct(p, peer, to, &rc))
		return -EINPROGRESS;
	if (coming && to->naddrs)
		return -EINPROGRESS; /* one direct dial at a time */
	/* Through a relay even while a direct dial is under way: behind a NAT
	 * that drops inbound TCP, that dial only ends at its timeout. The
	 * relay service runs one such dial per peer. */
	if (to->relay && p->relay && wm_relay_svc_dial(p->relay, peer) == 0)
		return -EINPROGRESS;
	return coming ? -EINPROGRESS : rc;
}

int wm_p2p_open(struct wm_p2p *p, const struct wm_peer_id *peer, const char *protocol,
		const struct wm_p2p_dial *to, const struct wm_p2p_stream_cb *cb, void *ud,
		struct wm_p2p_stream **out)
{
	struct conn *c;
	uint32_t id;
	int rc;

	if (!proto_ok(protocol) || !cb || !cb->data || !cb->gone)
		return -EINVAL;
	if (p->closing)
		return -EPIPE;
	c = best_conn(p, peer);
	if (!c) {
		/* The stream waits on a connection being made (mux_ready). */
		c = coming_conn(p, peer);
		if (!c && !to)
			return -ENOTCONN;
		if (!c && !(c = dial_direct(p, peer, to, &rc))) {
			if (rc == -EHOSTUNREACH && to->relay && p->relay &&
			    wm_relay_svc_dial(p->relay, peer) == 0)
				return -EINPROGRESS;
			return rc;
		}
		struct stream *s = stream_add(c, 0, true);
		if (!s)
			return -ENOMEM;
		s->pending = true;
		s->want = S_APP;
		snprintf(s->app, sizeof(s->app), "%s", protocol);
		s->cb = cb;
		s->ud = ud;
		*out = (struct wm_p2p_stream *)s;
		return 0;
	}
	if ((rc = wm_yamux_open(&c->y, &id)))
		return rc;
	struct stream *s = stream_add(c, id, true);
	if (!s) {
		wm_yamux_reset(&c->y, id);
		return -ENOMEM;
	}
	s->want = S_APP;
	snprintf(s->app, sizeof(s->app), "%s", protocol);
	s->cb = cb;
	s->ud = ud;
	stream_write_ms(c, id, WM_MS_PROTOCOL);
	stream_write_ms(c, id, protocol);
	*out = (struct wm_p2p_stream *)s;
	return 0;
}

int wm_p2p_write(struct wm_p2p_stream *ps, const void *buf, size_t len)
{
	struct stream *s = (struct stream *)ps;

	if (s->pending)
		return -EAGAIN;
	if (s->conn->state != C_MUX)
		return -EPIPE;
	if (!len)
		return 0;
	int rc = wm_yamux_write(&s->conn->y, s->id, buf, len);
	if (rc == 0 && wm_yamux_pending(&s->conn->y, s->id))
		sweep_arm(s->conn->host); /* the held-back buffer is kept: trimmed there */
	return rc;
}

void wm_p2p_close(struct wm_p2p_stream *ps)
{
	struct stream *s = (struct stream *)ps;

	if (s->pending)
		s->fin_pending = true;
	else if (s->conn->state == C_MUX)
		wm_yamux_close(&s->conn->y, s->id);
}

void wm_p2p_reset(struct wm_p2p_stream *ps)
{
	struct stream *s = (struct stream *)ps;
	struct conn *c = s->conn;

	s->cb = NULL;
	if (!s->pending && c->y_init)
		wm_yamux_reset(&c->y, s->id);
	stream_free_s(c, s);
}

size_t wm_p2p_pending(const struct wm_p2p_stream *ps)
{
	const struct stream *s = (const struct stream *)ps;

	return s->conn->state == C_MUX && !s->pending ? wm_yamux_pending(&s->conn->y, s->id) : 0;
}

void wm_p2p_hold(struct wm_p2p_stream *ps, bool hold)
{
	struct stream *s = (struct stream *)ps;

	if (s->conn->state == C_MUX && !s->pending)
		wm_yamux_hold(&s->conn->y, s->id, hold);
}

void wm_p2p_set_window(struct wm_p2p_stream *ps, uint32_t bytes)
{
	struct stream *s = (struct stream *)ps;

	if (s->pending)
		s->window = bytes;
	else if (s->conn->state == C_MUX)
		wm_yamux_set_window(&s->conn->y, s->id, bytes);
}

void wm_p2p_stream_peer(const struct wm_p2p_stream *ps, struct wm_peer_id *id)
{
	*id = ((const struct stream *)ps)->conn->peer;
}

size_t wm_p2p_stream_addr(const struct wm_p2p_stream *ps, uint8_t *out, size_t cap)
{
	const struct conn *c = ((const struct stream *)ps)->conn;

	if (c->remote_len > cap)
		return 0;
	memcpy(out, c->remote, c->remote_len);
	return c->remote_len;
}

void wm_p2p_stream_src(const struct wm_p2p_stream *ps, uint8_t src[9])
{
	memcpy(src, ((const struct stream *)ps)->conn->src, 9);
}

bool wm_p2p_stream_relayed(const struct wm_p2p_stream *ps)
{
	return ((const struct stream *)ps)->conn->relayed;
}

bool wm_p2p_stream_ready(const struct wm_p2p_stream *ps)
{
	const struct stream *s = (const struct stream *)ps;

	return !s->pending && s->proto == S_APP && s->conn->state == C_MUX;
}

void wm_p2p_stream_info(const struct wm_p2p_stream *ps, struct wm_p2p_stream_info *out)
{
	const struct stream *s = (const struct stream *)ps;
	const struct conn *c = s->conn;

	memset(out, 0, sizeof(*out));
	out->ready = wm_p2p_stream_ready(ps);
	out->outbound = s->outbound;
	out->relayed = c->relayed;
	if (c->relayed)
		wm_peer_id_print(&c->relay_id, out->relay_id);
	if (c->remote_len)
		wm_maddr_print(c->remote, c->remote_len, out->remote, sizeof(out->remote));
}

size_t wm_p2p_stream_queued(const struct wm_p2p_stream *ps)
{
	const struct conn *c = ((const struct stream *)ps)->conn;
	size_t n = 0;

	/* A relayed connection's bytes wait in the relay stream's session too. */
	for (; c; c = c->relayed && c->via ? c->via->conn : NULL) {
		if (c->y_init)
			n += c->y.npending;
		if (!c->relayed && c->state != C_CLOSING)
			n += uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) +
			     c->out_bytes;
	}
	return n;
}

uv_loop_t *wm_p2p_loop(const struct wm_p2p *p)
{
	return p->loop;
}

const struct wm_peer_id *wm_p2p_id(const struct wm_p2p *p)
{
	return &p->id;
}

void wm_p2p_public_key(const struct wm_p2p *p, uint8_t pk[32])
{
	memcpy(pk, p->pk, 32);
}

int wm_p2p_sign(const struct wm_p2p *p, const void *msg, size_t len, uint8_t sig[64])
{
	return wm_ed25519_sign(p->seed, msg, len, sig);
}

size_t wm_p2p_listen_addrs(const struct wm_p2p *p, uint8_t (*out)[WM_MADDR_MAX], size_t *lens,
			   size_t max)
{
	struct wm_identify *m = calloc(1, sizeof(*m));
	size_t n = 0;

	if (!m)
		return 0;
	our_listen_addrs((struct wm_p2p *)p, m);
	for (; n < m->nlisten && n < max; n++) {
		memcpy(out[n], m->listen[n], m->listen_len[n]);
		lens[n] = m->listen_len[n];
	}
	free(m);
	return n;
}

/* ---- connections over a relayed stream ---- */

static int via_write(struct conn *c, const uint8_t *buf, size_t len)
{
	return c->via ? wm_p2p_write((struct wm_p2p_stream *)c->via, buf, len) : -EPIPE;
}

static void via_data(void *ud, struct wm_p2p_stream *ps, const uint8_t *buf, size_t len)
{
	struct conn *c = ud;

	(void)ps;
	if (c->state == C_CLOSING || len == 0)
		return;
	if (len > VIA_IN_MAX - c->nin) {
		conn_close(c, "the relayed input is over its bound");
		return;
	}
	/* Bulk deliveries keep a frame's room for the next one (freed as
	 * TCP's buffer is: once they stop, conn_after_input and the sweep). */
	c->bulk = len > SMALL_BUF;
	c->read_recently = true;
	if (c->capin < c->nin + len) {
		size_t cap = c->nin + len;
		if (c->bulk && cap < READ_ONE)
			cap = READ_ONE;
		uint8_t *b = realloc(c->in, cap);
		if (!b) {
			conn_close(c, "out of memory");
			return;
		}
		c->in = b;
		c->capin = cap;
	}
	memcpy(c->in + c->nin, buf, len);
	c->nin += len;
	conn_after_input(c, conn_input(c));
}

static void via_fin(void *ud, struct wm_p2p_stream *ps)
{
	(void)ps;
	conn_close(ud, "the relay closed the circuit");
}

static void via_gone(void *ud, struct wm_p2p_stream *ps)
{
	struct conn *c = ud;

	(void)ps;
	c->via = NULL; /* going now: never reset it again */
	conn_close(c, "the circuit is gone");
}

static const struct wm_p2p_stream_cb via_cb = {
	.data = via_data,
	.fin = via_fin,
	.gone = via_gone,
};

int wm_p2p_conn_over(struct wm_p2p *p, struct wm_p2p_stream *ps, bool outbound, bool ephemeral,
		     const struct wm_peer_id *peer, const struct wm_peer_id *relay,
		     const uint8_t *early, size_t nearly)
{
	struct stream *s = (struct stream *)ps;
	char text[WM_MADDR_TEXT_MAX], rid[WM_PEERID_TEXT_MAX];
	struct conn *c;

	if (p->closing || !(c = conn_new(p, outbound, true))) {
		wm_p2p_reset(ps);
		return -EMFILE;
	}
	c->via = s;
	c->relay_id = *relay;
	/* A circuit dialed for a link's streams holds one of the relay's
	 * slots: it goes once idle, as a direct dial for them does. */
	if (ephemeral) {
		c->ephemeral = true;
		p->nephemeral++;
	}
	/* Outbound, Noise must prove the target; inbound, the relay's word
	 * on who dials is only a claim: the handshake says who it is. */
	if (outbound) {
		c->peer = *peer;
		c->peer_known = true;
	}
	wm_peer_id_print(relay, rid);
	snprintf(text, sizeof(text), "/p2p/%s/p2p-circuit", rid);
	char e[128];
	int n = wm_maddr_parse(text, c->remote, sizeof(c->remote), e, sizeof(e));
	c->remote_len = n > 0 ? (size_t)n : 0;
	s->cb = &via_cb;
	s->ud = c;
	/* The relayed connection consumes what the stream brings at once (it
	 * holds at most a frame): the relay may send a window's worth more
	 * than yamux's 256 KiB before it waits for us. */
	wm_p2p_set_window(ps, VIA_WINDOW);
	c->state = C_MS_SEC;
	if (outbound) {
		send_ms(c, WM_MS_PROTOCOL, false);
		send_ms(c, WM_NOISE_PROTOCOL, false);
	}
	if (nearly && c->state != C_CLOSING)
		via_data(c, ps, early, nearly);
	return 0;
}

/* ---- DCUtR's part (dcutr.c) ---- */

size_t wm_p2p_public_addrs(const struct wm_p2p *p, struct wm_maddr_tcp *out, size_t max)
{
	size_t n = 0;

	/* What peers we dialed saw as our address, with our listen port:
	 * punches go out from that port, and a NAT that keeps ports maps it
	 * to the same one outside. */
	for (const struct conn *c = p->conns; c && n < max; c = c->next) {
		struct wm_maddr_tcp t;
		if (c->relayed || !c->identified || !c->ident.observed_len ||
		    wm_maddr_to_tcp(c->ident.observed, c->ident.observed_len, &t))
			continue;
		bool found = false;
		for (size_t i = 0; i < p->nlisteners && !found; i++) {
			struct wm_maddr_tcp l;
			if (!wm_maddr_to_tcp(p->listeners[i].addr, p->listeners[i].addr_len, &l) &&
			    l.family == t.family) {
				t.port = l.port;
				found = true;
			}
		}
		if (!found)
			continue;
		t.has_peer = false;
		bool dup = false;
		for (size_t k = 0; k < n && !dup; k++)
			dup = out[k].family == t.family && out[k].port == t.port &&
			      !memcmp(out[k].ip, t.ip, 16);
		if (!dup)
			out[n++] = t;
	}
	return n;
}

int wm_p2p_punch(struct wm_p2p *p, const struct wm_peer_id *peer, const struct wm_maddr_tcp *to,
		 size_t n, bool initiator)
{
	int started = 0, failed = -ENOTCONN; /* why the last connect could not start */

	for (size_t i = 0; i < n && i < 4; i++) {
		const struct listener *l = NULL;
		for (size_t k = 0; k < p->nlisteners && !l; k++) {
			struct wm_maddr_tcp la;
			if (!wm_maddr_to_tcp(p->listeners[k].addr, p->listeners[k].addr_len, &la) &&
			    la.family == to[i].family)
				l = &p->listeners[k];
		}
		if (!l)
			continue;
		/* initiator: the one that dialed through the relay speaks first
		 * (multistream, Noise), as over the relayed connection. */
		struct conn *c = conn_new(p, initiator, true);
		if (!c)
			break;
		c->relayed = false; /* conn_new(..., true) skipped its TCP handle */
		c->punched = true;
		c->peer = *peer;
		c->peer_known = true;
		struct sockaddr_storage local = {0}, ss = {0};
		int sl = sizeof(local);
		struct wm_maddr_tcp dst = to[i];
		int rc = uv_tcp_init_ex(p->loop, &c->tcp, dst.family == 6 ? AF_INET6 : AF_INET);
		if (rc) {
			c->relayed = true; /* no TCP handle to close */
			conn_close(c, uv_strerror(rc));
			failed = rc;
			continue;
		}
		c->tcp.data = c;
		rc = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&local, &sl);
		if (!rc)
			rc = reuse_port(&c->tcp);
		if (!rc)
			rc = uv_tcp_bind(&c->tcp, (struct sockaddr *)&local, 0);
		if (dst.family == 4) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			in->sin_family = AF_INET;
			memcpy(&in->sin_addr, dst.ip, 4);
			in->sin_port = htons(dst.port);
		} else {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
			in6->sin6_family = AF_INET6;
			memcpy(&in6->sin6_addr, dst.ip, 16);
			in6->sin6_port = htons(dst.port);
		}
		c->connect.data = c;
		if (!rc)
			rc = uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&ss,
					    on_connected);
		if (rc) {
			conn_close(c, uv_strerror(rc));
			failed = rc;
			continue;
		}
		started++;
	}
	return started ? 0 : failed;
}
