/* Node proofs: what a node MACs with the key it shares with the receiving
 * server through their WireGuard keys (pure; making and checking the MAC is
 * in src/auth/nodeproof.c). A proof says "the holder of node ID's WireGuard
 * key calls method PATH on server AUDIENCE in this time window": it cannot be
 * replayed to another server or to another method.
 *
 * Request headers:
 *   x-webmesh-node-id:     the caller's node ID
 *   x-webmesh-node-window: the start of the current window, unix seconds, a
 *                          multiple of WM_KEYAUTH_WINDOW (core/keyauth.h rules)
 *   x-webmesh-node-proof:  base64 (standard, padded) of
 *                          HMAC-SHA256(K, wm_nodeproof_message(...)) with
 *                          K = wm_node_shared_key(priv, peer_pub, WM_NODEPROOF_LABEL)
 */
#ifndef WM_CORE_NODEPROOF_H
#define WM_CORE_NODEPROOF_H

#include <stddef.h>
#include <stdint.h>

#define WM_NODEPROOF_LABEL "webmesh-node-proof-v1"
#define WM_NODEPROOF_HDR_ID "x-webmesh-node-id"
#define WM_NODEPROOF_HDR_WINDOW "x-webmesh-node-window"
#define WM_NODEPROOF_HDR_PROOF "x-webmesh-node-proof"
#define WM_NODEPROOF_PATH_MAX 200
#define WM_NODEPROOF_MSG_MAX 384

/* The MACed bytes: "webmesh-node-proof-v1\n" ID "\n" AUDIENCE "\n" WINDOW "\n"
 * PATH. Returns the length, or -EINVAL (an invalid node ID or audience, a
 * window that is no window start, a path that is not "/" followed by up to
 * WM_NODEPROOF_PATH_MAX printable characters without spaces) or -ENOSPC. */
int wm_nodeproof_message(const char *node_id, const char *audience, int64_t window,
			 const char *path, char *out, size_t len);

#endif
