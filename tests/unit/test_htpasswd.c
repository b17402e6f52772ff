/* htpasswd parsing: accepted hashes, refused ones named by line, limits. */
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

#include "core/htpasswd.h"

/* Real hashes of "pw" (crypt(3)). */
#define BCRYPTB "$2b$05$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q"
#define BCRYPT "$2y$05$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q"
#define YESCRYPT "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$U4SOHmDd8SvW5vCUKSMR6N835VPwFAtgYNhQ9mFFeL5"
#define SHA256 "$5$saltsalt$0rl.MZtoLLPP3X0Rdl8riRnphIcAXJY27/aOAyK2hB5"
#define SHA512                                                                                     \
	"$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/"  \
	"08R2BPH2xk/"
#define SHA512R                                                                                    \
	"$6$rounds=5000$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D."                        \
	"PLTfpV8sqvXwWdyfsgVgozkYH9B"                                                              \
	"80bAip/08R2BPH2xk/"

static int parse(const char *text, struct wm_htpasswd *h, char *err)
{
	return wm_htpasswd_parse(text, strlen(text), h, err, 256);
}

static void test_good(void **state)
{
	(void)state;
	struct wm_htpasswd h;
	char err[256] = "";
	const char *text = "# users\n"
			   "carol:" BCRYPT "\r\n"
			   "\n"
			   "alice:" YESCRYPT "\n"
			   "bob:" SHA512 "\n"
			   "dave:" SHA256 "\n"
			   "erin:" BCRYPTB "\n"
			   "frank:" SHA512R; /* no final newline */
	assert_int_equal(parse(text, &h, err), 0);
	assert_int_equal(h.n, 6);
	assert_string_equal(h.entries[0].user, "alice"); /* sorted */
	assert_int_equal(h.entries[0].kind, WM_HASH_YESCRYPT);
	const struct wm_htpasswd_entry *e = wm_htpasswd_find(&h, "carol");
	assert_non_null(e);
	assert_string_equal(e->hash, BCRYPT);
	assert_int_equal(e->kind, WM_HASH_BCRYPT);
	assert_int_equal(wm_htpasswd_find(&h, "bob")->kind, WM_HASH_SHA512);
	assert_int_equal(wm_htpasswd_find(&h, "dave")->kind, WM_HASH_SHA256);
	assert_null(wm_htpasswd_find(&h, "mallory"));
	assert_null(wm_htpasswd_find(&h, ""));
	wm_htpasswd_free(&h);

	assert_int_equal(parse("", &h, err), 0);
	assert_int_equal(h.n, 0);
	assert_null(wm_htpasswd_find(&h, "a"));
	wm_htpasswd_free(&h);
}

static void expect_refused(const char *text, const char *needle)
{
	struct wm_htpasswd h;
	char err[256] = "";
	assert_int_equal(parse(text, &h, err), -EINVAL);
	assert_null(h.entries);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

static void test_refused(void **state)
{
	(void)state;
	expect_refused("alice:secret\n", "line 1 (user \"alice\"): not a hash");
	expect_refused("a:" BCRYPT "\nbob:$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0\n",
		       "line 2 (user \"bob\"): an MD5-crypt ($1$)");
	expect_refused("bob:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n", "Apache MD5");
	expect_refused("bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", "unsalted SHA-1");
	expect_refused("bob:{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", "salted SHA-1");
	expect_refused("bob:rqXexS6ZhobKA\n", "DES-crypt");
	expect_refused("bob:$2a$05$abcdefghijklmnopqrstuuKmNKmI9bp1BzjDAsqkMHsw1CAQkJ2Se\n",
		       "old, flawed");
	expect_refused("bob:$2y$03$abcdefghijklmnopqrstuuKmNKmI9bp1BzjDAsqkMHsw1CAQkJ2Se\n",
		       "cost");
	expect_refused("bob:$2y$05$short\n", "malformed bcrypt");
	expect_refused("bob:$6$salt$tooshort\n", "malformed SHA-crypt");
	expect_refused("bob:$6$rounds=10$saltsalt$x\n", "rounds");
	expect_refused("bob:$y$j9T$salt\n", "malformed yescrypt");
	expect_refused("bob:$7$abc\n", "unknown or unsupported");
	expect_refused("bob:\n", "empty password hash");
	expect_refused("\n\nnocolon\n", "line 3: not \"user:hash\"");
	expect_refused(":" BCRYPT "\n", "user name is empty");
	expect_refused("a:" BCRYPT "\na:" SHA256 "\n", "\"a\" is listed twice");
	expect_refused("a\tb:" BCRYPT "\n", "line 1: contains a control character");
}

/* The hash text never shows up in an error. */
static void test_no_hash_in_error(void **state)
{
	(void)state;
	struct wm_htpasswd h;
	char err[256] = "";
	assert_int_equal(parse("bob:hunter2-plaintext\n", &h, err), -EINVAL);
	assert_null(strstr(err, "hunter2"));
}

static void test_limits(void **state)
{
	(void)state;
	struct wm_htpasswd h;
	char err[256];
	char user[300];
	memset(user, 'u', 256);
	user[256] = '\0';
	char *line = malloc(400);
	snprintf(line, 400, "%s:%s\n", user, BCRYPT);
	assert_int_equal(parse(line, &h, err), -EINVAL);
	assert_non_null(strstr(err, "longer than 255"));
	free(line);
	assert_int_equal(wm_htpasswd_parse("x", WM_HTPASSWD_MAX_BYTES + 1, &h, err, sizeof(err)),
			 -E2BIG);
}

static void test_classify(void **state)
{
	(void)state;
	enum wm_hash_kind k;
	const char *why = NULL;
	assert_int_equal(wm_hash_classify(BCRYPT, &k, &why), 0);
	assert_int_equal(k, WM_HASH_BCRYPT);
	assert_int_equal(wm_hash_classify(YESCRYPT, &k, NULL), 0);
	assert_int_equal(k, WM_HASH_YESCRYPT);
	assert_int_equal(wm_hash_classify(NULL, &k, &why), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_no_hash_in_error),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_classify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
