/* The Raft hello (src/core/raft_hello.c): round trip, and each refusal's reason. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/raft_hello.h"

static int encode(const char *id, uint64_t raft_id, const char *addr, uint8_t *buf)
{
	struct wm_raft_hello h = {.raft_id = raft_id};
	strcpy(h.node_id, id);
	strcpy(h.address, addr);
	memset(h.mac, 0xab, sizeof(h.mac));
	return wm_raft_hello_encode(&h, buf);
}

static void test_round_trip_and_prefixes(void **state)
{
	(void)state;
	uint8_t buf[WM_RAFT_HELLO_MAX + 8];
	struct wm_raft_hello h;
	const char *why = NULL;
	int n = encode("alpha", 0x0102030405060708ULL, "172.16.0.1:9000", buf);
	assert_int_equal(n, 6 + 1 + 5 + 8 + 1 + 15 + 32);
	memcpy(buf + n, "tail", 4); /* libraft's bytes may follow at once */
	assert_int_equal(wm_raft_hello_parse(buf, (size_t)n + 4, &h, &why), n);
	assert_string_equal(h.node_id, "alpha");
	assert_true(h.raft_id == 0x0102030405060708ULL);
	assert_string_equal(h.address, "172.16.0.1:9000");
	assert_int_equal(h.mac[31], 0xab);
	for (int i = 0; i < n; i++)
		assert_int_equal(wm_raft_hello_parse(buf, (size_t)i, &h, &why), -EAGAIN);
	assert_int_equal(encode("alpha", 0, "x:1", buf), -EINVAL);
	assert_int_equal(encode("", 1, "x:1", buf), -EINVAL);
}

static void expect(const uint8_t *buf, size_t len, const char *reason)
{
	struct wm_raft_hello h;
	const char *why = NULL;
	assert_int_equal(wm_raft_hello_parse(buf, len, &h, &why), -EPROTO);
	assert_string_equal(why, reason);
}

static void test_refusals(void **state)
{
	(void)state;
	uint8_t buf[WM_RAFT_HELLO_MAX];
	/* libraft's own handshake: protocol 1, little endian */
	static const uint8_t libraft[8] = {1, 0, 0, 0, 0, 0, 0, 0};
	expect(libraft, sizeof(libraft), "not a webmesh raft hello (bad magic)");
	expect((const uint8_t *)"WX", 2, "not a webmesh raft hello (bad magic)");
	expect((const uint8_t *)"WMR1\xff\xff", 6, "hello length out of range");
	expect((const uint8_t *)"WMR1\x00\x01", 6, "hello length out of range");

	int n = encode("alpha", 7, "1.2.3.4:5", buf);
	buf[7] = 'A'; /* "Alpha": upper case is not a node ID */
	expect(buf, (size_t)n, "hello node ID is not valid");
	n = encode("alpha", 7, "1.2.3.4:5", buf);
	buf[6] = 0; /* ID length 0 */
	expect(buf, (size_t)n, "hello node ID length out of range");
	n = encode("alpha", 7, "1.2.3.4:5", buf);
	memset(buf + 12, 0, 8); /* raft ID 0 */
	expect(buf, (size_t)n, "hello raft ID is 0");
	n = encode("alpha", 7, "1.2.3.4:5", buf);
	buf[20] = 10; /* address length beyond the body */
	expect(buf, (size_t)n, "hello address length out of range");
	n = encode("alpha", 7, "1.2.3.4:5", buf);
	buf[21] = '\n';
	expect(buf, (size_t)n, "hello address is not printable");
}

static void test_mac_input(void **state)
{
	(void)state;
	uint8_t ex[WM_RAFT_EXPORTER_LEN], out[WM_RAFT_MAC_INPUT_MAX];
	memset(ex, 0x5a, sizeof(ex));
	int n = wm_raft_mac_input("client", ex, out);
	assert_int_equal(n, 16 + 7 + 32);
	assert_memory_equal(out, "webmesh-raft-v1\nclient\n", 23);
	assert_memory_equal(out + 23, ex, 32);
	assert_int_equal(wm_raft_mac_input("server", ex, out), 16 + 7 + 32);
	assert_memory_equal(out, "webmesh-raft-v1\nserver\n", 23);
	assert_int_equal(wm_raft_mac_input("admin", ex, out), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_and_prefixes),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_mac_input),
	};
	return cmocka_run_group_tests_name("raft_hello", tests, NULL, NULL);
}
