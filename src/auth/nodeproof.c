/* Node proofs: a node proves it holds its registered WireGuard key by a MAC
 * under the key it shares with the receiving server (core/nodeproof.h). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth_int.h"
#include "core/base64.h"
#include "core/ids.h"
#include "core/key.h"
#include "core/keyauth.h"
#include "core/nodeproof.h"
#include "util/crypto.h"

/* The shared keys of recent pairs. The X25519 behind one cost more than the
 * rest of a call: a server checks a proof on every call (every member's
 * heartbeat) and a follower makes one for every call it forwards, always to
 * the same leader; at 3,000 members they were a large part of a server's
 * CPU (bench/scale --sim, perf). A slot is found by an HMAC of the peer's key
 * under our private key, so the table holds nothing from which either key
 * follows; the keys K themselves are as secret as the private key this
 * process holds anyway. */
#define KEY_CACHE_SLOTS 512
static struct {
	uint8_t tag[32];
	uint8_t k[32];
	bool used;
} key_cache[KEY_CACHE_SLOTS];
static pthread_mutex_t key_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int shared_key(const uint8_t priv[32], const uint8_t peer_pub[32], uint8_t k[32])
{
	uint8_t tag[32];
	int r = wm_hmac_sha256(priv, peer_pub, 32, tag);
	if (r < 0)
		return wm_node_shared_key(priv, peer_pub, WM_NODEPROOF_LABEL, k);
	size_t slot = ((size_t)tag[0] << 8 | tag[1]) % KEY_CACHE_SLOTS;
	pthread_mutex_lock(&key_cache_lock);
	if (key_cache[slot].used && wm_ct_equal(key_cache[slot].tag, tag, sizeof(tag))) {
		memcpy(k, key_cache[slot].k, 32);
		pthread_mutex_unlock(&key_cache_lock);
		return 0;
	}
	pthread_mutex_unlock(&key_cache_lock);
	r = wm_node_shared_key(priv, peer_pub, WM_NODEPROOF_LABEL, k);
	if (r < 0)
		return r;
	pthread_mutex_lock(&key_cache_lock);
	memcpy(key_cache[slot].tag, tag, sizeof(tag));
	memcpy(key_cache[slot].k, k, 32);
	key_cache[slot].used = true;
	pthread_mutex_unlock(&key_cache_lock);
	return 0;
}

/* HMAC(K, message) for the pair (priv, peer_pub); K and the message stay here. */
static int proof_mac(const uint8_t priv[32], const uint8_t peer_pub[32], const char *node_id,
		     const char *audience, int64_t window, const char *path, uint8_t mac[32])
{
	char msg[WM_NODEPROOF_MSG_MAX];
	uint8_t k[32];
	int n = wm_nodeproof_message(node_id, audience, window, path, msg, sizeof(msg));
	int r;

	if (n < 0)
		return n;
	r = shared_key(priv, peer_pub, k);
	if (r < 0)
		return r;
	r = wm_hmac_sha256(k, msg, (size_t)n, mac);
	wm_wipe(k, sizeof(k));
	return r;
}

int wm_node_proof_make(const uint8_t priv[32], const char *node_id, const char *audience,
		       const uint8_t audience_pub[32], const char *path, int64_t now,
		       struct wm_node_proof *out)
{
	uint8_t mac[32];
	int64_t w = wm_keyauth_window(now);
	int r;

	memset(out, 0, sizeof(*out));
	r = proof_mac(priv, audience_pub, node_id, audience, w, path, mac);
	if (r < 0)
		return r;
	_Static_assert(sizeof(out->proof) >= WM_BASE64_ENCODED_LEN(32), "proof holds 32 bytes");
	snprintf(out->id, sizeof(out->id), "%s", node_id); /* checked: a node ID */
	snprintf(out->window, sizeof(out->window), "%" PRId64, w);
	wm_base64_encode(mac, sizeof(mac), out->proof);
	return 0;
}

size_t wm_node_proof_metadata(const struct wm_node_proof *p, struct wm_rpc_metadata *md, size_t max)
{
	if (max < 3 || !p->id[0])
		return 0;
	md[0].key = WM_NODEPROOF_HDR_ID;
	md[0].value = p->id;
	md[1].key = WM_NODEPROOF_HDR_WINDOW;
	md[1].value = p->window;
	md[2].key = WM_NODEPROOF_HDR_PROOF;
	md[2].value = p->proof;
	return 3;
}

int wm_node_proof_verify(const uint8_t priv[32], const char *self_id, const uint8_t caller_pub[32],
			 const char *id, const char *window, const char *proof, const char *path,
			 int64_t now, uint32_t skew, char *why, size_t whylen)
{
	uint8_t got[32], want[32];
	size_t n = 0;
	int64_t w;
	int r;

	if (!id || !window || !proof || wm_node_id_check(id, NULL) < 0 ||
	    wm_keyauth_parse_window(window, &w) < 0 ||
	    strlen(proof) != WM_BASE64_ENCODED_LEN(32) - 1 ||
	    wm_base64_decode(proof, strlen(proof), got, sizeof(got), &n) != 0 || n != sizeof(got)) {
		snprintf(why, whylen, "malformed node proof headers");
		return -EACCES;
	}
	if (!wm_keyauth_window_ok(w, now, skew)) {
		snprintf(why, whylen,
			 "the node proof's time window is outside the allowed clock skew");
		return -EACCES;
	}
	r = proof_mac(priv, caller_pub, id, self_id, w, path, want);
	if (r == -EIO) {
		snprintf(why, whylen, "cannot check the node proof right now");
		return -EIO;
	}
	if (r < 0 || !wm_ct_equal(got, want, sizeof(want))) {
		snprintf(why, whylen, "the node proof does not match node %s's key", id);
		return -EACCES;
	}
	return 0;
}
