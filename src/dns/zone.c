/* MeshDNS records and answers (see zone.h). */
#include "dns/zone.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/key.h"
#include "dns/dnsmsg.h"

#define CNAME_HOPS 8

struct zrr {
	uint32_t name, data; /* offsets in str */
	uint16_t type, len;
};

/* One owner name: its records are rr[first .. first+count) (count 0: an
 * empty non-terminal, a name that exists only as a parent of others). */
struct zname {
	uint32_t name, first, count;
};

struct wm_dns_zone {
	char domain[WM_DNS_NAME_MAX + 1];
	char ns[WM_DNS_NAME_MAX + 1];
	char hostmaster[WM_DNS_NAME_MAX + 1];
	uint32_t serial, ttl;
	char rev[2][80];
	struct wm_prefix nets[2];
	size_t n_rev;
	char *str;
	size_t str_len, str_cap;
	struct zrr *rr;
	size_t n, cap;
	struct zname *names;
	size_t n_names;
	uint32_t *hash; /* name index + 1, 0 = empty; open addressing */
	size_t hash_size;
	bool sealed;
};

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static int str_add(struct wm_dns_zone *z, const void *p, size_t n, bool nul, uint32_t *off)
{
	size_t need = z->str_len + n + (nul ? 1 : 0);
	if (need > UINT32_MAX)
		return -ENOMEM;
	if (need > z->str_cap) {
		size_t cap = z->str_cap ? z->str_cap * 2 : 4096;
		while (cap < need)
			cap *= 2;
		char *s = realloc(z->str, cap);
		if (!s)
			return -ENOMEM;
		z->str = s;
		z->str_cap = cap;
	}
	if (n) /* p may be NULL for an empty string */
		memcpy(z->str + z->str_len, p, n);
	if (nul)
		z->str[z->str_len + n] = '\0';
	*off = (uint32_t)z->str_len;
	z->str_len = need;
	return 0;
}

int wm_dns_zone_new(const char *domain, const char *ns, uint32_t serial, uint32_t ttl,
		    struct wm_dns_zone **out)
{
	struct wm_dns_zone *z;

	if (wm_dns_name_check(domain, 0, NULL) < 0 || wm_dns_name_check(ns, 0, NULL) < 0 ||
	    strlen(domain) + 11 > WM_DNS_NAME_MAX)
		return -EINVAL;
	z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	snprintf(z->domain, sizeof(z->domain), "%s", domain);
	snprintf(z->ns, sizeof(z->ns), "%s", ns);
	snprintf(z->hostmaster, sizeof(z->hostmaster), "hostmaster.%s", domain);
	z->serial = serial;
	z->ttl = ttl;
	int err = wm_dns_zone_add(z, domain, WM_DNS_SOA, NULL, 0);
	if (!err)
		err = wm_dns_zone_add(z, domain, WM_DNS_NS, ns, strlen(ns));
	if (err) {
		wm_dns_zone_free(z);
		return err;
	}
	*out = z;
	return 0;
}

void wm_dns_zone_free(struct wm_dns_zone *z)
{
	if (!z)
		return;
	free(z->str);
	free(z->rr);
	free(z->names);
	free(z->hash);
	free(z);
}

size_t wm_dns_zone_size(const struct wm_dns_zone *z)
{
	return z->n;
}

/* The apex the name lies under: the domain or a reverse zone; NULL if none. */
static const char *apex_of(const struct wm_dns_zone *z, const char *name)
{
	if (wm_dns_name_in(name, z->domain))
		return z->domain;
	for (size_t i = 0; i < z->n_rev; i++)
		if (wm_dns_name_in(name, z->rev[i]))
			return z->rev[i];
	return NULL;
}

static bool rdata_ok(uint16_t type, const uint8_t *d, size_t len)
{
	switch (type) {
	case WM_DNS_A:
		return len == 4;
	case WM_DNS_AAAA:
		return len == 16;
	case WM_DNS_SOA:
		return len == 0;
	case WM_DNS_TXT:
		for (size_t p = 0; p < len; p += 1u + d[p])
			if (p + 1u + d[p] > len)
				return false;
		return len > 0;
	case WM_DNS_SRV:
		return len > 6;
	case WM_DNS_CNAME:
	case WM_DNS_PTR:
	case WM_DNS_NS:
		return len > 0;
	default:
		return false;
	}
}

int wm_dns_zone_add(struct wm_dns_zone *z, const char *owner, uint16_t type, const void *rdata,
		    size_t len)
{
	struct zrr r = {.type = type, .len = (uint16_t)len};
	int err;

	if (z->sealed || !apex_of(z, owner) || len > 1024 || !rdata_ok(type, rdata, len))
		return -EINVAL;
	if (type == WM_DNS_SRV || type == WM_DNS_CNAME || type == WM_DNS_PTR || type == WM_DNS_NS) {
		char name[WM_DNS_NAME_MAX + 1];
		size_t skip = type == WM_DNS_SRV ? 6 : 0;
		if (len - skip > WM_DNS_NAME_MAX)
			return -EINVAL;
		memcpy(name, (const char *)rdata + skip, len - skip);
		name[len - skip] = '\0';
		if (wm_dns_name_check(name, WM_DNS_NAME_UNDERSCORE, NULL) < 0)
			return -EINVAL;
	}
	if (z->n == z->cap) {
		size_t cap = z->cap ? z->cap * 2 : 64;
		struct zrr *p = realloc(z->rr, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		z->rr = p;
		z->cap = cap;
	}
	/* Consecutive records of one owner share its name. */
	if (z->n && strcmp(z->str + z->rr[z->n - 1].name, owner) == 0)
		r.name = z->rr[z->n - 1].name;
	else if ((err = str_add(z, owner, strlen(owner), true, &r.name)))
		return err;
	/* CNAME/PTR/NS/SRV targets are kept with a NUL so they can be read
	 * as text; len still counts without it. */
	if ((err = str_add(z, rdata, len, true, &r.data)))
		return err;
	z->rr[z->n++] = r;
	return 0;
}

int wm_dns_zone_add_txt(struct wm_dns_zone *z, const char *owner, const char *const *strings,
			size_t n)
{
	uint8_t buf[1024];
	size_t pos = 0;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(strings[i]), done = 0;
		do {
			size_t piece = l - done > 255 ? 255 : l - done;
			if (pos + 1 + piece > sizeof(buf))
				return -EINVAL;
			buf[pos++] = (uint8_t)piece;
			memcpy(buf + pos, strings[i] + done, piece);
			pos += piece;
			done += piece;
		} while (done < l);
	}
	return wm_dns_zone_add(z, owner, WM_DNS_TXT, buf, pos);
}

int wm_dns_zone_add_record(struct wm_dns_zone *z, const struct wm_dns_record *r)
{
	int type = wm_dns_record_type(r->type);
	struct wm_prefix p;
	uint8_t buf[WM_DNS_NAME_MAX + 8];

	switch (type) {
	case WM_DNS_A:
	case WM_DNS_AAAA:
		if (wm_prefix_parse(r->value, &p) < 0)
			return -EINVAL;
		return wm_dns_zone_add(z, r->name, (uint16_t)type, p.addr,
				       type == WM_DNS_A ? 4 : 16);
	case WM_DNS_CNAME:
		return wm_dns_zone_add(z, r->name, WM_DNS_CNAME, r->value, strlen(r->value));
	case WM_DNS_TXT: {
		const char *one[] = {r->value};
		return wm_dns_zone_add_txt(z, r->name, one, 1);
	}
	case WM_DNS_SRV: {
		unsigned a, b, c;
		int used = 0;
		if (sscanf(r->value, "%u %u %u %n", &a, &b, &c, &used) != 3 || !used || a > 65535 ||
		    b > 65535 || c > 65535 || strlen(r->value + used) > WM_DNS_NAME_MAX)
			return -EINVAL;
		uint8_t h[6] = {(uint8_t)(a >> 8), (uint8_t)a,	      (uint8_t)(b >> 8),
				(uint8_t)b,	   (uint8_t)(c >> 8), (uint8_t)c};
		size_t tl = strlen(r->value + used);
		memcpy(buf, h, 6);
		memcpy(buf + 6, r->value + used, tl);
		return wm_dns_zone_add(z, r->name, WM_DNS_SRV, buf, 6 + tl);
	}
	default:
		return -EINVAL;
	}
}

int wm_dns_zone_add_reverse(struct wm_dns_zone *z, const struct wm_prefix *net)
{
	if (z->sealed || z->n_rev == 2)
		return -EINVAL;
	int err = wm_dns_reverse_zone(net, z->rev[z->n_rev], sizeof(z->rev[0]));
	if (err)
		return err;
	z->nets[z->n_rev++] = *net;
	err = wm_dns_zone_add(z, z->rev[z->n_rev - 1], WM_DNS_SOA, NULL, 0);
	if (!err)
		err = wm_dns_zone_add(z, z->rev[z->n_rev - 1], WM_DNS_NS, z->ns, strlen(z->ns));
	return err;
}

/* DNS canonical order (RFC 4034 6.1): label by label from the right, a
 * parent before its children, so all the descendants of a name follow it
 * in one run. That answers "does this name exist as the parent of others"
 * (an empty non-terminal) by one binary search, without storing those
 * names: in ip6.arpa each node has a dozen of them. */
static int canon_cmp(const char *a, const char *b)
{
	const char *ae = a + strlen(a), *be = b + strlen(b);

	for (;;) {
		if (ae == a || be == b)
			return ae == a ? (be == b ? 0 : -1) : 1;
		const char *al = ae, *bl = be;
		while (al > a && al[-1] != '.')
			al--;
		while (bl > b && bl[-1] != '.')
			bl--;
		size_t an = (size_t)(ae - al), bn = (size_t)(be - bl);
		int c = memcmp(al, bl, an < bn ? an : bn);
		if (c)
			return c;
		if (an != bn)
			return an < bn ? -1 : 1;
		ae = al > a ? al - 1 : a;
		be = bl > b ? bl - 1 : b;
	}
}

static int rr_cmp(const void *a, const void *b, void *arg)
{
	const struct zrr *x = a, *y = b;
	const char *s = arg;
	int c = x->name == y->name ? 0 : canon_cmp(s + x->name, s + y->name);
	if (c)
		return c;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return x->data < y->data ? -1 : x->data > y->data; /* insertion order */
}

static const struct zname *find(const struct wm_dns_zone *z, const char *name)
{
	if (!z->hash_size)
		return NULL;
	size_t mask = z->hash_size - 1;
	for (size_t i = name_hash(name) & mask;; i = (i + 1) & mask) {
		uint32_t v = z->hash[i];
		if (!v)
			return NULL;
		if (strcmp(z->str + z->names[v - 1].name, name) == 0)
			return &z->names[v - 1];
	}
}

static void hash_put(struct wm_dns_zone *z, size_t idx)
{
	size_t mask = z->hash_size - 1;
	size_t i = name_hash(z->str + z->names[idx].name) & mask;
	while (z->hash[i])
		i = (i + 1) & mask;
	z->hash[i] = (uint32_t)idx + 1;
}

static bool exists(const struct wm_dns_zone *z, const char *name);

bool wm_dns_zone_has(const struct wm_dns_zone *z, const char *owner)
{
	if (z->sealed)
		return exists(z, owner);
	for (size_t i = 0; i < z->n; i++)
		if (strcmp(z->str + z->rr[i].name, owner) == 0)
			return true;
	return false;
}

/* name has records, or descendants that do (an empty non-terminal). */
static bool exists(const struct wm_dns_zone *z, const char *name)
{
	size_t lo = 0, hi = z->n_names;

	if (find(z, name))
		return true;
	while (lo < hi) { /* the first owner after name in canonical order */
		size_t mid = lo + (hi - lo) / 2;
		if (canon_cmp(z->str + z->names[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < z->n_names && wm_dns_name_in(z->str + z->names[lo].name, name);
}

int wm_dns_zone_seal(struct wm_dns_zone *z)
{
	size_t owners = 0;

	if (z->sealed)
		return 0;
	qsort_r(z->rr, z->n, sizeof(*z->rr), rr_cmp, z->str);
	for (size_t i = 0; i < z->n; i++)
		if (i == 0 || strcmp(z->str + z->rr[i].name, z->str + z->rr[i - 1].name))
			owners++;
	z->names = malloc((owners + 1) * sizeof(*z->names));
	for (z->hash_size = 16; z->hash_size < 2 * (owners + 1);)
		z->hash_size *= 2;
	z->hash = calloc(z->hash_size, sizeof(*z->hash));
	if (!z->names || !z->hash)
		return -ENOMEM;
	for (size_t i = 0; i < z->n;) {
		size_t j = i;
		while (j < z->n && strcmp(z->str + z->rr[j].name, z->str + z->rr[i].name) == 0)
			j++;
		z->names[z->n_names] =
			(struct zname){z->rr[i].name, (uint32_t)i, (uint32_t)(j - i)};
		hash_put(z, z->n_names++);
		i = j;
	}
	/* Built by doubling: give the slack back, the snapshot lives on. */
	char *str = realloc(z->str, z->str_len ? z->str_len : 1);
	struct zrr *rr = realloc(z->rr, (z->n ? z->n : 1) * sizeof(*rr));
	if (str) {
		z->str = str;
		z->str_cap = z->str_len;
	}
	if (rr) {
		z->rr = rr;
		z->cap = z->n;
	}
	z->sealed = true;
	return 0;
}

/* The apex whose SOA answers for name, or NULL if the name is not ours. A
 * reverse name is ours if we have it or it stands for addresses of a mesh
 * network: others under a wide reverse zone (172.in-addr.arpa for a /12)
 * belong to somebody else. */
static const char *authority(const struct wm_dns_zone *z, const char *name)
{
	if (wm_dns_name_in(name, z->domain))
		return z->domain;
	for (size_t i = 0; i < z->n_rev; i++) {
		struct wm_prefix a;
		if (!wm_dns_name_in(name, z->rev[i]))
			continue;
		if (exists(z, name))
			return z->rev[i];
		if (wm_dns_reverse_prefix(name, &a) == 0 && wm_prefix_overlaps(&z->nets[i], &a))
			return z->rev[i];
	}
	return NULL;
}

static void put_rr(struct wm_dns_builder *b, const struct wm_dns_zone *z, int section,
		   const char *owner, const struct zrr *r, const char *apex)
{
	const char *d = z->str + r->data;
	size_t at = wm_dns_rr_begin(b, section, owner, r->type, z->ttl);

	switch (r->type) {
	case WM_DNS_CNAME:
	case WM_DNS_PTR:
	case WM_DNS_NS:
		wm_dns_put_name(b, d, true);
		break;
	case WM_DNS_SRV: /* RFC 2782: the target is not compressed */
		wm_dns_put_bytes(b, d, 6);
		wm_dns_put_name(b, d + 6, false);
		break;
	case WM_DNS_SOA:
		wm_dns_put_name(b, z->ns, true);
		wm_dns_put_name(b, z->hostmaster, true);
		wm_dns_put_u32(b, z->serial);
		wm_dns_put_u32(b, 60);	   /* refresh: no secondaries */
		wm_dns_put_u32(b, 10);	   /* retry */
		wm_dns_put_u32(b, 600);	   /* expire */
		wm_dns_put_u32(b, z->ttl); /* negative answers follow changes as fast */
		break;
	default:
		wm_dns_put_bytes(b, d, r->len);
	}
	wm_dns_rr_end(b, at);
	(void)apex;
}

static void put_soa(struct wm_dns_builder *b, const struct wm_dns_zone *z, const char *apex)
{
	const struct zname *e = find(z, apex);
	for (uint32_t i = 0; e && i < e->count; i++)
		if (z->rr[e->first + i].type == WM_DNS_SOA)
			put_rr(b, z, 1, apex, &z->rr[e->first + i], apex);
}

/* The records at name (or at the wildcard covering it), or NULL; *exists
 * says whether the name exists at all. */
static const struct zname *lookup(const struct wm_dns_zone *z, const char *name, const char *apex,
				  bool *found)
{
	const struct zname *e = find(z, name);

	*found = true;
	if (e)
		return e;
	if (exists(z, name))
		return NULL; /* an empty non-terminal: NODATA */
	/* RFC 4592: the closest encloser's wildcard, if it has one. */
	size_t alen = strlen(apex);
	for (const char *p = strchr(name, '.'); p && strlen(p + 1) >= alen;
	     p = strchr(p + 1, '.')) {
		if (!exists(z, p + 1))
			continue;
		char wild[WM_DNS_NAME_MAX + 3];
		if (snprintf(wild, sizeof(wild), "*.%s", p + 1) < (int)sizeof(wild) &&
		    (e = find(z, wild)))
			return e;
		break;
	}
	*found = false;
	return NULL;
}

/* Answers name/qtype into b; the rcode. */
static uint8_t resolve(struct wm_dns_builder *b, const struct wm_dns_zone *z, const char *qname,
		       uint16_t qtype, const char *apex)
{
	const char *name = qname;
	char target[WM_DNS_NAME_MAX + 1];

	for (int hop = 0; hop <= CNAME_HOPS; hop++) {
		bool found;
		const struct zname *e = lookup(z, name, apex, &found);
		if (!e) {
			if (hop == 0)
				put_soa(b, z, apex);
			return found ? WM_DNS_NOERROR : WM_DNS_NXDOMAIN;
		}
		const struct zrr *cname = NULL;
		bool any = false;
		for (uint32_t i = 0; i < e->count; i++) {
			const struct zrr *r = &z->rr[e->first + i];
			if (r->type == qtype || qtype == WM_DNS_ANY) {
				put_rr(b, z, 0, hop ? name : NULL, r, apex);
				any = true;
			} else if (r->type == WM_DNS_CNAME) {
				cname = r;
			}
		}
		if (any)
			return WM_DNS_NOERROR;
		if (!cname) {
			if (hop == 0)
				put_soa(b, z, apex); /* NODATA */
			return WM_DNS_NOERROR;
		}
		put_rr(b, z, 0, hop ? name : NULL, cname, apex);
		snprintf(target, sizeof(target), "%s", z->str + cname->data);
		apex = authority(z, target);
		if (!apex)
			return WM_DNS_NOERROR; /* outside: the resolver goes on */
		name = target;
	}
	return WM_DNS_NOERROR;
}

static void header_and_question(struct wm_dns_builder *b, const uint8_t *m,
				const struct wm_dns_query *q, uint16_t flags, uint8_t rcode)
{
	wm_dns_put_header(b, q->id, flags, rcode);
	wm_dns_put_question(b, m, q);
	/* Let answers point into the question's name and its suffixes. */
	for (size_t off = WM_DNS_HEADER; off < q->question_end - 4 && m[off] && b->n_comp < 64;
	     off += 1u + m[off])
		b->comp[b->n_comp++] = (uint16_t)off;
}

enum wm_dns_outcome wm_dns_answer(const struct wm_dns_zone *z, const uint8_t *m, size_t len,
				  bool tcp, bool ra, uint8_t *out, size_t cap, size_t *outlen)
{
	struct wm_dns_query q;
	struct wm_dns_builder b;
	enum wm_dns_outcome how = WM_DNS_ANSWERED;
	int err = wm_dns_query_parse(m, len, &q);
	uint16_t flags = WM_DNS_FLAG_QR | (q.flags & WM_DNS_FLAG_RD) | (ra ? WM_DNS_FLAG_RA : 0);
	size_t limit = tcp ? WM_DNS_TCP_MAX : q.edns ? q.udp_size : WM_DNS_UDP_MIN;
	uint8_t rcode = WM_DNS_NOERROR;

	if (!tcp && limit > WM_DNS_UDP_MAX)
		limit = WM_DNS_UDP_MAX;
	if (err == -EPROTO)
		return WM_DNS_DROP;
	wm_dns_builder_init(&b, out, cap, limit);
	if (err) {
		/* FORMERR / NOTIMP: the header alone, with the requester's ID. */
		wm_dns_put_header(&b, q.id, (uint16_t)(WM_DNS_FLAG_QR | (q.flags & 0x7900)),
				  err == -EOPNOTSUPP ? WM_DNS_NOTIMP : WM_DNS_FORMERR);
		*outlen = b.len;
		return WM_DNS_ANSWERED;
	}
	const char *apex = z ? authority(z, q.name) : NULL;
	if (q.edns && q.edns_version != 0) {
		header_and_question(&b, m, &q, flags, 0);
		wm_dns_put_opt(&b, WM_DNS_UDP_MAX, WM_DNS_BADVERS >> 4);
		*outlen = b.len;
		return WM_DNS_ANSWERED;
	}
	if (!z) {
		rcode = WM_DNS_SERVFAIL;
	} else if (!apex) {
		rcode = WM_DNS_REFUSED;
		how = WM_DNS_OUTSIDE;
	} else if (q.qclass != WM_DNS_CLASS_IN && q.qclass != WM_DNS_ANY) {
		rcode = WM_DNS_REFUSED;
	} else {
		flags |= WM_DNS_FLAG_AA;
		header_and_question(&b, m, &q, flags, 0);
		rcode = resolve(&b, z, q.name, q.qtype, apex);
		if (q.edns)
			wm_dns_put_opt(&b, WM_DNS_UDP_MAX, 0);
		if (!b.overflow) {
			b.buf[3] = (uint8_t)((b.buf[3] & 0xF0) | rcode);
			*outlen = b.len;
			return how;
		}
		/* Too big for UDP: the question alone with TC; the requester
		 * asks again over TCP (RFC 7766). */
		flags |= WM_DNS_FLAG_TC;
	}
	b.limit = cap;
	header_and_question(&b, m, &q, flags, rcode);
	if (q.edns)
		wm_dns_put_opt(&b, WM_DNS_UDP_MAX, 0);
	*outlen = b.len;
	return how;
}
