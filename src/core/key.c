/* WireGuard key encoding: canonical base64 and hex, constant-time compare, wiping. */
#include <errno.h>
#include <string.h>

#include "core/key.h"
#include "core/base64.h"

void wm_key_to_base64(const wm_key key, char out[WM_KEY_B64_LEN + 1])
{
	wm_base64_encode(key, WM_KEY_LEN, out);
}

int wm_key_from_base64(const char *s, wm_key out)
{
	wm_key tmp;
	size_t n = 0;

	/* Exactly 44 characters: one text form per key (base64.c refuses
	 * non-zero unused bits and wrong padding). */
	if (!s || strnlen(s, WM_KEY_B64_LEN + 1) != WM_KEY_B64_LEN ||
	    wm_base64_decode(s, WM_KEY_B64_LEN, tmp, sizeof(tmp), &n) < 0 || n != WM_KEY_LEN) {
		wm_wipe(tmp, sizeof(tmp));
		return -EINVAL;
	}
	memcpy(out, tmp, WM_KEY_LEN);
	wm_wipe(tmp, sizeof(tmp));
	return 0;
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

int wm_hex_digit(char c)
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
		int hi = wm_hex_digit(s[2 * i]), lo = wm_hex_digit(s[2 * i + 1]);

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

int wm_fingerprint_parse(const char *in, char out[WM_FINGERPRINT_LEN])
{
	char tmp[WM_FINGERPRINT_LEN];

	if (!in || strncmp(in, "sha256:", 7) != 0 || strnlen(in, 7 + 65) != 7 + 64)
		return -EINVAL;
	memcpy(tmp, "sha256:", 7);
	for (size_t i = 7; i < 7 + 64; i++) {
		int v = wm_hex_digit(in[i]);

		if (v < 0)
			return -EINVAL;
		tmp[i] = "0123456789abcdef"[v];
	}
	tmp[7 + 64] = '\0';
	memcpy(out, tmp, sizeof(tmp));
	return 0;
}

bool wm_fingerprint_canonical(const char *s)
{
	char c[WM_FINGERPRINT_LEN];

	return wm_fingerprint_parse(s, c) == 0 && strcmp(c, s) == 0;
}
