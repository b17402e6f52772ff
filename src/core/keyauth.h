/* Key authentication: what a node signs with its Ed25519 key, and which time
 * windows a server accepts (pure; signing and verifying are in src/auth).
 *
 * The client sends three request headers:
 *   x-webmesh-key-id:     its node ID
 *   x-webmesh-key-window: the start of the current window, unix seconds, a
 *                         multiple of WM_KEYAUTH_WINDOW
 *   x-webmesh-key-audience: the audience below (so that a refusal can say
 *                         the signature is for another server)
 *   x-webmesh-key-sig:    base64 (standard, padded) of the 64-byte Ed25519
 *                         signature over wm_keyauth_message(id, audience, window)
 *
 * The audience is the server the signature is for: the SHA-256 fingerprint
 * ("sha256:" + 64 lower-case hex) of the TLS certificate the client saw in
 * the handshake. The server knows its own, so a signature captured by one
 * server cannot be replayed to another within its window, and a man in the
 * middle presenting another certificate gets a signature that is good nowhere.
 */
#ifndef WM_CORE_KEYAUTH_H
#define WM_CORE_KEYAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WM_KEYAUTH_WINDOW 30 /* seconds */
#define WM_KEYAUTH_HDR_ID "x-webmesh-key-id"
#define WM_KEYAUTH_HDR_WINDOW "x-webmesh-key-window"
#define WM_KEYAUTH_HDR_SIG "x-webmesh-key-sig"
#define WM_KEYAUTH_HDR_AUDIENCE "x-webmesh-key-audience"
#define WM_KEYAUTH_MSG_MAX 256
#define WM_KEYAUTH_AUDIENCE_LEN 71 /* "sha256:" + 64 hex */

/* The window that contains unix time t (rounded down, also for t < 0). */
int64_t wm_keyauth_window(int64_t t);
/* True when s is an audience: "sha256:" and 64 lower-case hex digits. */
bool wm_keyauth_audience_ok(const char *s);
/* The signed bytes: "webmesh-key-auth-v2\n" ID "\n" AUDIENCE "\n" WINDOW.
 * Returns the length, or -EINVAL (bad ID or audience) / -ENOSPC. */
int wm_keyauth_message(const char *node_id, const char *audience, int64_t window, char *out,
		       size_t len);
/* True when window is a window start and [window, window + WM_KEYAUTH_WINDOW)
 * meets [now - skew, now + skew]: a client whose clock is off by up to skew
 * seconds is accepted, an older or later signature is not. */
bool wm_keyauth_window_ok(int64_t window, int64_t now, uint32_t skew);
/* Parses the window header: decimal digits, optional leading '-', no
 * leading zeros, fits in int64. -EINVAL otherwise. */
int wm_keyauth_parse_window(const char *s, int64_t *out);

#endif
