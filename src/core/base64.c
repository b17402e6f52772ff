/* Strict standard base64: the acceptance rules auth headers and key files always had. */
#include <errno.h>

#include "core/base64.h"
#include "core/key.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int wm_base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

size_t wm_base64_encode(const void *in, size_t n, char *out)
{
	const uint8_t *p = in;
	size_t i, o = 0;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;

		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

int wm_base64_decode(const char *s, size_t len, uint8_t *out, size_t max, size_t *outlen)
{
	uint32_t acc = 0;
	size_t pos = 0, o = 0, bits = 0;
	int r = 0;

	for (; pos < len; pos++) {
		int v = wm_base64_value(s[pos]);

		if (v < 0)
			break;
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= max) {
				r = -ERANGE;
				goto fail;
			}
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* One char left over carries 6 bits, not a byte: never valid. Leftover
	 * bits must be zero so that each byte string has exactly one text. */
	if (bits > 4 || (acc & ((1u << bits) - 1)) != 0)
		goto bad;
	/* Each '=' stands for 2 bits the last group did not fill. */
	for (size_t pad = bits / 2; pad > 0; pad--, pos++)
		if (pos >= len || s[pos] != '=')
			goto bad;
	if (pos != len)
		goto bad;
	*outlen = o;
	return 0;
bad:
	r = -EINVAL;
fail:
	wm_wipe(out, o);
	return r;
}
