/* Unit tests for the WireGuard device description and the desired-vs-actual diff. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/wgconf.h"

static void key_fill(wm_key k, uint8_t v)
{
	memset(k, v, WM_KEY_LEN);
}

static struct wm_prefix pfx4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t len)
{
	struct wm_prefix p = {.family = AF_INET, .len = len};

	p.addr[0] = a, p.addr[1] = b, p.addr[2] = c, p.addr[3] = d;
	return p;
}

static struct wm_prefix pfx6(uint8_t first, uint8_t last, uint8_t len)
{
	struct wm_prefix p = {.family = AF_INET6, .len = len};

	p.addr[0] = first;
	p.addr[15] = last;
	return p;
}

static struct wm_endpoint ep4(uint8_t last, uint16_t port)
{
	struct wm_endpoint e = {.ip = pfx4(192, 0, 2, last, 32), .port = port};

	return e;
}

static struct wm_wg_peer *add_peer(struct wm_wg_device *dev, uint8_t keybyte, uint8_t ip_last)
{
	wm_key k;
	struct wm_wg_peer *p;
	struct wm_prefix ip = pfx4(172, 16, 0, ip_last, 32);

	key_fill(k, keybyte);
	p = wm_wg_device_add_peer(dev, k);
	assert_non_null(p);
	assert_int_equal(wm_wg_peer_add_allowed_ip(p, &ip), 0);
	return p;
}

/* A device with private key 0x11, port 51820 and peers 0xa0 (ep .1, ka 25) and 0xb0. */
static struct wm_wg_device *base_device(void)
{
	struct wm_wg_device *dev = wm_wg_device_new("webmesh0");
	struct wm_wg_peer *p;

	assert_non_null(dev);
	key_fill(dev->private_key, 0x11);
	dev->listen_port = 51820;
	p = add_peer(dev, 0xb0, 2);
	p->endpoint = ep4(2, 51820);
	p = add_peer(dev, 0xa0, 1);
	p->endpoint = ep4(1, 51820);
	p->keepalive_interval = 25;
	wm_wg_device_sort(dev);
	return dev;
}

static void test_new_and_sort(void **state)
{
	(void)state;
	struct wm_wg_device *dev = base_device();
	struct wm_prefix a = pfx4(10, 0, 0, 0, 8), b = pfx4(10, 0, 0, 0, 16);
	struct wm_prefix c = pfx6(0xfd, 1, 128);
	wm_key k;

	assert_string_equal(dev->name, "webmesh0");
	assert_int_equal(dev->n_peers, 2);
	assert_int_equal(dev->peers[0].public_key[0], 0xa0);
	assert_int_equal(dev->peers[1].public_key[0], 0xb0);

	assert_int_equal(wm_wg_peer_add_allowed_ip(&dev->peers[0], &c), 0);
	assert_int_equal(wm_wg_peer_add_allowed_ip(&dev->peers[0], &b), 0);
	assert_int_equal(wm_wg_peer_add_allowed_ip(&dev->peers[0], &a), 0);
	wm_wg_device_sort(dev);
	/* IPv4 before IPv6, then by address, then by length. */
	assert_int_equal(dev->peers[0].n_allowed_ips, 4);
	assert_int_equal(dev->peers[0].allowed_ips[0].addr[0], 10);
	assert_int_equal(dev->peers[0].allowed_ips[0].len, 8);
	assert_int_equal(dev->peers[0].allowed_ips[1].len, 16);
	assert_int_equal(dev->peers[0].allowed_ips[2].addr[0], 172);
	assert_int_equal(dev->peers[0].allowed_ips[3].family, AF_INET6);

	key_fill(k, 0xb0);
	assert_ptr_equal(wm_wg_device_find_peer(dev, k), &dev->peers[1]);
	key_fill(k, 0xc0);
	assert_null(wm_wg_device_find_peer(dev, k));

	struct wm_prefix bad = pfx4(1, 2, 3, 4, 33);
	assert_int_equal(wm_wg_peer_add_allowed_ip(&dev->peers[0], &bad), -EINVAL);
	wm_wg_device_free(dev);
	wm_wg_device_free(NULL);
}

static void test_add_many_and_dup(void **state)
{
	(void)state;
	struct wm_wg_device *dev = wm_wg_device_new("a-very-long-interface-name");
	struct wm_wg_device *copy;

	assert_string_equal(dev->name, "a-very-long-int"); /* truncated to IFNAMSIZ-1 */
	for (int i = 0; i < 1000; i++) {
		wm_key k = {0};
		struct wm_wg_peer *p;

		k[0] = (uint8_t)(i >> 8);
		k[1] = (uint8_t)i;
		p = wm_wg_device_add_peer(dev, k);
		assert_non_null(p);
		for (int j = 0; j < 3; j++) {
			struct wm_prefix ip =
				pfx4(10, (uint8_t)(i >> 8), (uint8_t)i, (uint8_t)j, 32);
			assert_int_equal(wm_wg_peer_add_allowed_ip(p, &ip), 0);
		}
	}
	copy = wm_wg_device_dup(dev);
	assert_non_null(copy);
	assert_int_equal(copy->n_peers, 1000);
	assert_int_equal(copy->peers[999].n_allowed_ips, 3);
	assert_int_equal(copy->peers[999].allowed_ips[2].addr[3], 2);
	assert_ptr_not_equal(copy->peers[0].allowed_ips, dev->peers[0].allowed_ips);
	wm_wg_device_free(copy);
	wm_wg_device_free(dev);
}

static void test_diff_nothing(void **state)
{
	(void)state;
	struct wm_wg_device *a = base_device(), *d = base_device(), *u = (void *)1;

	/* Counters read back from the device never make a difference. */
	a->peers[0].rx_bytes = 1234;
	a->peers[0].last_handshake_sec = 99;
	key_fill(a->public_key, 0x22);
	assert_int_equal(wm_wg_diff(a, d, &u), 0);
	assert_null(u);
	wm_wg_device_free(a);
	wm_wg_device_free(d);
}

static void test_diff_add(void **state)
{
	(void)state;
	struct wm_wg_device *a = base_device(), *d = base_device(), *u = NULL;
	struct wm_wg_peer *p = add_peer(d, 0xa8, 8);
	struct wm_prefix six = pfx6(0xfd, 8, 112);

	p->endpoint = ep4(8, 51821);
	assert_int_equal(wm_wg_peer_add_allowed_ip(p, &six), 0);
	wm_wg_device_sort(d);
	assert_int_equal(wm_wg_diff(a, d, &u), 0);
	assert_non_null(u);
	assert_string_equal(u->name, "webmesh0");
	assert_int_equal(u->flags, 0);
	assert_int_equal(u->n_peers, 1);
	p = &u->peers[0];
	assert_int_equal(p->public_key[0], 0xa8);
	assert_int_equal(p->flags, WM_WGPEER_REPLACE_ALLOWEDIPS | WM_WGPEER_HAS_ENDPOINT);
	assert_int_equal(p->endpoint.port, 51821);
	assert_int_equal(p->endpoint.ip.addr[3], 8);
	assert_int_equal(p->n_allowed_ips, 2);
	assert_int_equal(p->allowed_ips[0].addr[3], 8);
	assert_int_equal(p->allowed_ips[1].family, AF_INET6);
	wm_wg_device_free(u);

	/* From an empty device, every peer is added, with key and port. */
	struct wm_wg_device *empty = wm_wg_device_new("webmesh0");
	assert_int_equal(wm_wg_diff(empty, d, &u), 0);
	assert_int_equal(u->flags, WM_WGDEV_HAS_PRIVATE_KEY | WM_WGDEV_HAS_LISTEN_PORT);
	assert_int_equal(u->private_key[0], 0x11);
	assert_int_equal(u->listen_port, 51820);
	assert_int_equal(u->n_peers, 3);
	assert_int_equal(u->peers[0].public_key[0], 0xa0);
	assert_int_equal(u->peers[0].flags, WM_WGPEER_REPLACE_ALLOWEDIPS | WM_WGPEER_HAS_ENDPOINT |
						    WM_WGPEER_HAS_KEEPALIVE);
	assert_int_equal(u->peers[0].keepalive_interval, 25);
	assert_int_equal(u->peers[1].public_key[0], 0xa8);
	assert_int_equal(u->peers[2].public_key[0], 0xb0);
	wm_wg_device_free(u);
	wm_wg_device_free(empty);
	wm_wg_device_free(a);
	wm_wg_device_free(d);
}

static void test_diff_remove(void **state)
{
	(void)state;
	struct wm_wg_device *a = base_device(), *d = wm_wg_device_new("webmesh0"), *u = NULL;

	key_fill(d->private_key, 0x11);
	d->listen_port = 51820;
	/* d keeps 0xb0 unchanged and adds 0x90; 0xa0 goes. */
	struct wm_wg_peer *p = add_peer(d, 0xb0, 2);
	p->endpoint = ep4(2, 51820);
	add_peer(d, 0x90, 9);
	wm_wg_device_sort(d);
	assert_int_equal(wm_wg_diff(a, d, &u), 0);
	assert_int_equal(u->flags, 0);
	assert_int_equal(u->n_peers, 2);
	/* Removals come first, even though 0x90 sorts before 0xa0. */
	assert_int_equal(u->peers[0].public_key[0], 0xa0);
	assert_int_equal(u->peers[0].flags, WM_WGPEER_REMOVE_ME);
	assert_int_equal(u->peers[0].n_allowed_ips, 0);
	assert_int_equal(u->peers[1].public_key[0], 0x90);
	assert_int_equal(u->peers[1].flags, WM_WGPEER_REPLACE_ALLOWEDIPS);
	assert_int_equal(u->peers[1].n_allowed_ips, 1);
	wm_wg_device_free(u);
	wm_wg_device_free(a);
	wm_wg_device_free(d);
}

static void test_diff_endpoint_only(void **state)
{
	(void)state;
	struct wm_wg_device *a = base_device(), *d = base_device(), *u = NULL;

	d->peers[1].endpoint = ep4(77, 4000);
	assert_int_equal(wm_wg_diff(a, d, &u), 0);
	assert_int_equal(u->flags, 0);
	assert_int_equal(u->n_peers, 1);
	assert_int_equal(u->peers[0].public_key[0], 0xb0);
	assert_int_equal(u->peers[0].flags, WM_WGPEER_HAS_ENDPOINT);
	assert_int_equal(u->peers[0].endpoint.ip.addr[3], 77);
	assert_int_equal(u->peers[0].endpoint.port, 4000);
	assert_int_equal(u->peers[0].n_allowed_ips, 0);
	wm_wg_device_free(u);

	/* A desired peer without an endpoint leaves a learnt (roamed) one alone. */
	memset(&d->peers[1].endpoint, 0, sizeof(d->peers[1].endpoint));
	assert_int_equal(wm_wg_diff(a, d, &u), 0);
	assert_null(u);
	wm_wg_device_free(a);
	wm_wg_device_free(d);
}

static void test_diff_allowed_ips_only(void **state)
{
	(void)state;
	struct wm_wg_device *a = base_device(), *d = base_device(), *u = NULL;
	struct wm_prefix extra = pfx4(10, 1, 0, 0, 16);

	assert_int_equal(wm_wg_peer_add_allowed_ip(&d->peers[0], &extra), 0);
	wm_wg_device_sort(d);
	assert_int_equal(wm_wg_diff(a, d, &u), 0);
	assert_int_equal(u->n_peers, 1);
	assert_int_equal(u->peers[0].public_key[0], 0xa0);
	assert_int_equal(u->peers[0].flags, WM_WGPEER_REPLACE_ALLOWEDIPS);
	/* The full new list, not just the addition. */
	assert_int_equal(u->peers[0].n_allowed_ips, 2);
	assert_int_equal(u->peers[0].allowed_ips[0].addr[0], 10);
	assert_int_equal(u->peers[0].allowed_ips[0].len, 16);
	assert_int_equal(u->peers[0].allowed_ips[1].addr[0], 172);
	assert_int_equal(u->peers[0].allowed_ips[1].addr[3], 1);
	wm_wg_device_free(u);

	/* Same set, host bits set in desired: the device stores networks, no change. */
	struct wm_wg_device *d2 = base_device();
	struct wm_prefix hosty = pfx4(10, 1, 2, 3, 16);
	assert_int_equal(wm_wg_peer_add_allowed_ip(&d2->peers[0], &hosty), 0);
	wm_wg_device_sort(d2);
	assert_int_equal(wm_wg_diff(d, d2, &u), 0);
	assert_null(u);

	/* Emptied list: replace with nothing. */
	d2->peers[1].n_allowed_ips = 0;
	assert_int_equal(wm_wg_diff(a, d2, &u), 0);
	assert_int_equal(u->n_peers, 2);
	assert_int_equal(u->peers[1].public_key[0], 0xb0);
	assert_int_equal(u->peers[1].flags, WM_WGPEER_REPLACE_ALLOWEDIPS);
	assert_int_equal(u->peers[1].n_allowed_ips, 0);
	wm_wg_device_free(u);
	wm_wg_device_free(d2);
	wm_wg_device_free(a);
	wm_wg_device_free(d);
}

static void test_diff_keepalive(void **state)
{
	(void)state;
	struct wm_wg_device *a = base_device(), *d = base_device(), *u = NULL;

	d->peers[0].keepalive_interval = 0; /* turning it off is a change too */
	d->peers[1].keepalive_interval = 10;
	assert_int_equal(wm_wg_diff(a, d, &u), 0);
	assert_int_equal(u->n_peers, 2);
	assert_int_equal(u->peers[0].flags, WM_WGPEER_HAS_KEEPALIVE);
	assert_int_equal(u->peers[0].keepalive_interval, 0);
	assert_int_equal(u->peers[1].flags, WM_WGPEER_HAS_KEEPALIVE);
	assert_int_equal(u->peers[1].keepalive_interval, 10);
	wm_wg_device_free(u);
	wm_wg_device_free(a);
	wm_wg_device_free(d);
}

static void test_diff_device_fields(void **state)
{
	(void)state;
	struct wm_wg_device *a = base_device(), *d = base_device(), *u = NULL;

	key_fill(d->private_key, 0x12);
	assert_int_equal(wm_wg_diff(a, d, &u), 0);
	assert_int_equal(u->flags, WM_WGDEV_HAS_PRIVATE_KEY);
	assert_int_equal(u->private_key[31], 0x12);
	assert_int_equal(u->n_peers, 0);
	wm_wg_device_free(u);

	/* A device reports its key clamped (RFC 7748): not a difference. */
	key_fill(d->private_key, 0xff);
	key_fill(a->private_key, 0xff);
	a->private_key[0] = 0xf8;
	a->private_key[31] = 0x7f;
	assert_int_equal(wm_wg_diff(a, d, &u), 0);
	assert_null(u);
	key_fill(a->private_key, 0x11);

	key_fill(d->private_key, 0x11);
	d->listen_port = 51999;
	assert_int_equal(wm_wg_diff(a, d, &u), 0);
	assert_int_equal(u->flags, WM_WGDEV_HAS_LISTEN_PORT);
	assert_int_equal(u->listen_port, 51999);
	wm_wg_device_free(u);

	/* Port 0 means "any" and a zero key "not wanted": no change. */
	d->listen_port = 0;
	memset(d->private_key, 0, WM_KEY_LEN);
	assert_int_equal(wm_wg_diff(a, d, &u), 0);
	assert_null(u);

	d->flags = WM_WGDEV_HAS_FWMARK;
	d->fwmark = 0;
	a->fwmark = 7;
	assert_int_equal(wm_wg_diff(a, d, &u), 0);
	assert_int_equal(u->flags, WM_WGDEV_HAS_FWMARK);
	assert_int_equal(u->fwmark, 0);
	wm_wg_device_free(u);

	assert_int_equal(wm_wg_diff(NULL, d, &u), -EINVAL);
	wm_wg_device_free(a);
	wm_wg_device_free(d);
}

/* Desired state equality as the diff sees it. */
static void assert_same(const struct wm_wg_device *x, const struct wm_wg_device *y)
{
	struct wm_wg_device *u = (void *)1;

	assert_int_equal(wm_wg_diff(x, y, &u), 0);
	assert_null(u);
	assert_int_equal(x->n_peers, y->n_peers);
}

static void test_apply_diff_roundtrip(void **state)
{
	(void)state;
	struct wm_wg_device *a = base_device(), *d = wm_wg_device_new("webmesh0"), *u = NULL;
	struct wm_wg_device *empty = wm_wg_device_new("webmesh0");
	struct wm_wg_peer *p;
	struct wm_prefix ip = pfx4(10, 9, 0, 0, 16);

	/* d: new key, 0xa0 changed (endpoint, keepalive, IPs), 0xb0 gone, 0x90 new. */
	key_fill(d->private_key, 0x33);
	d->listen_port = 40000;
	p = add_peer(d, 0xa0, 1);
	p->endpoint = ep4(99, 1000);
	p->keepalive_interval = 5;
	assert_int_equal(wm_wg_peer_add_allowed_ip(p, &ip), 0);
	p = add_peer(d, 0x90, 9);
	p->endpoint = ep4(9, 9);
	wm_wg_device_sort(d);

	assert_int_equal(wm_wg_diff(a, d, &u), 0);
	assert_int_equal(wm_wg_device_apply(a, u), 0);
	wm_wg_device_free(u);
	assert_same(a, d);
	assert_int_equal(a->private_key[0], 0x33);
	assert_int_equal(a->listen_port, 40000);

	/* And from nothing, and back to nothing. */
	assert_int_equal(wm_wg_diff(empty, d, &u), 0);
	assert_int_equal(wm_wg_device_apply(empty, u), 0);
	wm_wg_device_free(u);
	assert_same(empty, d);
	struct wm_wg_device *none = wm_wg_device_new("webmesh0");
	assert_int_equal(wm_wg_diff(a, none, &u), 0);
	assert_int_equal(u->n_peers, 2);
	assert_int_equal(wm_wg_device_apply(a, u), 0);
	assert_int_equal(a->n_peers, 0);
	wm_wg_device_free(u);
	wm_wg_device_free(none);
	wm_wg_device_free(empty);
	wm_wg_device_free(a);
	wm_wg_device_free(d);
}

static void test_apply_semantics(void **state)
{
	(void)state;
	struct wm_wg_device *dev = base_device(), *u = wm_wg_device_new("webmesh0");
	struct wm_wg_peer *p;
	struct wm_prefix hosty = pfx4(10, 1, 2, 3, 16), net = pfx4(10, 1, 0, 0, 16);

	/* 0xc0 update-only: not created. 0xb0 removed then re-added in one
	 * update: ends up fresh. 0xa0: IPs added twice and with host bits. */
	p = add_peer(u, 0xc0, 3);
	p->flags = WM_WGPEER_UPDATE_ONLY;
	key_fill(p->public_key, 0xc0);
	p = wm_wg_device_add_peer(u, dev->peers[1].public_key);
	p->flags = WM_WGPEER_REMOVE_ME;
	p = wm_wg_device_add_peer(u, dev->peers[1].public_key);
	p->flags = WM_WGPEER_HAS_KEEPALIVE;
	p->keepalive_interval = 7;
	p = wm_wg_device_add_peer(u, dev->peers[0].public_key);
	assert_int_equal(wm_wg_peer_add_allowed_ip(p, &hosty), 0);
	assert_int_equal(wm_wg_peer_add_allowed_ip(p, &net), 0);
	assert_int_equal(wm_wg_device_apply(dev, u), 0);
	assert_int_equal(dev->n_peers, 2);
	assert_int_equal(dev->peers[0].public_key[0], 0xa0);
	assert_int_equal(dev->peers[0].n_allowed_ips, 2); /* 10.1.0.0/16 once, 172.16.0.1 */
	assert_int_equal(dev->peers[0].allowed_ips[0].addr[2], 0);
	assert_int_equal(dev->peers[0].keepalive_interval, 25); /* untouched */
	assert_int_equal(dev->peers[1].public_key[0], 0xb0);
	assert_int_equal(dev->peers[1].n_allowed_ips, 0); /* re-created empty */
	assert_int_equal(dev->peers[1].endpoint.ip.family, 0);
	assert_int_equal(dev->peers[1].keepalive_interval, 7);
	wm_wg_device_free(u);

	/* REPLACE_PEERS drops everything not listed. */
	u = wm_wg_device_new("webmesh0");
	u->flags = WM_WGDEV_REPLACE_PEERS | WM_WGDEV_HAS_FWMARK;
	u->fwmark = 3;
	add_peer(u, 0xd0, 4);
	assert_int_equal(wm_wg_device_apply(dev, u), 0);
	assert_int_equal(dev->n_peers, 1);
	assert_int_equal(dev->peers[0].public_key[0], 0xd0);
	assert_int_equal(dev->fwmark, 3);
	wm_wg_device_free(u);
	wm_wg_device_free(dev);
}

static void test_apply_large(void **state)
{
	(void)state;
	struct wm_wg_device *dev = wm_wg_device_new("webmesh0"), *want = wm_wg_device_new("x");
	struct wm_wg_device *u = NULL;

	for (int i = 0; i < 5000; i++) {
		wm_key k = {0};
		struct wm_prefix ip = pfx4(10, (uint8_t)(i >> 8), (uint8_t)i, 1, 32);

		k[0] = (uint8_t)(i * 7);
		k[1] = (uint8_t)(i >> 8);
		k[2] = (uint8_t)i;
		struct wm_wg_peer *p = wm_wg_device_add_peer(want, k);
		assert_int_equal(wm_wg_peer_add_allowed_ip(p, &ip), 0);
	}
	wm_wg_device_sort(want);
	assert_int_equal(wm_wg_diff(dev, want, &u), 0);
	assert_int_equal(u->n_peers, 5000);
	assert_int_equal(wm_wg_device_apply(dev, u), 0);
	wm_wg_device_free(u);
	assert_same(dev, want);
	wm_wg_device_free(dev);
	wm_wg_device_free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_and_sort),
		cmocka_unit_test(test_add_many_and_dup),
		cmocka_unit_test(test_diff_nothing),
		cmocka_unit_test(test_diff_add),
		cmocka_unit_test(test_diff_remove),
		cmocka_unit_test(test_diff_endpoint_only),
		cmocka_unit_test(test_diff_allowed_ips_only),
		cmocka_unit_test(test_diff_keepalive),
		cmocka_unit_test(test_diff_device_fields),
		cmocka_unit_test(test_apply_diff_roundtrip),
		cmocka_unit_test(test_apply_semantics),
		cmocka_unit_test(test_apply_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
