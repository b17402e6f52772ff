/* A bump allocator: build a response message out of many small strings and
 * free them all at once. */
#ifndef WM_UTIL_ARENA_H
#define WM_UTIL_ARENA_H

#include <stddef.h>

struct wm_arena_chunk;

struct wm_arena {
	struct wm_arena_chunk *head;
	int failed; /* an allocation failed: results are unusable */
};

void wm_arena_init(struct wm_arena *a);
/* Frees every allocation of the arena. */
void wm_arena_free(struct wm_arena *a);
/* Zeroed memory, aligned for any type; NULL (and a->failed) on ENOMEM. */
void *wm_arena_alloc(struct wm_arena *a, size_t size);
char *wm_arena_strdup(struct wm_arena *a, const char *s);

#endif
