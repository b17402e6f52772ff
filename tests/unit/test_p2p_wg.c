/* /webmesh/wg/1.0.0 framing (src/core/p2pwg.c): boundaries kept across any
 * split of the byte stream, the bound on both sides, zero refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/p2pwg.h"

static size_t frame(uint8_t *out, const void *d, size_t len)
{
	assert_int_equal(wm_p2pwg_header(len, out), 0);
	memcpy(out + WM_P2PWG_HDR, d, len);
	return WM_P2PWG_HDR + len;
}

static void test_header(void **state)
{
	uint8_t h[WM_P2PWG_HDR];

	(void)state;
	assert_int_equal(wm_p2pwg_header(148, h), 0);
	assert_int_equal(h[0], 0);
	assert_int_equal(h[1], 148);
	assert_int_equal(wm_p2pwg_header(WM_P2PWG_DGRAM_MAX, h), 0);
	assert_int_equal(h[0], WM_P2PWG_DGRAM_MAX >> 8);
	assert_int_equal(h[1], WM_P2PWG_DGRAM_MAX & 0xff);
	assert_int_equal(wm_p2pwg_header(0, h), -EMSGSIZE);
	assert_int_equal(wm_p2pwg_header(WM_P2PWG_DGRAM_MAX + 1, h), -EMSGSIZE);
	assert_int_equal(wm_p2pwg_header(70000, h), -EMSGSIZE);
}

/* Three datagrams back to back, fed in every split of the stream into two
 * reads: the receiver sees the same three, whole, in order. */
static void test_boundaries_survive_any_split(void **state)
{
	uint8_t a[148], b[1], c[1420], stream[2048];
	size_t len = 0;

	(void)state;
	memset(a, 0xaa, sizeof(a));
	memset(b, 0xbb, sizeof(b));
	for (size_t i = 0; i < sizeof(c); i++)
		c[i] = (uint8_t)i;
	len += frame(stream + len, a, sizeof(a));
	len += frame(stream + len, b, sizeof(b));
	len += frame(stream + len, c, sizeof(c));
	for (size_t cut = 0; cut <= len; cut++) {
		uint8_t buf[2048];
		size_t have = 0, fed = 0, got = 0;
		const uint8_t *want[] = {a, b, c};
		const size_t want_len[] = {sizeof(a), sizeof(b), sizeof(c)};

		while (fed < len || have) {
			size_t n = fed < cut ? cut - fed : len - fed;
			memcpy(buf + have, stream + fed, n);
			have += n;
			fed += n;
			for (;;) {
				const uint8_t *d;
				size_t dl, used;
				int rc = wm_p2pwg_next(buf, have, &d, &dl, &used);
				assert_true(rc >= 0);
				if (rc == 0)
					break;
				assert_true(got < 3);
				assert_int_equal(dl, want_len[got]);
				assert_memory_equal(d, want[got], dl);
				got++;
				memmove(buf, buf + used, have - used);
				have -= used;
			}
			if (fed == len)
				break;
		}
		assert_int_equal(got, 3);
		assert_int_equal(have, 0);
	}
}

static void test_bad_lengths_refused_early(void **state)
{
	const uint8_t *d = NULL;
	size_t dl = 0, used = 0;
	uint8_t zero[] = {0, 0, 1, 2};
	uint8_t big[] = {(WM_P2PWG_DGRAM_MAX + 1) >> 8, (WM_P2PWG_DGRAM_MAX + 1) & 0xff};
	uint8_t max[] = {0xff, 0xff};
	uint8_t one[] = {0};

	(void)state;
	assert_int_equal(wm_p2pwg_next(zero, sizeof(zero), &d, &dl, &used), -EBADMSG);
	/* Refused from the header alone: nothing of the body is waited for. */
	assert_int_equal(wm_p2pwg_next(big, sizeof(big), &d, &dl, &used), -EBADMSG);
	assert_int_equal(wm_p2pwg_next(max, sizeof(max), &d, &dl, &used), -EBADMSG);
	assert_int_equal(wm_p2pwg_next(one, sizeof(one), &d, &dl, &used), 0);
	assert_int_equal(wm_p2pwg_next(one, 0, &d, &dl, &used), 0);
	assert_null(d);
}

static void test_pub_canon(void **state)
{
	const char *id = "12D3KooWJ1TsijH7H5F74hfAD5XishQz3sxrmAtVY37GtNd9CqYf";
	char idc[WM_P2P_PUB_ID_MAX], ac[WM_P2P_PUB_ADDRS_MAX], why[200], with_id[200];
	char *one[] = {with_id};
	char *split[WM_P2P_PUB_ADDRS];

	(void)state;
	assert_int_equal(wm_p2p_pub_canon(NULL, NULL, 0, idc, ac, why, sizeof(why)), 0);
	assert_string_equal(idc, "");
	assert_string_equal(ac, "");
	snprintf(with_id, sizeof(with_id), "/ip6/fd00:0:0::1/tcp/4001/p2p/%s", id);
	assert_int_equal(wm_p2p_pub_canon(id, one, 1, idc, ac, why, sizeof(why)), 0);
	assert_string_equal(idc, id);
	assert_string_equal(ac, "/ip6/fd00::1/tcp/4001");
	/* the longest addresses, four of them, fit */
	char *longest[] = {"/ip6/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/tcp/65535",
			   "/ip6/ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/tcp/65535",
			   "/ip6/ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffd/tcp/65535",
			   "/ip6/ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc/tcp/65535"};
	assert_int_equal(wm_p2p_pub_canon(id, longest, 4, idc, ac, why, sizeof(why)), 0);
	assert_int_equal(wm_p2p_pub_split(ac, split, WM_P2P_PUB_ADDRS), 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(split[i], longest[i]);
	/* refusals name what was wrong */
	assert_int_equal(wm_p2p_pub_canon("", one, 1, idc, ac, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "without a libp2p peer ID"));
	assert_int_equal(wm_p2p_pub_canon("12D3KooWnope", NULL, 0, idc, ac, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "not a libp2p peer ID"));
	char *dns[] = {"/dns4/example.org/tcp/4001"};
	assert_int_equal(wm_p2p_pub_canon(id, dns, 1, idc, ac, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "/ip4|ip6/ADDR/tcp/PORT"));
	char *null_addr[] = {NULL};
	assert_int_equal(wm_p2p_pub_canon(id, null_addr, 1, idc, ac, why, sizeof(why)), -EINVAL);
	assert_int_equal(wm_p2p_pub_split(ac, split, 4), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_boundaries_survive_any_split),
		cmocka_unit_test(test_bad_lengths_refused_early),
		cmocka_unit_test(test_pub_canon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
