/* The MeshDNS component on a real loop and loopback sockets: UDP answers,
 * TCP framing (pipelined, split, oversized), reloads after a change, and a
 * close that leaves no handle behind. The client is non-blocking and the
 * loop is turned by hand, so one thread does both. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "dns/dnsmsg.h"
#include "dns/meshdns.h"

#define D "webmesh.internal"

static int loads;

static int load(void *data, struct wm_dns_zone **out)
{
	static struct wm_mesh_node n;
	struct wm_prefix nets[1];
	(void)data;
	memset(&n, 0, sizeof(n));
	snprintf(n.id, sizeof(n.id), "n1");
	wm_prefix_parse("172.16.0.1/32", &n.ipv4);
	wm_prefix_parse("172.16.0.0/12", &nets[0]);
	struct wm_dns_mesh m = {.domain = D,
				.self_id = "n1",
				.networks = nets,
				.n_networks = 1,
				.nodes = &n,
				.n_nodes = 1,
				.serial = (uint32_t)++loads,
				.ttl = 1};
	return wm_dns_zone_from_mesh(&m, out);
}

/* A loopback port free for TCP and UDP alike (MeshDNS binds both) and not
 * handed out before in this process: the kernel may give the same ephemeral
 * port to two probes in a row, and other tests run beside this one. */
static uint16_t free_port(void)
{
	static uint16_t given[64];
	static size_t n_given;

	for (int tries = 0; tries < 100; tries++) {
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t len = sizeof(a);
		int t = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
		bool ok, seen = false;

		assert_true(t >= 0 && u >= 0);
		assert_int_equal(bind(t, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(getsockname(t, (struct sockaddr *)&a, &len), 0);
		ok = bind(u, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(t);
		close(u);
		for (size_t i = 0; i < n_given; i++)
			seen = seen || given[i] == ntohs(a.sin_port);
		if (ok && !seen) {
			given[n_given++ % 64] = ntohs(a.sin_port);
			return ntohs(a.sin_port);
		}
	}
	fail_msg("no free loopback port for TCP and UDP");
	return 0;
}

static size_t query(uint8_t *buf, uint16_t id, const char *name)
{
	struct wm_dns_builder b;
	wm_dns_builder_init(&b, buf, 512, 512);
	wm_dns_put_header(&b, id, WM_DNS_FLAG_RD, 0);
	wm_dns_put_name(&b, name, false);
	wm_dns_put_u16(&b, WM_DNS_A);
	wm_dns_put_u16(&b, WM_DNS_CLASS_IN);
	buf[5] = 1;
	return b.len;
}

/* Turns the loop until fn(data) says done, at most 2 s. */
static bool turn_until(uv_loop_t *loop, bool (*fn)(void *), void *data)
{
	for (int i = 0; i < 2000; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		if (fn(data))
			return true;
		usleep(1000);
	}
	return false;
}

struct rx {
	int fd;
	uint8_t buf[4096];
	ssize_t len;
};

static bool got(void *p)
{
	struct rx *r = p;
	ssize_t n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - (size_t)r->len, MSG_DONTWAIT);
	if (n > 0)
		r->len += n;
	if (n == 0)
		r->len = r->len ? r->len : -1; /* closed */
	return r->len != 0;
}

static struct wm_meshdns *start(uv_loop_t *loop, uint16_t port)
{
	struct wm_meshdns *m = NULL;
	struct wm_meshdns_config cfg = {.loop = loop, .load = load};
	char err[256];
	char ep[32];
	snprintf(ep, sizeof(ep), "127.0.0.1:%u", port);
	assert_int_equal(wm_endpoint_parse(ep, &cfg.listen), 0);
	assert_int_equal(wm_meshdns_init(&cfg, &m, err, sizeof(err)), 0);
	assert_int_equal(wm_meshdns_start(m, err, sizeof(err)), 0);
	return m;
}

static void stop(uv_loop_t *loop, struct wm_meshdns *m)
{
	wm_meshdns_close(m, NULL, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0); /* every handle closed */
}

static void test_udp_and_reload(void **state)
{
	uv_loop_t loop;
	uint16_t port = free_port();
	uint8_t q[512];
	struct wm_dns_parsed p;
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	(void)state;

	uv_loop_init(&loop);
	loads = 0;
	struct wm_meshdns *m = start(&loop, port);
	assert_int_equal(loads, 1);
	struct rx r = {.fd = socket(AF_INET, SOCK_DGRAM, 0)};
	size_t ql = query(q, 7, "n1." D);
	assert_int_equal(sendto(r.fd, q, ql, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)ql);
	assert_true(turn_until(&loop, got, &r));
	assert_int_equal(wm_dns_msg_parse(r.buf, (size_t)r.len, &p), 0);
	assert_int_equal(p.id, 7);
	assert_int_equal(p.ancount, 1);
	assert_string_equal(p.rr[0].data, "172.16.0.1");
	/* a change: one reload, however many changes came within 20 ms */
	wm_meshdns_changed(m);
	wm_meshdns_changed(m);
	wm_meshdns_changed(m);
	for (int i = 0; i < 100 && loads < 2; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	assert_int_equal(loads, 2);
	struct wm_meshdns_stats st;
	wm_meshdns_stats(m, &st);
	assert_int_equal(st.queries, 1);
	assert_int_equal(st.reloads, 2);
	/* the SOA serial follows the new zone */
	r.len = 0;
	ql = query(q, 8, D);
	q[ql - 3] = WM_DNS_SOA;
	sendto(r.fd, q, ql, 0, (struct sockaddr *)&to, sizeof(to));
	assert_true(turn_until(&loop, got, &r));
	assert_int_equal(wm_dns_msg_parse(r.buf, (size_t)r.len, &p), 0);
	assert_non_null(strstr(p.rr[0].data, " 2 60 10 600 1"));
	close(r.fd);
	stop(&loop, m);
}

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	int rc = connect(fd, (struct sockaddr *)&to, sizeof(to));
	assert_true(rc == 0 || errno == EINPROGRESS);
	return fd;
}

static bool have_two(void *p)
{
	struct rx *r = p;
	got(r);
	if (r->len < 2)
		return false;
	size_t a = (size_t)(r->buf[0] << 8 | r->buf[1]);
	return r->len >= (ssize_t)(2 + a + 2) &&
	       r->len >= (ssize_t)(2 + a + 2 + (r->buf[2 + a] << 8 | r->buf[3 + a]));
}

static void test_tcp_framing(void **state)
{
	uv_loop_t loop;
	uint16_t port = free_port();
	uint8_t q[1024], one[512];
	struct wm_dns_parsed p;
	(void)state;

	uv_loop_init(&loop);
	struct wm_meshdns *m = start(&loop, port);
	struct rx r = {.fd = tcp_connect(port)};
	/* two queries in one write, the second split across two */
	size_t l1 = query(one, 1, "n1." D);
	q[0] = (uint8_t)(l1 >> 8);
	q[1] = (uint8_t)l1;
	memcpy(q + 2, one, l1);
	size_t l2 = query(one, 2, "nobody." D);
	q[2 + l1] = (uint8_t)(l2 >> 8);
	q[3 + l1] = (uint8_t)l2;
	memcpy(q + 4 + l1, one, l2);
	size_t total = 4 + l1 + l2;
	for (int i = 0; i < 200; i++) { /* until connected */
		uv_run(&loop, UV_RUN_NOWAIT);
		if (send(r.fd, q, total - 5, MSG_NOSIGNAL) == (ssize_t)(total - 5))
			break;
		usleep(1000);
	}
	for (int i = 0; i < 20; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	assert_int_equal(send(r.fd, q + total - 5, 5, MSG_NOSIGNAL), 5);
	assert_true(turn_until(&loop, have_two, &r));
	size_t a = (size_t)(r.buf[0] << 8 | r.buf[1]);
	assert_int_equal(wm_dns_msg_parse(r.buf + 2, a, &p), 0);
	assert_int_equal(p.id, 1);
	assert_int_equal(p.rcode, WM_DNS_NOERROR);
	size_t b = (size_t)(r.buf[2 + a] << 8 | r.buf[3 + a]);
	assert_int_equal(wm_dns_msg_parse(r.buf + 4 + a, b, &p), 0);
	assert_int_equal(p.id, 2);
	assert_int_equal(p.rcode, WM_DNS_NXDOMAIN);
	/* a length no query has: the connection is closed */
	uint8_t big[2] = {0x20, 0x00};
	assert_int_equal(send(r.fd, big, 2, MSG_NOSIGNAL), 2);
	r.len = 0;
	assert_true(turn_until(&loop, got, &r));
	assert_int_equal(r.len, -1);
	close(r.fd);
	/* a connection still open at close time is closed with the rest */
	int idle = tcp_connect(port);
	for (int i = 0; i < 20; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	stop(&loop, m);
	close(idle);
}

/* A blocking accept on a listening socket, at most 2 s. */
static int accept_within(int lfd)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	if (poll(&p, 1, 2000) != 1)
		return -1;
	return accept(lfd, NULL, NULL);
}

/* Reads exactly n bytes, at most 2 s. */
static bool read_all(int fd, uint8_t *buf, size_t n)
{
	size_t done = 0;
	while (done < n) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 2000) != 1)
			return false;
		ssize_t r = recv(fd, buf + done, n - done, 0);
		if (r <= 0)
			return false;
		done += (size_t)r;
	}
	return true;
}

/* A TCP query for a name outside the mesh goes to the forwarder over TCP
 * and its answer comes back as is; a forwarder that hangs up gives
 * SERVFAIL. The forwarder is this test: the answers come from MeshDNS's
 * thread while this one plays upstream. */
static void test_tcp_forwarding(void **state)
{
	uv_loop_t loop;
	uint16_t port = free_port(), up_port = free_port();
	uint8_t q[600], one[512], got_q[600];
	struct wm_dns_parsed p;
	struct wm_meshdns *m = NULL;
	struct wm_meshdns_config cfg = {.load = load};
	char err[256], ep[32];
	(void)state;

	uv_loop_init(&loop);
	cfg.loop = &loop;
	struct sockaddr_in ua = {.sin_family = AF_INET,
				 .sin_port = htons(up_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	int one_i = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one_i, sizeof(one_i));
	assert_int_equal(bind(lfd, (struct sockaddr *)&ua, sizeof(ua)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	snprintf(ep, sizeof(ep), "127.0.0.1:%u", port);
	assert_int_equal(wm_endpoint_parse(ep, &cfg.listen), 0);
	snprintf(ep, sizeof(ep), "127.0.0.1:%u", up_port);
	assert_int_equal(wm_endpoint_parse(ep, &cfg.forwarders[0]), 0);
	cfg.n_forwarders = 1;
	assert_int_equal(wm_meshdns_init(&cfg, &m, err, sizeof(err)), 0);
	assert_int_equal(wm_meshdns_start(m, err, sizeof(err)), 0);

	for (int round = 0; round < 2; round++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in to = {.sin_family = AF_INET,
					 .sin_port = htons(port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		assert_int_equal(connect(c, (struct sockaddr *)&to, sizeof(to)), 0);
		size_t l = query(one, (uint16_t)(40 + round), "outside.example");
		q[0] = (uint8_t)(l >> 8);
		q[1] = (uint8_t)l;
		memcpy(q + 2, one, l);
		assert_int_equal(send(c, q, 2 + l, MSG_NOSIGNAL), (ssize_t)(2 + l));
		int u = accept_within(lfd);
		assert_true(u >= 0);
		/* the query as the client sent it, framed */
		assert_true(read_all(u, got_q, 2 + l));
		assert_memory_equal(got_q, q, 2 + l);
		if (round == 0) {
			/* the upstream's answer: the question back, QR and RA set,
			 * one A record 192.0.2.77 */
			uint8_t a[600];
			size_t al = l;
			memcpy(a, one, l);
			a[2] |= 0x80;
			a[3] |= 0x80;
			a[7] = 1;
			const uint8_t rr[] = {0xC0, 0x0C, 0, 1, 0,   1, 0, 0,
					      0,    60,	  0, 4, 192, 0, 2, 77};
			memcpy(a + al, rr, sizeof(rr));
			al += sizeof(rr);
			uint8_t framed[602] = {(uint8_t)(al >> 8), (uint8_t)al};
			memcpy(framed + 2, a, al);
			assert_int_equal(send(u, framed, 2 + al, MSG_NOSIGNAL), (ssize_t)(2 + al));
		}
		close(u); /* round 1: no answer at all */
		uint8_t len[2], ans[600];
		assert_true(read_all(c, len, 2));
		size_t n = (size_t)(len[0] << 8 | len[1]);
		assert_true(n <= sizeof(ans));
		assert_true(read_all(c, ans, n));
		assert_int_equal(wm_dns_msg_parse(ans, n, &p), 0);
		assert_int_equal(p.id, 40 + round);
		if (round == 0) {
			assert_int_equal(p.rcode, WM_DNS_NOERROR);
			assert_int_equal(p.ancount, 1);
			assert_string_equal(p.rr[0].data, "192.0.2.77");
		} else {
			assert_int_equal(p.rcode, WM_DNS_SERVFAIL);
			assert_int_equal(p.ancount, 0);
		}
		close(c);
	}
	struct wm_meshdns_stats st;
	wm_meshdns_stats(m, &st);
	assert_int_equal(st.forwarded, 2);
	assert_int_equal(st.refused, 0);
	close(lfd);
	stop(&loop, m);
}

/* One client pipelining queries for names whose answers take long (here an
 * upstream that accepts and never answers) gets at most 8 of the 32 TCP
 * forwarding slots: its others are REFUSED, also on a new connection after
 * it closed the first, and another host's query is still forwarded. */
static bool counted(struct wm_meshdns *m, uint64_t want)
{
	struct wm_meshdns_stats st;
	for (int i = 0; i < 500; i++) {
		wm_meshdns_stats(m, &st);
		if (st.forwarded + st.refused >= want)
			return true;
		usleep(10000);
	}
	return false;
}

static void test_tcp_forwarding_per_client(void **state)
{
	uv_loop_t loop;
	uint16_t port = free_port(), up_port = free_port();
	uint8_t q[40 * 600], one[512];
	struct wm_meshdns *m = NULL;
	struct wm_meshdns_config cfg = {.load = load};
	char err[256], ep[32];
	(void)state;

	uv_loop_init(&loop);
	cfg.loop = &loop;
	struct sockaddr_in ua = {.sin_family = AF_INET,
				 .sin_port = htons(up_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	int one_i = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one_i, sizeof(one_i));
	assert_int_equal(bind(lfd, (struct sockaddr *)&ua, sizeof(ua)), 0);
	assert_int_equal(listen(lfd, 64), 0); /* connections wait, never answered */
	snprintf(ep, sizeof(ep), "127.0.0.1:%u", port);
	assert_int_equal(wm_endpoint_parse(ep, &cfg.listen), 0);
	snprintf(ep, sizeof(ep), "127.0.0.1:%u", up_port);
	assert_int_equal(wm_endpoint_parse(ep, &cfg.forwarders[0]), 0);
	cfg.n_forwarders = 1;
	assert_int_equal(wm_meshdns_init(&cfg, &m, err, sizeof(err)), 0);
	assert_int_equal(wm_meshdns_start(m, err, sizeof(err)), 0);

	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int a = socket(AF_INET, SOCK_STREAM, 0), b = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in other = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000002)};
	assert_int_equal(bind(b, (struct sockaddr *)&other, sizeof(other)), 0);
	assert_int_equal(connect(a, (struct sockaddr *)&to, sizeof(to)), 0);
	assert_int_equal(connect(b, (struct sockaddr *)&to, sizeof(to)), 0);
	size_t off = 0;
	for (int i = 0; i < 32; i++) {
		size_t l = query(one, (uint16_t)(100 + i), "slow.example");
		q[off] = (uint8_t)(l >> 8);
		q[off + 1] = (uint8_t)l;
		memcpy(q + off + 2, one, l);
		off += 2 + l;
	}
	assert_int_equal(send(a, q, off, MSG_NOSIGNAL), (ssize_t)off);
	assert_true(counted(m, 32));
	close(a);
	a = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(a, (struct sockaddr *)&to, sizeof(to)), 0);
	size_t l = query(one, 200, "again.example");
	q[0] = (uint8_t)(l >> 8);
	q[1] = (uint8_t)l;
	memcpy(q + 2, one, l);
	assert_int_equal(send(a, q, 2 + l, MSG_NOSIGNAL), (ssize_t)(2 + l));
	assert_true(counted(m, 33));
	l = query(one, 201, "other.example");
	q[0] = (uint8_t)(l >> 8);
	q[1] = (uint8_t)l;
	memcpy(q + 2, one, l);
	assert_int_equal(send(b, q, 2 + l, MSG_NOSIGNAL), (ssize_t)(2 + l));
	assert_true(counted(m, 34));
	struct wm_meshdns_stats st;
	wm_meshdns_stats(m, &st);
	assert_int_equal(st.forwarded, 8 + 1);
	assert_int_equal(st.refused, 32 - 8 + 1);
	close(a);
	close(b);
	close(lfd);
	stop(&loop, m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_and_reload),
		cmocka_unit_test(test_tcp_framing),
		cmocka_unit_test(test_tcp_forwarding),
		cmocka_unit_test(test_tcp_forwarding_per_client),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
