/* MAC1, MAC2 and cookie replies (whitepaper 5.4.4 and 5.4.7): the DoS
 * protection of WireGuard's handshake messages.
 *
 * Checker: the receiving side, holding a secret that changes every two
 * minutes, from which it derives each sender address's cookie.
 * Maker: the sending side, per peer, remembering the last MAC1 it sent (the
 * cookie reply's AAD) and the last cookie it was given. */
#ifndef WM_WG_EMBEDDED_COOKIE_H
#define WM_WG_EMBEDDED_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg/embedded/messages.h"

#define WGC_SECRET_MAX_AGE_NS (120LL * 1000000000LL)
/* A cookie is used for this long after it arrived: its secret may be older. */
#define WGC_COOKIE_USE_NS ((120LL - 5LL) * 1000000000LL)

struct wgc_checker {
	uint8_t secret[32];
	int64_t secret_birth_ns; /* monotonic; 0 = none yet */
	bool has_secret;
};

struct wgc_maker {
	uint8_t cookie[WGP_MAC_LEN];
	int64_t cookie_birth_ns;
	bool has_cookie;
	uint8_t last_mac1[WGP_MAC_LEN];
	bool has_last_mac1;
};

enum wgc_result {
	WGC_INVALID = 0,     /* MAC1 wrong: drop silently */
	WGC_VALID_MAC1,	     /* MAC1 right, MAC2 absent or wrong */
	WGC_VALID_MAC1_MAC2, /* both right: the sender proved its address */
};

/* Checks the MACs of a handshake message (initiation or response: msg is
 * the whole message, len its length) against our mac1 key and, for MAC2,
 * the cookie of the sender's address (addr: IP bytes then port, any
 * length up to 18). */
enum wgc_result wgc_check(struct wgc_checker *c, const uint8_t mac1_key[32], const uint8_t *msg,
			  size_t len, const uint8_t *addr, size_t addrlen, int64_t now_ns);

/* Builds the cookie reply to a handshake message msg (whose MAC1 was
 * valid) from addr, for the sender's index. cookie_key is ours
 * (wgn_static.cookie_key). 0, -EIO. */
int wgc_make_reply(struct wgc_checker *c, const uint8_t cookie_key[32], const uint8_t *msg,
		   size_t len, uint32_t receiver_index, const uint8_t *addr, size_t addrlen,
		   int64_t now_ns, struct wgm_cookie *reply);

/* Fills the MACs of an outgoing handshake message (msg/len the whole
 * message) for a peer whose mac1 key is given, adding MAC2 when a fresh
 * cookie is held. 0, -EIO. */
int wgc_add_macs(struct wgc_maker *m, const uint8_t peer_mac1_key[32], uint8_t *msg, size_t len,
		 int64_t now_ns);

/* Consumes a cookie reply: decrypts it with the peer's cookie key under the
 * last MAC1 we sent it. -EBADMSG (wrong key, stale reply), -ENOENT (we sent
 * nothing it could answer). */
int wgc_consume_reply(struct wgc_maker *m, const uint8_t peer_cookie_key[32],
		      const struct wgm_cookie *reply, int64_t now_ns);

void wgc_checker_clear(struct wgc_checker *c);
void wgc_maker_clear(struct wgc_maker *m);

#endif
