/* The WireGuard protocol's primitives, all from libcrypto: BLAKE2s HASH, keyed
 * BLAKE2s MAC, HMAC-BLAKE2s and the KDF chain built on it, ChaCha20-Poly1305
 * AEAD, XChaCha20-Poly1305 (cookies), X25519 and TAI64N (whitepaper 5.4).
 *
 * The one function that is not a libcrypto call is HChaCha20 (XChaCha's subkey
 * derivation): it is computed from libcrypto's own ChaCha20 block, by taking
 * the initial state back out of one keystream block (see prim.c), so no
 * cipher round of our own exists here. */
#ifndef WM_WG_EMBEDDED_PRIM_H
#define WM_WG_EMBEDDED_PRIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WGP_KEY_LEN 32
#define WGP_HASH_LEN 32
#define WGP_TAG_LEN 16
#define WGP_MAC_LEN 16
#define WGP_TAI64N_LEN 12
#define WGP_XNONCE_LEN 24

/* All return 0, or -EIO when libcrypto failed (it does not on valid input),
 * -EINVAL for a bad length, -EBADMSG when an AEAD tag does not verify. */

/* HASH(a || b): b may be NULL with blen 0. */
int wgp_hash2(uint8_t out[WGP_HASH_LEN], const void *a, size_t alen, const void *b, size_t blen);
/* MAC(key, msg): keyed BLAKE2s, 16-byte output, key of 1..32 bytes. */
int wgp_mac(uint8_t out[WGP_MAC_LEN], const uint8_t *key, size_t keylen, const void *msg,
	    size_t len);
/* HMAC-BLAKE2s(key, msg) with a 32-byte key. */
int wgp_hmac(uint8_t out[WGP_HASH_LEN], const uint8_t key[WGP_HASH_LEN], const void *msg,
	     size_t len);
/* KDF_n(key, input) for n = 1..3: outputs t1..tn (each 32 bytes; NULL skips). */
int wgp_kdf(const uint8_t key[WGP_HASH_LEN], const void *in, size_t inlen, uint8_t *t1, uint8_t *t2,
	    uint8_t *t3);

/* AEAD(key, counter, plain, aad): ChaCha20-Poly1305 with the 96-bit nonce
 * 32 zero bits || little-endian counter. out holds len + 16 bytes; in and out
 * may be the same buffer. */
int wgp_aead_seal(uint8_t *out, const uint8_t key[WGP_KEY_LEN], uint64_t counter, const uint8_t *in,
		  size_t len, const uint8_t *aad, size_t aadlen);
/* in holds len bytes (ciphertext and tag, len >= 16); out gets len - 16. */
int wgp_aead_open(uint8_t *out, const uint8_t key[WGP_KEY_LEN], uint64_t counter, const uint8_t *in,
		  size_t len, const uint8_t *aad, size_t aadlen);

/* HChaCha20(key, nonce16) -> 32-byte subkey (draft-irtf-cfrg-xchacha 2.2). */
int wgp_hchacha20(uint8_t out[32], const uint8_t key[32], const uint8_t nonce[16]);
/* XAEAD: XChaCha20-Poly1305 with a 24-byte nonce. */
int wgp_xaead_seal(uint8_t *out, const uint8_t key[32], const uint8_t nonce[WGP_XNONCE_LEN],
		   const uint8_t *in, size_t len, const uint8_t *aad, size_t aadlen);
int wgp_xaead_open(uint8_t *out, const uint8_t key[32], const uint8_t nonce[WGP_XNONCE_LEN],
		   const uint8_t *in, size_t len, const uint8_t *aad, size_t aadlen);

/* X25519: DH(priv, pub); -EINVAL when the result is all zero (a small-order
 * point), which WireGuard refuses. */
int wgp_dh(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[32]);
/* The public key of priv (clamped as RFC 7748 says). */
int wgp_pubkey(uint8_t pub[32], const uint8_t priv[32]);
/* A fresh, clamped private key from the system CSPRNG. */
int wgp_genkey(uint8_t priv[32]);
/* A random fill from the CSPRNG. */
int wgp_random(void *buf, size_t n);

/* TAI64N of a wall-clock time (seconds and nanoseconds since the Unix epoch):
 * big endian, so that a later time compares greater with memcmp. */
void wgp_tai64n(uint8_t out[WGP_TAI64N_LEN], int64_t sec, long nsec);

/* Wipes n bytes (OPENSSL_cleanse). */
void wgp_wipe(void *p, size_t n);
/* Constant-time equality. */
bool wgp_equal(const void *a, const void *b, size_t n);

/* Cipher contexts kept per session key, so that a data packet costs one
 * nonce setup and no allocation. */
struct wgp_aead_ctx;
/* encrypt: true for a sending key. NULL on ENOMEM or libcrypto failure. The
 * key is copied into libcrypto's context (wiped by it on free). */
struct wgp_aead_ctx *wgp_aead_ctx_new(const uint8_t key[WGP_KEY_LEN], bool encrypt);
void wgp_aead_ctx_free(struct wgp_aead_ctx *c);
/* As wgp_aead_seal/open, without AAD, with the context's key. */
int wgp_aead_ctx_seal(struct wgp_aead_ctx *c, uint64_t counter, uint8_t *out, const uint8_t *in,
		      size_t len);
int wgp_aead_ctx_open(struct wgp_aead_ctx *c, uint64_t counter, uint8_t *out, const uint8_t *in,
		      size_t len);
/* A context without a key, for one thread that seals and opens under many
 * keys (the key comes with each call); freed by wgp_aead_ctx_free. */
struct wgp_aead_ctx *wgp_aead_lane_new(void);
int wgp_aead_lane_seal(struct wgp_aead_ctx *c, const uint8_t key[WGP_KEY_LEN], uint64_t counter,
		       uint8_t *out, const uint8_t *in, size_t len);
int wgp_aead_lane_open(struct wgp_aead_ctx *c, const uint8_t key[WGP_KEY_LEN], uint64_t counter,
		       uint8_t *out, const uint8_t *in, size_t len);

#endif
