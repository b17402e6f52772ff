/* The embedded device itself, in a private network namespace made by this
 * process (it vanishes with it): its UAPI socket's permissions, and that one
 * slow UAPI client cannot hold the thread that also serves the UDP socket.
 * Skipped unless root with /dev/net/tun. */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "wg/embedded/cookie.h"
#include "wg/embedded/device.h"
#include "wg/embedded/noise.h"

static bool ready, in_netns;
static char dir[] = "/tmp/wm-wgdev-XXXXXX";
static struct wge_dev *dev;

/* The first group runs the device without crypto workers (the device's
 * threads seal and open themselves), the second with three, so that batches
 * are split over threads; the default (one per CPU but one) runs in the
 * integration tests. */
static int setup_with(int workers)
{
	struct wge_config cfg = {.ifname = "wmdev0", .uapi_dir = dir, .workers = workers};
	char err[256] = "";

	ready = false;
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0)
		return 0;
	if (!in_netns && (unshare(CLONE_NEWNET) != 0 || !mkdtemp(dir)))
		return 0;
	in_netns = true;
	if (wge_open(&cfg, &dev, err, sizeof(err)) < 0) {
		fprintf(stderr, "wge_open: %s\n", err);
		return -1;
	}
	ready = true;
	return 0;
}

static int setup(void **state)
{
	(void)state;
	return setup_with(-1);
}

static int setup_workers(void **state)
{
	(void)state;
	return setup_with(3);
}

static int teardown(void **state)
{
	(void)state;
	wge_close(dev);
	dev = NULL;
	return 0;
}

static int connect_uapi(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/wmdev0.sock", dir);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* The socket hands out private keys: only its owner may connect. */
static void test_uapi_socket_owner_only(void **state)
{
	char path[128];
	struct stat st;

	(void)state;
	if (!ready)
		skip();
	snprintf(path, sizeof(path), "%s/wmdev0.sock", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 077, 0);
}

/* A client that trickles a request a byte at a time (or opens and idles) held
 * the device thread, and with it every datagram and timer, for as long as it
 * liked: each byte renewed a two-second wait. Another client's get must be
 * answered while the first one is still trickling. */
static void test_uapi_slow_client_does_not_stall(void **state)
{
	int slow, fast;
	bool answered = false;
	char buf[4096];

	(void)state;
	if (!ready)
		skip();
	slow = connect_uapi();
	assert_int_equal(write(slow, "g", 1), 1);
	/* Let the device thread pick up the slow connection first. */
	usleep(200 * 1000);
	fast = connect_uapi();
	assert_int_equal(write(fast, "get=1\n\n", 7), 7);
	/* Bounded: 40 rounds of 250 ms. */
	for (int i = 0; i < 40 && !answered; i++) {
		struct pollfd p = {.fd = fast, .events = POLLIN};

		(void)!send(slow, "e", 1, MSG_NOSIGNAL);
		if (poll(&p, 1, 250) == 1) {
			ssize_t n = read(fast, buf, sizeof(buf) - 1);

			answered = n > 0;
			if (n > 0) {
				buf[n] = '\0';
				assert_non_null(strstr(buf, "listen_port="));
			}
		}
	}
	assert_true(answered);
	close(slow);
	close(fast);
}

/* One request and its whole answer on a fresh connection. */
static void uapi_request(const char *req, char *resp, size_t cap)
{
	int fd = connect_uapi();
	size_t len = 0;

	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (len + 1 < cap) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		assert_int_equal(poll(&p, 1, 5000), 1);
		n = read(fd, resp + len, cap - 1 - len);
		assert_true(n > 0);
		len += (size_t)n;
		resp[len] = '\0';
		if (len >= 2 && resp[len - 1] == '\n' && resp[len - 2] == '\n')
			break;
	}
	close(fd);
}

/* Datagrams of every type and of wrong and edge lengths, one by one and
 * coalesced by UDP GSO (the device reads them with GRO and splits them),
 * from anyone: the device drops them and goes on serving. */
static void test_garbage_datagrams(void **state)
{
	char resp[4096];
	const char *lp;
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	int s;
	uint8_t buf[2048];
	unsigned seed = 12345;

	(void)state;
	if (!ready)
		skip();
	uapi_request("set=1\nprivate_key="
		     "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\n"
		     "public_key=c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1\n"
		     "allowed_ip=10.7.0.0/16\n\n",
		     resp, sizeof(resp));
	assert_string_equal(resp, "errno=0\n\n");
	uapi_request("get=1\n\n", resp, sizeof(resp));
	lp = strstr(resp, "listen_port=");
	assert_non_null(lp);
	to.sin_port = htons((uint16_t)atoi(lp + 12));
	/* lo is down in a new namespace. */
	assert_int_equal(system("ip link set lo up"), 0);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	for (int i = 0; i < 3000; i++) {
		size_t len = (size_t)(rand_r(&seed) % 200);

		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)rand_r(&seed);
		if (len >= 4) {
			buf[0] = (uint8_t)(1 + i % 4);
			buf[1] = buf[2] = buf[3] = 0;
		}
		if (i % 7 == 0)
			len = (size_t[]){
				0, 1, 4, 31, 32, 63, 64, 65, 91, 92, 93, 147, 148, 149}[i % 14];
		assert_int_equal(sendto(s, buf, len, 0, (struct sockaddr *)&to, sizeof(to)),
				 (ssize_t)len);
	}
	/* GSO: runs of equal segments, the last shorter, each a data header. */
	for (int i = 0; i < 200; i++) {
		uint16_t seg = (uint16_t)(1 + rand_r(&seed) % 200);
		size_t total = (size_t)seg * (1 + rand_r(&seed) % 9) + rand_r(&seed) % seg;
		char ctrl[CMSG_SPACE(sizeof(uint16_t))] = {0};
		struct iovec iov = {.iov_base = buf, .iov_len = total};
		struct msghdr mh = {.msg_name = &to,
				    .msg_namelen = sizeof(to),
				    .msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctrl,
				    .msg_controllen = sizeof(ctrl)};
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

		for (size_t j = 0; j < total; j++)
			buf[j] = (uint8_t)rand_r(&seed);
		for (size_t off = 0; off + 4 <= total; off += seg) {
			buf[off] = (uint8_t)(1 + i % 4);
			buf[off + 1] = buf[off + 2] = buf[off + 3] = 0;
		}
		c->cmsg_level = SOL_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(seg));
		memcpy(CMSG_DATA(c), &seg, sizeof(seg));
		assert_int_equal(sendmsg(s, &mh, 0), (ssize_t)total);
	}
	close(s);
	uapi_request("get=1\n\n", resp, sizeof(resp));
	assert_non_null(strstr(resp, "rx_bytes=0\n"));
	assert_non_null(strstr(resp, "errno=0\n\n"));
}

/* A data message to the device under keys, with an IPv4 packet inside from
 * src (last byte; 10.7.0.x) to 10.7.0.1. */
static void send_data(int s, const struct sockaddr_in *to, struct wgp_aead_ctx *c,
		      uint32_t receiver, uint64_t counter, uint8_t src)
{
	uint8_t pkt[16 + 32 + WGP_TAG_LEN] = {WGM_DATA};
	uint8_t *ip = pkt + 16;

	wgm_put32(pkt + 4, receiver);
	wgm_put64(pkt + 8, counter);
	ip[0] = 0x45;
	ip[3] = 28; /* total length: header and an 8-byte ICMP echo */
	ip[8] = 64;
	ip[9] = 1;
	memcpy(ip + 12, (uint8_t[]){10, 7, 0, src}, 4);
	memcpy(ip + 16, (uint8_t[]){10, 7, 0, 1}, 4);
	ip[20] = 8;
	assert_int_equal(wgp_aead_ctx_seal(c, counter, ip, ip, 32), 0);
	assert_int_equal(sendto(s, pkt, sizeof(pkt), 0, (const struct sockaddr *)to, sizeof(*to)),
			 (ssize_t)sizeof(pkt));
}

/* A peer completes a real handshake, then sends from inside and outside its
 * allowed IPs and replays a counter: only the first packet from its own
 * address reaches the TUN device, once. */
/* One handshake as the initiator me (sender index idx) with the device at
 * to, from socket s, skipping at most max_skip other datagrams before the
 * response; the session's keys in *keys. */
static void handshake(int s, const struct sockaddr_in *to, const struct wgn_static *me,
		      const uint8_t dev_pub[32], uint32_t idx, int max_skip, struct wgn_keys *keys)
{
	struct wgn_handshake hs = {0};
	struct wgc_maker maker = {0};
	struct wgm_initiation init;
	struct wgm_response resp;
	struct timespec wall;

	assert_int_equal(wgn_handshake_init(&hs, me, dev_pub, NULL), 0);
	clock_gettime(CLOCK_REALTIME, &wall);
	assert_int_equal(
		wgn_create_initiation(&hs, me, idx, wall.tv_sec, wall.tv_nsec, NULL, &init), 0);
	assert_int_equal(
		wgc_add_macs(&maker, hs.remote_mac1_key, (uint8_t *)&init, sizeof(init), 1), 0);
	assert_int_equal(
		sendto(s, &init, sizeof(init), 0, (const struct sockaddr *)to, sizeof(*to)),
		(ssize_t)sizeof(init));
	/* Bounded: keepalives or stale datagrams may come first. */
	for (int i = 0; i < max_skip; i++) {
		struct pollfd p = {.fd = s, .events = POLLIN};

		assert_int_equal(poll(&p, 1, 5000), 1);
		if (recv(s, &resp, sizeof(resp), 0) == (ssize_t)sizeof(resp) &&
		    resp.type[0] == WGM_RESPONSE && wgm_get32(resp.receiver) == idx)
			break;
	}
	assert_int_equal(wgn_consume_response(&hs, me, &resp), 0);
	assert_int_equal(wgn_derive_keys(&hs, keys), 0);
	wgn_handshake_clear(&hs);
}

static void test_data_path_source_and_replay(void **state)
{
	static const uint8_t dev_priv[32] = {0x48, 1,  2,  3,  4,  5,  6,  7,  8,  9,	10,
					     11,   12, 13, 14, 15, 16, 17, 18, 19, 20,	21,
					     22,   23, 24, 25, 26, 27, 28, 29, 30, 0x71};
	static const uint8_t peer_priv[32] = {0x50, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
					      9,    9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0x49};
	struct wgn_static dev_s = {0}, me = {0};
	struct wgn_keys keys;
	struct wgp_aead_ctx *ctx;
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	struct sockaddr_in mine = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	socklen_t alen = sizeof(mine);
	char req[512], out[4096], hexd[65], hexp[65];
	const char *lp;
	int s, sniff, seen_good = 0, seen_spoof = 0;

	(void)state;
	if (!ready)
		skip();
	assert_int_equal(wgn_static_set(&dev_s, dev_priv), 0);
	assert_int_equal(wgn_static_set(&me, peer_priv), 0);
	for (int i = 0; i < 32; i++) {
		snprintf(hexd + 2 * i, 3, "%02x", dev_s.priv[i]);
		snprintf(hexp + 2 * i, 3, "%02x", me.pub[i]);
	}
	assert_int_equal(system("ip link set lo up && ip link set wmdev0 up && "
				"ip addr add 10.7.0.1/24 dev wmdev0"),
			 0);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&mine, sizeof(mine)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&mine, &alen), 0);
	snprintf(req, sizeof(req),
		 "set=1\nprivate_key=%s\nreplace_peers=true\npublic_key=%s\n"
		 "endpoint=127.0.0.1:%u\nallowed_ip=10.7.0.2/32\n\n",
		 hexd, hexp, ntohs(mine.sin_port));
	uapi_request(req, out, sizeof(out));
	assert_string_equal(out, "errno=0\n\n");
	uapi_request("get=1\n\n", out, sizeof(out));
	lp = strstr(out, "listen_port=");
	assert_non_null(lp);
	to.sin_port = htons((uint16_t)atoi(lp + 12));

	sniff = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(sniff >= 0);
	ll.sll_ifindex = (int)if_nametoindex("wmdev0");
	assert_int_equal(bind(sniff, (struct sockaddr *)&ll, sizeof(ll)), 0);

	handshake(s, &to, &me, dev_s.pub, 77, 20, &keys);
	ctx = wgp_aead_ctx_new(keys.send, true);
	assert_non_null(ctx);

	send_data(s, &to, ctx, keys.remote_index, 0, 99); /* outside its allowed IPs */
	send_data(s, &to, ctx, keys.remote_index, 1, 2);  /* its own */
	send_data(s, &to, ctx, keys.remote_index, 1, 2);  /* a replay */
	send_data(s, &to, ctx, keys.remote_index, 2, 98); /* outside again */
	/* Bounded: whatever arrives within a second. */
	for (int i = 0; i < 100; i++) {
		struct pollfd p = {.fd = sniff, .events = POLLIN};
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		uint8_t pkt[2048];
		ssize_t n;

		if (poll(&p, 1, 1000) != 1)
			break;
		n = recvfrom(sniff, pkt, sizeof(pkt), 0, (struct sockaddr *)&from, &fl);
		if (n < 20 || from.sll_pkttype == PACKET_OUTGOING || (pkt[0] >> 4) != 4 ||
		    pkt[9] != 1)
			continue;
		if (!memcmp(pkt + 12, (uint8_t[]){10, 7, 0, 2}, 4))
			seen_good++;
		else
			seen_spoof++;
	}
	assert_int_equal(seen_good, 1);
	assert_int_equal(seen_spoof, 0);

	/* A packet 3 bytes under the MTU (1420) goes out padded to the MTU, as
	 * the kernel and wireguard-go pad: not to its own length, which would
	 * give away the exact size of near-MTU packets. */
	{
		int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in peer_in = {.sin_family = AF_INET,
					      .sin_port = htons(9),
					      .sin_addr.s_addr = htonl(0x0a070002)};
		static uint8_t payload[1417 - 28];
		uint8_t dgram[2048];
		ssize_t n = 0;

		assert_true(u >= 0);
		assert_int_equal(sendto(u, payload, sizeof(payload), 0, (struct sockaddr *)&peer_in,
					sizeof(peer_in)),
				 (ssize_t)sizeof(payload));
		close(u);
		/* Bounded: keepalives may come first. */
		for (int i = 0; i < 20; i++) {
			struct pollfd p = {.fd = s, .events = POLLIN};

			assert_int_equal(poll(&p, 1, 2000), 1);
			n = recv(s, dgram, sizeof(dgram), 0);
			if (n > 100 && dgram[0] == WGM_DATA)
				break;
		}
		assert_int_equal(n, 16 + 1420 + WGP_TAG_LEN);
	}
	wgp_aead_ctx_free(ctx);
	close(sniff);
	close(s);
	wgn_static_clear(&dev_s);
	wgn_static_clear(&me);
}

/* A peer's side of a session with the device: a real handshake. */
struct session {
	int s;
	struct sockaddr_in to;
	struct wgn_keys keys;
	struct wgp_aead_ctx *tx, *rx;
};

static void session_open(struct session *ss, uint8_t key_byte)
{
	uint8_t dev_priv[32], peer_priv[32];
	struct wgn_static dev_s = {0}, me = {0};
	struct sockaddr_in mine = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t alen = sizeof(mine);
	char req[512], out[4096], hexd[65], hexp[65];
	const char *lp;
	int big = 8 << 20;

	memset(ss, 0, sizeof(*ss));
	for (int i = 0; i < 32; i++) {
		dev_priv[i] = (uint8_t)(0x30 + i);
		peer_priv[i] = key_byte;
	}
	assert_int_equal(wgn_static_set(&dev_s, dev_priv), 0);
	assert_int_equal(wgn_static_set(&me, peer_priv), 0);
	for (int i = 0; i < 32; i++) {
		snprintf(hexd + 2 * i, 3, "%02x", dev_s.priv[i]);
		snprintf(hexp + 2 * i, 3, "%02x", me.pub[i]);
	}
	assert_int_equal(system("ip link set lo up && ip link set wmdev0 up && "
				"ip addr replace 10.7.0.1/24 dev wmdev0"),
			 0);
	ss->s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(ss->s >= 0);
	(void)setsockopt(ss->s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	assert_int_equal(bind(ss->s, (struct sockaddr *)&mine, sizeof(mine)), 0);
	assert_int_equal(getsockname(ss->s, (struct sockaddr *)&mine, &alen), 0);
	snprintf(req, sizeof(req),
		 "set=1\nprivate_key=%s\nreplace_peers=true\npublic_key=%s\n"
		 "endpoint=127.0.0.1:%u\nallowed_ip=10.7.0.2/32\n\n",
		 hexd, hexp, ntohs(mine.sin_port));
	uapi_request(req, out, sizeof(out));
	assert_string_equal(out, "errno=0\n\n");
	uapi_request("get=1\n\n", out, sizeof(out));
	lp = strstr(out, "listen_port=");
	assert_non_null(lp);
	ss->to = (struct sockaddr_in){.sin_family = AF_INET,
				      .sin_port = htons((uint16_t)atoi(lp + 12)),
				      .sin_addr.s_addr = htonl(0x7f000001)};
	handshake(ss->s, &ss->to, &me, dev_s.pub, 78, 50, &ss->keys);
	ss->tx = wgp_aead_ctx_new(ss->keys.send, true);
	ss->rx = wgp_aead_ctx_new(ss->keys.recv, false);
	assert_non_null(ss->tx);
	assert_non_null(ss->rx);
	wgn_static_clear(&dev_s);
	wgn_static_clear(&me);
}

static void session_close(struct session *ss)
{
	wgp_aead_ctx_free(ss->tx);
	wgp_aead_ctx_free(ss->rx);
	close(ss->s);
}

#define BURST 400
#define SEG_LEN (16 + 32 + 16) /* data header, IPv4+UDP+4 bytes (padded), tag */

/* Bursts both ways, large enough for the device to split them over its
 * crypto workers: every packet arrives once, in the order sent, and what the
 * device sends carries counters in order. Into the device: BURST data
 * messages sent 40 at a time with UDP GSO (one GRO batch for the device). */
static void test_burst_order(void **state)
{
	struct session ss;
	struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	static uint8_t buf[40 * SEG_LEN];
	int sniff, big = 8 << 20, next = 0;
	uint64_t last_counter = 0;

	(void)state;
	if (!ready)
		skip();
	session_open(&ss, 0x61);
	sniff = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(sniff >= 0);
	(void)setsockopt(sniff, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	ll.sll_ifindex = (int)if_nametoindex("wmdev0");
	assert_int_equal(bind(sniff, (struct sockaddr *)&ll, sizeof(ll)), 0);

	for (int base = 0; base < BURST; base += 40) {
		char ctrl[CMSG_SPACE(sizeof(uint16_t))] = {0};
		uint16_t seg = SEG_LEN;
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		struct msghdr mh = {.msg_name = &ss.to,
				    .msg_namelen = sizeof(ss.to),
				    .msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctrl,
				    .msg_controllen = sizeof(ctrl)};
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

		memset(buf, 0, sizeof(buf));
		for (int k = 0; k < 40; k++) {
			uint8_t *pkt = buf + k * SEG_LEN, *ip = pkt + 16;
			uint32_t seq = (uint32_t)(base + k);

			pkt[0] = WGM_DATA;
			wgm_put32(pkt + 4, ss.keys.remote_index);
			wgm_put64(pkt + 8, seq);
			ip[0] = 0x45;
			ip[3] = 32;
			ip[8] = 64;
			ip[9] = 17;
			memcpy(ip + 12, (uint8_t[]){10, 7, 0, 2}, 4);
			memcpy(ip + 16, (uint8_t[]){10, 7, 0, 1}, 4);
			ip[22] = 0x30; /* UDP to port 12345 */
			ip[23] = 0x39;
			ip[25] = 12;
			memcpy(ip + 28, &seq, 4);
			assert_int_equal(wgp_aead_ctx_seal(ss.tx, seq, ip, ip, 32), 0);
		}
		c->cmsg_level = SOL_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(seg));
		memcpy(CMSG_DATA(c), &seg, sizeof(seg));
		assert_int_equal(sendmsg(ss.s, &mh, 0), (ssize_t)sizeof(buf));
	}
	/* Bounded: BURST packets, or a second of silence. */
	for (int i = 0; i < 4 * BURST && next < BURST; i++) {
		struct pollfd p = {.fd = sniff, .events = POLLIN};
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		uint8_t pkt[2048];
		uint32_t seq;
		ssize_t n;

		if (poll(&p, 1, 1000) != 1)
			break;
		n = recvfrom(sniff, pkt, sizeof(pkt), 0, (struct sockaddr *)&from, &fl);
		if (n != 32 || from.sll_pkttype == PACKET_OUTGOING || pkt[9] != 17)
			continue;
		memcpy(&seq, pkt + 28, 4);
		assert_int_equal(seq, (uint32_t)next);
		next++;
	}
	assert_int_equal(next, BURST);

	/* Out of the device: BURST datagrams into the tunnel. */
	{
		int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in peer_in = {.sin_family = AF_INET,
					      .sin_port = htons(9),
					      .sin_addr.s_addr = htonl(0x0a070002)};

		assert_true(u >= 0);
		for (uint32_t seq = 0; seq < BURST; seq++)
			assert_int_equal(sendto(u, &seq, sizeof(seq), 0,
						(struct sockaddr *)&peer_in, sizeof(peer_in)),
					 4);
		close(u);
	}
	next = 0;
	for (int i = 0; i < 4 * BURST && next < BURST; i++) {
		struct pollfd p = {.fd = ss.s, .events = POLLIN};
		uint8_t d[2048];
		uint64_t counter;
		uint32_t seq;
		ssize_t n;

		if (poll(&p, 1, 1000) != 1)
			break;
		n = recv(ss.s, d, sizeof(d), 0);
		if (n < 32 || d[0] != WGM_DATA)
			continue;
		counter = wgm_get64(d + 8);
		assert_true(!next || counter > last_counter);
		last_counter = counter;
		assert_int_equal(wgp_aead_ctx_open(ss.rx, counter, d + 16, d + 16, (size_t)n - 16),
				 0);
		if (n - 32 < 32 || d[16 + 9] != 17)
			continue; /* a keepalive, or the kernel's ICMP */
		memcpy(&seq, d + 16 + 28, 4);
		assert_int_equal(seq, (uint32_t)next);
		next++;
	}
	assert_int_equal(next, BURST);
	close(sniff);
	session_close(&ss);
}

/* How many ICMP packets from 10.7.0.src the device delivered within a
 * second (bounded). */
static int delivered_from(int sniff, uint8_t src)
{
	int seen = 0;

	for (int i = 0; i < 100; i++) {
		struct pollfd p = {.fd = sniff, .events = POLLIN};
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		uint8_t pkt[2048];
		ssize_t n;

		if (poll(&p, 1, 1000) != 1)
			break;
		n = recvfrom(sniff, pkt, sizeof(pkt), 0, (struct sockaddr *)&from, &fl);
		if (n < 20 || from.sll_pkttype == PACKET_OUTGOING || (pkt[0] >> 4) != 4 ||
		    pkt[9] != 1)
			continue;
		if (!memcmp(pkt + 12, (uint8_t[]){10, 7, 0, src}, 4))
			seen++;
	}
	return seen;
}

/* The UAPI section of the peer with hex key hex in a get answer (up to the
 * next peer), copied into out. */
static void peer_section(const char *get, const char *hex, char *out, size_t cap)
{
	char key[80];
	const char *p, *end;

	snprintf(key, sizeof(key), "public_key=%s\n", hex);
	p = strstr(get, key);
	assert_non_null(p);
	end = strstr(p + 1, "public_key=");
	if (!end)
		end = p + strlen(p);
	assert_true((size_t)(end - p) < cap);
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
}

/* Make before break (core/mbb.h): an accept-only IP is accepted from the
 * peer although another peer holds it as an allowed IP, an address neither
 * allowed nor accept-only is not; with the promote mark, the next completed
 * handshake moves the accept-only IPs to the peer's allowed IPs (taken from
 * the other peer) before its first packet is checked. */
static void test_accept_only_and_promote(void **state)
{
	static const uint8_t dev_priv[32] = {0x48, 1,  2,  3,  4,  5,  6,  7,  8,  9,	10,
					     11,   12, 13, 14, 15, 16, 17, 18, 19, 20,	21,
					     22,   23, 24, 25, 26, 27, 28, 29, 30, 0x71};
	static const uint8_t me_priv[32] = {0x60, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
					    7,	  7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 0x47};
	static const uint8_t other_priv[32] = {0x68, 5, 5, 5, 5, 5, 5, 5, 5, 5,	  5,
					       5,    5, 5, 5, 5, 5, 5, 5, 5, 5,	  5,
					       5,    5, 5, 5, 5, 5, 5, 5, 5, 0x45};
	struct wgn_static dev_s = {0}, me = {0}, other = {0};
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	struct sockaddr_in mine = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	socklen_t alen = sizeof(mine);
	char req[1024], out[4096], sect[1024], hexd[65], hexp[65], hexo[65];
	const char *lp;
	struct wgp_aead_ctx *ctx;
	struct wgn_keys keys;
	uint32_t remote;
	int s, sniff;

	(void)state;
	if (!ready)
		skip();
	assert_int_equal(wgn_static_set(&dev_s, dev_priv), 0);
	assert_int_equal(wgn_static_set(&me, me_priv), 0);
	assert_int_equal(wgn_static_set(&other, other_priv), 0);
	for (int i = 0; i < 32; i++) {
		snprintf(hexd + 2 * i, 3, "%02x", dev_s.priv[i]);
		snprintf(hexp + 2 * i, 3, "%02x", me.pub[i]);
		snprintf(hexo + 2 * i, 3, "%02x", other.pub[i]);
	}
	assert_int_equal(system("ip link set lo up && ip link set wmdev0 up && "
				"ip addr replace 10.7.0.1/24 dev wmdev0"),
			 0);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&mine, sizeof(mine)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&mine, &alen), 0);
	snprintf(req, sizeof(req),
		 "set=1\nprivate_key=%s\nreplace_peers=true\n"
		 "public_key=%s\nendpoint=127.0.0.1:%u\nallowed_ip=10.7.0.2/32\n"
		 "accept_ip=10.7.0.3/32\n"
		 "public_key=%s\nallowed_ip=10.7.0.3/32\nallowed_ip=10.7.0.4/32\n\n",
		 hexd, hexp, ntohs(mine.sin_port), hexo);
	uapi_request(req, out, sizeof(out));
	assert_string_equal(out, "errno=0\n\n");
	uapi_request("get=1\n\n", out, sizeof(out));
	peer_section(out, hexp, sect, sizeof(sect));
	assert_non_null(strstr(sect, "accept_ip=10.7.0.3/32\n"));
	assert_null(strstr(sect, "promote_on_handshake"));
	lp = strstr(out, "listen_port=");
	assert_non_null(lp);
	to.sin_port = htons((uint16_t)atoi(lp + 12));
	sniff = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(sniff >= 0);
	ll.sll_ifindex = (int)if_nametoindex("wmdev0");
	assert_int_equal(bind(sniff, (struct sockaddr *)&ll, sizeof(ll)), 0);

	handshake(s, &to, &me, dev_s.pub, 91, 20, &keys);
	ctx = wgp_aead_ctx_new(keys.send, true);
	assert_non_null(ctx);
	remote = keys.remote_index;
	send_data(s, &to, ctx, remote, 0, 3); /* accept-only: taken */
	assert_int_equal(delivered_from(sniff, 3), 1);
	send_data(s, &to, ctx, remote, 1, 4); /* the other peer's: dropped */
	assert_int_equal(delivered_from(sniff, 4), 0);
	wgp_aead_ctx_free(ctx);

	/* The promote mark: 10.7.0.4 becomes ours at the next handshake. */
	snprintf(req, sizeof(req),
		 "set=1\npublic_key=%s\nreplace_allowed_ips=true\npromote_on_handshake=true\n"
		 "allowed_ip=10.7.0.2/32\naccept_ip=10.7.0.4/32\n\n",
		 hexp);
	uapi_request(req, out, sizeof(out));
	assert_string_equal(out, "errno=0\n\n");
	uapi_request("get=1\n\n", out, sizeof(out));
	peer_section(out, hexp, sect, sizeof(sect));
	assert_non_null(strstr(sect, "promote_on_handshake=true\n"));
	assert_null(strstr(sect, "10.7.0.3"));
	handshake(s, &to, &me, dev_s.pub, 92, 20, &keys);
	ctx = wgp_aead_ctx_new(keys.send, true);
	assert_non_null(ctx);
	remote = keys.remote_index;
	send_data(s, &to, ctx, remote, 0, 4);
	assert_int_equal(delivered_from(sniff, 4), 1);
	uapi_request("get=1\n\n", out, sizeof(out));
	peer_section(out, hexp, sect, sizeof(sect));
	assert_non_null(strstr(sect, "allowed_ip=10.7.0.4/32\n"));
	assert_null(strstr(sect, "accept_ip="));
	assert_null(strstr(sect, "promote_on_handshake"));
	peer_section(out, hexo, sect, sizeof(sect));
	assert_non_null(strstr(sect, "allowed_ip=10.7.0.3/32\n"));
	assert_null(strstr(sect, "10.7.0.4"));

	wgp_aead_ctx_free(ctx);
	close(sniff);
	close(s);
	wgn_static_clear(&dev_s);
	wgn_static_clear(&me);
	wgn_static_clear(&other);
}
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uapi_socket_owner_only),
		cmocka_unit_test(test_uapi_slow_client_does_not_stall),
		cmocka_unit_test(test_garbage_datagrams),
		cmocka_unit_test(test_data_path_source_and_replay),
		cmocka_unit_test(test_burst_order),
		cmocka_unit_test(test_accept_only_and_promote),
	};
	const struct CMUnitTest pooled[] = {
		cmocka_unit_test(test_data_path_source_and_replay),
		cmocka_unit_test(test_burst_order),
	};
	int fails = cmocka_run_group_tests_name("no crypto workers", tests, setup, teardown);

	fails += cmocka_run_group_tests_name("three crypto workers", pooled, setup_workers,
					     teardown);
	if (ready)
		(void)rmdir(dir);
	return fails;
}
