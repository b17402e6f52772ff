/* The plugin loader's checks (src/plugin/load.c): a plugin with another ABI,
 * a short table or a missing function is refused with a message naming the
 * plugin and the problem; a good one loads. Fixtures: plugin_fixture.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "plugin/plugin.h"

static const char *fixture(int n)
{
	static char path[4096];
	snprintf(path, sizeof(path), "%s/plugin_fixture_%d.so", WM_FIXTURE_DIR, n);
	return path;
}

static void test_good_loads(void **st)
{
	(void)st;
	const struct webmesh_plugin *t = NULL;
	char err[512] = "";
	assert_int_equal(wm_plugin_open("good", fixture(1), &t, err, sizeof(err)), 0);
	assert_non_null(t);
	assert_string_equal(t->name, "fixture");
	assert_true(t->capabilities & WEBMESH_PLUGIN_CAP_IPAM);
}

static void test_wrong_abi(void **st)
{
	(void)st;
	const struct webmesh_plugin *t = NULL;
	char err[512] = "";
	assert_int_equal(wm_plugin_open("old", fixture(2), &t, err, sizeof(err)), -EPROTO);
	assert_null(t);
	assert_non_null(strstr(err, "plugin old: built for plugin ABI 2"));
	assert_non_null(strstr(err, "this webmeshd has ABI 1"));
}

static void test_short_table(void **st)
{
	(void)st;
	const struct webmesh_plugin *t = NULL;
	char err[512] = "";
	assert_int_equal(wm_plugin_open("short", fixture(3), &t, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "plugin short: its table is"));
	assert_non_null(strstr(err, "shorter than"));
}

static void test_missing_function(void **st)
{
	(void)st;
	const struct webmesh_plugin *t = NULL;
	char err[512] = "";
	assert_int_equal(wm_plugin_open("nofn", fixture(4), &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "plugin nofn: declares the ipam capability but has no ipam release");
}

static void test_no_symbol(void **st)
{
	(void)st;
	const struct webmesh_plugin *t = NULL;
	char err[512] = "";
	assert_int_equal(wm_plugin_open("nosym", fixture(5), &t, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "plugin nosym:"));
	assert_non_null(strstr(err, "exports no webmesh_plugin table"));
}

static void test_missing_file(void **st)
{
	(void)st;
	const struct webmesh_plugin *t = NULL;
	char err[512] = "";
	assert_int_equal(wm_plugin_open("gone", "/nonexistent/x.so", &t, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "plugin gone: cannot load /nonexistent/x.so"));
}

/* The pure checks, on tables built here: every capability's ops and
 * functions, names, bits. */
static int init(const struct webmesh_plugin_init_args *a, void **s, char *m, size_t l)
{
	(void)a, (void)s, (void)m, (void)l;
	return 0;
}
static int authn(void *s, const struct webmesh_auth_request *r, webmesh_auth_done_fn d, void *t,
		 char *m, size_t l)
{
	(void)s, (void)r, (void)d, (void)t, (void)m, (void)l;
	return 0;
}
static void ev(void *s, const struct webmesh_watch_event *e)
{
	(void)s, (void)e;
}

/* storage (appended within ABI 1): every function required, and a table
 * from before the field has none. */
static int s_open(void *st, const struct webmesh_storage_host *h, void **out, char *m, size_t l)
{
	(void)st, (void)h, (void)out, (void)m, (void)l;
	return -ENOTSUP;
}
static void s_close(void *store)
{
	(void)store;
}
static int s_apply(void *store, const uint8_t *c, size_t n, webmesh_storage_done_fn d, void *t)
{
	(void)store, (void)c, (void)n, (void)d, (void)t;
	return -ENOTSUP;
}
static int s_read(void *store, uint32_t w, const char *a, const struct webmesh_storage_sink *k,
		  char *m, size_t l)
{
	(void)store, (void)w, (void)a, (void)k, (void)m, (void)l;
	return -ENOTSUP;
}
static void s_status(void *store, struct webmesh_storage_status *o)
{
	(void)store, (void)o;
}
static int s_register(void *store, const char *id, const char *a, char *m, size_t l)
{
	(void)store, (void)id, (void)a, (void)m, (void)l;
	return -ENOTSUP;
}

static void test_storage_checks(void **st)
{
	(void)st;
	char err[512];
	struct webmesh_storage_ops ops = {.size = sizeof(ops),
					  .open = s_open,
					  .close = s_close,
					  .apply = s_apply,
					  .read = s_read,
					  .status = s_status,
					  .register_server = s_register};
	struct webmesh_plugin t = {.abi = WEBMESH_PLUGIN_ABI,
				   .size = sizeof(t),
				   .name = "x",
				   .version = "1",
				   .capabilities = WEBMESH_PLUGIN_CAP_STORAGE,
				   .init = init,
				   .storage = &ops};
	assert_int_equal(wm_plugin_table_check(&t, "s", err, sizeof(err)), 0);
	assert_ptr_equal(wm_plugin_storage_ops(&t), &ops);
	ops.read = NULL;
	assert_int_equal(wm_plugin_table_check(&t, "s", err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "plugin s: declares the storage capability but has no storage read");
	ops.read = s_read;
	ops.size = 8;
	assert_int_equal(wm_plugin_table_check(&t, "s", err, sizeof(err)), -EINVAL);
	assert_string_equal(
		err,
		"plugin s: declares the storage capability but has no storage ops (too short)");
	ops.size = sizeof(ops);
	/* A table of ABI 1 from before storage: accepted, without storage,
	 * so it cannot declare the capability. */
	t.size = (uint32_t)WEBMESH_PLUGIN_SIZE_V1;
	assert_null(wm_plugin_storage_ops(&t));
	assert_int_equal(wm_plugin_table_check(&t, "s", err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "plugin s: declares the storage capability but has no storage ops");
	t.capabilities = 0;
	assert_int_equal(wm_plugin_table_check(&t, "s", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "declares no capability (auth, ipam, watch or storage)"));
	t.size = (uint32_t)WEBMESH_PLUGIN_SIZE_V1 - 1;
	t.capabilities = WEBMESH_PLUGIN_CAP_STORAGE;
	assert_int_equal(wm_plugin_table_check(&t, "s", err, sizeof(err)), -EPROTO);
}

static void test_table_checks(void **st)
{
	(void)st;
	char err[512];
	struct webmesh_auth_ops auth = {.size = sizeof(auth), .authenticate = authn};
	struct webmesh_watch_ops watch = {.size = sizeof(watch), .event = ev};
	struct webmesh_plugin t = {.abi = WEBMESH_PLUGIN_ABI,
				   .size = sizeof(t),
				   .name = "x",
				   .version = "1",
				   .capabilities = WEBMESH_PLUGIN_CAP_AUTH,
				   .init = init,
				   .auth = &auth};
	assert_int_equal(wm_plugin_table_check(&t, "p", err, sizeof(err)), 0);
	/* a larger table of the same ABI is fine: fields are only appended */
	t.size = sizeof(t) + 16;
	assert_int_equal(wm_plugin_table_check(&t, "p", err, sizeof(err)), 0);
	t.size = sizeof(t);

	auth.size = 4;
	assert_int_equal(wm_plugin_table_check(&t, "p", err, sizeof(err)), -EINVAL);
	assert_string_equal(
		err, "plugin p: declares the auth capability but has no auth ops (too short)");
	auth.size = sizeof(auth);
	auth.authenticate = NULL;
	assert_int_equal(wm_plugin_table_check(&t, "p", err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "plugin p: declares the auth capability but has no auth authenticate");
	auth.authenticate = authn;

	t.capabilities = WEBMESH_PLUGIN_CAP_WATCH;
	assert_int_equal(wm_plugin_table_check(&t, "p", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "plugin p: declares the watch capability but has no watch ops");
	t.watch = &watch;
	assert_int_equal(wm_plugin_table_check(&t, "p", err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "plugin p: declares the watch capability but has no watch dropped");

	t.capabilities = 0;
	assert_int_equal(wm_plugin_table_check(&t, "p", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "declares no capability"));
	t.capabilities = 1u << 7;
	assert_int_equal(wm_plugin_table_check(&t, "p", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown capability bits 0x80"));
	t.capabilities = WEBMESH_PLUGIN_CAP_AUTH;
	t.init = NULL;
	assert_int_equal(wm_plugin_table_check(&t, "p", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "plugin p: the table has no init function");
	t.init = init;
	t.name = "";
	assert_int_equal(wm_plugin_table_check(&t, "p", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "name or version"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_loads),   cmocka_unit_test(test_wrong_abi),
		cmocka_unit_test(test_short_table),  cmocka_unit_test(test_missing_function),
		cmocka_unit_test(test_no_symbol),    cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_table_checks), cmocka_unit_test(test_storage_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
