/* Per-source token buckets for handshakes under load (see ratelimit.h). */
#include "wg/embedded/ratelimit.h"

#include <string.h>

#define INTERVAL_NS (1000000000LL / WGL_PER_SECOND)
#define CAP_NS (INTERVAL_NS * WGL_BURST)

void wgl_init(struct wgl_table *t, uint64_t seed)
{
	t->seed = seed;
}

static size_t slot_of(const struct wgl_table *t, const uint8_t *addr, size_t len)
{
	uint64_t h = t->seed ^ 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= addr[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 29;
	return (size_t)(h % WGL_SLOTS);
}

bool wgl_allow(struct wgl_table *t, const uint8_t *addr, size_t len, int64_t now)
{
	struct wgl_slot *s;

	if (len != 4 && len != 16)
		return false;
	/* An IPv6 host commonly holds a whole /64: it is one source, as in the
	 * kernel's ratelimiter. */
	if (len == 16)
		len = 8;
	s = &t->slot[slot_of(t, addr, len)];
	if (!s->len) {
		s->tokens_ns = CAP_NS;
	} else {
		/* The bucket belongs to the slot, not to whoever held it last:
		 * an address taking over a slot gets only what the slot has
		 * earned back, else cycling through more addresses than slots
		 * (or two sharing one) would refill a burst on every message. */
		s->tokens_ns += now - s->last_ns;
		if (s->tokens_ns > CAP_NS)
			s->tokens_ns = CAP_NS;
	}
	memcpy(s->addr, addr, len);
	s->len = (uint8_t)len;
	s->last_ns = now;
	if (s->tokens_ns < INTERVAL_NS)
		return false;
	s->tokens_ns -= INTERVAL_NS;
	return true;
}
