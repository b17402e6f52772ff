/* Unit tests for src/core/mbb.c: the make-before-break plan of peers, allowed
 * IPs and accept-only IPs while a path changes, in simulated time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kick.h"
#include "core/mbb.h"

/* Keys: self 0x10, the hub B 0x20, the other member C 0x30, D 0x40. The
 * self key is the smaller of every pair, so its kick delay is WM_KICK_WAIT_MS. */
static wm_key SELF, B, C, D;
static const int64_t WALL0 = 1796601600LL * 1000000000LL;

static int setup(void **state)
{
	(void)state;
	memset(SELF, 0x10, sizeof(wm_key));
	memset(B, 0x20, sizeof(wm_key));
	memset(C, 0x30, sizeof(wm_key));
	memset(D, 0x40, sizeof(wm_key));
	return 0;
}

static struct wm_prefix pfx(const char *s)
{
	struct wm_prefix p;
	assert_int_equal(wm_prefix_parse(s, &p), 0);
	return p;
}

/* A device from "KEY:prefix,prefix;KEY:..." with K in B, C, D. */
static struct wm_wg_device *dev(const char *spec)
{
	struct wm_wg_device *d = wm_wg_device_new("wm0");
	char buf[256];
	assert_non_null(d);
	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *save = NULL, *peer = strtok_r(buf, ";", &save); peer;
	     peer = strtok_r(NULL, ";", &save)) {
		const uint8_t *key = peer[0] == 'B' ? B : peer[0] == 'C' ? C : D;
		struct wm_wg_peer *p = wm_wg_device_add_peer(d, key);
		assert_non_null(p);
		p->flags = WM_WGPEER_REPLACE_ALLOWEDIPS | WM_WGPEER_HAS_ENDPOINT;
		p->endpoint.ip = pfx(peer[0] == 'B' ? "10.0.0.2/32" : "10.0.0.3/32");
		p->endpoint.port = 51820;
		char *ips = strchr(peer, ':');
		for (char *s2 = NULL, *ip = ips ? strtok_r(ips + 1, ",", &s2) : NULL; ip;
		     ip = strtok_r(NULL, ",", &s2)) {
			struct wm_prefix x = pfx(ip);
			assert_int_equal(wm_wg_peer_add_allowed_ip(p, &x), 0);
		}
	}
	wm_wg_device_sort(d);
	return d;
}

static bool has(const struct wm_prefix *v, size_t n, const char *s)
{
	struct wm_prefix x = pfx(s);
	for (size_t i = 0; i < n; i++)
		if (wm_prefix_equal(&v[i], &x))
			return true;
	return false;
}

static const struct wm_wg_peer *peer(const struct wm_wg_device *d, const wm_key k)
{
	return wm_wg_device_find_peer(d, k);
}

static void assert_sends(const struct wm_wg_device *d, const wm_key k, const char *s)
{
	const struct wm_wg_peer *p = peer(d, k);
	assert_non_null(p);
	assert_true(has(p->allowed_ips, p->n_allowed_ips, s));
	assert_false(has(p->accept_ips, p->n_accept_ips, s));
}

static void dump(const char *what, const struct wm_wg_device *d);

static void assert_accepts_only(const struct wm_wg_device *d, const wm_key k, const char *s)
{
	const struct wm_wg_peer *p = peer(d, k);
	if (p && !has(p->accept_ips, p->n_accept_ips, s))
		dump("accepts_only", d);
	assert_non_null(p);
	assert_false(has(p->allowed_ips, p->n_allowed_ips, s));
	assert_true(has(p->accept_ips, p->n_accept_ips, s));
}

/* The plan as the device would have it after an apply, compared with what
 * diff says: nothing left to change means equal. */
static void dump(const char *what, const struct wm_wg_device *d)
{
	for (size_t i = 0; i < d->n_peers; i++) {
		const struct wm_wg_peer *p = &d->peers[i];
		char buf[64];
		print_message("%s peer %02x flags %x:", what, p->public_key[0], p->flags);
		for (size_t j = 0; j < p->n_allowed_ips; j++) {
			wm_prefix_format(&p->allowed_ips[j], buf, sizeof(buf));
			print_message(" %s", buf);
		}
		for (size_t j = 0; j < p->n_accept_ips; j++) {
			wm_prefix_format(&p->accept_ips[j], buf, sizeof(buf));
			print_message(" accept %s", buf);
		}
		print_message("\n");
	}
}

static void assert_same(const struct wm_wg_device *a, const struct wm_wg_device *b)
{
	struct wm_wg_device *upd = NULL;
	if (wm_wg_diff(a, b, &upd) == 0 && upd) {
		dump("got", a);
		dump("want", b);
	}
	wm_wg_device_free(upd);
	upd = NULL;
	assert_int_equal(wm_wg_diff(a, b, &upd), 0);
	assert_null(upd);
}

/* Starts a node whose last plan is `before`. */
static void start(struct wm_mbb *m, const char *before)
{
	struct wm_wg_device *t = dev(before), *out = NULL;
	uint64_t next = 1;
	wm_mbb_init(m, SELF, NULL);
	assert_int_equal(wm_mbb_target(m, t, 0, WALL0), 0);
	assert_int_equal(wm_mbb_plan(m, t, NULL, 0, &out, &next), 0);
	assert_same(out, t); /* nothing to move from: the target itself */
	assert_int_equal(next, 0);
	wm_wg_device_free(out);
	wm_wg_device_free(t);
}

static struct wm_wg_device *plan(struct wm_mbb *m, const struct wm_wg_device *target,
				 const struct wm_wg_device *actual, uint64_t now, uint64_t *next)
{
	struct wm_wg_device *out = NULL;
	assert_int_equal(wm_mbb_plan(m, target, actual, now, &out, next), 0);
	assert_non_null(out);
	return out;
}

/* A newcomer (nothing programmed) gets its peer set at once. */
static void test_first_peer_set_is_the_target(void **state)
{
	(void)state;
	struct wm_mbb m;
	start(&m, "B:172.16.0.0/12");
	wm_mbb_free(&m);
}

/* The edge a-c deleted: c is reached through the hub, whose peer now carries
 * the whole network. c stays sent to directly during the hold (the far end
 * may not have heard), packets from c through b are taken at once; then b
 * carries c and c is only heard for the overlap; then c is gone. */
static void test_direct_to_hub(void **state)
{
	(void)state;
	struct wm_mbb m;
	uint64_t next;
	start(&m, "B:172.16.0.1/32;C:172.16.0.3/32");
	struct wm_wg_device *t = dev("B:172.16.0.0/12");
	assert_int_equal(wm_mbb_target(&m, t, 5000, WALL0), 0);

	struct wm_wg_device *p = plan(&m, t, NULL, 5000, &next);
	assert_sends(p, C, "172.16.0.3/32");
	assert_sends(p, B, "172.16.0.0/12");
	assert_accepts_only(p, B, "172.16.0.3/32");
	assert_int_equal(next, 5000 + WM_MBB_HOLD_MS);
	wm_wg_device_free(p);

	p = plan(&m, t, NULL, 5000 + WM_MBB_HOLD_MS - 1, &next);
	assert_sends(p, C, "172.16.0.3/32");
	wm_wg_device_free(p);

	p = plan(&m, t, NULL, 5000 + WM_MBB_HOLD_MS, &next);
	assert_accepts_only(p, C, "172.16.0.3/32");
	assert_sends(p, B, "172.16.0.0/12");
	assert_int_equal(peer(p, B)->n_accept_ips, 0);
	assert_int_equal(next, 5000 + WM_MBB_HOLD_MS + WM_MBB_OVERLAP_MS);
	wm_wg_device_free(p);

	p = plan(&m, t, NULL, next, &next);
	assert_same(p, t);
	assert_null(peer(p, C));
	assert_int_equal(next, 0);
	wm_wg_device_free(p);
	wm_wg_device_free(t);
	wm_mbb_free(&m);
}

/* The edge put back: c is a new peer taking its address over from the hub's
 * network. It is only heard (and marked to take it over at its first
 * handshake) until the device shows a handshake newer than its addition;
 * with none after the kick delay, its keepalive is switched on to start
 * one. Then c is sent to, and b's network is only heard for the overlap. */
static void test_hub_to_direct_waits_for_the_handshake(void **state)
{
	(void)state;
	struct wm_mbb m;
	uint64_t next;
	start(&m, "B:172.16.0.0/12");
	struct wm_wg_device *t = dev("B:172.16.0.1/32;C:172.16.0.3/32");
	assert_int_equal(wm_mbb_target(&m, t, 1000, WALL0), 0);

	struct wm_wg_device *p = plan(&m, t, NULL, 1000, &next);
	assert_accepts_only(p, C, "172.16.0.3/32");
	assert_true(peer(p, C)->flags & WM_WGPEER_PROMOTE);
	assert_int_equal(peer(p, C)->keepalive_interval, 0);
	assert_sends(p, B, "172.16.0.0/12");
	assert_sends(p, B, "172.16.0.1/32");
	/* once c takes it over by itself, b's copies still come in */
	assert_accepts_only(p, B, "172.16.0.3/32");
	assert_int_equal(next, 1000 + WM_KICK_WAIT_MS);
	wm_wg_device_free(p);

	/* no handshake at the kick delay: keepalive on, and polled */
	struct wm_wg_device *actual = dev("B:172.16.0.0/12;C");
	p = plan(&m, t, actual, 1000 + WM_KICK_WAIT_MS, &next);
	assert_int_equal(peer(p, C)->keepalive_interval, 1);
	assert_true(peer(p, C)->flags & WM_WGPEER_HAS_KEEPALIVE);
	assert_accepts_only(p, C, "172.16.0.3/32");
	assert_int_equal(next, 1000 + WM_KICK_WAIT_MS + WM_MBB_POLL_MS);
	wm_wg_device_free(p);

	/* a handshake older than the addition does not count */
	struct wm_wg_peer *ac = wm_wg_device_find_peer(actual, C);
	ac->last_handshake_sec = WALL0 / 1000000000 - 1;
	p = plan(&m, t, actual, 1100, &next);
	assert_accepts_only(p, C, "172.16.0.3/32");
	assert_int_equal(peer(p, C)->keepalive_interval, 1);
	wm_wg_device_free(p);

	ac->last_handshake_sec = WALL0 / 1000000000;
	ac->last_handshake_nsec = 1000;
	p = plan(&m, t, actual, 1150, &next);
	assert_sends(p, C, "172.16.0.3/32");
	assert_false(peer(p, C)->flags & WM_WGPEER_PROMOTE);
	assert_int_equal(peer(p, C)->keepalive_interval, 0);
	assert_sends(p, B, "172.16.0.1/32");
	/* b's network: heard for the overlap from the confirmation on */
	assert_accepts_only(p, B, "172.16.0.0/12");
	assert_int_equal(next, 1150 + WM_MBB_OVERLAP_MS);
	wm_wg_device_free(p);
	p = plan(&m, t, actual, 1150 + WM_MBB_OVERLAP_MS - 1, &next);
	assert_accepts_only(p, B, "172.16.0.0/12");
	wm_wg_device_free(p);
	p = plan(&m, t, actual, 1150 + WM_MBB_OVERLAP_MS, &next);
	assert_same(p, t);
	assert_int_equal(next, 0);
	wm_wg_device_free(p);
	wm_wg_device_free(actual);
	wm_wg_device_free(t);
	wm_mbb_free(&m);
}

/* A new peer that never completes a handshake is held at most
 * WM_MBB_CONFIRM_MAX_MS: then it is sent to, as without the hold. */
static void test_unconfirmed_peer_is_given_up(void **state)
{
	(void)state;
	struct wm_mbb m;
	uint64_t next;
	start(&m, "B:172.16.0.0/12");
	struct wm_wg_device *t = dev("B:172.16.0.1/32;C:172.16.0.3/32");
	assert_int_equal(wm_mbb_target(&m, t, 0, WALL0), 0);
	struct wm_wg_device *p = plan(&m, t, NULL, WM_MBB_CONFIRM_MAX_MS - 1, &next);
	assert_accepts_only(p, C, "172.16.0.3/32");
	assert_true(next <= WM_MBB_CONFIRM_MAX_MS);
	wm_wg_device_free(p);
	p = plan(&m, t, NULL, WM_MBB_CONFIRM_MAX_MS, &next);
	assert_sends(p, C, "172.16.0.3/32");
	wm_wg_device_free(p);
	wm_wg_device_free(t);
	wm_mbb_free(&m);
}

/* Without summarising: c's own /32 moves from c to b. b's copy is held (heard
 * only) while c keeps it, then they swap. No prefix is ever sent by two. */
static void test_same_prefix_moves_between_peers(void **state)
{
	(void)state;
	struct wm_mbb m;
	uint64_t next;
	start(&m, "B:172.16.0.1/32;C:172.16.0.3/32;D:172.16.0.4/32");
	struct wm_wg_device *t = dev("B:172.16.0.1/32,172.16.0.3/32;D:172.16.0.4/32");
	assert_int_equal(wm_mbb_target(&m, t, 0, WALL0), 0);
	struct wm_wg_device *p = plan(&m, t, NULL, 0, &next);
	assert_sends(p, C, "172.16.0.3/32");
	assert_accepts_only(p, B, "172.16.0.3/32");
	assert_sends(p, D, "172.16.0.4/32");
	wm_wg_device_free(p);
	p = plan(&m, t, NULL, WM_MBB_HOLD_MS, &next);
	assert_sends(p, B, "172.16.0.3/32");
	assert_accepts_only(p, C, "172.16.0.3/32");
	wm_wg_device_free(p);
	wm_wg_device_free(t);
	wm_mbb_free(&m);
}

/* The change undone before its hold ended (the edge put back at once):
 * c goes on being sent to, without a detour through the hub. */
static void test_change_undone_during_the_hold(void **state)
{
	(void)state;
	struct wm_mbb m;
	uint64_t next;
	start(&m, "B:172.16.0.1/32;C:172.16.0.3/32");
	struct wm_wg_device *hub = dev("B:172.16.0.0/12");
	struct wm_wg_device *direct = dev("B:172.16.0.1/32;C:172.16.0.3/32");
	assert_int_equal(wm_mbb_target(&m, hub, 0, WALL0), 0);
	wm_wg_device_free(plan(&m, hub, NULL, 0, &next));
	assert_int_equal(wm_mbb_target(&m, direct, 300, WALL0 + 300000000), 0);
	struct wm_wg_device *p = plan(&m, direct, NULL, 300, &next);
	assert_sends(p, C, "172.16.0.3/32");
	assert_false(peer(p, C)->flags & WM_WGPEER_PROMOTE);
	wm_wg_device_free(p);
	p = plan(&m, direct, NULL, 300 + WM_MBB_HOLD_MS + WM_MBB_OVERLAP_MS, &next);
	assert_same(p, direct);
	assert_int_equal(next, 0);
	wm_wg_device_free(p);
	wm_wg_device_free(hub);
	wm_wg_device_free(direct);
	wm_mbb_free(&m);
}

/* Addresses that were only heard from a peer (held) and that the target
 * drops stay heard for the overlap: the far end may already send that way. */
static void test_held_address_dropped_stays_heard(void **state)
{
	(void)state;
	struct wm_mbb m;
	uint64_t next;
	start(&m, "B:172.16.0.0/12");
	struct wm_wg_device *direct = dev("B:172.16.0.1/32;C:172.16.0.3/32");
	struct wm_wg_device *hub = dev("B:172.16.0.0/12");
	assert_int_equal(wm_mbb_target(&m, direct, 0, WALL0), 0);
	wm_wg_device_free(plan(&m, direct, NULL, 0, &next));
	assert_int_equal(wm_mbb_target(&m, hub, 200, WALL0 + 200000000), 0);
	struct wm_wg_device *p = plan(&m, hub, NULL, 200, &next);
	assert_accepts_only(p, C, "172.16.0.3/32");
	assert_false(peer(p, C)->flags & WM_WGPEER_PROMOTE);
	assert_sends(p, B, "172.16.0.0/12");
	wm_wg_device_free(p);
	p = plan(&m, hub, NULL, 200 + WM_MBB_OVERLAP_MS, &next);
	assert_same(p, hub);
	wm_wg_device_free(p);
	wm_wg_device_free(hub);
	wm_wg_device_free(direct);
	wm_mbb_free(&m);
}

/* The diff carries accept-only IPs and the promote mark, and applying it
 * gives the plan back. */
static void test_diff_carries_accept_ips(void **state)
{
	(void)state;
	struct wm_wg_device *a = dev("B:172.16.0.0/12");
	struct wm_wg_device *d = dev("B:172.16.0.0/12;C");
	struct wm_wg_peer *c = wm_wg_device_find_peer(d, C);
	struct wm_prefix x = pfx("172.16.0.3/32");
	assert_int_equal(wm_wg_peer_add_accept_ip(c, &x), 0);
	c->flags |= WM_WGPEER_PROMOTE;
	struct wm_wg_device *upd = NULL;
	assert_int_equal(wm_wg_diff(a, d, &upd), 0);
	assert_non_null(upd);
	assert_int_equal(wm_wg_device_apply(a, upd), 0);
	assert_true(wm_wg_device_find_peer(a, C)->flags & WM_WGPEER_PROMOTE);
	assert_same(a, d);
	wm_wg_device_free(upd);
	/* the mark alone differs: it is sent with the lists */
	wm_wg_device_find_peer(d, C)->flags &= ~WM_WGPEER_PROMOTE;
	assert_int_equal(wm_wg_diff(a, d, &upd), 0);
	assert_non_null(upd);
	assert_int_equal(wm_wg_device_apply(a, upd), 0);
	assert_same(a, d);
	assert_int_equal(wm_wg_device_find_peer(a, C)->n_accept_ips, 1);
	wm_wg_device_free(upd);
	wm_wg_device_free(a);
	wm_wg_device_free(d);
}

/* A route beyond the mesh networks (an exit node's default route failing
 * over to another exit) moves at once: the far end is a router that takes
 * our packets either way. The old exit is still heard for the overlap. A
 * mesh address moving the same way is held. */
static void test_route_beyond_the_mesh_moves_at_once(void **state)
{
	(void)state;
	struct wm_mbb m;
	uint64_t next;
	struct wm_prefix v4 = pfx("172.16.0.0/12"), v6 = pfx("fd00:1::/48");
	start(&m, "B:172.16.0.1/32,0.0.0.0/0;C:172.16.0.3/32");
	wm_mbb_set_networks(&m, &v4, &v6);
	struct wm_wg_device *t = dev("B:172.16.0.1/32;C:172.16.0.3/32,0.0.0.0/0");
	assert_int_equal(wm_mbb_target(&m, t, 5, WALL0), 0);
	struct wm_wg_device *p = plan(&m, t, NULL, 5, &next);
	assert_sends(p, C, "0.0.0.0/0");
	assert_accepts_only(p, B, "0.0.0.0/0");
	assert_int_equal(next, 5 + WM_MBB_OVERLAP_MS);
	wm_wg_device_free(p);
	wm_wg_device_free(t);
	/* the same move of a mesh address is held */
	t = dev("B:172.16.0.1/32,172.16.0.3/32");
	assert_int_equal(wm_mbb_target(&m, t, 10, WALL0), 0);
	p = plan(&m, t, NULL, 10, &next);
	assert_sends(p, C, "172.16.0.3/32");
	assert_accepts_only(p, B, "172.16.0.3/32");
	wm_wg_device_free(p);
	wm_wg_device_free(t);
	wm_mbb_free(&m);
}

/* A new peer whose addresses nobody carried (a node joining a mesh where we
 * have several peers) is programmed at once, with nothing awaited; one that
 * lies inside a route another peer carries, or holds one inside its own
 * route, is awaited. */
static void test_new_peer_without_overlap_is_not_awaited(void **state)
{
	(void)state;
	struct wm_mbb m;
	uint64_t next;
	start(&m, "B:172.16.0.1/32,10.1.0.0/16;D:172.16.0.4/32");
	struct wm_wg_device *t = dev("B:172.16.0.1/32,10.1.0.0/16;C:172.16.0.3/32;D:172.16.0.4/32");
	assert_int_equal(wm_mbb_target(&m, t, 5, WALL0), 0);
	assert_int_equal(m.n_fresh, 0);
	struct wm_wg_device *p = plan(&m, t, NULL, 5, &next);
	assert_same(p, t);
	assert_int_equal(next, 0);
	wm_wg_device_free(p);
	wm_wg_device_free(t);
	/* inside b's route */
	t = dev("B:172.16.0.1/32,10.1.0.0/16;C:172.16.0.3/32,10.1.2.0/24;D:172.16.0.4/32");
	assert_int_equal(wm_mbb_target(&m, t, 10, WALL0), 0);
	assert_int_equal(m.n_fresh, 0); /* c is no longer new */
	wm_wg_device_free(t);
	wm_mbb_free(&m);

	start(&m, "B:172.16.0.1/32,10.1.0.0/16");
	t = dev("B:172.16.0.1/32,10.1.0.0/16;C:10.1.2.0/24");
	assert_int_equal(wm_mbb_target(&m, t, 5, WALL0), 0);
	assert_int_equal(m.n_fresh, 1);
	wm_wg_device_free(t);
	wm_mbb_free(&m);
	/* around b's route */
	start(&m, "B:172.16.0.1/32,10.1.0.0/16");
	t = dev("B:172.16.0.1/32,10.1.0.0/16;C:10.0.0.0/8");
	assert_int_equal(wm_mbb_target(&m, t, 5, WALL0), 0);
	assert_int_equal(m.n_fresh, 1);
	wm_wg_device_free(t);
	wm_mbb_free(&m);
	/* beside it */
	start(&m, "B:172.16.0.1/32,10.1.0.0/16");
	t = dev("B:172.16.0.1/32,10.1.0.0/16;C:10.2.0.0/16,172.16.0.3/32");
	assert_int_equal(wm_mbb_target(&m, t, 5, WALL0), 0);
	assert_int_equal(m.n_fresh, 0);
	wm_wg_device_free(t);
	wm_mbb_free(&m);
}

/* Attack review: a node removed (or denied) with no other peer carrying its
 * address has nothing to make before the break: its peer goes at once, it is
 * neither sent to nor heard from after the change. */
static void test_removed_node_goes_at_once(void **state)
{
	(void)state;
	struct wm_mbb m;
	uint64_t next = 1;
	start(&m, "B:172.16.0.1/32;C:172.16.0.3/32");
	struct wm_wg_device *t = dev("B:172.16.0.1/32");
	assert_int_equal(wm_mbb_target(&m, t, 100, WALL0), 0);
	struct wm_wg_device *p = plan(&m, t, NULL, 100, &next);
	assert_null(peer(p, C));
	assert_same(p, t);
	assert_int_equal(next, 0);
	wm_wg_device_free(p);
	wm_wg_device_free(t);
	wm_mbb_free(&m);

	/* a linger whose carrier goes away with a later change goes too */
	start(&m, "B:172.16.0.1/32;C:172.16.0.3/32");
	t = dev("B:172.16.0.0/12");
	assert_int_equal(wm_mbb_target(&m, t, 100, WALL0), 0);
	p = plan(&m, t, NULL, 100, &next);
	assert_sends(p, C, "172.16.0.3/32");
	wm_wg_device_free(p);
	wm_wg_device_free(t);
	t = dev("B:172.16.0.1/32");
	assert_int_equal(wm_mbb_target(&m, t, 200, WALL0), 0);
	p = plan(&m, t, NULL, 200, &next);
	assert_null(peer(p, C));
	wm_wg_device_free(p);
	wm_wg_device_free(t);
	wm_mbb_free(&m);
}

/* The edge to c deleted and c removed from the mesh in one change, d only
 * moved behind the hub: both addresses are now carried by b's network, and
 * only the server's word (gone keys) tells them apart. c's tunnel ends at
 * once, d's still lingers through the hold and the overlap. */
static void test_gone_key_ends_its_linger_at_once(void **state)
{
	(void)state;
	struct wm_mbb m;
	uint64_t next = 1;
	start(&m, "B:172.16.0.1/32;C:172.16.0.3/32;D:172.16.0.4/32");
	struct wm_wg_device *t = dev("B:172.16.0.0/12");
	assert_int_equal(wm_mbb_target(&m, t, 100, WALL0), 0);
	wm_key gone[1];
	memcpy(gone[0], C, sizeof(wm_key));
	wm_mbb_drop_gone(&m, (const wm_key *)gone, 1);
	struct wm_wg_device *p = plan(&m, t, NULL, 100, &next);
	assert_null(peer(p, C));
	assert_sends(p, D, "172.16.0.4/32");
	assert_sends(p, B, "172.16.0.0/12");
	assert_false(has(peer(p, B)->accept_ips, peer(p, B)->n_accept_ips, "172.16.0.3/32"));
	assert_int_equal(next, 100 + WM_MBB_HOLD_MS);
	wm_wg_device_free(p);

	p = plan(&m, t, NULL, 100 + WM_MBB_HOLD_MS, &next);
	assert_null(peer(p, C));
	assert_accepts_only(p, D, "172.16.0.4/32");
	wm_wg_device_free(p);

	/* a key with nothing lingering, and no keys at all, change nothing */
	memcpy(gone[0], SELF, sizeof(wm_key));
	wm_mbb_drop_gone(&m, (const wm_key *)gone, 1);
	wm_mbb_drop_gone(&m, NULL, 0);
	p = plan(&m, t, NULL, 100 + WM_MBB_HOLD_MS, &next);
	assert_accepts_only(p, D, "172.16.0.4/32");
	assert_int_equal(next, 100 + WM_MBB_HOLD_MS + WM_MBB_OVERLAP_MS);
	wm_wg_device_free(p);
	wm_wg_device_free(t);
	wm_mbb_free(&m);
}

/* Attack review: a new peer is marked to take its accept-only addresses over
 * at its first handshake, a moment the far end chooses. An address the
 * target took from it while it awaited that handshake (only lingering on
 * it) must not be among them: the peer would become its owner on the device
 * (taking it from whoever carries it now) and receive its traffic. */
static void test_lingering_address_is_never_promoted(void **state)
{
	(void)state;
	struct wm_mbb m;
	uint64_t next;
	start(&m, "B:172.16.0.0/12");
	struct wm_wg_device *t = dev("B:172.16.0.1/32;C:172.16.0.3/32");
	assert_int_equal(wm_mbb_target(&m, t, 0, WALL0), 0);
	struct wm_wg_device *p = plan(&m, t, NULL, 0, &next);
	assert_accepts_only(p, C, "172.16.0.3/32");
	assert_true(peer(p, C)->flags & WM_WGPEER_PROMOTE);
	wm_wg_device_free(p);
	wm_wg_device_free(t);
	/* before c's handshake .3 is reached through b, and c gets .7 */
	t = dev("B:172.16.0.1/32,172.16.0.3/32;C:172.16.0.7/32");
	assert_int_equal(wm_mbb_target(&m, t, 100, WALL0 + 100000000), 0);
	p = plan(&m, t, NULL, 100, &next);
	assert_accepts_only(p, C, "172.16.0.3/32");
	assert_false(peer(p, C)->flags & WM_WGPEER_PROMOTE);
	wm_wg_device_free(p);
	wm_wg_device_free(t);
	wm_mbb_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_peer_set_is_the_target),
		cmocka_unit_test(test_direct_to_hub),
		cmocka_unit_test(test_hub_to_direct_waits_for_the_handshake),
		cmocka_unit_test(test_unconfirmed_peer_is_given_up),
		cmocka_unit_test(test_same_prefix_moves_between_peers),
		cmocka_unit_test(test_change_undone_during_the_hold),
		cmocka_unit_test(test_held_address_dropped_stays_heard),
		cmocka_unit_test(test_diff_carries_accept_ips),
		cmocka_unit_test(test_route_beyond_the_mesh_moves_at_once),
		cmocka_unit_test(test_new_peer_without_overlap_is_not_awaited),
		cmocka_unit_test(test_removed_node_goes_at_once),
		cmocka_unit_test(test_lingering_address_is_never_promoted),
		cmocka_unit_test(test_gone_key_ends_its_linger_at_once),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
