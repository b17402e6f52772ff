/* The loopback relay (src/nat/relay.c) between two real sockets: a stand-in
 * for WireGuard's port, and the path (a callback here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "nat/relay.h"

struct capture {
	uint8_t last[2048];
	size_t last_len;
	unsigned count;
	int fail_with;
};

static int capture_cb(void *data, const uint8_t *buf, size_t len)
{
	struct capture *c = data;

	if (c->fail_with)
		return c->fail_with;
	memcpy(c->last, buf, len);
	c->last_len = len;
	c->count++;
	return 0;
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

	/* a burst arrives whole and in order (batched reads) */
	for (unsigned i = 0; i < 40; i++) {
		uint8_t b[2] = {(uint8_t)i, 0xAB};
		send_to(wg, rport, b, sizeof(b));
	}
	run_until(ctx, &cap.count, 41);
	assert_int_equal(cap.last[0], 39);

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

	wm_relay_get_stats(r, &st);
	assert_int_equal(st.tx_packets, 42);
	assert_int_equal(st.tx_bytes, 5 + 40 * 2);
	assert_int_equal(st.rx_packets, 1);
	assert_int_equal(st.rx_bytes, 5);
	assert_true(st.last_rx_us > 0);

	wm_relay_free(r);
	wm_relay_free(NULL);
	close(wg);
	close(other);
	g_main_context_unref(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forwarding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
