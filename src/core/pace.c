/* Pacing of per-change work (see pace.h). */
#include "core/pace.h"

uint64_t wm_pace_delay_ns(const struct wm_pace *p, uint64_t now_ns, unsigned share_pct,
			  uint64_t max_ns)
{
	uint64_t span, next;

	if (!p || !p->ran || share_pct == 0 || share_pct >= 100)
		return 0;
	/* cost * 100 / share without overflow for any cost a loop can have */
	span = p->last_cost_ns / share_pct * 100 + p->last_cost_ns % share_pct * 100 / share_pct;
	next = p->last_start_ns + span;
	if (next < p->last_start_ns || now_ns < p->last_start_ns) /* wrapped, or clock went back */
		return 0;
	if (next <= now_ns)
		return 0;
	return next - now_ns < max_ns ? next - now_ns : max_ns;
}

void wm_pace_done(struct wm_pace *p, uint64_t start_ns, uint64_t cost_ns)
{
	p->last_start_ns = start_ns;
	p->last_cost_ns = cost_ns;
	p->ran = true;
}

uint64_t wm_pace_delay_ms(const struct wm_pace *p, uint64_t now_ns, unsigned share_pct,
			  uint64_t max_ns)
{
	uint64_t ns = wm_pace_delay_ns(p, now_ns, share_pct, max_ns);

	return ns / 1000000 + (ns % 1000000 != 0);
}
