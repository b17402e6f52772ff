/* Hex helper for the embedded WireGuard's unit tests. */
#ifndef WM_TEST_WG_HEX_H
#define WM_TEST_WG_HEX_H

#include <stdint.h>
#include <string.h>

static inline void unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			char c = s[2 * i + j];
			v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
		}
		out[i] = (uint8_t)v;
	}
}

#define assert_hex_equal(buf, hexstr)                                                              \
	do {                                                                                       \
		uint8_t want_[256];                                                                \
		size_t n_ = strlen(hexstr) / 2;                                                    \
		unhex(hexstr, want_, n_);                                                          \
		assert_memory_equal(buf, want_, n_);                                               \
	} while (0)

#endif
