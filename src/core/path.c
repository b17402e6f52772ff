/* The per-peer path state machine: direct, ICE (and its relay), retries,
 * backoff, probes of the direct path and the return to it. */
#include "core/path.h"

#include <string.h>

const char *wm_path_state_name(int state)
{
	switch (state) {
	case WM_PATH_TRYING:
		return "trying";
	case WM_PATH_DIRECT:
		return "direct";
	case WM_PATH_ICE_WAIT:
		return "ice-wait";
	case WM_PATH_OFFERING:
		return "offering";
	case WM_PATH_CHECKING:
		return "checking";
	case WM_PATH_CONNECTED:
		return "connected";
	case WM_PATH_PROBING:
		return "probing";
	}
	return "unknown";
}

uint32_t wm_path_probe_backoff_ms(unsigned n, uint16_t jitter)
{
	uint32_t ms = WM_PATH_PROBE_FIRST_MS;

	for (unsigned i = 0; i < n && ms < WM_PATH_PROBE_MAX_MS; i++)
		ms *= 2;
	if (ms > WM_PATH_PROBE_MAX_MS)
		ms = WM_PATH_PROBE_MAX_MS;
	return ms + (uint32_t)(((uint64_t)ms / 4) * jitter / 65535);
}

uint32_t wm_path_p2p_probe_backoff_ms(unsigned n, uint16_t jitter)
{
	uint32_t ms = WM_PATH_P2P_PROBE_FIRST_MS;

	for (unsigned i = 0; i < n && ms < WM_PATH_P2P_PROBE_MAX_MS; i++)
		ms *= 2;
	if (ms > WM_PATH_P2P_PROBE_MAX_MS)
		ms = WM_PATH_P2P_PROBE_MAX_MS;
	return ms + (uint32_t)(((uint64_t)ms / 4) * jitter / 65535);
}

uint16_t wm_path_keepalive_s(const struct wm_path *p)
{
	return p->controlling ? WM_PATH_KEEPALIVE_LEAD_S : WM_PATH_KEEPALIVE_OTHER_S;
}

bool wm_path_on_ice(const struct wm_path *p)
{
	return p->state >= WM_PATH_ICE_WAIT;
}

bool wm_path_uses_relay(const struct wm_path *p)
{
	return wm_path_on_ice(p) && p->state != WM_PATH_PROBING;
}

bool wm_path_on_p2p(const struct wm_path *p)
{
	return p->p2p;
}

bool wm_path_uses_p2p(const struct wm_path *p)
{
	return p->p2p && !p->p2p_probing;
}

/* Only one side probes, so that two trials never cross: the one that can send
 * to a public endpoint of the other (both can: the controlling side). An edge
 * marked ice is the operator's choice and is never second-guessed. */
static bool probe_eligible(const struct wm_path *p)
{
	const struct wm_path_attrs *a = &p->attrs;

	return a->ice_available && !a->ice_edge && a->peer_public &&
	       (!a->self_public || p->controlling);
}

static bool probe_due(const struct wm_path *p, int64_t now)
{
	return p->state == WM_PATH_CONNECTED && p->wake_ms && now >= p->wake_ms &&
	       probe_eligible(p);
}

bool wm_path_wants_wg(const struct wm_path *p, int64_t now)
{
	if (p->p2p)
		return true; /* probes, and the peer may return to direct */
	switch (p->state) {
	case WM_PATH_TRYING:
		/* With libp2p, every second: traffic may prove the direct path
		 * before the timeout, and the timeout moves the pair. Else only
		 * where wm_ice_decide could move the pair on a timeout: a device
		 * read per second for a peer that can never leave direct would
		 * be for nothing. */
		if (p->attrs.p2p_available)
			return true;
		if (!p->attrs.handshake_timeout_ms ||
		    now - p->since_ms < (int64_t)p->attrs.handshake_timeout_ms)
			return false;
		return p->attrs.ice_available && p->attrs.traversal &&
		       (p->attrs.peer_public || !p->attrs.self_public);
	case WM_PATH_DIRECT:
		return false;
	default:
		return true; /* on ICE: the peer may bring the pair back to direct */
	}
}

int64_t wm_path_next_ms(const struct wm_path *p, int64_t now)
{
	int64_t poll = now + WM_PATH_POLL_MS;

	if (p->state == WM_PATH_DIRECT && !p->p2p)
		return 0;
	return p->wake_ms && p->wake_ms < poll ? p->wake_ms : poll;
}

void wm_path_init(struct wm_path *p, bool controlling, const struct wm_path_attrs *attrs,
		  int64_t now)
{
	memset(p, 0, sizeof(*p));
	p->state = WM_PATH_TRYING;
	p->controlling = controlling;
	p->attrs = *attrs;
	p->since_ms = now;
}

static uint16_t jitter_of(uint64_t rnd)
{
	return (uint16_t)(rnd >> 48);
}

static uint64_t session_of(uint64_t rnd)
{
	return rnd ? rnd : 1;
}

static void to_trying(struct wm_path *p, int64_t now)
{
	p->state = WM_PATH_TRYING;
	p->since_ms = now;
	p->kicks = 0;
	p->returned = false;
	p->direct_failed = false;
	p->rx_known = false; /* what came before came over another path */
}

/* ---- libp2p ---- */

/* Whether the pair should be carried over libp2p now (see path.h). */
static bool p2p_wanted(const struct wm_path *p, int64_t now)
{
	const struct wm_path_attrs *a = &p->attrs;

	if (!a->p2p_available || now < p->p2p_blocked_ms)
		return false;
	if (a->p2p_edge)
		return true;
	switch (p->state) {
	case WM_PATH_TRYING:
		return p->direct_failed || p->p2p_peer;
	case WM_PATH_ICE_WAIT:
	case WM_PATH_OFFERING:
	case WM_PATH_CHECKING:
		/* ICE failed once: libp2p while it retries */
		return p->attempt > 0 || p->p2p_peer;
	case WM_PATH_DIRECT:
		return p->p2p_peer;
	default:
		return false;
	}
}

/* The probing side, as for ICE: the one that can send to a public endpoint
 * of the other; both or neither public: the controlling side. */
static bool p2p_probe_eligible(const struct wm_path *p)
{
	const struct wm_path_attrs *a = &p->attrs;

	if (a->p2p_edge || !a->peer_direct)
		return false;
	return a->peer_public == a->self_public ? p->controlling : a->peer_public;
}

static void p2p_on(struct wm_path *p, int64_t now, uint64_t rnd, struct wm_path_actions *out)
{
	p->p2p = true;
	p->p2p_probing = false;
	p->p2p_seen = false;
	p->p2p_probes = 0;
	p->p2p_wake_ms = p2p_probe_eligible(p)
				 ? now + wm_path_p2p_probe_backoff_ms(0, (uint16_t)(rnd >> 48))
				 : 0;
	out->flags |= WM_PATH_DO_OPEN_P2P | WM_PATH_DO_ENDPOINT;
	/* A handshake over libp2p at once (the link holds it until its stream
	 * is up), one side only: crossing initiations cancel each other. */
	if (p->controlling)
		out->flags |= WM_PATH_DO_KICK;
	out->why = p->attrs.p2p_edge ? "the edge is marked libp2p"
		   : p->p2p_peer     ? "the peer carries the pair over libp2p"
		   : p->state == WM_PATH_TRYING
			   ? "no handshake at the direct endpoints, no ICE: over libp2p"
			   : "ICE failed: over libp2p while it retries";
	if (p->p2p_wake_ms)
		out->delay_ms = (uint32_t)(p->p2p_wake_ms - now);
}

static void p2p_off(struct wm_path *p, const char *why, struct wm_path_actions *out)
{
	if (!p->p2p)
		return;
	p->p2p = false;
	p->p2p_probing = false;
	p->p2p_peer = false;
	p->p2p_wake_ms = 0;
	out->flags |= WM_PATH_DO_CLOSE_P2P | WM_PATH_DO_ENDPOINT;
	if (why)
		out->why = why;
}

static void start_offer(struct wm_path *p, int64_t now, uint64_t rnd, struct wm_path_actions *out)
{
	p->session = session_of(rnd);
	p->sess_controlling = true;
	p->session_ms = now;
	p->wake_ms = 0;
	p->state = WM_PATH_OFFERING;
	out->flags |= WM_PATH_DO_START_ICE;
	out->session = p->session;
	out->controlling = true;
}

/* The session ended without a working pair (or the pair died): a new one
 * after 1 s, 2 s, 4 s ... 30 s plus jitter. */
static void retry(struct wm_path *p, int64_t now, uint64_t rnd, const char *why,
		  struct wm_path_actions *out)
{
	uint32_t delay = wm_ice_backoff_ms(p->attempt, jitter_of(rnd));

	if (p->attempt < 16)
		p->attempt++;
	if (p->session)
		out->flags |= WM_PATH_DO_STOP_ICE;
	if (p->state == WM_PATH_PROBING)
		out->flags |= WM_PATH_DO_ENDPOINT; /* back to the relay */
	p->session = 0;
	p->state = WM_PATH_ICE_WAIT;
	p->wake_ms = now + delay;
	out->why = why;
	out->delay_ms = delay;
}

static void enter_ice(struct wm_path *p, int reason, struct wm_path_actions *out)
{
	p->reason = reason;
	p->attempt = 0;
	p->probes = 0;
	p->session = 0;
	p->relay_seen = false;
	p->rx_known = false;
	p->returned = false;
	out->flags |= WM_PATH_DO_OPEN_RELAY | WM_PATH_DO_ENDPOINT;
	out->why = wm_ice_reason_name(reason);
}

/* Leaves ICE for the direct endpoints: returned says WireGuard's endpoint
 * (roamed there by the peer's packets) is the one that works. */
static void leave_ice(struct wm_path *p, int64_t now, bool returned, const char *why,
		      struct wm_path_actions *out)
{
	if (p->session) {
		out->flags |= WM_PATH_DO_SEND_BYE | WM_PATH_DO_STOP_ICE;
		out->session = p->session;
	}
	out->flags |= WM_PATH_DO_CLOSE_RELAY | WM_PATH_DO_ENDPOINT;
	out->why = why;
	p->session = 0;
	p->wake_ms = 0;
	p->reason = WM_ICE_NOT_NEEDED;
	if (returned) {
		p->state = WM_PATH_DIRECT;
		p->returned = true;
	} else {
		to_trying(p, now);
	}
}

/* An offer from the peer: answer it (a new session as the controlled side),
 * unless it is one we know or our own offer wins the glare. */
static void on_offer(struct wm_path *p, uint64_t session, int64_t now, struct wm_path_actions *out)
{
	if (!p->attrs.ice_available || session == 0 || session == p->session)
		return;
	/* Crossed offers: the controlling side's wins, the other answers it. */
	if (p->state == WM_PATH_OFFERING && p->controlling)
		return;
	if (!wm_path_on_ice(p))
		enter_ice(p, WM_ICE_PEER_STARTED, out);
	else if (p->state == WM_PATH_PROBING)
		out->flags |= WM_PATH_DO_ENDPOINT; /* the peer restarts ICE: relay again */
	p->session = session;
	p->sess_controlling = false;
	p->session_ms = now;
	p->wake_ms = 0;
	p->state = WM_PATH_CHECKING;
	out->flags |= WM_PATH_DO_START_ICE;
	out->session = session;
	out->controlling = false;
	if (!out->why)
		out->why = "the peer offered a new session";
}

/* TRYING and DIRECT: wm_ice_decide says whether the pair moves to ICE. */
static void decide(struct wm_path *p, const struct wm_path_obs *obs, int64_t now, uint64_t rnd,
		   struct wm_path_actions *out)
{
	const struct wm_path_attrs *a = &p->attrs;
	struct wm_ice_inputs in = {
		.ice_edge = a->ice_edge,
		.self_public = a->self_public,
		.peer_public = a->peer_public,
		.ice_available = a->ice_available,
		.traversal = a->traversal,
		.now_ms = now,
		.direct_since_ms = p->since_ms,
	};

	/* An edge marked libp2p goes there, not to ICE. */
	if (a->p2p_edge && a->p2p_available)
		return;
	/* The timeout counts only in TRYING and only once the device told us
	 * about the peer's handshakes: a peer not on the device yet had no
	 * chance to answer. */
	if (p->state == WM_PATH_TRYING && obs && obs->have_wg && obs->on_device) {
		in.handshake_timeout_ms = a->handshake_timeout_ms;
		in.last_handshake_ms = obs->last_handshake_ms;
	}
	int reason = wm_ice_decide(&in);
	if (reason == WM_ICE_NOT_NEEDED)
		return;
	enter_ice(p, reason, out);
	if (obs && obs->can_signal) {
		start_offer(p, now, rnd, out);
	} else {
		p->state = WM_PATH_ICE_WAIT;
		p->wake_ms = now; /* the next tick offers, once a server is there */
	}
}

static void on_attrs(struct wm_path *p, const struct wm_path_attrs *a, int64_t now, uint64_t rnd,
		     struct wm_path_actions *out)
{
	bool moved = a->endpoints_hash != p->attrs.endpoints_hash;
	bool edge_cleared = p->attrs.ice_edge && !a->ice_edge;

	p->attrs = *a;
	if (!wm_path_on_ice(p)) {
		/* New endpoints (a roaming peer): the timeout starts again. */
		if (moved)
			to_trying(p, now);
		decide(p, NULL, now, rnd, out);
		return;
	}
	if (edge_cleared && p->reason == WM_ICE_EDGE) {
		leave_ice(p, now, false, "the edge is no longer marked ice", out);
		return;
	}
	if (a->p2p_edge && a->p2p_available) {
		/* The operator chose libp2p for this pair: not ICE. */
		leave_ice(p, now, false, "the edge is marked libp2p", out);
		return;
	}
	if (moved && p->state == WM_PATH_CONNECTED && probe_eligible(p)) {
		/* The peer is somewhere new: its direct endpoint is worth a try
		 * soon, whatever the earlier probes said. */
		p->probes = 0;
		p->wake_ms = now + wm_path_probe_backoff_ms(0, jitter_of(rnd));
		out->delay_ms = (uint32_t)(p->wake_ms - now);
	}
}

/* On ICE, WireGuard's endpoint for the peer left the relay (where we put it
 * and saw it) with traffic coming in: the peer's packets come from a direct
 * address, i.e. the peer returned the pair to direct. */
static bool peer_returned(struct wm_path *p, const struct wm_path_obs *obs)
{
	return obs->have_wg && obs->on_device && !obs->endpoint_relay && !obs->endpoint_p2p &&
	       p->relay_seen && p->rx_known && obs->rx_bytes > p->rx_seen;
}

static void probe_end(struct wm_path *p, int64_t now, uint64_t rnd, const char *why,
		      struct wm_path_actions *out)
{
	if (!p->session) {
		/* The session ended during the probe: a new one. */
		retry(p, now, rnd, why, out);
		return;
	}
	uint32_t delay = wm_path_probe_backoff_ms(p->probes, jitter_of(rnd));
	if (p->probes < 16)
		p->probes++;
	p->state = WM_PATH_CONNECTED;
	p->wake_ms = now + delay;
	out->flags |= WM_PATH_DO_ENDPOINT;
	out->why = why;
	out->delay_ms = delay;
}

static void tick_paths(struct wm_path *p, const struct wm_path_obs *obs, int64_t now, uint64_t rnd,
		       uint64_t rx_before, bool rx_was_known, struct wm_path_actions *out)
{
	const struct wm_path_attrs *a = &p->attrs;
	bool returned = wm_path_on_ice(p) && p->state != WM_PATH_PROBING && peer_returned(p, obs);

	if (obs->have_wg && obs->on_device) {
		if (obs->endpoint_relay)
			p->relay_seen = true;
		p->rx_seen = obs->rx_bytes;
		p->rx_known = true;
	}
	if (returned) {
		p2p_off(p, NULL, out);
		leave_ice(p, now, true, "the peer's packets come over the direct path", out);
		return;
	}
	switch (p->state) {
	case WM_PATH_TRYING: {
		int64_t waited = now - p->since_ms;

		/* Over libp2p, handshakes say nothing of the direct path:
		 * only a probe does (p2p_tick). */
		if (p->p2p)
			return;
		if (obs->have_wg && obs->on_device && obs->last_handshake_ms &&
		    obs->last_handshake_ms >= p->since_ms) {
			p->state = WM_PATH_DIRECT;
			out->why = "a handshake at the direct endpoints";
			return;
		}
		/* Back from libp2p with WireGuard's session still valid, no new
		 * handshake comes for minutes: traffic that arrives while
		 * WireGuard is at a direct endpoint proves the path as well. */
		if (a->p2p_available && obs->have_wg && obs->on_device && !obs->endpoint_p2p &&
		    !obs->endpoint_relay && rx_was_known && obs->rx_bytes > rx_before) {
			p->state = WM_PATH_DIRECT;
			out->why = "traffic at the direct endpoints";
			return;
		}
		if (obs->have_wg && obs->on_device && a->handshake_timeout_ms &&
		    waited >= (int64_t)a->handshake_timeout_ms)
			p->direct_failed = true;
		/* An idle peer is not a dead one: nothing may have been sent
		 * to it. Ask WireGuard for a handshake a second after the
		 * endpoints were set and again halfway through the timeout
		 * (the first may be lost), so that only a peer that does not
		 * answer moves to ICE. */
		if ((a->traversal || a->p2p_available) && a->handshake_timeout_ms &&
		    ((p->kicks == 0 && waited >= WM_PATH_KICK_FIRST_MS) ||
		     (p->kicks == 1 && waited >= (int64_t)a->handshake_timeout_ms / 2))) {
			p->kicks++;
			out->flags |= WM_PATH_DO_KICK;
		}
		decide(p, obs, now, rnd, out);
		return;
	}
	case WM_PATH_DIRECT:
		decide(p, obs, now, rnd, out);
		return;
	case WM_PATH_ICE_WAIT:
		if (!p->wake_ms || now < p->wake_ms)
			return;
		if (!obs->can_signal) {
			p->wake_ms = now + WM_PATH_SIGNAL_WAIT_MS;
			return;
		}
		start_offer(p, now, rnd, out);
		return;
	case WM_PATH_OFFERING:
		if (now - p->session_ms > WM_PATH_OFFER_TIMEOUT_MS)
			retry(p, now, rnd, "no answer to our offer", out);
		return;
	case WM_PATH_CHECKING:
		if (now - p->session_ms > WM_PATH_CONNECT_TIMEOUT_MS)
			retry(p, now, rnd, "no candidate pair worked in time", out);
		return;
	case WM_PATH_CONNECTED: {
		int64_t idle = obs->ice_rx_idle_ms >= 0 ? obs->ice_rx_idle_ms : now - p->session_ms;

		bool silent = p->controlling
				      ? idle > WM_PATH_SILENT_LEAD_MS ||
						obs->ice_unanswered_ms > WM_PATH_UNANSWERED_MS
				      : idle > WM_PATH_SILENT_MS;

		if (silent) {
			out->flags |= WM_PATH_DO_SEND_BYE;
			out->session = p->session;
			p->attempt = 0;
			retry(p, now, rnd, "the path went silent", out);
			return;
		}
		if (probe_due(p, now) && obs->have_wg && obs->on_device) {
			p->state = WM_PATH_PROBING;
			p->probe_ms = now;
			p->probe_rx = obs->rx_bytes;
			p->wake_ms = 0;
			out->flags |= WM_PATH_DO_ENDPOINT | WM_PATH_DO_KICK;
			out->why = "probing the direct path";
		}
		return;
	}
	case WM_PATH_PROBING:
		if (obs->have_wg && obs->on_device) {
			if (obs->endpoint_relay) {
				probe_end(p, now, rnd, "the peer's packets still come over ICE",
					  out);
				return;
			}
			if (obs->rx_bytes > p->probe_rx ||
			    (obs->last_handshake_ms && obs->last_handshake_ms >= p->probe_ms)) {
				leave_ice(p, now, true, "the direct path works again", out);
				return;
			}
		}
		if (now - p->probe_ms >= WM_PATH_PROBE_WINDOW_MS) {
			probe_end(p, now, rnd, "no answer at the direct endpoint", out);
			return;
		}
		out->flags |= WM_PATH_DO_KICK; /* something for the peer to answer */
		return;
	}
}

/* libp2p's part of a tick, after the ICE machine's (see path.h). */
static void p2p_tick(struct wm_path *p, const struct wm_path_obs *obs, int64_t now, uint64_t rnd,
		     uint64_t rx_before, bool rx_was_known, struct wm_path_actions *out)
{
	bool seen = obs->have_wg && obs->on_device;

	if (!p->p2p) {
		if (p2p_wanted(p, now))
			p2p_on(p, now, rnd, out);
		return;
	}
	if (!p2p_wanted(p, now)) {
		p2p_off(p, "libp2p is no longer needed", out);
		/* Handshakes so far came over libp2p: the direct path's
		 * timeout starts now. */
		if (p->state == WM_PATH_TRYING)
			to_trying(p, now);
		return;
	}
	if (seen && obs->endpoint_p2p)
		p->p2p_seen = true;
	if (p->p2p_probing) {
		if (seen && obs->endpoint_p2p) {
			p->p2p_probing = false; /* the peer's packets still come over libp2p */
		} else if (seen && (obs->rx_bytes > p->p2p_probe_rx ||
				    (obs->last_handshake_ms &&
				     obs->last_handshake_ms >= p->p2p_probe_ms))) {
			goto direct;
		} else if (now - p->p2p_probe_ms >= WM_PATH_PROBE_WINDOW_MS) {
			p->p2p_probing = false;
		} else {
			out->flags |= WM_PATH_DO_KICK; /* something for the peer to answer */
			return;
		}
		uint32_t delay = wm_path_p2p_probe_backoff_ms(p->p2p_probes, (uint16_t)(rnd >> 48));
		if (p->p2p_probes < 16)
			p->p2p_probes++;
		p->p2p_wake_ms = now + delay;
		out->flags |= WM_PATH_DO_ENDPOINT;
		out->why = "the direct path still does not work";
		out->delay_ms = delay;
		return;
	}
	/* The peer's probe worked: its packets come from a direct address and
	 * our WireGuard roamed there, away from the libp2p relay. */
	if (seen && p->p2p_seen && !obs->endpoint_p2p && !obs->endpoint_relay && rx_was_known &&
	    obs->rx_bytes > rx_before)
		goto direct;
	if (seen && p->p2p_wake_ms && now >= p->p2p_wake_ms && p2p_probe_eligible(p)) {
		p->p2p_probing = true;
		p->p2p_probe_ms = now;
		p->p2p_probe_rx = obs->rx_bytes;
		p->p2p_wake_ms = 0;
		out->flags |= WM_PATH_DO_ENDPOINT | WM_PATH_DO_KICK;
		out->why = "probing the direct path from libp2p";
	}
	return;
direct:
	p2p_off(p, NULL, out);
	p->p2p_direct_ms = now;
	if (wm_path_on_ice(p)) {
		leave_ice(p, now, true, "the direct path works again", out);
	} else {
		p->state = WM_PATH_DIRECT;
		p->returned = true;
		p->direct_failed = false;
		out->why = "the direct path works again";
	}
}

static void on_tick(struct wm_path *p, const struct wm_path_obs *obs, int64_t now, uint64_t rnd,
		    struct wm_path_actions *out)
{
	uint64_t rx_before = p->rx_seen;
	bool rx_was_known = p->rx_known;
	int was = p->state;

	tick_paths(p, obs, now, rnd, rx_before, rx_was_known, out);
	/* A tick that just moved the pair is left to settle first. */
	if (p->state == was || p->p2p)
		p2p_tick(p, obs, now, rnd, rx_before, rx_was_known, out);
}

void wm_path_step(struct wm_path *p, const struct wm_path_event *ev, int64_t now, uint64_t rnd,
		  struct wm_path_actions *out)
{
	bool ours = ev->session && ev->session == p->session;

	memset(out, 0, sizeof(*out));
	switch (ev->type) {
	case WM_PATH_EV_ATTRS:
		if (ev->attrs)
			on_attrs(p, ev->attrs, now, rnd, out);
		return;
	case WM_PATH_EV_TICK:
		if (ev->obs)
			on_tick(p, ev->obs, now, rnd, out);
		return;
	case WM_PATH_EV_OFFER:
		on_offer(p, ev->session, now, out);
		return;
	case WM_PATH_EV_ANSWER:
		if (ours && p->state == WM_PATH_OFFERING) {
			p->state = WM_PATH_CHECKING;
			out->flags |= WM_PATH_DO_SET_REMOTE;
			out->session = p->session;
		}
		return;
	case WM_PATH_EV_LOCAL_PARAMS:
		if (!ours)
			return;
		if (p->state == WM_PATH_OFFERING)
			out->flags |= WM_PATH_DO_SEND_OFFER;
		else if (p->state == WM_PATH_CHECKING && !p->sess_controlling)
			out->flags |= WM_PATH_DO_SEND_ANSWER;
		out->session = p->session;
		return;
	case WM_PATH_EV_CONNECTED:
		if (!ours || (p->state != WM_PATH_OFFERING && p->state != WM_PATH_CHECKING))
			return;
		p->state = WM_PATH_CONNECTED;
		p->attempt = 0;
		p->probes = 0;
		p->session_ms = now;
		p->wake_ms =
			probe_eligible(p) ? now + wm_path_probe_backoff_ms(0, jitter_of(rnd)) : 0;
		out->why = "connected";
		out->delay_ms = p->wake_ms ? (uint32_t)(p->wake_ms - now) : 0;
		/* One side only: crossing initiations cancel each other. */
		if (p->controlling)
			out->flags |= WM_PATH_DO_KICK;
		p->p2p_peer = false;
		if (!p2p_wanted(p, now))
			p2p_off(p, NULL, out); /* ICE carries the pair now */
		return;
	case WM_PATH_EV_FAILED:
	case WM_PATH_EV_BYE:
		if (!ours)
			return;
		if (p->state == WM_PATH_PROBING) {
			/* The probe decides: if the direct path works the
			 * session is not needed, else a new one follows. */
			out->flags |= WM_PATH_DO_STOP_ICE;
			p->session = 0;
			return;
		}
		if (p->state >= WM_PATH_OFFERING)
			retry(p, now, rnd,
			      ev->type == WM_PATH_EV_BYE ? "the peer ended the session"
							 : "the session failed",
			      out);
		return;
	case WM_PATH_EV_P2P_PEER:
		/* Only where both sides speak libp2p; on ICE that works, the
		 * peer will follow ICE back. */
		if (p->p2p || !p->attrs.p2p_available || now < p->p2p_blocked_ms ||
		    p->state == WM_PATH_CONNECTED || p->state == WM_PATH_PROBING ||
		    (p->state == WM_PATH_DIRECT && p->p2p_direct_ms &&
		     now - p->p2p_direct_ms < WM_PATH_P2P_FOLLOW_HOLD_MS))
			return;
		p->p2p_peer = true;
		p2p_on(p, now, rnd, out);
		return;
	case WM_PATH_EV_P2P_FAILED:
		if (!p->p2p)
			return;
		p2p_off(p, "libp2p could not be opened", out);
		p->p2p_blocked_ms = now + WM_PATH_P2P_RETRY_MS;
		if (p->state == WM_PATH_TRYING)
			p->since_ms = now; /* earlier handshakes may be libp2p's */
		out->delay_ms = WM_PATH_P2P_RETRY_MS;
		return;
	case WM_PATH_EV_RELAY_FAILED:
		if (!wm_path_on_ice(p))
			return;
		/* Without a relay there is no ICE: the pair stays direct and
		 * the decision is taken again at the next tick. */
		if (wm_path_uses_relay(p))
			out->flags |= WM_PATH_DO_ENDPOINT;
		p->state = WM_PATH_TRYING;
		p->session = 0;
		p->wake_ms = 0;
		p->reason = WM_ICE_NOT_NEEDED;
		return;
	}
}
