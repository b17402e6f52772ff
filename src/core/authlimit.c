/* Per-source and per-user backoff after failed authentication: small bounded
 * tables searched linearly (see authlimit.h for why not a hash). */
#include "core/authlimit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/source.h"

#define KEY_MAX (WM_SOURCE_KEY_MAX + WM_AUTHLIMIT_USER_MAX + 2)

struct entry {
	char key[KEY_MAX];
	uint32_t failures;
	uint32_t pending;
	int64_t next_ms; /* no attempt before this */
	int64_t last_ms; /* last use, for eviction */
};

struct table {
	struct entry *e;
	size_t n, cap;
};

struct wm_authlimit {
	struct wm_authlimit_config cfg;
	struct table sources, users, good;
};

int wm_authlimit_new(const struct wm_authlimit_config *cfg, struct wm_authlimit **out)
{
	struct wm_authlimit *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	if (cfg)
		l->cfg = *cfg;
	if (!l->cfg.base_ms)
		l->cfg.base_ms = 100;
	if (!l->cfg.max_ms)
		l->cfg.max_ms = 10000;
	if (l->cfg.max_ms < l->cfg.base_ms)
		l->cfg.max_ms = l->cfg.base_ms;
	if (!l->cfg.max_pending)
		l->cfg.max_pending = 4;
	if (!l->cfg.max_entries)
		l->cfg.max_entries = 1024;
	if (!l->cfg.good_ms)
		l->cfg.good_ms = 24 * 3600 * 1000LL;
	*out = l;
	return 0;
}

void wm_authlimit_free(struct wm_authlimit *l)
{
	if (!l)
		return;
	free(l->sources.e);
	free(l->users.e);
	free(l->good.e);
	free(l);
}

static struct entry *find(const struct table *t, const char *key)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->e[i].key, key) == 0)
			return &t->e[i];
	return NULL;
}

/* The entry of key, made if needed: in a free slot, else in place of the
 * least recently used one without a pending attempt. NULL when none is free. */
static struct entry *get(struct wm_authlimit *l, struct table *t, const char *key, int64_t now_ms)
{
	struct entry *e = find(t, key);

	if (e)
		return e;
	if (t->n < l->cfg.max_entries) {
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 16;
			if (cap > l->cfg.max_entries)
				cap = l->cfg.max_entries;
			struct entry *p = realloc(t->e, cap * sizeof(*p));
			if (!p)
				return NULL;
			t->e = p;
			t->cap = cap;
		}
		e = &t->e[t->n++];
	} else {
		for (size_t i = 0; i < t->n; i++)
			if (!t->e[i].pending && (!e || t->e[i].last_ms < e->last_ms))
				e = &t->e[i];
		if (!e)
			return NULL;
	}
	memset(e, 0, sizeof(*e));
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->last_ms = now_ms;
	return e;
}

/* A quiet spell as long as the longest wait forgives the past failures. */
static void decay(const struct wm_authlimit *l, struct entry *e, int64_t now_ms)
{
	if (e->failures && now_ms >= e->next_ms + (int64_t)l->cfg.max_ms)
		e->failures = 0;
}

static void fail(const struct wm_authlimit *l, struct entry *e, int64_t now_ms)
{
	decay(l, e, now_ms);
	if (e->failures < UINT32_MAX)
		e->failures++;
	uint32_t shift = e->failures - 1 < 20 ? e->failures - 1 : 20;
	uint64_t wait = (uint64_t)l->cfg.base_ms << shift;
	if (wait > l->cfg.max_ms)
		wait = l->cfg.max_ms;
	e->next_ms = now_ms + (int64_t)wait;
	e->last_ms = now_ms;
}

static void pair_key(char *out, const char *source, const char *user)
{
	snprintf(out, KEY_MAX, "%.*s\n%.*s", WM_SOURCE_KEY_MAX - 1, source, WM_AUTHLIMIT_USER_MAX,
		 user);
}

static void user_key(char *out, const char *user)
{
	snprintf(out, WM_AUTHLIMIT_USER_MAX + 1, "%s", user);
}

int wm_authlimit_begin(struct wm_authlimit *l, const char *source, const char *user, int64_t now_ms,
		       uint32_t *retry_ms)
{
	char key[KEY_MAX];
	struct entry *s, *u;

	*retry_ms = 0;
	if (!source || !*source)
		return -EINVAL;
	snprintf(key, WM_SOURCE_KEY_MAX, "%s", source);
	if (!(s = get(l, &l->sources, key, now_ms)))
		return -ENOSPC;
	s->last_ms = now_ms;
	decay(l, s, now_ms);
	if (s->next_ms > now_ms) {
		*retry_ms = (uint32_t)(s->next_ms - now_ms);
		return -EAGAIN;
	}
	bool good = false;
	if (user && *user) {
		pair_key(key, source, user);
		struct entry *g = find(&l->good, key);
		good = g && now_ms - g->last_ms < l->cfg.good_ms;
		user_key(key, user);
		u = find(&l->users, key);
		if (u) {
			decay(l, u, now_ms);
			if (u->next_ms > now_ms && !good) {
				*retry_ms = (uint32_t)(u->next_ms - now_ms);
				return -EAGAIN;
			}
		}
	}
	if (good)
		return WM_AUTHLIMIT_KNOWN;
	if (s->pending >= l->cfg.max_pending)
		return -EBUSY;
	s->pending++;
	return 0;
}

void wm_authlimit_end(struct wm_authlimit *l, const char *source, const char *user, int begun,
		      enum wm_authlimit_outcome outcome, int64_t now_ms)
{
	char key[KEY_MAX];
	struct entry *s, *u;

	if (!source || !*source)
		return;
	snprintf(key, WM_SOURCE_KEY_MAX, "%s", source);
	s = find(&l->sources, key);
	if (begun == 0 && s && s->pending)
		s->pending--;
	bool has_user = user && *user;
	switch (outcome) {
	case WM_AUTHLIMIT_ACCEPTED:
		/* A success forgives nothing (failures fade after a quiet spell):
		 * else an attacker holding one good account could clear the wait
		 * between guesses at others. It only exempts this pair. */
		if (!has_user)
			break;
		pair_key(key, source, user);
		if ((u = get(l, &l->good, key, now_ms)))
			u->last_ms = now_ms;
		break;
	case WM_AUTHLIMIT_REFUSED:
		if (s || (s = get(l, &l->sources, key, now_ms)))
			fail(l, s, now_ms);
		if (!has_user)
			break;
		user_key(key, user);
		if ((u = get(l, &l->users, key, now_ms)))
			fail(l, u, now_ms);
		break;
	case WM_AUTHLIMIT_ERROR:
		break;
	}
}

uint32_t wm_authlimit_pending(const struct wm_authlimit *l, const char *source)
{
	char key[WM_SOURCE_KEY_MAX];

	snprintf(key, sizeof(key), "%s", source ? source : "");
	const struct entry *s = find(&l->sources, key);
	return s ? s->pending : 0;
}
