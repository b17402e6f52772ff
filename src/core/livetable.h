/* The leader's liveness table: when it last heard from each node, indexed by
 * node ID (open addressing, linear probing) and bounded: at most max entries,
 * whatever callers ask. Pure: time comes in as arguments, the hash seed too.
 * Callers add only nodes of the replica, so the keys are not the choice of
 * whoever sends a heartbeat. */
#ifndef WM_CORE_LIVETABLE_H
#define WM_CORE_LIVETABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ids.h"

#define WM_LIVE_MAX_DEFAULT 65536

struct wm_live_entry {
	char id[WM_NODE_ID_MAX + 1]; /* "" = a free slot */
	uint64_t last_ms;
	bool unreachable;
	bool removing;
	bool present; /* still in the mesh at the last sweep */
};

struct wm_live_table {
	struct wm_live_entry *slots; /* cap slots, cap a power of two (0: none yet) */
	size_t cap, n, max;
	uint64_t seed;
};

/* An empty table of at most max entries (0: WM_LIVE_MAX_DEFAULT). */
void wm_live_table_init(struct wm_live_table *t, size_t max, uint64_t seed);
/* Frees the slots; the table is empty and usable again. A zeroed table is fine. */
void wm_live_table_free(struct wm_live_table *t);
/* The entry of id, or NULL. */
struct wm_live_entry *wm_live_find(struct wm_live_table *t, const char *id);
/* The entry of id, added with last_ms = now when missing: 0, -ENOSPC when
 * max entries are tracked already, -EINVAL for an invalid node ID, -ENOMEM. */
int wm_live_add(struct wm_live_table *t, const char *id, uint64_t now, struct wm_live_entry **out);
/* Keeps only the entries with present set (0, or -ENOMEM with nothing
 * dropped). */
int wm_live_keep_present(struct wm_live_table *t);
/* Entries in slot order: *pos starts at 0; NULL at the end. */
struct wm_live_entry *wm_live_next(struct wm_live_table *t, size_t *pos);

#endif
