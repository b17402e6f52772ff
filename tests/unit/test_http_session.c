/* Unit tests for src/http/session.c: one-time console tokens and sessions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "http/session.h"

static void rnd_of(uint8_t r[WM_SESSION_SECRET_LEN], uint8_t v)
{
	memset(r, v, WM_SESSION_SECRET_LEN);
}

/* A token buys one session, once; the session is valid until it expires. */
static void test_token_once(void **state)
{
	(void)state;
	struct wm_sessions s;
	uint8_t r[WM_SESSION_SECRET_LEN];
	char tok[WM_SESSION_HEX_LEN + 1], cookie[WM_SESSION_HEX_LEN + 1];
	wm_sessions_init(&s, 1000, 5000);
	rnd_of(r, 0xab);
	wm_sessions_token_add(&s, r, 100, tok);
	assert_int_equal(strlen(tok), WM_SESSION_HEX_LEN);
	assert_int_equal(strncmp(tok, "abab", 4), 0);
	rnd_of(r, 0x01);
	assert_int_equal(wm_sessions_redeem(&s, tok, r, 200, cookie), 0);
	assert_true(wm_sessions_valid(&s, cookie, 300));
	assert_true(wm_sessions_valid(&s, cookie, 5099));
	assert_false(wm_sessions_valid(&s, cookie, 5200)); /* expired */
	/* spent */
	assert_int_equal(wm_sessions_redeem(&s, tok, r, 300, cookie), -EACCES);
	/* the token is no cookie, nor the cookie a token */
	assert_false(wm_sessions_valid(&s, tok, 300));
}

static void test_token_expires_and_malformed(void **state)
{
	(void)state;
	struct wm_sessions s;
	uint8_t r[WM_SESSION_SECRET_LEN];
	char tok[WM_SESSION_HEX_LEN + 1], cookie[WM_SESSION_HEX_LEN + 1];
	wm_sessions_init(&s, 1000, 5000);
	rnd_of(r, 0x42);
	wm_sessions_token_add(&s, r, 0, tok);
	assert_int_equal(wm_sessions_redeem(&s, tok, r, 1000, cookie), -EACCES);
	wm_sessions_token_add(&s, r, 2000, tok);
	char bad[WM_SESSION_HEX_LEN + 2];
	memcpy(bad, tok, sizeof(tok));
	bad[WM_SESSION_HEX_LEN - 1] = 'X'; /* not hex */
	assert_int_equal(wm_sessions_redeem(&s, bad, r, 2001, cookie), -EACCES);
	memcpy(bad, tok, sizeof(tok));
	bad[WM_SESSION_HEX_LEN] = '0'; /* one too long */
	bad[WM_SESSION_HEX_LEN + 1] = '\0';
	assert_int_equal(wm_sessions_redeem(&s, bad, r, 2001, cookie), -EACCES);
	assert_int_equal(wm_sessions_redeem(&s, "", r, 2001, cookie), -EACCES);
	assert_int_equal(wm_sessions_redeem(&s, NULL, r, 2001, cookie), -EACCES);
	/* the good one still works after the bad tries */
	assert_int_equal(wm_sessions_redeem(&s, tok, r, 2001, cookie), 0);
	/* an all-zero empty slot never matches */
	char zeros[WM_SESSION_HEX_LEN + 1];
	memset(zeros, '0', WM_SESSION_HEX_LEN);
	zeros[WM_SESSION_HEX_LEN] = '\0';
	assert_false(wm_sessions_valid(&s, zeros, 2002));
}

/* Asking for more tokens than the table holds replaces the oldest. */
static void test_full_table_replaces_oldest(void **state)
{
	(void)state;
	struct wm_sessions s;
	uint8_t r[WM_SESSION_SECRET_LEN];
	char first[WM_SESSION_HEX_LEN + 1], last[WM_SESSION_HEX_LEN + 1];
	char cookie[WM_SESSION_HEX_LEN + 1];
	wm_sessions_init(&s, 100000, 5000);
	for (int i = 0; i <= WM_SESSION_TOKENS; i++) {
		rnd_of(r, (uint8_t)(i + 1));
		wm_sessions_token_add(&s, r, (uint64_t)i, i == 0 ? first : last);
	}
	assert_int_equal(wm_sessions_redeem(&s, first, r, 50, cookie), -EACCES);
	assert_int_equal(wm_sessions_redeem(&s, last, r, 50, cookie), 0);
}

static void test_cookie_header(void **state)
{
	(void)state;
	char v[80];
	assert_int_equal(wm_cookie_get("a=1; wm_session=abc; b=2", "wm_session", v, sizeof(v)), 0);
	assert_string_equal(v, "abc");
	assert_int_equal(wm_cookie_get("wm_session=xyz", "wm_session", v, sizeof(v)), 0);
	assert_string_equal(v, "xyz");
	assert_int_equal(wm_cookie_get("xwm_session=1; wm_sessionx=2", "wm_session", v, sizeof(v)),
			 -ENOENT);
	assert_int_equal(wm_cookie_get("", "wm_session", v, sizeof(v)), -ENOENT);
	assert_int_equal(wm_cookie_get("wm_session=0123456789", "wm_session", v, 5), -EINVAL);
}

/* DNS rebinding: only names no DNS answer can re-point pass. */
static void test_host_is_local(void **state)
{
	(void)state;
	const char *ok[] = {"127.0.0.1",
			    "127.0.0.1:8080",
			    "localhost",
			    "LOCALHOST:80",
			    "console.localhost:8080",
			    "[::1]",
			    "[::1]:8080",
			    "10.0.0.1:1",
			    "[::ffff:127.0.0.1]:8080"};
	const char *bad[] = {"evil.example",
			     "evil.example:8080",
			     "127.0.0.1.evil.example",
			     "localhost.",
			     "localhost.evil.example",
			     "evillocalhost",
			     ".localhost",
			     "",
			     ":8080",
			     "127.0.0.1:",
			     "127.0.0.1:123456",
			     "127.0.0.1:80x",
			     "[::1",
			     "[]:80",
			     "[::1]x",
			     "[::1]:",
			     "[evil]:80",
			     "local host",
			     "127.0.0.1 ",
			     NULL};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_true(wm_http_host_is_local(ok[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(wm_http_host_is_local(bad[i]));
}

/* http-allowed-hosts: exact names, any case, an optional numeric port;
 * nothing that merely contains or extends an allowed name. */
static void test_host_named(void **state)
{
	(void)state;
	const char *names[] = {"metrics.example", "N3.lan"};
	const char *ok[] = {"metrics.example", "METRICS.example:8080", "n3.lan", "n3.LAN:1"};
	const char *bad[] = {"metrics.example.evil.example",
			     "evil.metrics.example",
			     "metrics.exampl",
			     "n3.lan.",
			     "n3.lan:",
			     "n3.lan:80x",
			     "n3.lan:123456",
			     "[n3.lan]",
			     "",
			     ":80",
			     NULL};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_true(wm_http_host_named(ok[i], names, 2));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(wm_http_host_named(bad[i], names, 2));
	assert_false(wm_http_host_named("metrics.example", names, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_once),
		cmocka_unit_test(test_token_expires_and_malformed),
		cmocka_unit_test(test_full_table_replaces_oldest),
		cmocka_unit_test(test_cookie_header),
		cmocka_unit_test(test_host_is_local),
		cmocka_unit_test(test_host_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
