/* WireGuard over libp2p: the links of wglink.h on the host's streams. */
#include "p2p/wglink.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "core/error.h"
#include "core/p2pwg.h"
#include "core/p2pwire.h"
#include "nat/relay.h"
#include "p2p/host.h"
#include "p2p/noise.h"
#include "p2p/yamux.h"
#include "util/log.h"

/* What WireGuard sent during one wakeup of the relay goes out in writes of
 * up to this much (one Noise frame with the yamux header), not one per
 * relay batch: fewer frames, encryptions and syscalls per datagram. */
#define TXBUF (WM_NOISE_PLAIN_MAX - WM_YAMUX_HDR_LEN)
/* Over a relayed connection that frame is itself carried in a yamux frame
 * of the relay's connection: this much less lets the sealed inner frame
 * (its 2-byte length, yamux header and tag) fill one outer Noise message
 * instead of spilling 30 bytes into a second one. */
#define TXBUF_RELAYED (TXBUF - 2 - WM_YAMUX_HDR_LEN - WM_NOISE_TAG)
#define RELAY_AFTER_MS 2000 /* down this long: a relayed connection is tried too */
#define CHECK_UP_MS 1000    /* a stream is up: is it still? */
#define CHECK_DOWN_MS 50    /* none yet: connect, open, and look again soon */
/* Held while no stream is up, sent once one is: WireGuard's handshake
 * messages (148 and 92 bytes), so that the first handshake does not wait
 * for WireGuard's 5 s retry. Larger datagrams (data) are dropped as on a
 * path that is down. */
#define PENDING 4
#define PENDING_DGRAM 256
#define PENDING_MAX_AGE_MS 2000 /* older ones are WireGuard's past: dropped */
#define STREAMS_MAX 4		/* of one link, inbound and outbound */
#define REFUSED_LOG_MS 60000
/* The receive window we grant a link's stream: datagrams go to WireGuard as
 * they come (nothing is held here), so a large one costs us no memory. With
 * yamux's 256 KiB the sender waited for an update every 128 KiB, a round
 * trip through both loops; with 1 MiB it still ran out under bulk traffic
 * (our update, sent after half, reaches the sender behind what fills its
 * socket), and what the window held back beyond WM_P2P_DGRAM_QUEUE_MAX was
 * dropped: iperf3 over the link retransmitted in most runs of
 * bench/libp2p-wg, none with 4 MiB. */
#define WG_WINDOW (4u * 1024u * 1024u)

struct wgstream {
	struct wgstream *next;
	struct wm_p2p_wg *w;
	struct wm_p2p_stream *s;
	size_t n; /* a datagram being received: header and body so far */
	uint8_t buf[WM_P2PWG_HDR + WM_P2PWG_DGRAM_MAX];
};

/* The links of one host, and its registration of the protocol. */
struct wgset {
	struct wgset *next;
	struct wm_p2p *host;
	struct wm_p2p_wg *links;
	int (*incoming)(void *data, const char *peer_id);
	void *incoming_data;
	uint64_t refused, refused_logged_at;
};

struct wm_p2p_wg {
	struct wm_p2p_wg *next;
	struct wgset *set;
	struct wm_peer_id peer;
	char peer_text[WM_PEERID_TEXT_MAX];
	uint8_t addrs[WM_P2P_WG_ADDRS][WM_MADDR_MAX]; /* binary, TCP ones only */
	size_t addr_len[WM_P2P_WG_ADDRS];
	size_t naddrs, next_addr;
	struct wm_relay *relay;
	uv_poll_t poll;
	uv_timer_t timer;
	struct wgstream *streams;
	struct wgstream *tx; /* the stream we send on */
	uint8_t *txbuf;	     /* framed datagrams not written yet */
	size_t ntx;
	uint64_t tx_dropped; /* taken from the relay, then dropped at the write */
	uint8_t pending[PENDING][WM_P2PWG_HDR + PENDING_DGRAM];
	size_t pending_len[PENDING], npending;
	uint64_t pending_since; /* the loop's time of the oldest held */
	int closing_handles;
	bool was_connected;
	uint64_t down_since; /* the loop's time since when no stream is up, 0: up */
};

static struct wgset *sets; /* one per host with links */

static struct wm_p2p_wg *link_of(struct wgset *set, const struct wm_peer_id *peer)
{
	for (struct wm_p2p_wg *w = set->links; w; w = w->next)
		if (wm_peer_id_equal(&w->peer, peer))
			return w;
	return NULL;
}

static bool stream_ready(const struct wgstream *ws)
{
	/* asked for every batch: no printing of addresses here */
	return wm_p2p_stream_ready(ws->s);
}

static struct wgstream *stream_add(struct wm_p2p_wg *w, struct wm_p2p_stream *s)
{
	struct wgstream *ws = calloc(1, sizeof(*ws));

	if (!ws)
		return NULL;
	ws->w = w;
	ws->s = s;
	ws->next = w->streams;
	w->streams = ws;
	if (!w->tx)
		w->tx = ws;
	wm_p2p_set_window(s, WG_WINDOW);
	return ws;
}

/* ---- the protocol's callbacks ---- */

static const struct wm_p2p_stream_cb stream_cb;

static int on_accept(void *arg, struct wm_p2p_stream *s, const struct wm_p2p_stream_cb **cb,
		     void **ud)
{
	struct wgset *set = arg;
	struct wm_peer_id peer_id;
	const struct wm_peer_id *peer = &peer_id;
	char text[WM_PEERID_TEXT_MAX];

	wm_p2p_stream_peer(s, &peer_id);
	struct wm_p2p_wg *w = link_of(set, peer);

	wm_peer_id_print(peer, text);
	/* The mesh may know the peer and follow it onto libp2p. */
	if (!w && set->incoming && set->incoming(set->incoming_data, text) == 0)
		w = link_of(set, peer);
	if (!w) {
		/* Only a peer the mesh put on libp2p with us may carry
		 * WireGuard here. Said once a minute at most: a stranger
		 * retrying must not fill the log. */
		uint64_t now = uv_now(wm_p2p_loop(set->host));
		set->refused++;
		if (!set->refused_logged_at || now - set->refused_logged_at >= REFUSED_LOG_MS) {
			wm_info("libp2p: refused %s from %s: not a mesh peer of ours that goes "
				"over libp2p (%" PRIu64 " refused so far)",
				WM_P2PWG_PROTOCOL, text, set->refused);
			set->refused_logged_at = now;
		} else {
			wm_debug("libp2p: refused %s from %s", WM_P2PWG_PROTOCOL, text);
		}
		return -EPERM;
	}
	size_t n = 0;
	for (struct wgstream *o = w->streams; o; o = o->next)
		n++;
	if (n >= STREAMS_MAX)
		return -EMFILE; /* both sides' streams and a spare: more is no use */
	struct wgstream *ws = stream_add(w, s);
	if (!ws)
		return -ENOMEM;
	*cb = &stream_cb;
	*ud = ws;
	return 0;
}

static void stream_remove(struct wgstream *ws);

/* Whole datagrams go to WireGuard from where they lie in the decrypted
 * frame, this many per send (one GSO run at most). */
#define RX_BATCH 64

static void on_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	struct wgstream *ws = ud;
	struct wm_p2p_wg *w = ws->w;
	struct iovec iov[RX_BATCH];
	unsigned n = 0;

	while (len) {
		size_t want = WM_P2PWG_HDR;
		const uint8_t *d;
		size_t dl, used;

		if (ws->n == 0) {
			/* Whole datagrams straight from the frame, no copy. */
			int rc = wm_p2pwg_next(buf, len, &d, &dl, &used);
			if (rc < 0)
				goto bad;
			if (rc == 1) {
				iov[n].iov_base = (void *)d;
				iov[n++].iov_len = dl;
				if (n == RX_BATCH) {
					wm_relay_send(w->relay, iov, n);
					n = 0;
				}
				buf += used;
				len -= used;
				continue;
			}
		}
		/* A datagram cut by the frame's end: gathered (a copy), after
		 * the ones before it. */
		if (n) {
			wm_relay_send(w->relay, iov, n);
			n = 0;
		}
		if (ws->n >= WM_P2PWG_HDR) {
			int rc = wm_p2pwg_next(ws->buf, ws->n, &d, &dl, &used);
			if (rc < 0)
				goto bad;
			want = WM_P2PWG_HDR + ((size_t)ws->buf[0] << 8 | ws->buf[1]);
		}
		size_t take = want - ws->n < len ? want - ws->n : len;
		memcpy(ws->buf + ws->n, buf, take);
		ws->n += take;
		buf += take;
		len -= take;
		int rc = wm_p2pwg_next(ws->buf, ws->n, &d, &dl, &used);
		if (rc < 0)
			goto bad;
		if (rc == 1) {
			wm_relay_queue(w->relay, d, dl);
			ws->n = 0;
		}
	}
	wm_relay_send(w->relay, iov, n); /* also what the gathering queued */
	return;
bad:
	wm_relay_send(w->relay, iov, n);
	wm_warn("libp2p: %s from %s: a datagram length out of bounds, stream reset",
		WM_P2PWG_PROTOCOL, w->peer_text);
	wm_p2p_reset(s); /* no gone after our own reset */
	stream_remove(ws);
}

static void stream_remove(struct wgstream *ws)
{
	struct wm_p2p_wg *w = ws->w;

	for (struct wgstream **pp = &w->streams; *pp; pp = &(*pp)->next)
		if (*pp == ws) {
			*pp = ws->next;
			break;
		}
	if (w->tx == ws)
		w->tx = w->streams;
	free(ws);
}

static void on_gone(void *ud, struct wm_p2p_stream *s)
{
	(void)s;
	stream_remove(ud);
}

static const struct wm_p2p_stream_cb stream_cb = {
	.data = on_data,
	.gone = on_gone,
};

/* ---- WireGuard's side ---- */

/* Writes what is gathered. A backed-up connection drops it, as a full
 * socket buffer would (WireGuard retransmits what matters). */
static void tx_flush(struct wm_p2p_wg *w)
{
	if (!w->ntx)
		return;
	/* With the framing a relayed write adds (64), so that the relay's
	 * stream never holds more than yamux's bound, which would reset it. */
	if (!w->tx || wm_p2p_stream_queued(w->tx->s) + w->ntx + 64 > WM_P2P_DGRAM_QUEUE_MAX ||
	    wm_p2p_write(w->tx->s, w->txbuf, w->ntx) != 0) {
		for (size_t off = 0; off + WM_P2PWG_HDR <= w->ntx;) {
			w->tx_dropped++;
			off += WM_P2PWG_HDR + ((size_t)w->txbuf[off] << 8 | w->txbuf[off + 1]);
		}
	}
	w->ntx = 0;
}

static int relay_send_cb(void *data, const struct iovec *pkts, unsigned n)
{
	struct wm_p2p_wg *w = data;

	if (!w->tx || !stream_ready(w->tx)) {
		for (unsigned i = 0; i < n; i++) {
			size_t len = pkts[i].iov_len;
			if (len > PENDING_DGRAM ||
			    wm_p2pwg_header(len, w->pending[w->npending % PENDING]))
				continue;
			if (!w->npending)
				w->pending_since = uv_now(wm_p2p_loop(w->set->host));
			memcpy(w->pending[w->npending % PENDING] + WM_P2PWG_HDR, pkts[i].iov_base,
			       len);
			w->pending_len[w->npending++ % PENDING] = WM_P2PWG_HDR + len;
		}
		return 0; /* counted as dropped: most are */
	}
	size_t max = wm_p2p_stream_relayed(w->tx->s) ? TXBUF_RELAYED : TXBUF;
	for (unsigned i = 0; i < n; i++) {
		size_t len = pkts[i].iov_len;
		if (w->ntx + WM_P2PWG_HDR + len > max)
			tx_flush(w);
		if (wm_p2pwg_header(len, w->txbuf + w->ntx))
			continue; /* the relay never takes one that large */
		memcpy(w->txbuf + w->ntx + WM_P2PWG_HDR, pkts[i].iov_base, len);
		w->ntx += WM_P2PWG_HDR + len;
	}
	return (int)n; /* drops at the write are counted there */
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct wm_p2p_wg *w = h->data;

	(void)status;
	(void)events;
	wm_relay_read(w->relay);
	tx_flush(w);
}

/* How much longer than RELAY_AFTER_MS the side that dials second waits. */
#define RELAY_SECOND_MS 2000

/* Keeps a stream to the peer: a ready one is sent on; else a connection is
 * found or dialled and a stream opened on it. */
static void timer_cb(uv_timer_t *t)
{
	struct wm_p2p_wg *w = t->data;
	struct wm_p2p *host = w->set->host;
	bool pending = false;

	wm_relay_trim(w->relay); /* an idle link holds no read buffers */
	for (struct wgstream *ws = w->streams; ws; ws = ws->next) {
		if (stream_ready(ws)) {
			if (!w->tx || !stream_ready(w->tx))
				w->tx = ws;
		} else {
			pending = true;
		}
	}
	bool up = w->tx && stream_ready(w->tx);
	if (up != w->was_connected) {
		wm_info("libp2p: WireGuard to %s %s", w->peer_text,
			up ? "goes over libp2p now" : "has no libp2p stream");
		w->was_connected = up;
		uv_timer_set_repeat(t, up ? CHECK_UP_MS : CHECK_DOWN_MS);
	}
	if (w->npending && uv_now(t->loop) - w->pending_since > PENDING_MAX_AGE_MS)
		w->npending = 0;
	if (up && w->npending) {
		/* The newest held, oldest first: a handshake WireGuard sent
		 * while the stream was being opened. */
		size_t first = w->npending > PENDING ? w->npending - PENDING : 0;
		for (size_t i = first; i < w->npending; i++)
			wm_p2p_write(w->tx->s, w->pending[i % PENDING],
				     w->pending_len[i % PENDING]);
		w->npending = 0;
	}
	if (up)
		w->down_since = 0;
	if (up || pending)
		return;
	int rc = wm_p2p_dial(host, &w->peer, NULL);
	if (rc == 0) {
		struct wgstream *ws = calloc(1, sizeof(*ws));
		if (!ws)
			return;
		ws->w = w;
		if (wm_p2p_open(host, &w->peer, WM_P2PWG_PROTOCOL, NULL, &stream_cb, ws, &ws->s)) {
			free(ws);
			return;
		}
		wm_p2p_set_window(ws->s, WG_WINDOW);
		ws->next = w->streams;
		w->streams = ws;
		if (!w->tx)
			w->tx = ws;
	} else {
		/* Its published addresses in turn, one dial at a time; and,
		 * once direct has had RELAY_AFTER_MS, a circuit through a relay
		 * we hold a reservation on alongside (circuit relay v2): a peer
		 * behind a NAT that drops inbound TCP is reached only so, and a
		 * direct dial there lasts until its handshake timeout. */
		uint64_t now = uv_now(t->loop);
		if (!w->down_since)
			w->down_since = now;
		if (rc == -ENOTCONN && w->naddrs) {
			size_t slot = w->next_addr++ % w->naddrs;
			struct wm_p2p_dial to = {
				.addrs = (const uint8_t(*)[WM_MADDR_MAX])(w->addrs + slot),
				.lens = &w->addr_len[slot],
				.naddrs = 1,
			};
			wm_p2p_dial(host, &w->peer, &to);
		}
		/* Both sides of a link often go down at the same moment (an
		 * edge marked libp2p reaches both at once): dialing through the
		 * relay together, their circuits would cross, and DCUtR on each
		 * would cancel the other's. The side with the higher peer ID
		 * dials later, by when it finds the other's circuit. */
		uint64_t after = w->naddrs ? RELAY_AFTER_MS : 0;
		if (memcmp(wm_p2p_id(host)->b, w->peer.b, sizeof(w->peer.b)) > 0)
			after += RELAY_SECOND_MS;
		if (now - w->down_since >= after) {
			struct wm_p2p_dial relay = {.relay = true};
			wm_p2p_dial(host, &w->peer, &relay);
		}
	}
}

/* ---- the links ---- */

static void set_release(struct wgset *set);

static struct wgset *set_for(struct wm_p2p *p)
{
	for (struct wgset *s = sets; s; s = s->next)
		if (s->host == p)
			return s;
	struct wgset *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->host = p;
	if (wm_p2p_handle(p, WM_P2PWG_PROTOCOL, on_accept, s)) {
		free(s);
		return NULL;
	}
	s->next = sets;
	sets = s;
	return s;
}

int wm_p2p_wg_open(struct wm_p2p *p, const char *peer_id, char *const *addrs, size_t naddrs,
		   uint16_t wg_port, struct wm_p2p_wg **out, uint16_t *relay_port, char *err,
		   size_t errlen)
{
	struct wm_peer_id id;
	struct wgset *set;
	struct wm_p2p_wg *w;
	int rc;

	if (!peer_id || wm_peer_id_parse(peer_id, &id)) {
		wm_seterr(err, errlen, "libp2p: \"%s\" is not a peer ID", peer_id ? peer_id : "");
		return -EINVAL;
	}
	if (!(set = set_for(p))) {
		wm_seterr(err, errlen, "libp2p: cannot register %s", WM_P2PWG_PROTOCOL);
		return -ENOMEM;
	}
	if (link_of(set, &id)) {
		wm_seterr(err, errlen, "libp2p: a WireGuard link to %s is already open", peer_id);
		return -EEXIST;
	}
	w = calloc(1, sizeof(*w));
	if (!w || !(w->txbuf = malloc(TXBUF))) {
		free(w);
		return -ENOMEM;
	}
	w->set = set;
	w->peer = id;
	wm_peer_id_print(&id, w->peer_text);
	for (size_t i = 0; i < naddrs && w->naddrs < WM_P2P_WG_ADDRS; i++) {
		uint8_t b[WM_MADDR_MAX];
		char e[128];
		int n = addrs[i] ? wm_maddr_parse(addrs[i], b, sizeof(b), e, sizeof(e)) : -EINVAL;
		struct wm_maddr_tcp t;
		/* Only addresses of this very peer: a /p2p part naming
		 * another would be a dial the Noise check refuses anyway. */
		if (n > 0 && wm_maddr_to_tcp(b, (size_t)n, &t) == 0 &&
		    (!t.has_peer || wm_peer_id_equal(&t.peer, &id))) {
			memcpy(w->addrs[w->naddrs], b, (size_t)n);
			w->addr_len[w->naddrs++] = (size_t)n;
		}
	}
	if ((rc = wm_relay_new(wg_port, &w->relay))) {
		wm_seterr(err, errlen, "libp2p: the loopback relay for %s: %s", peer_id,
			  strerror(-rc));
		free(w->txbuf);
		free(w);
		return rc;
	}
	wm_relay_hold(w->relay);
	wm_relay_set_send(w->relay, relay_send_cb, w);
	uv_loop_t *loop = wm_p2p_loop(p);
	uv_poll_init(loop, &w->poll, wm_relay_fd(w->relay));
	w->poll.data = w;
	uv_poll_start(&w->poll, UV_READABLE, poll_cb);
	uv_timer_init(loop, &w->timer);
	w->timer.data = w;
	uv_timer_start(&w->timer, timer_cb, 0, CHECK_DOWN_MS);
	w->next = set->links;
	set->links = w;
	*relay_port = wm_relay_port(w->relay);
	*out = w;
	wm_info("libp2p: WireGuard link to %s opened (127.0.0.1:%u, %zu addresses)", w->peer_text,
		*relay_port, w->naddrs);
	return 0;
}

static void handle_closed(uv_handle_t *h)
{
	struct wm_p2p_wg *w = h->data;

	if (--w->closing_handles > 0)
		return;
	wm_relay_free(w->relay);
	free(w->txbuf);
	free(w);
}

void wm_p2p_wg_close(struct wm_p2p_wg *w)
{
	struct wgset *set;

	if (!w)
		return;
	set = w->set;
	for (struct wm_p2p_wg **pp = &set->links; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	while (w->streams) {
		struct wgstream *ws = w->streams;
		w->streams = ws->next;
		wm_p2p_reset(ws->s);
		free(ws);
	}
	w->tx = NULL;
	wm_relay_set_send(w->relay, NULL, NULL);
	w->closing_handles = 2;
	w->poll.data = w;
	uv_poll_stop(&w->poll);
	uv_close((uv_handle_t *)&w->poll, handle_closed);
	uv_close((uv_handle_t *)&w->timer, handle_closed);
	struct wm_relay_stats rs;
	wm_relay_get_stats(w->relay, &rs);
	wm_info("libp2p: WireGuard link to %s closed (%" PRIu64 " datagrams sent, %" PRIu64
		" received, %" PRIu64 " dropped)",
		w->peer_text, rs.tx_packets - w->tx_dropped, rs.rx_packets,
		rs.dropped + w->tx_dropped);
	set_release(set);
}

/* A set with no links and no listener goes: the host may be freed next. */
static void set_release(struct wgset *set)
{
	if (!set->links && !set->incoming) {
		/* The last link: the host may go, and with it the set. */
		wm_p2p_unhandle(set->host, WM_P2PWG_PROTOCOL);
		for (struct wgset **pp = &sets; *pp; pp = &(*pp)->next)
			if (*pp == set) {
				*pp = set->next;
				break;
			}
		free(set);
	}
}

void wm_p2p_wg_listen(struct wm_p2p *p, int (*incoming)(void *data, const char *peer_id),
		      void *data)
{
	struct wgset *set = incoming ? set_for(p) : NULL;

	if (!incoming) {
		for (set = sets; set && set->host != p; set = set->next)
			;
		if (!set)
			return;
	}
	if (!set)
		return;
	set->incoming = incoming;
	set->incoming_data = data;
	set_release(set);
}

void wm_p2p_wg_status(const struct wm_p2p_wg *w, struct wm_p2p_wg_status *out)
{
	struct wm_relay_stats rs;
	struct timespec ts;

	memset(out, 0, sizeof(*out));
	out->rx_idle_ms = -1;
	if (w->tx && stream_ready(w->tx)) {
		struct wm_p2p_stream_info in;
		wm_p2p_stream_info(w->tx->s, &in);
		out->connected = true;
		out->relayed = in.relayed;
		snprintf(out->relay_peer_id, sizeof(out->relay_peer_id), "%s", in.relay_id);
		snprintf(out->remote, sizeof(out->remote), "%s", in.remote);
	}
	wm_relay_get_stats(w->relay, &rs);
	out->tx_packets = rs.tx_packets - w->tx_dropped;
	out->tx_bytes = rs.tx_bytes;
	out->rx_packets = rs.rx_packets;
	out->rx_bytes = rs.rx_bytes;
	out->dropped = rs.dropped + w->tx_dropped;
	if (rs.last_rx_us) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		out->rx_idle_ms =
			((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - rs.last_rx_us) / 1000;
	}
}
