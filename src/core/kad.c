/* Kademlia's pure parts (see kad.h): the message codec, distance, routing
 * table, provider store and lookup state. */
#include "core/kad.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- message ---- */

static int peer_decode(const uint8_t *buf, size_t len, struct wm_kad_peer *p)
{
	struct wm_pb_reader r = {buf, len};
	struct wm_pb_field f;
	int rc;

	memset(p, 0, sizeof(*p));
	while ((rc = wm_pb_next(&r, &f)) == 1) {
		if (f.num == 1 && f.type == 2) {
			if (f.len == 0 || f.len > WM_KAD_ID_MAX)
				return -EBADMSG;
			memcpy(p->id, f.buf, f.len);
			p->id_len = f.len;
		} else if (f.num == 2 && f.type == 2) {
			if (p->naddrs < WM_KAD_ADDRS && f.len > 0 && f.len <= WM_MADDR_MAX) {
				memcpy(p->addrs[p->naddrs], f.buf, f.len);
				p->addr_len[p->naddrs++] = f.len;
			}
		} else if (f.num == 3 && f.type == 0) {
			p->connection = f.v > 3 ? 0 : (uint32_t)f.v;
		}
	}
	if (rc < 0 || p->id_len == 0)
		return -EBADMSG;
	return 0;
}

int wm_kad_msg_decode(const uint8_t *buf, size_t len, struct wm_kad_msg *m)
{
	struct wm_pb_reader r = {buf, len};
	struct wm_pb_field f;
	int rc;

	memset(m, 0, sizeof(*m));
	if (len > WM_KAD_MSG_MAX)
		return -EBADMSG;
	while ((rc = wm_pb_next(&r, &f)) == 1) {
		switch (f.num) {
		case 1:
			if (f.type != 0 || f.v > WM_KAD_PING)
				return -EBADMSG;
			m->type = (uint32_t)f.v;
			break;
		case 2:
			if (f.type != 2 || f.len > WM_KAD_KEY_MAX)
				return -EBADMSG;
			memcpy(m->key, f.buf, f.len);
			m->key_len = f.len;
			break;
		case 3:
			if (f.type != 2)
				return -EBADMSG;
			m->has_record = true;
			break;
		case 8:
		case 9: {
			struct wm_kad_peer *list = f.num == 8 ? m->closer : m->providers;
			size_t *n = f.num == 8 ? &m->ncloser : &m->nproviders;
			struct wm_kad_peer tmp;
			if (f.type != 2)
				return -EBADMSG;
			if (peer_decode(f.buf, f.len, *n < WM_KAD_PEERS ? &list[*n] : &tmp))
				return -EBADMSG;
			if (*n < WM_KAD_PEERS)
				(*n)++;
			break;
		}
		default:
			break; /* clusterLevel (10) and anything newer */
		}
	}
	return rc < 0 ? -EBADMSG : 0;
}

static int peer_encode(const struct wm_kad_peer *p, uint8_t *out, size_t cap)
{
	size_t off = 0;
	int rc;

	if (p->id_len == 0 || p->id_len > WM_KAD_ID_MAX || p->naddrs > WM_KAD_ADDRS)
		return -EINVAL;
	if ((rc = wm_pb_put_bytes(out, cap, &off, 1, p->id, p->id_len)))
		return rc;
	for (size_t i = 0; i < p->naddrs; i++) {
		if (p->addr_len[i] > WM_MADDR_MAX)
			return -EINVAL;
		if ((rc = wm_pb_put_bytes(out, cap, &off, 2, p->addrs[i], p->addr_len[i])))
			return rc;
	}
	if (p->connection && (rc = wm_pb_put_varint(out, cap, &off, 3, p->connection)))
		return rc;
	return (int)off;
}

int wm_kad_msg_encode(const struct wm_kad_msg *m, uint8_t *out, size_t cap)
{
	/* One peer: its ID and addresses with their tags and lengths. */
	uint8_t pb[WM_KAD_ID_MAX + WM_KAD_ADDRS * (WM_MADDR_MAX + 3) + 16];
	size_t off = 0;
	int rc;

	if (m->key_len > WM_KAD_KEY_MAX || m->ncloser > WM_KAD_PEERS ||
	    m->nproviders > WM_KAD_PEERS || m->type > WM_KAD_PING)
		return -EINVAL;
	if ((rc = wm_pb_put_varint(out, cap, &off, 1, m->type)))
		return rc;
	if ((rc = wm_pb_put_bytes(out, cap, &off, 2, m->key, m->key_len)))
		return rc;
	for (int list = 0; list < 2; list++) {
		const struct wm_kad_peer *v = list ? m->providers : m->closer;
		size_t n = list ? m->nproviders : m->ncloser;
		for (size_t i = 0; i < n; i++) {
			int pl = peer_encode(&v[i], pb, sizeof(pb));
			if (pl < 0)
				return pl == -ENOSPC ? -EINVAL : pl;
			if ((rc = wm_pb_put_bytes(out, cap, &off, list ? 9 : 8, pb, (size_t)pl)))
				return rc;
		}
	}
	return (int)off;
}

/* ---- distance ---- */

void wm_kad_distance(const uint8_t a[32], const uint8_t b[32], uint8_t out[32])
{
	for (int i = 0; i < 32; i++)
		out[i] = a[i] ^ b[i];
}

int wm_kad_closer(const uint8_t target[32], const uint8_t a[32], const uint8_t b[32])
{
	for (int i = 0; i < 32; i++) {
		uint8_t da = a[i] ^ target[i], db = b[i] ^ target[i];
		if (da != db)
			return da < db ? -1 : 1;
	}
	return 0;
}

int wm_kad_bucket_index(const uint8_t self[32], const uint8_t b[32])
{
	for (int i = 0; i < 32; i++) {
		uint8_t d = self[i] ^ b[i];
		if (d) {
			int lz = 0;
			while (!(d & 0x80)) {
				d <<= 1;
				lz++;
			}
			return 255 - (i * 8 + lz);
		}
	}
	return -1;
}

/* ---- routing table ---- */

void wm_kad_table_init(struct wm_kad_table *t, const uint8_t self[32], uint32_t max_failures)
{
	memset(t, 0, sizeof(*t));
	memcpy(t->self, self, 32);
	t->max_failures = max_failures ? max_failures : 1;
}

void wm_kad_table_free(struct wm_kad_table *t)
{
	for (int i = 0; i < WM_KAD_BUCKETS; i++) {
		free(t->b[i]);
		t->b[i] = NULL;
	}
	t->size = 0;
}

static struct wm_kad_bucket *bucket_of(const struct wm_kad_table *t, const uint8_t kid[32],
				       size_t *pos)
{
	int bi = wm_kad_bucket_index(t->self, kid);
	struct wm_kad_bucket *b = bi < 0 ? NULL : t->b[bi];

	if (!b)
		return NULL;
	for (size_t i = 0; i < b->n; i++) {
		if (!memcmp(b->e[i].kid, kid, 32)) {
			*pos = i;
			return b;
		}
	}
	return NULL;
}

int wm_kad_table_seen(struct wm_kad_table *t, const uint8_t kid[32], const struct wm_kad_peer *p,
		      uint64_t now_ms, const struct wm_kad_entry **check)
{
	int bi = wm_kad_bucket_index(t->self, kid);
	struct wm_kad_bucket *b;
	struct wm_kad_entry e;
	size_t pos;

	*check = NULL;
	if (bi < 0 || p->id_len == 0)
		return -EINVAL;
	if (!t->b[bi] && !(t->b[bi] = calloc(1, sizeof(struct wm_kad_bucket))))
		return -ENOMEM;
	b = t->b[bi];
	memset(&e, 0, sizeof(e));
	memcpy(e.kid, kid, 32);
	e.peer = *p;
	e.last_seen_ms = now_ms;
	if (bucket_of(t, kid, &pos)) {
		/* Known: to the tail, the most recently seen end. A peer that
		 * answers without addresses keeps those we had. */
		if (p->naddrs == 0)
			e.peer = b->e[pos].peer;
		memmove(&b->e[pos], &b->e[pos + 1], (b->n - pos - 1) * sizeof(b->e[0]));
		b->e[b->n - 1] = e;
		return 0;
	}
	if (b->n < WM_KAD_K) {
		b->e[b->n++] = e;
		t->size++;
		return 0;
	}
	/* Full: long-lived peers are worth more than newcomers (the paper's
	 * rule); the newcomer waits while the oldest is checked. */
	b->pending = e;
	b->has_pending = true;
	*check = &b->e[0];
	return 1;
}

void wm_kad_table_remove(struct wm_kad_table *t, const uint8_t kid[32])
{
	size_t pos;
	struct wm_kad_bucket *b = bucket_of(t, kid, &pos);

	if (!b)
		return;
	memmove(&b->e[pos], &b->e[pos + 1], (b->n - pos - 1) * sizeof(b->e[0]));
	b->n--;
	t->size--;
	if (b->has_pending) {
		b->e[b->n++] = b->pending;
		b->has_pending = false;
		t->size++;
	}
}

bool wm_kad_table_failed(struct wm_kad_table *t, const uint8_t kid[32])
{
	size_t pos;
	struct wm_kad_bucket *b = bucket_of(t, kid, &pos);

	if (!b)
		return false;
	if (++b->e[pos].failures < t->max_failures)
		return false;
	wm_kad_table_remove(t, kid);
	return true;
}

const struct wm_kad_entry *wm_kad_table_find(const struct wm_kad_table *t, const uint8_t kid[32])
{
	size_t pos;
	struct wm_kad_bucket *b = bucket_of(t, kid, &pos);

	return b ? &b->e[pos] : NULL;
}

size_t wm_kad_table_closest(const struct wm_kad_table *t, const uint8_t target[32], size_t max,
			    const struct wm_kad_entry **out)
{
	size_t n = 0;

	/* Insertion into a sorted array of at most max: the table holds at
	 * most 256 * k entries, and max is k in practice. */
	for (int bi = 0; bi < WM_KAD_BUCKETS && max; bi++) {
		const struct wm_kad_bucket *b = t->b[bi];
		for (size_t i = 0; b && i < b->n; i++) {
			const struct wm_kad_entry *e = &b->e[i];
			size_t j = n;
			while (j > 0 && wm_kad_closer(target, e->kid, out[j - 1]->kid) < 0)
				j--;
			if (j >= max)
				continue;
			size_t keep = n < max ? n : max - 1;
			memmove(&out[j + 1], &out[j], (keep - j) * sizeof(out[0]));
			out[j] = e;
			if (n < max)
				n++;
		}
	}
	return n;
}

/* ---- provider store ---- */

int wm_kad_providers_init(struct wm_kad_providers *s, size_t per_key, size_t total, uint64_t ttl_ms)
{
	memset(s, 0, sizeof(*s));
	if (!per_key || !total || !ttl_ms)
		return -EINVAL;
	s->per_key = per_key;
	s->cap = total;
	s->ttl_ms = ttl_ms;
	return 0;
}

void wm_kad_providers_free(struct wm_kad_providers *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

void wm_kad_providers_expire(struct wm_kad_providers *s, uint64_t now_ms)
{
	size_t w = 0;

	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].expires_ms > now_ms)
			s->v[w++] = s->v[i];
	s->n = w;
}

int wm_kad_providers_add(struct wm_kad_providers *s, const uint8_t key_kid[32],
			 const uint8_t kid[32], const struct wm_kad_peer *p, uint64_t now_ms)
{
	size_t same_key = 0;

	wm_kad_providers_expire(s, now_ms);
	for (size_t i = 0; i < s->n; i++) {
		struct wm_kad_provider *r = &s->v[i];
		if (memcmp(r->key_kid, key_kid, 32))
			continue;
		if (!memcmp(r->kid, kid, 32)) {
			if (p->naddrs)
				r->peer = *p;
			r->expires_ms = now_ms + s->ttl_ms;
			return 0;
		}
		same_key++;
	}
	if (same_key >= s->per_key || s->n >= s->cap)
		return -ENOSPC;
	/* Grown in steps, never past cap: an idle node holds nothing. */
	if (s->n == 0 || (s->n & (s->n - 1)) == 0) {
		size_t want = s->n ? s->n * 2 : 4;
		if (want > s->cap)
			want = s->cap;
		struct wm_kad_provider *v = realloc(s->v, want * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
	}
	struct wm_kad_provider *r = &s->v[s->n++];
	memcpy(r->key_kid, key_kid, 32);
	memcpy(r->kid, kid, 32);
	r->peer = *p;
	r->expires_ms = now_ms + s->ttl_ms;
	return 0;
}

size_t wm_kad_providers_get(struct wm_kad_providers *s, const uint8_t key_kid[32], uint64_t now_ms,
			    struct wm_kad_peer *out, size_t max)
{
	size_t n = 0;

	wm_kad_providers_expire(s, now_ms);
	for (size_t i = 0; i < s->n && n < max; i++)
		if (!memcmp(s->v[i].key_kid, key_kid, 32))
			out[n++] = s->v[i].peer;
	return n;
}

/* ---- lookup ---- */

void wm_kad_lookup_init(struct wm_kad_lookup *l, const uint8_t target[32], const uint8_t self[32],
			size_t alpha, size_t k)
{
	memset(l, 0, sizeof(*l));
	memcpy(l->target, target, 32);
	memcpy(l->self, self, 32);
	l->alpha = alpha ? alpha : WM_KAD_ALPHA;
	l->k = k && k <= WM_KAD_LOOKUP_MAX ? k : WM_KAD_K;
}

void wm_kad_lookup_add(struct wm_kad_lookup *l, const uint8_t kid[32], const struct wm_kad_peer *p)
{
	size_t j;

	if (!memcmp(kid, l->self, 32) || p->id_len == 0)
		return;
	for (size_t i = 0; i < l->n; i++)
		if (!memcmp(l->c[i].kid, kid, 32))
			return;
	for (j = l->n; j > 0 && wm_kad_closer(l->target, kid, l->c[j - 1].kid) < 0; j--)
		;
	if (j >= WM_KAD_LOOKUP_MAX)
		return;
	size_t keep = l->n < WM_KAD_LOOKUP_MAX ? l->n : WM_KAD_LOOKUP_MAX - 1;
	/* A dropped farthest candidate that was asked no longer counts. */
	if (keep < l->n && l->c[l->n - 1].state == WM_KAD_C_ASKED)
		l->inflight--;
	memmove(&l->c[j + 1], &l->c[j], (keep - j) * sizeof(l->c[0]));
	memset(&l->c[j], 0, sizeof(l->c[j]));
	memcpy(l->c[j].kid, kid, 32);
	l->c[j].peer = *p;
	l->c[j].state = WM_KAD_C_NEW;
	if (l->n < WM_KAD_LOOKUP_MAX)
		l->n++;
}

const struct wm_kad_cand *wm_kad_lookup_next(struct wm_kad_lookup *l)
{
	size_t live = 0;

	if (l->inflight >= l->alpha)
		return NULL;
	for (size_t i = 0; i < l->n && live < l->k; i++) {
		if (l->c[i].state == WM_KAD_C_FAILED)
			continue;
		live++;
		if (l->c[i].state == WM_KAD_C_NEW) {
			l->c[i].state = WM_KAD_C_ASKED;
			l->inflight++;
			return &l->c[i];
		}
	}
	return NULL;
}

void wm_kad_lookup_done(struct wm_kad_lookup *l, const uint8_t kid[32], bool ok)
{
	for (size_t i = 0; i < l->n; i++) {
		if (memcmp(l->c[i].kid, kid, 32))
			continue;
		if (l->c[i].state == WM_KAD_C_ASKED) {
			l->inflight--;
			l->c[i].state = ok ? WM_KAD_C_DONE : WM_KAD_C_FAILED;
		}
		return;
	}
}

bool wm_kad_lookup_finished(const struct wm_kad_lookup *l)
{
	size_t live = 0;

	if (l->inflight)
		return false;
	for (size_t i = 0; i < l->n && live < l->k; i++) {
		if (l->c[i].state == WM_KAD_C_FAILED)
			continue;
		live++;
		if (l->c[i].state != WM_KAD_C_DONE)
			return false;
	}
	return true;
}
