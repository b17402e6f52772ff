/* Pacing of work that follows every change and costs O(mesh): at most a
 * share of the time, so that a storm of changes (thousands of joins) is
 * answered in batches instead of one full recomputation per change (pure). */
#ifndef WM_CORE_PACE_H
#define WM_CORE_PACE_H

#include <stdbool.h>
#include <stdint.h>

struct wm_pace {
	uint64_t last_start_ns; /* when the last run began */
	uint64_t last_cost_ns;	/* how long it took (busy time, not wall time) */
	bool ran;
};

/* How long to wait, from now_ns, before the next run: 0 until a run took
 * time, else what keeps the runs to share_pct percent of the time since the
 * last began (its cost * 100 / share_pct), never more than max_ns. A
 * share_pct of 0 or above 100 counts as 100 (no pacing). Times are any
 * monotonic clock's, in nanoseconds. */
uint64_t wm_pace_delay_ns(const struct wm_pace *p, uint64_t now_ns, unsigned share_pct,
			  uint64_t max_ns);
/* Records a run that began at start_ns and kept the loop busy for cost_ns. */
void wm_pace_done(struct wm_pace *p, uint64_t start_ns, uint64_t cost_ns);
/* wm_pace_delay_ns in whole milliseconds, rounded up (for a libuv timer). */
uint64_t wm_pace_delay_ms(const struct wm_pace *p, uint64_t now_ns, unsigned share_pct,
			  uint64_t max_ns);

#endif
