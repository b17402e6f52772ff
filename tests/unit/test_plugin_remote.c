/* Out-of-process plugin settings (src/plugin/host.c, exec.c): every mistake
 * in a grpcs:// or exec: plugin's configuration is refused at start with a
 * message naming it, before any process is started or host dialled. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "plugin/plugin_int.h"

/* wm_plugins_new with the given --plugin and --plugin-config items; returns
 * its result with the message in err. */
static int start_in(const char *plugin, const char *const *cfgs, const char *state_dir, char *err,
		    size_t errlen)
{
	struct wm_config c;
	struct wm_plugins *h = NULL;
	uv_loop_t loop;
	char e[512];

	uv_loop_init(&loop);
	assert_int_equal(wm_config_init(&c), 0);
	if (wm_config_append(&c, wm_cfg_find("plugin"), plugin, "t", e, sizeof(e)) != 0)
		fail_msg("%s", e);
	for (size_t i = 0; cfgs && cfgs[i]; i++)
		if (wm_config_append(&c, wm_cfg_find("plugin-config"), cfgs[i], "t", e,
				     sizeof(e)) != 0)
			fail_msg("%s", e);
	if (state_dir &&
	    wm_config_append(&c, wm_cfg_find("state-dir"), state_dir, "t", e, sizeof(e)) != 0)
		fail_msg("%s", e);
	err[0] = '\0';
	int r = wm_plugins_new(&loop, &c, &h, err, errlen);
	if (r == 0) {
		wm_plugins_close(h);
		uv_run(&loop, UV_RUN_DEFAULT);
		wm_plugins_free(h);
	}
	wm_config_free(&c);
	assert_int_equal(uv_loop_close(&loop), 0);
	return r;
}

static int start(const char *plugin, const char *const *cfgs, char *err, size_t errlen)
{
	return start_in(plugin, cfgs, NULL, err, errlen);
}

/* The exec: child's socket lives in the state directory: one that others can
 * write (where they could bind the path first and answer in the plugin's
 * place) is refused, naming it; a private one is taken. */
static void test_exec_socket_dir_private(void **state)
{
	(void)state;
	char err[512], dir[] = "/tmp/wm-plugin-dir-XXXXXX", sub[128], sock[160];
	const char *cfg[] = {"e.capabilities=watch", NULL};
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/plugins", dir);
	snprintf(sock, sizeof(sock), "%s/e.sock", sub);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(chmod(sub, 01777), 0); /* plugins/ open to all */
	assert_int_equal(start_in("e=exec:/bin/true", cfg, dir, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "no one else can write"));
	assert_non_null(strstr(err, sub));
	assert_int_equal(chmod(sub, 0700), 0);
	assert_int_equal(chmod(dir, 0770), 0); /* the state dir open to the group */
	assert_int_equal(start_in("e=exec:/bin/true", cfg, dir, err, sizeof(err)), -EPERM);
	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(start_in("e=exec:/bin/true", cfg, dir, err, sizeof(err)), 0);
	unlink(sock);
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_grpcs_needs_mtls_files(void **state)
{
	(void)state;
	char err[512];
	const char *only_ca[] = {"r.ca-file=/nonexistent/ca.crt", NULL};
	assert_int_equal(start("r=grpcs://127.0.0.1:7443", NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "needs plugin-config r.ca-file, r.cert and r.key"));
	assert_int_equal(start("r=grpcs://127.0.0.1:7443", only_ca, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "needs plugin-config r.ca-file, r.cert and r.key"));
}

static void test_grpcs_bad_files_named(void **state)
{
	(void)state;
	char err[512];
	const char *cfg[] = {"r.ca-file=/nonexistent/ca.crt", "r.cert=/nonexistent/c.crt",
			     "r.key=/nonexistent/c.key", NULL};
	assert_true(start("r=grpcs://127.0.0.1:7443", cfg, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "plugin r: "));
}

static void test_grpcs_bad_address(void **state)
{
	(void)state;
	char err[512];
	const char *cfg[] = {"r.ca-file=/x", "r.cert=/y", "r.key=/z", NULL};
	const char *bad[] = {"r=grpcs://nohost",    "r=grpcs://h:0",	    "r=grpcs://h:70000",
			     "r=grpcs://[::1]7443", "r=grpcs://h:443/path", "r=grpcs://u@h:443"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(start(bad[i], cfg, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "is not grpcs://HOST:PORT"));
	}
}

static void test_grpcs_stray_key_refused(void **state)
{
	(void)state;
	char err[512];
	const char *cfg[] = {"r.ca-file=/x", "r.cert=/y", "r.key=/z", "r.tokens=/t", NULL};
	assert_int_equal(start("r=grpcs://127.0.0.1:7443", cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "r.tokens is not used by a grpcs:// plugin"));
}

static void test_capabilities_checked(void **state)
{
	(void)state;
	char err[512];
	const char *bad[] = {"e.capabilities=auth+storage", NULL};
	const char *empty[] = {"e.capabilities=", NULL};
	assert_int_equal(start("e=exec:/bin/true", bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "\"storage\" is not auth, ipam or watch"));
	assert_int_equal(start("e=exec:/bin/true", empty, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "e.capabilities is empty"));
}

static void test_exec_refuses_tls_keys(void **state)
{
	(void)state;
	char err[512];
	const char *cfg[] = {"e.cert=/y", NULL};
	assert_int_equal(start("e=exec:/bin/true", cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "are for grpcs:// plugins"));
}

static void test_plain_grpc_refused(void **state)
{
	(void)state;
	struct wm_config c;
	char err[512];
	assert_int_equal(wm_config_init(&c), 0);
	assert_int_not_equal(wm_config_append(&c, wm_cfg_find("plugin"), "r=grpc://10.0.0.1:7443",
					      "t", err, sizeof(err)),
			     0);
	assert_non_null(strstr(err, "mutual TLS only"));
	wm_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grpcs_needs_mtls_files),
		cmocka_unit_test(test_grpcs_bad_files_named),
		cmocka_unit_test(test_grpcs_bad_address),
		cmocka_unit_test(test_grpcs_stray_key_refused),
		cmocka_unit_test(test_capabilities_checked),
		cmocka_unit_test(test_exec_socket_dir_private),
		cmocka_unit_test(test_exec_refuses_tls_keys),
		cmocka_unit_test(test_plain_grpc_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
