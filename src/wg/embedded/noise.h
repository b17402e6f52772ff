/* The Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake as WireGuard uses it
 * (whitepaper 5.4.2-5.4.5): building and consuming the initiation and the
 * response, and deriving the transport keys. Pure computation: time comes in
 * as arguments, indices are chosen by the caller, nothing is sent.
 *
 * Ownership: the caller owns every struct; wgn_handshake_clear and
 * wgn_static_clear wipe key material (the device calls them on free). */
#ifndef WM_WG_EMBEDDED_NOISE_H
#define WM_WG_EMBEDDED_NOISE_H

#include <stdbool.h>
#include <stdint.h>

#include "wg/embedded/messages.h"

/* This node's identity and the keys derived from it. */
struct wgn_static {
	bool has_key;
	uint8_t priv[32];
	uint8_t pub[32];
	uint8_t mac1_key[32];	/* HASH("mac1----" || pub): checks MAC1 sent to us */
	uint8_t cookie_key[32]; /* HASH("cookie--" || pub): seals our cookie replies */
};

enum wgn_state {
	WGN_ZEROED = 0,
	WGN_CREATED_INITIATION,
	WGN_CONSUMED_INITIATION,
	WGN_CREATED_RESPONSE,
	WGN_CONSUMED_RESPONSE,
};

/* One peer's handshake: its static key, the precomputed static-static DH, the
 * preshared key and the state of the handshake under way. */
struct wgn_handshake {
	uint8_t remote_static[32];
	uint8_t remote_mac1_key[32];   /* HASH("mac1----" || remote_static) */
	uint8_t remote_cookie_key[32]; /* HASH("cookie--" || remote_static) */
	uint8_t precomputed_ss[32];    /* DH(our static, theirs); zero if unusable */
	bool ss_ok;
	uint8_t psk[32];

	enum wgn_state state;
	uint8_t hash[32];
	uint8_t chaining_key[32];
	uint8_t ephemeral_priv[32];
	uint8_t remote_ephemeral[32];
	uint32_t local_index;
	uint32_t remote_index;
	/* Replay and flood protection of initiations (whitepaper 5.1). */
	uint8_t latest_timestamp[WGP_TAI64N_LEN];
	int64_t last_initiation_consumed_ns; /* monotonic, 0 = never */
};

/* Transport keys of one session, as derived at the end of a handshake. */
struct wgn_keys {
	uint8_t send[32];
	uint8_t recv[32];
	uint32_t local_index;
	uint32_t remote_index;
	bool initiator;
};

/* The two constants every handshake starts from: HASH(construction) and
 * HASH(that || identifier). */
void wgn_initial(uint8_t chaining_key[32], uint8_t hash[32]);

/* Sets (or with priv NULL, clears) this node's key and derives the rest.
 * 0, -EIO. */
int wgn_static_set(struct wgn_static *s, const uint8_t priv[32]);
void wgn_static_clear(struct wgn_static *s);

/* Prepares a peer's handshake for its key (and psk, NULL = none) given our
 * static identity: computes the MAC keys and the static-static DH. Keeps the
 * replay timestamp when the key is unchanged. 0, -EIO. */
int wgn_handshake_init(struct wgn_handshake *hs, const struct wgn_static *s,
		       const uint8_t remote_static[32], const uint8_t *psk);
/* Forgets the handshake under way (wipes ephemeral keys, hash, chaining key);
 * keeps the peer's keys and replay state. */
void wgn_handshake_reset(struct wgn_handshake *hs);
/* Wipes everything. */
void wgn_handshake_clear(struct wgn_handshake *hs);

/* Builds an initiation with a fresh ephemeral key (ephemeral_priv NULL) or the
 * given one (tests). now_sec/now_nsec is the wall clock for the TAI64N
 * timestamp. MACs are left zero (see cookie.h). 0, -EINVAL when our key or
 * the DH is unusable, -EIO. */
int wgn_create_initiation(struct wgn_handshake *hs, const struct wgn_static *s,
			  uint32_t local_index, int64_t now_sec, long now_nsec,
			  const uint8_t *ephemeral_priv, struct wgm_initiation *msg);

/* Finds a peer's handshake by its static key: returns NULL for an unknown key. */
typedef struct wgn_handshake *(*wgn_lookup_fn)(void *ctx, const uint8_t remote_static[32]);

/* Consumes an initiation (MACs already checked by the caller). On success the
 * peer's handshake is in CONSUMED_INITIATION state and returned in *out.
 * now_ns is the monotonic clock for flood protection. -EBADMSG for anything
 * that does not decrypt, -ENOENT for an unknown peer, -EALREADY for a replayed
 * timestamp or an initiation within 20 ms of the last (50 per second). */
int wgn_consume_initiation(const struct wgn_static *s, const struct wgm_initiation *msg,
			   wgn_lookup_fn lookup, void *ctx, int64_t now_ns,
			   struct wgn_handshake **out);

/* Builds the response to a consumed initiation. 0, -EINVAL (wrong state), -EIO. */
int wgn_create_response(struct wgn_handshake *hs, const struct wgn_static *s, uint32_t local_index,
			const uint8_t *ephemeral_priv, struct wgm_response *msg);

/* Consumes a response for hs, which the caller found by msg->receiver and
 * which must be in CREATED_INITIATION state. -EBADMSG, -EINVAL (state). */
int wgn_consume_response(struct wgn_handshake *hs, const struct wgn_static *s,
			 const struct wgm_response *msg);

/* Derives the session keys once the handshake is complete (CREATED_RESPONSE
 * for the responder, CONSUMED_RESPONSE for the initiator) and resets the
 * handshake. -EINVAL in any other state. */
int wgn_derive_keys(struct wgn_handshake *hs, struct wgn_keys *keys);

#endif
