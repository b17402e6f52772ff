/* See looprun.h. */
#include "looprun.h"

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

bool wm_test_loop_until(uv_loop_t *loop, bool (*pred)(void *), void *arg, uint64_t ms)
{
	uint64_t end = uv_hrtime() + ms * 1000000ull;
	uv_timer_t tick;
	bool ok = false;

	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, tick_cb, 5, 5);
	while (uv_hrtime() < end && !(ok = pred(arg)))
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return ok;
}
