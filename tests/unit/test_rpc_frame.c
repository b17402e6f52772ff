/* Unit tests of gRPC framing, grpc-timeout and percent-encoding (src/rpc/frame.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rpc/frame.h"
#include "rpc/rpc.h"

struct sink {
	int n;
	size_t lens[8];
	uint8_t data[8][64];
	int stop_after;
};

static int sink_fn(void *data, const uint8_t *msg, size_t len)
{
	struct sink *s = data;
	assert_true(s->n < 8);
	assert_non_null(msg);
	s->lens[s->n] = len;
	memcpy(s->data[s->n], msg, len < 64 ? len : 64);
	s->n++;
	return s->stop_after && s->n == s->stop_after ? 7 : 0;
}

/* Two messages ("hello", "") and "world!" framed back to back. */
static size_t build(uint8_t *out)
{
	size_t n = 0;
	wm_grpc_frame_header(out + n, 5);
	n += 5;
	memcpy(out + n, "hello", 5);
	n += 5;
	wm_grpc_frame_header(out + n, 0);
	n += 5;
	wm_grpc_frame_header(out + n, 6);
	n += 5;
	memcpy(out + n, "world!", 6);
	n += 6;
	return n;
}

static void check_three(const struct sink *s)
{
	assert_int_equal(s->n, 3);
	assert_int_equal(s->lens[0], 5);
	assert_memory_equal(s->data[0], "hello", 5);
	assert_int_equal(s->lens[1], 0);
	assert_int_equal(s->lens[2], 6);
	assert_memory_equal(s->data[2], "world!", 6);
}

static void test_frame_header(void **state)
{
	(void)state;
	uint8_t h[5];
	wm_grpc_frame_header(h, 0x01020304);
	assert_memory_equal(h, "\x00\x01\x02\x03\x04", 5);
}

static void test_decode_whole(void **state)
{
	(void)state;
	uint8_t buf[64];
	size_t n = build(buf);
	struct wm_grpc_decoder d;
	struct sink s = {0};
	wm_grpc_decoder_init(&d, 100);
	assert_int_equal(wm_grpc_decoder_feed(&d, buf, n, sink_fn, &s), 0);
	assert_true(wm_grpc_decoder_idle(&d));
	check_three(&s);
	wm_grpc_decoder_free(&d);
}

static void test_decode_every_split(void **state)
{
	(void)state;
	uint8_t buf[64];
	size_t n = build(buf);
	/* Byte by byte. */
	struct wm_grpc_decoder d;
	struct sink s = {0};
	wm_grpc_decoder_init(&d, 100);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(wm_grpc_decoder_feed(&d, buf + i, 1, sink_fn, &s), 0);
		assert_int_equal(wm_grpc_decoder_idle(&d), i == 9 || i == 14 || i == n - 1);
	}
	check_three(&s);
	wm_grpc_decoder_free(&d);
	/* Every two-way split. */
	for (size_t cut = 0; cut <= n; cut++) {
		struct sink s2 = {0};
		wm_grpc_decoder_init(&d, 100);
		assert_int_equal(wm_grpc_decoder_feed(&d, buf, cut, sink_fn, &s2), 0);
		assert_int_equal(wm_grpc_decoder_feed(&d, buf + cut, n - cut, sink_fn, &s2), 0);
		check_three(&s2);
		assert_true(wm_grpc_decoder_idle(&d));
		wm_grpc_decoder_free(&d);
	}
}

static void test_decode_partial_not_idle(void **state)
{
	(void)state;
	uint8_t buf[64];
	build(buf);
	struct wm_grpc_decoder d;
	struct sink s = {0};
	wm_grpc_decoder_init(&d, 100);
	assert_int_equal(wm_grpc_decoder_feed(&d, buf, 7, sink_fn, &s), 0);
	assert_false(wm_grpc_decoder_idle(&d));
	assert_int_equal(s.n, 0);
	wm_grpc_decoder_free(&d);
}

static void test_decode_oversized(void **state)
{
	(void)state;
	uint8_t h[5];
	struct wm_grpc_decoder d;
	struct sink s = {0};
	wm_grpc_decoder_init(&d, 1000);
	wm_grpc_frame_header(h, 1001);
	/* Refused from the header alone, before any payload arrives. */
	assert_int_equal(wm_grpc_decoder_feed(&d, h, 3, sink_fn, &s), 0);
	assert_int_equal(wm_grpc_decoder_feed(&d, h + 3, 2, sink_fn, &s), -EMSGSIZE);
	assert_int_equal(d.last_len, 1001);
	assert_null(d.buf);
	wm_grpc_decoder_free(&d);
	/* Exactly the limit is fine. */
	uint8_t *big = calloc(1, 5 + 1000);
	wm_grpc_frame_header(big, 1000);
	wm_grpc_decoder_init(&d, 1000);
	assert_int_equal(wm_grpc_decoder_feed(&d, big, 400, sink_fn, &s), 0);
	assert_int_equal(wm_grpc_decoder_feed(&d, big + 400, 605, sink_fn, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.lens[0], 1000);
	wm_grpc_decoder_free(&d);
	free(big);
	/* A 4 GiB announcement does not allocate. */
	wm_grpc_decoder_init(&d, 1000);
	assert_int_equal(
		wm_grpc_decoder_feed(&d, (const uint8_t *)"\0\xff\xff\xff\xff", 5, sink_fn, &s),
		-EMSGSIZE);
	wm_grpc_decoder_free(&d);
}

static void test_decode_flags(void **state)
{
	(void)state;
	struct wm_grpc_decoder d;
	struct sink s = {0};
	wm_grpc_decoder_init(&d, 100);
	assert_int_equal(wm_grpc_decoder_feed(&d, (const uint8_t *)"\1\0\0\0\1x", 6, sink_fn, &s),
			 -EPROTONOSUPPORT);
	wm_grpc_decoder_free(&d);
	wm_grpc_decoder_init(&d, 100);
	assert_int_equal(wm_grpc_decoder_feed(&d, (const uint8_t *)"\2\0\0\0\1x", 6, sink_fn, &s),
			 -EPROTO);
	wm_grpc_decoder_free(&d);
	assert_int_equal(s.n, 0);
}

static void test_decode_callback_stops(void **state)
{
	(void)state;
	uint8_t buf[64];
	size_t n = build(buf);
	struct wm_grpc_decoder d;
	struct sink s = {.stop_after = 2};
	wm_grpc_decoder_init(&d, 100);
	assert_int_equal(wm_grpc_decoder_feed(&d, buf, n, sink_fn, &s), 7);
	assert_int_equal(s.n, 2);
	wm_grpc_decoder_free(&d);
}

static void test_decode_large_split(void **state)
{
	(void)state;
	size_t len = 300000;
	uint8_t *buf = malloc(len + 5);
	wm_grpc_frame_header(buf, (uint32_t)len);
	for (size_t i = 0; i < len; i++)
		buf[5 + i] = (uint8_t)(i * 7);
	struct wm_grpc_decoder d;
	struct sink s = {0};
	wm_grpc_decoder_init(&d, WM_RPC_DEFAULT_MAX_MESSAGE);
	for (size_t off = 0; off < len + 5; off += 16384) {
		size_t k = len + 5 - off < 16384 ? len + 5 - off : 16384;
		assert_int_equal(wm_grpc_decoder_feed(&d, buf + off, k, sink_fn, &s), 0);
	}
	assert_int_equal(s.n, 1);
	assert_int_equal(s.lens[0], len);
	assert_memory_equal(s.data[0], buf + 5, 64);
	/* The big buffer is not kept after the message. */
	assert_null(d.buf);
	wm_grpc_decoder_free(&d);
	free(buf);
}

static uint64_t parse(const char *s)
{
	uint64_t ms = 12345;
	assert_int_equal(wm_grpc_timeout_parse(s, strlen(s), &ms), 0);
	return ms;
}

static void test_timeout_parse(void **state)
{
	(void)state;
	assert_int_equal(parse("1H"), 3600000);
	assert_int_equal(parse("2M"), 120000);
	assert_int_equal(parse("3S"), 3000);
	assert_int_equal(parse("250m"), 250);
	assert_int_equal(parse("1500u"), 2);
	assert_int_equal(parse("1000u"), 1);
	assert_int_equal(parse("1n"), 1);
	assert_int_equal(parse("0n"), 0);
	assert_int_equal(parse("2000000n"), 2);
	assert_int_equal(parse("99999999H"), 99999999ull * 3600000);
	assert_int_equal(parse("00000010S"), 10000);
	const char *bad[] = {"", "m", "5", "5x", "-5S", "5 S", "123456789S", "1.5S", "S5", "5SS"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t ms;
		assert_int_equal(wm_grpc_timeout_parse(bad[i], strlen(bad[i]), &ms), -EINVAL);
	}
}

static void test_timeout_format(void **state)
{
	(void)state;
	char b[16];
	wm_grpc_timeout_format(250, b);
	assert_string_equal(b, "250m");
	wm_grpc_timeout_format(0, b);
	assert_string_equal(b, "0m");
	wm_grpc_timeout_format(99999999, b);
	assert_string_equal(b, "99999999m");
	wm_grpc_timeout_format(100000001, b);
	assert_string_equal(b, "100001S");
	wm_grpc_timeout_format(UINT64_MAX, b);
	assert_string_equal(b, "99999999H");
	/* Round trip never shortens the deadline. */
	uint64_t vals[] = {1, 999, 123456789, 9999999999ull, 99999999999999ull};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		wm_grpc_timeout_format(vals[i], b);
		assert_true(parse(b) >= vals[i]);
	}
}

static void test_percent(void **state)
{
	(void)state;
	char *e = wm_grpc_percent_encode("plain text: ok");
	assert_string_equal(e, "plain text: ok");
	free(e);
	e = wm_grpc_percent_encode("50% \xe2\x82\xac\n\x7f");
	assert_string_equal(e, "50%25 %E2%82%AC%0A%7F");
	char *d = wm_grpc_percent_decode(e, strlen(e));
	assert_string_equal(d, "50% \xe2\x82\xac\n\x7f");
	free(d);
	free(e);
	/* Lower case hex decodes; malformed escapes stay as they are. */
	const char *in = "a%e2%82%acb%zz%4%";
	d = wm_grpc_percent_decode(in, strlen(in));
	assert_string_equal(d, "a\xe2\x82\xac"
			       "b%zz%4%");
	free(d);
	d = wm_grpc_percent_decode("x%41yz", 4);
	assert_string_equal(d, "xA");
	free(d);
}

static void test_content_type(void **state)
{
	(void)state;
	const char *ok[] = {"application/grpc", "application/grpc+proto",
			    "application/grpc;charset=utf-8", "Application/GRPC"};
	const char *bad[] = {"application/json", "application/grpcx", "application/grp", "",
			     "text/plain"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_true(wm_grpc_content_type_ok(ok[i], strlen(ok[i])));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(wm_grpc_content_type_ok(bad[i], strlen(bad[i])));
}

static void test_status_names(void **state)
{
	(void)state;
	assert_string_equal(wm_grpc_status_name(WM_GRPC_OK), "OK");
	assert_string_equal(wm_grpc_status_name(WM_GRPC_UNAUTHENTICATED), "UNAUTHENTICATED");
	assert_string_equal(wm_grpc_status_name(WM_GRPC_DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
	assert_string_equal(wm_grpc_status_name(17), "INVALID_STATUS");
	assert_string_equal(wm_grpc_status_name(-1), "INVALID_STATUS");
	assert_int_equal(wm_grpc_status_from_http(404), WM_GRPC_UNIMPLEMENTED);
	assert_int_equal(wm_grpc_status_from_http(503), WM_GRPC_UNAVAILABLE);
	assert_int_equal(wm_grpc_status_from_http(500), WM_GRPC_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_header),
		cmocka_unit_test(test_decode_whole),
		cmocka_unit_test(test_decode_every_split),
		cmocka_unit_test(test_decode_partial_not_idle),
		cmocka_unit_test(test_decode_oversized),
		cmocka_unit_test(test_decode_flags),
		cmocka_unit_test(test_decode_callback_stops),
		cmocka_unit_test(test_decode_large_split),
		cmocka_unit_test(test_timeout_parse),
		cmocka_unit_test(test_timeout_format),
		cmocka_unit_test(test_percent),
		cmocka_unit_test(test_content_type),
		cmocka_unit_test(test_status_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
