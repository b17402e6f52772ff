/* The STUN Binding codec (src/nat/stun.c), checked against an independent
 * implementation: libnice's STUN library builds the server's answers and
 * validates our requests, zlib's crc32 checks our CRC. Hand-made messages
 * cover what a well-behaved server never sends. */
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
#include <zlib.h>

#include "nat/stun.h"

static const uint8_t TXID[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
static const uint16_t KNOWN[] = {STUN_ATTRIBUTE_MAPPED_ADDRESS, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
				 STUN_ATTRIBUTE_FINGERPRINT, STUN_ATTRIBUTE_SOFTWARE, 0};
static const uint16_t KNOWN_TURN[] = {STUN_ATTRIBUTE_REQUESTED_TRANSPORT,
				      STUN_ATTRIBUTE_FINGERPRINT, 0};

static void test_crc32(void **state)
{
	(void)state;
	uint8_t buf[300];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	for (size_t n = 0; n <= sizeof(buf); n += 37)
		assert_int_equal(wm_stun_crc32(buf, n), (uint32_t)crc32(0, buf, (uInt)n));
	assert_int_equal(wm_stun_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
}

/* libnice, acting as the server, accepts our request (FINGERPRINT checked). */
static void test_request_accepted_by_libnice(void **state)
{
	(void)state;
	uint8_t buf[64];
	StunAgent agent;
	StunMessage msg;
	int n;

	assert_int_equal(wm_stun_binding_request(TXID, true, buf, 27), -ENOSPC);
	n = wm_stun_binding_request(TXID, true, buf, sizeof(buf));
	assert_int_equal(n, 28);
	assert_true(wm_stun_is_message(buf, (size_t)n));
	stun_agent_init(&agent, KNOWN, STUN_COMPATIBILITY_RFC5389,
			STUN_AGENT_USAGE_USE_FINGERPRINT | STUN_AGENT_USAGE_IGNORE_CREDENTIALS);
	assert_int_equal(stun_agent_validate(&agent, &msg, buf, (size_t)n, NULL, NULL),
			 STUN_VALIDATION_SUCCESS);
	assert_int_equal(stun_message_get_class(&msg), STUN_REQUEST);
	assert_int_equal(stun_message_get_method(&msg), STUN_BINDING);
	/* a flipped bit in the fingerprint is caught by libnice too */
	buf[27] ^= 1;
	assert_int_not_equal(stun_agent_validate(&agent, &msg, buf, (size_t)n, NULL, NULL),
			     STUN_VALIDATION_SUCCESS);
	n = wm_stun_binding_request(TXID, false, buf, sizeof(buf));
	assert_int_equal(n, 20);
	assert_int_equal(buf[2], 0);
	assert_int_equal(buf[3], 0);
}

/* netcheck's TURN probe: libnice reads our Allocate as a valid request with
 * REQUESTED-TRANSPORT UDP, and its 401 answer is recognised as the response. */
static void test_allocate_probe(void **state)
{
	(void)state;
	uint8_t buf[64], out[512];
	StunAgent agent;
	StunMessage rq, rs;
	uint8_t proto = 0;
	uint32_t transport = 0;
	int n;

	assert_int_equal(wm_stun_allocate_request(TXID, buf, 35), -ENOSPC);
	n = wm_stun_allocate_request(TXID, buf, sizeof(buf));
	assert_int_equal(n, 36);
	stun_agent_init(&agent, KNOWN_TURN, STUN_COMPATIBILITY_RFC5389,
			STUN_AGENT_USAGE_USE_FINGERPRINT | STUN_AGENT_USAGE_IGNORE_CREDENTIALS);
	assert_int_equal(stun_agent_validate(&agent, &rq, buf, (size_t)n, NULL, NULL),
			 STUN_VALIDATION_SUCCESS);
	assert_int_equal(stun_message_get_class(&rq), STUN_REQUEST);
	assert_int_equal(stun_message_get_method(&rq), STUN_ALLOCATE);
	assert_int_equal(stun_message_find32(&rq, STUN_ATTRIBUTE_REQUESTED_TRANSPORT, &transport),
			 STUN_MESSAGE_RETURN_SUCCESS);
	proto = (uint8_t)(transport >> 24);
	assert_int_equal(proto, 17);
	assert_true(
		stun_agent_init_error(&agent, &rs, out, sizeof(out), &rq, STUN_ERROR_UNAUTHORIZED));
	size_t len = stun_agent_finish_message(&agent, &rs, NULL, 0);
	assert_true(len > 0);
	assert_int_equal(wm_stun_response_type(out, len, TXID), WM_STUN_ALLOCATE_ERROR);
	/* another transaction, our own request, and garbage are not answers */
	uint8_t other[WM_STUN_TXID_LEN];
	memcpy(other, TXID, sizeof(other));
	other[0] ^= 1;
	assert_int_equal(wm_stun_response_type(out, len, other), -ENOMSG);
	assert_int_equal(wm_stun_response_type(buf, (size_t)n, TXID), -ENOMSG);
	assert_int_equal(wm_stun_response_type(out, len - 1, TXID), -EINVAL);
}

/* Builds libnice's answer to our request: success with the given addresses,
 * or an error when err != 0. Returns its length. */
static size_t libnice_answer(uint8_t *out, size_t outlen, const struct sockaddr *xor_addr,
			     const struct sockaddr *plain_addr, socklen_t alen, int err)
{
	uint8_t req[64];
	StunAgent agent;
	StunMessage rq, rs;
	int n = wm_stun_binding_request(TXID, true, req, sizeof(req));

	stun_agent_init(&agent, KNOWN, STUN_COMPATIBILITY_RFC5389,
			STUN_AGENT_USAGE_USE_FINGERPRINT | STUN_AGENT_USAGE_IGNORE_CREDENTIALS);
	assert_int_equal(stun_agent_validate(&agent, &rq, req, (size_t)n, NULL, NULL),
			 STUN_VALIDATION_SUCCESS);
	if (err) {
		assert_true(stun_agent_init_error(&agent, &rs, out, outlen, &rq, (StunError)err));
	} else {
		assert_true(stun_agent_init_response(&agent, &rs, out, outlen, &rq));
		if (plain_addr)
			assert_int_equal(stun_message_append_addr(&rs,
								  STUN_ATTRIBUTE_MAPPED_ADDRESS,
								  plain_addr, alen),
					 STUN_MESSAGE_RETURN_SUCCESS);
		if (xor_addr)
			assert_int_equal(stun_message_append_xor_addr(
						 &rs, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
						 (const struct sockaddr_storage *)xor_addr, alen),
					 STUN_MESSAGE_RETURN_SUCCESS);
		assert_int_equal(stun_message_append_string(&rs, STUN_ATTRIBUTE_SOFTWARE, "x"),
				 STUN_MESSAGE_RETURN_SUCCESS);
	}
	size_t len = stun_agent_finish_message(&agent, &rs, NULL, 0);
	assert_true(len > 0);
	return len;
}

static void test_parse_libnice_success(void **state)
{
	(void)state;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(40000)};
	struct sockaddr_in other = {.sin_family = AF_INET, .sin_port = htons(1)};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(51820)};
	struct wm_stun_response r;
	uint8_t buf[512];
	char text[WM_ENDPOINT_STRLEN];
	size_t len;

	inet_pton(AF_INET, "203.0.113.5", &sin.sin_addr);
	inet_pton(AF_INET, "192.0.2.99", &other.sin_addr);
	inet_pton(AF_INET6, "2001:db8::1:2", &sin6.sin6_addr);

	/* XOR-MAPPED-ADDRESS wins over a MAPPED-ADDRESS that came first */
	len = libnice_answer(buf, sizeof(buf), (struct sockaddr *)&sin, (struct sockaddr *)&other,
			     sizeof(sin), 0);
	assert_int_equal(wm_stun_parse_response(buf, len, TXID, &r), 0);
	assert_int_equal(r.type, WM_STUN_BINDING_SUCCESS);
	assert_true(r.has_xor_mapped);
	assert_true(r.has_mapped);
	assert_true(r.has_fingerprint);
	wm_endpoint_format(&r.mapped, text, sizeof(text));
	assert_string_equal(text, "203.0.113.5:40000");

	/* IPv6, XORed with the transaction ID too */
	len = libnice_answer(buf, sizeof(buf), (struct sockaddr *)&sin6, NULL, sizeof(sin6), 0);
	assert_int_equal(wm_stun_parse_response(buf, len, TXID, &r), 0);
	wm_endpoint_format(&r.mapped, text, sizeof(text));
	assert_string_equal(text, "[2001:db8::1:2]:51820");

	/* MAPPED-ADDRESS alone (RFC 3489 servers) */
	len = libnice_answer(buf, sizeof(buf), NULL, (struct sockaddr *)&other, sizeof(other), 0);
	assert_int_equal(wm_stun_parse_response(buf, len, NULL, &r), 0);
	assert_false(r.has_xor_mapped);
	assert_true(r.has_mapped);
	wm_endpoint_format(&r.mapped, text, sizeof(text));
	assert_string_equal(text, "192.0.2.99:1");

	/* another transaction */
	uint8_t other_txid[12] = {0};
	assert_int_equal(wm_stun_parse_response(buf, len, other_txid, &r), -ENOMSG);
	/* a corrupted body fails the FINGERPRINT */
	buf[len - 9] ^= 0x40;
	assert_int_equal(wm_stun_parse_response(buf, len, TXID, &r), -EBADMSG);
}

static void test_parse_libnice_error(void **state)
{
	(void)state;
	struct wm_stun_response r;
	uint8_t buf[512];
	size_t len = libnice_answer(buf, sizeof(buf), NULL, NULL, 0, STUN_ERROR_SERVER_ERROR);

	assert_int_equal(wm_stun_parse_response(buf, len, TXID, &r), 0);
	assert_int_equal(r.type, WM_STUN_BINDING_ERROR);
	assert_int_equal(r.error_code, 500);
	assert_true(strlen(r.error_reason) > 0);
	assert_false(r.has_xor_mapped);
}

/* ---- hand-made messages ---- */

struct msg {
	uint8_t b[256];
	size_t len;
};

static void msg_start(struct msg *m, uint16_t type)
{
	memset(m, 0, sizeof(*m));
	m->b[0] = (uint8_t)(type >> 8);
	m->b[1] = (uint8_t)type;
	m->b[4] = 0x21;
	m->b[5] = 0x12;
	m->b[6] = 0xA4;
	m->b[7] = 0x42;
	memcpy(m->b + 8, TXID, 12);
	m->len = 20;
}

static void msg_attr(struct msg *m, uint16_t type, const void *v, uint16_t vlen)
{
	m->b[m->len] = (uint8_t)(type >> 8);
	m->b[m->len + 1] = (uint8_t)type;
	m->b[m->len + 2] = (uint8_t)(vlen >> 8);
	m->b[m->len + 3] = (uint8_t)vlen;
	memcpy(m->b + m->len + 4, v, vlen);
	m->len += 4 + (((size_t)vlen + 3) & ~(size_t)3);
	m->b[2] = (uint8_t)((m->len - 20) >> 8);
	m->b[3] = (uint8_t)(m->len - 20);
}

static void msg_fingerprint(struct msg *m)
{
	uint8_t v[4] = {0};

	msg_attr(m, WM_STUN_ATTR_FINGERPRINT, v, 4); /* sets the final length */
	uint32_t crc = (uint32_t)crc32(0, m->b, (uInt)(m->len - 8)) ^ 0x5354554Eu;
	m->b[m->len - 4] = (uint8_t)(crc >> 24);
	m->b[m->len - 3] = (uint8_t)(crc >> 16);
	m->b[m->len - 2] = (uint8_t)(crc >> 8);
	m->b[m->len - 1] = (uint8_t)crc;
}

static const uint8_t XMAP4[] = {
	0,	    1,	      0x21 ^ 0x9c, 0x12 ^ 0x40, /* port 40000 = 0x9c40 */
	203 ^ 0x21, 0 ^ 0x12, 113 ^ 0xA4,  5 ^ 0x42};

static void test_parse_handmade(void **state)
{
	(void)state;
	struct wm_stun_response r;
	struct msg m;
	char text[WM_ENDPOINT_STRLEN];

	/* minimal: XOR-MAPPED-ADDRESS, no FINGERPRINT */
	msg_start(&m, WM_STUN_BINDING_SUCCESS);
	msg_attr(&m, WM_STUN_ATTR_XOR_MAPPED_ADDRESS, XMAP4, sizeof(XMAP4));
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), 0);
	assert_false(r.has_fingerprint);
	wm_endpoint_format(&r.mapped, text, sizeof(text));
	assert_string_equal(text, "203.0.113.5:40000");

	/* attributes after MESSAGE-INTEGRITY are ignored, FINGERPRINT still checked */
	uint8_t mi[20] = {0};
	uint8_t bogus[] = {0, 9, 0, 0}; /* unknown required type after MI: ignored */
	msg_start(&m, WM_STUN_BINDING_SUCCESS);
	msg_attr(&m, WM_STUN_ATTR_XOR_MAPPED_ADDRESS, XMAP4, sizeof(XMAP4));
	msg_attr(&m, WM_STUN_ATTR_MESSAGE_INTEGRITY, mi, sizeof(mi));
	msg_attr(&m, 0x7777, bogus, sizeof(bogus));
	msg_fingerprint(&m);
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), 0);
	assert_true(r.has_fingerprint);

	/* unknown comprehension-required attribute: discard */
	msg_start(&m, WM_STUN_BINDING_SUCCESS);
	msg_attr(&m, 0x7777, bogus, sizeof(bogus));
	msg_attr(&m, WM_STUN_ATTR_XOR_MAPPED_ADDRESS, XMAP4, sizeof(XMAP4));
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), -EPROTO);
	/* unknown comprehension-optional attribute: fine, odd length padded */
	msg_start(&m, WM_STUN_BINDING_SUCCESS);
	msg_attr(&m, 0x8077, "abc", 3);
	msg_attr(&m, WM_STUN_ATTR_XOR_MAPPED_ADDRESS, XMAP4, sizeof(XMAP4));
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), 0);

	/* FINGERPRINT not last */
	msg_start(&m, WM_STUN_BINDING_SUCCESS);
	msg_fingerprint(&m);
	msg_attr(&m, WM_STUN_ATTR_XOR_MAPPED_ADDRESS, XMAP4, sizeof(XMAP4));
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), -EBADMSG);

	/* error response with code 438 and a reason with a control character */
	uint8_t ec[] = {0, 0, 4, 38, 'S', 't', 0x1b, 'l', 'e'};
	msg_start(&m, WM_STUN_BINDING_ERROR);
	msg_attr(&m, WM_STUN_ATTR_ERROR_CODE, ec, sizeof(ec));
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), 0);
	assert_int_equal(r.error_code, 438);
	assert_string_equal(r.error_reason, "St?le");
	/* an error response without ERROR-CODE, or with a bad one */
	msg_start(&m, WM_STUN_BINDING_ERROR);
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), -EINVAL);
	uint8_t ec_bad[] = {0, 0, 7, 0};
	msg_attr(&m, WM_STUN_ATTR_ERROR_CODE, ec_bad, sizeof(ec_bad));
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), -EINVAL);

	/* a request is not a response */
	msg_start(&m, WM_STUN_BINDING_REQUEST);
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), -ENOMSG);
	/* success without any address: accepted, nothing mapped */
	msg_start(&m, WM_STUN_BINDING_SUCCESS);
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), 0);
	assert_false(r.has_xor_mapped || r.has_mapped);
}

static void test_parse_malformed(void **state)
{
	(void)state;
	struct wm_stun_response r;
	struct msg m;

	/* short, wrong cookie, top bits, length mismatch, length not a multiple of 4 */
	msg_start(&m, WM_STUN_BINDING_SUCCESS);
	assert_int_equal(wm_stun_parse_response(m.b, 19, TXID, &r), -EINVAL);
	assert_int_equal(wm_stun_parse_response(NULL, 0, TXID, &r), -EINVAL);
	m.b[4] = 0;
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), -EINVAL);
	msg_start(&m, WM_STUN_BINDING_SUCCESS);
	m.b[0] |= 0x80;
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), -EINVAL);
	msg_start(&m, WM_STUN_BINDING_SUCCESS);
	assert_int_equal(wm_stun_parse_response(m.b, m.len + 4, TXID, &r), -EINVAL);
	m.b[3] = 2;
	assert_int_equal(wm_stun_parse_response(m.b, 22, TXID, &r), -EINVAL);

	/* an attribute running past the end */
	msg_start(&m, WM_STUN_BINDING_SUCCESS);
	msg_attr(&m, WM_STUN_ATTR_XOR_MAPPED_ADDRESS, XMAP4, sizeof(XMAP4));
	m.b[23] = 12; /* value length 12 in an 8-byte slot */
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), -EINVAL);
	m.b[23] = 0xff;
	m.b[22] = 0xff;
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), -EINVAL);
	/* a truncated attribute header (2 bytes of 4) cannot happen with length % 4 == 0,
	 * but the wrong address sizes can */
	uint8_t v4_short[] = {0, 1, 0, 1, 1, 2, 3};
	uint8_t v6_as_v4[] = {0, 2, 0, 1, 1, 2, 3, 4};
	uint8_t fam3[] = {0, 3, 0, 1, 1, 2, 3, 4};
	msg_start(&m, WM_STUN_BINDING_SUCCESS);
	msg_attr(&m, WM_STUN_ATTR_XOR_MAPPED_ADDRESS, v4_short, sizeof(v4_short));
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), -EINVAL);
	msg_start(&m, WM_STUN_BINDING_SUCCESS);
	msg_attr(&m, WM_STUN_ATTR_MAPPED_ADDRESS, v6_as_v4, sizeof(v6_as_v4));
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), -EINVAL);
	msg_start(&m, WM_STUN_BINDING_SUCCESS);
	msg_attr(&m, WM_STUN_ATTR_MAPPED_ADDRESS, fam3, sizeof(fam3));
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), -EINVAL);
	/* FINGERPRINT of the wrong size, MESSAGE-INTEGRITY of the wrong size */
	msg_start(&m, WM_STUN_BINDING_SUCCESS);
	msg_attr(&m, WM_STUN_ATTR_FINGERPRINT, "12345678", 8);
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), -EBADMSG);
	msg_start(&m, WM_STUN_BINDING_SUCCESS);
	msg_attr(&m, WM_STUN_ATTR_MESSAGE_INTEGRITY, "1234", 4);
	assert_int_equal(wm_stun_parse_response(m.b, m.len, TXID, &r), -EINVAL);
	assert_false(wm_stun_is_message(m.b, 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32),
		cmocka_unit_test(test_request_accepted_by_libnice),
		cmocka_unit_test(test_parse_libnice_success),
		cmocka_unit_test(test_parse_libnice_error),
		cmocka_unit_test(test_parse_handmade),
		cmocka_unit_test(test_allocate_probe),
		cmocka_unit_test(test_parse_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
