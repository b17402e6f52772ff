/* Key authentication: the signed message and the accepted time windows. */
#include "core/keyauth.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/ids.h"
#include "core/key.h"

int64_t wm_keyauth_window(int64_t t)
{
	int64_t r = t % WM_KEYAUTH_WINDOW;

	if (r < 0)
		r += WM_KEYAUTH_WINDOW;
	return t - r;
}

bool wm_keyauth_audience_ok(const char *s)
{
	/* The audience is signed over: only the canonical form compares. */
	return wm_fingerprint_canonical(s);
}

int wm_keyauth_message(const char *node_id, const char *audience, int64_t window, char *out,
		       size_t len)
{
	int n;

	if (!node_id || wm_node_id_check(node_id, NULL) < 0 || !wm_keyauth_audience_ok(audience))
		return -EINVAL;
	n = snprintf(out, len, "webmesh-key-auth-v2\n%s\n%s\n%" PRId64, node_id, audience, window);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

bool wm_keyauth_window_ok(int64_t window, int64_t now, uint32_t skew)
{
	/* Far-off values would overflow the sums below; none of them is valid. */
	if (window < INT64_MIN / 4 || window > INT64_MAX / 4 || now < INT64_MIN / 4 ||
	    now > INT64_MAX / 4)
		return false;
	if (wm_keyauth_window(window) != window)
		return false;
	return window <= now + (int64_t)skew && window + WM_KEYAUTH_WINDOW > now - (int64_t)skew;
}

int wm_keyauth_parse_window(const char *s, int64_t *out)
{
	const char *p = s;
	bool neg = false;
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	if (*p == '-') {
		neg = true;
		p++;
	}
	if (!*p || (p[0] == '0' && p[1]) || (neg && p[0] == '0') || strlen(p) > 19)
		return -EINVAL;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v > (uint64_t)INT64_MAX)
		return -EINVAL;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}
