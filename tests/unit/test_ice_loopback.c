/* Two ICE sides (src/nat/ice.c), each with its own GLib thread, negotiate
 * over loopback host candidates with the parameters handed across directly
 * (the signaling stand-in), then carry datagrams between two sockets that
 * stand in for the two WireGuard ports. A second session replaces the first
 * and works the same; closing everything leaves nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "nat/ice.h"

struct side {
	const char *name;
	struct wm_ice *ice;
	struct wm_ice_peer *peer;
	uint16_t relay_port;
	int wg_fd;
	uint16_t wg_port;
	struct side *other;
	uint64_t session;
	bool connected;
	bool failed;
	unsigned params_events;
};

static uv_loop_t loop;
static struct side A = {.name = "a"}, B = {.name = "b"};
static struct wm_prefix lo;
static int freed;

static void start(struct side *s, bool controlling, const struct wm_ice_params *remote)
{
	struct wm_ice_session_config sc = {
		.session = s->session,
		.controlling = controlling,
		.local_addrs = &lo,
		.n_local_addrs = 1,
		.remote = remote,
	};
	assert_int_equal(wm_ice_peer_start(s->peer, &sc), 0);
}

static void event_cb(void *data, const struct wm_ice_event *ev)
{
	struct side *s = data;

	assert_ptr_equal(ev->peer, s->peer);
	assert_ptr_equal(ev->peer_data, s);
	if (ev->session != s->session)
		return; /* a previous session's late news */
	if (ev->type == WM_ICE_EV_LOCAL_PARAMS) {
		s->params_events++;
		assert_true(ev->params->n_cand > 0);
		assert_true(strlen(ev->params->ufrag) >= 4);
		if (s == &A) /* the offer: B answers */
			start(&B, false, ev->params);
		else /* the answer */
			assert_int_equal(wm_ice_peer_set_remote(A.peer, A.session, ev->params), 0);
		return;
	}
	if (ev->state == WM_ICE_CONNECTED)
		s->connected = true;
	if (ev->state == WM_ICE_FAILED)
		s->failed = true;
	if ((A.connected && B.connected) || s->failed)
		uv_stop(&loop);
}

static void timeout_cb(uv_timer_t *t)
{
	(void)t;
	uv_stop(&loop);
}

static int udp_socket(uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {.tv_sec = 5};

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	*port = ntohs(sin.sin_port);
	return fd;
}

static void open_side(struct side *s)
{
	char err[256];
	struct wm_ice_config cfg = {
		.loop = &loop,
		.wg_port = 0,
		.event_cb = event_cb,
		.data = s,
	};

	s->wg_fd = udp_socket(&s->wg_port);
	cfg.wg_port = s->wg_port;
	assert_int_equal(wm_ice_new(&cfg, &s->ice, err, sizeof(err)), 0);
	assert_int_equal(wm_ice_peer_open(s->ice, s->other->name, s, &s->peer, &s->relay_port), 0);
	assert_true(s->relay_port != 0);
}

static void negotiate(uint64_t session)
{
	uv_timer_t timer;

	A.session = B.session = session;
	A.connected = B.connected = A.failed = B.failed = false;
	start(&A, true, NULL);
	uv_timer_init(&loop, &timer);
	uv_timer_start(&timer, timeout_cb, 20000, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&timer, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_false(A.failed);
	assert_false(B.failed);
	assert_true(A.connected && B.connected);
}

/* WireGuard A sends to its relay; WireGuard B receives from its own relay. */
static void carry(struct side *from, struct side *to, const char *text)
{
	struct sockaddr_in dst = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				  .sin_port = htons(from->relay_port)};
	struct sockaddr_in src;
	socklen_t sl = sizeof(src);
	char buf[256];
	ssize_t n;

	/* The path may take a moment after CONNECTED on the far side: retry a
	 * few times, each bounded by the receive timeout. */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(sendto(from->wg_fd, text, strlen(text), 0, (struct sockaddr *)&dst,
					sizeof(dst)),
				 (ssize_t)strlen(text));
		n = recvfrom(to->wg_fd, buf, sizeof(buf), 0, (struct sockaddr *)&src, &sl);
		if (n >= 0)
			break;
	}
	assert_int_equal(n, (ssize_t)strlen(text));
	assert_memory_equal(buf, text, (size_t)n);
	assert_int_equal(ntohs(src.sin_port), to->relay_port);
}

static void done_cb(void *data)
{
	(void)data;
	freed++;
}

static void test_loopback(void **state)
{
	(void)state;
	struct wm_ice_status st;

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(wm_prefix_parse("127.0.0.1", &lo), 0);
	A.other = &B;
	B.other = &A;
	open_side(&A);
	open_side(&B);

	negotiate(1);
	carry(&A, &B, "ping over ice");
	carry(&B, &A, "pong over ice");
	/* the counters move on the GLib thread just after the datagram went */
	for (int i = 0; i < 500; i++) {
		wm_ice_peer_status(A.peer, &st);
		if (st.tx_packets >= 1 && st.rx_packets >= 1)
			break;
		usleep(10000);
	}
	assert_int_equal(st.session, 1);
	assert_int_equal(st.state, WM_ICE_CONNECTED);
	assert_true(st.controlling);
	assert_string_equal(st.local_type, "host");
	assert_string_equal(st.remote_type, "host");
	assert_false(st.relayed);
	assert_int_equal(st.relay_port, A.relay_port);
	assert_true(st.tx_packets >= 1);
	assert_true(st.rx_packets >= 1);
	assert_true(st.rx_idle_ms >= 0);
	assert_true(strncmp(st.remote_addr, "127.0.0.1:", 10) == 0);
	/* the session's candidates: the one each side gathered on 127.0.0.1,
	 * and the selected pair among them */
	assert_int_equal(st.n_local_cands, 1);
	assert_int_equal(st.n_remote_cands, 1);
	assert_string_equal(st.local_cands[0].type, "host");
	assert_string_equal(st.local_cands[0].addr, st.local_addr);
	assert_string_equal(st.remote_cands[0].type, "host");
	assert_string_equal(st.remote_cands[0].addr, st.remote_addr);

	/* a new session replaces the old one; the relay ports stay */
	negotiate(2);
	carry(&A, &B, "again");
	wm_ice_peer_status(B.peer, &st);
	assert_int_equal(st.session, 2);
	assert_int_equal(st.sessions, 2);
	assert_false(st.controlling);
	assert_int_equal(st.relay_port, B.relay_port);

	/* stopping ends the session but keeps the relay */
	wm_ice_peer_stop(A.peer);
	wm_ice_free(A.ice, done_cb, NULL);
	wm_ice_free(B.ice, done_cb, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(freed, 2);
	assert_int_equal(uv_loop_close(&loop), 0);
	close(A.wg_fd);
	close(B.wg_fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
