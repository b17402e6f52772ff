/* The WireGuard primitives on libcrypto (see prim.h). */
#include "wg/embedded/prim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

int wgp_hash2(uint8_t out[WGP_HASH_LEN], const void *a, size_t alen, const void *b, size_t blen)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok;

	if (!c)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(c, EVP_blake2s256(), NULL) && EVP_DigestUpdate(c, a, alen) &&
	     (!blen || EVP_DigestUpdate(c, b, blen)) && EVP_DigestFinal_ex(c, out, &n) &&
	     n == WGP_HASH_LEN;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -EIO;
}

/* Fetched once: EVP_MAC objects are reference counted and safe to share
 * between threads; fetching per call would cost a provider lookup. */
static EVP_MAC *blake2smac(void)
{
	static EVP_MAC *mac;
	EVP_MAC *m;

	m = __atomic_load_n(&mac, __ATOMIC_ACQUIRE);
	if (m)
		return m;
	m = EVP_MAC_fetch(NULL, "BLAKE2SMAC", NULL);
	if (!m)
		return NULL;
	EVP_MAC *expect = NULL;
	if (!__atomic_compare_exchange_n(&mac, &expect, m, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		EVP_MAC_free(m);
		m = expect;
	}
	return m;
}

int wgp_mac(uint8_t out[WGP_MAC_LEN], const uint8_t *key, size_t keylen, const void *msg,
	    size_t len)
{
	EVP_MAC *m = blake2smac();
	EVP_MAC_CTX *c;
	size_t size = WGP_MAC_LEN, n = 0;
	OSSL_PARAM params[2];
	int ok;

	if (keylen < 1 || keylen > 32)
		return -EINVAL;
	if (!m)
		return -EIO;
	c = EVP_MAC_CTX_new(m);
	if (!c)
		return -ENOMEM;
	params[0] = OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size);
	params[1] = OSSL_PARAM_construct_end();
	ok = EVP_MAC_init(c, key, keylen, params) && EVP_MAC_update(c, msg, len) &&
	     EVP_MAC_final(c, out, &n, WGP_MAC_LEN) && n == WGP_MAC_LEN;
	EVP_MAC_CTX_free(c);
	return ok ? 0 : -EIO;
}

int wgp_hmac(uint8_t out[WGP_HASH_LEN], const uint8_t key[WGP_HASH_LEN], const void *msg,
	     size_t len)
{
	unsigned int n = 0;

	if (!HMAC(EVP_blake2s256(), key, WGP_HASH_LEN, msg, len, out, &n) || n != WGP_HASH_LEN)
		return -EIO;
	return 0;
}

int wgp_kdf(const uint8_t key[WGP_HASH_LEN], const void *in, size_t inlen, uint8_t *t1, uint8_t *t2,
	    uint8_t *t3)
{
	uint8_t t0[WGP_HASH_LEN], buf[WGP_HASH_LEN + 1], prev[WGP_HASH_LEN];
	int ret;

	ret = wgp_hmac(t0, key, in, inlen);
	if (ret < 0)
		goto out;
	buf[0] = 1;
	ret = wgp_hmac(prev, t0, buf, 1);
	if (ret < 0)
		goto out;
	if (t1)
		memcpy(t1, prev, WGP_HASH_LEN);
	if (t2 || t3) {
		memcpy(buf, prev, WGP_HASH_LEN);
		buf[WGP_HASH_LEN] = 2;
		ret = wgp_hmac(prev, t0, buf, sizeof(buf));
		if (ret < 0)
			goto out;
		if (t2)
			memcpy(t2, prev, WGP_HASH_LEN);
	}
	if (t3) {
		memcpy(buf, prev, WGP_HASH_LEN);
		buf[WGP_HASH_LEN] = 3;
		ret = wgp_hmac(t3, t0, buf, sizeof(buf));
	}
out:
	wgp_wipe(t0, sizeof(t0));
	wgp_wipe(buf, sizeof(buf));
	wgp_wipe(prev, sizeof(prev));
	return ret;
}

static void nonce96(uint8_t iv[12], uint64_t counter)
{
	memset(iv, 0, 4);
	for (int i = 0; i < 8; i++)
		iv[4 + i] = (uint8_t)(counter >> (8 * i));
}

/* One AEAD operation with libcrypto's ChaCha20-Poly1305 (RFC 8439). cipher
 * is given for a new context only; key is NULL when the context has it. Key
 * and nonce go in one init call: each init asks the provider the key and IV
 * lengths through parameter lookups, which cost as much as sealing a small
 * packet. */
static int aead(EVP_CIPHER_CTX *c, bool enc, const EVP_CIPHER *cipher, const uint8_t *key,
		const uint8_t iv[12], uint8_t *out, const uint8_t *in, size_t len,
		const uint8_t *aad, size_t aadlen)
{
	int n = 0, ok;
	uint8_t tag[WGP_TAG_LEN];

	if (len > (size_t)INT32_MAX)
		return -EINVAL;
	ok = EVP_CipherInit_ex(c, cipher, NULL, key, iv, enc);
	if (!ok)
		return -EIO;
	if (aadlen && !EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen))
		return -EIO;
	if (enc) {
		if (len && !EVP_CipherUpdate(c, out, &n, in, (int)len))
			return -EIO;
		if (!EVP_CipherFinal_ex(c, out + len, &n) ||
		    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, WGP_TAG_LEN, out + len))
			return -EIO;
		return 0;
	}
	memcpy(tag, in + len, WGP_TAG_LEN);
	if (len && !EVP_CipherUpdate(c, out, &n, in, (int)len))
		return -EIO;
	if (!EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, WGP_TAG_LEN, tag))
		return -EIO;
	if (!EVP_CipherFinal_ex(c, out + len, &n)) {
		wgp_wipe(out, len);
		return -EBADMSG;
	}
	return 0;
}

static int aead_once(bool enc, const uint8_t key[32], const uint8_t iv[12], uint8_t *out,
		     const uint8_t *in, size_t len, const uint8_t *aad, size_t aadlen)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int ret;

	if (!c)
		return -ENOMEM;
	ret = aead(c, enc, EVP_chacha20_poly1305(), key, iv, out, in, len, aad, aadlen);
	EVP_CIPHER_CTX_free(c);
	return ret;
}

int wgp_aead_seal(uint8_t *out, const uint8_t key[WGP_KEY_LEN], uint64_t counter, const uint8_t *in,
		  size_t len, const uint8_t *aad, size_t aadlen)
{
	uint8_t iv[12];

	nonce96(iv, counter);
	return aead_once(true, key, iv, out, in, len, aad, aadlen);
}

int wgp_aead_open(uint8_t *out, const uint8_t key[WGP_KEY_LEN], uint64_t counter, const uint8_t *in,
		  size_t len, const uint8_t *aad, size_t aadlen)
{
	uint8_t iv[12];

	if (len < WGP_TAG_LEN)
		return -EINVAL;
	nonce96(iv, counter);
	return aead_once(false, key, iv, out, in, len - WGP_TAG_LEN, aad, aadlen);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* A ChaCha20 keystream block is the permuted state plus the initial state
 * (RFC 8439 2.3); HChaCha20 is the permuted state's words 0-3 and 12-15
 * without that addition. libcrypto's EVP_chacha20 takes exactly words 12-15
 * as its 16-byte IV (block counter, then nonce), so one block of keystream
 * minus the known words gives HChaCha20 with libcrypto's rounds. */
int wgp_hchacha20(uint8_t out[32], const uint8_t key[32], const uint8_t nonce[16])
{
	static const uint32_t sigma[4] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};
	uint8_t zero[64] = {0}, ks[64];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok;

	if (!c)
		return -ENOMEM;
	ok = EVP_EncryptInit_ex(c, EVP_chacha20(), NULL, key, nonce) &&
	     EVP_EncryptUpdate(c, ks, &n, zero, sizeof(zero)) && n == 64;
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		wgp_wipe(ks, sizeof(ks));
		return -EIO;
	}
	for (int i = 0; i < 4; i++) {
		put_le32(out + 4 * i, le32(ks + 4 * i) - sigma[i]);
		put_le32(out + 16 + 4 * i, le32(ks + 48 + 4 * i) - le32(nonce + 4 * i));
	}
	wgp_wipe(ks, sizeof(ks));
	return 0;
}

static int xaead(bool enc, uint8_t *out, const uint8_t key[32], const uint8_t nonce[WGP_XNONCE_LEN],
		 const uint8_t *in, size_t len, const uint8_t *aad, size_t aadlen)
{
	uint8_t sub[32], iv[12] = {0};
	int ret;

	ret = wgp_hchacha20(sub, key, nonce);
	if (ret < 0)
		return ret;
	memcpy(iv + 4, nonce + 16, 8);
	ret = aead_once(enc, sub, iv, out, in, len, aad, aadlen);
	wgp_wipe(sub, sizeof(sub));
	return ret;
}

int wgp_xaead_seal(uint8_t *out, const uint8_t key[32], const uint8_t nonce[WGP_XNONCE_LEN],
		   const uint8_t *in, size_t len, const uint8_t *aad, size_t aadlen)
{
	return xaead(true, out, key, nonce, in, len, aad, aadlen);
}

int wgp_xaead_open(uint8_t *out, const uint8_t key[32], const uint8_t nonce[WGP_XNONCE_LEN],
		   const uint8_t *in, size_t len, const uint8_t *aad, size_t aadlen)
{
	if (len < WGP_TAG_LEN)
		return -EINVAL;
	return xaead(false, out, key, nonce, in, len - WGP_TAG_LEN, aad, aadlen);
}

int wgp_dh(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[32])
{
	EVP_PKEY *sk = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, 32);
	EVP_PKEY_CTX *c = NULL;
	size_t n = 32;
	static const uint8_t zero[32];
	int ret = -EIO;

	if (!sk || !pk)
		goto out;
	c = EVP_PKEY_CTX_new(sk, NULL);
	/* libcrypto itself fails the derivation on an all-zero result. */
	if (!c || EVP_PKEY_derive_init(c) <= 0 || EVP_PKEY_derive_set_peer(c, pk) <= 0) {
		ret = -EIO;
		goto out;
	}
	if (EVP_PKEY_derive(c, out, &n) <= 0 || n != 32) {
		ret = -EINVAL;
		goto out;
	}
	ret = wgp_equal(out, zero, 32) ? -EINVAL : 0;
out:
	if (ret < 0)
		wgp_wipe(out, 32);
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(pk);
	return ret;
}

int wgp_pubkey(uint8_t pub[32], const uint8_t priv[32])
{
	EVP_PKEY *sk = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	size_t n = 32;
	int ok;

	if (!sk)
		return -EIO;
	ok = EVP_PKEY_get_raw_public_key(sk, pub, &n) && n == 32;
	EVP_PKEY_free(sk);
	return ok ? 0 : -EIO;
}

int wgp_random(void *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -EIO;
}

int wgp_genkey(uint8_t priv[32])
{
	if (wgp_random(priv, 32) < 0)
		return -EIO;
	priv[0] &= 248;
	priv[31] = (priv[31] & 127) | 64;
	return 0;
}

void wgp_tai64n(uint8_t out[WGP_TAI64N_LEN], int64_t sec, long nsec)
{
	uint64_t s = 0x400000000000000aULL + (uint64_t)sec;

	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(s >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)((uint32_t)nsec >> (24 - 8 * i));
}

void wgp_wipe(void *p, size_t n)
{
	if (p && n)
		OPENSSL_cleanse(p, n);
}

bool wgp_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

struct wgp_aead_ctx {
	EVP_CIPHER_CTX *c;
	bool enc;
};

struct wgp_aead_ctx *wgp_aead_ctx_new(const uint8_t key[WGP_KEY_LEN], bool encrypt)
{
	struct wgp_aead_ctx *a = calloc(1, sizeof(*a));
	uint8_t iv[12] = {0};

	if (!a)
		return NULL;
	a->enc = encrypt;
	a->c = EVP_CIPHER_CTX_new();
	if (!a->c || !EVP_CipherInit_ex(a->c, EVP_chacha20_poly1305(), NULL, key, iv, encrypt)) {
		EVP_CIPHER_CTX_free(a->c);
		free(a);
		return NULL;
	}
	return a;
}

void wgp_aead_ctx_free(struct wgp_aead_ctx *a)
{
	if (!a)
		return;
	EVP_CIPHER_CTX_free(a->c); /* libcrypto cleanses the key schedule */
	free(a);
}

int wgp_aead_ctx_seal(struct wgp_aead_ctx *a, uint64_t counter, uint8_t *out, const uint8_t *in,
		      size_t len)
{
	uint8_t iv[12];

	nonce96(iv, counter);
	return aead(a->c, true, NULL, NULL, iv, out, in, len, NULL, 0);
}

int wgp_aead_ctx_open(struct wgp_aead_ctx *a, uint64_t counter, uint8_t *out, const uint8_t *in,
		      size_t len)
{
	uint8_t iv[12];

	if (len < WGP_TAG_LEN)
		return -EINVAL;
	nonce96(iv, counter);
	return aead(a->c, false, NULL, NULL, iv, out, in, len - WGP_TAG_LEN, NULL, 0);
}

/* A lane: a context that takes the key with each call (ChaCha20 has no key
 * schedule, so that costs a copy), one per thread that encrypts. */
struct wgp_aead_ctx *wgp_aead_lane_new(void)
{
	struct wgp_aead_ctx *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->c = EVP_CIPHER_CTX_new();
	if (!a->c || !EVP_CipherInit_ex(a->c, EVP_chacha20_poly1305(), NULL, NULL, NULL, 1)) {
		EVP_CIPHER_CTX_free(a->c);
		free(a);
		return NULL;
	}
	return a;
}

int wgp_aead_lane_seal(struct wgp_aead_ctx *a, const uint8_t key[WGP_KEY_LEN], uint64_t counter,
		       uint8_t *out, const uint8_t *in, size_t len)
{
	uint8_t iv[12];

	nonce96(iv, counter);
	return aead(a->c, true, NULL, key, iv, out, in, len, NULL, 0);
}

int wgp_aead_lane_open(struct wgp_aead_ctx *a, const uint8_t key[WGP_KEY_LEN], uint64_t counter,
		       uint8_t *out, const uint8_t *in, size_t len)
{
	uint8_t iv[12];

	if (len < WGP_TAG_LEN)
		return -EINVAL;
	nonce96(iv, counter);
	return aead(a->c, false, NULL, key, iv, out, in, len - WGP_TAG_LEN, NULL, 0);
}
