/* Per-source rate limit of handshake messages under load (as the kernel's
 * ratelimiter: 20 per second and address, bursts of 5). Applied only to
 * messages whose MAC2 proved their source address, so a sender cannot
 * spread its flood over spoofed addresses. IPv6 sources count by their /64.
 * A fixed table of buckets by keyed hash: addresses sharing a slot share its
 * bucket, so memory and the total rate are bounded whatever the number of
 * sources. Pure. */
#ifndef WM_WG_EMBEDDED_RATELIMIT_H
#define WM_WG_EMBEDDED_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WGL_SLOTS 4096
#define WGL_PER_SECOND 20
#define WGL_BURST 5

struct wgl_slot {
	uint8_t addr[16];
	uint8_t len; /* 0 = free */
	int64_t last_ns;
	int64_t tokens_ns; /* credit, in nanoseconds of the packet interval */
};

struct wgl_table {
	uint64_t seed; /* hash key, so that slots cannot be aimed at */
	struct wgl_slot slot[WGL_SLOTS];
};

/* seed: a random value, fixed for the table's life. t must be zeroed memory
 * (an anonymous mmap, calloc): it is not cleared here, so that the 160 KiB
 * of slots stay unbacked until sources use them (an idle node uses none). */
void wgl_init(struct wgl_table *t, uint64_t seed);
/* True if a message from addr (4 or 16 address bytes, no port; of 16 only the
 * /64 counts) may be
 * handled at now (monotonic ns); counts it when it may. */
bool wgl_allow(struct wgl_table *t, const uint8_t *addr, size_t len, int64_t now);

#endif
