/* Start order and reverse close of a daemon's components (see lifecycle.h). */
#include "core/lifecycle.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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

/* The index of the row named name[0..len), or -1. */
static int find(const struct wm_lifecycle_row *rows, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(rows[i].name) == len && memcmp(rows[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

int wm_lifecycle_check(const struct wm_lifecycle_row *rows, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		if (!rows[i].name[0] || find(rows, i, rows[i].name, strlen(rows[i].name)) >= 0) {
			snprintf(err, errlen, "component %zu: name \"%s\" is empty or not unique",
				 i, rows[i].name);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < n; i++) {
		for (const char *p = rows[i].uses; *p;) {
			size_t len = strcspn(p, ",");
			int j = find(rows, n, p, len);
			if (j < 0) {
				snprintf(err, errlen, "%s uses \"%.*s\", which is not a component",
					 rows[i].name, (int)len, p);
				return -EINVAL;
			}
			if ((size_t)j >= i) {
				snprintf(err, errlen,
					 "%s uses %s, which must start before it (and close after "
					 "it)",
					 rows[i].name, rows[j].name);
				return -EINVAL;
			}
			p += len + (p[len] == ',');
		}
	}
	return 0;
}
