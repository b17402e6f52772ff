/* Unit tests for src/core/p2pwire.c and src/p2p/identify.c: varints, multistream
 * messages, peer IDs and multiaddrs (expected values printed by js-libp2p's
 * @libp2p/crypto, @libp2p/peer-id and @multiformats/multiaddr), identify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "p2p/identify.h"
#include "p2p/noise.h"
#include "core/p2pwire.h"

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
#define JS_PK "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664"
#define JS_MA                                                                                      \
	"047f000001060fa1a5032600240801122079b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e391" \
	"0b"                                                                                       \
	"ad049664"

static void test_varint(void **state)
{
	uint8_t b[WM_VARINT_MAX];
	uint64_t v;
	(void)state;

	assert_int_equal(wm_varint_encode(0, b), 1);
	assert_int_equal(b[0], 0);
	assert_int_equal(wm_varint_encode(300, b), 2);
	assert_int_equal(b[0], 0xac);
	assert_int_equal(b[1], 0x02);
	assert_int_equal(wm_varint_decode(b, 2, &v), 2);
	assert_int_equal(v, 300);
	assert_int_equal(wm_varint_decode(b, 1, &v), 0); /* incomplete */
	uint8_t nonmin[] = {0x81, 0x00};
	assert_int_equal(wm_varint_decode(nonmin, 2, &v), -EBADMSG);
	uint8_t toolong[10];
	memset(toolong, 0xff, sizeof(toolong));
	assert_int_equal(wm_varint_decode(toolong, 10, &v), -EBADMSG);
	size_t n = wm_varint_encode((1ull << 63) - 1, b);
	assert_int_equal(n, 9);
	assert_int_equal(wm_varint_decode(b, n, &v), 9);
	assert_true(v == (1ull << 63) - 1);
}

static void test_multistream(void **state)
{
	uint8_t b[64];
	char text[WM_MS_MAX];
	size_t used = 0;
	(void)state;

	int n = wm_ms_encode(WM_MS_PROTOCOL, b, sizeof(b));
	assert_int_equal(n, 20);
	assert_int_equal(b[0], 19);
	assert_int_equal(b[19], '\n');
	for (int i = 0; i < n; i++) /* every prefix is incomplete, not an error */
		assert_int_equal(wm_ms_decode(b, (size_t)i, text, sizeof(text), &used), 0);
	assert_int_equal(wm_ms_decode(b, (size_t)n, text, sizeof(text), &used), 1);
	assert_string_equal(text, WM_MS_PROTOCOL);
	assert_int_equal(used, 20);
	b[19] = 'x'; /* no newline */
	assert_int_equal(wm_ms_decode(b, (size_t)n, text, sizeof(text), &used), -EBADMSG);
	uint8_t big[] = {0x81, 0x10}; /* 2049 bytes announced */
	assert_int_equal(wm_ms_decode(big, 2, text, sizeof(text), &used), -EBADMSG);
	uint8_t ctl[] = {3, 'a', 0x01, '\n'};
	assert_int_equal(wm_ms_decode(ctl, 4, text, sizeof(text), &used), -EBADMSG);
	uint8_t empty[] = {1, '\n'}; /* found by fuzz_p2p_multistream */
	assert_int_equal(wm_ms_decode(empty, 2, text, sizeof(text), &used), -EBADMSG);
	assert_int_equal(wm_ms_encode("", b, sizeof(b)), -EINVAL);
	assert_int_equal(wm_ms_encode("a\nb", b, sizeof(b)), -EINVAL);
	assert_int_equal(wm_ms_encode(WM_MS_PROTOCOL, b, 5), -ENOSPC);
}

static void test_peer_id(void **state)
{
	uint8_t seed[32], pk[32], want[32], pk2[32];
	struct wm_peer_id id, id2;
	char text[WM_PEERID_TEXT_MAX];
	(void)state;

	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)(i + 1);
	assert_int_equal(wm_ed25519_public(seed, pk), 0);
	unhex(JS_PK, want);
	assert_memory_equal(pk, want, 32);
	wm_peer_id_from_pubkey(pk, &id);
	wm_peer_id_print(&id, text);
	assert_string_equal(text, JS_PEER);
	assert_int_equal(wm_peer_id_parse(JS_PEER, &id2), 0);
	assert_true(wm_peer_id_equal(&id, &id2));
	assert_int_equal(wm_peer_id_from_bytes(id.b, sizeof(id.b), &id2, pk2), 0);
	assert_memory_equal(pk2, pk, 32);
	/* Bad characters (0, O, I, l), truncation, a changed key type. */
	assert_int_equal(wm_peer_id_parse("12D3KooW0", &id2), -EINVAL);
	assert_int_not_equal(wm_peer_id_parse("12D3KooWJ1TsijH7H5F74hfAD5Xis", &id2), 0);
	uint8_t b[WM_PEERID_LEN];
	memcpy(b, id.b, sizeof(b));
	b[3] = 0x02; /* secp256k1 */
	assert_int_equal(wm_peer_id_from_bytes(b, sizeof(b), &id2, NULL), -EPROTONOSUPPORT);
	uint8_t sha[34] = {0x12, 0x20};
	assert_int_equal(wm_peer_id_from_bytes(sha, sizeof(sha), &id2, NULL), -EPROTONOSUPPORT);
	/* Base58 of leading zero bytes: one '1' each. */
	uint8_t z[3] = {0, 0, 1};
	char t[8];
	assert_int_equal(wm_base58_encode(z, 3, t, sizeof(t)), 0);
	assert_string_equal(t, "112");
	assert_int_equal(wm_base58_decode("112", b, sizeof(b)), 3);
	assert_memory_equal(b, z, 3);
}

static void test_multiaddr(void **state)
{
	uint8_t b[WM_MADDR_MAX], want[WM_MADDR_MAX];
	char text[WM_MADDR_TEXT_MAX], err[256];
	struct wm_maddr_tcp t;
	(void)state;

	int n = wm_maddr_parse("/ip4/127.0.0.1/tcp/4001/p2p/" JS_PEER, b, sizeof(b), err,
			       sizeof(err));
	size_t wl = unhex(JS_MA, want);
	assert_int_equal(n, (int)wl);
	assert_memory_equal(b, want, wl);
	assert_int_equal(wm_maddr_print(b, (size_t)n, text, sizeof(text)), 0);
	assert_string_equal(text, "/ip4/127.0.0.1/tcp/4001/p2p/" JS_PEER);
	assert_int_equal(wm_maddr_to_tcp(b, (size_t)n, &t), 0);
	assert_int_equal(t.family, 4);
	assert_int_equal(t.port, 4001);
	assert_true(t.has_peer);
	assert_int_equal(wm_maddr_from_tcp(&t, want, sizeof(want)), n);
	assert_memory_equal(want, b, (size_t)n);

	/* js: /ip6/fd77::1/tcp/443/dns4/a.b/p2p-circuit */
	wl = unhex("29fd7700000000000000000000000000010601bb3603612e62a202", want);
	n = wm_maddr_parse("/ip6/fd77::1/tcp/443/dns4/a.b/p2p-circuit", b, sizeof(b), err,
			   sizeof(err));
	assert_int_equal(n, (int)wl);
	assert_memory_equal(b, want, wl);
	assert_int_equal(wm_maddr_print(b, (size_t)n, text, sizeof(text)), 0);
	assert_string_equal(text, "/ip6/fd77::1/tcp/443/dns4/a.b/p2p-circuit");
	assert_int_equal(wm_maddr_to_tcp(b, (size_t)n, &t), -EINVAL); /* not a plain TCP one */

	assert_int_equal(wm_maddr_parse("/ip4/1.2.3/tcp/1", b, sizeof(b), err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "1.2.3"));
	assert_int_equal(wm_maddr_parse("/ip4/1.2.3.4/tcp/65536", b, sizeof(b), err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "65536"));
	assert_int_equal(wm_maddr_parse("/ip4/1.2.3.4/sctp/1", b, sizeof(b), err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "sctp"));
	assert_int_equal(wm_maddr_parse("ip4/1.2.3.4", b, sizeof(b), err, sizeof(err)), -EINVAL);
	assert_int_equal(wm_maddr_parse("/ip4", b, sizeof(b), err, sizeof(err)), -EINVAL);
	assert_int_equal(wm_maddr_parse("/p2p/QmNotAnEd25519Key", b, sizeof(b), err, sizeof(err)),
			 -EINVAL);
	/* Truncated binary and an unknown code. */
	uint8_t trunc[] = {0x04, 0x7f, 0x00};
	assert_int_equal(wm_maddr_print(trunc, sizeof(trunc), text, sizeof(text)), -EBADMSG);
	/* Found by fuzz_p2p_multiaddr: what print shows, parse takes back. */
	assert_int_equal(wm_maddr_parse("/dns/a\x01b", b, sizeof(b), err, sizeof(err)), -EINVAL);
	n = wm_maddr_parse("/ip4/127.0.0.1/tcp/4001/p2p/" JS_PEER, b, sizeof(b), err, sizeof(err));
	b[n - 35] = 0x02; /* a secp256k1 key: not a peer ID we accept */
	assert_int_not_equal(wm_maddr_print(b, (size_t)n, text, sizeof(text)), 0);
	uint8_t unk[] = {0x99, 0x01};
	assert_int_equal(wm_maddr_print(unk, sizeof(unk), text, sizeof(text)), -EPROTONOSUPPORT);
}

static void test_identify(void **state)
{
	struct wm_identify m = {0}, d;
	uint8_t buf[WM_IDENTIFY_MAX];
	char err[128];
	(void)state;

	snprintf(m.protocol_version, sizeof(m.protocol_version), "ipfs/0.1.0");
	snprintf(m.agent_version, sizeof(m.agent_version), "webmesh/test");
	m.has_pubkey = true;
	memset(m.pubkey, 7, 32);
	int n = wm_maddr_parse("/ip4/10.0.0.1/tcp/4001", m.listen[0], WM_MADDR_MAX, err,
			       sizeof(err));
	assert_true(n > 0);
	m.listen_len[0] = (size_t)n;
	m.nlisten = 1;
	snprintf(m.protocols[0], WM_IDENTIFY_STR, "%s", WM_IDENTIFY_PROTOCOL);
	snprintf(m.protocols[1], WM_IDENTIFY_STR, "%s", WM_PING_PROTOCOL);
	m.nprotocols = 2;
	n = wm_identify_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(wm_identify_decode(buf, (size_t)n, &d), 0);
	assert_true(d.has_pubkey);
	assert_memory_equal(d.pubkey, m.pubkey, 32);
	assert_string_equal(d.protocol_version, "ipfs/0.1.0");
	assert_string_equal(d.agent_version, "webmesh/test");
	assert_int_equal(d.nlisten, 1);
	assert_memory_equal(d.listen[0], m.listen[0], m.listen_len[0]);
	assert_int_equal(d.nprotocols, 2);
	assert_string_equal(d.protocols[1], WM_PING_PROTOCOL);
	assert_int_equal(wm_identify_encode(&m, buf, 10), -ENOSPC);
	/* A string field with a control byte, a truncated field. */
	uint8_t bad[] = {0x2a, 0x02, 'a', 0x00};
	assert_int_equal(wm_identify_decode(bad, sizeof(bad), &d), -EBADMSG);
	uint8_t cut[] = {0x2a, 0x05, 'a'};
	assert_int_equal(wm_identify_decode(cut, sizeof(cut), &d), -EBADMSG);
	/* More protocols than the table holds: the first ones are kept. */
	size_t off = 0;
	for (int i = 0; i < WM_IDENTIFY_PROTOS + 5; i++)
		assert_int_equal(wm_pb_put_bytes(buf, sizeof(buf), &off, 3, "/p", 2), 0);
	assert_int_equal(wm_identify_decode(buf, off, &d), 0);
	assert_int_equal(d.nprotocols, WM_IDENTIFY_PROTOS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_varint),	 cmocka_unit_test(test_multistream),
		cmocka_unit_test(test_peer_id),	 cmocka_unit_test(test_multiaddr),
		cmocka_unit_test(test_identify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
