/* A fast non-cryptographic hash for "did this change since last time". */
#ifndef WM_CORE_HASH_H
#define WM_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define WM_HASH_FNV1A_INIT 1469598103934665603ull

/* FNV-1a, 64 bits, continued from h (WM_HASH_FNV1A_INIT to start), so that
 * several pieces hash as one. A collision only makes the caller skip one
 * update until the next change; never use it where an attacker's choice
 * matters. */
static inline uint64_t wm_hash_fnv1a_more(uint64_t h, const void *data, size_t n)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static inline uint64_t wm_hash_fnv1a(const void *data, size_t n)
{
	return wm_hash_fnv1a_more(WM_HASH_FNV1A_INIT, data, n);
}

#endif
