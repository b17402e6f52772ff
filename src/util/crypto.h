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

#endif
