/* The store module's table as webmeshd loads it (store_loader.c): every
 * function of store_api.def present, and a module of another build or with a
 * hole in its table refused with a message that says so. The directories come
 * from store.cmake: WM_TEST_MODULE_DIR holds the real webmesh-store.so,
 * WM_TEST_BAD_ABI_DIR and WM_TEST_SHORT_DIR the two of store_module_bad.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store_module.h"

static const struct wm_store_module *load_from(const char *dir, char *err, size_t errlen)
{
	assert_int_equal(setenv("WEBMESHD_MODULE_DIR", dir, 1), 0);
	err[0] = '\0';
	return wm_store_module_load(err, errlen);
}

static void test_table_complete(void **state)
{
	(void)state;
	char err[512];
	const struct wm_store_module *m = load_from(WM_TEST_MODULE_DIR, err, sizeof(err));
	size_t n = 0;

	assert_non_null(m);
	assert_string_equal(err, "");
	assert_int_equal(m->header.abi, WM_STORE_MODULE_ABI);
	assert_int_equal(m->header.size, sizeof(struct wm_store_module));
#define WM_STORE_FN(ret, name, params, args)                                                       \
	assert_non_null(m->name);                                                                  \
	n++;
#include "store/store_api.def"
	/* The table is nothing but the list: no entry left over, none missing. */
	assert_int_equal(sizeof(struct wm_store_module),
			 sizeof(struct wm_module_header) + n * sizeof(void (*)(void)));
	assert_int_equal(wm_store_module_check(m, err, sizeof(err)), 0);
}

/* Each function in turn missing from an otherwise good table. */
static void test_missing_function_refused(void **state)
{
	(void)state;
	char err[512];
	const struct wm_store_module *m = load_from(WM_TEST_MODULE_DIR, err, sizeof(err));
	struct wm_store_module t;
	size_t n = 0;

	assert_non_null(m);
#define WM_STORE_FN(ret, name, params, args)                                                       \
	t = *m;                                                                                    \
	t.name = NULL;                                                                             \
	assert_int_equal(wm_store_module_check(&t, err, sizeof(err)), -ENOTSUP);                   \
	assert_non_null(strstr(err, "webmesh-store"));                                             \
	assert_non_null(strstr(err, "has no function " #name));                                    \
	n++;
#include "store/store_api.def"
	assert_true(n > 10);
}

static void test_wrong_abi_refused(void **state)
{
	(void)state;
	char err[512], want[64];

	assert_null(load_from(WM_TEST_BAD_ABI_DIR, err, sizeof(err)));
	assert_non_null(strstr(err, "module webmesh-store: built for another webmeshd"));
	snprintf(want, sizeof(want), "ABI %u size", WM_STORE_MODULE_ABI - 1);
	assert_non_null(strstr(err, want));
	snprintf(want, sizeof(want), "want %u size", WM_STORE_MODULE_ABI);
	assert_non_null(strstr(err, want));
}

static void test_short_table_refused(void **state)
{
	(void)state;
	char err[512], want[64];

	assert_null(load_from(WM_TEST_SHORT_DIR, err, sizeof(err)));
	assert_non_null(strstr(err, "module webmesh-store: built for another webmeshd"));
	snprintf(want, sizeof(want), "size %zu, want",
		 sizeof(struct wm_store_module) - sizeof(void *));
	assert_non_null(strstr(err, want));
}

/* webmeshd's wm_store_open says why a server cannot keep its replica, and
 * touches nothing: out stays NULL. */
static void test_open_without_module(void **state)
{
	(void)state;
	char err[512] = "", dir[] = "/tmp/wm-test-nomodule-XXXXXX";
	struct wm_store *s = NULL;
	struct wm_store_config cfg = {.dir = "/nonexistent", .node_id = "a"};

	if (access(WM_TEST_INSTALL_DIR "/webmesh-store.so", F_OK) == 0)
		skip(); /* an installed module would be found after ours */
	assert_non_null(mkdtemp(dir));
	assert_int_equal(setenv("WEBMESHD_MODULE_DIR", dir, 1), 0);
	assert_int_equal(wm_store_open(NULL, &cfg, &s, err, sizeof(err)), -ENOTSUP);
	assert_null(s);
	assert_non_null(strstr(err, "a server keeps a replica of the mesh state: "
				    "module webmesh-store.so not found"));
	/* A module of another build is named as such by wm_store_open too. */
	assert_int_equal(setenv("WEBMESHD_MODULE_DIR", WM_TEST_BAD_ABI_DIR, 1), 0);
	assert_int_equal(wm_store_open(NULL, &cfg, &s, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "built for another webmeshd"));
	assert_null(s);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_complete),
		cmocka_unit_test(test_missing_function_refused),
		cmocka_unit_test(test_wrong_abi_refused),
		cmocka_unit_test(test_short_table_refused),
		cmocka_unit_test(test_open_without_module),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
