/* Noise XX and the libp2p handshake payload (see noise.h). */
#include "p2p/noise.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define PROTOCOL_NAME "Noise_XX_25519_ChaChaPoly_SHA256"
#define SIG_PREFIX "noise-libp2p-static-key:"

/* The context keyed with cs->k for mode (1 encrypt, 2 decrypt), the nonce
 * set to cs->n: made once, keyed again only when the key or mode changed
 * (the handshake uses one state both ways). */
static EVP_CIPHER_CTX *cs_ctx(struct wm_noise_cs *cs, int mode)
{
	uint8_t iv[12] = {0};
	EVP_CIPHER_CTX *c = cs->ctx;

	for (int i = 0; i < 8; i++)
		iv[4 + i] = (uint8_t)(cs->n >> (8 * i));
	if (!c && !(c = cs->ctx = EVP_CIPHER_CTX_new()))
		return NULL;
	if (cs->ctx_mode != mode) {
		cs->ctx_mode = 0;
		if (EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, cs->k, iv, mode == 1) != 1)
			return NULL;
		cs->ctx_mode = mode;
		return c;
	}
	/* Same key: a new nonce restarts ChaCha20 and Poly1305. */
	return EVP_CipherInit_ex(c, NULL, NULL, NULL, iv, mode == 1) == 1 ? c : NULL;
}

static int seal(struct wm_noise_cs *cs, const uint8_t *ad, size_t adlen, const uint8_t *a,
		size_t alen, const uint8_t *b, size_t blen, uint8_t *out)
{
	int n, ok;

	if (!cs->has_key) {
		if (alen) /* an empty payload may come as NULL */
			memmove(out, a, alen);
		if (blen)
			memmove(out + alen, b, blen);
		return 0;
	}
	/* n = 2^64-1 is reserved (rekey): the spec stops before it. */
	if (cs->n == UINT64_MAX || alen > INT32_MAX || blen > INT32_MAX - alen)
		return -EOVERFLOW;
	EVP_CIPHER_CTX *c = cs_ctx(cs, 1);
	ok = c && (adlen == 0 || EVP_EncryptUpdate(c, NULL, &n, ad, (int)adlen) == 1) &&
	     (alen == 0 || EVP_EncryptUpdate(c, out, &n, a, (int)alen) == 1) &&
	     (blen == 0 || EVP_EncryptUpdate(c, out + alen, &n, b, (int)blen) == 1) &&
	     EVP_EncryptFinal_ex(c, out + alen + blen, &n) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, WM_NOISE_TAG, out + alen + blen) == 1;
	if (!ok) {
		cs->ctx_mode = 0; /* key it afresh next time */
		return -EIO;
	}
	cs->n++;
	return 0;
}

int wm_noise_encrypt(struct wm_noise_cs *cs, const uint8_t *ad, size_t adlen, const uint8_t *in,
		     size_t len, uint8_t *out)
{
	return seal(cs, ad, adlen, in, len, NULL, 0, out);
}

int wm_noise_encrypt2(struct wm_noise_cs *cs, const uint8_t *a, size_t alen, const uint8_t *b,
		      size_t blen, uint8_t *out)
{
	return seal(cs, NULL, 0, a, alen, b, blen, out);
}

int wm_noise_decrypt(struct wm_noise_cs *cs, const uint8_t *ad, size_t adlen, const uint8_t *in,
		     size_t len, uint8_t *out)
{
	uint8_t tag[WM_NOISE_TAG];
	int n, ok;

	if (!cs->has_key) {
		if (len) /* an empty payload may come as NULL */
			memmove(out, in, len);
		return 0;
	}
	if (len < WM_NOISE_TAG || len > INT32_MAX)
		return -EBADMSG;
	if (cs->n == UINT64_MAX)
		return -EOVERFLOW;
	len -= WM_NOISE_TAG;
	memcpy(tag, in + len, WM_NOISE_TAG);
	EVP_CIPHER_CTX *c = cs_ctx(cs, 2);
	ok = c && (adlen == 0 || EVP_DecryptUpdate(c, NULL, &n, ad, (int)adlen) == 1) &&
	     (len == 0 || EVP_DecryptUpdate(c, out, &n, in, (int)len) == 1) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, WM_NOISE_TAG, tag) == 1 &&
	     EVP_DecryptFinal_ex(c, out + len, &n) == 1;
	if (!ok) {
		cs->ctx_mode = 0; /* key it afresh next time */
		OPENSSL_cleanse(out, len);
		return -EBADMSG;
	}
	cs->n++;
	return 0;
}

void wm_noise_cs_free(struct wm_noise_cs *cs)
{
	EVP_CIPHER_CTX_free(cs->ctx); /* cleanses the key schedule */
	OPENSSL_cleanse(cs, sizeof(*cs));
}

static int dh(const uint8_t priv[32], const uint8_t pub[32], uint8_t out[32])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	EVP_PKEY *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, 32);
	EVP_PKEY_CTX *c = k ? EVP_PKEY_CTX_new(k, NULL) : NULL;
	size_t len = 32;
	/* OpenSSL refuses an all-zero result (a low-order point from the
	 * peer): that fails the handshake, as it should. */
	int ok = c && p && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c, p) == 1 &&
		 EVP_PKEY_derive(c, out, &len) == 1 && len == 32;

	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(p);
	EVP_PKEY_free(k);
	return ok ? 0 : -EBADMSG;
}

static void hmac(const uint8_t key[32], const uint8_t *a, size_t alen, const uint8_t *b,
		 size_t blen, uint8_t out[32])
{
	uint8_t buf[32 + 33];
	unsigned int len = 32;

	/* Inputs here are at most 32 + 33 bytes (HKDF's T(i-1) || i, or ikm). */
	if (alen) /* Split's HKDF has no input key material: NULL */
		memcpy(buf, a, alen);
	if (blen)
		memcpy(buf + alen, b, blen);
	HMAC(EVP_sha256(), key, 32, buf, alen + blen, out, &len);
	OPENSSL_cleanse(buf, sizeof(buf));
}

/* HKDF as Noise section 4.3: two outputs. */
static void hkdf2(const uint8_t ck[32], const uint8_t *ikm, size_t ikmlen, uint8_t o1[32],
		  uint8_t o2[32])
{
	uint8_t temp[32], one = 1, t2[33];

	hmac(ck, ikm, ikmlen, NULL, 0, temp);
	hmac(temp, &one, 1, NULL, 0, o1);
	memcpy(t2, o1, 32);
	t2[32] = 2;
	hmac(temp, t2, 33, NULL, 0, o2);
	OPENSSL_cleanse(temp, sizeof(temp));
	OPENSSL_cleanse(t2, sizeof(t2));
}

static void mix_hash(struct wm_noise_hs *hs, const uint8_t *d, size_t len)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = 32;

	/* Allocation failure leaves h unchanged: the peer's next MAC fails. */
	if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(c, hs->h, 32) == 1 && EVP_DigestUpdate(c, d, len) == 1)
		EVP_DigestFinal_ex(c, hs->h, &n);
	EVP_MD_CTX_free(c);
}

static int mix_key(struct wm_noise_hs *hs, const uint8_t priv[32], const uint8_t pub[32])
{
	uint8_t shared[32];
	int rc = dh(priv, pub, shared);

	if (rc)
		return rc;
	hkdf2(hs->ck, shared, 32, hs->ck, hs->cs.k);
	hs->cs.n = 0;
	hs->cs.has_key = true;
	hs->cs.ctx_mode = 0; /* a new key */
	OPENSSL_cleanse(shared, sizeof(shared));
	return 0;
}

/* EncryptAndHash into out: len (+16 once there is a key) bytes. */
static int enc_hash(struct wm_noise_hs *hs, const uint8_t *in, size_t len, uint8_t *out)
{
	int rc = wm_noise_encrypt(&hs->cs, hs->h, 32, in, len, out);

	if (rc)
		return rc;
	mix_hash(hs, out, len + (hs->cs.has_key ? WM_NOISE_TAG : 0));
	return 0;
}

/* DecryptAndHash: in and out never overlap here. */
static int dec_hash(struct wm_noise_hs *hs, const uint8_t *in, size_t len, uint8_t *out)
{
	int rc = wm_noise_decrypt(&hs->cs, hs->h, 32, in, len, out);

	if (!rc)
		mix_hash(hs, in, len);
	return rc;
}

int wm_noise_hs_init(struct wm_noise_hs *hs, bool initiator, const uint8_t s_priv[32],
		     const uint8_t e_priv[32], const uint8_t *prologue, size_t plen)
{
	memset(hs, 0, sizeof(*hs));
	hs->initiator = initiator;
	/* The name is exactly HASHLEN bytes: h is the name itself. */
	memcpy(hs->h, PROTOCOL_NAME, 32);
	memcpy(hs->ck, hs->h, 32);
	mix_hash(hs, prologue, plen);
	memcpy(hs->s, s_priv, 32);
	memcpy(hs->e, e_priv, 32);
	if (wm_x25519_public(hs->s, hs->s_pub) || wm_x25519_public(hs->e, hs->e_pub)) {
		wm_noise_hs_wipe(hs);
		return -EINVAL;
	}
	return 0;
}

bool wm_noise_hs_done(const struct wm_noise_hs *hs)
{
	return hs->step == 3;
}

static bool my_turn(const struct wm_noise_hs *hs)
{
	return hs->step < 3 && (hs->step % 2 == 0) == hs->initiator;
}

int wm_noise_hs_write(struct wm_noise_hs *hs, const uint8_t *payload, size_t plen, uint8_t *out,
		      size_t cap)
{
	size_t off = 0;
	int rc = 0;

	if (!my_turn(hs))
		return -EPROTO;
	/* Message 1: e and the payload in clear; 2: e, s and payload sealed;
	 * 3: s and payload sealed. */
	static const size_t fixed[3] = {32, 32 + 48 + WM_NOISE_TAG, 48 + WM_NOISE_TAG};
	if (plen > WM_NOISE_PLAIN_MAX || cap < fixed[hs->step] + plen)
		return -ENOSPC;
	switch (hs->step) {
	case 0: /* -> e */
		memcpy(out, hs->e_pub, 32);
		mix_hash(hs, hs->e_pub, 32);
		off = 32;
		break;
	case 1: /* <- e, ee, s, es */
		memcpy(out, hs->e_pub, 32);
		mix_hash(hs, hs->e_pub, 32);
		off = 32;
		rc = mix_key(hs, hs->e, hs->re);
		if (!rc)
			rc = enc_hash(hs, hs->s_pub, 32, out + off);
		off += 48;
		if (!rc)
			rc = mix_key(hs, hs->s, hs->re);
		break;
	case 2: /* -> s, se */
		rc = enc_hash(hs, hs->s_pub, 32, out);
		off = 48;
		if (!rc)
			rc = mix_key(hs, hs->s, hs->re);
		break;
	}
	if (!rc)
		rc = enc_hash(hs, payload, plen, out + off);
	if (rc)
		return rc;
	off += plen + (hs->cs.has_key ? WM_NOISE_TAG : 0);
	hs->step++;
	return (int)off;
}

int wm_noise_hs_read(struct wm_noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload,
		     size_t cap)
{
	size_t off = 0;
	int rc = 0;

	if (hs->step >= 3 || my_turn(hs))
		return -EPROTO;
	switch (hs->step) {
	case 0:
		if (len < 32)
			return -EBADMSG;
		memcpy(hs->re, msg, 32);
		mix_hash(hs, hs->re, 32);
		off = 32;
		break;
	case 1:
		if (len < 32 + 48 + WM_NOISE_TAG)
			return -EBADMSG;
		memcpy(hs->re, msg, 32);
		mix_hash(hs, hs->re, 32);
		off = 32;
		rc = mix_key(hs, hs->e, hs->re);
		if (!rc)
			rc = dec_hash(hs, msg + off, 48, hs->rs);
		off += 48;
		if (!rc)
			rc = mix_key(hs, hs->e, hs->rs);
		break;
	case 2:
		if (len < 48 + WM_NOISE_TAG)
			return -EBADMSG;
		rc = dec_hash(hs, msg, 48, hs->rs);
		off = 48;
		if (!rc)
			rc = mix_key(hs, hs->e, hs->rs);
		break;
	}
	if (rc)
		return rc == -EBADMSG ? rc : -EBADMSG;
	size_t clen = len - off;
	size_t plen = hs->cs.has_key ? clen - WM_NOISE_TAG : clen;
	if (hs->cs.has_key && clen < WM_NOISE_TAG)
		return -EBADMSG;
	if (plen > cap)
		return -ENOSPC;
	rc = dec_hash(hs, msg + off, clen, payload);
	if (rc)
		return -EBADMSG;
	hs->step++;
	return (int)plen;
}

void wm_noise_hs_split(struct wm_noise_hs *hs, struct wm_noise_cs *send, struct wm_noise_cs *recv)
{
	uint8_t k1[32], k2[32];

	hkdf2(hs->ck, NULL, 0, k1, k2);
	memset(send, 0, sizeof(*send));
	memset(recv, 0, sizeof(*recv));
	memcpy(send->k, hs->initiator ? k1 : k2, 32);
	memcpy(recv->k, hs->initiator ? k2 : k1, 32);
	send->has_key = recv->has_key = true;
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
}

void wm_noise_hs_wipe(struct wm_noise_hs *hs)
{
	EVP_CIPHER_CTX_free(hs->cs.ctx);
	OPENSSL_cleanse(hs, sizeof(*hs));
}

static void sig_msg(const uint8_t static_pub[32], uint8_t out[sizeof(SIG_PREFIX) - 1 + 32])
{
	memcpy(out, SIG_PREFIX, sizeof(SIG_PREFIX) - 1);
	memcpy(out + sizeof(SIG_PREFIX) - 1, static_pub, 32);
}

int wm_p2p_noise_payload(const uint8_t id_seed[32], const uint8_t static_pub[32], uint8_t *out,
			 size_t cap)
{
	uint8_t pk[32], pkpb[WM_PUBKEY_PB_LEN], sig[64], m[sizeof(SIG_PREFIX) - 1 + 32];
	size_t off = 0;
	int rc = wm_ed25519_public(id_seed, pk);

	if (rc)
		return -EIO;
	sig_msg(static_pub, m);
	if (wm_ed25519_sign(id_seed, m, sizeof(m), sig))
		return -EIO;
	wm_p2p_pubkey_encode(pk, pkpb);
	/* identity_key = 1, identity_sig = 2; no extensions: the muxer is
	 * chosen by multistream-select afterwards. */
	rc = wm_pb_put_bytes(out, cap, &off, 1, pkpb, sizeof(pkpb));
	if (!rc)
		rc = wm_pb_put_bytes(out, cap, &off, 2, sig, sizeof(sig));
	return rc ? rc : (int)off;
}

int wm_p2p_noise_payload_verify(const uint8_t *buf, size_t len, const uint8_t remote_static[32],
				struct wm_peer_id *id)
{
	struct wm_pb_reader r = {buf, len};
	struct wm_pb_field f;
	const uint8_t *key = NULL, *sig = NULL;
	size_t keylen = 0, siglen = 0;
	uint8_t pk[32], m[sizeof(SIG_PREFIX) - 1 + 32];
	int rc;

	while ((rc = wm_pb_next(&r, &f)) > 0) {
		if (f.num == 1 && f.type == 2) {
			key = f.buf;
			keylen = f.len;
		} else if (f.num == 2 && f.type == 2) {
			sig = f.buf;
			siglen = f.len;
		} else if ((f.num == 1 || f.num == 2 || f.num == 4) && f.type != 2) {
			return -EBADMSG;
		}
		/* extensions (4) and later fields: nothing we use */
	}
	if (rc < 0 || !key || !sig)
		return -EBADMSG;
	rc = wm_p2p_pubkey_decode(key, keylen, pk);
	if (rc)
		return rc;
	if (siglen != 64)
		return -EACCES;
	sig_msg(remote_static, m);
	if (wm_ed25519_verify(pk, m, sizeof(m), sig))
		return -EACCES;
	wm_peer_id_from_pubkey(pk, id);
	return 0;
}
