/* WireGuard's four message formats (whitepaper 5.4), as byte arrays so that
 * the structs have no padding and can be read straight from a datagram.
 * Integers on the wire are little endian. */
#ifndef WM_WG_EMBEDDED_MESSAGES_H
#define WM_WG_EMBEDDED_MESSAGES_H

#include <stdint.h>

#include "wg/embedded/prim.h"

enum {
	WGM_INITIATION = 1,
	WGM_RESPONSE = 2,
	WGM_COOKIE = 3,
	WGM_DATA = 4,
};

struct wgm_macs {
	uint8_t mac1[WGP_MAC_LEN];
	uint8_t mac2[WGP_MAC_LEN];
};

struct wgm_initiation {
	uint8_t type[4]; /* type, then 3 reserved zero bytes */
	uint8_t sender[4];
	uint8_t ephemeral[32];
	uint8_t encrypted_static[32 + WGP_TAG_LEN];
	uint8_t encrypted_timestamp[WGP_TAI64N_LEN + WGP_TAG_LEN];
	struct wgm_macs macs;
};

struct wgm_response {
	uint8_t type[4];
	uint8_t sender[4];
	uint8_t receiver[4];
	uint8_t ephemeral[32];
	uint8_t encrypted_nothing[WGP_TAG_LEN];
	struct wgm_macs macs;
};

struct wgm_cookie {
	uint8_t type[4];
	uint8_t receiver[4];
	uint8_t nonce[WGP_XNONCE_LEN];
	uint8_t encrypted_cookie[WGP_MAC_LEN + WGP_TAG_LEN];
};

/* The header of a data message; the encrypted payload and its tag follow. */
struct wgm_data {
	uint8_t type[4];
	uint8_t receiver[4];
	uint8_t counter[8];
};

#define WGM_INITIATION_LEN 148
#define WGM_RESPONSE_LEN 92
#define WGM_COOKIE_LEN 64
#define WGM_DATA_MIN_LEN (16 + WGP_TAG_LEN) /* a keepalive */

_Static_assert(sizeof(struct wgm_initiation) == WGM_INITIATION_LEN, "initiation size");
_Static_assert(sizeof(struct wgm_response) == WGM_RESPONSE_LEN, "response size");
_Static_assert(sizeof(struct wgm_cookie) == WGM_COOKIE_LEN, "cookie size");
_Static_assert(sizeof(struct wgm_data) == 16, "data header size");

static inline uint32_t wgm_get32(const uint8_t p[4])
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void wgm_put32(uint8_t p[4], uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint64_t wgm_get64(const uint8_t p[8])
{
	return (uint64_t)wgm_get32(p) | (uint64_t)wgm_get32(p + 4) << 32;
}

static inline void wgm_put64(uint8_t p[8], uint64_t v)
{
	wgm_put32(p, (uint32_t)v);
	wgm_put32(p + 4, (uint32_t)(v >> 32));
}

/* The message type of a datagram by its first four bytes (type and three zero
 * reserved bytes), or 0 when it is none of the four or of the wrong length. */
static inline int wgm_type(const uint8_t *buf, size_t len)
{
	if (len < 4 || buf[1] || buf[2] || buf[3])
		return 0;
	switch (buf[0]) {
	case WGM_INITIATION:
		return len == WGM_INITIATION_LEN ? WGM_INITIATION : 0;
	case WGM_RESPONSE:
		return len == WGM_RESPONSE_LEN ? WGM_RESPONSE : 0;
	case WGM_COOKIE:
		return len == WGM_COOKIE_LEN ? WGM_COOKIE : 0;
	case WGM_DATA:
		return len >= WGM_DATA_MIN_LEN ? WGM_DATA : 0;
	default:
		return 0;
	}
}

#endif
