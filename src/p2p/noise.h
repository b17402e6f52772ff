/* Noise_XX_25519_ChaChaPoly_SHA256 (the Noise Protocol Framework, rev 34)
 * on libcrypto, and the libp2p handshake payload that binds a Noise static
 * key to an Ed25519 identity (libp2p noise/README.md). No I/O; the
 * ephemeral key is an argument, so that tests can use the spec's vectors. */
#ifndef WM_P2P_NOISE_H
#define WM_P2P_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/p2pwire.h"
#include "util/crypto.h" /* wm_x25519_public, wm_ed25519_* */

#define WM_NOISE_PROTOCOL "/noise"
#define WM_NOISE_TAG 16
#define WM_NOISE_MAX 65535 /* a frame's length is 2 bytes */
#define WM_NOISE_PLAIN_MAX (WM_NOISE_MAX - WM_NOISE_TAG)

struct wm_noise_cs {
	uint8_t k[32];
	uint64_t n;
	bool has_key;
	/* libcrypto's context, keyed once and given only the nonce per
	 * message (setting up a context per message cost more than sealing
	 * a datagram): made at the first use, freed by wm_noise_cs_free. */
	void *ctx;
	int ctx_mode; /* 0: not keyed for k; 1 encrypt, 2 decrypt */
};

/* AEAD with the nonce n++ (little-endian after 4 zero bytes). encrypt
 * writes len + 16 bytes; decrypt len - 16, in place when out == in. 0,
 * -EBADMSG for a forged or short message, -EOVERFLOW when the nonce is used
 * up. Without a key both copy the input, as the spec says. */
int wm_noise_encrypt(struct wm_noise_cs *cs, const uint8_t *ad, size_t adlen, const uint8_t *in,
		     size_t len, uint8_t *out);
int wm_noise_decrypt(struct wm_noise_cs *cs, const uint8_t *ad, size_t adlen, const uint8_t *in,
		     size_t len, uint8_t *out);
/* wm_noise_encrypt of the concatenation of two parts (a yamux header and
 * its payload) without joining them first: out gets a + b + 16 bytes. */
int wm_noise_encrypt2(struct wm_noise_cs *cs, const uint8_t *a, size_t alen, const uint8_t *b,
		      size_t blen, uint8_t *out);
/* Frees the context and wipes the key; cs is unusable after (NULL-safe
 * fields: calling it twice is fine). */
void wm_noise_cs_free(struct wm_noise_cs *cs);

struct wm_noise_hs {
	bool initiator;
	int step; /* messages done: 0..3 */
	uint8_t ck[32], h[32];
	struct wm_noise_cs cs;
	uint8_t s[32], s_pub[32], e[32], e_pub[32];
	uint8_t rs[32], re[32]; /* the remote's static and ephemeral keys */
};

/* 0, or -EINVAL when a private key is unusable. */
int wm_noise_hs_init(struct wm_noise_hs *hs, bool initiator, const uint8_t s_priv[32],
		     const uint8_t e_priv[32], const uint8_t *prologue, size_t plen);
/* Our next handshake message with payload: bytes written, -ENOSPC, -EPROTO
 * when it is not our turn. */
int wm_noise_hs_write(struct wm_noise_hs *hs, const uint8_t *payload, size_t plen, uint8_t *out,
		      size_t cap);
/* The peer's next message: payload length (written to payload[cap]),
 * -EBADMSG (short, forged), -EPROTO (not its turn), -ENOSPC. */
int wm_noise_hs_read(struct wm_noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload,
		     size_t cap);
bool wm_noise_hs_done(const struct wm_noise_hs *hs);
/* After the third message: the two transport keys for our direction. */
void wm_noise_hs_split(struct wm_noise_hs *hs, struct wm_noise_cs *send, struct wm_noise_cs *recv);
void wm_noise_hs_wipe(struct wm_noise_hs *hs);

/* The NoiseHandshakePayload of our identity (seed) for our Noise static
 * public key: bytes written or -ENOSPC / -EIO. */
int wm_p2p_noise_payload(const uint8_t id_seed[32], const uint8_t static_pub[32], uint8_t *out,
			 size_t cap);
/* Checks a peer's payload against its Noise static key: 0 with *id its peer
 * ID; -EBADMSG (malformed, no key), -EPROTONOSUPPORT (not Ed25519),
 * -EACCES (the signature does not cover this static key). */
int wm_p2p_noise_payload_verify(const uint8_t *buf, size_t len, const uint8_t remote_static[32],
				struct wm_peer_id *id);

#endif
