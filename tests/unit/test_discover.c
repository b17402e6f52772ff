/* Endpoint discovery (src/nat/discover.c) against fake STUN servers on
 * loopback, built with libnice's STUN library: a cone NAT (both servers see
 * the same mapping), a symmetric one (they differ), a server that never
 * answers, a server that answers for another transaction, and --endpoints.
 * Two more servers listen on ::1 and report an IPv6 mapping: both families are
 * asked from one socket, and each family is judged on its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <stun/stunagent.h>

#include "nat/discover.h"

struct fake {
	uv_udp_t udp;
	bool v6; /* listens on ::1, reports 2001:db8::5 */
	uint16_t port;
	int port_offset; /* added to the client's port in the answer: != 0 is "symmetric" */
	bool silent;	 /* never answers */
	bool wrong_txid; /* answers another transaction first */
	unsigned requests;
	uint8_t buf[1500];
};

static uv_loop_t loop;
#define N_FAKES 4
static struct fake servers[N_FAKES];
static struct wm_nat_discovery result;
static int result_err = 1;

static const uint16_t KNOWN[] = {STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, STUN_ATTRIBUTE_FINGERPRINT, 0};

static void alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *b)
{
	struct fake *f = h->data;
	(void)s;
	*b = uv_buf_init((char *)f->buf, sizeof(f->buf));
}

static void fake_recv_cb(uv_udp_t *u, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
			 unsigned flags)
{
	struct fake *f = u->data;
	StunAgent agent;
	StunMessage rq, rs;
	uint8_t out[512];
	struct sockaddr_storage mapped;

	(void)flags;
	if (n <= 0 || !from)
		return;
	f->requests++;
	if (f->silent)
		return;
	stun_agent_init(&agent, KNOWN, STUN_COMPATIBILITY_RFC5389,
			STUN_AGENT_USAGE_USE_FINGERPRINT | STUN_AGENT_USAGE_IGNORE_CREDENTIALS);
	assert_int_equal(
		stun_agent_validate(&agent, &rq, (uint8_t *)b->base, (size_t)n, NULL, NULL),
		STUN_VALIDATION_SUCCESS);
	memset(&mapped, 0, sizeof(mapped));
	if (f->v6) {
		struct sockaddr_in6 *m = (struct sockaddr_in6 *)&mapped;

		*m = *(const struct sockaddr_in6 *)from;
		inet_pton(AF_INET6, "2001:db8::5", &m->sin6_addr);
		m->sin6_port = htons((uint16_t)(ntohs(m->sin6_port) + f->port_offset));
	} else {
		struct sockaddr_in *m = (struct sockaddr_in *)&mapped;

		/* The dual-stack client must reach an IPv4-only socket as IPv4. */
		assert_int_equal(from->sa_family, AF_INET);
		*m = *(const struct sockaddr_in *)from;
		inet_pton(AF_INET, "203.0.113.5", &m->sin_addr);
		m->sin_port = htons((uint16_t)(ntohs(m->sin_port) + f->port_offset));
	}
	assert_true(stun_agent_init_response(&agent, &rs, out, sizeof(out), &rq));
	assert_int_equal(stun_message_append_xor_addr(
				 &rs, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, &mapped,
				 f->v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)),
			 STUN_MESSAGE_RETURN_SUCCESS);
	size_t len = stun_agent_finish_message(&agent, &rs, NULL, 0);
	if (f->wrong_txid) {
		out[10] ^= 0xff; /* another transaction: ignored, and retried */
		f->wrong_txid = false;
	}
	uv_buf_t ob = uv_buf_init((char *)out, (unsigned)len);
	assert_true(uv_udp_try_send(u, &ob, 1, from) > 0);
}

static void fake_start(struct fake *f)
{
	struct sockaddr_storage ss = {0};
	int len = sizeof(ss);

	if (f->v6) {
		ss.ss_family = AF_INET6;
		inet_pton(AF_INET6, "::1", &((struct sockaddr_in6 *)&ss)->sin6_addr);
	} else {
		ss.ss_family = AF_INET;
		inet_pton(AF_INET, "127.0.0.1", &((struct sockaddr_in *)&ss)->sin_addr);
	}
	assert_int_equal(uv_udp_init(&loop, &f->udp), 0);
	f->udp.data = f;
	assert_int_equal(uv_udp_bind(&f->udp, (struct sockaddr *)&ss, 0), 0);
	assert_int_equal(uv_udp_getsockname(&f->udp, (struct sockaddr *)&ss, &len), 0);
	f->port = ntohs(f->v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
			      : ((struct sockaddr_in *)&ss)->sin_port);
	assert_int_equal(uv_udp_recv_start(&f->udp, alloc_cb, fake_recv_cb), 0);
}

static void done_cb(void *data, int err, const struct wm_nat_discovery *d)
{
	(void)data;
	result_err = err;
	result = *d;
	for (int i = 0; i < N_FAKES; i++)
		uv_close((uv_handle_t *)&servers[i].udp, NULL);
}

static struct wm_endpoint ep(const char *s)
{
	struct wm_endpoint e;
	assert_int_equal(wm_endpoint_parse(s, &e), 0);
	return e;
}

static void run(int offset2, bool silent2, bool wrong1, const struct wm_endpoint *ovr, size_t n_ovr)
{
	struct wm_endpoint stun[N_FAKES];
	struct wm_nat_discover_opts o = {.wg_port = 51820, .timeout_ms = 600};

	memset(servers, 0, sizeof(servers));
	memset(&result, 0, sizeof(result));
	result_err = 1;
	servers[1].port_offset = offset2;
	servers[1].silent = silent2;
	servers[0].wrong_txid = wrong1;
	for (int i = 0; i < N_FAKES; i++) {
		servers[i].v6 = i >= 2;
		fake_start(&servers[i]);
		stun[i] = ep(servers[i].v6 ? "[::1]:1" : "127.0.0.1:1");
		stun[i].port = servers[i].port;
	}
	o.stun = stun;
	o.n_stun = N_FAKES;
	o.overrides = ovr;
	o.n_overrides = n_ovr;
	assert_int_equal(wm_nat_discover(&loop, &o, done_cb, NULL, NULL), 0);
	assert_int_equal(result_err, 1); /* never from within the call */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(result_err, 0);
	assert_int_equal(result.n_mapped, N_FAKES);
	/* Both IPv6 servers answered, from the same local port. */
	assert_int_equal(result.mapped[2].ip.family, AF_INET6);
	assert_int_equal(result.mapped[2].port, result.stun_local_port);
	assert_int_equal(result.nat6.mapping, WM_NAT_EIM);
	assert_true(result.nat6.port_preserved);
}

static bool advertises(const char *s)
{
	struct wm_endpoint e = ep(s);

	for (size_t i = 0; i < result.n_endpoints; i++)
		if (wm_endpoint_equal(&result.endpoints[i], &e))
			return true;
	return false;
}

static void test_cone(void **state)
{
	(void)state;
	run(0, false, false, NULL, 0);
	assert_int_equal(result.nat.mapping, WM_NAT_EIM);
	assert_true(result.nat.port_preserved);
	assert_int_equal(result.mapped[0].port, result.stun_local_port);
	assert_int_equal(result.nat.mapped.port, result.stun_local_port);
	assert_true(advertises("203.0.113.5:51820"));
	assert_true(advertises("[2001:db8::5]:51820"));
}

static void test_symmetric(void **state)
{
	(void)state;
	run(7, false, false, NULL, 0);
	/* The IPv4 NAT is symmetric; the IPv6 path is not, and the answers of
	 * the two families are never compared with each other. */
	assert_int_equal(result.nat.mapping, WM_NAT_EDM);
	assert_false(advertises("203.0.113.5:51820"));
	assert_true(advertises("[2001:db8::5]:51820"));
}

static void test_silent_server_and_stale_answer(void **state)
{
	(void)state;
	run(0, true, true, NULL, 0);
	assert_int_equal(result.mapped[1].ip.family, 0);
	assert_int_equal(result.mapped[0].ip.family, AF_INET);
	assert_true(servers[0].requests >= 2); /* the stale answer made it ask again */
	assert_true(servers[1].requests >= 2); /* retransmitted */
	assert_int_equal(result.nat.mapping, WM_NAT_UNKNOWN);
	assert_false(advertises("203.0.113.5:51820")); /* one answer is not enough */
}

static void test_overrides(void **state)
{
	(void)state;
	struct wm_endpoint ovr[] = {ep("198.51.100.1:4000")};

	run(0, false, false, ovr, 1);
	assert_int_equal(result.n_endpoints, 1);
	assert_true(advertises("198.51.100.1:4000"));
	assert_int_equal(result.nat.mapping, WM_NAT_EIM); /* still learnt */
}

static void cancel_cb(void *data, int err, const struct wm_nat_discovery *d)
{
	(void)d;
	*(int *)data = err;
}

static void test_cancel_and_no_servers(void **state)
{
	(void)state;
	struct wm_nat_discover_opts o = {.wg_port = 51820};
	struct wm_nat_discover_req *req;
	struct wm_endpoint stun = ep("127.0.0.1:9");
	int err = 1;

	o.stun = &stun;
	o.n_stun = 1;
	assert_int_equal(wm_nat_discover(&loop, &o, cancel_cb, &err, &req), 0);
	wm_nat_discover_cancel(req);
	assert_int_equal(err, -ECANCELED);
	uv_run(&loop, UV_RUN_DEFAULT);

	o.n_stun = 0;
	err = 1;
	assert_int_equal(wm_nat_discover(&loop, &o, cancel_cb, &err, NULL), 0);
	assert_int_equal(err, 1);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(err, 0);
	o.n_stun = WM_NAT_MAX_STUN + 1;
	assert_int_equal(wm_nat_discover(&loop, &o, cancel_cb, &err, NULL), -EINVAL);
}

static int setup(void **state)
{
	(void)state;
	return uv_loop_init(&loop);
}

static int teardown(void **state)
{
	(void)state;
	uv_run(&loop, UV_RUN_DEFAULT);
	return uv_loop_close(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cone),
		cmocka_unit_test(test_symmetric),
		cmocka_unit_test(test_silent_server_and_stale_answer),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_cancel_and_no_servers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
