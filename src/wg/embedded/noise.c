/* The Noise IKpsk2 handshake of WireGuard (see noise.h; whitepaper 5.4). */
#include "wg/embedded/noise.h"

#include <errno.h>
#include <string.h>

static const char construction[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
static const char identifier[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";
static const char label_mac1[] = "mac1----";
static const char label_cookie[] = "cookie--";

/* Initiations closer together than this are dropped: the whitepaper's
 * flood protection (at most 50 per second and peer). */
#define INITIATION_MIN_INTERVAL_NS (1000000000LL / 50)

void wgn_initial(uint8_t chaining_key[32], uint8_t hash[32])
{
	/* Cannot fail with a working libcrypto; a failure leaves zeros, with
	 * which no handshake can succeed with a real peer. */
	if (wgp_hash2(chaining_key, construction, strlen(construction), NULL, 0) < 0 ||
	    wgp_hash2(hash, chaining_key, 32, identifier, strlen(identifier)) < 0) {
		memset(chaining_key, 0, 32);
		memset(hash, 0, 32);
	}
}

static int mix_hash(uint8_t h[32], const void *data, size_t len)
{
	return wgp_hash2(h, h, 32, data, len);
}

int wgn_static_set(struct wgn_static *s, const uint8_t priv[32])
{
	int ret;

	wgn_static_clear(s);
	if (!priv)
		return 0;
	memcpy(s->priv, priv, 32);
	s->priv[0] &= 248;
	s->priv[31] = (s->priv[31] & 127) | 64;
	ret = wgp_pubkey(s->pub, s->priv);
	if (ret == 0)
		ret = wgp_hash2(s->mac1_key, label_mac1, 8, s->pub, 32);
	if (ret == 0)
		ret = wgp_hash2(s->cookie_key, label_cookie, 8, s->pub, 32);
	if (ret < 0) {
		wgn_static_clear(s);
		return ret;
	}
	s->has_key = true;
	return 0;
}

void wgn_static_clear(struct wgn_static *s)
{
	wgp_wipe(s, sizeof(*s));
}

int wgn_handshake_init(struct wgn_handshake *hs, const struct wgn_static *s,
		       const uint8_t remote_static[32], const uint8_t *psk)
{
	bool same = memcmp(hs->remote_static, remote_static, 32) == 0;
	uint8_t ts[WGP_TAI64N_LEN];
	int64_t last = hs->last_initiation_consumed_ns;
	int ret;

	memcpy(ts, hs->latest_timestamp, sizeof(ts));
	wgn_handshake_clear(hs);
	if (same) {
		memcpy(hs->latest_timestamp, ts, sizeof(ts));
		hs->last_initiation_consumed_ns = last;
	}
	memcpy(hs->remote_static, remote_static, 32);
	if (psk)
		memcpy(hs->psk, psk, 32);
	ret = wgp_hash2(hs->remote_mac1_key, label_mac1, 8, remote_static, 32);
	if (ret == 0)
		ret = wgp_hash2(hs->remote_cookie_key, label_cookie, 8, remote_static, 32);
	if (ret < 0)
		return ret;
	/* A peer whose key makes the DH zero (a small-order point) can never
	 * complete a handshake; it stays configured but inert, as in the kernel. */
	hs->ss_ok = s->has_key && wgp_dh(hs->precomputed_ss, s->priv, remote_static) == 0;
	return 0;
}

void wgn_handshake_reset(struct wgn_handshake *hs)
{
	hs->state = WGN_ZEROED;
	wgp_wipe(hs->hash, sizeof(hs->hash));
	wgp_wipe(hs->chaining_key, sizeof(hs->chaining_key));
	wgp_wipe(hs->ephemeral_priv, sizeof(hs->ephemeral_priv));
	wgp_wipe(hs->remote_ephemeral, sizeof(hs->remote_ephemeral));
	hs->local_index = 0;
	hs->remote_index = 0;
}

void wgn_handshake_clear(struct wgn_handshake *hs)
{
	wgp_wipe(hs, sizeof(*hs));
}

/* ck, k = KDF2(ck, DH(priv, pub)) */
static int mix_dh(uint8_t ck[32], uint8_t *k, const uint8_t priv[32], const uint8_t pub[32])
{
	uint8_t dh[32];
	int ret = wgp_dh(dh, priv, pub);

	if (ret == 0)
		ret = wgp_kdf(ck, dh, 32, ck, k, NULL);
	wgp_wipe(dh, sizeof(dh));
	return ret;
}

int wgn_create_initiation(struct wgn_handshake *hs, const struct wgn_static *s,
			  uint32_t local_index, int64_t now_sec, long now_nsec,
			  const uint8_t *ephemeral_priv, struct wgm_initiation *msg)
{
	uint8_t ck[32], h[32], k[32], tai[WGP_TAI64N_LEN];
	int ret;

	if (!s->has_key || !hs->ss_ok)
		return -EINVAL;
	wgn_handshake_reset(hs);
	memset(msg, 0, sizeof(*msg));
	msg->type[0] = WGM_INITIATION;
	wgm_put32(msg->sender, local_index);
	wgn_initial(ck, h);
	ret = mix_hash(h, hs->remote_static, 32);
	if (ret)
		goto out;
	if (ephemeral_priv)
		memcpy(hs->ephemeral_priv, ephemeral_priv, 32);
	else if ((ret = wgp_genkey(hs->ephemeral_priv)) < 0)
		goto out;
	ret = wgp_pubkey(msg->ephemeral, hs->ephemeral_priv);
	if (!ret)
		ret = wgp_kdf(ck, msg->ephemeral, 32, ck, NULL, NULL);
	if (!ret)
		ret = mix_hash(h, msg->ephemeral, 32);
	if (!ret)
		ret = mix_dh(ck, k, hs->ephemeral_priv, hs->remote_static);
	if (!ret)
		ret = wgp_aead_seal(msg->encrypted_static, k, 0, s->pub, 32, h, 32);
	if (!ret)
		ret = mix_hash(h, msg->encrypted_static, sizeof(msg->encrypted_static));
	if (!ret)
		ret = wgp_kdf(ck, hs->precomputed_ss, 32, ck, k, NULL);
	wgp_tai64n(tai, now_sec, now_nsec);
	if (!ret)
		ret = wgp_aead_seal(msg->encrypted_timestamp, k, 0, tai, sizeof(tai), h, 32);
	if (!ret)
		ret = mix_hash(h, msg->encrypted_timestamp, sizeof(msg->encrypted_timestamp));
	if (ret)
		goto out;
	memcpy(hs->hash, h, 32);
	memcpy(hs->chaining_key, ck, 32);
	hs->local_index = local_index;
	hs->state = WGN_CREATED_INITIATION;
out:
	if (ret)
		wgn_handshake_reset(hs);
	wgp_wipe(ck, sizeof(ck));
	wgp_wipe(h, sizeof(h));
	wgp_wipe(k, sizeof(k));
	return ret;
}

int wgn_consume_initiation(const struct wgn_static *s, const struct wgm_initiation *msg,
			   wgn_lookup_fn lookup, void *ctx, int64_t now_ns,
			   struct wgn_handshake **out)
{
	uint8_t ck[32], h[32], k[32], remote_static[32], tai[WGP_TAI64N_LEN];
	struct wgn_handshake *hs = NULL;
	bool flood;
	int ret;

	*out = NULL;
	if (!s->has_key)
		return -EINVAL;
	wgn_initial(ck, h);
	ret = mix_hash(h, s->pub, 32);
	if (!ret)
		ret = wgp_kdf(ck, msg->ephemeral, 32, ck, NULL, NULL);
	if (!ret)
		ret = mix_hash(h, msg->ephemeral, 32);
	if (!ret)
		ret = mix_dh(ck, k, s->priv, msg->ephemeral);
	if (ret)
		goto out;
	if (wgp_aead_open(remote_static, k, 0, msg->encrypted_static, sizeof(msg->encrypted_static),
			  h, 32) < 0) {
		ret = -EBADMSG;
		goto out;
	}
	ret = mix_hash(h, msg->encrypted_static, sizeof(msg->encrypted_static));
	if (ret)
		goto out;
	hs = lookup(ctx, remote_static);
	if (!hs) {
		ret = -ENOENT;
		goto out;
	}
	if (!hs->ss_ok) {
		ret = -EINVAL;
		goto out;
	}
	ret = wgp_kdf(ck, hs->precomputed_ss, 32, ck, k, NULL);
	if (ret)
		goto out;
	if (wgp_aead_open(tai, k, 0, msg->encrypted_timestamp, sizeof(msg->encrypted_timestamp), h,
			  32) < 0) {
		ret = -EBADMSG;
		goto out;
	}
	ret = mix_hash(h, msg->encrypted_timestamp, sizeof(msg->encrypted_timestamp));
	if (ret)
		goto out;
	flood = hs->last_initiation_consumed_ns &&
		now_ns - hs->last_initiation_consumed_ns < INITIATION_MIN_INTERVAL_NS;
	if (memcmp(tai, hs->latest_timestamp, sizeof(tai)) <= 0 || flood) {
		ret = -EALREADY;
		goto out;
	}
	wgn_handshake_reset(hs);
	memcpy(hs->latest_timestamp, tai, sizeof(tai));
	hs->last_initiation_consumed_ns = now_ns;
	memcpy(hs->hash, h, 32);
	memcpy(hs->chaining_key, ck, 32);
	memcpy(hs->remote_ephemeral, msg->ephemeral, 32);
	hs->remote_index = wgm_get32(msg->sender);
	hs->state = WGN_CONSUMED_INITIATION;
	*out = hs;
out:
	wgp_wipe(ck, sizeof(ck));
	wgp_wipe(h, sizeof(h));
	wgp_wipe(k, sizeof(k));
	wgp_wipe(remote_static, sizeof(remote_static));
	return ret;
}

/* The part both sides share after the ephemeral keys are known: the
 * ee and se DHs (given as computed by the caller's side), the psk, and the
 * empty payload's hash. */
static int mix_psk(struct wgn_handshake *hs, uint8_t ck[32], uint8_t h[32], uint8_t k[32])
{
	uint8_t t[32];
	int ret = wgp_kdf(ck, hs->psk, 32, ck, t, k);

	if (!ret)
		ret = mix_hash(h, t, 32);
	wgp_wipe(t, sizeof(t));
	return ret;
}

int wgn_create_response(struct wgn_handshake *hs, const struct wgn_static *s, uint32_t local_index,
			const uint8_t *ephemeral_priv, struct wgm_response *msg)
{
	uint8_t ck[32], h[32], k[32];
	int ret;

	if (hs->state != WGN_CONSUMED_INITIATION || !s->has_key)
		return -EINVAL;
	memcpy(ck, hs->chaining_key, 32);
	memcpy(h, hs->hash, 32);
	memset(msg, 0, sizeof(*msg));
	msg->type[0] = WGM_RESPONSE;
	wgm_put32(msg->sender, local_index);
	wgm_put32(msg->receiver, hs->remote_index);
	if (ephemeral_priv)
		memcpy(hs->ephemeral_priv, ephemeral_priv, 32);
	else if ((ret = wgp_genkey(hs->ephemeral_priv)) < 0)
		goto out;
	ret = wgp_pubkey(msg->ephemeral, hs->ephemeral_priv);
	if (!ret)
		ret = wgp_kdf(ck, msg->ephemeral, 32, ck, NULL, NULL);
	if (!ret)
		ret = mix_hash(h, msg->ephemeral, 32);
	if (!ret)
		ret = mix_dh(ck, NULL, hs->ephemeral_priv, hs->remote_ephemeral);
	if (!ret)
		ret = mix_dh(ck, NULL, hs->ephemeral_priv, hs->remote_static);
	if (!ret)
		ret = mix_psk(hs, ck, h, k);
	if (!ret)
		ret = wgp_aead_seal(msg->encrypted_nothing, k, 0, NULL, 0, h, 32);
	if (!ret)
		ret = mix_hash(h, msg->encrypted_nothing, sizeof(msg->encrypted_nothing));
	if (ret)
		goto out;
	memcpy(hs->chaining_key, ck, 32);
	memcpy(hs->hash, h, 32);
	hs->local_index = local_index;
	hs->state = WGN_CREATED_RESPONSE;
out:
	if (ret)
		wgn_handshake_reset(hs);
	wgp_wipe(ck, sizeof(ck));
	wgp_wipe(h, sizeof(h));
	wgp_wipe(k, sizeof(k));
	return ret;
}

int wgn_consume_response(struct wgn_handshake *hs, const struct wgn_static *s,
			 const struct wgm_response *msg)
{
	uint8_t ck[32], h[32], k[32], empty[1];
	int ret;

	if (hs->state != WGN_CREATED_INITIATION || !s->has_key)
		return -EINVAL;
	memcpy(ck, hs->chaining_key, 32);
	memcpy(h, hs->hash, 32);
	ret = wgp_kdf(ck, msg->ephemeral, 32, ck, NULL, NULL);
	if (!ret)
		ret = mix_hash(h, msg->ephemeral, 32);
	if (!ret)
		ret = mix_dh(ck, NULL, hs->ephemeral_priv, msg->ephemeral);
	if (!ret)
		ret = mix_dh(ck, NULL, s->priv, msg->ephemeral);
	if (!ret)
		ret = mix_psk(hs, ck, h, k);
	if (ret) {
		/* A bad ephemeral (small order) is a bad message, not our failure. */
		ret = -EBADMSG;
		goto out;
	}
	if (wgp_aead_open(empty, k, 0, msg->encrypted_nothing, sizeof(msg->encrypted_nothing), h,
			  32) < 0) {
		ret = -EBADMSG;
		goto out;
	}
	ret = mix_hash(h, msg->encrypted_nothing, sizeof(msg->encrypted_nothing));
	if (ret)
		goto out;
	memcpy(hs->chaining_key, ck, 32);
	memcpy(hs->hash, h, 32);
	memcpy(hs->remote_ephemeral, msg->ephemeral, 32);
	hs->remote_index = wgm_get32(msg->sender);
	hs->state = WGN_CONSUMED_RESPONSE;
out:
	wgp_wipe(ck, sizeof(ck));
	wgp_wipe(h, sizeof(h));
	wgp_wipe(k, sizeof(k));
	return ret;
}

int wgn_derive_keys(struct wgn_handshake *hs, struct wgn_keys *keys)
{
	int ret;

	memset(keys, 0, sizeof(*keys));
	if (hs->state == WGN_CONSUMED_RESPONSE) {
		keys->initiator = true;
		ret = wgp_kdf(hs->chaining_key, "", 0, keys->send, keys->recv, NULL);
	} else if (hs->state == WGN_CREATED_RESPONSE) {
		keys->initiator = false;
		ret = wgp_kdf(hs->chaining_key, "", 0, keys->recv, keys->send, NULL);
	} else {
		return -EINVAL;
	}
	keys->local_index = hs->local_index;
	keys->remote_index = hs->remote_index;
	wgn_handshake_reset(hs);
	if (ret)
		wgp_wipe(keys, sizeof(*keys));
	return ret;
}
