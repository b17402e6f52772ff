/* Unit tests for src/p2p/dht.c on real hosts over loopback: three nodes
 * bootstrap from a fourth; one announces a key; another finds it as the
 * key's provider through the DHT (FIND_NODE, ADD_PROVIDER, GET_PROVIDERS);
 * a lookup with no peer to ask ends at once with -ENOENT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "looprun.h"
#include "p2p/dht.h"
#include "p2p/host.h"

static char dir[] = "/tmp/wm-p2p-dht-XXXXXX";

struct node {
	struct wm_p2p *h;
	struct wm_dht *d;
	char addr[300];
	char id[64];
};

/* requests_per_stream of the nodes start() makes (0: the default). */
static uint32_t per_stream;

static void start(uv_loop_t *loop, struct node *n, const char *name, char *peer)
{
	char key[256], err[512] = "";
	char *listen[] = {"/ip4/127.0.0.1/tcp/0"};
	char *peers[] = {peer};
	struct wm_p2p_config c = {
		.loop = loop,
		.key_path = key,
		.listen = listen,
		.nlisten = 1,
		.peers = peers,
		.npeers = peer ? 1 : 0,
		.agent = "webmesh/test",
		.max_conns = 16,
		.max_streams = 16,
		.log_level = 3,
	};
	struct wm_dht_config dc = {.query_timeout_ms = 2000,
				   .lookup_timeout_ms = 8000,
				   .requests_per_stream = per_stream};
	struct wm_p2p_status st;

	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	if (wm_p2p_new(&c, &n->h, err, sizeof(err)))
		fail_msg("wm_p2p_new %s: %s", name, err);
	assert_int_equal(wm_dht_new(n->h, &dc, &n->d), 0);
	wm_p2p_status(n->h, &st);
	snprintf(n->addr, sizeof(n->addr), "%s/p2p/%s", st.listen[0], st.peer_id);
	snprintf(n->id, sizeof(n->id), "%s", st.peer_id);
}

/* The loop until pred holds, at most 15 s. */
static bool run_until(uv_loop_t *loop, bool (*pred)(void *), void *arg)
{
	return wm_test_loop_until(loop, pred, arg, 15000);
}

struct found {
	int nfound, ndone, err;
	char id[64];
};

static void on_provider(void *ud, const struct wm_kad_peer *p, int err)
{
	struct found *f = ud;
	struct wm_peer_id id;

	if (!p) {
		f->ndone++;
		f->err = err;
		return;
	}
	f->nfound++;
	assert_int_equal(wm_peer_id_from_bytes(p->id, p->id_len, &id, NULL), 0);
	wm_peer_id_print(&id, f->id);
	assert_true(p->naddrs > 0);
}

static struct node nodes[4];

static bool tables_full(void *arg)
{
	(void)arg;
	/* Each learnt the others: the bootstrap node, then the rest through
	 * its self lookup's FIND_NODE answers. */
	for (int i = 0; i < 4; i++)
		if (wm_dht_table_size(nodes[i].d) < 3)
			return false;
	return true;
}

static bool lookup_done(void *arg)
{
	return ((struct found *)arg)->ndone > 0;
}

static int closed;

static void host_done(void *data)
{
	wm_dht_free(data, NULL, NULL);
	closed++;
}

static void test_provide_find(void **state)
{
	uv_loop_t loop;
	uint8_t key[34] = {0x12, 0x20};
	struct found f = {0};
	(void)state;

	memset(key + 2, 0xab, 32);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(uv_loop_init(&loop), 0);
	start(&loop, &nodes[0], "boot", NULL);
	/* Alone: no one to ask. */
	assert_int_equal(wm_dht_find_providers(nodes[0].d, key, sizeof(key), 4, on_provider, &f),
			 0);
	assert_int_equal(f.ndone, 1);
	assert_int_equal(f.err, -ENOENT);
	assert_int_equal(wm_dht_find_providers(nodes[0].d, key, 0, 4, on_provider, &f), -EINVAL);
	for (int i = 1; i < 4; i++) {
		char name[8];
		snprintf(name, sizeof(name), "n%d", i);
		start(&loop, &nodes[i], name, nodes[0].addr);
	}
	assert_true(run_until(&loop, tables_full, NULL));
	assert_int_equal(wm_dht_provide(nodes[2].d, key, sizeof(key)), 0);
	/* Until the record is out, a lookup may come back empty: ask again. */
	memset(&f, 0, sizeof(f));
	for (int tries = 0; tries < 10 && f.nfound == 0; tries++) {
		f.ndone = 0;
		assert_int_equal(
			wm_dht_find_providers(nodes[3].d, key, sizeof(key), 4, on_provider, &f), 0);
		assert_true(run_until(&loop, lookup_done, &f));
		if (!f.nfound)
			usleep(200000);
	}
	assert_int_equal(f.nfound, 1);
	assert_string_equal(f.id, nodes[2].id);
	assert_int_equal(f.err, 0);

	for (int i = 0; i < 4; i++) {
		wm_dht_stop(nodes[i].d);
		wm_p2p_free(nodes[i].h, host_done, nodes[i].d);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(closed, 4);
	assert_int_equal(uv_loop_close(&loop), 0);
	for (int i = 0; i < 4; i++) {
		char key_file[256];
		snprintf(key_file, sizeof(key_file), "%s/%s.key", dir,
			 i ? (char[]){'n', (char)('0' + i), 0} : "boot");
		unlink(key_file);
	}
}

/* A peer that speaks the protocol and never answers: our request to it
 * ends at its time bound, and the lookup with it. */
static void silent_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	(void)ud;
	(void)s;
	(void)buf;
	(void)len;
}

static void silent_stream(void *ud, struct wm_p2p_stream *s)
{
	(void)ud;
	(void)s;
}

static const struct wm_p2p_stream_cb silent_cb = {
	.data = silent_data,
	.fin = silent_stream,
	.gone = silent_stream,
};

static int silent_accept(void *arg, struct wm_p2p_stream *s, const struct wm_p2p_stream_cb **cb,
			 void **ud)
{
	(void)arg;
	(void)s;
	*cb = &silent_cb;
	*ud = NULL;
	return 0;
}

static bool has_peer(void *arg)
{
	return wm_dht_table_size(arg) > 0;
}

static void host_only_done(void *data)
{
	(void)data;
	closed++;
}

struct liar {
	struct wm_p2p *h;
	struct wm_peer_id victim;
};

static bool liar_connected(void *arg)
{
	struct liar *l = arg;

	return wm_p2p_connected(l->h, &l->victim) == 1;
}

/* A bare host (no DHT of its own) with its key at key_file, connected to
 * the node at addr (whose ID l->victim holds); our own ID into self. */
static void liar_start(uv_loop_t *loop, struct liar *l, const char *key_file, char *addr,
		       struct wm_peer_id *self)
{
	char err[512] = "";
	char *peers[] = {addr};
	struct wm_p2p_status st;
	struct wm_p2p_config c = {
		.loop = loop,
		.key_path = key_file,
		.peers = peers,
		.npeers = 1,
		.max_conns = 8,
		.max_streams = 8,
		.log_level = 3,
	};
	if (wm_p2p_new(&c, &l->h, err, sizeof(err)))
		fail_msg("%s", err);
	assert_true(run_until(loop, liar_connected, l));
	wm_p2p_status(l->h, &st);
	assert_int_equal(wm_peer_id_parse(st.peer_id, self), 0);
}

static bool records_1(void *arg)
{
	return wm_dht_records(arg) == 1;
}

static void ignore_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	(void)ud, (void)s, (void)buf, (void)len;
}

static void ignore_end(void *ud, struct wm_p2p_stream *s)
{
	(void)ud, (void)s;
}

static const struct wm_p2p_stream_cb ignore_cb = {ignore_data, ignore_end, ignore_end};

/* ADD_PROVIDER from a peer's side, framed as on the wire. */
static void add_provider(struct wm_p2p_stream *s, uint8_t key, const struct wm_peer_id *who,
			 const char *addr)
{
	static struct wm_kad_msg m;
	uint8_t buf[1024], len[WM_VARINT_MAX];
	char err[128];
	int rc;

	memset(&m, 0, sizeof(m));
	m.type = WM_KAD_ADD_PROVIDER;
	m.key[0] = 0x12, m.key[1] = 0x20, m.key[2] = key;
	m.key_len = 34;
	m.nproviders = 1;
	memcpy(m.providers[0].id, who->b, WM_PEERID_LEN);
	m.providers[0].id_len = WM_PEERID_LEN;
	rc = wm_maddr_parse(addr, m.providers[0].addrs[0], WM_MADDR_MAX, err, sizeof(err));
	assert_true(rc > 0);
	m.providers[0].addr_len[0] = (size_t)rc;
	m.providers[0].naddrs = 1;
	rc = wm_kad_msg_encode(&m, buf, sizeof(buf));
	assert_true(rc > 0);
	size_t vl = wm_varint_encode((uint64_t)rc, len);
	assert_int_equal(wm_p2p_write(s, len, vl), 0);
	assert_int_equal(wm_p2p_write(s, buf, (size_t)rc), 0);
}

/* A provider record from the attacker's side: a peer announcing someone
 * else (pointing the key's seekers at a victim, or at an address of its
 * choice under another's name) is not stored; the same peer announcing
 * itself is, on the same stream. */
static void test_provider_for_another_peer_dropped(void **state)
{
	uv_loop_t loop;
	char key_file[256];
	struct node victim;
	struct liar l = {0};
	struct wm_peer_id self, other;
	struct wm_p2p_stream *s;
	(void)state;

	closed = 0;
	assert_int_equal(uv_loop_init(&loop), 0);
	start(&loop, &victim, "victim", NULL);
	assert_int_equal(wm_peer_id_parse(victim.id, &l.victim), 0);
	snprintf(key_file, sizeof(key_file), "%s/liar.key", dir);
	liar_start(&loop, &l, key_file, victim.addr, &self);
	other = l.victim; /* anyone but the sender */
	assert_int_equal(wm_p2p_open(l.h, &l.victim, WM_KAD_PROTOCOL, NULL, &ignore_cb, NULL, &s),
			 0);
	/* two keys, so that a record stored for the other counts apart */
	add_provider(s, 7, &other, "/ip4/192.0.2.66/tcp/4001");
	add_provider(s, 8, &self, "/ip4/192.0.2.77/tcp/4001");
	assert_true(run_until(&loop, records_1, victim.d));
	uint64_t until = uv_hrtime() + 300000000ull;
	while (uv_hrtime() < until)
		uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(wm_dht_records(victim.d), 1);

	wm_dht_stop(victim.d);
	wm_p2p_free(victim.h, host_done, victim.d);
	wm_p2p_free(l.h, host_only_done, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(closed, 2);
	assert_int_equal(uv_loop_close(&loop), 0);
	unlink(key_file);
	snprintf(key_file, sizeof(key_file), "%s/victim.key", dir);
	unlink(key_file);
}

static bool records_2(void *arg)
{
	return wm_dht_records(arg) == 2;
}

static void count_gone(void *ud, struct wm_p2p_stream *s)
{
	(void)s;
	(*(int *)ud)++;
}

/* The configured requests per inbound stream are the ones in force: with
 * 2, a third request on the stream is not served and the stream is reset. */
static void test_requests_per_stream(void **state)
{
	uv_loop_t loop;
	char key_file[256];
	struct node server;
	struct liar l = {0};
	struct wm_peer_id self;
	struct wm_p2p_stream *s;
	int gone = 0;
	const struct wm_p2p_stream_cb cb = {ignore_data, ignore_end, count_gone};
	(void)state;

	closed = 0;
	assert_int_equal(uv_loop_init(&loop), 0);
	per_stream = 2;
	start(&loop, &server, "server", NULL);
	per_stream = 0;
	assert_int_equal(wm_peer_id_parse(server.id, &l.victim), 0);
	snprintf(key_file, sizeof(key_file), "%s/asker.key", dir);
	liar_start(&loop, &l, key_file, server.addr, &self);
	assert_int_equal(wm_p2p_open(l.h, &l.victim, WM_KAD_PROTOCOL, NULL, &cb, &gone, &s), 0);
	for (uint8_t k = 1; k <= 3; k++)
		add_provider(s, k, &self, "/ip4/192.0.2.88/tcp/4001");
	assert_true(run_until(&loop, records_2, server.d));
	uint64_t until = uv_hrtime() + 300000000ull;
	while (uv_hrtime() < until)
		uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(wm_dht_records(server.d), 2);
	assert_int_equal(gone, 1);

	wm_dht_stop(server.d);
	wm_p2p_free(server.h, host_done, server.d);
	wm_p2p_free(l.h, host_only_done, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(closed, 2);
	assert_int_equal(uv_loop_close(&loop), 0);
	unlink(key_file);
	snprintf(key_file, sizeof(key_file), "%s/server.key", dir);
	unlink(key_file);
}

static void test_silent_peer_times_out(void **state)
{
	uv_loop_t loop;
	char key_file[256], err[512] = "";
	char *listen[] = {"/ip4/127.0.0.1/tcp/0"};
	struct wm_p2p *silent = NULL;
	struct wm_p2p_status st;
	struct node asker;
	struct found f = {0};
	uint8_t key[34] = {0x12, 0x20, 1};
	(void)state;

	closed = 0;
	assert_int_equal(uv_loop_init(&loop), 0);
	snprintf(key_file, sizeof(key_file), "%s/silent.key", dir);
	struct wm_p2p_config c = {
		.loop = &loop,
		.key_path = key_file,
		.listen = listen,
		.nlisten = 1,
		.max_conns = 8,
		.max_streams = 8,
		.log_level = 3,
	};
	if (wm_p2p_new(&c, &silent, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(wm_p2p_handle(silent, WM_KAD_PROTOCOL, silent_accept, NULL), 0);
	wm_p2p_status(silent, &st);
	char addr[300];
	snprintf(addr, sizeof(addr), "%s/p2p/%s", st.listen[0], st.peer_id);
	start(&loop, &asker, "asker", addr);
	assert_true(run_until(&loop, has_peer, asker.d));
	/* Its query (2 s bound) goes unanswered; the lookup ends, empty,
	 * long before its own bound (8 s) or the run's (15 s). */
	assert_int_equal(wm_dht_find_providers(asker.d, key, sizeof(key), 4, on_provider, &f), 0);
	assert_true(run_until(&loop, lookup_done, &f));
	assert_int_equal(f.nfound, 0);
	assert_int_equal(f.err, 0);

	wm_dht_stop(asker.d);
	wm_p2p_free(asker.h, host_done, asker.d);
	wm_p2p_free(silent, host_only_done, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(closed, 2);
	assert_int_equal(uv_loop_close(&loop), 0);
	unlink(key_file);
	snprintf(key_file, sizeof(key_file), "%s/asker.key", dir);
	unlink(key_file);
	rmdir(dir);
}

int main(void)
{
	/* As webmeshd: a peer that closes first is an error code, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_provide_find),
		cmocka_unit_test(test_provider_for_another_peer_dropped),
		cmocka_unit_test(test_requests_per_stream),
		cmocka_unit_test(test_silent_peer_times_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
