/* Console tokens and sessions: see session.h. */
#include "http/session.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void wm_sessions_init(struct wm_sessions *s, uint64_t token_ttl_ms, uint64_t session_ttl_ms)
{
	memset(s, 0, sizeof(*s));
	s->token_ttl_ms = token_ttl_ms;
	s->session_ttl_ms = session_ttl_ms;
}

static void to_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* A free or expired slot, else the one expiring first. */
static struct wm_session_entry *slot_for(struct wm_session_entry *t, size_t n, uint64_t now_ms)
{
	struct wm_session_entry *best = &t[0];
	for (size_t i = 0; i < n; i++) {
		if (t[i].expires_ms == 0 || t[i].expires_ms <= now_ms)
			return &t[i];
		if (t[i].expires_ms < best->expires_ms)
			best = &t[i];
	}
	return best;
}

/* Constant time in the secret's bytes: a timing probe learns nothing of a
 * live token or cookie. */
static bool secret_equal(const char *a, const char *b)
{
	unsigned char d = 0;
	for (size_t i = 0; i < WM_SESSION_HEX_LEN; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

static bool well_formed(const char *v)
{
	size_t n = 0;
	for (; v[n]; n++) {
		if (n >= WM_SESSION_HEX_LEN)
			return false;
		char c = v[n];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return n == WM_SESSION_HEX_LEN;
}

static struct wm_session_entry *find(struct wm_session_entry *t, size_t n, const char *v,
				     uint64_t now_ms)
{
	if (!v || !well_formed(v))
		return NULL;
	struct wm_session_entry *hit = NULL;
	for (size_t i = 0; i < n; i++) {
		bool live = t[i].expires_ms > now_ms;
		if (secret_equal(t[i].secret, v) && live)
			hit = &t[i];
	}
	return hit;
}

void wm_sessions_token_add(struct wm_sessions *s, const uint8_t rnd[WM_SESSION_SECRET_LEN],
			   uint64_t now_ms, char out[WM_SESSION_HEX_LEN + 1])
{
	struct wm_session_entry *e = slot_for(s->tokens, WM_SESSION_TOKENS, now_ms);
	to_hex(rnd, WM_SESSION_SECRET_LEN, e->secret);
	e->expires_ms = now_ms + s->token_ttl_ms;
	memcpy(out, e->secret, WM_SESSION_HEX_LEN + 1);
}

int wm_sessions_redeem(struct wm_sessions *s, const char *token,
		       const uint8_t rnd[WM_SESSION_SECRET_LEN], uint64_t now_ms,
		       char cookie[WM_SESSION_HEX_LEN + 1])
{
	struct wm_session_entry *t = find(s->tokens, WM_SESSION_TOKENS, token, now_ms);
	if (!t)
		return -EACCES;
	memset(t, 0, sizeof(*t));
	struct wm_session_entry *e = slot_for(s->cookies, WM_SESSION_COOKIES, now_ms);
	to_hex(rnd, WM_SESSION_SECRET_LEN, e->secret);
	e->expires_ms = now_ms + s->session_ttl_ms;
	memcpy(cookie, e->secret, WM_SESSION_HEX_LEN + 1);
	return 0;
}

bool wm_sessions_valid(const struct wm_sessions *s, const char *cookie, uint64_t now_ms)
{
	return find((struct wm_session_entry *)s->cookies, WM_SESSION_COOKIES, cookie, now_ms) !=
	       NULL;
}

int wm_cookie_get(const char *header, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *p = header;
	while (p && *p) {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			size_t vlen = len - nlen - 1;
			while (vlen &&
			       (p[nlen + 1 + vlen - 1] == ' ' || p[nlen + 1 + vlen - 1] == '\t'))
				vlen--;
			if (vlen + 1 > outlen)
				return -EINVAL;
			memcpy(out, p + nlen + 1, vlen);
			out[vlen] = '\0';
			return 0;
		}
		p = end;
	}
	return -ENOENT;
}

static bool only(const char *p, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(set, p[i]) || p[i] == '\0')
			return false;
	return true;
}

bool wm_http_host_named(const char *host, const char *const *names, size_t n)
{
	if (!host || host[0] == '[')
		return false;
	const char *colon = strchr(host, ':');
	size_t len = colon ? (size_t)(colon - host) : strlen(host);
	if (colon) {
		size_t plen = strlen(colon + 1);
		if (plen < 1 || plen > 5 || !only(colon + 1, plen, "0123456789"))
			return false;
	}
	for (size_t i = 0; i < n; i++)
		if (len && strlen(names[i]) == len && strncasecmp(host, names[i], len) == 0)
			return true;
	return false;
}

bool wm_http_host_is_local(const char *host)
{
	if (!host)
		return false;
	size_t n = strlen(host);
	const char *colon = NULL;
	if (host[0] == '[') {
		const char *close = strchr(host, ']');
		if (!close || close == host + 1 ||
		    !only(host + 1, (size_t)(close - host - 1), "0123456789abcdefABCDEF:."))
			return false;
		if (close[1] && close[1] != ':')
			return false;
		colon = close[1] ? close + 1 : NULL;
	} else {
		colon = strchr(host, ':');
	}
	if (colon) {
		size_t plen = n - (size_t)(colon + 1 - host);
		if (plen < 1 || plen > 5 || !only(colon + 1, plen, "0123456789"))
			return false;
		n = (size_t)(colon - host);
	}
	if (host[0] == '[')
		return true;
	if (n == 0)
		return false;
	/* all digits and dots: a URL parser takes it as IPv4, never as a name */
	if (only(host, n, "0123456789."))
		return true;
	static const char lh[] = "localhost";
	const size_t lhn = sizeof(lh) - 1;
	if (n == lhn)
		return strncasecmp(host, lh, lhn) == 0;
	return n > lhn + 1 && host[n - lhn - 1] == '.' &&
	       strncasecmp(host + n - lhn, lh, lhn) == 0 && host[0] != '.';
}
