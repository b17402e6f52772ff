/* A bump allocator for building response messages. */
#include "util/arena.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

struct wm_arena_chunk {
	struct wm_arena_chunk *next;
	size_t used, cap;
	alignas(max_align_t) unsigned char data[];
};

#define CHUNK_SIZE 4096

void wm_arena_init(struct wm_arena *a)
{
	a->head = NULL;
	a->failed = 0;
}

void wm_arena_free(struct wm_arena *a)
{
	struct wm_arena_chunk *c = a->head;
	while (c) {
		struct wm_arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	wm_arena_init(a);
}

void *wm_arena_alloc(struct wm_arena *a, size_t size)
{
	size_t align = alignof(max_align_t);
	size = (size + align - 1) & ~(align - 1);
	struct wm_arena_chunk *c = a->head;
	if (!c || c->cap - c->used < size) {
		size_t cap = size > CHUNK_SIZE ? size : CHUNK_SIZE;
		c = malloc(sizeof(*c) + cap);
		if (!c) {
			a->failed = 1;
			return NULL;
		}
		c->used = 0;
		c->cap = cap;
		c->next = a->head;
		a->head = c;
	}
	void *p = c->data + c->used;
	c->used += size;
	memset(p, 0, size);
	return p;
}

char *wm_arena_strdup(struct wm_arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = wm_arena_alloc(a, n);
	if (p)
		memcpy(p, s, n);
	return p;
}
