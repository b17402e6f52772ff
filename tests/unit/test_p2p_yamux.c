/* Unit tests for src/p2p/yamux.c: header codec, two sessions wired to each
 * other (open, data, FIN, RST, ping, go away), flow control against the
 * 256 KiB window, the stream limit and protocol violations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/yamux.h"

struct side {
	struct wm_yamux y;
	uint8_t *out; /* bytes sent, not yet delivered to the other side */
	size_t nout;
	size_t received; /* data bytes */
	uint32_t last_open, last_data_id, fins, gones, pongs, go_aways;
	int refuse;
	uint8_t first;
};

static void s_send(void *ud, const uint8_t *buf, size_t len)
{
	struct side *s = ud;

	s->out = realloc(s->out, s->nout + len);
	assert_non_null(s->out);
	memcpy(s->out + s->nout, buf, len);
	s->nout += len;
}

static int s_open(void *ud, uint32_t id)
{
	struct side *s = ud;

	s->last_open = id;
	return s->refuse;
}

static void s_data(void *ud, uint32_t id, const uint8_t *buf, size_t len)
{
	struct side *s = ud;

	if (s->received == 0 && len)
		s->first = buf[0];
	s->received += len;
	s->last_data_id = id;
}

static void s_fin(void *ud, uint32_t id)
{
	struct side *s = ud;
	(void)id;
	s->fins++;
}

static void s_gone(void *ud, uint32_t id)
{
	struct side *s = ud;
	(void)id;
	s->gones++;
}

static void s_pong(void *ud, uint32_t opaque)
{
	struct side *s = ud;
	s->pongs = opaque;
}

static void s_goaway(void *ud, uint32_t code)
{
	struct side *s = ud;
	(void)code;
	s->go_aways++;
}

static const struct wm_yamux_cb cb = {s_send, s_open, s_data, s_fin, s_gone, s_pong, s_goaway};

/* Delivers what from sent to to, in small pieces to exercise reassembly. */
static int pump(struct side *from, struct side *to)
{
	uint8_t *b = from->out;
	size_t n = from->nout;
	int rc = 0;

	from->out = NULL;
	from->nout = 0;
	for (size_t off = 0; off < n && !rc; off += 7)
		rc = wm_yamux_feed(&to->y, b + off, n - off < 7 ? n - off : 7);
	free(b);
	return rc;
}

static void pump_all(struct side *a, struct side *b)
{
	for (int i = 0; i < 100 && (a->nout || b->nout); i++) {
		assert_int_equal(pump(a, b), 0);
		assert_int_equal(pump(b, a), 0);
	}
}

static void setup_pair(struct side *a, struct side *b, size_t max)
{
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	assert_int_equal(wm_yamux_init(&a->y, true, max, &cb, a), 0);
	assert_int_equal(wm_yamux_init(&b->y, false, max, &cb, b), 0);
}

static void teardown_pair(struct side *a, struct side *b)
{
	wm_yamux_free(&a->y);
	wm_yamux_free(&b->y);
	free(a->out);
	free(b->out);
}

static void test_header(void **state)
{
	struct wm_yamux_hdr h = {0, WM_YAMUX_WINDOW_UPDATE, WM_YAMUX_SYN | WM_YAMUX_FIN, 0x01020304,
				 0xa0b0c0d0},
			    d;
	uint8_t b[WM_YAMUX_HDR_LEN];
	const uint8_t want[] = {0, 1, 0, 5, 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0};
	(void)state;

	wm_yamux_hdr_encode(&h, b);
	assert_memory_equal(b, want, sizeof(want));
	assert_int_equal(wm_yamux_hdr_decode(b, &d), 0);
	assert_int_equal(d.flags, h.flags);
	assert_int_equal(d.stream, h.stream);
	assert_int_equal(d.length, h.length);
	b[0] = 1;
	assert_int_equal(wm_yamux_hdr_decode(b, &d), -EBADMSG);
	b[0] = 0;
	b[1] = 4;
	assert_int_equal(wm_yamux_hdr_decode(b, &d), -EBADMSG);
}

static void test_stream_lifecycle(void **state)
{
	struct side a, b;
	uint32_t id;
	(void)state;

	setup_pair(&a, &b, 4);
	assert_int_equal(wm_yamux_open(&a.y, &id), 0);
	assert_int_equal(id, 1);
	assert_int_equal(wm_yamux_write(&a.y, id, "hi", 2), 0);
	pump_all(&a, &b);
	assert_int_equal(b.last_open, 1);
	assert_int_equal(b.received, 2);
	assert_int_equal(b.first, 'h');
	assert_int_equal(wm_yamux_count(&b.y), 1);
	assert_int_equal(wm_yamux_write(&b.y, 1, "yo", 2), 0);
	assert_int_equal(wm_yamux_close(&a.y, id), 0);
	assert_int_equal(wm_yamux_write(&a.y, id, "x", 1), -EPIPE);
	pump_all(&a, &b);
	assert_int_equal(a.received, 2);
	assert_int_equal(b.fins, 1);
	assert_int_equal(wm_yamux_close(&b.y, 1), 0);
	pump_all(&a, &b);
	assert_int_equal(a.fins, 1);
	assert_int_equal(a.gones, 1);
	assert_int_equal(b.gones, 1);
	assert_int_equal(wm_yamux_count(&a.y), 0);
	assert_int_equal(wm_yamux_count(&b.y), 0);

	/* Reset: the other side learns the stream is gone. */
	assert_int_equal(wm_yamux_open(&a.y, &id), 0);
	assert_int_equal(id, 3);
	pump_all(&a, &b);
	wm_yamux_reset(&a.y, id);
	pump_all(&a, &b);
	assert_int_equal(b.gones, 2);
	assert_int_equal(wm_yamux_write(&a.y, id, "x", 1), -ENOENT);

	/* Ping and go away. */
	wm_yamux_ping(&a.y, 77);
	pump_all(&a, &b);
	assert_int_equal(a.pongs, 77);
	wm_yamux_go_away(&b.y, 0);
	pump_all(&a, &b);
	assert_int_equal(a.go_aways, 1);
	assert_int_equal(wm_yamux_open(&a.y, &id), -EPIPE);
	teardown_pair(&a, &b);
}

static void test_window(void **state)
{
	struct side a, b;
	uint32_t id;
	size_t total = 3 * WM_YAMUX_WINDOW + 100;
	uint8_t *big = calloc(1, total);
	(void)state;

	setup_pair(&a, &b, 4);
	assert_int_equal(wm_yamux_open(&a.y, &id), 0);
	/* Beyond the window, writes wait for the peer's updates. */
	assert_int_equal(wm_yamux_write(&a.y, id, big, total), 0);
	assert_int_equal(pump(&a, &b), 0);
	assert_int_equal(b.received, WM_YAMUX_WINDOW);
	pump_all(&a, &b);
	assert_int_equal(b.received, total);
	/* Held back beyond the bound: refused. */
	assert_int_equal(wm_yamux_write(&a.y, id, big, WM_YAMUX_WINDOW), 0);
	assert_int_equal(wm_yamux_write(&a.y, id, big, 2 * WM_YAMUX_PENDING_MAX), -ENOBUFS);
	teardown_pair(&a, &b);

	/* A peer that ignores our window is a protocol error. */
	setup_pair(&a, &b, 4);
	struct wm_yamux_hdr h = {0, WM_YAMUX_DATA, WM_YAMUX_SYN, 1, WM_YAMUX_WINDOW + 1};
	uint8_t hb[WM_YAMUX_HDR_LEN];
	wm_yamux_hdr_encode(&h, hb);
	assert_int_equal(wm_yamux_feed(&b.y, hb, sizeof(hb)), -EPROTO);
	teardown_pair(&a, &b);
	free(big);
}

/* A larger window (WireGuard's streams): granted at once, the sender sends
 * that much before it waits, the receiver still refuses more than it
 * granted, and updates come once half of the larger window is consumed. */
static void test_set_window(void **state)
{
	struct side a, b;
	uint32_t id;
	const uint32_t w = 4 * WM_YAMUX_WINDOW;
	uint8_t *big = calloc(1, w);
	(void)state;

	setup_pair(&a, &b, 4);
	assert_int_equal(wm_yamux_open(&a.y, &id), 0);
	pump_all(&a, &b);
	assert_int_equal(wm_yamux_set_window(&b.y, id, WM_YAMUX_WINDOW_MAX + 1), -EINVAL);
	assert_int_equal(wm_yamux_set_window(&b.y, 999, w), -ENOENT);
	assert_int_equal(wm_yamux_set_window(&b.y, id, w), 0);
	assert_int_equal(wm_yamux_set_window(&b.y, id, WM_YAMUX_WINDOW), 0); /* never lower */
	pump_all(&a, &b);
	assert_int_equal(wm_yamux_write(&a.y, id, big, w), 0);
	assert_int_equal(wm_yamux_pending(&a.y, id), 0); /* all of it within the window */
	assert_int_equal(wm_yamux_write(&a.y, id, big, 100), 0);
	assert_int_equal(wm_yamux_pending(&a.y, id), 100);
	assert_int_equal(pump(&a, &b), 0);
	assert_int_equal(b.received, w);
	pump_all(&a, &b);
	assert_int_equal(b.received, w + 100);
	/* the rest flows with updates of the larger window */
	assert_int_equal(wm_yamux_write(&a.y, id, big, w / 2), 0);
	assert_int_equal(wm_yamux_write(&a.y, id, big, w / 2), 0);
	pump_all(&a, &b);
	assert_int_equal(b.received, 2 * (size_t)w + 100);
	teardown_pair(&a, &b);

	/* A peer sending beyond the larger window is still refused. */
	setup_pair(&a, &b, 4);
	assert_int_equal(wm_yamux_open(&a.y, &id), 0);
	pump_all(&a, &b);
	assert_int_equal(wm_yamux_set_window(&b.y, id, w), 0);
	struct wm_yamux_hdr h = {0, WM_YAMUX_DATA, 0, id, w + 1};
	uint8_t hb[WM_YAMUX_HDR_LEN];
	wm_yamux_hdr_encode(&h, hb);
	assert_int_equal(wm_yamux_feed(&b.y, hb, sizeof(hb)), -EPROTO);
	teardown_pair(&a, &b);
	free(big);
}

/* Holding a stream's reads (the relay's backpressure): the sender stops at
 * its window and keeps the rest; released, all of it arrives. */
static void test_hold(void **state)
{
	struct side a, b;
	uint32_t id;
	size_t total = 2 * WM_YAMUX_WINDOW;
	uint8_t *big = calloc(1, total);
	(void)state;

	setup_pair(&a, &b, 4);
	assert_int_equal(wm_yamux_open(&a.y, &id), 0);
	pump_all(&a, &b);
	wm_yamux_hold(&b.y, id, true);
	assert_int_equal(wm_yamux_write(&a.y, id, big, total), 0);
	pump_all(&a, &b);
	assert_int_equal(b.received, WM_YAMUX_WINDOW);
	assert_int_equal(wm_yamux_pending(&a.y, id), total - WM_YAMUX_WINDOW);
	wm_yamux_hold(&b.y, id, false);
	pump_all(&a, &b);
	assert_int_equal(b.received, total);
	assert_int_equal(wm_yamux_pending(&a.y, id), 0);
	assert_int_equal(wm_yamux_pending(&a.y, 999), 0);
	teardown_pair(&a, &b);
	free(big);
}

/* What a stream held back keeps its buffer between backlogs (bulk traffic
 * would allocate and fault it in again each time); wm_yamux_trim frees it
 * once drained and says what is still kept. */
static void test_held_back_buffer_kept_then_trimmed(void **state)
{
	struct side a, b;
	uint32_t id;
	size_t total = WM_YAMUX_WINDOW + 10000;
	uint8_t *big = calloc(1, total);
	(void)state;

	setup_pair(&a, &b, 4);
	assert_int_equal(wm_yamux_open(&a.y, &id), 0);
	pump_all(&a, &b);
	assert_int_equal(wm_yamux_trim(&a.y), 0); /* nothing held back yet */
	wm_yamux_hold(&b.y, id, true);
	assert_int_equal(wm_yamux_write(&a.y, id, big, total), 0);
	pump_all(&a, &b);
	assert_int_equal(wm_yamux_pending(&a.y, id), 10000);
	size_t kept = wm_yamux_trim(&a.y); /* in use: not freed */
	assert_true(kept >= 10000);
	wm_yamux_hold(&b.y, id, false);
	pump_all(&a, &b);
	assert_int_equal(wm_yamux_pending(&a.y, id), 0);
	assert_int_equal(b.received, total);
	/* drained: the stream still works, and the trim frees the buffer */
	assert_int_equal(wm_yamux_write(&a.y, id, big, 100), 0);
	pump_all(&a, &b);
	assert_int_equal(b.received, total + 100);
	assert_int_equal(wm_yamux_trim(&a.y), 0);
	assert_int_equal(wm_yamux_trim(&a.y), 0);
	teardown_pair(&a, &b);
	free(big);
}

/* A peer that opens streams and never grants window makes us hold back at
 * most the session's bound, not the per-stream bound times the streams; what
 * is sent once it reads leaves the count. */
static void test_held_back_per_session(void **state)
{
	struct side a, b;
	uint32_t id[4];
	size_t each = WM_YAMUX_WINDOW + WM_YAMUX_PENDING_MAX;
	uint8_t *big = calloc(1, each);
	(void)state;

	setup_pair(&a, &b, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(wm_yamux_open(&a.y, &id[i]), 0);
	assert_int_equal(wm_yamux_write(&a.y, id[0], big, each), 0);
	assert_int_equal(wm_yamux_write(&a.y, id[1], big, each), 0);
	assert_int_equal(a.y.npending, WM_YAMUX_SESSION_PENDING_MAX);
	assert_int_equal(wm_yamux_write(&a.y, id[2], big, each), -ENOBUFS);
	assert_int_equal(wm_yamux_write(&a.y, id[3], big, each), -ENOBUFS);
	pump_all(&a, &b);
	assert_int_equal(a.y.npending, 0);
	assert_int_equal(wm_yamux_write(&a.y, id[2], big, each), 0);
	wm_yamux_reset(&a.y, id[2]);
	assert_int_equal(a.y.npending, 0);
	teardown_pair(&a, &b);
	free(big);
}

/* The bounds an owner configures (libp2p-max-held-per-stream and
 * -per-connection) are the ones in force, not the defaults. */
static void test_held_back_configured(void **state)
{
	struct side a, b;
	uint32_t id[2];
	uint8_t *big = calloc(1, WM_YAMUX_WINDOW + 8192);
	(void)state;

	setup_pair(&a, &b, 4);
	a.y.pending_max = 8192;
	a.y.session_pending_max = 12288;
	for (int i = 0; i < 2; i++)
		assert_int_equal(wm_yamux_open(&a.y, &id[i]), 0);
	assert_int_equal(wm_yamux_write(&a.y, id[0], big, WM_YAMUX_WINDOW + 8192), 0);
	assert_int_equal(wm_yamux_write(&a.y, id[0], big, 1), -ENOBUFS); /* the stream's */
	assert_int_equal(wm_yamux_write(&a.y, id[1], big, WM_YAMUX_WINDOW + 4096), 0);
	assert_int_equal(a.y.npending, 12288);
	assert_int_equal(wm_yamux_write(&a.y, id[1], big, 1), -ENOBUFS); /* the session's */
	pump_all(&a, &b);
	assert_int_equal(a.y.npending, 0);
	assert_int_equal(b.received, 2 * WM_YAMUX_WINDOW + 12288);
	teardown_pair(&a, &b);
	free(big);
}

static void test_limits_and_violations(void **state)
{
	struct side a, b;
	uint32_t id;
	uint8_t hb[WM_YAMUX_HDR_LEN];
	(void)state;

	setup_pair(&a, &b, 2);
	assert_int_equal(wm_yamux_open(&a.y, &id), 0);
	assert_int_equal(wm_yamux_open(&a.y, &id), 0);
	assert_int_equal(wm_yamux_open(&a.y, &id), -EMFILE);
	pump_all(&a, &b);
	assert_int_equal(wm_yamux_count(&b.y), 2);
	/* The server at its limit resets a third stream the client forces. */
	struct wm_yamux_hdr h = {0, WM_YAMUX_WINDOW_UPDATE, WM_YAMUX_SYN, 5, 0};
	wm_yamux_hdr_encode(&h, hb);
	assert_int_equal(wm_yamux_feed(&b.y, hb, sizeof(hb)), 0);
	assert_int_equal(wm_yamux_count(&b.y), 2);
	assert_true(b.nout >= WM_YAMUX_HDR_LEN);
	assert_int_equal(b.out[WM_YAMUX_HDR_LEN - 12 + 3] & WM_YAMUX_RST, WM_YAMUX_RST);
	/* SYN for a stream in use, or of the server's parity: protocol errors. */
	h.stream = 1;
	wm_yamux_hdr_encode(&h, hb);
	assert_int_equal(wm_yamux_feed(&b.y, hb, sizeof(hb)), -EPROTO);
	h.stream = 2;
	wm_yamux_hdr_encode(&h, hb);
	assert_int_equal(wm_yamux_feed(&b.y, hb, sizeof(hb)), -EPROTO);
	/* A refused stream is reset, not kept. */
	teardown_pair(&a, &b);
	setup_pair(&a, &b, 2);
	b.refuse = -1;
	assert_int_equal(wm_yamux_open(&a.y, &id), 0);
	pump_all(&a, &b);
	assert_int_equal(wm_yamux_count(&b.y), 0);
	assert_int_equal(a.gones, 1);
	teardown_pair(&a, &b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_stream_lifecycle),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_set_window),
		cmocka_unit_test(test_limits_and_violations),
		cmocka_unit_test(test_held_back_per_session),
		cmocka_unit_test(test_held_back_configured),
		cmocka_unit_test(test_hold),
		cmocka_unit_test(test_held_back_buffer_kept_then_trimmed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
