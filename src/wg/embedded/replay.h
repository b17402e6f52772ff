/* The sliding replay window of data message counters (whitepaper 5.4.6,
 * RFC 6479's bitmap of words: advancing the window clears whole words, so
 * both the check and the advance cost O(1) amortised). Pure. */
#ifndef WM_WG_EMBEDDED_REPLAY_H
#define WM_WG_EMBEDDED_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#define WGR_WORDS 128 /* a power of two */
#define WGR_BITS_TOTAL (WGR_WORDS * 64)
/* Counters this far behind the greatest seen are still accepted once. One word
 * is kept out of the window: it is the one being cleared as the window moves. */
#define WGR_WINDOW (WGR_BITS_TOTAL - 64)
/* The protocol's REJECT_AFTER_MESSAGES: a counter at or past it is invalid. */
#define WGR_REJECT_AFTER_MESSAGES (UINT64_MAX - WGR_WINDOW - 1)

struct wgr_window {
	uint64_t greatest; /* greatest counter seen, plus one; 0 = none yet */
	uint64_t bits[WGR_WORDS];
};

void wgr_init(struct wgr_window *w);
/* True when counter is new and inside the window; it is then marked seen.
 * Call only after the packet authenticated, or an attacker moves the
 * window. */
bool wgr_check_and_set(struct wgr_window *w, uint64_t counter);

#endif
