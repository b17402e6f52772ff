/* UAPI text: encoding set requests and parsing get/errno replies (pure, fuzzed). */
#include "wg/uapi.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct text {
	char *p;
	size_t len, cap;
	int err;
};

static void text_grow(struct text *t, size_t need)
{
	size_t ncap;
	char *np;

	if (t->err || t->len + need + 1 <= t->cap)
		return;
	ncap = t->cap ? t->cap : 256;
	while (ncap < t->len + need + 1)
		ncap *= 2;
	np = malloc(ncap);
	if (!np) {
		t->err = -ENOMEM;
		return;
	}
	/* Copy rather than realloc so the old buffer, which may hold the
	 * private key, can be wiped before it is released. */
	if (t->p) {
		memcpy(np, t->p, t->len + 1);
		wm_wipe(t->p, t->cap);
		free(t->p);
	}
	t->p = np;
	t->cap = ncap;
}

static void text_add(struct text *t, const char *s, size_t n)
{
	text_grow(t, n);
	if (t->err)
		return;
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

__attribute__((format(printf, 2, 3))) static void text_printf(struct text *t, const char *fmt, ...)
{
	char line[160];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		t->err = t->err ? t->err : -EINVAL;
		return;
	}
	text_add(t, line, (size_t)n);
	wm_wipe(line, sizeof(line));
}

static void text_key(struct text *t, const char *name, const wm_key key)
{
	char hex[WM_KEY_HEX_LEN + 1];

	wm_key_to_hex(key, hex);
	text_printf(t, "%s=%s\n", name, hex);
	wm_wipe(hex, sizeof(hex));
}

static int encode_peer(struct text *t, const struct wm_wg_peer *peer)
{
	char buf[WM_ENDPOINT_STRLEN > WM_PREFIX_STRLEN ? WM_ENDPOINT_STRLEN : WM_PREFIX_STRLEN];

	text_key(t, "public_key", peer->public_key);
	if (peer->flags & WM_WGPEER_REMOVE_ME) {
		/* Anything after remove would apply to a placeholder: say nothing more. */
		text_add(t, "remove=true\n", 12);
		return 0;
	}
	if (peer->flags & WM_WGPEER_UPDATE_ONLY)
		text_add(t, "update_only=true\n", 17);
	if (peer->flags & WM_WGPEER_HAS_ENDPOINT) {
		if (wm_endpoint_format(&peer->endpoint, buf, sizeof(buf)) < 0)
			return -EINVAL;
		text_printf(t, "endpoint=%s\n", buf);
	}
	if (peer->flags & WM_WGPEER_HAS_KEEPALIVE)
		text_printf(t, "persistent_keepalive_interval=%u\n", peer->keepalive_interval);
	if (peer->flags & WM_WGPEER_REPLACE_ALLOWEDIPS)
		text_add(t, "replace_allowed_ips=true\n", 25);
	if (peer->flags & WM_WGPEER_PROMOTE)
		text_add(t, "promote_on_handshake=true\n", 26);
	for (size_t i = 0; i < peer->n_allowed_ips; i++) {
		const struct wm_prefix *p = &peer->allowed_ips[i];

		if (!((p->family == AF_INET && p->len <= 32) ||
		      (p->family == AF_INET6 && p->len <= 128)))
			return -EINVAL;
		if (wm_prefix_format(p, buf, sizeof(buf)) < 0)
			return -EINVAL;
		text_printf(t, "allowed_ip=%s\n", buf);
	}
	/* Only the embedded device knows this key; only it is given any
	 * (core/mbb.h): wireguard-go would refuse the whole set. */
	for (size_t i = 0; i < peer->n_accept_ips; i++) {
		const struct wm_prefix *p = &peer->accept_ips[i];

		if (!((p->family == AF_INET && p->len <= 32) ||
		      (p->family == AF_INET6 && p->len <= 128)))
			return -EINVAL;
		if (wm_prefix_format(p, buf, sizeof(buf)) < 0)
			return -EINVAL;
		text_printf(t, "accept_ip=%s\n", buf);
	}
	return 0;
}

int wm_uapi_encode_set(const struct wm_wg_device *dev, char **out, size_t *outlen)
{
	struct text t = {0};
	int ret = 0;

	if (!dev || !out || !outlen)
		return -EINVAL;
	*out = NULL;
	*outlen = 0;
	text_add(&t, "set=1\n", 6);
	if (dev->flags & WM_WGDEV_HAS_PRIVATE_KEY)
		text_key(&t, "private_key", dev->private_key);
	if (dev->flags & WM_WGDEV_HAS_LISTEN_PORT)
		text_printf(&t, "listen_port=%u\n", dev->listen_port);
	if (dev->flags & WM_WGDEV_HAS_FWMARK)
		text_printf(&t, "fwmark=%" PRIu32 "\n", dev->fwmark);
	if (dev->flags & WM_WGDEV_REPLACE_PEERS)
		text_add(&t, "replace_peers=true\n", 19);
	for (size_t i = 0; i < dev->n_peers && !ret; i++)
		ret = encode_peer(&t, &dev->peers[i]);
	text_add(&t, "\n", 1);
	if (!ret)
		ret = t.err;
	if (ret) {
		if (t.p)
			wm_wipe(t.p, t.cap);
		free(t.p);
		return ret;
	}
	*out = t.p;
	*outlen = t.len;
	return 0;
}

/* ---- parsing ---- */

struct line_reader {
	const char *p, *end;
	size_t lineno;
};

/* Next line without its '\n' into (*s, *n); -WM_EPROTOCOL if the text ends
 * without a newline or holds a NUL. */
static int next_line(struct line_reader *r, const char **s, size_t *n)
{
	const char *nl;

	if (r->p >= r->end)
		return -WM_EPROTOCOL;
	nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
	if (!nl || memchr(r->p, '\0', (size_t)(nl - r->p)))
		return -WM_EPROTOCOL;
	*s = r->p;
	*n = (size_t)(nl - r->p);
	r->p = nl + 1;
	r->lineno++;
	return 0;
}

/* Strict unsigned decimal: digits only, no sign, value <= max. */
static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "errno=N" with N a decimal int, optionally negative. */
static int parse_errno_value(const char *s, size_t n, int *out)
{
	bool neg = n > 0 && s[0] == '-';
	uint64_t v;

	if (parse_u64(s + neg, n - neg, 0x7fffffff, &v) < 0)
		return -WM_EPROTOCOL;
	/* wireguard-go reports negative errnos; accept a positive one as the
	 * same error rather than mistaking it for success. */
	*out = -(int)v;
	return 0;
}

static bool key_is(const char *k, size_t kn, const char *lit)
{
	return strlen(lit) == kn && memcmp(k, lit, kn) == 0;
}

int wm_uapi_parse_errno(const char *buf, size_t len)
{
	struct line_reader r = {buf, buf + len, 0};
	const char *s;
	size_t n;
	int e;

	if (!buf)
		return -EINVAL;
	if (next_line(&r, &s, &n) < 0 || n < 6 || memcmp(s, "errno=", 6) != 0)
		return -WM_EPROTOCOL;
	if (parse_errno_value(s + 6, n - 6, &e) < 0)
		return -WM_EPROTOCOL;
	if (next_line(&r, &s, &n) < 0 || n != 0 || r.p != r.end)
		return -WM_EPROTOCOL;
	return e;
}

static int fail(char *err, size_t errlen, size_t lineno, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "uapi reply line %zu: %s", lineno, what);
	return -WM_EPROTOCOL;
}

static int copy_str(char *dst, size_t dstlen, const char *s, size_t n)
{
	if (n >= dstlen)
		return -EINVAL;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

static int parse_peer_line(struct wm_wg_peer *peer, const char *k, size_t kn, const char *v,
			   size_t vn, char *err, size_t errlen, size_t lineno)
{
	char buf[WM_ENDPOINT_STRLEN + 16];
	uint64_t u;

	if (key_is(k, kn, "endpoint")) {
		if (copy_str(buf, sizeof(buf), v, vn) < 0)
			return fail(err, errlen, lineno, "endpoint too long");
		/* A link-local IPv6 endpoint carries a zone ("%eth0") that our
		 * endpoint type cannot hold: report the peer without it. */
		if (buf[0] == '[' && strchr(buf, '%'))
			return 0;
		if (wm_endpoint_parse(buf, &peer->endpoint) < 0)
			return fail(err, errlen, lineno, "bad endpoint");
		peer->flags |= WM_WGPEER_HAS_ENDPOINT;
	} else if (key_is(k, kn, "allowed_ip")) {
		struct wm_prefix p;

		if (copy_str(buf, sizeof(buf), v, vn) < 0 || !memchr(buf, '/', vn) ||
		    wm_prefix_parse(buf, &p) < 0)
			return fail(err, errlen, lineno, "bad allowed_ip");
		if (wm_wg_peer_add_allowed_ip(peer, &p) < 0)
			return -ENOMEM;
	} else if (key_is(k, kn, "promote_on_handshake")) {
		if (vn != 4 || memcmp(v, "true", 4))
			return fail(err, errlen, lineno, "bad promote_on_handshake");
		peer->flags |= WM_WGPEER_PROMOTE;
	} else if (key_is(k, kn, "accept_ip")) {
		struct wm_prefix p;

		if (copy_str(buf, sizeof(buf), v, vn) < 0 || !memchr(buf, '/', vn) ||
		    wm_prefix_parse(buf, &p) < 0)
			return fail(err, errlen, lineno, "bad accept_ip");
		if (wm_wg_peer_add_accept_ip(peer, &p) < 0)
			return -ENOMEM;
	} else if (key_is(k, kn, "persistent_keepalive_interval")) {
		if (parse_u64(v, vn, UINT16_MAX, &u) < 0)
			return fail(err, errlen, lineno, "bad persistent_keepalive_interval");
		peer->keepalive_interval = (uint16_t)u;
		peer->flags |= WM_WGPEER_HAS_KEEPALIVE;
	} else if (key_is(k, kn, "rx_bytes")) {
		if (parse_u64(v, vn, UINT64_MAX, &peer->rx_bytes) < 0)
			return fail(err, errlen, lineno, "bad rx_bytes");
	} else if (key_is(k, kn, "tx_bytes")) {
		if (parse_u64(v, vn, UINT64_MAX, &peer->tx_bytes) < 0)
			return fail(err, errlen, lineno, "bad tx_bytes");
	} else if (key_is(k, kn, "last_handshake_time_sec")) {
		if (parse_u64(v, vn, INT64_MAX, &u) < 0)
			return fail(err, errlen, lineno, "bad last_handshake_time_sec");
		peer->last_handshake_sec = (int64_t)u;
	} else if (key_is(k, kn, "last_handshake_time_nsec")) {
		if (parse_u64(v, vn, 999999999, &u) < 0)
			return fail(err, errlen, lineno, "bad last_handshake_time_nsec");
		peer->last_handshake_nsec = (int64_t)u;
	} else if (key_is(k, kn, "protocol_version")) {
		if (parse_u64(v, vn, UINT32_MAX, &u) < 0)
			return fail(err, errlen, lineno, "bad protocol_version");
		peer->protocol_version = (uint32_t)u;
	} else if (key_is(k, kn, "preshared_key")) {
		/* Validated, never kept: webmesh does not use preshared keys. */
		wm_key psk;
		char hex[WM_KEY_HEX_LEN + 1];
		int bad = copy_str(hex, sizeof(hex), v, vn) < 0 || wm_key_from_hex(hex, psk) < 0;

		wm_wipe(hex, sizeof(hex));
		wm_wipe(psk, sizeof(psk));
		if (bad)
			return fail(err, errlen, lineno, "bad preshared_key");
	} else if (key_is(k, kn, "private_key") || key_is(k, kn, "listen_port") ||
		   key_is(k, kn, "fwmark")) {
		return fail(err, errlen, lineno, "device key after a peer");
	}
	/* Other keys: added by a later protocol revision; ignore. */
	return 0;
}

static int parse_device_line(struct wm_wg_device *dev, const char *k, size_t kn, const char *v,
			     size_t vn, char *err, size_t errlen, size_t lineno)
{
	uint64_t u;

	if (key_is(k, kn, "private_key")) {
		char hex[WM_KEY_HEX_LEN + 1];
		int bad = copy_str(hex, sizeof(hex), v, vn) < 0 ||
			  wm_key_from_hex(hex, dev->private_key) < 0;

		wm_wipe(hex, sizeof(hex));
		if (bad)
			return fail(err, errlen, lineno, "bad private_key");
		dev->flags |= WM_WGDEV_HAS_PRIVATE_KEY;
	} else if (key_is(k, kn, "listen_port")) {
		if (parse_u64(v, vn, UINT16_MAX, &u) < 0)
			return fail(err, errlen, lineno, "bad listen_port");
		dev->listen_port = (uint16_t)u;
		dev->flags |= WM_WGDEV_HAS_LISTEN_PORT;
	} else if (key_is(k, kn, "fwmark")) {
		if (parse_u64(v, vn, UINT32_MAX, &u) < 0)
			return fail(err, errlen, lineno, "bad fwmark");
		dev->fwmark = (uint32_t)u;
		dev->flags |= WM_WGDEV_HAS_FWMARK;
	} else if (key_is(k, kn, "endpoint") || key_is(k, kn, "allowed_ip") ||
		   key_is(k, kn, "accept_ip") || key_is(k, kn, "persistent_keepalive_interval")) {
		return fail(err, errlen, lineno, "peer key before any public_key");
	}
	return 0;
}

int wm_uapi_parse_get(const char *buf, size_t len, const char *name, struct wm_wg_device **out,
		      char *err, size_t errlen)
{
	struct line_reader r = {buf, buf + len, 0};
	struct wm_wg_device *dev;
	struct wm_wg_peer *peer = NULL;
	int ret = 0, e = 0;
	bool have_errno = false;

	if (!buf || !out)
		return -EINVAL;
	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	dev = wm_wg_device_new(name);
	if (!dev)
		return -ENOMEM;
	for (;;) {
		const char *s, *eq;
		size_t n;

		if (next_line(&r, &s, &n) < 0) {
			ret = fail(err, errlen, r.lineno + 1,
				   "truncated (no blank line at the end)");
			break;
		}
		if (n == 0) {
			if (!have_errno)
				ret = fail(err, errlen, r.lineno, "blank line before errno");
			else if (r.p != r.end)
				ret = fail(err, errlen, r.lineno,
					   "data after the final blank line");
			break;
		}
		if (have_errno) {
			ret = fail(err, errlen, r.lineno, "data after errno");
			break;
		}
		eq = memchr(s, '=', n);
		if (!eq || eq == s) {
			ret = fail(err, errlen, r.lineno, "not a key=value line");
			break;
		}
		const char *k = s, *v = eq + 1;
		size_t kn = (size_t)(eq - s), vn = n - kn - 1;

		if (key_is(k, kn, "errno")) {
			if (parse_errno_value(v, vn, &e) < 0) {
				ret = fail(err, errlen, r.lineno, "bad errno");
				break;
			}
			have_errno = true;
		} else if (key_is(k, kn, "public_key")) {
			char hex[WM_KEY_HEX_LEN + 1];
			wm_key key;

			if (copy_str(hex, sizeof(hex), v, vn) < 0 ||
			    wm_key_from_hex(hex, key) < 0) {
				ret = fail(err, errlen, r.lineno, "bad public_key");
				break;
			}
			peer = wm_wg_device_add_peer(dev, key);
			if (!peer) {
				ret = -ENOMEM;
				break;
			}
		} else if (peer) {
			ret = parse_peer_line(peer, k, kn, v, vn, err, errlen, r.lineno);
		} else {
			ret = parse_device_line(dev, k, kn, v, vn, err, errlen, r.lineno);
		}
		if (ret)
			break;
	}
	if (!ret && e) {
		if (err && errlen)
			snprintf(err, errlen, "uapi get: daemon answered errno=%d", e);
		ret = e;
	}
	if (ret) {
		wm_wg_device_free(dev);
		return ret;
	}
	wm_wg_device_sort(dev);
	*out = dev;
	return 0;
}
