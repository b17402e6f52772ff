/* Unit tests for src/p2p/relay.c and host.c's stream API on a real loop
 * over loopback: three hosts, a relay R and two clients that reserve on it.
 * A asks for a stream to B with relay allowed: the host dials B through R
 * (hop CONNECT, stop, Noise and yamux over the circuit), then a stream of
 * a protocol B handles echoes through it; a protocol B does not handle ends
 * in gone; the relay counts the circuit and closes it at its byte limit. */
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
#include "p2p/host.h"
#include "p2p/yamux.h"

/* wm_p2p_open's way to a peer with no connection: through a relay. */
static const struct wm_p2p_dial via_relay = {.relay = true};

#define ECHO_PROTO "/wmtest/echo/1.0.0"

static char dir[] = "/tmp/wm-p2p-relay-XXXXXX";

static struct wm_p2p *start(uv_loop_t *loop, const char *name, char **listen, size_t nl,
			    char **peers, size_t np, bool relay, uint32_t circuit_bytes)
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
		.ping_interval_ms = 0,
		.max_conns = 8,
		.max_streams = 16,
		.log_level = 3,
		.relay = relay,
		.relay_limits = {.max_reservations = 4,
				 .max_per_source = 4,
				 .reservation_ttl_s = 60,
				 .max_circuits = 4,
				 .max_circuits_per_peer = 2,
				 .circuit_bytes = circuit_bytes},
	};

	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	if (wm_p2p_new(&c, &p, err, sizeof(err)))
		fail_msg("wm_p2p_new %s: %s", name, err);
	return p;
}

/* The loop until pred holds, at most 15 s. */
static bool run_until(uv_loop_t *loop, bool (*pred)(void *), void *arg)
{
	return wm_test_loop_until(loop, pred, arg, 15000);
}

/* B's side of the echo protocol: everything back, close when the peer does. */
static void echo_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	(void)ud;
	wm_p2p_write(s, buf, len);
}

static void echo_fin(void *ud, struct wm_p2p_stream *s)
{
	(void)ud;
	wm_p2p_close(s);
}

static void echo_gone(void *ud, struct wm_p2p_stream *s)
{
	(void)ud;
	(void)s;
}

static const struct wm_p2p_stream_cb echo_cb = {echo_data, echo_fin, echo_gone};

static int echo_accept(void *arg, struct wm_p2p_stream *s, const struct wm_p2p_stream_cb **cb,
		       void **ud)
{
	(void)s;
	(*(int *)arg)++;
	*cb = &echo_cb;
	*ud = NULL;
	return 0;
}

/* A's side: collects what comes back. */
struct got {
	uint8_t buf[256];
	size_t n;
	bool fin, gone;
};

static void got_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	struct got *g = ud;

	(void)s;
	if (len <= sizeof(g->buf) - g->n) {
		memcpy(g->buf + g->n, buf, len);
		g->n += len;
	}
}

static void got_fin(void *ud, struct wm_p2p_stream *s)
{
	((struct got *)ud)->fin = true;
	wm_p2p_close(s);
}

static void got_gone(void *ud, struct wm_p2p_stream *s)
{
	(void)s;
	((struct got *)ud)->gone = true;
}

static const struct wm_p2p_stream_cb got_cb = {got_data, got_fin, got_gone};

struct lab {
	struct wm_p2p *r, *a, *b;
	struct wm_p2p_status st;
	struct wm_peer_id bid;
	struct got g;
};

static bool both_reserved(void *arg)
{
	struct lab *l = arg;
	struct wm_p2p_status sb;

	wm_p2p_status(l->a, &l->st);
	wm_p2p_status(l->b, &sb);
	return l->st.nrsvps == 1 && sb.nrsvps == 1;
}

static bool a_relayed_to_b(void *arg)
{
	struct lab *l = arg;

	return wm_p2p_connected(l->a, &l->bid) == 2;
}

static bool echoed(void *arg)
{
	struct lab *l = arg;

	return l->g.n == 5 && l->g.gone;
}

static bool refused(void *arg)
{
	return ((struct lab *)arg)->g.gone;
}

static bool circuit_closed(void *arg)
{
	struct lab *l = arg;

	return wm_p2p_connected(l->a, &l->bid) == 0;
}

static void relay_addr(struct wm_p2p *r, char *out, size_t len)
{
	struct wm_p2p_status s;

	wm_p2p_status(r, &s);
	snprintf(out, len, "%s/p2p/%s", s.listen[0], s.peer_id);
}

static void test_relayed_streams(void **state)
{
	uv_loop_t loop;
	char *listen[] = {"/ip4/127.0.0.1/tcp/0"};
	char raddr[300], *peers[1] = {raddr};
	struct lab l = {0};
	struct wm_p2p_stream *s;
	int accepted = 0;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	/* Little enough that the echo test below passes and more pings do not. */
	l.r = start(&loop, "r", listen, 1, NULL, 0, true, 16384);
	relay_addr(l.r, raddr, sizeof(raddr));
	l.a = start(&loop, "a", NULL, 0, peers, 1, false, 0);
	l.b = start(&loop, "b", NULL, 0, peers, 1, false, 0);
	assert_int_equal(wm_p2p_handle(l.b, ECHO_PROTO, echo_accept, &accepted), 0);
	assert_int_equal(wm_p2p_handle(l.b, ECHO_PROTO, echo_accept, &accepted), -EEXIST);
	assert_int_equal(wm_p2p_handle(l.b, "no slash", echo_accept, &accepted), -EINVAL);
	wm_p2p_status(l.b, &l.st);
	assert_int_equal(wm_peer_id_parse(l.st.peer_id, &l.bid), 0);

	assert_true(run_until(&loop, both_reserved, &l));
	wm_p2p_status(l.a, &l.st);
	assert_true(strstr(l.st.rsvps[0].addrs[0], "/p2p-circuit") != NULL);

	/* No connection to B: with relay allowed, one is started through R. */
	assert_int_equal(wm_p2p_open(l.a, &l.bid, ECHO_PROTO, NULL, &got_cb, &l.g, &s), -ENOTCONN);
	assert_int_equal(wm_p2p_open(l.a, &l.bid, ECHO_PROTO, &via_relay, &got_cb, &l.g, &s),
			 -EINPROGRESS);
	assert_true(run_until(&loop, a_relayed_to_b, &l));
	wm_p2p_status(l.a, &l.st);
	bool seen = false;
	for (size_t i = 0; i < l.st.nconns; i++)
		seen = seen || (l.st.conns[i].relayed &&
				!strcmp(l.st.conns[i].relay_id, l.st.rsvps[0].relay_id));
	assert_true(seen);
	wm_p2p_status(l.r, &l.st);
	assert_true(l.st.relay);
	assert_int_equal(l.st.relay_reservations, 2);
	assert_int_equal(l.st.relay_circuits, 1);

	/* A stream through the circuit: written before B accepted, echoed. */
	assert_int_equal(wm_p2p_open(l.a, &l.bid, ECHO_PROTO, NULL, &got_cb, &l.g, &s), 0);
	assert_true(wm_p2p_stream_relayed(s));
	assert_int_equal(wm_p2p_write(s, "hello", 5), 0);
	wm_p2p_close(s);
	assert_true(run_until(&loop, echoed, &l));
	assert_memory_equal(l.g.buf, "hello", 5);
	assert_int_equal(accepted, 1);

	/* A protocol B does not speak: refused, the owner told. */
	memset(&l.g, 0, sizeof(l.g));
	assert_int_equal(wm_p2p_open(l.a, &l.bid, "/wmtest/nothing/1.0.0", NULL, &got_cb, &l.g, &s),
			 0);
	assert_true(run_until(&loop, refused, &l));
	assert_int_equal(l.g.n, 0);

	/* Streams of 4 KiB each way until the relay's 16 KiB limit ends the
	 * circuit, and with it the relayed connection. */
	static uint8_t big[4096];
	for (int i = 0; i < 8 && wm_p2p_connected(l.a, &l.bid); i++) {
		memset(&l.g, 0, sizeof(l.g));
		if (wm_p2p_open(l.a, &l.bid, ECHO_PROTO, NULL, &got_cb, &l.g, &s))
			break;
		wm_p2p_write(s, big, sizeof(big));
		wm_p2p_close(s);
		run_until(&loop, refused, &l);
	}
	assert_true(run_until(&loop, circuit_closed, &l));
	wm_p2p_status(l.r, &l.st);
	assert_int_equal(l.st.relay_circuits, 0);

	wm_p2p_free(l.a, NULL, NULL);
	wm_p2p_free(l.b, NULL, NULL);
	wm_p2p_free(l.r, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* B's sink: counts, and holds its reads until told. */
static struct wm_p2p_stream *sink_s;
static size_t sink_n;

static void sink_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	(void)ud;
	(void)s;
	(void)buf;
	sink_n += len;
}

static void sink_gone(void *ud, struct wm_p2p_stream *s)
{
	(void)ud;
	(void)s;
	sink_s = NULL;
}

static const struct wm_p2p_stream_cb sink_cb = {sink_data, echo_fin, sink_gone};

static int sink_accept(void *arg, struct wm_p2p_stream *s, const struct wm_p2p_stream_cb **cb,
		       void **ud)
{
	(void)arg;
	sink_s = s;
	wm_p2p_hold(s, true);
	*cb = &sink_cb;
	*ud = NULL;
	return 0;
}

static bool past(void *arg)
{
	return uv_hrtime() >= *(uint64_t *)arg;
}

static bool sink_full(void *arg)
{
	(void)arg;
	return sink_n >= WM_YAMUX_WINDOW - 128; /* the window, less the negotiation */
}

static bool sink_all(void *arg)
{
	(void)arg;
	return sink_n == 4 * WM_YAMUX_WINDOW;
}

/* A target that does not read: the end-to-end yamux window (A to B, inside
 * the circuit) stops A at B's window, the rest waits at A, the circuit
 * stays up; read again, everything flows. (The relay's own hold, for when
 * its link to B is the slow part, is yamux's test_hold: on loopback that
 * link is never slower.) */
static void test_relay_backpressure(void **state)
{
	uv_loop_t loop;
	char *listen[] = {"/ip4/127.0.0.1/tcp/0"};
	char raddr[300], *peers[1] = {raddr};
	struct lab l = {0};
	struct wm_p2p_stream *s;
	static uint8_t chunk[64 * 1024];

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	l.r = start(&loop, "r", listen, 1, NULL, 0, true, 0);
	relay_addr(l.r, raddr, sizeof(raddr));
	l.a = start(&loop, "a", NULL, 0, peers, 1, false, 0);
	l.b = start(&loop, "b", NULL, 0, peers, 1, false, 0);
	assert_int_equal(wm_p2p_handle(l.b, "/wmtest/sink/1.0.0", sink_accept, NULL), 0);
	wm_p2p_status(l.b, &l.st);
	assert_int_equal(wm_peer_id_parse(l.st.peer_id, &l.bid), 0);
	assert_true(run_until(&loop, both_reserved, &l));
	assert_int_equal(
		wm_p2p_open(l.a, &l.bid, "/wmtest/sink/1.0.0", &via_relay, &got_cb, &l.g, &s),
		-EINPROGRESS);
	assert_true(run_until(&loop, a_relayed_to_b, &l));
	assert_int_equal(wm_p2p_open(l.a, &l.bid, "/wmtest/sink/1.0.0", NULL, &got_cb, &l.g, &s),
			 0);
	/* 1 MiB: B takes its window's worth, the rest waits at A. */
	for (size_t i = 0; i < 4 * WM_YAMUX_WINDOW / sizeof(chunk); i++)
		assert_int_equal(wm_p2p_write(s, chunk, sizeof(chunk)), 0);
	if (!run_until(&loop, sink_full, &l))
		fail_msg("sink got %zu", sink_n);
	/* Half a second for everything that can move to move. */
	uint64_t until = uv_hrtime() + 500000000ull;
	assert_true(run_until(&loop, past, &until));
	assert_true(sink_n <= WM_YAMUX_WINDOW); /* nothing beyond what B granted */
	assert_int_equal(wm_p2p_connected(l.a, &l.bid), 2);
	assert_true(wm_p2p_pending(s) > 0);
	wm_p2p_status(l.r, &l.st);
	assert_int_equal(l.st.relay_circuits, 1);
	assert_non_null(sink_s);
	wm_p2p_hold(sink_s, false);
	assert_true(run_until(&loop, sink_all, &l));
	assert_int_equal(wm_p2p_pending(s), 0);

	wm_p2p_free(l.a, NULL, NULL);
	wm_p2p_free(l.b, NULL, NULL);
	wm_p2p_free(l.r, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static bool a_connected_to_b(void *arg)
{
	struct lab *l = arg;

	return wm_p2p_connected(l->a, &l->bid) == 1;
}

static bool answered(void *arg)
{
	struct lab *l = arg;

	return l->g.gone || l->g.fin;
}

/* The stop side from the attacker's side: a peer that is no relay we hold a
 * reservation on offers us a "relayed" connection (a STOP CONNECT naming
 * whoever it likes). It is refused with PERMISSION_DENIED and nothing runs
 * over the stream; without the reservation check it became a connection
 * in the name of the peer the stranger chose. */
static void test_stop_from_a_stranger_refused(void **state)
{
	uv_loop_t loop;
	char *listen[] = {"/ip4/127.0.0.1/tcp/0"};
	char baddr[300], *peers[1] = {baddr};
	struct lab l = {0};
	struct wm_p2p_stream *s;
	uint8_t msg[512];
	size_t used = 0;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	l.b = start(&loop, "b", listen, 1, NULL, 0, false, 0);
	relay_addr(l.b, baddr, sizeof(baddr));
	l.a = start(&loop, "a", NULL, 0, peers, 1, false, 0);
	wm_p2p_status(l.b, &l.st);
	assert_int_equal(wm_peer_id_parse(l.st.peer_id, &l.bid), 0);
	assert_true(run_until(&loop, a_connected_to_b, &l));

	struct wm_relay_msg m = {.hop = false, .type = WM_STOP_CONNECT, .has_peer = true};
	wm_p2p_status(l.a, &l.st);
	assert_int_equal(wm_peer_id_parse(l.st.peer_id, &m.peer), 0);
	int n = wm_relay_msg_write(&m, msg, sizeof(msg));
	assert_true(n > 0);
	assert_int_equal(wm_p2p_open(l.a, &l.bid, WM_RELAY_STOP_PROTOCOL, NULL, &got_cb, &l.g, &s),
			 0);
	assert_int_equal(wm_p2p_write(s, msg, (size_t)n), 0);
	assert_true(run_until(&loop, answered, &l));
	struct wm_relay_msg st;
	assert_int_equal(wm_relay_msg_read(false, l.g.buf, l.g.n, &st, &used), 1);
	assert_int_equal(st.type, WM_STOP_STATUS);
	assert_true(st.has_status);
	assert_int_equal(st.status, WM_RELAY_PERMISSION_DENIED);
	wm_p2p_status(l.b, &l.st);
	for (size_t i = 0; i < l.st.nconns; i++)
		assert_false(l.st.conns[i].relayed);

	wm_p2p_free(l.a, NULL, NULL);
	wm_p2p_free(l.b, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static int setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN); /* as webmeshd: a peer gone is an error, not a signal */
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	const char *names[] = {"r", "a", "b"};
	char path[256];

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
		cmocka_unit_test(test_relayed_streams),
		cmocka_unit_test(test_relay_backpressure),
		cmocka_unit_test(test_stop_from_a_stranger_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
