/* Circuit relay v2 in the libp2p module (see relay.h). The relay (hop)
 * keeps reservations in core's wm_relay_table and splices each circuit's
 * two streams, counting bytes each way; a circuit over its byte or time
 * limit is reset. Every node answers stop from relays it holds a
 * reservation on and runs the connection over that stream
 * (wm_p2p_conn_over). The client reserves on configured peers that speak
 * hop and on relays found in the DHT (wm_relay_svc_found), renews at three
 * quarters of the reservation's life, and dials through relays. Every message a peer sends is
 * bounded (WM_RELAY_MSG_MAX) and only one is read per stream role. */
#include "p2p/relay.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/pages.h"

#define TICK_MS 1000
#define MAX_RSVPS WM_P2P_STATUS_RSVPS /* relays we reserve on */
#define MAX_DIALS 8		      /* relayed dials under way at once */
#define MAX_KEEPS 16		      /* circuit targets from libp2p-peers */
#define RETRY_MS 5000		      /* a failed reservation or dial, again after */
/* A relay that takes a RESERVE or CONNECT and never answers would hold the
 * slot for good: the open stream keeps its connection from going idle. */
#define RESERVE_ANSWER_MS 20000
#define CONNECT_ANSWER_MS 15000
#define MAX_FOUND_DIALS (MAX_DIALS / 2) /* under way through relays found in the DHT */
#define LASTFAIL 16			/* targets whose last relayed dial failed, remembered */
#define MIN_RENEW_MS 5000
#define MSG_BUF (WM_RELAY_MSG_MAX + WM_VARINT_MAX)
/* Backpressure: past HOLD_HIGH bytes waiting for one side's window, the
 * other side's reads are held (its sender stops at its yamux window); below
 * HOLD_LOW they flow again. Far below yamux's 1 MiB bound, which resets. */
#define HOLD_HIGH (256u * 1024u)
#define HOLD_LOW (64u * 1024u)
#define SPLICE_WINDOW (512u * 1024u)
#define DRAIN_MS 5

/* One stream that reads exactly one relay message first. */
struct reader {
	uint8_t buf[MSG_BUF];
	size_t n;
};

/* 1 with *m (and the bytes after it moved to the front), 0 for more,
 * negative for a malformed message. */
static int reader_take(struct reader *r, bool hop, const uint8_t *in, size_t len,
		       struct wm_relay_msg *m)
{
	size_t used = 0;

	if (len > sizeof(r->buf) - r->n)
		len = sizeof(r->buf) - r->n; /* more than a message: read fails below */
	memcpy(r->buf + r->n, in, len);
	r->n += len;
	int rc = wm_relay_msg_read(hop, r->buf, r->n, m, &used);
	if (rc == 0 && r->n == sizeof(r->buf))
		return -EMSGSIZE;
	if (rc == 1) {
		memmove(r->buf, r->buf + used, r->n - used);
		r->n -= used;
	}
	return rc;
}

static int send_msg(struct wm_p2p_stream *s, const struct wm_relay_msg *m)
{
	uint8_t b[MSG_BUF];
	int n = wm_relay_msg_write(m, b, sizeof(b));

	return n < 0 ? n : wm_p2p_write(s, b, (size_t)n);
}

static int send_status(struct wm_p2p_stream *s, bool hop, uint32_t status)
{
	struct wm_relay_msg m = {.hop = hop,
				 .type = hop ? WM_HOP_STATUS : WM_STOP_STATUS,
				 .has_status = true,
				 .status = status};
	return send_msg(s, &m);
}

/* ---- the service ---- */

enum rsvp_state { R_NONE, R_PENDING, R_HELD };

struct rsvp {
	struct wm_relay_svc *rs;
	enum rsvp_state state;
	struct wm_peer_id relay;
	struct wm_p2p_stream *s; /* while pending */
	struct reader rd;
	uint64_t expire;    /* Unix seconds */
	uint64_t renew_ms;  /* loop time */
	uint64_t retry_ms;  /* after a failure */
	uint64_t answer_ms; /* while s is open: reset and failed after */
	uint64_t held_ms;   /* held since (renewals keep it) */
	uint32_t fails;	    /* dials through it that failed in a row */
	bool found;	    /* the relay came from the DHT, not libp2p-peers */
	struct wm_relay_addrs addrs;
};

struct cdial {
	struct wm_relay_svc *rs;
	bool used;
	struct wm_peer_id relay, target;
	struct wm_p2p_stream *s;
	struct reader rd;
	bool ephemeral;	      /* for streams (wm_relay_svc_dial), not a kept circuit */
	bool found;	      /* through a relay found in the DHT */
	uint64_t deadline_ms; /* reset and failed after, unanswered */
};

/* The relay through which a dial to target last failed. */
struct lastfail {
	struct wm_peer_id target, relay;
	bool used;
};

struct keep {
	struct wm_peer_id relay, target;
	uint64_t next_ms;
};

struct circuit;

struct wm_relay_svc {
	struct wm_p2p *p;
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_timer_t drain; /* runs while a circuit is held */
	int open_handles;
	bool relay; /* hop on */
	struct wm_relay_table table;
	struct circuit *circuits;
	struct rsvp rsvps[MAX_RSVPS];
	struct cdial dials[MAX_DIALS];
	struct keep keeps[MAX_KEEPS];
	size_t nkeeps;
	struct wm_relay_cand cands[MAX_RSVPS]; /* relays found in the DHT */
	struct wm_relay_deny deny;	       /* found relays that failed us */
	struct lastfail lastfail[LASTFAIL];
	size_t lastfail_next;
	void (*closed)(void *data);
	void *closed_data;
};

static uint64_t now_ms(const struct wm_relay_svc *rs)
{
	return uv_now(rs->loop);
}

static void print_id(const struct wm_peer_id *id, char out[WM_PEERID_TEXT_MAX])
{
	wm_peer_id_print(id, out);
}

/* ---- hop: the relay ---- */

enum hop_state { H_MSG, H_WAIT_STOP, H_SPLICE };

/* One inbound hop stream; for CONNECT also the circuit it becomes. */
struct circuit {
	struct wm_relay_svc *rs;
	struct circuit *next;
	enum hop_state state;
	struct wm_p2p_stream *src; /* the hop stream */
	struct wm_p2p_stream *dst; /* the stop stream to the target */
	struct wm_peer_id src_id, dst_id;
	bool counted;	      /* holds a circuit slot of dst_id's reservation */
	uint64_t bytes[2];    /* src to dst, dst to src */
	bool held[2];	      /* reads of that direction's source held */
	uint64_t deadline_ms; /* 0: none */
	struct reader rd;     /* the hop message, then the stop response */
};

static void circuit_end(struct circuit *c, const char *why)
{
	struct wm_relay_svc *rs = c->rs;
	char a[WM_PEERID_TEXT_MAX], b[WM_PEERID_TEXT_MAX];

	for (struct circuit **pp = &rs->circuits; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->counted) {
		print_id(&c->src_id, a);
		print_id(&c->dst_id, b);
		wm_info("libp2p relay: circuit %s -> %s ended: %s (%" PRIu64 "/%" PRIu64 " bytes)",
			a, b, why, c->bytes[0], c->bytes[1]);
		wm_relay_circuit_close(&rs->table, &c->dst_id);
	}
	struct wm_p2p_stream *s = c->src, *d = c->dst;
	c->src = c->dst = NULL;
	free(c);
	if (s)
		wm_p2p_reset(s);
	if (d)
		wm_p2p_reset(d);
}

static void hop_reserve(struct circuit *c)
{
	struct wm_relay_svc *rs = c->rs;
	uint8_t src[9];
	uint64_t exp_ms;
	char who[WM_PEERID_TEXT_MAX];

	print_id(&c->src_id, who);
	if (wm_p2p_stream_relayed(c->src)) {
		/* A reservation over a circuit would relay circuits in circuits. */
		send_status(c->src, true, WM_RELAY_PERMISSION_DENIED);
		wm_p2p_close(c->src);
		return;
	}
	wm_p2p_stream_src(c->src, src);
	if (wm_relay_reserve(&rs->table, &c->src_id, src, now_ms(rs), &exp_ms)) {
		wm_info("libp2p relay: reservation of %s refused: at the limit", who);
		send_status(c->src, true, WM_RELAY_RESERVATION_REFUSED);
		wm_p2p_close(c->src);
		return;
	}
	struct wm_relay_msg *m = calloc(1, sizeof(*m));
	if (!m) {
		send_status(c->src, true, WM_RELAY_RESOURCE_LIMIT_EXCEEDED);
		wm_p2p_close(c->src);
		return;
	}
	m->hop = true;
	m->type = WM_HOP_STATUS;
	m->has_status = true;
	m->status = WM_RELAY_OK;
	m->has_rsvp = true;
	m->rsvp_expire = (uint64_t)time(NULL) + rs->table.lim.reservation_ttl_s;
	/* Our addresses, each with /p2p/OURID: the client appends
	 * /p2p-circuit to make the address it is reachable at. */
	uint8_t addrs[WM_RELAY_ADDRS][WM_MADDR_MAX];
	size_t lens[WM_RELAY_ADDRS];
	size_t na = wm_p2p_listen_addrs(rs->p, addrs, lens, WM_RELAY_ADDRS);
	const struct wm_peer_id *me = wm_p2p_id(rs->p);
	for (size_t i = 0; i < na; i++) {
		struct wm_maddr_tcp t;
		if (wm_maddr_to_tcp(addrs[i], lens[i], &t))
			continue;
		t.has_peer = true;
		t.peer = *me;
		int n = wm_maddr_from_tcp(&t, m->rsvp_addrs.a[m->rsvp_addrs.n], WM_MADDR_MAX);
		if (n > 0)
			m->rsvp_addrs.len[m->rsvp_addrs.n++] = (size_t)n;
	}
	uint8_t rec[256], part[512], sig[64], pk[32];
	int rl = wm_relay_voucher_record(me, &c->src_id, m->rsvp_expire, rec, sizeof(rec));
	int pl = rl > 0 ? wm_relay_voucher_signed_part(rec, (size_t)rl, part, sizeof(part)) : -1;
	wm_p2p_public_key(rs->p, pk);
	if (pl > 0 && wm_p2p_sign(rs->p, part, (size_t)pl, sig) == 0) {
		int el = wm_relay_voucher_envelope(pk, rec, (size_t)rl, sig, m->voucher,
						   sizeof(m->voucher));
		m->voucher_len = el > 0 ? (size_t)el : 0;
	}
	const struct wm_relay_limits *lim = &rs->table.lim;
	if (lim->circuit_duration_s || lim->circuit_bytes) {
		m->has_limit = true;
		m->has_duration = lim->circuit_duration_s != 0;
		m->limit_duration = lim->circuit_duration_s;
		m->has_data = lim->circuit_bytes != 0;
		m->limit_data = lim->circuit_bytes;
	}
	send_msg(c->src, m);
	free(m);
	wm_info("libp2p relay: reservation for %s, %" PRIu32 " s", who, lim->reservation_ttl_s);
	wm_p2p_close(c->src);
}

static void stop_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len);
static void stop_fin(void *ud, struct wm_p2p_stream *s);
static void stop_gone(void *ud, struct wm_p2p_stream *s);

static const struct wm_p2p_stream_cb dst_cb = {
	.data = stop_data,
	.fin = stop_fin,
	.gone = stop_gone,
};

static void hop_connect(struct circuit *c, const struct wm_relay_msg *m)
{
	struct wm_relay_svc *rs = c->rs;
	uint32_t st = 0;
	int rc;

	/* One hop message per stream: whatever follows is not read as one. */
	c->state = H_WAIT_STOP;
	if (!m->has_peer) {
		st = WM_RELAY_MALFORMED_MESSAGE;
	} else if (wm_p2p_stream_relayed(c->src) || wm_peer_id_equal(&m->peer, &c->src_id)) {
		st = WM_RELAY_PERMISSION_DENIED;
	} else if ((rc = wm_relay_circuit_open(&rs->table, &m->peer, now_ms(rs)))) {
		st = rc == -ENOENT ? WM_RELAY_NO_RESERVATION : WM_RELAY_RESOURCE_LIMIT_EXCEEDED;
	}
	if (st) {
		send_status(c->src, true, st);
		wm_p2p_close(c->src);
		return;
	}
	c->dst_id = m->peer;
	c->counted = true;
	/* The stop stream goes over the target's own (direct) connection:
	 * the one it reserved on. */
	if (wm_p2p_connected(rs->p, &c->dst_id) != 1 ||
	    wm_p2p_open(rs->p, &c->dst_id, WM_RELAY_STOP_PROTOCOL, NULL, &dst_cb, c, &c->dst)) {
		send_status(c->src, true, WM_RELAY_CONNECTION_FAILED);
		wm_p2p_close(c->src);
		return;
	}
	struct wm_relay_msg sm = {.hop = false, .type = WM_STOP_CONNECT, .has_peer = true};
	sm.peer = c->src_id;
	const struct wm_relay_limits *lim = &rs->table.lim;
	if (lim->circuit_duration_s || lim->circuit_bytes) {
		sm.has_limit = true;
		sm.has_duration = lim->circuit_duration_s != 0;
		sm.limit_duration = lim->circuit_duration_s;
		sm.has_data = lim->circuit_bytes != 0;
		sm.limit_data = lim->circuit_bytes;
	}
	c->state = H_WAIT_STOP;
	c->rd.n = 0;
	if (send_msg(c->dst, &sm))
		circuit_end(c, "cannot write to the target");
}

static void on_drain(uv_timer_t *t);

/* Bytes one way; over the limit the circuit ends (the spec: the relay
 * resets both streams). */
static void circuit_pass(struct circuit *c, int dir, const uint8_t *buf, size_t len)
{
	uint64_t lim = c->rs->table.lim.circuit_bytes;
	struct wm_p2p_stream *to = dir == 0 ? c->dst : c->src;

	c->bytes[dir] += len;
	if (lim && c->bytes[dir] > lim) {
		circuit_end(c, "over its byte limit");
		return;
	}
	if (wm_relay_account(&c->rs->table, &c->dst_id, len)) {
		circuit_end(c, "its reservation's byte budget is spent");
		return;
	}
	if (!to || wm_p2p_write(to, buf, len)) {
		circuit_end(c, "the other side does not take more");
		return;
	}
	if (!c->held[dir] && wm_p2p_pending(to) > HOLD_HIGH) {
		c->held[dir] = true;
		wm_p2p_hold(dir == 0 ? c->src : c->dst, true);
		if (!uv_is_active((uv_handle_t *)&c->rs->drain))
			uv_timer_start(&c->rs->drain, on_drain, DRAIN_MS, DRAIN_MS);
	}
}

static void on_drain(uv_timer_t *t)
{
	struct wm_relay_svc *rs = t->data;
	bool any = false;

	for (struct circuit *c = rs->circuits; c; c = c->next) {
		for (int dir = 0; dir < 2; dir++) {
			struct wm_p2p_stream *from = dir == 0 ? c->src : c->dst;
			struct wm_p2p_stream *to = dir == 0 ? c->dst : c->src;
			if (!c->held[dir] || !from || !to)
				continue;
			if (wm_p2p_pending(to) < HOLD_LOW) {
				c->held[dir] = false;
				wm_p2p_hold(from, false);
			} else {
				any = true;
			}
		}
	}
	if (!any)
		uv_timer_stop(t);
}

static void hop_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	struct circuit *c = ud;
	struct wm_relay_msg *m;

	(void)s;
	if (c->state == H_SPLICE) {
		circuit_pass(c, 0, buf, len);
		return;
	}
	if (c->state == H_WAIT_STOP) {
		/* The source must wait for our STATUS before it speaks. */
		circuit_end(c, "the source spoke before the circuit was up");
		return;
	}
	if (!(m = malloc(sizeof(*m))))
		return;
	int rc = reader_take(&c->rd, true, buf, len, m);
	if (rc < 0) {
		/* State first: closing may end the stream, and c with it. */
		c->state = H_WAIT_STOP; /* read no more */
		send_status(c->src, true, WM_RELAY_MALFORMED_MESSAGE);
		wm_p2p_close(c->src);
	} else if (rc == 1 && c->rd.n) {
		circuit_end(c, "bytes behind the hop message");
	} else if (rc == 1 && m->type == WM_HOP_RESERVE) {
		c->state = H_WAIT_STOP;
		hop_reserve(c);
	} else if (rc == 1 && m->type == WM_HOP_CONNECT) {
		hop_connect(c, m);
	} else if (rc == 1) {
		c->state = H_WAIT_STOP;
		send_status(c->src, true, WM_RELAY_UNEXPECTED_MESSAGE);
		wm_p2p_close(c->src);
	}
	free(m);
}

static void hop_fin(void *ud, struct wm_p2p_stream *s)
{
	struct circuit *c = ud;

	(void)s;
	if (c->state == H_SPLICE && c->dst)
		wm_p2p_close(c->dst);
	else if (c->state != H_SPLICE)
		wm_p2p_close(c->src);
}

static void hop_gone(void *ud, struct wm_p2p_stream *s)
{
	struct circuit *c = ud;

	(void)s;
	c->src = NULL;
	circuit_end(c, "the source went");
}

static const struct wm_p2p_stream_cb src_cb = {
	.data = hop_data,
	.fin = hop_fin,
	.gone = hop_gone,
};

static void stop_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	struct circuit *c = ud;
	struct wm_relay_msg *m;

	(void)s;
	if (c->state == H_SPLICE) {
		circuit_pass(c, 1, buf, len);
		return;
	}
	if (!(m = malloc(sizeof(*m))))
		return;
	int rc = reader_take(&c->rd, false, buf, len, m);
	if (rc < 0 || (rc == 1 && (m->type != WM_STOP_STATUS || m->status != WM_RELAY_OK))) {
		/* The target's stream first: closing the source may end c. */
		struct wm_p2p_stream *d = c->dst;
		c->dst = NULL;
		c->state = H_WAIT_STOP;
		wm_p2p_reset(d);
		send_status(c->src, true, WM_RELAY_CONNECTION_FAILED);
		wm_p2p_close(c->src);
	} else if (rc == 1) {
		size_t rest = c->rd.n;
		uint8_t *early = rest ? malloc(rest) : NULL;
		if (early)
			memcpy(early, c->rd.buf, rest);
		struct wm_relay_msg ok = {.hop = true,
					  .type = WM_HOP_STATUS,
					  .has_status = true,
					  .status = WM_RELAY_OK};
		const struct wm_relay_limits *lim = &c->rs->table.lim;
		if (lim->circuit_duration_s || lim->circuit_bytes) {
			ok.has_limit = true;
			ok.has_duration = lim->circuit_duration_s != 0;
			ok.limit_duration = lim->circuit_duration_s;
			ok.has_data = lim->circuit_bytes != 0;
			ok.limit_data = lim->circuit_bytes;
		}
		c->state = H_SPLICE;
		/* Both sides may send twice yamux's window before they wait
		 * for us: what is held here stays below HOLD_HIGH plus that,
		 * under yamux's 1 MiB bound. */
		wm_p2p_set_window(c->src, SPLICE_WINDOW);
		wm_p2p_set_window(c->dst, SPLICE_WINDOW);
		if (lim->circuit_duration_s)
			c->deadline_ms = now_ms(c->rs) + (uint64_t)lim->circuit_duration_s * 1000u;
		char a[WM_PEERID_TEXT_MAX], b[WM_PEERID_TEXT_MAX];
		print_id(&c->src_id, a);
		print_id(&c->dst_id, b);
		wm_info("libp2p relay: circuit %s -> %s open", a, b);
		if (send_msg(c->src, &ok))
			circuit_end(c, "cannot answer the source");
		else if (early && rest)
			circuit_pass(c, 1, early, rest);
		free(early);
	}
	free(m);
}

static void stop_fin(void *ud, struct wm_p2p_stream *s)
{
	struct circuit *c = ud;

	(void)s;
	if (c->state == H_SPLICE && c->src)
		wm_p2p_close(c->src);
}

static void stop_gone(void *ud, struct wm_p2p_stream *s)
{
	struct circuit *c = ud;

	(void)s;
	c->dst = NULL;
	if (c->state == H_SPLICE) {
		circuit_end(c, "the target went");
	} else if (c->state == H_WAIT_STOP && c->src) {
		send_status(c->src, true, WM_RELAY_CONNECTION_FAILED);
		wm_p2p_close(c->src);
	}
}

static int hop_accept(void *arg, struct wm_p2p_stream *s, const struct wm_p2p_stream_cb **cb,
		      void **ud)
{
	struct wm_relay_svc *rs = arg;
	struct circuit *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->rs = rs;
	c->src = s;
	wm_p2p_stream_peer(s, &c->src_id);
	c->next = rs->circuits;
	rs->circuits = c;
	*cb = &src_cb;
	*ud = c;
	return 0;
}

/* ---- stop: relayed connections to us ---- */

struct stopin {
	struct wm_relay_svc *rs;
	struct wm_peer_id relay;
	bool done; /* refused: read nothing more, free at gone */
	struct reader rd;
};

static bool holds_rsvp(const struct wm_relay_svc *rs, const struct wm_peer_id *relay)
{
	for (size_t i = 0; i < MAX_RSVPS; i++)
		if (rs->rsvps[i].state == R_HELD && wm_peer_id_equal(&rs->rsvps[i].relay, relay))
			return true;
	return false;
}

static void stopin_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	struct stopin *si = ud;
	struct wm_relay_msg *m;
	char who[WM_PEERID_TEXT_MAX], rel[WM_PEERID_TEXT_MAX];

	if (si->done || !(m = malloc(sizeof(*m))))
		return;
	int rc = reader_take(&si->rd, false, buf, len, m);
	if (rc == 0) {
		free(m);
		return;
	}
	print_id(&si->relay, rel);
	/* Refused: nothing more is read, and si goes at gone, which closing
	 * may call at once. */
	if (rc < 0 || m->type != WM_STOP_CONNECT || !m->has_peer) {
		wm_info("libp2p: a malformed stop message from relay %s", rel);
		si->done = true;
		free(m);
		send_status(s, false,
			    rc < 0 ? WM_RELAY_MALFORMED_MESSAGE : WM_RELAY_UNEXPECTED_MESSAGE);
		wm_p2p_close(s);
		return;
	} else if (!holds_rsvp(si->rs, &si->relay)) {
		/* Only relays we chose may hand us connections. */
		wm_info("libp2p: relay %s offered a connection, but we hold no reservation there",
			rel);
		si->done = true;
		free(m);
		send_status(s, false, WM_RELAY_PERMISSION_DENIED);
		wm_p2p_close(s);
		return;
	} else if (send_status(s, false, WM_RELAY_OK) == 0) {
		print_id(&m->peer, who);
		wm_info("libp2p: relayed connection from %s via %s", who, rel);
		uint8_t early[MSG_BUF];
		size_t n = si->rd.n;
		memcpy(early, si->rd.buf, n);
		struct wm_relay_svc *rs = si->rs;
		struct wm_peer_id relay = si->relay;
		free(si);
		free(m);
		wm_p2p_conn_over(rs->p, s, false, false, NULL, &relay, early, n);
		return;
	} else {
		free(m);
		free(si);
		wm_p2p_reset(s);
	}
}

static void stopin_fin(void *ud, struct wm_p2p_stream *s)
{
	struct stopin *si = ud;

	if (!si->done) {
		free(si);
		wm_p2p_reset(s);
		return;
	}
	wm_p2p_close(s);
}

static void stopin_gone(void *ud, struct wm_p2p_stream *s)
{
	(void)s;
	free(ud);
}

static const struct wm_p2p_stream_cb stopin_cb = {
	.data = stopin_data,
	.fin = stopin_fin,
	.gone = stopin_gone,
};

static int stop_accept(void *arg, struct wm_p2p_stream *s, const struct wm_p2p_stream_cb **cb,
		       void **ud)
{
	struct stopin *si;

	if (wm_p2p_stream_relayed(s))
		return -EPERM;
	if (!(si = calloc(1, sizeof(*si))))
		return -ENOMEM;
	si->rs = arg;
	wm_p2p_stream_peer(s, &si->relay);
	*cb = &stopin_cb;
	*ud = si;
	return 0;
}

/* ---- the client: reservations ---- */

static struct rsvp *rsvp_find(struct wm_relay_svc *rs, const struct wm_peer_id *relay)
{
	for (size_t i = 0; i < MAX_RSVPS; i++)
		if (rs->rsvps[i].state != R_NONE && wm_peer_id_equal(&rs->rsvps[i].relay, relay))
			return &rs->rsvps[i];
	return NULL;
}

static struct wm_relay_cand *cand_find(struct wm_relay_svc *rs, const struct wm_peer_id *relay)
{
	for (size_t i = 0; i < MAX_RSVPS; i++)
		if (rs->cands[i].used && wm_peer_id_equal(&rs->cands[i].id, relay))
			return &rs->cands[i];
	return NULL;
}

/* A found relay's reservation ends: its slot is free for anyone (nobody
 * retries in it: the next lookup may find the relay again), and its
 * connection goes once idle. */
static void rsvp_drop_found(struct rsvp *r, bool failed)
{
	struct wm_relay_svc *rs = r->rs;
	struct wm_relay_cand *c = cand_find(rs, &r->relay);
	uint64_t now = now_ms(rs);

	if (c) {
		c->held = false;
		c->pending = false;
		c->retry_ms = now + RETRY_MS;
	}
	/* Not dialed again from a lookup for a while: a relay that fails us
	 * (never answers, grants and drops) costs one try per deny period. */
	if (failed)
		wm_relay_deny_add(&rs->deny, &r->relay, now);
	wm_p2p_keep(rs->p, &r->relay, false);
	r->state = R_NONE;
	r->s = NULL;
	r->retry_ms = 0;
	r->found = false;
	r->held_ms = 0;
}

static void rsvp_fail(struct rsvp *r, const char *why)
{
	char rel[WM_PEERID_TEXT_MAX];

	print_id(&r->relay, rel);
	wm_warn("libp2p: reservation on relay %s: %s", rel, why);
	if (r->found) {
		rsvp_drop_found(r, true);
		return;
	}
	r->state = R_NONE;
	r->s = NULL;
	r->held_ms = 0;
	r->retry_ms = now_ms(r->rs) + RETRY_MS;
}

/* The relay's answer: a reservation with a voucher that it signed for us. */
static void rsvp_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	struct rsvp *r = ud;
	struct wm_relay_msg *m = malloc(sizeof(*m));
	struct wm_relay_voucher *v = malloc(sizeof(*v));
	char rel[WM_PEERID_TEXT_MAX];
	int rc;

	if (!m || !v) {
		free(m);
		free(v);
		return;
	}
	rc = reader_take(&r->rd, true, buf, len, m);
	if (rc == 0)
		goto out;
	r->s = NULL;
	wm_p2p_reset(s);
	if (rc < 0 || m->type != WM_HOP_STATUS) {
		rsvp_fail(r, "a malformed answer");
		goto out;
	}
	if (m->status != WM_RELAY_OK || !m->has_rsvp) {
		rsvp_fail(r, m->status == WM_RELAY_RESERVATION_REFUSED
				     ? "refused (the relay is full)"
				     : "refused");
		goto out;
	}
	if (m->voucher_len) {
		uint8_t part[512];
		int pl;
		if (wm_relay_voucher_decode(m->voucher, m->voucher_len, v) ||
		    !wm_peer_id_equal(&v->relay, &r->relay) ||
		    !wm_peer_id_equal(&v->peer, wm_p2p_id(r->rs->p)) ||
		    (pl = wm_relay_voucher_signed_part(v->record, v->record_len, part,
						       sizeof(part))) < 0 ||
		    wm_ed25519_verify(v->pk, part, (size_t)pl, v->sig)) {
			rsvp_fail(r, "its voucher is not signed by the relay for us");
			goto out;
		}
	}
	uint64_t now_s = (uint64_t)time(NULL);
	if (m->rsvp_expire <= now_s) {
		rsvp_fail(r, "it expires at once");
		goto out;
	}
	/* Renew at three quarters of its life (the relay's clock is its
	 * own; a day at most, so a relay's far future is not trusted). */
	uint64_t life = m->rsvp_expire - now_s;
	life = life > 86400 ? 86400 : life;
	uint64_t renew = life * 750;
	r->state = R_HELD;
	if (!r->held_ms)
		r->held_ms = now_ms(r->rs);
	r->expire = m->rsvp_expire;
	r->renew_ms = now_ms(r->rs) + (renew < MIN_RENEW_MS ? MIN_RENEW_MS : renew);
	r->addrs = m->rsvp_addrs;
	print_id(&r->relay, rel);
	struct wm_relay_cand *c = r->found ? cand_find(r->rs, &r->relay) : NULL;
	if (c) {
		c->held = true;
		c->pending = false;
	}
	/* A found relay's stop streams come over this connection whenever
	 * someone dials us: it must outlive idleness. */
	if (r->found)
		wm_p2p_keep(r->rs->p, &r->relay, true);
	wm_info("libp2p: reservation on relay %s for %" PRIu64 " s%s", rel, life,
		r->found ? " (found in the DHT)" : "");
out:
	free(m);
	free(v);
}

static void rsvp_fin(void *ud, struct wm_p2p_stream *s)
{
	struct rsvp *r = ud;

	r->s = NULL;
	wm_p2p_reset(s);
	rsvp_fail(r, "the relay closed the stream without an answer");
}

static void rsvp_gone(void *ud, struct wm_p2p_stream *s)
{
	struct rsvp *r = ud;

	(void)s;
	r->s = NULL;
	if (r->state == R_PENDING)
		rsvp_fail(r, "the stream went");
}

static const struct wm_p2p_stream_cb rsvp_cb = {
	.data = rsvp_data,
	.fin = rsvp_fin,
	.gone = rsvp_gone,
};

static void rsvp_start(struct rsvp *r)
{
	struct wm_relay_msg m = {.hop = true, .type = WM_HOP_RESERVE};
	bool renewal = r->state == R_HELD;

	r->rd.n = 0;
	r->answer_ms = now_ms(r->rs) + RESERVE_ANSWER_MS;
	if (r->found && !renewal) {
		struct wm_relay_cand *c = cand_find(r->rs, &r->relay);
		if (c)
			c->pending = true;
	}
	if (wm_p2p_open(r->rs->p, &r->relay, WM_RELAY_HOP_PROTOCOL, NULL, &rsvp_cb, r, &r->s)) {
		r->s = NULL;
		rsvp_fail(r, "cannot open a stream");
		return;
	}
	/* A held reservation stays held (for stop) while it is renewed. */
	if (!renewal)
		r->state = R_PENDING;
	if (send_msg(r->s, &m)) {
		struct wm_p2p_stream *s = r->s;
		r->s = NULL;
		wm_p2p_reset(s);
		rsvp_fail(r, "cannot write");
	}
}

void wm_relay_svc_peer_up(struct wm_relay_svc *rs, const struct wm_peer_id *peer, bool speaks_hop,
			  bool configured, bool relayed)
{
	struct wm_relay_slot sl[MAX_RSVPS];
	struct wm_relay_cand *c = configured ? NULL : cand_find(rs, peer);
	char rel[WM_PEERID_TEXT_MAX];
	int i = -1;

	if (!speaks_hop || relayed || rsvp_find(rs, peer) || (!configured && !c))
		return;
	for (size_t k = 0; k < MAX_RSVPS; k++) {
		struct rsvp *r = &rs->rsvps[k];
		bool waits = r->state == R_NONE && r->retry_ms && !r->found;
		if (waits && configured && wm_peer_id_equal(&r->relay, peer)) {
			if (now_ms(rs) < r->retry_ms)
				return; /* the timer retries */
			i = (int)k;	/* its own slot */
			break;
		}
		sl[k] = (struct wm_relay_slot){
			.busy = r->state != R_NONE, .found = r->found, .waiting = waits};
	}
	if (i < 0 && (i = wm_relay_slot_pick(sl, MAX_RSVPS, !configured)) < 0) {
		print_id(peer, rel);
		wm_debug("libp2p: relay %s: no reservation slot for it", rel);
		if (c)
			c->retry_ms = now_ms(rs) + RETRY_MS;
		return;
	}
	struct rsvp *r = &rs->rsvps[i];
	if (r->state != R_NONE) {
		/* Only a found relay's: the operator's relays come first. */
		struct wm_p2p_stream *s = r->s;
		print_id(&r->relay, rel);
		wm_info("libp2p: reservation on relay %s (found in the DHT) given up for a "
			"configured relay",
			rel);
		rsvp_drop_found(r, false);
		if (s)
			wm_p2p_reset(s);
	}
	memset(r, 0, sizeof(*r));
	r->rs = rs;
	r->relay = *peer;
	r->found = !configured;
	rsvp_start(r);
}

int wm_relay_svc_found(struct wm_relay_svc *rs, const struct wm_peer_id *relay,
		       const struct wm_p2p_dial *to)
{
	uint64_t now = now_ms(rs);
	char rel[WM_PEERID_TEXT_MAX];
	int i, rc;

	if (rsvp_find(rs, relay))
		return -EALREADY; /* configured, or found before */
	if (wm_relay_denied(&rs->deny, relay, now))
		return -EAGAIN;
	if ((i = wm_relay_cand_pick(rs->cands, MAX_RSVPS, wm_p2p_id(rs->p), relay, now)) < 0)
		return i;
	struct wm_relay_cand *c = &rs->cands[i];
	bool again = c->used && wm_peer_id_equal(&c->id, relay);
	print_id(relay, rel);
	if (again && wm_p2p_connected(rs->p, relay) != 1 &&
	    wm_p2p_dial(rs->p, relay, NULL) != -EINPROGRESS) {
		/* Dialed at the last lookup, and neither connected nor on its
		 * way: its record leads nowhere. */
		wm_relay_deny_add(&rs->deny, relay, now);
		c->used = false;
		return -EAGAIN;
	}
	if (!again)
		wm_info("libp2p: relay %s found in the DHT", rel);
	*c = (struct wm_relay_cand){.id = *relay, .used = true, .retry_ms = now + RETRY_MS};
	rc = wm_p2p_connected(rs->p, relay);
	/* A connection on its way (ours to a member, say) is not raced by a
	 * dial to the record's addresses: a record naming a member we are
	 * dialing, at an address that never answers, would hold that member's
	 * dials until the handshake timeout. Identify reports it either way. */
	if (rc != 1 && wm_p2p_dial(rs->p, relay, NULL) == -EINPROGRESS)
		return 0;
	rc = rc == 1 ? 0 : wm_p2p_dial(rs->p, relay, to);
	if (rc == 0 && wm_p2p_connected(rs->p, relay) == 1) {
		/* Connected already (a DHT query, say), and identified before
		 * it was a candidate: identify does not come again. */
		wm_relay_svc_peer_up(rs, relay, wm_p2p_speaks(rs->p, relay, WM_RELAY_HOP_PROTOCOL),
				     false, false);
	} else if (rc && rc != -EINPROGRESS) {
		wm_info("libp2p: relay %s found in the DHT: cannot dial it: %s", rel,
			wm_strerror(rc));
	}
	return 0;
}

size_t wm_relay_svc_held(const struct wm_relay_svc *rs)
{
	size_t n = 0;

	for (size_t i = 0; i < MAX_RSVPS; i++)
		n += rs->rsvps[i].state == R_HELD;
	return n;
}

size_t wm_relay_svc_held_long(const struct wm_relay_svc *rs, uint64_t min_ms)
{
	uint64_t now = now_ms(rs);
	size_t n = 0;

	for (size_t i = 0; i < MAX_RSVPS; i++)
		n += rs->rsvps[i].state == R_HELD && now - rs->rsvps[i].held_ms >= min_ms;
	return n;
}

/* ---- the client: dialing through a relay ---- */

static void cdial_end(struct cdial *d)
{
	d->used = false;
	d->s = NULL;
}

static struct lastfail *lastfail_find(struct wm_relay_svc *rs, const struct wm_peer_id *target)
{
	for (size_t i = 0; i < LASTFAIL; i++)
		if (rs->lastfail[i].used && wm_peer_id_equal(&rs->lastfail[i].target, target))
			return &rs->lastfail[i];
	return NULL;
}

/* The dial's relay failed it: the next dial to its target goes through
 * another relay first, and a relay that keeps failing is tried last. */
static void cdial_fail(struct cdial *d, const char *why)
{
	struct wm_relay_svc *rs = d->rs;
	struct rsvp *r = rsvp_find(rs, &d->relay);
	struct lastfail *lf = lastfail_find(rs, &d->target);
	char t[WM_PEERID_TEXT_MAX], rel[WM_PEERID_TEXT_MAX];

	print_id(&d->target, t);
	print_id(&d->relay, rel);
	wm_info("libp2p: dial of %s through relay %s: %s", t, rel, why);
	if (r)
		r->fails += r->fails < UINT32_MAX;
	if (!lf) {
		lf = &rs->lastfail[rs->lastfail_next];
		rs->lastfail_next = (rs->lastfail_next + 1) % LASTFAIL;
	}
	*lf = (struct lastfail){.target = d->target, .relay = d->relay, .used = true};
	cdial_end(d);
}

static void cdial_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	struct cdial *d = ud;
	struct wm_relay_msg *m = malloc(sizeof(*m));
	char t[WM_PEERID_TEXT_MAX];

	if (!m)
		return;
	int rc = reader_take(&d->rd, true, buf, len, m);
	if (rc == 0) {
		free(m);
		return;
	}
	print_id(&d->target, t);
	if (rc < 0 || m->type != WM_HOP_STATUS || m->status != WM_RELAY_OK) {
		char why[64];
		snprintf(why, sizeof(why), "refused (status %" PRIu32 ")", rc < 0 ? 0 : m->status);
		cdial_fail(d, why);
		wm_p2p_reset(s);
	} else {
		struct rsvp *r = rsvp_find(d->rs, &d->relay);
		struct lastfail *lf = lastfail_find(d->rs, &d->target);
		if (r)
			r->fails = 0;
		if (lf && wm_peer_id_equal(&lf->relay, &d->relay))
			lf->used = false;
		uint8_t early[MSG_BUF];
		size_t n = d->rd.n;
		memcpy(early, d->rd.buf, n);
		struct wm_peer_id target = d->target, relay = d->relay;
		struct wm_relay_svc *rs = d->rs;
		bool ephemeral = d->ephemeral;
		cdial_end(d);
		wm_info("libp2p: circuit to %s open", t);
		wm_p2p_conn_over(rs->p, s, true, ephemeral, &target, &relay, early, n);
	}
	free(m);
}

/* Both only while the slot still holds this stream: one ended here and
 * reset may report after the slot went to another dial. */
static void cdial_fin(void *ud, struct wm_p2p_stream *s)
{
	struct cdial *d = ud;

	if (d->used && d->s == s)
		cdial_fail(d, "the relay closed the stream without an answer");
	wm_p2p_reset(s);
}

static void cdial_gone(void *ud, struct wm_p2p_stream *s)
{
	struct cdial *d = ud;

	if (d->used && d->s == s)
		cdial_fail(d, "the stream went");
}

static const struct wm_p2p_stream_cb cdial_cb = {
	.data = cdial_data,
	.fin = cdial_fin,
	.gone = cdial_gone,
};

static int dial_via(struct wm_relay_svc *rs, const struct wm_peer_id *relay,
		    const struct wm_peer_id *target, bool ephemeral)
{
	struct cdial *d = NULL;
	struct rsvp *r = rsvp_find(rs, relay);
	bool found = r && r->found;
	size_t nfound = 0;

	for (size_t i = 0; i < MAX_DIALS; i++) {
		if (rs->dials[i].used && wm_peer_id_equal(&rs->dials[i].target, target))
			return 0; /* under way */
		if (!rs->dials[i].used && !d)
			d = &rs->dials[i];
		nfound += rs->dials[i].used && rs->dials[i].found;
	}
	/* Relays from the DHT (anyone's) may hold at most half the slots,
	 * so kept circuits through configured ones always find one. */
	if (!d || (found && nfound >= MAX_FOUND_DIALS))
		return -EBUSY;
	if (wm_p2p_connected(rs->p, relay) != 1)
		return -ENOTCONN;
	memset(d, 0, sizeof(*d));
	d->rs = rs;
	d->relay = *relay;
	d->target = *target;
	d->ephemeral = ephemeral;
	d->found = found;
	d->deadline_ms = now_ms(rs) + CONNECT_ANSWER_MS;
	if (wm_p2p_open(rs->p, relay, WM_RELAY_HOP_PROTOCOL, NULL, &cdial_cb, d, &d->s))
		return -ENOTCONN;
	d->used = true;
	struct wm_relay_msg m = {.hop = true, .type = WM_HOP_CONNECT, .has_peer = true};
	m.peer = *target;
	if (send_msg(d->s, &m)) {
		struct wm_p2p_stream *s = d->s;
		cdial_end(d);
		wm_p2p_reset(s);
		return -EIO;
	}
	return 0;
}

int wm_relay_svc_dial(struct wm_relay_svc *rs, const struct wm_peer_id *target)
{
	for (size_t i = 0; i < rs->nkeeps; i++)
		if (wm_peer_id_equal(&rs->keeps[i].target, target) &&
		    dial_via(rs, &rs->keeps[i].relay, target, false) == 0)
			return 0;
	struct wm_relay_via via[MAX_RSVPS];
	size_t idx[MAX_RSVPS], order[MAX_RSVPS], n = 0;
	struct lastfail *lf = lastfail_find(rs, target);

	for (size_t i = 0; i < MAX_RSVPS; i++) {
		const struct rsvp *r = &rs->rsvps[i];
		if (r->state != R_HELD)
			continue;
		via[n] = (struct wm_relay_via){
			.found = r->found,
			.failed_target = lf && wm_peer_id_equal(&lf->relay, &r->relay),
			.fails = r->fails,
		};
		idx[n++] = i;
	}
	wm_relay_via_order(via, n, order);
	for (size_t k = 0; k < n; k++)
		if (dial_via(rs, &rs->rsvps[idx[order[k]]].relay, target, true) == 0)
			return 0;
	return -ENOENT;
}

int wm_relay_svc_keep(struct wm_relay_svc *rs, const struct wm_peer_id *relay,
		      const struct wm_peer_id *target)
{
	if (rs->nkeeps >= MAX_KEEPS)
		return -ENOSPC;
	rs->keeps[rs->nkeeps].relay = *relay;
	rs->keeps[rs->nkeeps].target = *target;
	rs->keeps[rs->nkeeps].next_ms = 0;
	rs->nkeeps++;
	return 0;
}

/* ---- the timer: limits, renewals, kept circuits ---- */

static void on_tick(uv_timer_t *t)
{
	struct wm_relay_svc *rs = t->data;
	uint64_t now = now_ms(rs);

	if (rs->relay) {
		wm_relay_table_expire(&rs->table, now);
		for (struct circuit *c = rs->circuits, *next; c; c = next) {
			next = c->next;
			if (c->state == H_SPLICE && c->deadline_ms && now >= c->deadline_ms)
				circuit_end(c, "over its time limit");
		}
	}
	for (size_t i = 0; i < MAX_DIALS; i++) {
		struct cdial *d = &rs->dials[i];
		if (d->used && d->s && now >= d->deadline_ms) {
			struct wm_p2p_stream *s = d->s;
			cdial_fail(d, "no answer in time");
			wm_p2p_reset(s);
		}
	}
	for (size_t i = 0; i < MAX_RSVPS; i++) {
		struct rsvp *r = &rs->rsvps[i];
		if (r->s && now >= r->answer_ms) {
			/* Failed before the reset, whose gone then finds it done. */
			struct wm_p2p_stream *s = r->s;
			r->s = NULL;
			rsvp_fail(r, "no answer in time");
			wm_p2p_reset(s);
			continue;
		}
		if (r->state == R_HELD && !r->s && wm_p2p_connected(rs->p, &r->relay) != 1 &&
		    r->found) {
			/* Nobody redials a relay found in the DHT (a configured one
			 * has its dial): dropped now, the next lookup finds it. */
			rsvp_fail(r, "the connection to it is gone");
		} else if (r->state == R_HELD && !r->s && now >= r->renew_ms) {
			if (wm_p2p_connected(rs->p, &r->relay) == 1)
				rsvp_start(r);
			else
				rsvp_fail(r, "the relay is not connected to renew it");
		} else if (r->state == R_NONE && r->retry_ms && now >= r->retry_ms &&
			   wm_p2p_connected(rs->p, &r->relay) == 1) {
			r->retry_ms = 0;
			rsvp_start(r);
		}
	}
	for (size_t i = 0; i < rs->nkeeps; i++) {
		struct keep *k = &rs->keeps[i];
		if (now < k->next_ms || wm_p2p_connected(rs->p, &k->target))
			continue;
		k->next_ms = now + RETRY_MS;
		dial_via(rs, &k->relay, &k->target, false);
	}
}

/* ---- life ---- */

/* The service from wm_pages_new: its reservation and dial slots each hold a
 * message buffer (4 KiB, 48 KiB in all) that a node using no relay never
 * writes, so those pages are never backed. calloc cleared them from reused
 * heap, and they stayed resident (32 KiB on an idle member, measured). */
int wm_relay_svc_new(struct wm_p2p *p, const struct wm_p2p_config *cfg, struct wm_relay_svc **out,
		     char *err, size_t errlen)
{
	struct wm_relay_svc *rs = wm_pages_new(sizeof(*rs));
	int rc;

	if (!rs)
		return -ENOMEM;
	rs->p = p;
	rs->loop = cfg->loop;
	rs->relay = cfg->relay;
	if (rs->relay) {
		if ((rc = wm_relay_table_init(&rs->table, &cfg->relay_limits))) {
			wm_seterr(err, errlen, "libp2p relay: %s",
				  rc == -EINVAL ? "every reservation and circuit limit must be "
						  "at least 1"
						: "out of memory");
			wm_pages_free(rs, sizeof(*rs));
			return rc;
		}
		if ((rc = wm_p2p_handle(p, WM_RELAY_HOP_PROTOCOL, hop_accept, rs)))
			goto fail;
	}
	if ((rc = wm_p2p_handle(p, WM_RELAY_STOP_PROTOCOL, stop_accept, rs)))
		goto fail;
	uv_timer_init(rs->loop, &rs->timer);
	rs->timer.data = rs;
	uv_timer_init(rs->loop, &rs->drain);
	rs->drain.data = rs;
	uv_timer_start(&rs->timer, on_tick, TICK_MS, TICK_MS);
	uv_unref((uv_handle_t *)&rs->timer);
	*out = rs;
	return 0;
fail:
	wm_seterr(err, errlen, "libp2p relay: cannot register its protocols: %s", strerror(-rc));
	wm_relay_table_free(&rs->table);
	wm_pages_free(rs, sizeof(*rs));
	return rc;
}

static void on_timer_closed(uv_handle_t *h)
{
	struct wm_relay_svc *rs = h->data;

	if (--rs->open_handles > 0)
		return;
	void (*closed)(void *) = rs->closed;
	void *data = rs->closed_data;

	wm_relay_table_free(&rs->table);
	wm_pages_free(rs, sizeof(*rs));
	if (closed)
		closed(data);
}

void wm_relay_svc_free(struct wm_relay_svc *rs, void (*closed)(void *data), void *data)
{
	while (rs->circuits)
		circuit_end(rs->circuits, "shutting down");
	for (size_t i = 0; i < MAX_RSVPS; i++) {
		struct rsvp *r = &rs->rsvps[i];
		if (r->s) {
			struct wm_p2p_stream *s = r->s;
			r->s = NULL;
			wm_p2p_reset(s);
		}
		r->state = R_NONE;
	}
	for (size_t i = 0; i < MAX_DIALS; i++) {
		struct cdial *d = &rs->dials[i];
		if (d->used && d->s) {
			struct wm_p2p_stream *s = d->s;
			cdial_end(d);
			wm_p2p_reset(s);
		}
	}
	rs->closed = closed;
	rs->closed_data = data;
	rs->open_handles = 2;
	uv_close((uv_handle_t *)&rs->timer, on_timer_closed);
	uv_close((uv_handle_t *)&rs->drain, on_timer_closed);
}

void wm_relay_svc_status(const struct wm_relay_svc *rs, struct wm_p2p_status *out)
{
	out->relay = rs->relay;
	out->relay_reservations = (uint32_t)rs->table.n;
	out->relay_circuits = rs->table.circuits;
	for (size_t i = 0; i < MAX_RSVPS && out->nrsvps < WM_P2P_STATUS_RSVPS; i++) {
		const struct rsvp *r = &rs->rsvps[i];
		if (r->state != R_HELD)
			continue;
		struct wm_p2p_rsvp_status *o = &out->rsvps[out->nrsvps++];
		char rid[WM_PEERID_TEXT_MAX];
		wm_peer_id_print(&r->relay, rid);
		memcpy(o->relay_id, rid, sizeof(rid));
		o->expire = r->expire;
		for (size_t k = 0; k < r->addrs.n && o->naddrs < WM_P2P_STATUS_ADDRS; k++) {
			char text[WM_MADDR_TEXT_MAX];
			if (wm_maddr_print(r->addrs.a[k], r->addrs.len[k], text, sizeof(text)))
				continue;
			/* The address we are reachable at: the relay's, /p2p-circuit. */
			if (strstr(text, "/p2p/"))
				snprintf(o->addrs[o->naddrs++], WM_MADDR_TEXT_MAX,
					 "%.180s/p2p-circuit", text);
			else
				snprintf(o->addrs[o->naddrs++], WM_MADDR_TEXT_MAX,
					 "%.120s/p2p/%s/p2p-circuit", text, rid);
		}
	}
}
