/* WireGuard key encoding: canonical base64 and hex, constant-time compare, wiping. */
#include <errno.h>
#include <string.h>

#include "core/key.h"

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c)
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

void wm_key_to_base64(const wm_key key, char out[WM_KEY_B64_LEN + 1])
{
	size_t i, o = 0;

	for (i = 0; i + 3 <= WM_KEY_LEN; i += 3) {
		uint32_t v = (uint32_t)key[i] << 16 | (uint32_t)key[i + 1] << 8 | key[i + 2];

		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	/* 32 = 30 + 2: two bytes left, 3 chars + one '='. */
	{
		uint32_t v = (uint32_t)key[30] << 16 | (uint32_t)key[31] << 8;

		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
}

int wm_key_from_base64(const char *s, wm_key out)
{
	wm_key tmp;
	size_t i, o = 0;
	int v[4];

	if (!s || strnlen(s, WM_KEY_B64_LEN + 1) != WM_KEY_B64_LEN || s[WM_KEY_B64_LEN - 1] != '=')
		return -EINVAL;
	for (i = 0; i < WM_KEY_B64_LEN - 4; i += 4) {
		for (int j = 0; j < 4; j++) {
			v[j] = b64_value(s[i + j]);
			if (v[j] < 0)
				goto bad;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		tmp[o++] = (uint8_t)(w >> 16);
		tmp[o++] = (uint8_t)(w >> 8);
		tmp[o++] = (uint8_t)w;
	}
	for (int j = 0; j < 3; j++) {
		v[j] = b64_value(s[i + j]);
		if (v[j] < 0)
			goto bad;
	}
	/* The last char carries 6 bits of which only the top 4 are data; a
	 * canonical encoding has the low 2 zero, so each key has one text form. */
	if (v[2] & 3)
		goto bad;
	{
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6;
		tmp[o++] = (uint8_t)(w >> 16);
		tmp[o++] = (uint8_t)(w >> 8);
	}
	memcpy(out, tmp, WM_KEY_LEN);
	wm_wipe(tmp, sizeof(tmp));
	return 0;
bad:
	wm_wipe(tmp, sizeof(tmp));
	return -EINVAL;
}

void wm_key_to_hex(const wm_key key, char out[WM_KEY_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < WM_KEY_LEN; i++) {
		out[2 * i] = digits[key[i] >> 4];
		out[2 * i + 1] = digits[key[i] & 15];
	}
	out[WM_KEY_HEX_LEN] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int wm_key_from_hex(const char *s, wm_key out)
{
	wm_key tmp;

	if (!s || strnlen(s, WM_KEY_HEX_LEN + 1) != WM_KEY_HEX_LEN)
		return -EINVAL;
	for (size_t i = 0; i < WM_KEY_LEN; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			wm_wipe(tmp, sizeof(tmp));
			return -EINVAL;
		}
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(out, tmp, WM_KEY_LEN);
	wm_wipe(tmp, sizeof(tmp));
	return 0;
}

bool wm_key_is_zero(const wm_key key)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < WM_KEY_LEN; i++)
		acc |= key[i];
	return acc == 0;
}

bool wm_key_equal(const wm_key a, const wm_key b)
{
	/* volatile keeps the compiler from turning this into an early-exit memcmp. */
	volatile uint8_t acc = 0;

	for (size_t i = 0; i < WM_KEY_LEN; i++)
		acc |= a[i] ^ b[i];
	return acc == 0;
}

void wm_wipe(void *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
}
