/* htpasswd authentication through the asynchronous chain: good and wrong
 * passwords, unknown users, reloads, a file that turns bad (fail closed),
 * refused weak hashes at load, local and open chains. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "core/base64.h"
#include "test_util.h"

/* crypt(3) hashes of "pw" and "secret2". */
#define PW_BCRYPT "$2b$05$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q"
#define PW_YESCRYPT "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$U4SOHmDd8SvW5vCUKSMR6N835VPwFAtgYNhQ9mFFeL5"
#define PW_SHA512                                                                                  \
	"$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/"  \
	"08R2BPH2xk/"

static char path[] = "/tmp/wm-test-htpasswd-XXXXXX";

struct result {
	int done, err;
	struct wm_identity id;
	char why[256];
};

static void done_cb(void *data, int err, const struct wm_identity *id, const char *why)
{
	struct result *r = data;
	r->done++;
	r->err = err;
	if (id)
		r->id = *id;
	snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
}

/* Runs one request through the asynchronous interface. */
static int run(struct wm_auth *a, uv_loop_t *loop, const struct wm_auth_request *req,
	       struct result *res)
{
	memset(res, 0, sizeof(*res));
	assert_int_equal(wm_auth_authenticate(a, req, done_cb, res), 0);
	assert_int_equal(res->done, 0); /* never before it returns */
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(res->done, 1);
	return res->err;
}

static void test_basic(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct wm_auth *a;
	struct wm_authenticator au;
	struct result res;
	char err[256];

	assert_non_null(mkstemp(path) >= 0 ? path : NULL);
	test_replace_file(path, "alice:" PW_BCRYPT "\nbob:" PW_YESCRYPT "\ncarol:" PW_SHA512 "\n");
	uv_loop_init(&loop);
	assert_int_equal(wm_auth_new(&loop, &a), 0);
	assert_true(wm_auth_is_open(a));
	assert_int_equal(wm_auth_basic_new(path, &au, err, sizeof(err)), 0);
	assert_int_equal(wm_auth_add(a, &au), 0);
	assert_false(wm_auth_is_open(a));
	assert_string_equal(wm_auth_methods(a), "basic");

	struct wm_auth_request req = {.authorization = test_basic_auth("alice", "pw")};
	assert_int_equal(run(a, &loop, &req, &res), 0);
	assert_string_equal(res.id.id, "alice");
	assert_string_equal(res.id.method, "basic");
	req.authorization = test_basic_auth("bob", "pw");
	assert_int_equal(run(a, &loop, &req, &res), 0);
	req.authorization = test_basic_auth("carol", "pw");
	assert_int_equal(run(a, &loop, &req, &res), 0);
	req.authorization = test_basic_auth("alice", "wrong");
	assert_int_equal(run(a, &loop, &req, &res), -EACCES);
	assert_non_null(strstr(res.why, "wrong password"));
	assert_null(strstr(res.why, "wrong\"")); /* the password is not echoed */
	req.authorization = test_basic_auth("mallory", "pw");
	assert_int_equal(run(a, &loop, &req, &res), -EACCES);
	req.authorization = "Basic !!!notbase64";
	assert_int_equal(run(a, &loop, &req, &res), -EACCES);
	req.authorization = "Bearer abc";
	assert_int_equal(run(a, &loop, &req, &res), -EACCES);
	assert_non_null(strstr(res.why, "no credentials"));
	req.authorization = NULL;
	assert_int_equal(run(a, &loop, &req, &res), -EACCES);

	/* The file changes: bob goes, dave comes. */
	test_replace_file(path, "alice:" PW_BCRYPT "\ndave:" PW_BCRYPT "\n");
	req.authorization = test_basic_auth("bob", "pw");
	assert_int_equal(run(a, &loop, &req, &res), -EACCES);
	req.authorization = test_basic_auth("dave", "pw");
	assert_int_equal(run(a, &loop, &req, &res), 0);
	/* It turns invalid: everyone is refused until it is fixed. */
	test_replace_file(path, "alice:" PW_BCRYPT "\nbob:$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0\n");
	req.authorization = test_basic_auth("alice", "pw");
	assert_int_equal(run(a, &loop, &req, &res), -EIO);
	assert_non_null(strstr(res.why, "invalid"));
	test_replace_file(path, "alice:" PW_BCRYPT "\n");
	assert_int_equal(run(a, &loop, &req, &res), 0);

	/* The local socket needs nothing. */
	struct wm_auth_request local = {.local = true};
	assert_int_equal(run(a, &loop, &local, &res), 0);
	assert_true(res.id.local);
	assert_string_equal(res.id.method, "local");

	wm_auth_free(a);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	unlink(path);
}

static void test_open_and_refused_load(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct wm_auth *a;
	struct wm_authenticator au;
	struct result res;
	char err[256];

	uv_loop_init(&loop);
	assert_int_equal(wm_auth_new(&loop, &a), 0);
	struct wm_auth_request req = {0};
	assert_int_equal(run(a, &loop, &req, &res), 0);
	assert_true(res.id.anonymous);
	wm_auth_free(a);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);

	test_replace_file(path, "# comment\nalice:plaintext\n");
	assert_int_equal(wm_auth_basic_new(path, &au, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 2 (user \"alice\")"));
	assert_null(strstr(err, "plaintext\""));
	assert_int_equal(wm_auth_basic_new("/nonexistent/htpasswd", &au, err, sizeof(err)),
			 -ENOENT);
	unlink(path);
}

static void test_from_config(void **state)
{
	(void)state;
	struct wm_config cfg;
	struct wm_auth *a;
	char err[256];
	assert_int_equal(wm_config_init(&cfg), 0);
	assert_int_equal(wm_auth_from_config(NULL, &cfg, &a, err, sizeof(err)), 0);
	assert_true(wm_auth_is_open(a));
	wm_auth_free(a);
	cfg.basic_auth_file = strdup("/nonexistent/htpasswd");
	assert_int_equal(wm_auth_from_config(NULL, &cfg, &a, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "basic-auth-file"));
	wm_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_open_and_refused_load),
		cmocka_unit_test(test_from_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
