/* Where a connection comes from, as the limits count it: one key per IPv4
 * address or IPv6 /64 (one host's addresses), and a log that speaks once per
 * such source and interval, so that an attacker cannot flood the log by
 * hitting a limit over and over (pure: time comes in as an argument). */
#ifndef WM_CORE_SOURCE_H
#define WM_CORE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WM_SOURCE_KEY_MAX 48 /* "ffff:ffff:ffff:ffff::/64" fits */

/* The source of peer ("1.2.3.4:5678" or "[2001:db8::1]:443", as the RPC layer
 * names peers): "1.2.3.4", "2001:db8::/64"; an IPv4-mapped IPv6 address counts
 * as its IPv4 address. Anything else (a unix socket's "unix") is kept as it
 * is, cut to fit, so that it still counts as one source. -EINVAL for NULL or
 * an empty peer. */
int wm_source_key(const char *peer, char out[WM_SOURCE_KEY_MAX]);

#define WM_LOGONCE_SLOTS 64

/* Remembers the sources logged in the last interval. With every slot taken by
 * a source logged within the interval nothing more is logged: at most
 * WM_LOGONCE_SLOTS lines per interval whatever the number of sources. */
struct wm_logonce {
	int64_t interval_ms;
	struct {
		char key[WM_SOURCE_KEY_MAX];
		int64_t at_ms;
		bool used;
	} slot[WM_LOGONCE_SLOTS];
};

void wm_logonce_init(struct wm_logonce *l, int64_t interval_ms);
/* True when key should be logged now (and remembers that it was). */
bool wm_logonce_due(struct wm_logonce *l, const char *key, int64_t now_ms);

#endif
