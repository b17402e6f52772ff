/* Unit tests for host.h's one stream API (src/p2p/host.c) on a real loop
 * over loopback: a stream opened while its connection is dialed waits for it
 * (writes refused until opened), then carries bytes both ways; a dial that
 * fails or a protocol the peer stopped handling ends in gone; identify
 * reaches the watchers; the lookups without a way to the peer say so; a
 * connection's buffers are kept while traffic flows and freed once idle;
 * frames written in one pass of the loop leave in one write; a peer that
 * never reads cannot make us hold more than the write bound. */
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

#include "core/p2pwire.h"
#include "looprun.h"
#include "p2p/host.h"
#include "p2p/identify.h"
#include "p2p/yamux.h"

#define ECHO_PROTO "/webmesh-test/echo/1.0.0"

static char dir[] = "/tmp/wm-p2p-streams-XXXXXX";

static struct wm_p2p *start(uv_loop_t *loop, const char *name, char **listen, size_t nl)
{
	char key[256], err[512] = "";
	struct wm_p2p *p = NULL;
	struct wm_p2p_config c = {
		.loop = loop,
		.key_path = key,
		.listen = listen,
		.nlisten = nl,
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

static void closed_cb(void *data)
{
	(*(int *)data)++;
}

/* The loop until pred holds, at most 10 s. */
static bool run_until(uv_loop_t *loop, bool (*pred)(void *), void *arg)
{
	return wm_test_loop_until(loop, pred, arg, 10000);
}

static void free_hosts(uv_loop_t *loop, struct wm_p2p **h, int n)
{
	int closed = 0;

	for (int i = 0; i < n; i++)
		wm_p2p_free(h[i], closed_cb, &closed);
	for (int i = 0; i < 1000 && closed < n; i++)
		uv_run(loop, UV_RUN_ONCE);
	assert_int_equal(closed, n);
}

/* ---- the server side: echoes what it gets, closes when the peer does ---- */

static size_t echo_bytes; /* what the echo servers got, in all */

static void echo_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	(void)ud;
	echo_bytes += len;
	assert_int_equal(wm_p2p_write(s, buf, len), 0);
}

static void echo_fin(void *ud, struct wm_p2p_stream *s)
{
	(void)ud;
	wm_p2p_close(s);
}

static void echo_gone(void *ud, struct wm_p2p_stream *s)
{
	(void)s;
	(*(int *)ud)++;
}

static const struct wm_p2p_stream_cb echo_cb = {
	.data = echo_data,
	.fin = echo_fin,
	.gone = echo_gone,
};

static int echo_accept(void *arg, struct wm_p2p_stream *s, const struct wm_p2p_stream_cb **cb,
		       void **ud)
{
	(void)s;
	*cb = &echo_cb;
	*ud = arg;
	return 0;
}

/* ---- the client side ---- */

struct client {
	struct wm_p2p_stream *s;
	int opened, gone, fins;
	char got[64];
	size_t ngot;
};

static void c_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	struct client *c = ud;

	(void)s;
	assert_true(c->ngot + len < sizeof(c->got));
	memcpy(c->got + c->ngot, buf, len);
	c->ngot += len;
}

static void c_fin(void *ud, struct wm_p2p_stream *s)
{
	(void)s;
	((struct client *)ud)->fins++;
}

static void c_gone(void *ud, struct wm_p2p_stream *s)
{
	struct client *c = ud;

	(void)s;
	c->gone++;
	c->s = NULL;
}

static void c_opened(void *ud, struct wm_p2p_stream *s)
{
	struct client *c = ud;

	assert_ptr_equal(s, c->s);
	c->opened++;
}

static const struct wm_p2p_stream_cb client_cb = {
	.data = c_data,
	.fin = c_fin,
	.gone = c_gone,
	.opened = c_opened,
};

static bool c_is_opened(void *arg)
{
	return ((struct client *)arg)->opened > 0;
}

static bool c_is_gone(void *arg)
{
	return ((struct client *)arg)->gone > 0;
}

static bool c_got_hello(void *arg)
{
	struct client *c = arg;

	return c->ngot == 5 && !memcmp(c->got, "hello", 5);
}

struct seen {
	struct wm_peer_id want;
	int n;
	bool listed; /* identify listed our protocol */
};

static void on_identified(void *arg, const struct wm_peer_id *peer, const struct wm_identify *m)
{
	struct seen *w = arg;

	if (!wm_peer_id_equal(peer, &w->want))
		return;
	w->n++;
	for (size_t i = 0; i < m->nprotocols; i++)
		w->listed = w->listed || !strcmp(m->protocols[i], ECHO_PROTO);
}

static bool seen_once(void *arg)
{
	return ((struct seen *)arg)->n > 0;
}

/* B's listen address as a dial would get it from the DHT. */
static struct wm_p2p_dial dial_of(struct wm_p2p *b, uint8_t (*addrs)[WM_MADDR_MAX], size_t *lens)
{
	size_t n = wm_p2p_listen_addrs(b, addrs, lens, 4);

	assert_true(n >= 1);
	return (struct wm_p2p_dial){
		.addrs = (const uint8_t(*)[WM_MADDR_MAX])addrs, .lens = lens, .naddrs = n};
}

static void test_open_while_dialing(void **state)
{
	uv_loop_t *loop = *state;
	char *lb[] = {"/ip4/127.0.0.1/tcp/0"};
	struct wm_p2p *b = start(loop, "b", lb, 1), *a = start(loop, "a", NULL, 0);
	const struct wm_peer_id *bid = wm_p2p_id(b);
	uint8_t addrs[4][WM_MADDR_MAX];
	size_t lens[4];
	struct client c = {0};
	struct seen w = {.want = *bid};
	int server_gone = 0;

	assert_int_equal(wm_p2p_handle(b, ECHO_PROTO, echo_accept, &server_gone), 0);
	assert_int_equal(wm_p2p_handle(b, ECHO_PROTO, echo_accept, &server_gone), -EEXIST);
	assert_int_equal(wm_p2p_handle(b, "no slash", echo_accept, NULL), -EINVAL);
	assert_int_equal(wm_p2p_watch(a, on_identified, &w), 0);
	assert_ptr_equal(wm_p2p_loop(a), loop);

	/* No connection and no way to one: said at once, no callback. */
	assert_int_equal(wm_p2p_dial(a, bid, NULL), -ENOTCONN);
	assert_int_equal(wm_p2p_open(a, bid, ECHO_PROTO, NULL, &client_cb, &c, &c.s), -ENOTCONN);
	struct wm_p2p_dial none = {.naddrs = 0};
	assert_int_equal(wm_p2p_open(a, bid, ECHO_PROTO, &none, &client_cb, &c, &c.s),
			 -EHOSTUNREACH);
	assert_int_equal(wm_p2p_connected(a, bid), 0);

	/* Opened while dialing: it waits, and refuses writes until opened. */
	struct wm_p2p_dial to = dial_of(b, addrs, lens);
	assert_int_equal(wm_p2p_open(a, bid, ECHO_PROTO, &to, &client_cb, &c, &c.s), 0);
	assert_non_null(c.s);
	assert_int_equal(wm_p2p_write(c.s, "hello", 5), -EAGAIN);
	assert_int_equal(wm_p2p_dial(a, bid, NULL), -EINPROGRESS);
	struct wm_p2p_stream_info in;
	wm_p2p_stream_info(c.s, &in);
	assert_false(in.ready);
	assert_true(in.outbound);

	assert_true(run_until(loop, c_is_opened, &c));
	assert_int_equal(c.opened, 1);
	assert_int_equal(c.gone, 0);
	assert_int_equal(wm_p2p_connected(a, bid), 1);
	assert_int_equal(wm_p2p_dial(a, bid, &to), 0);
	wm_p2p_stream_info(c.s, &in);
	assert_true(in.ready);
	assert_false(in.relayed);
	assert_string_equal(in.relay_id, "");
	assert_non_null(strstr(in.remote, "/ip4/127.0.0.1/tcp/"));
	struct wm_peer_id peer;
	wm_p2p_stream_peer(c.s, &peer);
	assert_true(wm_peer_id_equal(&peer, bid));

	assert_int_equal(wm_p2p_write(c.s, "hel", 3), 0);
	assert_int_equal(wm_p2p_write(c.s, "lo", 2), 0);
	assert_true(wm_p2p_stream_queued(c.s) < WM_P2P_DGRAM_QUEUE_MAX);
	assert_true(run_until(loop, c_got_hello, &c));

	/* Identify reached the watcher, and listed B's protocol. */
	assert_true(run_until(loop, seen_once, &w));
	assert_true(w.listed);

	/* Closed both ways: gone on both sides, once. */
	wm_p2p_close(c.s);
	assert_true(run_until(loop, c_is_gone, &c));
	assert_int_equal(c.fins, 1);
	assert_int_equal(c.gone, 1);
	for (int i = 0; i < 100 && server_gone == 0; i++)
		uv_run(loop, UV_RUN_ONCE);
	assert_int_equal(server_gone, 1);

	/* A protocol B handles no more: the peer's refusal ends in gone. */
	wm_p2p_unhandle(b, ECHO_PROTO);
	struct client r = {0};
	assert_int_equal(wm_p2p_open(a, bid, ECHO_PROTO, NULL, &client_cb, &r, &r.s), 0);
	assert_true(run_until(loop, c_is_gone, &r));
	assert_int_equal(r.opened, 0);

	struct wm_p2p *h[] = {a, b};
	free_hosts(loop, h, 2);
}

static void test_dial_fails(void **state)
{
	uv_loop_t *loop = *state;
	char *lb[] = {"/ip4/127.0.0.1/tcp/0"};
	struct wm_p2p *b = start(loop, "b", lb, 1), *a = start(loop, "a", NULL, 0);
	struct wm_peer_id bid = *wm_p2p_id(b);
	uint8_t addrs[4][WM_MADDR_MAX];
	size_t lens[4];
	struct client c = {0};
	struct wm_p2p_dial to = dial_of(b, addrs, lens);
	int freed = 0;

	/* B is gone: nobody listens at its address any more. */
	wm_p2p_free(b, closed_cb, &freed);
	for (int i = 0; i < 1000 && !freed; i++)
		uv_run(loop, UV_RUN_ONCE);
	assert_int_equal(freed, 1);

	int rc = wm_p2p_open(a, &bid, ECHO_PROTO, &to, &client_cb, &c, &c.s);
	if (rc == 0) {
		assert_true(run_until(loop, c_is_gone, &c));
		assert_int_equal(c.opened, 0);
	} else {
		assert_int_equal(rc, -ECONNREFUSED); /* refused on the spot */
	}
	assert_int_equal(wm_p2p_connected(a, &bid), 0);

	/* Reset by us while still dialing: no gone, no opened. */
	struct client d = {0};
	rc = wm_p2p_open(a, &bid, ECHO_PROTO, &to, &client_cb, &d, &d.s);
	if (rc == 0) {
		wm_p2p_reset(d.s);
		for (int i = 0; i < 50; i++)
			uv_run(loop, UV_RUN_NOWAIT);
		assert_int_equal(d.gone, 0);
		assert_int_equal(d.opened, 0);
	}
	struct wm_p2p *h[] = {a};
	free_hosts(loop, h, 1);
}

/* ---- buffers: bulk traffic's are made at its first use and freed when idle ---- */

#define BULK_LEN (192u * 1024u)

struct bulk {
	struct wm_p2p_stream *s;
	int opened;
	size_t ngot;
	bool bad; /* a byte out of place */
};

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 % 251);
}

static void bulk_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	struct bulk *k = ud;

	(void)s;
	for (size_t i = 0; i < len; i++)
		k->bad = k->bad || buf[i] != pattern(k->ngot + i);
	k->ngot += len;
}

static void bulk_opened(void *ud, struct wm_p2p_stream *s)
{
	(void)s;
	((struct bulk *)ud)->opened++;
}

static void bulk_gone(void *ud, struct wm_p2p_stream *s)
{
	(void)s;
	((struct bulk *)ud)->s = NULL;
}

static const struct wm_p2p_stream_cb bulk_cb = {
	.data = bulk_data, .gone = bulk_gone, .opened = bulk_opened};

static bool bulk_is_opened(void *arg)
{
	return ((struct bulk *)arg)->opened > 0;
}

struct want_bytes {
	struct bulk *k;
	size_t n;
};

static bool bulk_got(void *arg)
{
	struct want_bytes *w = arg;

	return w->k->ngot >= w->n;
}

static size_t buffered(const struct wm_p2p *p)
{
	static struct wm_p2p_status st;

	wm_p2p_status(p, &st);
	return st.buffered;
}

/* A connection's small read buffer (host.c's SMALL_BUF), kept while idle. */
#define SMALL 4096

static bool both_idle(void *arg)
{
	struct wm_p2p **h = arg;

	return buffered(h[0]) <= SMALL && buffered(h[1]) <= SMALL;
}

static void send_pattern(struct bulk *k, size_t from, size_t len)
{
	uint8_t chunk[8192];

	for (size_t off = 0; off < len; off += sizeof(chunk)) {
		size_t n = len - off < sizeof(chunk) ? len - off : sizeof(chunk);
		for (size_t i = 0; i < n; i++)
			chunk[i] = pattern(from + off + i);
		assert_int_equal(wm_p2p_write(k->s, chunk, n), 0);
	}
}

/* Two hosts on the loop, a with an echo stream to b's listener, opened and
 * past one echo of 5 bytes (pattern 0-4); h gets {a, b}. */
struct echo_pair {
	struct wm_p2p *h[2];
	struct bulk k;
	int server_gone;
};

static void echo_pair_open(uv_loop_t *loop, struct echo_pair *e)
{
	char *lb[] = {"/ip4/127.0.0.1/tcp/0"};
	uint8_t addrs[4][WM_MADDR_MAX];
	size_t lens[4];

	memset(e, 0, sizeof(*e));
	e->h[1] = start(loop, "b", lb, 1);
	e->h[0] = start(loop, "a", NULL, 0);
	assert_int_equal(wm_p2p_handle(e->h[1], ECHO_PROTO, echo_accept, &e->server_gone), 0);
	struct wm_p2p_dial to = dial_of(e->h[1], addrs, lens);
	assert_int_equal(
		wm_p2p_open(e->h[0], wm_p2p_id(e->h[1]), ECHO_PROTO, &to, &bulk_cb, &e->k, &e->k.s),
		0);
	assert_true(run_until(loop, bulk_is_opened, &e->k));
	send_pattern(&e->k, 0, 5);
	struct want_bytes w = {&e->k, 5};
	assert_true(run_until(loop, bulk_got, &w));
}

static void echo_pair_close(uv_loop_t *loop, struct echo_pair *e)
{
	assert_non_null(e->k.s);
	wm_p2p_reset(e->k.s);
	free_hosts(loop, e->h, 2);
}

/* Small traffic is read into a small buffer that the connection keeps (not
 * 64 KiB made and freed per read); bulk traffic's buffers are made at its
 * first use and go back once the connection is idle; the connection then
 * carries traffic again, intact. */
static void test_idle_connection_frees_buffers(void **state)
{
	uv_loop_t *loop = *state;
	struct echo_pair e;

	/* Small: the echo is read into a small buffer, kept for the next. */
	echo_pair_open(loop, &e);
	struct wm_p2p *a = e.h[0];
	struct bulk *k = &e.k;
	assert_true(buffered(a) > 0);
	assert_true(buffered(a) <= SMALL);

	/* Bulk both ways, then idle again, then small: all of it intact. */
	send_pattern(k, 5, BULK_LEN);
	struct want_bytes w = {k, 5 + BULK_LEN};
	assert_true(run_until(loop, bulk_got, &w));
	assert_true(buffered(a) > SMALL);
	assert_true(run_until(loop, both_idle, e.h));
	send_pattern(k, 5 + BULK_LEN, 5);
	w.n = 10 + BULK_LEN;
	assert_true(run_until(loop, bulk_got, &w));
	assert_int_equal(k->ngot, 10 + BULK_LEN);
	assert_false(k->bad);
	echo_pair_close(loop, &e);
}

/* Frames sealed during one pass of the loop leave together: a writev of
 * eight at most (host.c's OUT_FRAMES), the rest before the loop waits
 * again; the peer gets every byte, in order. */
static void test_frames_batched(void **state)
{
	uv_loop_t *loop = *state;
	struct echo_pair e;
	static struct wm_p2p_status st0, st1;

	echo_pair_open(loop, &e);
	wm_p2p_status(e.h[0], &st0);
	for (size_t i = 0; i < 20; i++)
		send_pattern(&e.k, 5 + i * 100, 100); /* a frame each */
	wm_p2p_status(e.h[0], &st1);
	assert_int_equal(st1.frames - st0.frames, 16); /* two full writes so far */
	assert_int_equal(st1.writes - st0.writes, 2);
	struct want_bytes w = {&e.k, 5 + 2000};
	assert_true(run_until(loop, bulk_got, &w));
	assert_int_equal(e.k.ngot, 5 + 2000);
	assert_false(e.k.bad);
	wm_p2p_status(e.h[0], &st1);
	/* the last four in one more write (and whatever else a sent since: a
	 * frame per write at worst) */
	assert_true(st1.frames - st0.frames >= 20);
	assert_true(st1.writes - st0.writes <= 3 + (st1.frames - st0.frames - 20));
	echo_pair_close(loop, &e);
}

static bool echo_got_105(void *arg)
{
	(void)arg;
	return echo_bytes == 105;
}

/* What a host wrote just before it was freed still reaches the peer: the
 * close writes the frames the loop had not flushed yet. */
static void test_free_flushes(void **state)
{
	uv_loop_t *loop = *state;
	struct echo_pair e;

	echo_bytes = 0;
	echo_pair_open(loop, &e);
	assert_int_equal(echo_bytes, 5);
	send_pattern(&e.k, 5, 100);
	free_hosts(loop, e.h, 1); /* a: no pass of the loop in between */
	assert_true(run_until(loop, echo_got_105, NULL));
	free_hosts(loop, e.h + 1, 1);
}

/* ---- a peer that grants all the window it may and never reads ---- */

static void sink_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	(void)ud;
	(void)s;
	(void)buf;
	(void)len;
}

static void sink_gone(void *ud, struct wm_p2p_stream *s)
{
	(void)ud;
	(void)s;
}

static const struct wm_p2p_stream_cb sink_cb = {.data = sink_data, .gone = sink_gone};

static int sink_accept(void *arg, struct wm_p2p_stream *s, const struct wm_p2p_stream_cb **cb,
		       void **ud)
{
	*cb = &sink_cb;
	*ud = arg;
	wm_p2p_set_window(s, WM_YAMUX_WINDOW_MAX);
	return 0;
}

/* Both loops, for ms milliseconds. */
static void run_both(uv_loop_t *a, uv_loop_t *b, unsigned ms)
{
	uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;

	while (uv_hrtime() < end) {
		uv_run(a, UV_RUN_NOWAIT);
		uv_run(b, UV_RUN_NOWAIT);
		usleep(1000);
	}
}

/* A peer that grants a 16 MiB window and then never reads (its process
 * stopped, on its own loop here) must not make us hold what we send to it
 * without bound: past host.c's 4 MiB of writes queued (written or waiting
 * for the loop's flush), the connection goes, well before its window runs
 * out. Without the bound, the writes would stop only at yamux's refusal
 * once the window is spent, the connection kept. */
static void test_peer_that_never_reads(void **state)
{
	uv_loop_t *loop = *state, loop_b;
	char *lb[] = {"/ip4/127.0.0.1/tcp/0"};
	uint8_t addrs[4][WM_MADDR_MAX];
	size_t lens[4];
	struct bulk k = {0};
	static uint8_t chunk[64 * 1024];
	int closed = 0;

	uv_loop_init(&loop_b);
	struct wm_p2p *b = start(&loop_b, "b", lb, 1), *a = start(loop, "a", NULL, 0);
	assert_int_equal(wm_p2p_handle(b, ECHO_PROTO, sink_accept, NULL), 0);
	struct wm_p2p_dial to = dial_of(b, addrs, lens);
	assert_int_equal(wm_p2p_open(a, wm_p2p_id(b), ECHO_PROTO, &to, &bulk_cb, &k, &k.s), 0);
	for (int i = 0; i < 100 && !k.opened; i++)
		run_both(loop, &loop_b, 100);
	assert_int_equal(k.opened, 1);
	run_both(loop, &loop_b, 200); /* b's window update reaches a */

	/* b stops: only a's loop runs from here */
	size_t sent = 0;
	int rc = 0;
	uint64_t end = uv_hrtime() + 20000000000ull;
	while (k.s && sent < WM_YAMUX_WINDOW_MAX && uv_hrtime() < end) {
		rc = wm_p2p_write(k.s, chunk, sizeof(chunk));
		if (rc == -ENOBUFS)
			break; /* the window ran out first: the bound did not act */
		if (rc == 0)
			sent += sizeof(chunk);
		uv_run(loop, UV_RUN_NOWAIT);
	}
	for (int i = 0; i < 100 && k.s; i++)
		uv_run(loop, UV_RUN_NOWAIT);
	assert_null(k.s); /* gone: the connection was closed */
	assert_true(sent < WM_YAMUX_WINDOW_MAX);
	assert_int_equal(wm_p2p_connected(a, wm_p2p_id(b)), 0);

	free_hosts(loop, &a, 1);
	wm_p2p_free(b, closed_cb, &closed);
	for (int i = 0; i < 1000 && !closed; i++)
		uv_run(&loop_b, UV_RUN_ONCE);
	assert_int_equal(closed, 1);
	assert_int_equal(uv_loop_close(&loop_b), 0);
}

static int setup(void **state)
{
	static uv_loop_t loop;

	if (!mkdtemp(dir))
		return -1;
	uv_loop_init(&loop);
	*state = &loop;
	return 0;
}

static int teardown(void **state)
{
	char path[300];

	uv_loop_close(*state);
	snprintf(path, sizeof(path), "%s/a.key", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/b.key", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_while_dialing),
		cmocka_unit_test(test_dial_fails),
		cmocka_unit_test(test_idle_connection_frees_buffers),
		cmocka_unit_test(test_frames_batched),
		cmocka_unit_test(test_free_flushes),
		cmocka_unit_test(test_peer_that_never_reads),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
