/* Randomness, X25519 and Ed25519 from libcrypto, which TLS loads anyway. */
#include "util/crypto.h"

#include <errno.h>
#include <limits.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <string.h>

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

int wm_node_shared_key(const uint8_t priv[32], const uint8_t peer_pub[32], const char *label,
		       uint8_t out[32])
{
	EVP_PKEY *mine = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	EVP_PKEY *theirs = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer_pub, 32);
	EVP_PKEY_CTX *dh = mine ? EVP_PKEY_CTX_new(mine, NULL) : NULL;
	EVP_PKEY_CTX *kdf = NULL;
	uint8_t ss[32];
	size_t len = sizeof(ss), outlen = 32;
	uint8_t acc = 0;
	int r = -EIO;

	if (!theirs || !dh || EVP_PKEY_derive_init(dh) != 1 ||
	    EVP_PKEY_derive_set_peer(dh, theirs) != 1)
		goto out;
	/* A small-order peer key gives an all-zero secret anyone can compute;
	 * libcrypto's X25519 refuses to derive it, and we check again. */
	if (EVP_PKEY_derive(dh, ss, &len) != 1 || len != sizeof(ss)) {
		r = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < sizeof(ss); i++)
		acc |= ss[i];
	if (!acc) {
		r = -EINVAL;
		goto out;
	}
	kdf = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	if (!kdf || EVP_PKEY_derive_init(kdf) != 1 ||
	    EVP_PKEY_CTX_set_hkdf_md(kdf, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set1_hkdf_salt(kdf, (const unsigned char *)label, (int)strlen(label)) !=
		    1 ||
	    EVP_PKEY_CTX_set1_hkdf_key(kdf, ss, sizeof(ss)) != 1 ||
	    EVP_PKEY_derive(kdf, out, &outlen) != 1 || outlen != 32)
		goto out;
	r = 0;
out:
	OPENSSL_cleanse(ss, sizeof(ss));
	if (r < 0)
		OPENSSL_cleanse(out, 32);
	EVP_PKEY_CTX_free(kdf);
	EVP_PKEY_CTX_free(dh);
	EVP_PKEY_free(theirs);
	EVP_PKEY_free(mine);
	return r;
}

int wm_hmac_sha256(const uint8_t key[32], const void *msg, size_t len, uint8_t out[32])
{
	unsigned int n = 32;
	if (!HMAC(EVP_sha256(), key, 32, msg, len, out, &n) || n != 32)
		return -EIO;
	return 0;
}

_Bool wm_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

int wm_ed25519_public(const uint8_t seed[32], uint8_t pk[32])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	size_t len = 32;
	int ok = k && EVP_PKEY_get_raw_public_key(k, pk, &len) == 1 && len == 32;

	EVP_PKEY_free(k);
	return ok ? 0 : -EINVAL;
}

int wm_ed25519_sign(const uint8_t seed[32], const void *msg, size_t len, uint8_t sig[64])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t siglen = 64;
	int ok = k && c && EVP_DigestSignInit(c, NULL, NULL, NULL, k) == 1 &&
		 EVP_DigestSign(c, sig, &siglen, msg, len) == 1 && siglen == 64;

	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	return ok ? 0 : -EIO;
}

int wm_ed25519_verify(const uint8_t pk[32], const void *msg, size_t len, const uint8_t sig[64])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, 32);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = k && c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1 &&
		 EVP_DigestVerify(c, sig, 64, msg, len) == 1;

	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	return ok ? 0 : -EACCES;
}
