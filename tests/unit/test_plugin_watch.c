/* The watch queue (src/plugin/host.c): a plugin that blocks never blocks
 * the caller; past WM_PLUGIN_WATCH_QUEUE events the newest are dropped and
 * counted, the plugin is told how many, and what it gets comes in order. */
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "plugin/plugin_int.h"

static void test_overflow(void **state)
{
	(void)state;
	struct wm_config c;
	struct wm_plugins *h = NULL;
	uv_loop_t loop;
	char err[512], item[4200];

	uv_loop_init(&loop);
	assert_int_equal(wm_config_init(&c), 0);
	snprintf(item, sizeof(item), "w=%s", WM_WATCH_FIXTURE);
	assert_int_equal(wm_config_append(&c, wm_cfg_find("plugin"), item, "t", err, sizeof(err)),
			 0);
	if (wm_plugins_new(&loop, &c, &h, err, sizeof(err)))
		fail_msg("%s", err);
	void *so = dlopen(WM_WATCH_FIXTURE, RTLD_NOW | RTLD_NOLOAD);
	assert_non_null(so);
	int (*blocked)(void) = (int (*)(void))dlsym(so, "fixture_blocked");
	void (*release)(void) = (void (*)(void))dlsym(so, "fixture_release");
	void (*counts)(uint64_t[4]) = (void (*)(uint64_t[4]))dlsym(so, "fixture_counts");
	assert_non_null(blocked);
	assert_non_null(release);
	assert_non_null(counts);

	wm_plugins_watch_emit(h, WEBMESH_WATCH_NODE_JOINED, 1, "a", "", "10.0.0.1", "");
	for (int i = 0; i < 5000 && !blocked(); i++)
		uv_sleep(1);
	assert_true(blocked());
	/* the plugin holds the first; the queue takes WM_PLUGIN_WATCH_QUEUE more */
	uint64_t t0 = uv_hrtime();
	for (int i = 0; i < WM_PLUGIN_WATCH_QUEUE + 10; i++)
		wm_plugins_watch_emit(h, WEBMESH_WATCH_ROUTES_PUT, 2 + (uint64_t)i, "a", "", "",
				      "10.1.0.0/16");
	/* never waited for the plugin */
	assert_true(uv_hrtime() - t0 < 2000000000ull);
	assert_int_equal(wm_plugins_watch_dropped(h), 10);
	release();
	uint64_t got[4] = {0};
	for (int i = 0; i < 10000; i++) {
		counts(got);
		if (got[0] == 1 + WM_PLUGIN_WATCH_QUEUE && got[1] == 10)
			break;
		uv_sleep(1);
	}
	assert_int_equal(got[0], 1 + WM_PLUGIN_WATCH_QUEUE);
	assert_int_equal(got[1], 10);
	assert_int_equal(got[2], 1); /* one report for the burst */
	assert_int_equal(got[3], 0); /* in order */
	wm_plugins_free(h);
	dlclose(so);
	wm_config_free(&c);
	uv_loop_close(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
