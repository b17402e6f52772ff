/* Overlapping routes of different nodes (src/core/routeclaim.c): the split
 * and exit-node undercut attacks, exact indices and reasons. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/routeclaim.h"

static struct wm_prefix P(const char *s) {
	struct wm_prefix p;
	assert_int_equal(wm_prefix_parse(s, &p), 0);
	return p;
}

/* The mesh's claims: a site's /16, an exit node's two defaults, a /24 of x. */
static struct wm_route_claim claims[5];
static size_t n_claims;

static int setup(void **state)
{
	(void)state;
	claims[0] = (struct wm_route_claim){"site-a", P("10.1.0.0/16")};
	claims[1] = (struct wm_route_claim){"exit", P("0.0.0.0/0")};
	claims[2] = (struct wm_route_claim){"exit", P("::/0")};
	claims[3] = (struct wm_route_claim){"x", P("192.168.5.0/24")};
	n_claims = 4;
	return 0;
}

static bool never(void *ctx, const char *owner)
{
	(void)ctx;
	(void)owner;
	return false;
}

/* Says yes to the owner in ctx and records every owner asked about. */
struct asked {
	const char *yes;
	const char *seen[8];
	size_t n;
};
static bool only(void *ctx, const char *owner)
{
	struct asked *a = ctx;
	if (a->n < 8)
		a->seen[a->n++] = owner;
	return a->yes && strcmp(a->yes, owner) == 0;
}

struct row {
	const char *self;
	const char *routes[3];
	int want;	     /* 0 or -EACCES, with may() always saying no */
	size_t route, claim; /* the first refused pair */
};

static const struct row table[] = {
	/* the split: two halves of site-a's /16 */
	{"evil", {"10.1.0.0/17", "10.1.128.0/17"}, -EACCES, 0, 0},
	/* an exit node's /0 undercut, IPv4 and IPv6: the first overlap is
	 * in claim order (site-a's /16 lies in 0.0.0.0/1 too) */
	{"evil", {"0.0.0.0/1", "128.0.0.0/1"}, -EACCES, 0, 0}, /* 10.1/16 is in 0/1 */
	{"evil", {"128.0.0.0/1"}, -EACCES, 0, 1},
	{"evil", {"::/1", "8000::/1"}, -EACCES, 0, 2},
	/* a wider route over a narrower one, and an equal one */
	{"evil", {"10.0.0.0/8"}, -EACCES, 0, 0},
	{"evil", {"10.1.0.0/16"}, -EACCES, 0, 0},
	/* host bits do not hide an overlap */
	{"evil", {"10.1.200.7/17"}, -EACCES, 0, 0},
	/* once an exit node exists, every route is inside its /0 */
	{"evil", {"172.16.0.0/12"}, -EACCES, 0, 1},
	/* the first refused route is reported, not the first route */
	{"exit", {"172.16.0.0/12", "192.168.5.128/25"}, -EACCES, 1, 3},
	/* a node's own routes are no conflict */
	{"exit", {"0.0.0.0/0", "::/0", "10.9.0.0/16"}, 0, 0, 0},
	/* a route a node has already takes nothing new (a node coming back
	 * after the exit node's /0 appeared), a new one under the /0 does */
	{"site-a", {"10.1.0.0/16"}, 0, 0, 0},
	{"site-a", {"10.1.0.0/16", "10.1.0.0/17"}, -EACCES, 1, 1},
	/* adjacent and disjoint ones neither (without the exit node's /0,
	 * see test_disjoint) */
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct row *r = &table[i];
		struct wm_prefix routes[3];
		size_t n = 0, route = 99, claim = 99;
		for (; n < 3 && r->routes[n]; n++)
			routes[n] = P(r->routes[n]);
		int got = wm_route_claims_check(r->self, routes, n, claims, n_claims, never, NULL,
						&route, &claim);
		if (got != r->want || (got && (route != r->route || claim != r->claim)))
			fail_msg("row %zu: got %d at route %zu claim %zu", i, got, route, claim);
	}
}

static void test_disjoint(void **state)
{
	(void)state;
	/* site-a and x only: no /0 in the mesh */
	struct wm_prefix routes[] = {P("10.0.0.0/16"), P("10.2.0.0/16"), P("fd00::/8"),
				     P("192.168.4.0/24")};
	assert_int_equal(
		wm_route_claims_check("evil", routes, 4, claims, 1, never, NULL, NULL, NULL), 0);
	struct wm_route_claim v4x[] = {claims[3]};
	assert_int_equal(wm_route_claims_check("evil", routes, 4, v4x, 1, never, NULL, NULL, NULL),
			 0);
	/* nothing to check against */
	assert_int_equal(wm_route_claims_check("evil", routes, 4, NULL, 0, never, NULL, NULL, NULL),
			 0);
	assert_int_equal(wm_route_claims_check("evil", NULL, 1, claims, 1, never, NULL, NULL, NULL),
			 -EINVAL);
}

static void test_may_override(void **state)
{
	(void)state;
	struct wm_prefix split[] = {P("10.1.0.0/17"), P("10.1.128.0/17")};
	struct wm_route_claim site[] = {claims[0]};
	/* the right over site-a: allowed, asked once per overlapping pair */
	struct asked a = {.yes = "site-a"};
	assert_int_equal(wm_route_claims_check("ops", split, 2, site, 1, only, &a, NULL, NULL), 0);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.seen[0], "site-a");
	/* with the exit node in the mesh, the right over site-a is not enough */
	struct asked b = {.yes = "site-a"};
	size_t route = 99, claim = 99;
	assert_int_equal(
		wm_route_claims_check("ops", split, 2, claims, n_claims, only, &b, &route, &claim),
		-EACCES);
	assert_int_equal(route, 0);
	assert_int_equal(claim, 1);
	/* the FSM's form: a list of owners, or any */
	const char *owners[] = {"site-a", "exit"};
	struct wm_route_overrides o = {false, owners, 2};
	assert_int_equal(wm_route_claims_check("ops", split, 2, claims, n_claims,
					       wm_route_overrides_has, &o, NULL, NULL),
			 0);
	o.n_owners = 1;
	assert_int_equal(wm_route_claims_check("ops", split, 2, claims, n_claims,
					       wm_route_overrides_has, &o, NULL, NULL),
			 -EACCES);
	o.n_owners = 0;
	o.any = true;
	assert_int_equal(wm_route_claims_check("ops", split, 2, claims, n_claims,
					       wm_route_overrides_has, &o, NULL, NULL),
			 0);
}

static void test_why(void **state)
{
	(void)state;
	char out[200];
	struct wm_prefix r = P("10.1.200.7/17");
	wm_route_claim_why(&r, &claims[0], out, sizeof(out));
	assert_string_equal(out, "route 10.1.128.0/17 overlaps 10.1.0.0/16 of node site-a: "
				 "putting it needs put routes site-a");
	r = P("8000::/1");
	wm_route_claim_why(&r, &claims[2], out, sizeof(out));
	assert_string_equal(out, "route 8000::/1 overlaps ::/0 of node exit: putting it needs put "
				 "routes exit");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_disjoint),
		cmocka_unit_test(test_may_override),
		cmocka_unit_test(test_why),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
