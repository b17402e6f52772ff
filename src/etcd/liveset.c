/* The liveness marks in force on etcd: what every server's record holds
 * (liveset.h). */
#include "etcd/liveset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sort.h"

void wm_etcd_liveset_init(struct wm_etcd_liveset *l)
{
	l->recs = NULL;
	l->n = 0;
}

void wm_etcd_liveset_clear(struct wm_etcd_liveset *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->recs[i].ids);
	l->n = 0;
}

void wm_etcd_liveset_free(struct wm_etcd_liveset *l)
{
	wm_etcd_liveset_clear(l);
	free(l->recs);
	l->recs = NULL;
}

static size_t rec_find(const struct wm_etcd_liveset *l, const char *server, bool *found)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(l->recs[mid].server, server);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static int id_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

int wm_etcd_liveset_put(struct wm_etcd_liveset *l, const char *server, char *const *ids, size_t n,
			bool *changed)
{
	const char *why;
	bool found;
	if (changed)
		*changed = false;
	if (!server || wm_node_id_check(server, &why) < 0 || (n && !ids))
		return -EINVAL;
	if (n > WM_ETCD_LIVE_MAX_MARKS)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		if (!ids[i] || wm_node_id_check(ids[i], &why) < 0)
			return -EINVAL;
	char(*v)[WM_NODE_ID_MAX + 1] = n ? calloc(n, sizeof(*v)) : NULL;
	if (n && !v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		snprintf(v[i], sizeof(v[i]), "%s", ids[i]);
	wm_sort(v, n, sizeof(*v), id_cmp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (k == 0 || strcmp(v[k - 1], v[i]) != 0)
			memmove(v[k++], v[i], sizeof(*v));
	size_t at = rec_find(l, server, &found);
	if (found) {
		struct wm_etcd_live_rec *r = &l->recs[at];
		bool same = r->n == k && (k == 0 || memcmp(r->ids, v, k * sizeof(*v)) == 0);
		free(r->ids);
		r->ids = v;
		r->n = k;
		if (changed)
			*changed = !same;
		return 0;
	}
	if (l->n >= WM_ETCD_LIVE_MAX_SERVERS) {
		free(v);
		return -ENOSPC;
	}
	struct wm_etcd_live_rec *nr = realloc(l->recs, (l->n + 1) * sizeof(*nr));
	if (!nr) {
		free(v);
		return -ENOMEM;
	}
	l->recs = nr;
	memmove(&l->recs[at + 1], &l->recs[at], (l->n - at) * sizeof(*nr));
	l->n++;
	snprintf(l->recs[at].server, sizeof(l->recs[at].server), "%s", server);
	l->recs[at].ids = v;
	l->recs[at].n = k;
	/* A new record can only take marks away from the others'. */
	if (changed)
		*changed = true;
	return 0;
}

bool wm_etcd_liveset_del(struct wm_etcd_liveset *l, const char *server)
{
	bool found;
	size_t at = server ? rec_find(l, server, &found) : 0;
	if (!server || !found)
		return false;
	free(l->recs[at].ids);
	memmove(&l->recs[at], &l->recs[at + 1], (l->n - at - 1) * sizeof(*l->recs));
	l->n--;
	return true;
}

static bool rec_has(const struct wm_etcd_live_rec *r, const char *id)
{
	return bsearch(id, r->ids, r->n, sizeof(*r->ids), id_cmp) != NULL;
}

int wm_etcd_liveset_marks(const struct wm_etcd_liveset *l, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!l->n)
		return 0;
	/* Every mark in force is in the smallest record. */
	const struct wm_etcd_live_rec *small = &l->recs[0];
	for (size_t i = 1; i < l->n; i++)
		if (l->recs[i].n < small->n)
			small = &l->recs[i];
	if (!small->n)
		return 0;
	char *blk = malloc(small->n * (sizeof(char *) + WM_NODE_ID_MAX + 1));
	if (!blk)
		return -ENOMEM;
	char **ids = (char **)blk;
	char *str = blk + small->n * sizeof(char *);
	size_t k = 0;
	for (size_t j = 0; j < small->n; j++) {
		bool all = true;
		for (size_t i = 0; all && i < l->n; i++)
			all = &l->recs[i] == small || rec_has(&l->recs[i], small->ids[j]);
		if (!all)
			continue;
		char *slot = str + k * (WM_NODE_ID_MAX + 1);
		snprintf(slot, WM_NODE_ID_MAX + 1, "%s", small->ids[j]);
		ids[k++] = slot;
	}
	if (!k) {
		free(blk);
		return 0;
	}
	*out = ids;
	*n = k;
	return 0;
}
