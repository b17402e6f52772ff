/* WireGuard over libp2p (src/p2p/wglink.c) on a real loop over loopback:
 * two hosts each open a link to the other, and datagrams sent to one
 * side's loopback relay come out of the other's, whole and in order, both
 * ways, up to the largest size; a third host whose peer ID no link names is
 * refused (its stream answered "na", nothing delivered); a closed link
 * refuses again. Here two UDP sockets stand in for the two WireGuards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/p2pwg.h"
#include "core/p2pwire.h"
#include "looprun.h"
#include "p2p/host.h"
#include "p2p/wglink.h"

static char dir[] = "/tmp/wm-p2p-wg-XXXXXX";

static struct wm_p2p *start(uv_loop_t *loop, const char *name)
{
	char key[256], err[512] = "";
	char *listen[] = {"/ip4/127.0.0.1/tcp/0"};
	struct wm_p2p *p = NULL;
	struct wm_p2p_config c = {
		.loop = loop,
		.key_path = key,
		.listen = listen,
		.nlisten = 1,
		.agent = "webmesh/test",
		.max_conns = 8,
		.max_streams = 8,
		.log_level = 3,
	};

	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	if (wm_p2p_new(&c, &p, err, sizeof(err)))
		fail_msg("wm_p2p_new %s: %s", name, err);
	return p;
}

static bool run_until(uv_loop_t *loop, bool (*pred)(void *), void *arg, uint64_t ms)
{
	return wm_test_loop_until(loop, pred, arg, ms);
}

/* A UDP socket on 127.0.0.1 standing in for a WireGuard. */
static int udp_socket(uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void send_to(int fd, uint16_t port, const void *buf, size_t len)
{
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(port)};

	assert_int_equal(sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)len);
}

struct links {
	struct wm_p2p_wg *a, *b, *c;
};

static bool both_up(void *arg)
{
	struct links *l = arg;
	struct wm_p2p_wg_status sa, sb;

	wm_p2p_wg_status(l->a, &sa);
	wm_p2p_wg_status(l->b, &sb);
	return sa.connected && sb.connected;
}

struct rx {
	int fd;
	size_t want, got;
	uint8_t bufs[8][WM_P2PWG_DGRAM_MAX + 1];
	size_t lens[8];
	uint16_t from_port[8];
};

static bool received(void *arg)
{
	struct rx *r = arg;

	while (r->got < r->want) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(r->fd, r->bufs[r->got], sizeof(r->bufs[0]), 0,
				     (struct sockaddr *)&from, &fl);
		if (n < 0)
			return false;
		r->lens[r->got] = (size_t)n;
		r->from_port[r->got++] = ntohs(from.sin_port);
	}
	return true;
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

/* b's listener: the "mesh" of the test holds a's peer ID only. */
struct listener {
	struct wm_p2p *host;
	char allowed[64];
	uint16_t wg_port;
	struct wm_p2p_wg *opened;
	uint16_t relay_port;
	int asked;
};

static int incoming(void *data, const char *peer_id)
{
	struct listener *l = data;
	char err[128];

	l->asked++;
	if (strcmp(peer_id, l->allowed) != 0)
		return -EPERM;
	return wm_p2p_wg_open(l->host, peer_id, NULL, 0, l->wg_port, &l->opened, &l->relay_port,
			      err, sizeof(err));
}

static bool opened(void *arg)
{
	struct listener *l = arg;
	struct wm_p2p_wg_status st;

	if (!l->opened)
		return false;
	wm_p2p_wg_status(l->opened, &st);
	return st.connected;
}

/* Streams of the protocol opened by hand, beyond the link's own. */
static int extra_gone;
static uint8_t junk_buf[64];
static void extra_recv(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	(void)ud;
	(void)s;
	(void)buf;
	(void)len;
}
static void extra_gone_cb(void *ud, struct wm_p2p_stream *s)
{
	(void)s;
	*(bool *)ud = true;
	extra_gone++;
}
static const struct wm_p2p_stream_cb extra = {.data = extra_recv, .gone = extra_gone_cb};

static bool two_gone(void *arg)
{
	(void)arg;
	return extra_gone >= 2;
}

static void closed_cb(void *data)
{
	(*(int *)data)++;
}

static void test_datagrams_both_ways_and_refusal(void **state)
{
	uv_loop_t loop;
	struct wm_p2p *ha, *hb, *hc;
	struct wm_p2p_status sa, sb, sc;
	struct links l = {0};
	uint16_t wa_port, wb_port, wc_port, ra, rb, rc_port;
	char err[256], addr_a[300], addr_b[300];
	static struct rx rx;
	static uint8_t big[WM_P2PWG_DGRAM_MAX];
	int closed = 0;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	ha = start(&loop, "a");
	hb = start(&loop, "b");
	hc = start(&loop, "c");
	wm_p2p_status(ha, &sa);
	wm_p2p_status(hb, &sb);
	wm_p2p_status(hc, &sc);
	snprintf(addr_a, sizeof(addr_a), "%s", sa.listen[0]);
	snprintf(addr_b, sizeof(addr_b), "%s", sb.listen[0]);
	int wa = udp_socket(&wa_port), wb = udp_socket(&wb_port), wc = udp_socket(&wc_port);
	char *to_b[] = {"/ip4/127.0.0.1/udp/9", addr_b}; /* the first is skipped */
	char *to_a[] = {addr_a};

	assert_int_equal(
		wm_p2p_wg_open(ha, "not-a-peer-id", to_b, 2, wa_port, &l.a, &ra, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "not a peer ID"));
	assert_int_equal(
		wm_p2p_wg_open(ha, sb.peer_id, to_b, 2, wa_port, &l.a, &ra, err, sizeof(err)), 0);
	struct wm_p2p_wg *dup;
	uint16_t dport;
	assert_int_equal(
		wm_p2p_wg_open(ha, sb.peer_id, to_b, 2, wa_port, &dup, &dport, err, sizeof(err)),
		-EEXIST);
	assert_int_equal(
		wm_p2p_wg_open(hb, sa.peer_id, to_a, 1, wb_port, &l.b, &rb, err, sizeof(err)), 0);
	assert_true(run_until(&loop, both_up, &l, 10000));

	/* a -> b: sizes from 1 to the bound, boundaries kept, in order. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	const size_t sizes[] = {1, 148, 1420, WM_P2PWG_DGRAM_MAX};
	for (size_t i = 0; i < 4; i++)
		send_to(wa, ra, big, sizes[i]);
	memset(&rx, 0, sizeof(rx));
	rx.fd = wb;
	rx.want = 4;
	assert_true(run_until(&loop, received, &rx, 5000));
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(rx.lens[i], sizes[i]);
		assert_memory_equal(rx.bufs[i], big, sizes[i]);
		assert_int_equal(rx.from_port[i], rb); /* from b's relay for a */
	}
	/* b -> a. */
	send_to(wb, rb, "pong", 4);
	memset(&rx, 0, sizeof(rx));
	rx.fd = wa;
	rx.want = 1;
	assert_true(run_until(&loop, received, &rx, 5000));
	assert_int_equal(rx.lens[0], 4);
	assert_memory_equal(rx.bufs[0], "pong", 4);
	assert_int_equal(rx.from_port[0], ra);
	struct wm_p2p_wg_status st;
	wm_p2p_wg_status(l.a, &st);
	assert_true(st.connected);
	assert_false(st.relayed);
	assert_int_equal(st.tx_packets, 4);
	assert_int_equal(st.rx_packets, 1);
	assert_true(st.rx_idle_ms >= 0);

	/* The peer that holds the ID may not open streams without end: a link
	 * takes 4 (here: each side's own and 2 more), the rest are refused. */
	struct wm_peer_id bid;
	assert_int_equal(wm_peer_id_parse(sb.peer_id, &bid), 0);
	static struct wm_p2p_stream *xs[4];
	static bool xgone[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(
			wm_p2p_open(ha, &bid, WM_P2PWG_PROTOCOL, NULL, &extra, &xgone[i], &xs[i]),
			0);
	assert_true(run_until(&loop, two_gone, NULL, 5000));
	run_until(&loop, never, NULL, 200);
	assert_int_equal(extra_gone, 2);

	/* On an accepted one, datagrams split anywhere across writes (another
	 * implementation may frame so) arrive whole and in order. */
	struct wm_p2p_stream *x = NULL;
	for (int i = 0; i < 4 && !x; i++)
		if (!xgone[i])
			x = xs[i];
	assert_non_null(x);
	static const uint8_t c1[] = {0x00}, c2[] = {0x0e, 's', 'p', 'l'}, c3[] = "it-data",
			     c4[] = {'g', 'r', 'a', 'm', 0x00, 0x01, 'x'};
	assert_int_equal(wm_p2p_write(x, c1, sizeof(c1)), 0);
	assert_int_equal(wm_p2p_write(x, c2, sizeof(c2)), 0);
	assert_int_equal(wm_p2p_write(x, c3, 7), 0);
	assert_int_equal(wm_p2p_write(x, c4, sizeof(c4)), 0);
	memset(&rx, 0, sizeof(rx));
	rx.fd = wb;
	rx.want = 2;
	assert_true(run_until(&loop, received, &rx, 5000));
	assert_int_equal(rx.lens[0], 14);
	assert_memory_equal(rx.bufs[0], "split-datagram", 14);
	assert_int_equal(rx.lens[1], 1);
	assert_memory_equal(rx.bufs[1], "x", 1);
	/* A length beyond the bound resets that stream, nothing delivered. */
	static const uint8_t huge[] = {0xff, 0xff, 'z'};
	assert_int_equal(wm_p2p_write(x, huge, sizeof(huge)), 0);
	run_until(&loop, never, NULL, 300);
	assert_int_equal(extra_gone, 3);
	assert_true(recv(wb, junk_buf, sizeof(junk_buf), MSG_DONTWAIT) < 0);

	/* c knows a's peer ID and address, but no link of a names c: its
	 * stream is refused and nothing it sends reaches a's WireGuard. */
	assert_int_equal(
		wm_p2p_wg_open(hc, sa.peer_id, to_a, 1, wc_port, &l.c, &rc_port, err, sizeof(err)),
		0);
	run_until(&loop, never, NULL, 1500);
	wm_p2p_wg_status(l.c, &st);
	assert_false(st.connected);
	send_to(wc, rc_port, "intruder", 8);
	run_until(&loop, never, NULL, 300);
	uint8_t junk[64];
	assert_true(recv(wa, junk, sizeof(junk), MSG_DONTWAIT) < 0);

	/* With a listener on b that holds only a's peer ID: c is still
	 * refused, asked about; a, once b has no link, gets one opened. */
	wm_p2p_wg_close(l.b);
	static struct listener lis;
	lis.host = hb;
	snprintf(lis.allowed, sizeof(lis.allowed), "%s", sa.peer_id);
	lis.wg_port = wb_port;
	wm_p2p_wg_listen(hb, incoming, &lis);
	wm_p2p_wg_close(l.c);
	assert_int_equal(
		wm_p2p_wg_open(hc, sb.peer_id, to_b, 2, wc_port, &l.c, &rc_port, err, sizeof(err)),
		0);
	assert_true(run_until(&loop, opened, &lis, 5000));
	assert_true(lis.asked >= 1);
	run_until(&loop, never, NULL, 1200);
	wm_p2p_wg_status(l.c, &st);
	assert_false(st.connected);
	send_to(wa, ra, "again", 5);
	memset(&rx, 0, sizeof(rx));
	rx.fd = wb;
	rx.want = 1;
	assert_true(run_until(&loop, received, &rx, 5000));
	assert_memory_equal(rx.bufs[0], "again", 5);
	wm_p2p_wg_listen(hb, NULL, NULL);
	l.b = lis.opened;

	/* b closes its link: a's stream goes, and b refuses a new one. */
	wm_p2p_wg_close(l.b);
	run_until(&loop, never, NULL, 1500);
	wm_p2p_wg_status(l.a, &st);
	assert_false(st.connected);

	wm_p2p_wg_close(l.a);
	wm_p2p_wg_close(l.c);
	wm_p2p_free(ha, closed_cb, &closed);
	wm_p2p_free(hb, closed_cb, &closed);
	wm_p2p_free(hc, closed_cb, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(closed, 3);
	assert_int_equal(uv_loop_close(&loop), 0);
	close(wa);
	close(wb);
	close(wc);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[256];
	const char *names[] = {"a", "b", "c"};
	(void)state;

	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s.key", dir, names[i]);
		unlink(path);
	}
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_datagrams_both_ways_and_refusal),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
