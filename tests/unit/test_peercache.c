/* The services' peer cache over a real store: the same answers as computing
 * each node alone, one read of the state per applied change. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "services/peercache.h"
#include "store/store.h"
#include "test_store_live.h"
#include "test_store_util.h"

#define DEADLINE_MS 20000 /* a bound for each wait, not an expected duration */
#define SPOKES 20

static uv_loop_t loop;
static bool flag;

static bool run_until(bool *done)
{
	return test_run_flag(&loop, done, DEADLINE_MS);
}

static void closed_cb(void *data)
{
	*(bool *)data = true;
}

static int apply(struct wm_store *s, Webmesh__V1__RaftCommand *cmd)
{
	return test_apply(&loop, s, cmd);
}

static int join(struct wm_store *s, const char *id, int seed, const char *via, int role,
		const char *route)
{
	Webmesh__V1__JoinNodeCommand c = WEBMESH__V1__JOIN_NODE_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	char key[WM_KEY_B64_LEN + 1], *routes[1] = {(char *)route};

	test_key(seed, key);
	c.id = (char *)id;
	c.public_key = key;
	c.listen_port = 51820;
	c.raft_role = role;
	c.via = (char *)via;
	c.full_mesh = true;
	c.routes = routes;
	c.n_routes = route ? 1 : 0;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE;
	cmd.join_node = &c;
	return apply(s, &cmd);
}

static int put_route(struct wm_store *s, const char *id, const char *route)
{
	Webmesh__V1__PutRoutesCommand p = WEBMESH__V1__PUT_ROUTES_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	char *routes[1] = {(char *)route};

	p.node_id = (char *)id;
	p.routes = routes;
	p.n_routes = 1;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROUTES;
	cmd.put_routes = &p;
	return apply(s, &cmd);
}

static int put_edge(struct wm_store *s, const char *a, const char *b, const char *ice)
{
	size_t len;
	uint8_t *buf = test_edge_cmd(true, a, b, 1, ice ? "ice" : NULL, ice, &len);
	Webmesh__V1__RaftCommand *cmd = webmesh__v1__raft_command__unpack(NULL, len, buf);
	int err;

	assert_non_null(cmd);
	err = apply(s, cmd);
	webmesh__v1__raft_command__free_unpacked(cmd, NULL);
	free(buf);
	return err;
}

static int remove_node(struct wm_store *s, const char *id)
{
	Webmesh__V1__RemoveNodeCommand r = WEBMESH__V1__REMOVE_NODE_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;

	r.id = (char *)id;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE;
	cmd.remove_node = &r;
	return apply(s, &cmd);
}

/* Packs a configuration so that two compare byte for byte. */
static uint8_t *pack(const Webmesh__V1__PeerConfigurations *pc, size_t *len)
{
	uint8_t *buf;

	*len = webmesh__v1__peer_configurations__get_packed_size(pc);
	buf = malloc(*len + 1);
	assert_non_null(buf);
	webmesh__v1__peer_configurations__pack(pc, buf);
	return buf;
}

static void assert_same_as_once(struct wm_peercache *pc, struct wm_store *s, const char *id)
{
	Webmesh__V1__PeerConfigurations a, b;
	struct wm_arena ar;
	uint8_t *x, *y;
	size_t lx, ly;

	wm_arena_init(&ar);
	assert_int_equal(wm_peercache_config(pc, id, &ar, &a), 0);
	assert_int_equal(wm_peercache_config_once(s, id, &ar, &b), 0);
	x = pack(&a, &lx);
	y = pack(&b, &ly);
	assert_int_equal(lx, ly);
	assert_memory_equal(x, y, lx);
	free(x);
	free(y);
	wm_arena_free(&ar);
}

/* The packed configuration of id, from the cache. */
static uint8_t *config_packed(struct wm_peercache *pc, const char *id, size_t *len)
{
	Webmesh__V1__PeerConfigurations c;
	struct wm_arena ar;
	uint8_t *buf;

	wm_arena_init(&ar);
	assert_int_equal(wm_peercache_config(pc, id, &ar, &c), 0);
	buf = pack(&c, len);
	wm_arena_free(&ar);
	return buf;
}

/* Whether id's configuration marks its peer peer_id ice. */
static bool peer_ice(struct wm_peercache *pc, const char *id, const char *peer_id)
{
	Webmesh__V1__PeerConfigurations c;
	struct wm_arena ar;
	bool found = false, ice = false;

	wm_arena_init(&ar);
	assert_int_equal(wm_peercache_config(pc, id, &ar, &c), 0);
	for (size_t i = 0; i < c.n_peers; i++) {
		if (strcmp(c.peers[i]->node->id, peer_id) == 0) {
			found = true;
			ice = c.peers[i]->ice;
		}
	}
	wm_arena_free(&ar);
	assert_true(found);
	return ice;
}

static bool has_allowed(const Webmesh__V1__WireGuardPeer *p, const char *prefix)
{
	for (size_t i = 0; i < p->n_allowed_ips; i++)
		if (strcmp(p->allowed_ips[i], prefix) == 0)
			return true;
	return false;
}

static void test_cache(void **state)
{
	char dir[] = "/tmp/wm-test-peercache-XXXXXX", id[16], cmd[128];
	struct wm_store *s;
	struct wm_peercache *pc;
	Webmesh__V1__PeerConfigurations conf;
	struct wm_arena ar;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(uv_loop_init(&loop), 0);
	s = test_lone_leader(&loop, dir, "s");

	{
		Webmesh__V1__BootstrapMeshCommand b = WEBMESH__V1__BOOTSTRAP_MESH_COMMAND__INIT;
		Webmesh__V1__RaftCommand c = WEBMESH__V1__RAFT_COMMAND__INIT;

		b.network_ipv4 = "172.16.0.0/12";
		b.network_ipv6 = "fd12:3456:789a::/48";
		b.domain = "webmesh.internal";
		b.topology = "manual";
		c.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP;
		c.bootstrap = &b;
		assert_int_equal(apply(s, &c), 0);
	}
	assert_int_equal(join(s, "s", 1, "", 1, NULL), 0);
	for (int i = 1; i <= SPOKES; i++) {
		snprintf(id, sizeof(id), "x%02d", i);
		assert_int_equal(join(s, id, 100 + i, "s", 0, i == 3 ? "192.168.3.0/24" : NULL), 0);
	}

	assert_int_equal(wm_peercache_new(s, &pc), 0);
	assert_int_equal(wm_peercache_loads(pc), 0);
	assert_same_as_once(pc, s, "s");
	for (int i = 1; i <= SPOKES; i++) {
		snprintf(id, sizeof(id), "x%02d", i);
		assert_same_as_once(pc, s, id);
	}
	/* one read of the state for every node */
	assert_int_equal(wm_peercache_loads(pc), 1);

	wm_arena_init(&ar);
	assert_int_equal(wm_peercache_config(pc, "x01", &ar, &conf), 0);
	assert_int_equal(conf.n_peers, 1);
	assert_string_equal(conf.peers[0]->node->id, "s");
	assert_true(has_allowed(conf.peers[0], "172.16.0.0/12"));
	assert_true(has_allowed(conf.peers[0], "192.168.3.0/24"));
	assert_false(conf.forwarding);
	assert_int_equal(conf.n_own_routes, 0);
	assert_int_equal(wm_peercache_config(pc, "s", &ar, &conf), 0);
	assert_int_equal(conf.n_peers, SPOKES);
	assert_true(conf.forwarding);
	assert_int_equal(wm_peercache_config(pc, "x03", &ar, &conf), 0);
	assert_true(conf.forwarding); /* it advertises a network */
	assert_int_equal(conf.n_own_routes, 1);
	assert_string_equal(conf.own_routes[0], "192.168.3.0/24");
	assert_int_equal(wm_peercache_config(pc, "nobody", &ar, &conf), -ENOENT);
	wm_arena_free(&ar);

	/* a change: the next answer comes from a new read, and shows it */
	assert_int_equal(put_route(s, "x02", "10.99.0.0/16"), 0);
	wm_arena_init(&ar);
	assert_int_equal(wm_peercache_config(pc, "x01", &ar, &conf), 0);
	assert_true(has_allowed(conf.peers[0], "10.99.0.0/16"));
	wm_arena_free(&ar);
	assert_int_equal(wm_peercache_loads(pc), 2);
	assert_same_as_once(pc, s, "x02");
	assert_int_equal(wm_peercache_loads(pc), 2);

	/* Marking an edge ice changes the configurations of its two ends (the
	 * subscriptions send a set whose bytes differ) and no other's. */
	{
		const char *ids[] = {"s", "x01", "x05", "x06"};
		uint8_t *before[4], *after[4];
		size_t lb[4], la[4];

		for (int i = 0; i < 4; i++)
			before[i] = config_packed(pc, ids[i], &lb[i]);
		assert_int_equal(put_edge(s, "x05", "s", "true"), 0);
		assert_true(peer_ice(pc, "x05", "s"));
		assert_true(peer_ice(pc, "s", "x05"));
		assert_false(peer_ice(pc, "s", "x06"));
		assert_same_as_once(pc, s, "x05");
		for (int i = 0; i < 4; i++) {
			bool end = i == 0 || i == 2;

			after[i] = config_packed(pc, ids[i], &la[i]);
			if (end)
				assert_true(lb[i] != la[i] ||
					    memcmp(before[i], after[i], lb[i]) != 0);
			else
				assert_true(lb[i] == la[i] &&
					    memcmp(before[i], after[i], lb[i]) == 0);
			free(after[i]);
		}
		/* and unmarking gives the first bytes back */
		assert_int_equal(put_edge(s, "s", "x05", "false"), 0);
		assert_false(peer_ice(pc, "x05", "s"));
		for (int i = 0; i < 4; i++) {
			after[i] = config_packed(pc, ids[i], &la[i]);
			assert_int_equal(lb[i], la[i]);
			assert_memory_equal(before[i], after[i], lb[i]);
			free(before[i]);
			free(after[i]);
		}
	}

	/* A node removed: the hub's next set names its key gone, and only its
	 * (the others are still members, however their paths change); a
	 * spoke whose one peer stays names none; no previous set, none. */
	{
		struct wm_sent_peers hub = {0}, spoke = {0}, none = {0};
		char key4[WM_KEY_B64_LEN + 1];

		wm_arena_init(&ar);
		assert_int_equal(wm_peercache_config(pc, "s", &ar, &conf), 0);
		assert_int_equal(wm_sent_peers_set(&hub, &conf), 0);
		assert_int_equal(hub.n, SPOKES);
		assert_int_equal(wm_peercache_config(pc, "x01", &ar, &conf), 0);
		assert_int_equal(wm_sent_peers_set(&spoke, &conf), 0);
		assert_int_equal(wm_peercache_gone_keys(pc, &hub, &ar, &conf), 0);
		assert_int_equal(conf.n_gone_keys, 0); /* nothing changed */
		wm_arena_free(&ar);

		assert_int_equal(remove_node(s, "x04"), 0);
		test_key(104, key4);
		wm_arena_init(&ar);
		assert_int_equal(wm_peercache_config(pc, "s", &ar, &conf), 0);
		assert_int_equal(conf.n_peers, SPOKES - 1);
		assert_int_equal(wm_peercache_gone_keys(pc, &hub, &ar, &conf), 0);
		assert_int_equal(conf.n_gone_keys, 1);
		assert_string_equal(conf.gone_keys[0], key4);
		assert_int_equal(wm_peercache_config(pc, "x01", &ar, &conf), 0);
		assert_int_equal(wm_peercache_gone_keys(pc, &spoke, &ar, &conf), 0);
		assert_int_equal(conf.n_gone_keys, 0);
		assert_int_equal(wm_peercache_gone_keys(pc, &none, &ar, &conf), 0);
		assert_int_equal(conf.n_gone_keys, 0);
		/* A hub subscribing again names the peers it holds from its old
		 * stream (x04 among them): its first set names x04's key gone,
		 * and a held peer whose node holds another key now too. */
		{
			char keys[3][WM_KEY_B64_LEN + 1];
			test_key(104, keys[0]);
			test_key(101, keys[1]);
			test_key(999, keys[2]); /* x02's key is another */
			Webmesh__V1__HeldPeer hv[3], *hp[3];
			const char *hid[3] = {"x04", "x01", "x02"};
			for (int i = 0; i < 3; i++) {
				webmesh__v1__held_peer__init(&hv[i]);
				hv[i].id = (char *)hid[i];
				hv[i].public_key = keys[i];
				hp[i] = &hv[i];
			}
			struct wm_sent_peers held = {0};
			const char *why = NULL;
			assert_int_equal(wm_sent_peers_held(&held, hp, 3, &why), 0);
			assert_int_equal(wm_peercache_config(pc, "s", &ar, &conf), 0);
			assert_int_equal(wm_peercache_gone_keys(pc, &held, &ar, &conf), 0);
			assert_int_equal(conf.n_gone_keys, 2);
			assert_string_equal(conf.gone_keys[0], keys[0]);
			assert_string_equal(conf.gone_keys[1], keys[2]);
			/* bad entries are refused by name and change nothing */
			hv[1].id = "not a node id!";
			assert_int_equal(wm_sent_peers_held(&held, hp, 3, &why), -EINVAL);
			assert_non_null(strstr(why, "node ID"));
			hv[1].id = "x01";
			hv[2].public_key = "AAAA";
			assert_int_equal(wm_sent_peers_held(&held, hp, 3, &why), -EINVAL);
			assert_non_null(strstr(why, "public key"));
			assert_int_equal(wm_sent_peers_held(&held, hp, WM_HELD_PEERS_MAX + 1, &why),
					 -EINVAL);
			assert_int_equal(held.n, 3);
			assert_string_equal(held.v[2].key, keys[2]);
			wm_sent_peers_free(&held);
		}
		wm_arena_free(&ar);
		wm_sent_peers_free(&hub);
		wm_sent_peers_free(&spoke);
		assert_null(hub.v);
	}

	wm_peercache_free(pc, true);
	flag = false;
	wm_store_close(s, closed_cb, &flag);
	assert_true(run_until(&flag));
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
