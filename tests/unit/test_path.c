/* The per-peer path state machine (src/core/path.c): every state against
 * every event, the timeouts, the backoff of retries and probes with their
 * jitter, the return to direct and the absence of flapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/path.h"

#define T0 1000000
#define TIMEOUT 10000
#define JMAX 0xffffull << 48 /* rnd whose jitter is the largest */

static struct wm_path_attrs attrs(void)
{
	struct wm_path_attrs a = {
		.peer_public = true,
		.ice_available = true,
		.traversal = true,
		.handshake_timeout_ms = TIMEOUT,
		.endpoints_hash = 1,
	};
	return a;
}

/* An observation where nothing happens: the device has the peer where we
 * put it, nothing received, the ICE path alive, a server to signal through. */
static struct wm_path_obs quiet(const struct wm_path *p, uint64_t rx)
{
	struct wm_path_obs o = {
		.have_wg = true,
		.on_device = true,
		.rx_bytes = rx,
		.endpoint_relay = wm_path_uses_relay(p),
		.ice_rx_idle_ms = 0,
		.ice_unanswered_ms = -1,
		.can_signal = true,
	};
	return o;
}

static struct wm_path_actions ev(struct wm_path *p, int type, uint64_t session, int64_t now,
				 uint64_t rnd, const struct wm_path_obs *obs,
				 const struct wm_path_attrs *a)
{
	struct wm_path_event e = {.type = type, .session = session, .obs = obs, .attrs = a};
	struct wm_path_actions out;

	wm_path_step(p, &e, now, rnd, &out);
	return out;
}

static struct wm_path_actions tick(struct wm_path *p, int64_t now, const struct wm_path_obs *o)
{
	return ev(p, WM_PATH_EV_TICK, 0, now, 7, o, NULL);
}

/* Puts p in state s by real transitions, at time *now (advanced). The pair
 * moves to ICE on the timeout, so it may probe (the peer is public). */
static void put(struct wm_path *p, int s, bool controlling, int64_t *now)
{
	struct wm_path_attrs a = attrs();
	struct wm_path_obs o;

	*now = T0;
	wm_path_init(p, controlling, &a, *now);
	if (s == WM_PATH_TRYING)
		return;
	o = quiet(p, 0);
	if (s == WM_PATH_DIRECT) {
		o.last_handshake_ms = *now + 500;
		*now += 1000;
		tick(p, *now, &o);
		assert_int_equal(p->state, WM_PATH_DIRECT);
		return;
	}
	o.can_signal = false;
	*now += TIMEOUT;
	tick(p, *now, &o);
	assert_int_equal(p->state, WM_PATH_ICE_WAIT);
	if (s == WM_PATH_ICE_WAIT)
		return;
	o = quiet(p, 0);
	tick(p, *now, &o);
	assert_int_equal(p->state, WM_PATH_OFFERING);
	if (s == WM_PATH_OFFERING)
		return;
	ev(p, WM_PATH_EV_ANSWER, p->session, *now, 1, NULL, NULL);
	assert_int_equal(p->state, WM_PATH_CHECKING);
	if (s == WM_PATH_CHECKING)
		return;
	ev(p, WM_PATH_EV_CONNECTED, p->session, *now, 0, NULL, NULL);
	assert_int_equal(p->state, WM_PATH_CONNECTED);
	o = quiet(p, 100);
	tick(p, *now, &o); /* WireGuard seen at the relay */
	if (s == WM_PATH_CONNECTED)
		return;
	*now = p->wake_ms;
	o = quiet(p, 100);
	tick(p, *now, &o);
	assert_int_equal(p->state, WM_PATH_PROBING);
}

enum {
	E_ATTRS_SAME,
	E_ATTRS_MOVED,
	E_ATTRS_EDGE,
	E_TICK,
	E_OFFER,
	E_ANSWER,
	E_BYE,
	E_LOCAL,
	E_CONNECTED,
	E_FAILED,
	E_RELAY_FAILED,
	E_STALE, /* session events of another session */
	N_EVENTS,
};

/* The state after each event, the pair controlled (not controlling). */
static const int after[WM_PATH_N_STATES][N_EVENTS] = {
#define T WM_PATH_TRYING
#define D WM_PATH_DIRECT
#define W WM_PATH_ICE_WAIT
#define O WM_PATH_OFFERING
#define C WM_PATH_CHECKING
#define K WM_PATH_CONNECTED
#define P WM_PATH_PROBING
	/*             same moved edge tick offer answer bye local conn fail relayf stale */
	[T] = {T, T, W, T, C, T, T, T, T, T, T, T}, [D] = {D, T, W, D, C, D, D, D, D, D, D, D},
	[W] = {W, W, W, O, C, W, W, W, W, W, T, W}, [O] = {O, O, O, O, C, C, W, O, K, W, T, O},
	[C] = {C, C, C, C, C, C, W, C, K, W, T, C}, [K] = {K, K, K, K, C, K, W, K, K, W, T, K},
	[P] = {P, P, P, P, C, P, P, P, P, P, T, P},
#undef T
#undef D
#undef W
#undef O
#undef C
#undef K
#undef P
};

static struct wm_path_actions fire(struct wm_path *p, int e, int64_t now)
{
	struct wm_path_attrs a = p->attrs;
	struct wm_path_obs o = quiet(p, p->rx_seen);
	uint64_t s = p->session;

	switch (e) {
	case E_ATTRS_SAME:
		return ev(p, WM_PATH_EV_ATTRS, 0, now, 3, NULL, &a);
	case E_ATTRS_MOVED:
		a.endpoints_hash++;
		return ev(p, WM_PATH_EV_ATTRS, 0, now, 3, NULL, &a);
	case E_ATTRS_EDGE:
		a.ice_edge = true;
		return ev(p, WM_PATH_EV_ATTRS, 0, now, 3, NULL, &a);
	case E_TICK:
		return tick(p, now, &o);
	case E_OFFER:
		return ev(p, WM_PATH_EV_OFFER, 0xabcdef, now, 3, NULL, NULL);
	case E_ANSWER:
		return ev(p, WM_PATH_EV_ANSWER, s, now, 3, NULL, NULL);
	case E_BYE:
		return ev(p, WM_PATH_EV_BYE, s, now, 3, NULL, NULL);
	case E_LOCAL:
		return ev(p, WM_PATH_EV_LOCAL_PARAMS, s, now, 3, NULL, NULL);
	case E_CONNECTED:
		return ev(p, WM_PATH_EV_CONNECTED, s, now, 3, NULL, NULL);
	case E_FAILED:
		return ev(p, WM_PATH_EV_FAILED, s, now, 3, NULL, NULL);
	case E_RELAY_FAILED:
		return ev(p, WM_PATH_EV_RELAY_FAILED, 0, now, 3, NULL, NULL);
	}
	/* E_STALE: every session event, for a session that is not the one */
	struct wm_path_actions out = {0};
	int types[] = {WM_PATH_EV_ANSWER, WM_PATH_EV_BYE, WM_PATH_EV_LOCAL_PARAMS,
		       WM_PATH_EV_CONNECTED, WM_PATH_EV_FAILED};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		out = ev(p, types[i], s + 1, now, 3, NULL, NULL);
		assert_int_equal(out.flags, 0);
		out = ev(p, types[i], 0, now, 3, NULL, NULL);
		assert_int_equal(out.flags, 0);
	}
	return out;
}

static void test_every_state_every_event(void **state)
{
	(void)state;
	for (int s = 0; s < WM_PATH_N_STATES; s++) {
		for (int e = 0; e < N_EVENTS; e++) {
			struct wm_path p;
			int64_t now;
			struct wm_path_actions a;

			put(&p, s, false, &now);
			int64_t t = s == WM_PATH_PROBING ? now + 1 : now;
			a = fire(&p, e, t);
			if (p.state != after[s][e])
				fail_msg("%s + event %d: %s, not %s", wm_path_state_name(s), e,
					 wm_path_state_name(p.state),
					 wm_path_state_name(after[s][e]));
			/* The relay is open in exactly the ICE states. */
			if (a.flags & WM_PATH_DO_OPEN_RELAY)
				assert_false(s >= WM_PATH_ICE_WAIT);
			if (a.flags & WM_PATH_DO_CLOSE_RELAY)
				assert_true(s >= WM_PATH_ICE_WAIT);
			/* Where WireGuard sends changes exactly when the
			 * relay-or-not answer changes. */
			bool was_relay = s >= WM_PATH_ICE_WAIT && s != WM_PATH_PROBING;
			assert_int_equal((a.flags & WM_PATH_DO_ENDPOINT) != 0,
					 was_relay != wm_path_uses_relay(&p));
			/* A session starts only with an ID and in a session state */
			if (a.flags & WM_PATH_DO_START_ICE) {
				assert_int_not_equal(a.session, 0);
				assert_int_equal(a.session, p.session);
			}
			if (p.state >= WM_PATH_OFFERING && p.state != WM_PATH_PROBING)
				assert_int_not_equal(p.session, 0);
			if (p.state <= WM_PATH_ICE_WAIT)
				assert_int_equal(p.session, 0);
		}
	}
}

static void test_specific_actions(void **state)
{
	(void)state;
	struct wm_path p;
	int64_t now;
	struct wm_path_actions a;

	/* an offer to a direct pair: open the relay, answer as controlled */
	put(&p, WM_PATH_DIRECT, false, &now);
	a = fire(&p, E_OFFER, now);
	assert_int_equal(a.flags,
			 WM_PATH_DO_OPEN_RELAY | WM_PATH_DO_ENDPOINT | WM_PATH_DO_START_ICE);
	assert_int_equal(a.session, 0xabcdef);
	assert_false(a.controlling);
	assert_int_equal(p.reason, WM_ICE_PEER_STARTED);
	/* the same offer again is a duplicate */
	a = fire(&p, E_OFFER, now);
	assert_int_equal(a.flags, 0);
	/* our candidates: the controlled side answers */
	a = fire(&p, E_LOCAL, now);
	assert_int_equal(a.flags, WM_PATH_DO_SEND_ANSWER);

	/* the offerer sends its offer, takes the answer */
	put(&p, WM_PATH_OFFERING, false, &now);
	a = fire(&p, E_LOCAL, now);
	assert_int_equal(a.flags, WM_PATH_DO_SEND_OFFER);
	assert_int_equal(a.session, p.session);
	a = fire(&p, E_ANSWER, now);
	assert_int_equal(a.flags, WM_PATH_DO_SET_REMOTE);
	/* after the answer, the controlling side sends nothing more */
	a = fire(&p, E_LOCAL, now);
	assert_int_equal(a.flags, 0);
	/* connected: only the controlling side kicks */
	a = fire(&p, E_CONNECTED, now);
	assert_int_equal(a.flags, 0);
	put(&p, WM_PATH_CHECKING, true, &now);
	a = fire(&p, E_CONNECTED, now);
	assert_int_equal(a.flags, WM_PATH_DO_KICK);
	/* a second CONNECTED changes nothing */
	a = fire(&p, E_CONNECTED, now);
	assert_int_equal(a.flags, 0);

	/* crossed offers: the controlling side keeps its own */
	put(&p, WM_PATH_OFFERING, true, &now);
	uint64_t mine = p.session;
	a = fire(&p, E_OFFER, now);
	assert_int_equal(a.flags, 0);
	assert_int_equal(p.state, WM_PATH_OFFERING);
	assert_int_equal(p.session, mine);

	/* a failure stops the session and waits */
	put(&p, WM_PATH_CONNECTED, false, &now);
	a = fire(&p, E_FAILED, now);
	assert_int_equal(a.flags, WM_PATH_DO_STOP_ICE);
	assert_int_equal(p.wake_ms, now + a.delay_ms);

	/* the relay cannot open: back to direct, decided again next tick */
	put(&p, WM_PATH_ICE_WAIT, false, &now);
	a = fire(&p, E_RELAY_FAILED, now);
	assert_int_equal(p.state, WM_PATH_TRYING);
	assert_int_equal(p.reason, WM_ICE_NOT_NEEDED);
}

static void test_trying(void **state)
{
	(void)state;
	struct wm_path p;
	struct wm_path_attrs a = attrs();
	struct wm_path_obs o;
	struct wm_path_actions r;
	unsigned kicks = 0;

	/* kicks at 1 s and at half the timeout, no more; then ICE (timeout) */
	wm_path_init(&p, false, &a, T0);
	o = quiet(&p, 0);
	for (int64_t t = T0; t < T0 + TIMEOUT; t += 250) {
		r = tick(&p, t, &o);
		assert_int_equal(p.state, WM_PATH_TRYING);
		if (r.flags & WM_PATH_DO_KICK) {
			kicks++;
			assert_true(t == T0 + 1000 || t == T0 + TIMEOUT / 2);
		}
	}
	assert_int_equal(kicks, 2);
	assert_true(wm_path_wants_wg(&p, T0 + TIMEOUT));
	assert_false(wm_path_wants_wg(&p, T0 + TIMEOUT - 1));
	r = tick(&p, T0 + TIMEOUT, &o);
	assert_int_equal(p.state, WM_PATH_OFFERING);
	assert_int_equal(p.reason, WM_ICE_TIMEOUT);
	assert_true(r.flags & WM_PATH_DO_OPEN_RELAY);
	assert_true(r.flags & WM_PATH_DO_START_ICE);
	assert_true(r.controlling);

	/* a handshake since the endpoints were set: direct for good */
	wm_path_init(&p, false, &a, T0);
	o = quiet(&p, 0);
	o.last_handshake_ms = T0 + 3000;
	tick(&p, T0 + 4000, &o);
	assert_int_equal(p.state, WM_PATH_DIRECT);
	o.last_handshake_ms = 0;
	for (int64_t t = T0; t < T0 + 100 * TIMEOUT; t += 5000)
		tick(&p, t, &o);
	assert_int_equal(p.state, WM_PATH_DIRECT);
	assert_int_equal(wm_path_next_ms(&p, T0), 0);
	/* one older than the endpoints says nothing about them */
	wm_path_init(&p, false, &a, T0);
	o = quiet(&p, 0);
	o.last_handshake_ms = T0 - 1;
	tick(&p, T0 + TIMEOUT, &o);
	assert_int_equal(p.state, WM_PATH_OFFERING);

	/* not on the device yet: no timeout */
	wm_path_init(&p, false, &a, T0);
	o = quiet(&p, 0);
	o.on_device = false;
	tick(&p, T0 + 5 * TIMEOUT, &o);
	assert_int_equal(p.state, WM_PATH_TRYING);
	/* the device not read: no timeout either */
	o = quiet(&p, 0);
	o.have_wg = false;
	tick(&p, T0 + 5 * TIMEOUT, &o);
	assert_int_equal(p.state, WM_PATH_TRYING);

	/* neither side public: ICE as "no public endpoint" */
	a = attrs();
	a.peer_public = false;
	wm_path_init(&p, false, &a, T0);
	o = quiet(&p, 0);
	tick(&p, T0 + TIMEOUT, &o);
	assert_int_equal(p.reason, WM_ICE_NO_PUBLIC);
	/* we are public, the peer is not: it is expected to reach us */
	a.self_public = true;
	wm_path_init(&p, false, &a, T0);
	assert_false(wm_path_wants_wg(&p, T0 + TIMEOUT));
	tick(&p, T0 + TIMEOUT, &o);
	assert_int_equal(p.state, WM_PATH_TRYING);
	/* no STUN or TURN: never on a timeout, and no kicks */
	a = attrs();
	a.traversal = false;
	wm_path_init(&p, false, &a, T0);
	assert_false(wm_path_wants_wg(&p, T0 + TIMEOUT));
	for (int64_t t = T0; t <= T0 + 3 * TIMEOUT; t += 500) {
		r = tick(&p, t, &o);
		assert_int_equal(r.flags, 0);
	}
	assert_int_equal(p.state, WM_PATH_TRYING);
	/* ICE not available: direct, even on an ice edge or an offer */
	a = attrs();
	a.ice_available = false;
	a.ice_edge = true;
	wm_path_init(&p, false, &a, T0);
	tick(&p, T0 + TIMEOUT, &o);
	r = ev(&p, WM_PATH_EV_OFFER, 5, T0 + TIMEOUT, 1, NULL, NULL);
	assert_int_equal(r.flags, 0);
	assert_int_equal(p.state, WM_PATH_TRYING);

	/* new endpoints restart the timeout */
	a = attrs();
	wm_path_init(&p, false, &a, T0);
	o = quiet(&p, 0);
	a.endpoints_hash = 2;
	ev(&p, WM_PATH_EV_ATTRS, 0, T0 + TIMEOUT - 1, 1, NULL, &a);
	tick(&p, T0 + TIMEOUT, &o);
	assert_int_equal(p.state, WM_PATH_TRYING);
	tick(&p, T0 + 2 * TIMEOUT - 1, &o);
	assert_int_equal(p.state, WM_PATH_OFFERING);
}

/* A connected pair observed with (rx idle, unanswered) keeps its session,
 * and ends it with a bye once observed with the second pair. */
static void silent_past(bool controlling, int64_t idle, int64_t unanswered, int64_t idle_past,
			int64_t unanswered_past)
{
	struct wm_path p;
	struct wm_path_obs o;
	struct wm_path_actions r;
	int64_t now;

	put(&p, WM_PATH_CONNECTED, controlling, &now);
	p.wake_ms = 0; /* no probe due meanwhile */
	o = quiet(&p, 100);
	o.ice_rx_idle_ms = idle;
	o.ice_unanswered_ms = unanswered;
	tick(&p, now, &o);
	assert_int_equal(p.state, WM_PATH_CONNECTED);
	o.ice_rx_idle_ms = idle_past;
	o.ice_unanswered_ms = unanswered_past;
	r = tick(&p, now, &o);
	assert_int_equal(p.state, WM_PATH_ICE_WAIT);
	assert_int_equal(r.flags, WM_PATH_DO_SEND_BYE | WM_PATH_DO_STOP_ICE);
	assert_string_equal(r.why, "the path went silent");
}

static void test_ice_wait_and_timeouts(void **state)
{
	(void)state;
	struct wm_path p;
	struct wm_path_obs o;
	struct wm_path_actions r;
	int64_t now;

	/* no server to signal through: wait, one second at a time */
	put(&p, WM_PATH_ICE_WAIT, false, &now);
	o = quiet(&p, 0);
	o.can_signal = false;
	tick(&p, now, &o);
	assert_int_equal(p.state, WM_PATH_ICE_WAIT);
	assert_int_equal(p.wake_ms, now + WM_PATH_SIGNAL_WAIT_MS);
	o.can_signal = true;
	tick(&p, now + WM_PATH_SIGNAL_WAIT_MS - 1, &o);
	assert_int_equal(p.state, WM_PATH_ICE_WAIT);
	tick(&p, now + WM_PATH_SIGNAL_WAIT_MS, &o);
	assert_int_equal(p.state, WM_PATH_OFFERING);
	assert_int_equal(wm_path_next_ms(&p, now), now + WM_PATH_POLL_MS);

	/* an offer without an answer */
	put(&p, WM_PATH_OFFERING, false, &now);
	o = quiet(&p, 0);
	tick(&p, now + WM_PATH_OFFER_TIMEOUT_MS, &o);
	assert_int_equal(p.state, WM_PATH_OFFERING);
	r = tick(&p, now + WM_PATH_OFFER_TIMEOUT_MS + 1, &o);
	assert_int_equal(p.state, WM_PATH_ICE_WAIT);
	assert_int_equal(r.flags, WM_PATH_DO_STOP_ICE);
	assert_string_equal(r.why, "no answer to our offer");
	/* checks that never find a pair */
	put(&p, WM_PATH_CHECKING, false, &now);
	o = quiet(&p, 0);
	tick(&p, now + WM_PATH_CONNECT_TIMEOUT_MS, &o);
	assert_int_equal(p.state, WM_PATH_CHECKING);
	tick(&p, now + WM_PATH_CONNECT_TIMEOUT_MS + 1, &o);
	assert_int_equal(p.state, WM_PATH_ICE_WAIT);
	/* connected but silent: bye, and the retries start over */
	put(&p, WM_PATH_CONNECTED, false, &now);
	p.attempt = 5;
	o = quiet(&p, 100);
	o.ice_rx_idle_ms = WM_PATH_SILENT_MS;
	tick(&p, now, &o);
	assert_int_equal(p.state, WM_PATH_CONNECTED);
	o.ice_rx_idle_ms = WM_PATH_SILENT_MS + 1;
	r = tick(&p, now, &o);
	assert_int_equal(p.state, WM_PATH_ICE_WAIT);
	assert_int_equal(r.flags, WM_PATH_DO_SEND_BYE | WM_PATH_DO_STOP_ICE);
	assert_int_not_equal(r.session, 0);
	assert_true(r.delay_ms >= 1000 && r.delay_ms <= 1250);
	/* never a packet over the path: counted from the connection */
	put(&p, WM_PATH_CONNECTED, false, &now);
	o = quiet(&p, 100);
	o.ice_rx_idle_ms = -1;
	p.wake_ms = 0; /* no probe due meanwhile */
	tick(&p, now + WM_PATH_SILENT_MS, &o);
	assert_int_equal(p.state, WM_PATH_CONNECTED);
	tick(&p, now + WM_PATH_SILENT_MS + 1, &o);
	assert_int_equal(p.state, WM_PATH_ICE_WAIT);
	/* The controlling side's keepalives keep an idle peer's from firing:
	 * hearing nothing for WM_PATH_SILENT_MS is no sign of a dead path
	 * there, only hearing no handshake either is... */
	put(&p, WM_PATH_CONNECTED, true, &now);
	assert_int_equal(wm_path_keepalive_s(&p), WM_PATH_KEEPALIVE_LEAD_S);
	silent_past(true, WM_PATH_SILENT_LEAD_MS, -1, WM_PATH_SILENT_LEAD_MS + 1, -1);
	/* ... but what it sends that asks for an answer (data, a handshake)
	 * must be answered, there too. */
	silent_past(true, WM_PATH_UNANSWERED_MS + 1, WM_PATH_UNANSWERED_MS,
		    WM_PATH_UNANSWERED_MS + 1, WM_PATH_UNANSWERED_MS + 1);
	/* and the keepalive that keeps the controlled side's quiet is the
	 * shorter one */
	put(&p, WM_PATH_CONNECTED, false, &now);
	assert_int_equal(wm_path_keepalive_s(&p), WM_PATH_KEEPALIVE_OTHER_S);
	assert_true(WM_PATH_KEEPALIVE_LEAD_S < WM_PATH_KEEPALIVE_OTHER_S);
}

static void test_retry_backoff_and_jitter(void **state)
{
	(void)state;
	struct wm_path p;
	int64_t now;
	uint32_t expect = 1000;

	put(&p, WM_PATH_OFFERING, false, &now);
	for (unsigned i = 0; i < 40; i++) {
		uint16_t j = (uint16_t)(i * 7919);
		struct wm_path_actions r =
			ev(&p, WM_PATH_EV_FAILED, p.session, now, (uint64_t)j << 48, NULL, NULL);

		assert_int_equal(p.state, WM_PATH_ICE_WAIT);
		/* 1 s doubling to 30 s, plus a quarter times the jitter */
		assert_int_equal(r.delay_ms,
				 expect + (uint32_t)((uint64_t)(expect / 4) * j / 65535));
		assert_true(r.delay_ms >= expect && r.delay_ms <= expect + expect / 4);
		assert_int_equal(p.wake_ms, now + r.delay_ms);
		/* nothing happens before the timer */
		struct wm_path_obs o = quiet(&p, 0);
		tick(&p, p.wake_ms - 1, &o);
		assert_int_equal(p.state, WM_PATH_ICE_WAIT);
		now = p.wake_ms;
		tick(&p, now, &o);
		assert_int_equal(p.state, WM_PATH_OFFERING);
		expect = expect * 2 > 30000 ? 30000 : expect * 2;
	}
	/* the largest jitter */
	struct wm_path_actions r = ev(&p, WM_PATH_EV_FAILED, p.session, now, JMAX, NULL, NULL);
	assert_int_equal(r.delay_ms, 30000 + 7500);
	/* success resets the backoff */
	now = p.wake_ms;
	struct wm_path_obs o = quiet(&p, 0);
	tick(&p, now, &o);
	ev(&p, WM_PATH_EV_ANSWER, p.session, now, 0, NULL, NULL);
	ev(&p, WM_PATH_EV_CONNECTED, p.session, now, 0, NULL, NULL);
	r = ev(&p, WM_PATH_EV_FAILED, p.session, now, 0, NULL, NULL);
	assert_int_equal(r.delay_ms, 1000);
}

static void test_probe_backoff_bounds(void **state)
{
	(void)state;
	uint32_t base = WM_PATH_PROBE_FIRST_MS;

	for (unsigned n = 0; n < 64; n++) {
		uint16_t js[] = {0, 1, 12345, 32768, 65534, 65535};

		for (size_t k = 0; k < sizeof(js) / sizeof(js[0]); k++) {
			uint32_t d = wm_path_probe_backoff_ms(n, js[k]);

			assert_true(d >= base && d <= base + base / 4);
			if (js[k] == 0)
				assert_int_equal(d, base);
			if (js[k] == 65535)
				assert_int_equal(d, base + base / 4);
		}
		base = base * 2 > WM_PATH_PROBE_MAX_MS ? WM_PATH_PROBE_MAX_MS : base * 2;
	}
	assert_int_equal(wm_path_probe_backoff_ms(5, 0), WM_PATH_PROBE_MAX_MS);
	assert_int_equal(wm_path_probe_backoff_ms(4, 0), 240000);
}

static void test_probe_returns_to_direct(void **state)
{
	(void)state;
	struct wm_path p;
	struct wm_path_obs o;
	struct wm_path_actions r;
	int64_t now;

	put(&p, WM_PATH_CONNECTED, false, &now);
	/* the first probe comes WM_PATH_PROBE_FIRST_MS (+ jitter) after connecting */
	assert_true(p.wake_ms >= now);
	int64_t due = p.wake_ms;
	o = quiet(&p, 100);
	r = tick(&p, due - 1, &o);
	assert_int_equal(p.state, WM_PATH_CONNECTED);
	assert_int_equal(r.flags, 0);
	assert_true(wm_path_wants_wg(&p, due));
	r = tick(&p, due, &o);
	assert_int_equal(p.state, WM_PATH_PROBING);
	assert_int_equal(r.flags, WM_PATH_DO_ENDPOINT | WM_PATH_DO_KICK);
	assert_true(wm_path_on_ice(&p));
	assert_false(wm_path_uses_relay(&p));
	/* a second later: WireGuard still at the direct endpoint, bytes came */
	o = quiet(&p, 200);
	r = tick(&p, due + 1000, &o);
	assert_int_equal(p.state, WM_PATH_DIRECT);
	assert_true(p.returned);
	assert_int_equal(r.flags, WM_PATH_DO_SEND_BYE | WM_PATH_DO_STOP_ICE |
					  WM_PATH_DO_CLOSE_RELAY | WM_PATH_DO_ENDPOINT);
	assert_int_not_equal(r.session, 0);
	assert_int_equal(p.session, 0);
	/* and it stays there: no handshake for ages, nothing received */
	for (int64_t t = due; t < due + 3600000; t += 1000) {
		o = quiet(&p, 200);
		r = tick(&p, t, &o);
		assert_int_equal(r.flags, 0);
	}
	assert_int_equal(p.state, WM_PATH_DIRECT);

	/* a handshake at the direct endpoint is proof too */
	put(&p, WM_PATH_PROBING, false, &now);
	o = quiet(&p, p.probe_rx);
	o.last_handshake_ms = now + 10;
	tick(&p, now + 500, &o);
	assert_int_equal(p.state, WM_PATH_DIRECT);
}

static void test_probe_failures_back_off(void **state)
{
	(void)state;
	struct wm_path p;
	struct wm_path_obs o;
	struct wm_path_actions r;
	int64_t now;
	unsigned probes = 0, switches = 0;

	put(&p, WM_PATH_PROBING, false, &now);
	/* WireGuard roamed back to the relay: the peer's packets come over ICE */
	o = quiet(&p, p.rx_seen + 50);
	o.endpoint_relay = true;
	r = tick(&p, now + 1000, &o);
	assert_int_equal(p.state, WM_PATH_CONNECTED);
	assert_int_equal(r.flags, WM_PATH_DO_ENDPOINT);
	assert_int_equal(p.wake_ms, now + 1000 + wm_path_probe_backoff_ms(0, 0));

	/* nothing at all comes back: the window ends it; each failure waits
	 * twice as long, up to the maximum, and never flaps in between */
	now += 1000;
	int64_t end = now + 6 * 3600000ll;
	uint32_t want = wm_path_probe_backoff_ms(1, 0);
	while (now < end) {
		o = quiet(&p, 500);
		r = tick(&p, now, &o);
		if (r.flags & WM_PATH_DO_ENDPOINT)
			switches++;
		if (p.state == WM_PATH_PROBING && (r.flags & WM_PATH_DO_ENDPOINT)) {
			probes++;
			int64_t started = now;
			/* the window: kicks, no decision before it ends */
			for (now += 1000; now < started + WM_PATH_PROBE_WINDOW_MS; now += 1000) {
				o = quiet(&p, 500);
				r = tick(&p, now, &o);
				assert_int_equal(p.state, WM_PATH_PROBING);
				assert_int_equal(r.flags, WM_PATH_DO_KICK);
			}
			o = quiet(&p, 500);
			r = tick(&p, now, &o);
			assert_int_equal(p.state, WM_PATH_CONNECTED);
			assert_string_equal(r.why, "no answer at the direct endpoint");
			switches++;
			assert_int_equal(p.wake_ms - now, want);
			want = want * 2 > WM_PATH_PROBE_MAX_MS ? WM_PATH_PROBE_MAX_MS : want * 2;
		}
		now += 1000;
	}
	/* 30 s, 60 s, ... 480 s: about 47 probes in six hours, not thousands */
	assert_true(probes >= 40 && probes <= 52);
	assert_int_equal(switches, 2 * probes);
}

static void test_probe_eligibility(void **state)
{
	(void)state;
	struct wm_path p;
	struct wm_path_attrs a;
	struct wm_path_obs o;
	int64_t now;

	struct {
		bool edge, self_public, peer_public, controlling, probes;
	} cases[] = {
		{false, false, true, false, true},   /* we are behind NAT, the peer public */
		{false, true, true, true, true},     /* both public: the controlling side */
		{false, true, true, false, false},   /* ... and only it */
		{false, false, false, false, false}, /* nothing public to probe */
		{false, true, false, true, false},
		{true, false, true, false, false}, /* an ice edge: never */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		put(&p, WM_PATH_CONNECTED, cases[i].controlling, &now);
		a = p.attrs;
		a.ice_edge = cases[i].edge;
		a.self_public = cases[i].self_public;
		a.peer_public = cases[i].peer_public;
		ev(&p, WM_PATH_EV_ATTRS, 0, now, 0, NULL, &a);
		assert_int_equal(p.state, WM_PATH_CONNECTED);
		bool probed = false;
		for (int64_t t = now; t < now + 3600000; t += 1000) {
			o = quiet(&p, 100);
			tick(&p, t, &o);
			probed |= p.state == WM_PATH_PROBING;
			if (p.state == WM_PATH_PROBING)
				break;
		}
		assert_int_equal(probed, cases[i].probes);
	}
}

static void test_peer_returns_us(void **state)
{
	(void)state;
	struct wm_path p;
	struct wm_path_obs o;
	struct wm_path_actions r;
	int64_t now;

	/* the side that does not probe: its WireGuard roamed off the relay
	 * with bytes coming in (the peer's probe reached it) */
	for (int s = WM_PATH_ICE_WAIT; s <= WM_PATH_CONNECTED; s++) {
		put(&p, s, false, &now);
		o = quiet(&p, 100);
		tick(&p, now, &o); /* at the relay */
		o = quiet(&p, 100);
		o.endpoint_relay = false;
		tick(&p, now, &o); /* off it, but nothing came: no proof */
		assert_int_equal(p.state, s == WM_PATH_ICE_WAIT ? WM_PATH_OFFERING : s);
		int was = p.state;
		o = quiet(&p, 300);
		o.endpoint_relay = false;
		r = tick(&p, now + 1000, &o);
		assert_int_equal(p.state, WM_PATH_DIRECT);
		assert_true(p.returned);
		assert_true(r.flags & WM_PATH_DO_CLOSE_RELAY);
		assert_true(r.flags & WM_PATH_DO_ENDPOINT);
		assert_int_equal((r.flags & WM_PATH_DO_SEND_BYE) != 0, was >= WM_PATH_OFFERING);
		/* a bye from the peer for the old session changes nothing */
		r = ev(&p, WM_PATH_EV_BYE, 5, now, 0, NULL, NULL);
		assert_int_equal(r.flags, 0);
	}
	/* WireGuard never seen at the relay (the endpoint was not applied):
	 * traffic from elsewhere is no proof of anything */
	{
		struct wm_path_attrs a = attrs();
		a.ice_edge = true;
		wm_path_init(&p, false, &a, T0);
		ev(&p, WM_PATH_EV_ATTRS, 0, T0, 0, NULL, &a);
		assert_int_equal(p.state, WM_PATH_ICE_WAIT);
		o = quiet(&p, 100);
		o.endpoint_relay = false;
		tick(&p, T0, &o);
		o.rx_bytes = 900;
		tick(&p, T0 + 1000, &o);
		assert_true(wm_path_on_ice(&p));
	}
}

static void test_probe_with_session_events(void **state)
{
	(void)state;
	struct wm_path p;
	struct wm_path_obs o;
	struct wm_path_actions r;
	int64_t now;

	/* the peer ends the session while we probe and the probe works */
	put(&p, WM_PATH_PROBING, false, &now);
	r = ev(&p, WM_PATH_EV_BYE, p.session, now, 0, NULL, NULL);
	assert_int_equal(r.flags, WM_PATH_DO_STOP_ICE);
	assert_int_equal(p.state, WM_PATH_PROBING);
	o = quiet(&p, p.probe_rx + 1);
	r = tick(&p, now + 1000, &o);
	assert_int_equal(p.state, WM_PATH_DIRECT);
	assert_false(r.flags & WM_PATH_DO_SEND_BYE);
	/* ... and it fails: a new session, WireGuard back at the relay */
	put(&p, WM_PATH_PROBING, false, &now);
	ev(&p, WM_PATH_EV_FAILED, p.session, now, 0, NULL, NULL);
	o = quiet(&p, p.probe_rx);
	o.endpoint_relay = true;
	r = tick(&p, now + 1000, &o);
	assert_int_equal(p.state, WM_PATH_ICE_WAIT);
	assert_true(r.flags & WM_PATH_DO_ENDPOINT);
	assert_true(wm_path_uses_relay(&p));
	/* an offer while probing: the peer starts over, we answer on the relay */
	put(&p, WM_PATH_PROBING, false, &now);
	r = ev(&p, WM_PATH_EV_OFFER, 77, now, 0, NULL, NULL);
	assert_int_equal(p.state, WM_PATH_CHECKING);
	assert_int_equal(r.flags, WM_PATH_DO_ENDPOINT | WM_PATH_DO_START_ICE);
}

static void test_edges_and_roaming(void **state)
{
	(void)state;
	struct wm_path p;
	struct wm_path_attrs a = attrs();
	struct wm_path_actions r;
	struct wm_path_obs o;
	int64_t now;

	/* an ice edge moves the pair at once, clearing it brings it back */
	wm_path_init(&p, false, &a, T0);
	a.ice_edge = true;
	r = ev(&p, WM_PATH_EV_ATTRS, 0, T0, 0, NULL, &a);
	assert_int_equal(p.state, WM_PATH_ICE_WAIT);
	assert_int_equal(p.reason, WM_ICE_EDGE);
	assert_int_equal(r.flags, WM_PATH_DO_OPEN_RELAY | WM_PATH_DO_ENDPOINT);
	o = quiet(&p, 0);
	tick(&p, T0, &o);
	assert_int_equal(p.state, WM_PATH_OFFERING);
	a.ice_edge = false;
	r = ev(&p, WM_PATH_EV_ATTRS, 0, T0 + 5, 0, NULL, &a);
	assert_int_equal(p.state, WM_PATH_TRYING);
	assert_int_equal(r.flags, WM_PATH_DO_SEND_BYE | WM_PATH_DO_STOP_ICE |
					  WM_PATH_DO_CLOSE_RELAY | WM_PATH_DO_ENDPOINT);
	assert_int_equal(p.since_ms, T0 + 5);
	/* a pair on ICE for another reason stays when an edge is cleared */
	put(&p, WM_PATH_CONNECTED, false, &now);
	a = p.attrs;
	a.ice_edge = true;
	ev(&p, WM_PATH_EV_ATTRS, 0, now, 0, NULL, &a);
	a.ice_edge = false;
	ev(&p, WM_PATH_EV_ATTRS, 0, now, 0, NULL, &a);
	assert_int_equal(p.state, WM_PATH_CONNECTED);
	/* a peer on ICE that moves: its direct endpoint is probed soon, even
	 * after many failed probes */
	p.probes = 9;
	p.wake_ms = now + 400000;
	a.endpoints_hash = 99;
	r = ev(&p, WM_PATH_EV_ATTRS, 0, now, 0, NULL, &a);
	assert_int_equal(p.probes, 0);
	assert_int_equal(p.wake_ms, now + WM_PATH_PROBE_FIRST_MS);
	assert_int_equal(r.delay_ms, WM_PATH_PROBE_FIRST_MS);
}

static void test_names(void **state)
{
	(void)state;
	for (int s = 0; s < WM_PATH_N_STATES; s++)
		assert_string_not_equal(wm_path_state_name(s), "unknown");
	assert_string_equal(wm_path_state_name(WM_PATH_N_STATES), "unknown");
}

/* ---- WireGuard over libp2p ---- */

/* A pair with no ICE to try (no STUN or TURN), both sides on libp2p. */
static struct wm_path_attrs p2p_attrs(void)
{
	struct wm_path_attrs a = attrs();

	a.traversal = false;
	a.p2p_available = true;
	a.peer_direct = true;
	return a;
}

static struct wm_path_obs p2p_quiet(const struct wm_path *p, uint64_t rx)
{
	struct wm_path_obs o = quiet(p, rx);

	o.endpoint_relay = false;
	o.endpoint_p2p = wm_path_uses_p2p(p);
	return o;
}

/* Put on libp2p by the direct timeout, at *now. */
static void put_p2p(struct wm_path *p, bool controlling, int64_t *now)
{
	struct wm_path_attrs a = p2p_attrs();
	struct wm_path_obs o;
	struct wm_path_actions out;

	*now = T0;
	wm_path_init(p, controlling, &a, *now);
	o = p2p_quiet(p, 0);
	out = tick(p, *now + 1000, &o);
	assert_false(p->p2p);
	*now += TIMEOUT;
	assert_true(wm_path_wants_wg(p, *now));
	out = tick(p, *now, &o);
	assert_true(p->p2p);
	assert_true(out.flags & WM_PATH_DO_OPEN_P2P);
	assert_true(out.flags & WM_PATH_DO_ENDPOINT);
	assert_false(out.flags & WM_PATH_DO_START_ICE);
	assert_true(wm_path_uses_p2p(p));
	assert_false(wm_path_uses_relay(p));
	assert_int_equal(p->state, WM_PATH_TRYING);
}

static void test_p2p_when_direct_fails_without_ice(void **state)
{
	struct wm_path p;
	struct wm_path_attrs a = p2p_attrs();
	struct wm_path_obs o;
	int64_t now;

	(void)state;
	put_p2p(&p, true, &now);
	/* A handshake now is one over libp2p: not the direct path's. */
	o = p2p_quiet(&p, 100);
	o.last_handshake_ms = now + 500;
	tick(&p, now + 1000, &o);
	assert_int_equal(p.state, WM_PATH_TRYING);
	assert_true(wm_path_uses_p2p(&p));

	/* Without libp2p on both sides the pair never leaves direct. */
	a.p2p_available = false;
	now = T0;
	wm_path_init(&p, true, &a, now);
	o = p2p_quiet(&p, 0);
	assert_false(wm_path_wants_wg(&p, now + TIMEOUT));
	for (int i = 1; i <= 60; i++)
		tick(&p, now + i * 1000, &o);
	assert_false(p.p2p);
	assert_int_equal(p.state, WM_PATH_TRYING);

	/* A handshake in time: direct, never libp2p. */
	a.p2p_available = true;
	wm_path_init(&p, true, &a, now);
	o.last_handshake_ms = now + 300;
	tick(&p, now + 1000, &o);
	assert_int_equal(p.state, WM_PATH_DIRECT);
	for (int i = 2; i <= 60; i++)
		tick(&p, now + i * 1000, &o);
	assert_false(p.p2p);
}

static void test_p2p_while_ice_retries(void **state)
{
	struct wm_path p;
	struct wm_path_actions out;
	struct wm_path_obs o;
	struct wm_path_attrs a = attrs();
	int64_t now;

	(void)state;
	put(&p, WM_PATH_CHECKING, false, &now);
	a.p2p_available = true;
	a.peer_direct = true;
	ev(&p, WM_PATH_EV_ATTRS, 0, now, 1, NULL, &a);
	/* The first ICE session runs: no libp2p yet. */
	o = quiet(&p, 0);
	tick(&p, now + 1000, &o);
	assert_false(p.p2p);
	out = ev(&p, WM_PATH_EV_FAILED, p.session, now + 2000, 1, NULL, NULL);
	assert_int_equal(p.state, WM_PATH_ICE_WAIT);
	o = quiet(&p, 0);
	out = tick(&p, now + 2500, &o);
	assert_true(p.p2p);
	assert_true(out.flags & WM_PATH_DO_OPEN_P2P);
	assert_true(wm_path_uses_p2p(&p));
	/* ICE keeps retrying underneath, and once it connects it carries the
	 * pair: libp2p closes. */
	o = p2p_quiet(&p, 0);
	int64_t t = now + 2500;
	for (int i = 0; i < 60 && p.state != WM_PATH_OFFERING; i++)
		tick(&p, t += 1000, &o);
	assert_int_equal(p.state, WM_PATH_OFFERING);
	assert_true(p.p2p);
	ev(&p, WM_PATH_EV_ANSWER, p.session, t, 1, NULL, NULL);
	out = ev(&p, WM_PATH_EV_CONNECTED, p.session, t, 1, NULL, NULL);
	assert_int_equal(p.state, WM_PATH_CONNECTED);
	assert_false(p.p2p);
	assert_true(out.flags & WM_PATH_DO_CLOSE_P2P);
	assert_true(out.flags & WM_PATH_DO_ENDPOINT);
	assert_true(wm_path_uses_relay(&p));
}

static void test_p2p_edge(void **state)
{
	struct wm_path p;
	struct wm_path_attrs a = attrs();
	struct wm_path_actions out;
	struct wm_path_obs o;
	int64_t now = T0;

	(void)state;
	a.p2p_available = true;
	a.p2p_edge = true;
	a.peer_direct = true;
	wm_path_init(&p, true, &a, now);
	o = quiet(&p, 0);
	out = tick(&p, now, &o);
	assert_true(p.p2p);
	assert_true(out.flags & WM_PATH_DO_OPEN_P2P);
	/* Not ICE, even when the direct timeout passes. */
	o = p2p_quiet(&p, 0);
	for (int i = 1; i <= 600; i++) {
		out = tick(&p, now + i * 1000, &o);
		assert_false(out.flags & (WM_PATH_DO_START_ICE | WM_PATH_DO_OPEN_RELAY));
		/* An edge marked libp2p is never probed away from it. */
		assert_true(wm_path_uses_p2p(&p));
	}
	/* The edge no longer says libp2p: the pair tries direct again. */
	a.p2p_edge = false;
	ev(&p, WM_PATH_EV_ATTRS, 0, now + 601000, 1, NULL, &a);
	out = tick(&p, now + 602000, &o);
	assert_false(p.p2p);
	assert_true(out.flags & WM_PATH_DO_CLOSE_P2P);
	/* WireGuard's session is still valid: no new handshake, but traffic at
	 * the direct endpoint proves it (what came over libp2p does not) */
	o = p2p_quiet(&p, 5000);
	tick(&p, now + 603000, &o);
	assert_int_equal(p.state, WM_PATH_TRYING);
	o.endpoint_p2p = true; /* still roamed to the old relay */
	o.rx_bytes = 6000;
	tick(&p, now + 604000, &o);
	assert_int_equal(p.state, WM_PATH_TRYING);
	o.endpoint_p2p = false;
	o.rx_bytes = 7000;
	out = tick(&p, now + 605000, &o);
	assert_int_equal(p.state, WM_PATH_DIRECT);
	assert_false(p.p2p);

	/* Marked libp2p while on ICE: ICE ends, libp2p carries the pair. */
	put(&p, WM_PATH_CONNECTED, true, &now);
	a = attrs();
	a.p2p_available = true;
	a.p2p_edge = true;
	out = ev(&p, WM_PATH_EV_ATTRS, 0, now, 1, NULL, &a);
	assert_true(out.flags & WM_PATH_DO_CLOSE_RELAY);
	o = quiet(&p, 0);
	out = tick(&p, now + 1000, &o);
	assert_true(p.p2p);
	assert_false(wm_path_on_ice(&p));
}

static void test_p2p_probe_back_to_direct(void **state)
{
	struct wm_path p;
	struct wm_path_actions out;
	struct wm_path_obs o;
	int64_t now;
	uint64_t rx = 100;

	(void)state;
	put_p2p(&p, true, &now);
	int64_t wake = p.p2p_wake_ms;
	assert_true(wake >= now + WM_PATH_P2P_PROBE_FIRST_MS);
	assert_true(wake <= now + WM_PATH_P2P_PROBE_FIRST_MS * 5 / 4);
	o = p2p_quiet(&p, rx);
	tick(&p, now + 1000, &o);
	/* A failed probe: the window ends with nothing at the direct endpoint,
	 * libp2p again, the next probe twice as late. */
	o = p2p_quiet(&p, rx);
	out = tick(&p, wake, &o);
	assert_true(p.p2p_probing);
	assert_true(out.flags & WM_PATH_DO_ENDPOINT);
	assert_true(out.flags & WM_PATH_DO_KICK);
	assert_false(wm_path_uses_p2p(&p));
	assert_true(wm_path_on_p2p(&p)); /* a trial: status still says libp2p */
	o = p2p_quiet(&p, rx);
	out = tick(&p, wake + 1000, &o);
	assert_true(out.flags & WM_PATH_DO_KICK);
	out = tick(&p, wake + WM_PATH_PROBE_WINDOW_MS, &o);
	assert_false(p.p2p_probing);
	assert_true(wm_path_uses_p2p(&p));
	assert_true(out.flags & WM_PATH_DO_ENDPOINT);
	assert_int_equal(p.p2p_wake_ms,
			 wake + WM_PATH_PROBE_WINDOW_MS + WM_PATH_P2P_PROBE_FIRST_MS);
	/* The peer's packets come back over libp2p during a probe: it ends. */
	wake = p.p2p_wake_ms;
	o = p2p_quiet(&p, rx);
	tick(&p, wake, &o);
	assert_true(p.p2p_probing);
	o.endpoint_p2p = true;
	tick(&p, wake + 1000, &o);
	assert_false(p.p2p_probing);
	assert_true(p.p2p);
	/* A probe that works: traffic at the direct endpoint. */
	wake = p.p2p_wake_ms;
	o = p2p_quiet(&p, rx);
	tick(&p, wake, &o);
	assert_true(p.p2p_probing);
	o = p2p_quiet(&p, rx + 148);
	out = tick(&p, wake + 1000, &o);
	assert_int_equal(p.state, WM_PATH_DIRECT);
	assert_false(p.p2p);
	assert_false(wm_path_on_p2p(&p));
	assert_true(out.flags & WM_PATH_DO_CLOSE_P2P);
	assert_true(out.flags & WM_PATH_DO_ENDPOINT);
	assert_int_equal(wm_path_next_ms(&p, wake + 1000), 0);
	/* the peer, not yet back, opens a stream: not followed for a while */
	out = ev(&p, WM_PATH_EV_P2P_PEER, 0, wake + 2000, 1, NULL, NULL);
	assert_false(p.p2p);
	out = ev(&p, WM_PATH_EV_P2P_PEER, 0, wake + 1000 + WM_PATH_P2P_FOLLOW_HOLD_MS, 1, NULL,
		 NULL);
	assert_true(p.p2p);
}

/* The side that does not probe follows the peer: WireGuard roamed away from
 * the libp2p relay with traffic coming in. */
static void test_p2p_peer_returned(void **state)
{
	struct wm_path p;
	struct wm_path_actions out;
	struct wm_path_obs o;
	int64_t now;

	(void)state;
	put_p2p(&p, false, &now);
	o = p2p_quiet(&p, 100);
	tick(&p, now + 1000, &o);
	/* Not seen moving with no traffic: stays. */
	o.endpoint_p2p = false;
	tick(&p, now + 2000, &o);
	assert_true(p.p2p);
	o.rx_bytes = 400;
	out = tick(&p, now + 3000, &o);
	assert_int_equal(p.state, WM_PATH_DIRECT);
	assert_true(p.returned);
	assert_true(out.flags & WM_PATH_DO_CLOSE_P2P);
}

static void test_p2p_open_failed(void **state)
{
	struct wm_path p;
	struct wm_path_actions out;
	struct wm_path_obs o;
	int64_t now;

	(void)state;
	put_p2p(&p, true, &now);
	out = ev(&p, WM_PATH_EV_P2P_FAILED, 0, now, 1, NULL, NULL);
	assert_false(p.p2p);
	assert_true(out.flags & WM_PATH_DO_ENDPOINT);
	o = p2p_quiet(&p, 0);
	out = tick(&p, now + WM_PATH_P2P_RETRY_MS - 1, &o);
	assert_false(p.p2p);
	out = tick(&p, now + WM_PATH_P2P_RETRY_MS, &o);
	assert_true(p.p2p);
	assert_true(out.flags & WM_PATH_DO_OPEN_P2P);
	/* The peer stops publishing its peer ID: libp2p closes. */
	struct wm_path_attrs a = p.attrs;
	a.p2p_available = false;
	ev(&p, WM_PATH_EV_ATTRS, 0, now + 6000, 1, NULL, &a);
	out = tick(&p, now + 7000, &o);
	assert_false(p.p2p);
	assert_true(out.flags & WM_PATH_DO_CLOSE_P2P);
	assert_int_equal(wm_path_p2p_probe_backoff_ms(0, 0), 10000);
	assert_int_equal(wm_path_p2p_probe_backoff_ms(2, 0), 40000);
	assert_int_equal(wm_path_p2p_probe_backoff_ms(9, 0), 60000);
	assert_int_equal(wm_path_p2p_probe_backoff_ms(9, 65535), 75000);
}

/* The side whose timeout has not fired follows a peer that opened a
 * WireGuard stream; not without libp2p, not on working ICE. */
static void test_p2p_peer_started(void **state)
{
	struct wm_path p;
	struct wm_path_attrs a = p2p_attrs();
	struct wm_path_actions out;
	struct wm_path_obs o;
	int64_t now = T0;

	(void)state;
	wm_path_init(&p, false, &a, now);
	out = ev(&p, WM_PATH_EV_P2P_PEER, 0, now + 100, 1, NULL, NULL);
	assert_true(p.p2p);
	assert_true(out.flags & WM_PATH_DO_OPEN_P2P);
	assert_true(out.flags & WM_PATH_DO_ENDPOINT);
	/* it stays, though our own timeout has not fired */
	o = p2p_quiet(&p, 0);
	for (int i = 1; i <= 30; i++)
		tick(&p, now + i * 1000, &o);
	assert_true(p.p2p);
	assert_int_equal(p.state, WM_PATH_TRYING);

	a.p2p_available = false;
	wm_path_init(&p, false, &a, now);
	out = ev(&p, WM_PATH_EV_P2P_PEER, 0, now, 1, NULL, NULL);
	assert_false(p.p2p);
	assert_int_equal(out.flags, 0);

	put(&p, WM_PATH_CONNECTED, false, &now);
	a = p.attrs;
	a.p2p_available = true;
	ev(&p, WM_PATH_EV_ATTRS, 0, now, 1, NULL, &a);
	out = ev(&p, WM_PATH_EV_P2P_PEER, 0, now, 1, NULL, NULL);
	assert_false(p.p2p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_state_every_event),
		cmocka_unit_test(test_specific_actions),
		cmocka_unit_test(test_trying),
		cmocka_unit_test(test_ice_wait_and_timeouts),
		cmocka_unit_test(test_retry_backoff_and_jitter),
		cmocka_unit_test(test_probe_backoff_bounds),
		cmocka_unit_test(test_probe_returns_to_direct),
		cmocka_unit_test(test_probe_failures_back_off),
		cmocka_unit_test(test_probe_eligibility),
		cmocka_unit_test(test_peer_returns_us),
		cmocka_unit_test(test_probe_with_session_events),
		cmocka_unit_test(test_edges_and_roaming),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_p2p_when_direct_fails_without_ice),
		cmocka_unit_test(test_p2p_while_ice_retries),
		cmocka_unit_test(test_p2p_edge),
		cmocka_unit_test(test_p2p_probe_back_to_direct),
		cmocka_unit_test(test_p2p_peer_returned),
		cmocka_unit_test(test_p2p_open_failed),
		cmocka_unit_test(test_p2p_peer_started),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
