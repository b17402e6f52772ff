/* Console sessions of the HTTP listener (pure: time and randomness come in
 * as arguments): one-time tokens that wmctl console hands out over the local
 * socket, and the session cookies a spent token buys. Both tables are small
 * and fixed: a new entry in a full table replaces the oldest, so a client
 * asking for tokens in a loop costs no memory. */
#ifndef WM_HTTP_SESSION_H
#define WM_HTTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WM_SESSION_SECRET_LEN 32		       /* random bytes per token or cookie */
#define WM_SESSION_HEX_LEN (2 * WM_SESSION_SECRET_LEN) /* as text */
#define WM_SESSION_TOKENS 16
#define WM_SESSION_COOKIES 64

struct wm_session_entry {
	char secret[WM_SESSION_HEX_LEN + 1];
	uint64_t expires_ms; /* 0: free */
};

struct wm_sessions {
	uint64_t token_ttl_ms, session_ttl_ms;
	struct wm_session_entry tokens[WM_SESSION_TOKENS];
	struct wm_session_entry cookies[WM_SESSION_COOKIES];
};

void wm_sessions_init(struct wm_sessions *s, uint64_t token_ttl_ms, uint64_t session_ttl_ms);
/* Adds a token made of rnd; out receives it as hex. */
void wm_sessions_token_add(struct wm_sessions *s, const uint8_t rnd[WM_SESSION_SECRET_LEN],
			   uint64_t now_ms, char out[WM_SESSION_HEX_LEN + 1]);
/* Spends token if it is valid at now_ms and makes a session of rnd (cookie
 * receives it as hex): 0, or -EACCES (unknown, spent, expired or malformed). */
int wm_sessions_redeem(struct wm_sessions *s, const char *token,
		       const uint8_t rnd[WM_SESSION_SECRET_LEN], uint64_t now_ms,
		       char cookie[WM_SESSION_HEX_LEN + 1]);
/* True when cookie names a live session. Compares in constant time. */
bool wm_sessions_valid(const struct wm_sessions *s, const char *cookie, uint64_t now_ms);
/* The value of the cookie called name in a Cookie header ("a=1; wm_session=x"),
 * copied into out: 0, -ENOENT, or -EINVAL (too long). */
int wm_cookie_get(const char *header, const char *name, char *out, size_t outlen);
/* True when a Host header value names this machine in a way no DNS answer
 * can change: an IP literal (digits and dots, or [IPv6]), "localhost" or a
 * name under ".localhost", each with an optional :port. A loopback listener
 * refuses every other Host, so that a page whose name an attacker re-points
 * at 127.0.0.1 (DNS rebinding) cannot read it from the victim's browser. */
bool wm_http_host_is_local(const char *host);
/* True when host (a Host header value, with an optional :port) is one of the
 * n names (case-insensitive). A listener reached over a non-loopback address
 * answers only to IP literals and these names (http-allowed-hosts), so that
 * a page whose name an attacker re-points at that address cannot read it. */
bool wm_http_host_named(const char *host, const char *const *names, size_t n);

#endif
