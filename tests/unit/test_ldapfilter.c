/* RFC 4515 filter escaping: every special byte, injections, buffer limits;
 * and which ldap:// URLs stay on this host (clear text allowed). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/ldapfilter.h"

static void expect_escape(const char *in, const char *want)
{
	char out[256];
	int n = wm_ldap_filter_escape(in, out, sizeof(out));
	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(out, want);
}

static void test_plain(void **state)
{
	(void)state;
	expect_escape("", "");
	expect_escape("alice", "alice");
	expect_escape("a.b-c_d@example.com", "a.b-c_d@example.com");
	expect_escape("J\xc3\xbcrgen", "J\xc3\xbcrgen"); /* UTF-8 passes */
}

static void test_specials(void **state)
{
	(void)state;
	expect_escape("*", "\\2a");
	expect_escape("(", "\\28");
	expect_escape(")", "\\29");
	expect_escape("\\", "\\5c");
	expect_escape("\x01\x1f\x7f", "\\01\\1f\\7f");
	expect_escape("a*b(c)d\\e", "a\\2ab\\28c\\29d\\5ce");
}

static void test_injections(void **state)
{
	(void)state;
	expect_escape("*)(uid=*", "\\2a\\29\\28uid=\\2a");
	expect_escape("admin)(|(objectClass=*", "admin\\29\\28|\\28objectClass=\\2a");
	expect_escape("x)(&)", "x\\29\\28&\\29");
	expect_escape("\\2a", "\\5c2a"); /* an escape in the input stays literal */
}

/* Every byte value 1..255: the output never holds an unescaped special. */
static void test_every_byte(void **state)
{
	(void)state;
	for (int c = 1; c < 256; c++) {
		char in[2] = {(char)c, 0}, out[8];
		int n = wm_ldap_filter_escape(in, out, sizeof(out));
		bool special =
			c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c == 0x7f;
		assert_int_equal(n, special ? 3 : 1);
		if (special) {
			char want[4];
			snprintf(want, sizeof(want), "\\%02x", c);
			assert_string_equal(out, want);
		} else {
			assert_int_equal((unsigned char)out[0], c);
		}
	}
}

static void test_space(void **state)
{
	(void)state;
	char out[4];
	assert_int_equal(wm_ldap_filter_escape("abc", out, 4), 3);
	assert_int_equal(wm_ldap_filter_escape("abcd", out, 4), -ENOSPC);
	assert_string_equal(out, "");
	assert_int_equal(wm_ldap_filter_escape("*", out, 3), -ENOSPC);
	assert_int_equal(wm_ldap_filter_escape("*", out, 4), 3);
	assert_int_equal(wm_ldap_filter_escape("a", out, 0), -ENOSPC);
	assert_int_equal(wm_ldap_filter_escape(NULL, out, 4), -EINVAL);
}

static void test_user_filter(void **state)
{
	(void)state;
	char out[256];
	assert_true(wm_ldap_user_filter("uid", "*)(uid=*", NULL, out, sizeof(out)) > 0);
	assert_string_equal(out, "(uid=\\2a\\29\\28uid=\\2a)");
	assert_true(wm_ldap_user_filter("cn", "bob", "(objectClass=person)", out, sizeof(out)) > 0);
	assert_string_equal(out, "(&(cn=bob)(objectClass=person))");
	assert_int_equal(wm_ldap_user_filter("uid)(x", "bob", NULL, out, sizeof(out)), -EINVAL);
	assert_int_equal(wm_ldap_user_filter("", "bob", NULL, out, sizeof(out)), -EINVAL);
	/* numeric OIDs passed here and failed ldap-*-attr; one rule now (64 at most) */
	assert_int_equal(wm_ldap_user_filter("1.2.3", "bob", NULL, out, sizeof(out)), -EINVAL);
	assert_false(wm_ldap_attr_ok("1.2.3"));
	assert_true(wm_ldap_attr_ok("sAMAccountName"));
	assert_true(wm_ldap_attr_ok("a-9"));
	assert_false(wm_ldap_attr_ok("9a"));
	assert_false(wm_ldap_attr_ok("a;binary"));
	assert_true(wm_ldap_attr_ok(
		"a123456789012345678901234567890123456789012345678901234567890123"));
	assert_false(wm_ldap_attr_ok(
		"a1234567890123456789012345678901234567890123456789012345678901234"));
	assert_int_equal(wm_ldap_user_filter("uid", "bob", NULL, out, 8), -ENOSPC);
}

/* Exact host match: a host that only starts like a loopback name is elsewhere. */
static void test_url_loopback(void **state)
{
	static const char *const local[] = {
		"ldap://localhost",
		"ldap://localhost:389",
		"ldap://LocalHost:3890/",
		"LDAP://localhost",
		"ldap://127.0.0.1",
		"ldap://127.0.0.1:3890",
		"ldap://127.255.1.2:1/dc=example,dc=com?uid",
		"ldap://[::1]",
		"ldap://[::1]:3890",
		"ldap://[0:0:0:0:0:0:0:1]:389/",
		"ldap://localhost?uid",
	};
	static const char *const remote[] = {
		"ldap://localhost.evil.example",
		"ldap://localhost.evil.example:389",
		"ldap://127.example.com",
		"ldap://127.0.0.1.evil.example",
		"ldap://127.1",
		"ldap://127.0.0.1x",
		"ldap://128.0.0.1",
		"ldap://0.0.0.0",
		"ldap://10.0.0.1",
		"ldap://localhostx",
		"ldap://xlocalhost",
		"ldap://[::1].evil.example",
		"ldap://[::2]",
		"ldap://[::ffff:127.0.0.1]",
		"ldap://[::1",
		"ldap://::1",
		"ldap://localhost:",
		"ldap://localhost:123456",
		"ldap://localhost:38a9",
		"ldap://localhost@evil.example",
		"ldap://user@localhost",
		"ldap://localhost ldap://evil.example",
		"ldap://localhost/ ldap://evil.example",
		"ldap://%6cocalhost",
		"ldap://",
		"ldaps://localhost",
		"ldapi://localhost",
		"http://localhost",
		"localhost",
		"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
		if (!wm_ldap_url_is_loopback(local[i]))
			fail_msg("%s: not seen as loopback", local[i]);
	}
	for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++) {
		if (wm_ldap_url_is_loopback(remote[i]))
			fail_msg("%s: seen as loopback", remote[i]);
	}
	assert_false(wm_ldap_url_is_loopback(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),	     cmocka_unit_test(test_specials),
		cmocka_unit_test(test_injections),   cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_space),	     cmocka_unit_test(test_user_filter),
		cmocka_unit_test(test_url_loopback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
