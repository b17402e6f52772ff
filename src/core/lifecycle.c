/* Start order and reverse close of a daemon's components (see lifecycle.h). */
#include "core/lifecycle.h"

#include <errno.h>

void wm_lifecycle_init(struct wm_lifecycle *l, size_t n)
{
	*l = (struct wm_lifecycle){.n = n};
}

int wm_lifecycle_next_start(struct wm_lifecycle *l)
{
	if (l->stopping || l->started >= l->n)
		return WM_LIFECYCLE_DONE;
	return (int)l->started++;
}

bool wm_lifecycle_stop(struct wm_lifecycle *l)
{
	if (l->stopping)
		return false;
	l->stopping = true;
	return true;
}

int wm_lifecycle_next_close(struct wm_lifecycle *l)
{
	if (!l->stopping || l->in_flight)
		return WM_LIFECYCLE_WAIT;
	if (l->started == 0)
		return WM_LIFECYCLE_DONE;
	/* The component closing keeps its place in `started` until its done
	 * callback: the ones before it stay up while it needs them. */
	l->in_flight = true;
	return (int)(l->started - 1);
}

int wm_lifecycle_closed(struct wm_lifecycle *l)
{
	if (!l->in_flight)
		return -EALREADY;
	l->in_flight = false;
	l->started--;
	return 0;
}

bool wm_lifecycle_done(const struct wm_lifecycle *l)
{
	return l->stopping && !l->in_flight && l->started == 0;
}
