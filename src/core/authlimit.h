/* Backoff for failed authentication, per source and per user name (pure: time
 * comes in as an argument). A refused credential makes the next attempt from
 * that source, and for that user name, wait twice as long as the last (from
 * base_ms up to max_ms); attempts in their wait are refused without being
 * checked, so they cost no password hashing and hold no place in the queue.
 * A source has at most max_pending attempts being checked at once.
 *
 * A user name under attack from elsewhere does not lock its owner out: a
 * source that authenticated that user successfully before (within good_ms) is
 * not held back by the user's backoff, only by its own; nor by its share of
 * pending attempts (a server forwarding many calls under its one identity),
 * only by the queue's overall bound, which the caller keeps.
 *
 * Tables are bounded (max_entries each; the least recently used entry without
 * a pending attempt makes room) and searched linearly: keys are the caller's
 * choice, so no hash an attacker could collide. */
#ifndef WM_CORE_AUTHLIMIT_H
#define WM_CORE_AUTHLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WM_AUTHLIMIT_USER_MAX 128 /* longer user names are cut for counting */

struct wm_authlimit_config {
	uint32_t base_ms;     /* the first failure's wait; 0 = 100 */
	uint32_t max_ms;      /* the longest wait; 0 = 10000 */
	uint32_t max_pending; /* attempts being checked per source; 0 = 4 */
	uint32_t max_entries; /* per table (sources, users, good pairs); 0 = 1024 */
	int64_t good_ms;      /* how long a success exempts its pair; 0 = 1 day */
};

enum wm_authlimit_outcome {
	WM_AUTHLIMIT_ACCEPTED,
	WM_AUTHLIMIT_REFUSED, /* the credentials were wrong (or missing) */
	WM_AUTHLIMIT_ERROR,   /* the backend failed: says nothing about the caller */
};

struct wm_authlimit;

int wm_authlimit_new(const struct wm_authlimit_config *cfg, struct wm_authlimit **out);
void wm_authlimit_free(struct wm_authlimit *l);

#define WM_AUTHLIMIT_KNOWN 1 /* go ahead, a known pair: not counted as pending */

/* Before checking credentials of user (NULL or "" when the request names
 * none) from source (wm_source_key). 0 (counted as pending) or
 * WM_AUTHLIMIT_KNOWN: go ahead, and call wm_authlimit_end exactly once
 * afterwards with that value. -EAGAIN: the source or the user is in its wait,
 * *retry_ms says how long is left. -EBUSY: the source has max_pending attempts
 * being checked. -ENOSPC: every entry of a table is busy with a pending
 * attempt. -EINVAL: no source. */
int wm_authlimit_begin(struct wm_authlimit *l, const char *source, const char *user, int64_t now_ms,
		       uint32_t *retry_ms);
/* After the check that wm_authlimit_begin allowed; begun is what it returned. */
void wm_authlimit_end(struct wm_authlimit *l, const char *source, const char *user, int begun,
		      enum wm_authlimit_outcome outcome, int64_t now_ms);
/* Attempts being checked for source (tests, status). */
uint32_t wm_authlimit_pending(const struct wm_authlimit *l, const char *source);

#endif
