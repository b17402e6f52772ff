/* WireGuard's timers as pure functions of time (see timers.h). */
#include "wg/embedded/timers.h"

void wgt_params_default(struct wgt_params *p)
{
	p->rekey_after_time = 120 * WGT_NS;
	p->reject_after_time = 180 * WGT_NS;
	p->rekey_attempt_time = 90 * WGT_NS;
	p->rekey_timeout = 5 * WGT_NS;
	p->keepalive_timeout = 10 * WGT_NS;
	p->rekey_after_messages = 1ULL << 60;
	p->reject_after_messages = UINT64_MAX - (1ULL << 13);
}

int64_t wgt_jitter(uint32_t random)
{
	return (int64_t)(random % 334) * 1000000LL;
}

/* A deadline of 0 means unarmed, so a deadline that happens to be 0 (a test
 * clock starting there) is moved to 1. */
static int64_t at(int64_t t)
{
	return t ? t : 1;
}

void wgt_handshake_initiated(struct wgt_peer *t, const struct wgt_params *p, int64_t now,
			     int64_t jitter)
{
	t->retransmit_at = at(now + p->rekey_timeout + jitter);
}

void wgt_handshake_complete(struct wgt_peer *t)
{
	t->retransmit_at = 0;
	t->attempts = 0;
}

void wgt_session_derived(struct wgt_peer *t, const struct wgt_params *p, int64_t now)
{
	t->zero_keys_at = at(now + 3 * p->reject_after_time);
}

void wgt_data_sent(struct wgt_peer *t, const struct wgt_params *p, int64_t now, int64_t jitter)
{
	if (!t->new_handshake_at)
		t->new_handshake_at = at(now + p->keepalive_timeout + p->rekey_timeout + jitter);
}

void wgt_data_received(struct wgt_peer *t, const struct wgt_params *p, int64_t now)
{
	if (!t->keepalive_at)
		t->keepalive_at = at(now + p->keepalive_timeout);
	else
		t->another_keepalive = true;
}

void wgt_authenticated_sent(struct wgt_peer *t)
{
	t->keepalive_at = 0;
}

void wgt_authenticated_received(struct wgt_peer *t)
{
	t->new_handshake_at = 0;
}

void wgt_authenticated_traversal(struct wgt_peer *t, int64_t now)
{
	if (t->persistent_interval)
		t->persistent_at = at(now + (int64_t)t->persistent_interval * WGT_NS);
}

void wgt_set_persistent(struct wgt_peer *t, uint16_t seconds, int64_t now)
{
	bool was_off = !t->persistent_interval;

	t->persistent_interval = seconds;
	if (!seconds)
		t->persistent_at = 0;
	else if (was_off)
		t->persistent_at = at(now);
}

void wgt_stop(struct wgt_peer *t)
{
	uint16_t interval = t->persistent_interval;

	*t = (struct wgt_peer){0};
	t->persistent_interval = interval;
}

static bool expired(int64_t deadline, int64_t now)
{
	return deadline && deadline <= now;
}

unsigned wgt_due(struct wgt_peer *t, const struct wgt_params *p, int64_t now)
{
	/* Retries fit in REKEY_ATTEMPT_TIME: 90 s / 5 s = 18, as the kernel's
	 * MAX_TIMER_HANDSHAKES. */
	unsigned max_attempts = (unsigned)(p->rekey_attempt_time / p->rekey_timeout);
	unsigned fired = 0;

	if (expired(t->retransmit_at, now)) {
		t->retransmit_at = 0;
		if (t->attempts >= max_attempts) {
			fired |= WGT_GIVE_UP;
			t->attempts = 0;
			t->keepalive_at = 0;
			if (!t->zero_keys_at)
				t->zero_keys_at = at(now + 3 * p->reject_after_time);
		} else {
			t->attempts++;
			fired |= WGT_RETRANSMIT_HANDSHAKE;
		}
	}
	if (expired(t->keepalive_at, now)) {
		fired |= WGT_SEND_KEEPALIVE;
		t->keepalive_at = 0;
		if (t->another_keepalive) {
			t->another_keepalive = false;
			t->keepalive_at = at(now + p->keepalive_timeout);
		}
	}
	if (expired(t->new_handshake_at, now)) {
		fired |= WGT_NEW_HANDSHAKE;
		t->new_handshake_at = 0;
	}
	if (expired(t->zero_keys_at, now)) {
		fired |= WGT_ZERO_KEYS;
		t->zero_keys_at = 0;
	}
	if (expired(t->persistent_at, now)) {
		fired |= WGT_PERSISTENT_KEEPALIVE;
		t->persistent_at = 0;
	}
	return fired;
}

int64_t wgt_next(const struct wgt_peer *t)
{
	int64_t d[] = {t->retransmit_at, t->keepalive_at, t->new_handshake_at, t->zero_keys_at,
		       t->persistent_at};
	int64_t best = 0;

	for (unsigned i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		if (d[i] && (!best || d[i] < best))
			best = d[i];
	return best;
}

bool wgt_rekey_on_send(const struct wgt_params *p, bool initiator, int64_t birth,
		       uint64_t send_counter, int64_t now)
{
	return send_counter > p->rekey_after_messages ||
	       (initiator && now - birth >= p->rekey_after_time);
}

bool wgt_rekey_on_receive(const struct wgt_params *p, bool initiator, int64_t birth, int64_t now)
{
	return initiator &&
	       now - birth >= p->reject_after_time - p->keepalive_timeout - p->rekey_timeout;
}

bool wgt_keys_usable(const struct wgt_params *p, int64_t birth, uint64_t counter, int64_t now)
{
	return counter < p->reject_after_messages && now - birth < p->reject_after_time;
}

bool wgt_may_initiate(const struct wgt_params *p, int64_t last_sent, int64_t now)
{
	return !last_sent || now - last_sent >= p->rekey_timeout;
}
