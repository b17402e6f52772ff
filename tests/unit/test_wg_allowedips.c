/* The allowed-IPs trie against a brute-force model: random prefixes (v4 and
 * v6, clustered so that they nest), inserts that move prefixes between peers,
 * removals, and longest-prefix lookups of random addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "wg/embedded/allowedips.h"

struct entry {
	int family;
	uint8_t addr[16];
	unsigned cidr;
	void *value;
	bool live;
};

#define MAXE 600
static struct entry model[MAXE];
static size_t nmodel;

static void maskaddr(uint8_t *a, unsigned cidr, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++) {
		if (cidr >= 8 * (i + 1))
			continue;
		a[i] = cidr <= 8 * i ? 0 : (uint8_t)(a[i] & (0xff << (8 - (cidr - 8 * i))));
	}
}

static bool in_prefix(const struct entry *e, int family, const uint8_t *addr)
{
	uint8_t a[16];
	unsigned bytes = family == 4 ? 4 : 16;

	if (e->family != family)
		return false;
	memcpy(a, addr, bytes);
	maskaddr(a, e->cidr, bytes);
	return memcmp(a, e->addr, bytes) == 0;
}

static void *model_lookup(int family, const uint8_t *addr)
{
	int best = -1;
	void *v = NULL;

	for (size_t i = 0; i < nmodel; i++)
		if (model[i].live && in_prefix(&model[i], family, addr) &&
		    (int)model[i].cidr > best) {
			best = (int)model[i].cidr;
			v = model[i].value;
		}
	return v;
}

static struct entry *model_find(int family, const uint8_t *addr, unsigned cidr)
{
	unsigned bytes = family == 4 ? 4 : 16;

	for (size_t i = 0; i < nmodel; i++)
		if (model[i].live && model[i].family == family && model[i].cidr == cidr &&
		    !memcmp(model[i].addr, addr, bytes))
			return &model[i];
	return NULL;
}

static void random_addr(int family, uint8_t *a)
{
	unsigned bytes = family == 4 ? 4 : 16;

	/* Few distinct high bits, so that prefixes share paths and nest. */
	for (unsigned i = 0; i < bytes; i++)
		a[i] = (uint8_t)(i < bytes - 2 ? (rand() % 3) * 0x40 : rand());
}

static void test_against_model(void **state)
{
	struct wga_table t = {0};
	char peers[8];

	(void)state;
	srand(42);
	nmodel = 0;
	for (int round = 0; round < 4000; round++) {
		int family = rand() % 2 ? 4 : 6;
		unsigned bits = family == 4 ? 32 : 128, bytes = bits / 8;
		uint8_t a[16] = {0};
		int op = rand() % 10;

		random_addr(family, a);
		if (op < 5 && nmodel < MAXE) {
			unsigned cidr = (unsigned)rand() % (bits + 1);
			void *v = &peers[rand() % 8];
			maskaddr(a, cidr, bytes);
			assert_int_equal(wga_insert(&t, family, a, cidr, v), 0);
			struct entry *e = model_find(family, a, cidr);
			if (e) {
				e->value = v; /* moved to the new owner */
			} else {
				e = &model[nmodel++];
				*e = (struct entry){
					.family = family, .cidr = cidr, .value = v, .live = true};
				memcpy(e->addr, a, bytes);
			}
		} else if (op < 7 && nmodel) {
			struct entry *e = &model[(size_t)rand() % nmodel];
			void *v = rand() % 4 ? e->value : &peers[rand() % 8];
			/* e may be dead and its prefix live again in a later entry. */
			struct entry *cur = model_find(e->family, e->addr, e->cidr);
			int want = cur && cur->value == v ? 0 : -ENOENT;
			assert_int_equal(wga_remove(&t, e->family, e->addr, e->cidr, v), want);
			if (!want)
				cur->live = false;
		} else if (op == 7 && rand() % 20 == 0) {
			void *v = &peers[rand() % 8];
			wga_remove_value(&t, v);
			for (size_t i = 0; i < nmodel; i++)
				if (model[i].value == v)
					model[i].live = false;
		} else {
			for (int k = 0; k < 20; k++) {
				random_addr(family, a);
				assert_ptr_equal(wga_lookup(&t, family, a),
						 model_lookup(family, a));
			}
		}
	}
	/* Removing everything leaves no node behind (branches are pruned). */
	for (int i = 0; i < 8; i++)
		wga_remove_value(&t, &peers[i]);
	assert_int_equal(t.nodes, 0);
	assert_null(t.root4);
	assert_null(t.root6);
	wga_free(&t);
}

static int walked;
static void count_cb(void *ctx, int family, const uint8_t *addr, unsigned cidr, void *value)
{
	(void)ctx;
	(void)family;
	(void)addr;
	(void)cidr;
	(void)value;
	walked++;
}

static void test_basic(void **state)
{
	struct wga_table t = {0};
	int p1, p2;
	uint8_t net[4] = {10, 0, 0, 0}, host[4] = {10, 1, 2, 3}, other[4] = {11, 0, 0, 1};
	uint8_t v6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

	(void)state;
	assert_int_equal(wga_insert(&t, 4, net, 8, &p1), 0);
	assert_int_equal(wga_insert(&t, 4, host, 32, &p2), 0);
	assert_int_equal(wga_insert(&t, 6, v6, 8, &p2), 0);
	assert_int_equal(wga_insert(&t, 4, net, 33, &p1), -EINVAL);
	assert_int_equal(wga_insert(&t, 5, net, 8, &p1), -EINVAL);
	assert_ptr_equal(wga_lookup(&t, 4, host), &p2);
	host[3] = 4;
	assert_ptr_equal(wga_lookup(&t, 4, host), &p1);
	assert_null(wga_lookup(&t, 4, other));
	assert_ptr_equal(wga_lookup(&t, 6, v6), &p2);
	walked = 0;
	wga_walk(&t, &p2, count_cb, NULL);
	assert_int_equal(walked, 2);
	/* Host bits of an inserted prefix are ignored: 10.9.9.9/8 is 10.0.0.0/8. */
	uint8_t hb[4] = {10, 9, 9, 9};
	assert_int_equal(wga_remove(&t, 4, hb, 8, &p2), -ENOENT);
	assert_int_equal(wga_remove(&t, 4, hb, 8, &p1), 0);
	assert_null(wga_lookup(&t, 4, host));
	/* 0.0.0.0/0 catches everything. */
	assert_int_equal(wga_insert(&t, 4, other, 0, &p1), 0);
	assert_ptr_equal(wga_lookup(&t, 4, other), &p1);
	wga_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
