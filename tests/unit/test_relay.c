/* The loopback relay (src/nat/relay.c) between two real sockets: a stand-in
 * for WireGuard's port, and the path (a callback here). */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <glib.h>

#include "nat/relay.h"
#include "nat/relay_int.h" /* the read buffers and the trim source, looked at */

/* The relay's sendmmsg, counted and, when told, failed once with an errno
 * (this definition comes before libc's for the statically linked relay). */
static unsigned mmsg_calls;
static int mmsg_fail;

int sendmmsg(int fd, struct mmsghdr *msgs, unsigned int n, int flags)
{
	static int (*real)(int, struct mmsghdr *, unsigned int, int);

	mmsg_calls++;
	if (mmsg_fail) {
		errno = mmsg_fail;
		mmsg_fail = 0;
		return -1;
	}
	if (!real)
		real = (int (*)(int, struct mmsghdr *, unsigned int, int))dlsym(RTLD_NEXT,
										"sendmmsg");
	return real(fd, msgs, n, flags);
}

struct capture {
	uint8_t last[2048];
	size_t last_len;
	size_t sizes[64];   /* of the first 64 datagrams */
	uint8_t firsts[64]; /* and their first bytes */
	unsigned count;
	unsigned batches;
	int fail_with;
	unsigned take; /* accept at most this many per batch (0: all) */
};

static int capture_cb(void *data, const struct iovec *pkts, unsigned n)
{
	struct capture *c = data;

	if (c->fail_with)
		return c->fail_with;
	if (c->take && n > c->take)
		n = c->take;
	for (unsigned i = 0; i < n; i++) {
		size_t l = pkts[i].iov_len < sizeof(c->last) ? pkts[i].iov_len : sizeof(c->last);
		memcpy(c->last, pkts[i].iov_base, l);
		c->last_len = pkts[i].iov_len;
		if (c->count < 64) {
			c->sizes[c->count] = pkts[i].iov_len;
			c->firsts[c->count] = l ? ((const uint8_t *)pkts[i].iov_base)[0] : 0;
		}
		c->count++;
	}
	c->batches++;
	return (int)n;
}

static int udp_socket(uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void send_to(int fd, uint16_t port, const void *buf, size_t len)
{
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(port)};
	assert_int_equal(sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)len);
}

/* Runs ctx until cond holds; bounded (5 s of blocking iterations). */
static void run_until(GMainContext *ctx, const unsigned *counter, unsigned want)
{
	gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

	while (*counter < want && g_get_monotonic_time() < end)
		g_main_context_iteration(ctx, FALSE) ? (void)0 : g_usleep(1000);
	assert_int_equal(*counter, want);
}

static void run_stats_until(GMainContext *ctx, struct wm_relay *r, uint64_t dropped)
{
	gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
	struct wm_relay_stats st;

	do {
		if (!g_main_context_iteration(ctx, FALSE))
			g_usleep(1000);
		wm_relay_get_stats(r, &st);
	} while (st.dropped < dropped && g_get_monotonic_time() < end);
	assert_int_equal(st.dropped, dropped);
}

/* A relay attached to its own context, for a stand-in WireGuard socket,
 * sending to a capture: what most tests start from. */
struct lab {
	GMainContext *ctx;
	struct capture cap;
	struct wm_relay *r;
	uint16_t wg_port;
	int wg;
};

static void lab_open(struct lab *l)
{
	memset(l, 0, sizeof(*l));
	l->ctx = g_main_context_new();
	l->wg = udp_socket(&l->wg_port);
	assert_int_equal(wm_relay_new(l->wg_port, &l->r), 0);
	assert_int_equal(wm_relay_attach(l->r, l->ctx), 0);
	wm_relay_set_send(l->r, capture_cb, &l->cap);
}

static void lab_close(struct lab *l)
{
	wm_relay_free(l->r);
	close(l->wg);
	g_main_context_unref(l->ctx);
}

static void test_forwarding(void **state)
{
	(void)state;
	GMainContext *ctx = g_main_context_new();
	struct capture cap = {0};
	struct wm_relay *r;
	struct wm_relay_stats st;
	uint16_t wg_port, other_port, rport;
	int wg = udp_socket(&wg_port), other = udp_socket(&other_port);
	uint8_t buf[64];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);

	assert_int_equal(wm_relay_new(wg_port, &r), 0);
	rport = wm_relay_port(r);
	assert_true(rport != 0);
	assert_int_equal(wm_relay_attach(r, ctx), 0);
	assert_int_equal(wm_relay_attach(r, ctx), -EALREADY);

	/* no path yet: dropped */
	send_to(wg, rport, "early", 5);
	run_stats_until(ctx, r, 1);

	wm_relay_set_send(r, capture_cb, &cap);
	/* WireGuard -> path */
	send_to(wg, rport, "hello", 5);
	run_until(ctx, &cap.count, 1);
	assert_int_equal(cap.last_len, 5);
	assert_memory_equal(cap.last, "hello", 5);

	/* a datagram from anyone but WireGuard's port is not relayed */
	send_to(other, rport, "evil", 4);
	run_stats_until(ctx, r, 2);
	assert_int_equal(cap.count, 1);

	/* path -> WireGuard, from the relay's port */
	assert_int_equal(wm_relay_deliver(r, (const uint8_t *)"world", 5), 0);
	assert_int_equal(recvfrom(wg, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl), 5);
	assert_memory_equal(buf, "world", 5);
	assert_int_equal(ntohs(from.sin_port), rport);
	assert_int_equal(ntohl(from.sin_addr.s_addr), INADDR_LOOPBACK);

	/* a burst arrives whole and in order, in batches */
	unsigned batches = cap.batches;
	for (unsigned i = 0; i < 40; i++) {
		uint8_t b[2] = {(uint8_t)i, 0xAB};
		send_to(wg, rport, b, sizeof(b));
	}
	run_until(ctx, &cap.count, 41);
	assert_int_equal(cap.last[0], 39);
	assert_true(cap.batches - batches < 40);

	/* a failing path counts a drop */
	cap.fail_with = -EIO;
	send_to(wg, rport, "x", 1);
	run_stats_until(ctx, r, 3);

	/* an empty datagram is a datagram (WireGuard never sends one, but the
	 * relay must not mistake it for an error) */
	cap.fail_with = 0;
	send_to(wg, rport, "", 0);
	run_until(ctx, &cap.count, 42);
	assert_int_equal(cap.last_len, 0);

	/* a path that takes part of a batch: the rest are drops */
	cap.take = 1;
	send_to(wg, rport, "p", 1);
	send_to(wg, rport, "q", 1);
	/* both may come in one batch (one is dropped) or one each (none is) */
	gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
	struct wm_relay_stats s2;
	do {
		g_main_context_iteration(ctx, FALSE);
		wm_relay_get_stats(r, &s2);
	} while (s2.tx_packets + s2.dropped < 42 + 3 + 2 && g_get_monotonic_time() < end);
	assert_int_equal(s2.tx_packets + s2.dropped, 42 + 3 + 2);
	cap.take = 0;

	/* queued deliveries leave together after the burst, in order */
	for (unsigned i = 0; i < 5; i++) {
		uint8_t b[1] = {(uint8_t)('a' + i)};
		assert_int_equal(wm_relay_queue(r, b, 1), 0);
	}
	/* nothing has left yet: the flush runs from the context */
	struct timeval zero = {0, 1000};
	setsockopt(wg, SOL_SOCKET, SO_RCVTIMEO, &zero, sizeof(zero));
	assert_true(recv(wg, buf, sizeof(buf), 0) < 0);
	g_main_context_iteration(ctx, FALSE);
	struct timeval five = {5, 0};
	setsockopt(wg, SOL_SOCKET, SO_RCVTIMEO, &five, sizeof(five));
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(recv(wg, buf, sizeof(buf), 0), 1);
		assert_int_equal(buf[0], 'a' + i);
	}
	/* a full queue leaves at once; a datagram too big to queue goes after it */
	uint8_t big[3000];
	memset(big, 'B', sizeof(big));
	for (unsigned i = 0; i < 32; i++)
		assert_int_equal(wm_relay_queue(r, (const uint8_t *)"x", 1), 0);
	assert_int_equal(recv(wg, buf, sizeof(buf), 0), 1);
	for (unsigned i = 1; i < 32; i++)
		assert_int_equal(recv(wg, buf, sizeof(buf), 0), 1);
	assert_int_equal(wm_relay_queue(r, (const uint8_t *)"y", 1), 0);
	assert_int_equal(wm_relay_queue(r, big, sizeof(big)), 0);
	assert_int_equal(recv(wg, buf, sizeof(buf), 0), 1);
	assert_int_equal(buf[0], 'y');
	uint8_t bigbuf[4000];
	assert_int_equal(recv(wg, bigbuf, sizeof(bigbuf), 0), (ssize_t)sizeof(big));
	g_main_context_iteration(ctx, FALSE); /* the now empty flush source */

	wm_relay_get_stats(r, &st);
	assert_int_equal(st.tx_packets, s2.tx_packets);
	assert_true(st.tx_packets == 43 || st.tx_packets == 44);
	assert_int_equal(st.rx_packets, 1 + 5 + 32 + 2);
	assert_int_equal(st.rx_bytes, 5 + 5 + 32 + 1 + sizeof(big));
	assert_true(st.last_rx_us > 0);

	wm_relay_free(r);
	wm_relay_free(NULL);
	close(wg);
	close(other);
	g_main_context_unref(ctx);
}

/* WireGuard sends runs of datagrams with UDP GSO; the relay reads them with
 * UDP_GRO on, where loopback may hand it a run as one read: the path must
 * still get every datagram on its own, in order, the last one shorter. */
static void test_gso_run(void **state)
{
	(void)state;
	struct lab l;
	static uint8_t run[5 * 1400 + 300];

	lab_open(&l);
	struct wm_relay *r = l.r;
	GMainContext *ctx = l.ctx;
	int wg = l.wg;
	for (size_t i = 0; i < sizeof(run); i++)
		run[i] = (uint8_t)(i / 1400 + 1);
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(wm_relay_port(r))};
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {run, sizeof(run)};
	struct msghdr mh = {.msg_name = &to,
			    .msg_namelen = sizeof(to),
			    .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	uint16_t seg = 1400;
	memset(&ctl, 0, sizeof(ctl));
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = UDP_SEGMENT;
	cm->cmsg_len = CMSG_LEN(sizeof(seg));
	memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
	if (sendmsg(wg, &mh, 0) < 0) {
		/* no GSO in this kernel: the same datagrams one by one */
		for (size_t off = 0; off < sizeof(run); off += 1400)
			send_to(wg, wm_relay_port(r), run + off,
				sizeof(run) - off < 1400 ? sizeof(run) - off : 1400);
	}
	/* and a lone datagram after it, of another size */
	send_to(wg, wm_relay_port(r), "\x09tail", 5);
	run_until(ctx, &l.cap.count, 7);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(l.cap.sizes[i], 1400);
		assert_int_equal(l.cap.firsts[i], i + 1);
	}
	assert_int_equal(l.cap.sizes[5], 300);
	assert_int_equal(l.cap.firsts[5], 6);
	assert_int_equal(l.cap.sizes[6], 5);
	assert_int_equal(l.cap.firsts[6], 9);
	assert_memory_equal(l.cap.last, "\x09tail", 5);
	struct wm_relay_stats st;
	wm_relay_get_stats(r, &st);
	assert_int_equal(st.tx_packets, 7);
	assert_int_equal(st.tx_bytes, sizeof(run) + 5);
	assert_int_equal(st.dropped, 0);
	/* idle: the read buffers go, and come back at the next read */
	wm_relay_trim(r);
	wm_relay_trim(r);
	send_to(wg, wm_relay_port(r), "\x0aagain", 6);
	run_until(ctx, &l.cap.count, 8);
	assert_memory_equal(l.cap.last, "\x0aagain", 6);

	lab_close(&l);
}

/* Towards WireGuard, one call sends several runs (sendmmsg of GSO sends):
 * what was queued first, then every datagram of every run, each on its
 * own, in order, none lost or merged. */
static void test_send_runs(void **state)
{
	(void)state;
	struct lab l;
	static uint8_t data[8][1400];
	/* runs: three of 1400 and a shorter one; two of 1000; a lone 5; one of
	 * 1400 again */
	static const size_t sizes[] = {1400, 1400, 1400, 300, 1000, 1000, 5, 1400};
	struct iovec pkts[8];
	uint8_t buf[2048];

	lab_open(&l);
	for (unsigned i = 0; i < 8; i++) {
		memset(data[i], 'a' + i, sizes[i]);
		pkts[i].iov_base = data[i];
		pkts[i].iov_len = sizes[i];
	}
	wm_relay_hold(l.r);
	assert_int_equal(wm_relay_queue(l.r, (const uint8_t *)"Q", 1), 0);
	unsigned calls = mmsg_calls;
	assert_int_equal(wm_relay_send(l.r, pkts, 8), 8);
	assert_int_equal(mmsg_calls - calls, 1); /* five runs, one system call */
	assert_int_equal(recv(l.wg, buf, sizeof(buf), 0), 1);
	assert_int_equal(buf[0], 'Q');
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(recv(l.wg, buf, sizeof(buf), 0), (ssize_t)sizes[i]);
		assert_int_equal(buf[0], 'a' + i);
		assert_int_equal(buf[sizes[i] - 1], 'a' + i);
	}
	struct wm_relay_stats st;
	wm_relay_get_stats(l.r, &st);
	assert_int_equal(st.rx_packets, 9);
	assert_int_equal(st.rx_bytes, 1 + 3 * 1400 + 300 + 2000 + 5 + 1400);
	assert_int_equal(st.dropped, 0);
	/* nothing queued: the runs alone, the same way */
	assert_int_equal(wm_relay_send(l.r, pkts + 4, 4), 4);
	for (unsigned i = 4; i < 8; i++) {
		assert_int_equal(recv(l.wg, buf, sizeof(buf), 0), (ssize_t)sizes[i]);
		assert_int_equal(buf[0], 'a' + i);
	}
	/* WireGuard's buffer full: nothing left, all of it counted as dropped */
	mmsg_fail = EAGAIN;
	assert_int_equal(wm_relay_send(l.r, pkts + 4, 4), 0);
	wm_relay_get_stats(l.r, &st);
	assert_int_equal(st.dropped, 4);
	/* a kernel that refuses GSO: the same datagrams one by one, from then on */
	mmsg_fail = EINVAL;
	assert_int_equal(wm_relay_send(l.r, pkts, 4), 4);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(recv(l.wg, buf, sizeof(buf), 0), (ssize_t)sizes[i]);
		assert_int_equal(buf[0], 'a' + i);
	}
	assert_false(l.r->gso);
	lab_close(&l);
}

/* On a GMainContext (ICE), a link that stops reading gives its read
 * buffers back by itself, and its trim source goes with them (no wakeups
 * while idle); the next datagram makes both again. */
static void test_idle_buffers_freed(void **state)
{
	(void)state;
	struct lab l;

	lab_open(&l);
	struct wm_relay *r = l.r;
	assert_null(r->bufs); /* nothing read yet: nothing held */
	assert_null(r->trim);
	for (unsigned round = 1; round <= 2; round++) {
		send_to(l.wg, wm_relay_port(r), "data", 4);
		run_until(l.ctx, &l.cap.count, round);
		assert_non_null(r->bufs);
		assert_non_null(r->trim);
		/* Idle: freed within two trim periods (bounded at five). */
		gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
		while (r->bufs && g_get_monotonic_time() < end)
			g_main_context_iteration(l.ctx, FALSE) ? (void)0 : g_usleep(10000);
		assert_null(r->bufs);
		assert_null(r->trim);
	}
	lab_close(&l);
}

/* What WireGuard sends that its peer answers (anything but a 32-byte
 * keepalive) starts the unanswered clock; anything from the path stops it. */
static void test_unanswered(void **state)
{
	(void)state;
	struct lab l;
	struct wm_relay_stats st;
	uint8_t keepalive[32] = {4}, data[100] = {4}, buf[128];

	lab_open(&l);
	struct wm_relay *r = l.r;
	send_to(l.wg, wm_relay_port(r), keepalive, sizeof(keepalive));
	run_until(l.ctx, &l.cap.count, 1);
	wm_relay_get_stats(r, &st);
	assert_int_equal(st.unanswered_since_us, 0);
	send_to(l.wg, wm_relay_port(r), data, sizeof(data));
	run_until(l.ctx, &l.cap.count, 2);
	wm_relay_get_stats(r, &st);
	assert_true(st.unanswered_since_us > 0);
	int64_t since = st.unanswered_since_us;
	/* more unanswered data does not move the start */
	send_to(l.wg, wm_relay_port(r), data, sizeof(data));
	run_until(l.ctx, &l.cap.count, 3);
	wm_relay_get_stats(r, &st);
	assert_int_equal(st.unanswered_since_us, since);
	/* the peer's answer, even a keepalive, stops it */
	assert_int_equal(wm_relay_deliver(r, keepalive, sizeof(keepalive)), 0);
	assert_int_equal(recv(l.wg, buf, sizeof(buf), 0), (ssize_t)sizeof(keepalive));
	wm_relay_get_stats(r, &st);
	assert_int_equal(st.unanswered_since_us, 0);
	assert_true(st.last_rx_us >= since);
	lab_close(&l);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forwarding),
		cmocka_unit_test(test_gso_run),
		cmocka_unit_test(test_send_runs),
		cmocka_unit_test(test_idle_buffers_freed),
		cmocka_unit_test(test_unanswered),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
