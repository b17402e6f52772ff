/* Unit tests for src/p2p/host.c on a real loop over loopback: two hosts
 * connect (Noise, yamux), identify each other and ping; a dial naming
 * another peer ID is refused; bad configuration and a key file others can
 * read are refused with a message saying what was wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "looprun.h"
#include "p2p/host.h"

static char dir[] = "/tmp/wm-p2p-host-XXXXXX";

static void key_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s.key", dir, name);
}

static struct wm_p2p *start(uv_loop_t *loop, const char *name, char **listen, size_t nl,
			    char **peers, size_t np)
{
	char key[256], err[512] = "";
	struct wm_p2p *p = NULL;
	struct wm_p2p_config c = {
		.loop = loop,
		.key_path = key,
		.listen = listen,
		.nlisten = nl,
		.peers = peers,
		.npeers = np,
		.agent = "webmesh/test",
		.ping_interval_ms = 50,
		.max_conns = 8,
		.max_streams = 8,
		.log_level = 3,
	};

	key_path(key, sizeof(key), name);
	int rc = wm_p2p_new(&c, &p, err, sizeof(err));
	if (rc)
		fail_msg("wm_p2p_new %s: %s", name, err);
	return p;
}

static void closed_cb(void *data)
{
	(*(int *)data)++;
}

/* The loop until pred holds, at most 10 s. */
static bool run_until(uv_loop_t *loop, bool (*pred)(void *), void *arg)
{
	return wm_test_loop_until(loop, pred, arg, 10000);
}

struct pair {
	struct wm_p2p *a, *b;
	struct wm_p2p_status sa, sb;
};

static bool both_see(void *arg)
{
	struct pair *p = arg;

	wm_p2p_status(p->a, &p->sa);
	wm_p2p_status(p->b, &p->sb);
	return p->sa.nconns == 1 && p->sb.nconns == 1 && p->sb.conns[0].rtt_us > 0 &&
	       p->sa.conns[0].identified && p->sb.conns[0].identified;
}

static void test_connect_identify_ping(void **state)
{
	uv_loop_t loop;
	char *listen[] = {"/ip4/127.0.0.1/tcp/0"};
	char dial[512], wrong[512];
	struct pair p;
	int closed = 0;
	(void)state;

	assert_int_equal(uv_loop_init(&loop), 0);
	p.a = start(&loop, "a", listen, 1, NULL, 0);
	wm_p2p_status(p.a, &p.sa);
	assert_int_equal(p.sa.nlisten, 1);
	assert_non_null(strstr(p.sa.listen[0], "/ip4/127.0.0.1/tcp/"));
	assert_string_not_equal(p.sa.listen[0], "/ip4/127.0.0.1/tcp/0");
	snprintf(dial, sizeof(dial), "%s/p2p/%s", p.sa.listen[0], p.sa.peer_id);
	/* The same address under another node's ID: the handshake proves
	 * a's key, so this dial must fail. */
	snprintf(wrong, sizeof(wrong), "%s/p2p/%s", p.sa.listen[0],
		 "12D3KooWJ1TsijH7H5F74hfAD5XishQz3sxrmAtVY37GtNd9CqYf");
	char *peers[] = {dial, wrong};
	p.b = start(&loop, "b", NULL, 0, peers, 2);
	assert_true(run_until(&loop, both_see, &p));
	assert_string_equal(p.sb.conns[0].peer_id, p.sa.peer_id);
	assert_string_equal(p.sa.conns[0].peer_id, p.sb.peer_id);
	assert_true(p.sb.conns[0].outbound);
	assert_false(p.sa.conns[0].outbound);
	assert_string_equal(p.sa.conns[0].agent, "webmesh/test");
	assert_int_equal(p.sb.conns[0].nlisten, 1);
	assert_string_equal(p.sb.conns[0].listen[0], p.sa.listen[0]);
	bool ping = false;
	for (size_t i = 0; i < p.sb.conns[0].nprotocols; i++)
		ping |= strcmp(p.sb.conns[0].protocols[i], "/ipfs/ping/1.0.0") == 0;
	assert_true(ping);
	/* The identity persists: a restart of a keeps its peer ID. */
	char id_a[64];
	snprintf(id_a, sizeof(id_a), "%s", p.sa.peer_id);
	wm_p2p_free(p.b, closed_cb, &closed);
	wm_p2p_free(p.a, closed_cb, &closed);
	while (closed < 2 && uv_run(&loop, UV_RUN_ONCE))
		;
	assert_int_equal(closed, 2);
	p.a = start(&loop, "a", listen, 1, NULL, 0);
	wm_p2p_status(p.a, &p.sa);
	assert_string_equal(p.sa.peer_id, id_a);
	wm_p2p_free(p.a, closed_cb, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(closed, 3);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* The same over IPv6 loopback, the peer's ID learnt in the handshake. */
static void test_ipv6(void **state)
{
	uv_loop_t loop;
	char *listen[] = {"/ip6/::1/tcp/0"};
	struct pair p;
	int closed = 0;
	(void)state;

	assert_int_equal(uv_loop_init(&loop), 0);
	p.a = start(&loop, "a6", listen, 1, NULL, 0);
	wm_p2p_status(p.a, &p.sa);
	assert_int_equal(p.sa.nlisten, 1);
	assert_non_null(strstr(p.sa.listen[0], "/ip6/::1/tcp/"));
	char *peers[] = {p.sa.listen[0]};
	p.b = start(&loop, "b6", NULL, 0, peers, 1);
	assert_true(run_until(&loop, both_see, &p));
	assert_string_equal(p.sb.conns[0].peer_id, p.sa.peer_id);
	assert_non_null(strstr(p.sa.conns[0].addr, "/ip6/::1/tcp/"));
	wm_p2p_free(p.b, closed_cb, &closed);
	wm_p2p_free(p.a, closed_cb, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(closed, 2);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_refusals(void **state)
{
	uv_loop_t loop;
	char key[256], err[512];
	struct wm_p2p *p = NULL;
	char *bad_listen[] = {"/ip4/127.0.0.1/udp/1"};
	char *bad_peer[] = {"/ip4/1.2.3/tcp/1"};
	char *ok_listen[] = {"/ip4/127.0.0.1/tcp/0"};
	struct wm_p2p_config c = {.key_path = key, .log_level = 3};
	(void)state;

	assert_int_equal(uv_loop_init(&loop), 0);
	c.loop = &loop;
	key_path(key, sizeof(key), "refusals");
	c.listen = bad_listen;
	c.nlisten = 1;
	assert_int_equal(wm_p2p_new(&c, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "libp2p-listen"));
	c.listen = ok_listen;
	c.peers = bad_peer;
	c.npeers = 1;
	assert_int_equal(wm_p2p_new(&c, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "1.2.3"));
	assert_int_equal(access(key, F_OK), -1); /* nothing made before the checks */
	/* A key file others can read, or of the wrong size. */
	c.npeers = 0;
	FILE *f = fopen(key, "w");
	assert_non_null(f);
	fwrite("0123456789abcdef0123456789abcdef", 1, 32, f);
	fclose(f);
	chmod(key, 0644);
	assert_int_equal(wm_p2p_new(&c, &p, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "chmod 600"));
	chmod(key, 0600);
	f = fopen(key, "a");
	fputs("x", f);
	fclose(f);
	assert_int_equal(wm_p2p_new(&c, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "32 bytes"));
	unlink(key);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* A TCP connection from src (an address of 127/8) to 127.0.0.1:port that
 * never says a word: a handshake that is never finished. */
static int silent_from(const char *src, const char *listen_maddr)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	const char *port = strrchr(listen_maddr, '/');
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0 && port);
	assert_int_equal(inet_pton(AF_INET, src, &a.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	a.sin_port = htons((uint16_t)atoi(port + 1));
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &a.sin_addr), 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static bool b_identified(void *arg)
{
	struct pair *p = arg;

	wm_p2p_status(p->a, &p->sa);
	wm_p2p_status(p->b, &p->sb);
	return p->sb.nconns == 1 && p->sb.conns[0].identified && p->sb.conns[0].rtt_us > 0;
}

static void stop_pair(uv_loop_t *loop, struct pair *p, int *fds, size_t nfds)
{
	int closed = 0;
	wm_p2p_free(p->b, closed_cb, &closed);
	wm_p2p_free(p->a, closed_cb, &closed);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(closed, 2);
	assert_int_equal(uv_loop_close(loop), 0);
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
}

/* One source opening silent connections up to max_conns (8) keeps only a
 * quarter of them (2): a peer from elsewhere still gets in. */
static void test_one_source_cannot_fill(void **state)
{
	uv_loop_t loop;
	char *listen[] = {"/ip4/127.0.0.1/tcp/0"};
	struct pair p;
	int fds[8];
	(void)state;

	assert_int_equal(uv_loop_init(&loop), 0);
	p.a = start(&loop, "fa", listen, 1, NULL, 0);
	wm_p2p_status(p.a, &p.sa);
	for (size_t i = 0; i < 8; i++)
		fds[i] = silent_from("127.0.0.2", p.sa.listen[0]);
	for (int i = 0; i < 50; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	char *peers[] = {p.sa.listen[0]};
	p.b = start(&loop, "fb", NULL, 0, peers, 1);
	assert_true(run_until(&loop, b_identified, &p));
	assert_string_equal(p.sb.conns[0].peer_id, p.sa.peer_id);
	stop_pair(&loop, &p, fds, 8);
}

/* Strangers filling every accepted slot do not stop a's own dial. */
static void test_full_inbound_still_dials(void **state)
{
	uv_loop_t loop;
	char *listen[] = {"/ip4/127.0.0.1/tcp/0"};
	char b_addr[256];
	struct pair p;
	int fds[8];
	int closed = 0;
	(void)state;

	assert_int_equal(uv_loop_init(&loop), 0);
	/* b's address first, then b away while a fills up */
	p.b = start(&loop, "db", listen, 1, NULL, 0);
	wm_p2p_status(p.b, &p.sb);
	snprintf(b_addr, sizeof(b_addr), "%s", p.sb.listen[0]);
	wm_p2p_free(p.b, closed_cb, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(closed, 1);
	char *peers[] = {b_addr};
	p.a = start(&loop, "da", listen, 1, peers, 1);
	wm_p2p_status(p.a, &p.sa);
	const char *srcs[] = {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"};
	for (size_t i = 0; i < 8; i++)
		fds[i] = silent_from(srcs[i / 2], p.sa.listen[0]);
	for (int i = 0; i < 50; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	char *b_listen[] = {b_addr};
	p.b = start(&loop, "db", b_listen, 1, NULL, 0);
	struct pair q = {.a = p.b, .b = p.a};
	assert_true(run_until(&loop, b_identified, &q));
	stop_pair(&loop, &p, fds, 8);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[256];
	const char *names[] = {"a", "b", "a6", "b6", "refusals", "fa", "fb", "da", "db"};
	(void)state;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		key_path(path, sizeof(path), names[i]);
		unlink(path);
	}
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_identify_ping),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_one_source_cannot_fill),
		cmocka_unit_test(test_full_inbound_still_dials),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
