/* The order in which a daemon's components start and close, as a pure state
 * machine: components start one after another in their listed order, and a
 * stop closes those that started, in reverse, each close waiting for the one
 * before it to finish (closes are asynchronous: libuv handles end in their
 * close callbacks). The caller does the starting and closing; this only says
 * which component is next. */
#ifndef WM_CORE_LIFECYCLE_H
#define WM_CORE_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>

/* What the caller does next. */
#define WM_LIFECYCLE_WAIT (-1) /* a close is in flight: wait for its done */
#define WM_LIFECYCLE_DONE (-2) /* nothing left: every started component closed */

struct wm_lifecycle {
	size_t n;	/* components, in start order */
	size_t started; /* components [0, started) started */
	bool stopping;	/* a stop began: nothing starts any more */
	bool in_flight; /* the close of component `started` has not finished */
};

/* n components, none started. */
void wm_lifecycle_init(struct wm_lifecycle *l, size_t n);
/* The index of the next component to start, or WM_LIFECYCLE_DONE when all
 * have started or a stop began. The component counts as started from here
 * on, whatever its start returns: a start that fails (or a stop from within
 * it) leaves it for its close to undo, so a close must cope with a partial
 * start, as libuv's uv_close copes with any initialised handle. */
int wm_lifecycle_next_start(struct wm_lifecycle *l);
/* Begins the stop; idempotent. Returns true the first time. */
bool wm_lifecycle_stop(struct wm_lifecycle *l);
/* After a stop: the index of the next component to close (and marks its close
 * as in flight), WM_LIFECYCLE_WAIT while a close is in flight, or
 * WM_LIFECYCLE_DONE. Before a stop: WM_LIFECYCLE_WAIT. */
int wm_lifecycle_next_close(struct wm_lifecycle *l);
/* The close in flight finished. Returns -EALREADY (and changes nothing) when
 * no close was in flight: a done callback called twice. */
int wm_lifecycle_closed(struct wm_lifecycle *l);
/* True once every started component has closed after a stop. */
bool wm_lifecycle_done(const struct wm_lifecycle *l);

/* A component's place in the order: its name and the names of the
 * components it uses (comma-separated, "" for none). */
struct wm_lifecycle_row {
	const char *name;
	const char *uses;
};

/* Checks that every component starts after each one it uses (so that it
 * also closes before them), and that names are known and unique: 0, or
 * -EINVAL with err saying which row is misplaced. */
int wm_lifecycle_check(const struct wm_lifecycle_row *rows, size_t n, char *err, size_t errlen);

#endif
