/* The timers of WireGuard (whitepaper 6.1-6.5) as pure functions of time:
 * events arm or cancel deadlines, wgt_due reports which fired. The device
 * acts on what fires (send a keepalive, an initiation, wipe keys) and asks
 * wgt_next when to look again. Times are monotonic nanoseconds; 0 means
 * "not armed". Randomness (the retry jitter) comes in as an argument. */
#ifndef WM_WG_EMBEDDED_TIMERS_H
#define WM_WG_EMBEDDED_TIMERS_H

#include <stdbool.h>
#include <stdint.h>

#define WGT_NS 1000000000LL

/* The protocol's constants (whitepaper 6.1); tests may shorten the rekey ones. */
struct wgt_params {
	int64_t rekey_after_time;
	int64_t reject_after_time;
	int64_t rekey_attempt_time;
	int64_t rekey_timeout;
	int64_t keepalive_timeout;
	uint64_t rekey_after_messages;
	uint64_t reject_after_messages;
};

/* REKEY_AFTER_TIME 120 s, REJECT_AFTER_TIME 180 s, REKEY_ATTEMPT_TIME 90 s,
 * REKEY_TIMEOUT 5 s, KEEPALIVE_TIMEOUT 10 s, REKEY_AFTER_MESSAGES 2^60,
 * REJECT_AFTER_MESSAGES 2^64 - 2^13 - 1. */
void wgt_params_default(struct wgt_params *p);

/* The retry jitter (up to 333 ms, as the kernel) from a random 32-bit value. */
int64_t wgt_jitter(uint32_t random);

enum {
	WGT_RETRANSMIT_HANDSHAKE = 1u << 0, /* resend the initiation */
	WGT_GIVE_UP = 1u << 1,		    /* REKEY_ATTEMPT_TIME passed: drop staged packets */
	WGT_SEND_KEEPALIVE = 1u << 2,	    /* passive keepalive */
	WGT_NEW_HANDSHAKE = 1u << 3,	    /* we sent but heard nothing back */
	WGT_ZERO_KEYS = 1u << 4,	    /* 3 x REJECT_AFTER_TIME without a handshake */
	WGT_PERSISTENT_KEEPALIVE = 1u << 5,
};

struct wgt_peer {
	int64_t retransmit_at;
	int64_t keepalive_at;
	int64_t new_handshake_at;
	int64_t zero_keys_at;
	int64_t persistent_at;
	unsigned attempts;
	bool another_keepalive;
	uint16_t persistent_interval; /* seconds, 0 = off */
};

/* Events, named as in the whitepaper's timer rules. */
void wgt_handshake_initiated(struct wgt_peer *t, const struct wgt_params *p, int64_t now,
			     int64_t jitter);
void wgt_handshake_complete(struct wgt_peer *t);
void wgt_session_derived(struct wgt_peer *t, const struct wgt_params *p, int64_t now);
void wgt_data_sent(struct wgt_peer *t, const struct wgt_params *p, int64_t now, int64_t jitter);
void wgt_data_received(struct wgt_peer *t, const struct wgt_params *p, int64_t now);
void wgt_authenticated_sent(struct wgt_peer *t);
void wgt_authenticated_received(struct wgt_peer *t);
/* Any authenticated packet sent or received re-arms the persistent keepalive. */
void wgt_authenticated_traversal(struct wgt_peer *t, int64_t now);
/* Sets the persistent keepalive interval; a new non-zero one fires at once,
 * as in wireguard-go (so that a NATed peer opens its path). */
void wgt_set_persistent(struct wgt_peer *t, uint16_t seconds, int64_t now);
/* Stops every timer (peer removed or device down). */
void wgt_stop(struct wgt_peer *t);

/* Returns the WGT_* set of timers that expired at now and disarms (or
 * re-arms) them. A retransmit past the attempt limit reports WGT_GIVE_UP
 * instead and arms ZERO_KEYS. */
unsigned wgt_due(struct wgt_peer *t, const struct wgt_params *p, int64_t now);
/* The earliest armed deadline, or 0 when none is. */
int64_t wgt_next(const struct wgt_peer *t);

/* Session key decisions (whitepaper 6.2). birth is when the keys were derived. */
/* Before sending: start a new handshake? */
bool wgt_rekey_on_send(const struct wgt_params *p, bool initiator, int64_t birth,
		       uint64_t send_counter, int64_t now);
/* After receiving data: start a new handshake? (the initiator near expiry) */
bool wgt_rekey_on_receive(const struct wgt_params *p, bool initiator, int64_t birth, int64_t now);
/* May these keys still be used (sending: send_counter; receiving: 0)? */
bool wgt_keys_usable(const struct wgt_params *p, int64_t birth, uint64_t counter, int64_t now);
/* May a new initiation be sent, the last one having been sent at last? */
bool wgt_may_initiate(const struct wgt_params *p, int64_t last_sent, int64_t now);

#endif
