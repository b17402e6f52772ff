/* The netconf component (src/node/netconf.c) on the null backend, with no
 * daemon around it: the device starts with our key and no peers, a peer set
 * becomes the device's peers as a difference (never ourselves, never an
 * invalid peer), the peer names follow, the callbacks are asked, and the
 * close leaves nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "node/netconf.h"

struct fixture {
	uv_loop_t loop;
	struct wm_config cfg;
	wm_key priv, pub;
	struct wm_mesh_info mesh;
	struct wm_prefix ipv4, ipv6;
	struct wm_endpoint endpoints[WM_MAX_ENDPOINTS];
	size_t n_endpoints;
	struct wm_netconf nc;
	int nat_asked, synced, closes;
	bool running;
};

static struct wm_node_nat *nat_cb(void *data)
{
	struct fixture *f = data;
	f->nat_asked++;
	return NULL;
}

static void synced_cb(void *data, const struct wm_wg_device *desired)
{
	struct fixture *f = data;
	(void)desired;
	f->synced++;
}

static bool running_cb(void *data)
{
	return ((struct fixture *)data)->running;
}

static void closed_cb(void *data)
{
	((struct fixture *)data)->closes++;
}

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(uv_loop_init(&f.loop), 0);
	f.cfg.interface = (char *)"wmtest0";
	f.cfg.wireguard_backend = (char *)"null";
	f.cfg.wireguard_port = 51820;
	f.cfg.state_dir = (char *)"/nonexistent";
	memset(f.priv, 0x11, sizeof(f.priv));
	memset(f.pub, 0x22, sizeof(f.pub));
	f.running = true;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	return 0;
}

static int init(struct fixture *f, char *err, size_t errlen)
{
	struct wm_netconf_config c = {
		.loop = &f->loop,
		.cfg = &f->cfg,
		.private_key = f->priv,
		.public_key = f->pub,
		.mesh = &f->mesh,
		.ipv4 = &f->ipv4,
		.ipv6 = &f->ipv6,
		.endpoints = f->endpoints,
		.n_endpoints = &f->n_endpoints,
		.nat = nat_cb,
		.synced_cb = synced_cb,
		.running = running_cb,
		.data = f,
	};
	return wm_netconf_init(&f->nc, &c, err, errlen);
}

/* One peer message: key filled with fill, mesh address ipv4. */
struct peer_msg {
	Webmesh__V1__WireGuardPeer p;
	Webmesh__V1__MeshNode node;
	char key[WM_KEY_B64_LEN + 1];
	char *allowed[1];
};

static void peer_msg(struct peer_msg *m, const char *id, uint8_t fill, const char *ipv4)
{
	wm_key k;
	memset(k, fill, sizeof(k));
	*m = (struct peer_msg){.p = WEBMESH__V1__WIRE_GUARD_PEER__INIT,
			       .node = WEBMESH__V1__MESH_NODE__INIT};
	wm_key_to_base64(k, m->key);
	m->node.id = (char *)id;
	m->node.public_key = m->key;
	m->node.private_ipv4 = (char *)ipv4;
	m->allowed[0] = (char *)ipv4;
	m->p.node = &m->node;
	m->p.allowed_ips = m->allowed;
	m->p.n_allowed_ips = 1;
	m->p.endpoint = (char *)"192.0.2.7:51820";
}

static void test_peers_as_a_diff(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	struct wm_wg_device *dev = NULL;
	size_t n;

	assert_int_equal(init(f, err, sizeof(err)), 0);
	assert_non_null(wm_netconf_wg(&f->nc));
	assert_string_equal(wm_wg_backend_name(wm_netconf_wg(&f->nc)), "null");
	assert_int_equal(wm_wg_get(wm_netconf_wg(&f->nc), &dev), 0);
	assert_int_equal(dev->n_peers, 0);
	assert_int_equal(dev->listen_port, 51820);
	assert_memory_equal(dev->private_key, f->priv, sizeof(wm_key));
	wm_wg_device_free(dev);

	/* a, ourselves, and one with a broken key: only a is configured (the
	 * handshake kick for a new peer goes to its mesh address: loopback
	 * here) */
	struct peer_msg a, self, bad;
	peer_msg(&a, "a", 0x33, "127.0.0.3/32");
	peer_msg(&self, "self", 0x22, "127.0.0.2/32");
	peer_msg(&bad, "bad", 0x44, "127.0.0.4/32");
	bad.node.public_key = (char *)"not-a-key";
	Webmesh__V1__WireGuardPeer *set[] = {&a.p, &self.p, &bad.p};
	assert_int_equal(wm_netconf_apply_peers(&f->nc, set, 3), 0);
	assert_true(f->nat_asked > 0);
	assert_int_equal(wm_wg_get(wm_netconf_wg(&f->nc), &dev), 0);
	assert_int_equal(dev->n_peers, 1);
	wm_key ka;
	memset(ka, 0x33, sizeof(ka));
	assert_memory_equal(dev->peers[0].public_key, ka, sizeof(wm_key));
	assert_int_equal(dev->peers[0].n_allowed_ips, 1);
	wm_wg_device_free(dev);
	const struct wm_peer_name *names = wm_netconf_peers(&f->nc, &n);
	assert_int_equal(n, 1);
	assert_string_equal(names[0].id, "a");
	assert_int_equal(names[0].ipv4.family, AF_INET);
	/* no addresses on the null backend: nothing downstream is synced */
	assert_int_equal(f->synced, 0);

	/* an empty set removes a */
	assert_int_equal(wm_netconf_apply_peers(&f->nc, NULL, 0), 0);
	assert_int_equal(wm_wg_get(wm_netconf_wg(&f->nc), &dev), 0);
	assert_int_equal(dev->n_peers, 0);
	wm_wg_device_free(dev);
	wm_netconf_peers(&f->nc, &n);
	assert_int_equal(n, 0);

	/* a path change while stopping is not applied (the NAT layer is
	 * not even asked) */
	int asked = f->nat_asked;
	f->running = false;
	wm_netconf_nat_changed(&f->nc);
	assert_int_equal(f->nat_asked, asked);
	f->running = true;
	wm_netconf_nat_changed(&f->nc);
	assert_int_equal(f->nat_asked, asked + 1);

	wm_netconf_close(&f->nc, closed_cb, f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->closes, 1);
	assert_null(wm_netconf_wg(&f->nc));
	assert_null(wm_netconf_peers(&f->nc, &n));
	assert_int_equal(n, 0);
}

static void test_bad_backend_named(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";

	f->cfg.wireguard_backend = (char *)"carrier-pigeon";
	assert_int_equal(init(f, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "carrier-pigeon"));
	assert_null(wm_netconf_wg(&f->nc));
	wm_netconf_close(&f->nc, closed_cb, f);
	assert_int_equal(f->closes, 1);
}

static void test_endpoints_from_config(void **state)
{
	struct fixture *f = *state;
	struct wm_endpoint eps[WM_MAX_ENDPOINTS];
	size_t n = 99;

	f->cfg.endpoints[0] = (char *)"198.51.100.1:51820";
	f->cfg.endpoints[1] = (char *)"not an endpoint";
	f->cfg.endpoints[2] = (char *)"[2001:db8::1]:51821";
	f->cfg.n_endpoints = 3;
	assert_int_equal(wm_netconf_detect_endpoints(&f->cfg, eps, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(eps[0].ip.family, AF_INET);
	assert_int_equal(eps[0].port, 51820);
	assert_int_equal(eps[1].ip.family, AF_INET6);
	assert_int_equal(eps[1].port, 51821);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_peers_as_a_diff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_backend_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_endpoints_from_config, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
