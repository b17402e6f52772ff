/* The replay window (see replay.h; RFC 6479 section 3). */
#include "wg/embedded/replay.h"

#include <string.h>

void wgr_init(struct wgr_window *w)
{
	memset(w, 0, sizeof(*w));
}

bool wgr_check_and_set(struct wgr_window *w, uint64_t counter)
{
	uint64_t c, index, cur, top, bit;

	if (counter >= WGR_REJECT_AFTER_MESSAGES)
		return false;
	/* Shifted by one so that greatest == 0 means "nothing seen yet". */
	c = counter + 1;
	if (c + WGR_WINDOW < w->greatest)
		return false;
	index = c >> 6;
	if (c > w->greatest) {
		cur = w->greatest >> 6;
		top = index - cur;
		if (top > WGR_WORDS)
			top = WGR_WORDS;
		for (uint64_t i = 1; i <= top; i++)
			w->bits[(cur + i) & (WGR_WORDS - 1)] = 0;
		w->greatest = c;
	}
	index &= WGR_WORDS - 1;
	bit = 1ULL << (c & 63);
	if (w->bits[index] & bit)
		return false;
	w->bits[index] |= bit;
	return true;
}
