/* The few primitives outside TLS the daemon and the CLI need, on OpenSSL's libcrypto. */
#ifndef WM_UTIL_CRYPTO_H
#define WM_UTIL_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf with n bytes from the system CSPRNG; 0, or -EIO if it failed. */
int wm_random(void *buf, size_t n);

/* The X25519 (Curve25519) public key of a 32-byte private key, as
 * `wg pubkey`: the scalar is clamped as RFC 7748 says. 0, or -EINVAL when the
 * key is unusable (its public key would be all zero), -EIO if libcrypto failed. */
int wm_x25519_public(const uint8_t priv[32], uint8_t pub[32]);

/* The key two nodes share through their WireGuard keys, as Noise's static-static
 * DH ("ss"): HKDF-SHA256 with the given label as salt over X25519(priv,
 * peer_pub). Only the holders of either private key can compute it, so a MAC
 * under it proves "the caller holds the key registered for node A, and meant
 * it for node B" without any new key material (docs/SECURITY.md). 0, -EINVAL
 * when the DH result is all zero (a small-order peer key), -EIO if libcrypto
 * failed; out is wiped on error. */
int wm_node_shared_key(const uint8_t priv[32], const uint8_t peer_pub[32], const char *label,
		       uint8_t out[32]);

/* HMAC-SHA256 of msg under a 32-byte key; 0 or -EIO. */
int wm_hmac_sha256(const uint8_t key[32], const void *msg, size_t len, uint8_t out[32]);

/* Ed25519 (RFC 8032, PureEdDSA) with a 32-byte seed as the secret key:
 * its public key (0 or -EINVAL), a signature (0 or -EIO), and a check of
 * one (0 for a good signature, -EACCES otherwise). Used by key
 * authentication and by the libp2p identity, which must agree. */
int wm_ed25519_public(const uint8_t seed[32], uint8_t pk[32]);
int wm_ed25519_sign(const uint8_t seed[32], const void *msg, size_t len, uint8_t sig[64]);
int wm_ed25519_verify(const uint8_t pk[32], const void *msg, size_t len, const uint8_t sig[64]);

/* Constant-time comparison of n bytes: true when equal. */
_Bool wm_ct_equal(const void *a, const void *b, size_t n);

#endif
