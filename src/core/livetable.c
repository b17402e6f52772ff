/* A bounded hash table of node IDs for liveness. */
#include "core/livetable.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"

void wm_live_table_init(struct wm_live_table *t, size_t max, uint64_t seed)
{
	memset(t, 0, sizeof(*t));
	t->max = max ? max : WM_LIVE_MAX_DEFAULT;
	t->seed = seed;
}

void wm_live_table_free(struct wm_live_table *t)
{
	free(t->slots);
	t->slots = NULL;
	t->cap = t->n = 0;
}

static size_t slot_of(const struct wm_live_table *t, const char *id)
{
	uint64_t h = wm_hash_fnv1a_more(WM_HASH_FNV1A_INIT ^ t->seed, id, strlen(id));
	return (size_t)(h ^ (h >> 32)) & (t->cap - 1);
}

struct wm_live_entry *wm_live_find(struct wm_live_table *t, const char *id)
{
	if (!t->cap || !id || !*id)
		return NULL;
	/* At most half full: a free slot ends every probe. */
	for (size_t i = slot_of(t, id);; i = (i + 1) & (t->cap - 1)) {
		struct wm_live_entry *e = &t->slots[i];
		if (!e->id[0])
			return NULL;
		if (strcmp(e->id, id) == 0)
			return e;
	}
}

static struct wm_live_entry *place(struct wm_live_table *t, const char *id)
{
	size_t i = slot_of(t, id);
	while (t->slots[i].id[0])
		i = (i + 1) & (t->cap - 1);
	return &t->slots[i];
}

/* Moves the entries (all, or those present) into a new table of cap slots. */
static int rehash(struct wm_live_table *t, size_t cap, bool only_present)
{
	struct wm_live_entry *old = t->slots, *slots = calloc(cap, sizeof(*slots));
	size_t old_cap = t->cap;

	if (!slots)
		return -ENOMEM;
	t->slots = slots;
	t->cap = cap;
	t->n = 0;
	for (size_t i = 0; i < old_cap; i++) {
		if (!old[i].id[0] || (only_present && !old[i].present))
			continue;
		*place(t, old[i].id) = old[i];
		t->n++;
	}
	free(old);
	return 0;
}

int wm_live_add(struct wm_live_table *t, const char *id, uint64_t now, struct wm_live_entry **out)
{
	struct wm_live_entry *e = wm_live_find(t, id);
	const char *why;

	if (e) {
		*out = e;
		return 0;
	}
	if (wm_node_id_check(id, &why) < 0)
		return -EINVAL;
	if (t->n >= t->max)
		return -ENOSPC;
	if ((t->n + 1) * 2 > t->cap) {
		int r = rehash(t, t->cap ? t->cap * 2 : 64, false);
		if (r < 0)
			return r;
	}
	e = place(t, id);
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->last_ms = now;
	t->n++;
	*out = e;
	return 0;
}

int wm_live_keep_present(struct wm_live_table *t)
{
	size_t keep = 0, cap = 64;

	if (!t->cap)
		return 0;
	for (size_t i = 0; i < t->cap; i++)
		keep += t->slots[i].id[0] && t->slots[i].present;
	while (keep * 2 > cap)
		cap *= 2;
	return rehash(t, cap, true);
}

struct wm_live_entry *wm_live_next(struct wm_live_table *t, size_t *pos)
{
	for (; *pos < t->cap; (*pos)++)
		if (t->slots[*pos].id[0])
			return &t->slots[(*pos)++];
	return NULL;
}
