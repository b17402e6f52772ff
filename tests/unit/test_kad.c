/* Unit tests for src/core/kad.c: the Message codec (against bytes
 * @libp2p/kad-dht 16.4.5's own codec wrote), XOR distance and bucket index,
 * the routing table's rules, the provider store's bounds and expiry, and
 * the iterative lookup's state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kad.h"

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = strlen(h) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return n;
}

/* GET_PROVIDERS, key 0x1220 + 32 x 07, clusterLevel 0, one closer peer
 * (ID: identity multihash of Ed25519 key 01..20, /ip4/127.0.0.1/tcp/4001)
 * and the same peer as provider with /ip4/10.0.0.1/tcp/5 and /ip6/::1/tcp/6. */
#define JS_MSG                                                                                     \
	"08035000122212200707070707070707070707070707070707070707070707070707070707070707423"      \
	"20a260024080112200102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20120"     \
	"8047f000001060fa14a480a260024080112200102030405060708090a0b0c0d0e0f101112131415161718"    \
	"191a1b1c1d1e1f201208040a00000106000512142900000000000000000000000000000001060006"

static void test_msg_js(void **state)
{
	uint8_t buf[512], out[512];
	size_t n = unhex(JS_MSG, buf);
	struct wm_kad_msg *m = calloc(1, sizeof(*m)), *m2 = calloc(1, sizeof(*m2));
	(void)state;

	assert_int_equal(wm_kad_msg_decode(buf, n, m), 0);
	assert_int_equal(m->type, WM_KAD_GET_PROVIDERS);
	assert_int_equal(m->key_len, 34);
	assert_int_equal(m->key[0], 0x12);
	assert_int_equal(m->key[33], 7);
	assert_int_equal(m->ncloser, 1);
	assert_int_equal(m->nproviders, 1);
	assert_int_equal(m->closer[0].id_len, 38);
	assert_int_equal(m->closer[0].naddrs, 1);
	assert_int_equal(m->providers[0].naddrs, 2);
	assert_int_equal(m->providers[0].addr_len[1], 1 + 16 + 3);
	char text[WM_MADDR_TEXT_MAX];
	assert_int_equal(
		wm_maddr_print(m->closer[0].addrs[0], m->closer[0].addr_len[0], text, sizeof(text)),
		0);
	assert_string_equal(text, "/ip4/127.0.0.1/tcp/4001");

	/* Ours re-encodes the same fields without clusterLevel's zero. */
	int len = wm_kad_msg_encode(m, out, sizeof(out));
	assert_int_equal(len, (int)n - 2);
	assert_memory_equal(out, buf, 2);
	assert_memory_equal(out + 2, buf + 4, n - 4);
	assert_int_equal(wm_kad_msg_decode(out, (size_t)len, m2), 0);
	assert_memory_equal(m->providers[0].addrs[1], m2->providers[0].addrs[1],
			    m->providers[0].addr_len[1]);
	assert_int_equal(wm_kad_msg_encode(m, out, 10), -ENOSPC);
	free(m);
	free(m2);
}

static void test_msg_bad(void **state)
{
	struct wm_kad_msg *m = calloc(1, sizeof(*m));
	(void)state;

	uint8_t badtype[] = {0x08, 0x06};
	assert_int_equal(wm_kad_msg_decode(badtype, sizeof(badtype), m), -EBADMSG);
	uint8_t trunc[] = {0x12, 0x05, 1, 2};
	assert_int_equal(wm_kad_msg_decode(trunc, sizeof(trunc), m), -EBADMSG);
	uint8_t longkey[2 + WM_KAD_KEY_MAX + 1] = {0x12, WM_KAD_KEY_MAX + 1};
	assert_int_equal(wm_kad_msg_decode(longkey, sizeof(longkey), m), -EBADMSG);
	uint8_t noid[] = {0x42, 0x02, 0x12, 0x00}; /* a closer peer without an ID */
	assert_int_equal(wm_kad_msg_decode(noid, sizeof(noid), m), -EBADMSG);
	uint8_t fixed64[] = {0x09, 1, 2, 3, 4, 5, 6, 7, 8};
	assert_int_equal(wm_kad_msg_decode(fixed64, sizeof(fixed64), m), -EBADMSG);

	/* 30 closer peers: 20 kept; the message is still good. */
	uint8_t big[30 * 6 + 2];
	size_t off = 0;
	big[off++] = 0x08;
	big[off++] = WM_KAD_FIND_NODE;
	for (int i = 0; i < 30; i++) {
		uint8_t p[] = {0x42, 0x04, 0x0a, 0x02, 0x00, (uint8_t)i};
		memcpy(big + off, p, sizeof(p));
		off += sizeof(p);
	}
	assert_int_equal(wm_kad_msg_decode(big, off, m), 0);
	assert_int_equal(m->ncloser, WM_KAD_PEERS);
	assert_int_equal(m->closer[19].id[1], 19);
	free(m);
}

static void kid_of(int v, uint8_t kid[32])
{
	memset(kid, 0, 32);
	kid[30] = (uint8_t)(v >> 8);
	kid[31] = (uint8_t)v;
}

static void test_distance(void **state)
{
	uint8_t a[32] = {0}, b[32] = {0}, d[32];
	(void)state;

	a[0] = 0x80;
	b[0] = 0x80;
	b[31] = 1;
	wm_kad_distance(a, b, d);
	assert_int_equal(d[31], 1);
	assert_int_equal(d[0], 0);
	assert_int_equal(wm_kad_bucket_index(a, a), -1);
	assert_int_equal(wm_kad_bucket_index(a, b), 0);
	b[0] = 0;
	assert_int_equal(wm_kad_bucket_index(a, b), 255);
	b[0] = 0x80;
	b[31] = 0;
	b[1] = 0x10; /* common prefix 8 + 3 bits */
	assert_int_equal(wm_kad_bucket_index(a, b), 255 - 11);

	uint8_t t[32], x[32], y[32];
	kid_of(0x10, t);
	kid_of(0x11, x); /* distance 1 */
	kid_of(0x00, y); /* distance 0x10 */
	assert_true(wm_kad_closer(t, x, y) < 0);
	assert_true(wm_kad_closer(t, y, x) > 0);
	assert_int_equal(wm_kad_closer(t, x, x), 0);
}

static void peer_of(int v, struct wm_kad_peer *p)
{
	memset(p, 0, sizeof(*p));
	p->id_len = 3;
	p->id[0] = 0xaa;
	p->id[1] = (uint8_t)(v >> 8);
	p->id[2] = (uint8_t)v;
}

static void test_table_bucket_full(void **state)
{
	uint8_t self[32] = {0}, kid[32];
	struct wm_kad_table t;
	struct wm_kad_peer p;
	const struct wm_kad_entry *check;
	(void)state;

	wm_kad_table_init(&t, self, 2);
	/* 0x100..0x114 all share bucket 8 (top bit at position 8 from the end). */
	for (int i = 0; i < WM_KAD_K; i++) {
		kid_of(0x100 + i, kid);
		peer_of(i, &p);
		assert_int_equal(wm_kad_table_seen(&t, kid, &p, (uint64_t)i, &check), 0);
		assert_null(check);
	}
	assert_int_equal(t.size, WM_KAD_K);
	kid_of(0x1ff, kid);
	peer_of(99, &p);
	assert_int_equal(wm_kad_table_seen(&t, kid, &p, 100, &check), 1);
	assert_non_null(check);
	uint8_t oldest[32];
	kid_of(0x100, oldest);
	assert_memory_equal(check->kid, oldest, 32);
	assert_null(wm_kad_table_find(&t, kid));

	/* The oldest answers: it stays, moved to the tail; the newcomer does not get in. */
	peer_of(0, &p);
	assert_int_equal(wm_kad_table_seen(&t, oldest, &p, 101, &check), 0);
	assert_int_equal(t.b[8]->e[WM_KAD_K - 1].last_seen_ms, 101);
	/* Now 0x101 is oldest; it fails twice (max_failures 2): evicted, the
	 * pending 0x1ff takes its place. */
	uint8_t second[32];
	kid_of(0x101, second);
	assert_false(wm_kad_table_failed(&t, second));
	assert_non_null(wm_kad_table_find(&t, second));
	assert_true(wm_kad_table_failed(&t, second));
	assert_null(wm_kad_table_find(&t, second));
	assert_non_null(wm_kad_table_find(&t, kid));
	assert_int_equal(t.size, WM_KAD_K);
	/* A peer answering resets its failures. */
	uint8_t third[32];
	kid_of(0x102, third);
	assert_false(wm_kad_table_failed(&t, third));
	peer_of(2, &p);
	wm_kad_table_seen(&t, third, &p, 200, &check);
	assert_false(wm_kad_table_failed(&t, third));
	assert_non_null(wm_kad_table_find(&t, third));

	assert_int_equal(wm_kad_table_seen(&t, self, &p, 1, &check), -EINVAL);
	wm_kad_table_free(&t);
}

static void test_table_closest(void **state)
{
	uint8_t self[32], kid[32], target[32];
	struct wm_kad_table t;
	struct wm_kad_peer p;
	const struct wm_kad_entry *check, *out[WM_KAD_K];
	(void)state;

	memset(self, 0x5a, 32);
	wm_kad_table_init(&t, self, 1);
	srand(7);
	uint8_t all[300][32];
	size_t n = 0;
	for (int i = 0; i < 300; i++) {
		for (int k = 0; k < 32; k++)
			kid[k] = (uint8_t)rand();
		peer_of(i, &p);
		if (wm_kad_table_seen(&t, kid, &p, 1, &check) == 0)
			memcpy(all[n++], kid, 32);
	}
	assert_int_equal(t.size, n);
	assert_true(n > 40);
	for (int k = 0; k < 32; k++)
		target[k] = (uint8_t)rand();
	size_t got = wm_kad_table_closest(&t, target, WM_KAD_K, out);
	assert_int_equal(got, WM_KAD_K);
	for (size_t i = 1; i < got; i++)
		assert_true(wm_kad_closer(target, out[i - 1]->kid, out[i]->kid) < 0);
	/* Nothing in the table is nearer than the last one returned, unless returned. */
	size_t nearer = 0;
	for (size_t i = 0; i < n; i++)
		if (wm_kad_closer(target, all[i], out[got - 1]->kid) <= 0)
			nearer++;
	assert_int_equal(nearer, WM_KAD_K);
	assert_int_equal(wm_kad_table_closest(&t, target, 3, out), 3);
	wm_kad_table_free(&t);
}

static void test_providers(void **state)
{
	struct wm_kad_providers s;
	uint8_t key[32], key2[32], kid[32];
	struct wm_kad_peer p, out[8];
	(void)state;

	assert_int_equal(wm_kad_providers_init(&s, 2, 0, 100), -EINVAL);
	assert_int_equal(wm_kad_providers_init(&s, 2, 3, 100), 0);
	kid_of(1, key);
	kid_of(2, key2);
	for (int i = 0; i < 2; i++) {
		kid_of(100 + i, kid);
		peer_of(i, &p);
		assert_int_equal(wm_kad_providers_add(&s, key, kid, &p, 0), 0);
	}
	kid_of(102, kid);
	assert_int_equal(wm_kad_providers_add(&s, key, kid, &p, 0), -ENOSPC); /* per key */
	assert_int_equal(wm_kad_providers_add(&s, key2, kid, &p, 0), 0);
	kid_of(103, kid);
	assert_int_equal(wm_kad_providers_add(&s, key2, kid, &p, 0), -ENOSPC); /* total */
	assert_int_equal(wm_kad_providers_get(&s, key, 50, out, 8), 2);
	/* Refreshing one at 50 keeps it past the others' expiry at 100. */
	kid_of(100, kid);
	peer_of(0, &p);
	p.naddrs = 1;
	p.addr_len[0] = 1;
	p.addrs[0][0] = 7;
	assert_int_equal(wm_kad_providers_add(&s, key, kid, &p, 50), 0);
	assert_int_equal(wm_kad_providers_get(&s, key, 120, out, 8), 1);
	assert_int_equal(out[0].naddrs, 1); /* the new addresses */
	assert_int_equal(out[0].addrs[0][0], 7);
	assert_int_equal(wm_kad_providers_get(&s, key2, 120, out, 8), 0);
	assert_int_equal(s.n, 1);
	/* Room again after expiry. */
	kid_of(103, kid);
	assert_int_equal(wm_kad_providers_add(&s, key2, kid, &p, 120), 0);
	assert_int_equal(wm_kad_providers_get(&s, key, 151, out, 8), 0);
	wm_kad_providers_free(&s);
}

static void test_lookup(void **state)
{
	uint8_t self[32], target[32], kid[32];
	struct wm_kad_lookup *l = calloc(1, sizeof(*l));
	struct wm_kad_peer p;
	(void)state;

	memset(self, 0xff, 32);
	kid_of(0, target);
	wm_kad_lookup_init(l, target, self, 3, 2);
	assert_true(wm_kad_lookup_finished(l)); /* nobody to ask */
	for (int i = 10; i < 15; i++) {
		kid_of(i, kid);
		peer_of(i, &p);
		wm_kad_lookup_add(l, kid, &p);
	}
	wm_kad_lookup_add(l, self, &p); /* never */
	assert_int_equal(l->n, 5);
	/* k = 2: only the two nearest are asked while they live. */
	const struct wm_kad_cand *c = wm_kad_lookup_next(l);
	assert_int_equal(c->kid[31], 10);
	c = wm_kad_lookup_next(l);
	assert_int_equal(c->kid[31], 11);
	assert_null(wm_kad_lookup_next(l));
	assert_false(wm_kad_lookup_finished(l));
	kid_of(10, kid);
	wm_kad_lookup_done(l, kid, false); /* 12 moves into the k nearest */
	c = wm_kad_lookup_next(l);
	assert_int_equal(c->kid[31], 12);
	/* 11 answers naming a nearer peer 3, which is asked next. */
	kid_of(11, kid);
	wm_kad_lookup_done(l, kid, true);
	kid_of(3, kid);
	peer_of(3, &p);
	wm_kad_lookup_add(l, kid, &p);
	c = wm_kad_lookup_next(l);
	assert_int_equal(c->kid[31], 3);
	assert_null(wm_kad_lookup_next(l));
	wm_kad_lookup_done(l, kid, true);
	kid_of(12, kid);
	wm_kad_lookup_done(l, kid, true);
	/* 3 and 11 are the two nearest live, both answered. */
	assert_true(wm_kad_lookup_finished(l));
	assert_null(wm_kad_lookup_next(l));

	/* Alpha bounds the queries in flight. */
	wm_kad_lookup_init(l, target, self, 3, 20);
	for (int i = 1; i < 100; i++) {
		kid_of(i, kid);
		peer_of(i, &p);
		wm_kad_lookup_add(l, kid, &p);
	}
	assert_int_equal(l->n, WM_KAD_LOOKUP_MAX);
	assert_int_equal(l->c[WM_KAD_LOOKUP_MAX - 1].kid[31], WM_KAD_LOOKUP_MAX);
	for (int i = 0; i < 3; i++)
		assert_non_null(wm_kad_lookup_next(l));
	assert_null(wm_kad_lookup_next(l));
	free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msg_js),	      cmocka_unit_test(test_msg_bad),
		cmocka_unit_test(test_distance),      cmocka_unit_test(test_table_bucket_full),
		cmocka_unit_test(test_table_closest), cmocka_unit_test(test_providers),
		cmocka_unit_test(test_lookup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
