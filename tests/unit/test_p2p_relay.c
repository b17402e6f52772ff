/* Unit tests for src/core/p2prelay.c: circuit relay v2 messages against
 * bytes js-libp2p's @libp2p/circuit-relay-v2 (4.2.13) encoded, refusals of
 * malformed ones, the reservation voucher with a real signature, and the
 * relay's reservation table and its limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/p2prelay.h"
#include "util/crypto.h"

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

/* Seed 01 02 .. 20, as js-libp2p's generateKeyPairFromSeed('Ed25519'). */
#define JS_PEER "12D3KooWJ1TsijH7H5F74hfAD5XishQz3sxrmAtVY37GtNd9CqYf"
/* HopMessage{CONNECT, peer{JS_PEER}} */
#define JS_CONNECT                                                                                 \
	"080112280a2600240801122079b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664"
/* HopMessage{STATUS, OK, reservation{expire 1700000000, /ip4/127.0.0.1/tcp/4001},
 * limit{120 s, 131072 bytes}} */
#define JS_STATUS "08021a100880e2cfaa061208047f000001060fa122060878108080082864"
/* StopMessage{CONNECT, peer{JS_PEER}, limit{120 s, 131072 bytes}} */
#define JS_STOP                                                                                    \
	"080012280a2600240801122079b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664" \
	"1a"                                                                                       \
	"06087810808008"

static void test_decode_js(void **state)
{
	uint8_t b[256], out[256];
	struct wm_relay_msg m;
	struct wm_peer_id id;
	size_t n;

	(void)state;
	assert_int_equal(wm_peer_id_parse(JS_PEER, &id), 0);
	n = unhex(JS_CONNECT, b);
	assert_int_equal(wm_relay_msg_decode(true, b, n, &m), 0);
	assert_int_equal(m.type, WM_HOP_CONNECT);
	assert_true(m.has_peer);
	assert_true(wm_peer_id_equal(&m.peer, &id));
	assert_false(m.has_rsvp);
	assert_false(m.has_status);
	assert_int_equal(wm_relay_msg_encode(&m, out, sizeof(out)), (int)n);
	assert_memory_equal(out, b, n);

	n = unhex(JS_STATUS, b);
	assert_int_equal(wm_relay_msg_decode(true, b, n, &m), 0);
	assert_int_equal(m.type, WM_HOP_STATUS);
	assert_true(m.has_status);
	assert_int_equal(m.status, WM_RELAY_OK);
	assert_true(m.has_rsvp);
	assert_int_equal(m.rsvp_expire, 1700000000u);
	assert_int_equal(m.rsvp_addrs.n, 1);
	assert_int_equal(m.rsvp_addrs.len[0], 8);
	assert_true(m.has_limit && m.has_duration && m.has_data);
	assert_int_equal(m.limit_duration, 120);
	assert_int_equal(m.limit_data, 131072);
	assert_int_equal(wm_relay_msg_encode(&m, out, sizeof(out)), (int)n);
	assert_memory_equal(out, b, n);

	n = unhex(JS_STOP, b);
	assert_int_equal(wm_relay_msg_decode(false, b, n, &m), 0);
	assert_int_equal(m.type, WM_STOP_CONNECT);
	assert_true(wm_peer_id_equal(&m.peer, &id));
	assert_int_equal(m.limit_data, 131072);
	assert_int_equal(wm_relay_msg_encode(&m, out, sizeof(out)), (int)n);
	assert_memory_equal(out, b, n);
}

static void test_framing(void **state)
{
	struct wm_relay_msg m = {.hop = true, .type = WM_HOP_RESERVE}, got;
	uint8_t b[64];
	size_t used = 0;
	int n;

	(void)state;
	n = wm_relay_msg_write(&m, b, sizeof(b));
	assert_int_equal(n, 3); /* length 2, then type 0 */
	assert_int_equal(b[0], 2);
	/* Every prefix is incomplete, the whole is one message. */
	for (int i = 0; i < n; i++)
		assert_int_equal(wm_relay_msg_read(true, b, (size_t)i, &got, &used), 0);
	assert_int_equal(wm_relay_msg_read(true, b, (size_t)n, &got, &used), 1);
	assert_int_equal(used, (size_t)n);
	assert_int_equal(got.type, WM_HOP_RESERVE);
	/* A length beyond the spec's 4 KiB is refused before any waiting. */
	uint8_t big[3] = {0x81, 0x40, 0}; /* 8193 */
	assert_int_equal(wm_relay_msg_read(true, big, 2, &got, &used), -EMSGSIZE);
}

static void test_refusals(void **state)
{
	struct wm_relay_msg m;
	uint8_t b[128];
	size_t n;

	(void)state;
	/* No type. */
	n = unhex("2864", b);
	assert_int_equal(wm_relay_msg_decode(true, b, n, &m), -EBADMSG);
	/* A type outside the enum: STATUS is 2 for hop, 1 for stop. */
	n = unhex("0803", b);
	assert_int_equal(wm_relay_msg_decode(true, b, n, &m), -EBADMSG);
	n = unhex("0802", b);
	assert_int_equal(wm_relay_msg_decode(false, b, n, &m), -EBADMSG);
	/* A Peer without its id. */
	n = unhex("080112001200", b);
	assert_int_equal(wm_relay_msg_decode(true, b, n, &m), -EBADMSG);
	/* A peer ID that is no multihash. */
	n = unhex("080112030a0101", b);
	assert_int_equal(wm_relay_msg_decode(true, b, n, &m), -EBADMSG);
	/* A Reservation without expire. */
	n = unhex("08021a00", b);
	assert_int_equal(wm_relay_msg_decode(true, b, n, &m), -EBADMSG);
	/* type with the wrong wire type. */
	n = unhex("0a0100", b);
	assert_int_equal(wm_relay_msg_decode(true, b, n, &m), -EBADMSG);
	/* A limit duration beyond 32 bits. */
	n = unhex("08022206088080808010", b);
	assert_int_equal(wm_relay_msg_decode(true, b, n, &m), -EBADMSG);
	/* Truncated. */
	n = unhex("080212", b);
	assert_int_equal(wm_relay_msg_decode(true, b, n, &m), -EBADMSG);
	/* Unknown fields are skipped. */
	n = unhex("0800fa0101ff", b);
	assert_int_equal(wm_relay_msg_decode(true, b, n, &m), 0);
	/* A stop message has no reservation to send. */
	m = (struct wm_relay_msg){.hop = false, .has_rsvp = true};
	assert_int_equal(wm_relay_msg_encode(&m, b, sizeof(b)), -EINVAL);
}

static void test_voucher(void **state)
{
	uint8_t seed[32], pk[32], other_seed[32], other_pk[32], rec[256], part[512], sig[64],
		env[WM_RELAY_VOUCHER_MAX];
	struct wm_peer_id relay, peer;
	struct wm_relay_voucher v;

	(void)state;
	for (int i = 0; i < 32; i++) {
		seed[i] = (uint8_t)(i + 1);
		other_seed[i] = (uint8_t)(100 + i);
	}
	assert_int_equal(wm_ed25519_public(seed, pk), 0);
	assert_int_equal(wm_ed25519_public(other_seed, other_pk), 0);
	wm_peer_id_from_pubkey(pk, &relay);
	wm_peer_id_from_pubkey(other_pk, &peer);
	int rl = wm_relay_voucher_record(&relay, &peer, 1700000000, rec, sizeof(rec));
	assert_true(rl > 0);
	int pl = wm_relay_voucher_signed_part(rec, (size_t)rl, part, sizeof(part));
	assert_true(pl > 0);
	/* The signed part starts with the domain, length-prefixed. */
	assert_int_equal(part[0], strlen(WM_RELAY_VOUCHER_DOMAIN));
	assert_memory_equal(part + 1, WM_RELAY_VOUCHER_DOMAIN, strlen(WM_RELAY_VOUCHER_DOMAIN));
	assert_int_equal(wm_ed25519_sign(seed, part, (size_t)pl, sig), 0);
	int el = wm_relay_voucher_envelope(pk, rec, (size_t)rl, sig, env, sizeof(env));
	assert_true(el > 0);
	assert_int_equal(wm_relay_voucher_decode(env, (size_t)el, &v), 0);
	assert_true(wm_peer_id_equal(&v.relay, &relay));
	assert_true(wm_peer_id_equal(&v.peer, &peer));
	assert_int_equal(v.expire, 1700000000u);
	pl = wm_relay_voucher_signed_part(v.record, v.record_len, part, sizeof(part));
	assert_int_equal(wm_ed25519_verify(v.pk, part, (size_t)pl, v.sig), 0);

	/* Signed by someone other than the relay it names: refused. */
	el = wm_relay_voucher_envelope(other_pk, rec, (size_t)rl, sig, env, sizeof(env));
	assert_int_equal(wm_relay_voucher_decode(env, (size_t)el, &v), -EBADMSG);
	/* Cut short: refused. */
	el = wm_relay_voucher_envelope(pk, rec, (size_t)rl, sig, env, sizeof(env));
	assert_int_equal(wm_relay_voucher_decode(env, (size_t)el - 1, &v), -EBADMSG);
}

static void test_table_limits(void **state)
{
	struct wm_relay_limits lim = {.max_reservations = 3,
				      .max_per_source = 2,
				      .reservation_ttl_s = 60,
				      .max_circuits = 2,
				      .max_circuits_per_peer = 1};
	struct wm_relay_table t;
	struct wm_peer_id p[4];
	uint8_t src_a[9] = {4, 10, 0, 0, 1}, src_b[9] = {4, 10, 0, 0, 2};
	uint64_t exp;

	(void)state;
	for (int i = 0; i < 4; i++) {
		uint8_t pk[32] = {(uint8_t)i, 7};
		wm_peer_id_from_pubkey(pk, &p[i]);
	}
	struct wm_relay_limits zero = lim;
	zero.max_reservations = 0;
	assert_int_equal(wm_relay_table_init(&t, &zero), -EINVAL);
	assert_int_equal(wm_relay_table_init(&t, &lim), 0);

	assert_int_equal(wm_relay_reserve(&t, &p[0], src_a, 1000, &exp), 0);
	assert_int_equal(exp, 61000);
	assert_int_equal(wm_relay_reserve(&t, &p[1], src_a, 1000, &exp), 0);
	/* A third from the same source: over its share. */
	assert_int_equal(wm_relay_reserve(&t, &p[2], src_a, 1000, &exp), -EDQUOT);
	assert_int_equal(wm_relay_reserve(&t, &p[2], src_b, 1000, &exp), 0);
	/* The table is full; a renewal still works and moves the expiry. */
	assert_int_equal(wm_relay_reserve(&t, &p[3], src_b, 2000, &exp), -EDQUOT);
	assert_int_equal(wm_relay_reserve(&t, &p[0], src_a, 2000, &exp), 0);
	assert_int_equal(exp, 62000);
	assert_int_equal(t.n, 3);

	/* Circuits: only to reserved peers, one per peer, two in all. */
	assert_int_equal(wm_relay_circuit_open(&t, &p[3], 3000), -ENOENT);
	assert_int_equal(wm_relay_circuit_open(&t, &p[0], 3000), 0);
	assert_int_equal(wm_relay_circuit_open(&t, &p[0], 3000), -EDQUOT);
	assert_int_equal(wm_relay_circuit_open(&t, &p[1], 3000), 0);
	assert_int_equal(wm_relay_circuit_open(&t, &p[2], 3000), -EDQUOT);
	wm_relay_circuit_close(&t, &p[1]);
	assert_int_equal(wm_relay_circuit_open(&t, &p[2], 3000), 0);

	/* Expiry: p[1] (61000) goes; p[0] (62000) stays while it carries a
	 * circuit but takes no new one; p[2] likewise. */
	assert_null(wm_relay_find(&t, &p[1], 61000));
	wm_relay_table_expire(&t, 70000);
	assert_int_equal(t.n, 2);
	assert_null(wm_relay_find(&t, &p[0], 70000));
	assert_int_equal(wm_relay_circuit_open(&t, &p[0], 70000), -ENOENT);
	wm_relay_circuit_close(&t, &p[0]);
	wm_relay_circuit_close(&t, &p[2]);
	wm_relay_table_expire(&t, 70000);
	assert_int_equal(t.n, 0);
	assert_int_equal(t.circuits, 0);
	/* With the slots free, the refused peer gets one. */
	assert_int_equal(wm_relay_reserve(&t, &p[3], src_b, 70000, &exp), 0);
	wm_relay_table_free(&t);
}

static void test_reservation_bytes(void **state)
{
	struct wm_relay_limits lim = {.max_reservations = 2,
				      .max_per_source = 2,
				      .reservation_ttl_s = 60,
				      .max_circuits = 2,
				      .max_circuits_per_peer = 2,
				      .reservation_bytes = 1000};
	struct wm_relay_table t;
	struct wm_peer_id a, b;
	uint8_t pk[32] = {1}, src[9] = {4, 1};
	uint64_t exp;

	(void)state;
	wm_peer_id_from_pubkey(pk, &a);
	pk[0] = 2;
	wm_peer_id_from_pubkey(pk, &b);
	assert_int_equal(wm_relay_table_init(&t, &lim), 0);
	assert_int_equal(wm_relay_account(&t, &a, 1), -ENOENT);
	assert_int_equal(wm_relay_reserve(&t, &a, src, 0, &exp), 0);
	assert_int_equal(wm_relay_reserve(&t, &b, src, 0, &exp), 0);
	/* The budget spans the reservation's circuits, and one peer's use
	 * leaves the other's budget alone. */
	assert_int_equal(wm_relay_account(&t, &a, 600), 0);
	assert_int_equal(wm_relay_account(&t, &a, 400), 0);
	assert_int_equal(wm_relay_account(&t, &a, 1), -EDQUOT);
	assert_int_equal(wm_relay_account(&t, &b, 1000), 0);
	/* A renewal keeps what was used. */
	assert_int_equal(wm_relay_reserve(&t, &a, src, 1000, &exp), 0);
	assert_int_equal(wm_relay_account(&t, &a, 1), -EDQUOT);
	/* Without a budget nothing is refused. */
	t.lim.reservation_bytes = 0;
	assert_int_equal(wm_relay_account(&t, &a, UINT64_MAX), 0);
	wm_relay_table_free(&t);
}

static void test_circuit_split(void **state)
{
	char relay[256], err[256];
	struct wm_peer_id t, want;
	const char *R = "12D3KooWJ1TsijH7H5F74hfAD5XishQz3sxrmAtVY37GtNd9CqYf";
	const char *T = "12D3KooWSrKnMZUcSxK8G7wmBbXdU8nFEfWGhLu6H8xjn8LmCSJb";
	char text[512];

	(void)state;
	assert_int_equal(wm_peer_id_parse(T, &want), 0);
	snprintf(text, sizeof(text), "/ip4/10.0.0.1/tcp/4001/p2p/%s/p2p-circuit/p2p/%s", R, T);
	assert_int_equal(wm_relay_circuit_split(text, relay, sizeof(relay), &t, err, sizeof(err)),
			 1);
	assert_true(wm_peer_id_equal(&t, &want));
	char rt[256];
	snprintf(rt, sizeof(rt), "/ip4/10.0.0.1/tcp/4001/p2p/%s", R);
	assert_string_equal(relay, rt);
	/* No circuit: not ours to judge. */
	assert_int_equal(wm_relay_circuit_split(rt, relay, sizeof(relay), &t, err, sizeof(err)), 0);
	/* The relay without its ID, a missing target, trailing parts, itself. */
	snprintf(text, sizeof(text), "/ip4/10.0.0.1/tcp/4001/p2p-circuit/p2p/%s", T);
	assert_int_equal(wm_relay_circuit_split(text, relay, sizeof(relay), &t, err, sizeof(err)),
			 -EINVAL);
	snprintf(text, sizeof(text), "/ip4/10.0.0.1/tcp/4001/p2p/%s/p2p-circuit", R);
	assert_int_equal(wm_relay_circuit_split(text, relay, sizeof(relay), &t, err, sizeof(err)),
			 -EINVAL);
	snprintf(text, sizeof(text), "/ip4/10.0.0.1/tcp/4001/p2p/%s/p2p-circuit/p2p/%s/tcp/1", R,
		 T);
	assert_int_equal(wm_relay_circuit_split(text, relay, sizeof(relay), &t, err, sizeof(err)),
			 -EINVAL);
	snprintf(text, sizeof(text), "/ip4/10.0.0.1/tcp/4001/p2p/%s/p2p-circuit/p2p/%s", R, R);
	assert_int_equal(wm_relay_circuit_split(text, relay, sizeof(relay), &t, err, sizeof(err)),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_js),	  cmocka_unit_test(test_framing),
		cmocka_unit_test(test_refusals),	  cmocka_unit_test(test_voucher),
		cmocka_unit_test(test_table_limits),	  cmocka_unit_test(test_circuit_split),
		cmocka_unit_test(test_reservation_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
