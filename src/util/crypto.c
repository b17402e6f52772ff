/* Randomness and X25519 public keys from libcrypto, which TLS loads anyway. */
#include "util/crypto.h"

#include <errno.h>
#include <limits.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

int wm_random(void *buf, size_t n)
{
	if (n > INT_MAX || RAND_bytes(buf, (int)n) != 1)
		return -EIO;
	return 0;
}

int wm_x25519_public(const uint8_t priv[32], uint8_t pub[32])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	size_t len = 32;
	uint8_t acc = 0;
	int r = 0;

	if (!k)
		return -EIO;
	if (EVP_PKEY_get_raw_public_key(k, pub, &len) != 1 || len != 32)
		r = -EIO;
	EVP_PKEY_free(k);
	if (r < 0) {
		OPENSSL_cleanse(pub, 32);
		return r;
	}
	/* libsodium refused an all-zero result; keep refusing it. */
	for (size_t i = 0; i < 32; i++)
		acc |= pub[i];
	return acc ? 0 : -EINVAL;
}
