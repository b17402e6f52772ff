/* Ed25519 for key authentication, on libcrypto (RFC 8032 keys from a 32-byte seed). */
#include "auth/auth_int.h"

#include <openssl/evp.h>

int wm_auth_ed25519_public(const uint8_t seed[32], uint8_t pk[32])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	size_t len = 32;
	int ok;

	if (!k)
		return -1;
	ok = EVP_PKEY_get_raw_public_key(k, pk, &len) == 1 && len == 32;
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

int wm_auth_ed25519_sign(const uint8_t seed[32], const void *msg, size_t len, uint8_t sig[64])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t siglen = 64;
	int ok;

	/* PureEdDSA: no digest, one-shot only. */
	ok = k && ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 &&
	     EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == 64;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

bool wm_auth_ed25519_verify(const uint8_t pk[32], const uint8_t sig[64], const void *msg,
			    size_t len)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, 32);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = k && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
		  EVP_DigestVerify(ctx, sig, 64, msg, len) == 1;

	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return ok;
}
