/* Unit tests for src/core/p2pdcutr.c: HolePunch messages against bytes
 * js-libp2p's @libp2p/dcutr (3.0.28) encoded, refusals, and the choice of
 * punch targets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/p2pdcutr.h"

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = strlen(h) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return n;
}

/* CONNECT{/ip4/203.0.113.1/tcp/4001, /ip4/127.0.0.1/tcp/4001} and SYNC{} */
#define JS_CONNECT "0864120804cb007101060fa11208047f000001060fa1"
#define JS_SYNC "08ac02"

static void test_js_messages(void **state)
{
	uint8_t b[128], out[128];
	struct wm_dcutr_msg m;
	size_t n;

	(void)state;
	n = unhex(JS_CONNECT, b);
	assert_int_equal(wm_dcutr_decode(b, n, &m), 0);
	assert_int_equal(m.type, WM_DCUTR_CONNECT);
	assert_int_equal(m.naddrs, 2);
	assert_int_equal(wm_dcutr_encode(&m, out, sizeof(out)), (int)n);
	assert_memory_equal(out, b, n);
	n = unhex(JS_SYNC, b);
	assert_int_equal(wm_dcutr_decode(b, n, &m), 0);
	assert_int_equal(m.type, WM_DCUTR_SYNC);
	assert_int_equal(m.naddrs, 0);

	/* Framed: every prefix is incomplete; a length over 4 KiB is refused. */
	int w = wm_dcutr_write(&m, out, sizeof(out));
	assert_int_equal(w, 4);
	size_t used;
	for (int i = 0; i < w; i++)
		assert_int_equal(wm_dcutr_read(out, (size_t)i, &m, &used), 0);
	assert_int_equal(wm_dcutr_read(out, (size_t)w, &m, &used), 1);
	assert_int_equal(used, (size_t)w);
	uint8_t big[2] = {0x81, 0x40};
	assert_int_equal(wm_dcutr_read(big, 2, &m, &used), -EMSGSIZE);
}

static void test_refusals(void **state)
{
	uint8_t b[64];
	struct wm_dcutr_msg m = {.type = 7};

	(void)state;
	assert_int_equal(wm_dcutr_decode(b, unhex("1200", b), &m), -EBADMSG);	/* no type */
	assert_int_equal(wm_dcutr_decode(b, unhex("0801", b), &m), -EBADMSG);	/* unknown */
	assert_int_equal(wm_dcutr_decode(b, unhex("0a0164", b), &m), -EBADMSG); /* wire type */
	assert_int_equal(wm_dcutr_decode(b, unhex("086412", b), &m), -EBADMSG); /* cut */
	assert_int_equal(wm_dcutr_decode(b, unhex("0864fa0100", b), &m), 0);	/* unknown field */
	m.type = 7;
	assert_int_equal(wm_dcutr_encode(&m, b, sizeof(b)), -EINVAL);
}

static void add(struct wm_dcutr_msg *m, const char *text)
{
	char err[128];
	int n = wm_maddr_parse(text, m->addrs[m->naddrs], WM_MADDR_MAX, err, sizeof(err));

	assert_true(n > 0);
	m->len[m->naddrs++] = (size_t)n;
}

static void test_targets(void **state)
{
	struct wm_dcutr_msg m = {.type = WM_DCUTR_CONNECT};
	struct wm_maddr_tcp t[8];
	struct wm_peer_id peer, other;
	uint8_t pk[32] = {1};

	(void)state;
	wm_peer_id_from_pubkey(pk, &peer);
	pk[0] = 2;
	wm_peer_id_from_pubkey(pk, &other);
	char p[WM_PEERID_TEXT_MAX], o[WM_PEERID_TEXT_MAX], text[256];
	wm_peer_id_print(&peer, p);
	wm_peer_id_print(&other, o);
	add(&m, "/ip4/203.0.113.1/tcp/4001");
	add(&m, "/ip4/127.0.0.1/tcp/4001");   /* loopback */
	add(&m, "/ip4/0.0.0.0/tcp/4001");     /* unspecified */
	add(&m, "/ip4/203.0.113.2/tcp/0");    /* port 0 */
	add(&m, "/ip4/203.0.113.1/udp/4001"); /* not TCP */
	add(&m, "/ip4/203.0.113.1/tcp/4001"); /* again */
	snprintf(text, sizeof(text), "/ip4/203.0.113.3/tcp/4001/p2p/%s", o);
	add(&m, text); /* someone else's */
	snprintf(text, sizeof(text), "/ip6/2001:db8::1/tcp/4001/p2p/%s", p);
	add(&m, text);
	assert_int_equal(wm_dcutr_targets(&m, &peer, t, 8), 2);
	assert_int_equal(t[0].family, 4);
	assert_int_equal(t[0].port, 4001);
	assert_int_equal(t[1].family, 6);
	assert_false(t[1].has_peer);
	assert_int_equal(wm_dcutr_targets(&m, &peer, t, 1), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_js_messages),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_targets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
