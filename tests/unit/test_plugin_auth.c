/* An auth plugin in the authenticator chain (src/plugin/auth.c): accepted,
 * refused, failing and silent plugins; fail closed with a bounded wait. The
 * fixture is plugin_auth_fixture.c. Also the host's config checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "core/config.h"
#include "plugin/plugin.h"

struct env {
	struct wm_config cfg;
	struct wm_plugins *h;
	struct wm_auth *a;
	uv_loop_t loop;
};

static int setup(void **state)
{
	static struct env e;
	char err[512] = "", item[4200];
	memset(&e, 0, sizeof(e));
	uv_loop_init(&e.loop);
	assert_int_equal(wm_config_init(&e.cfg), 0);
	snprintf(item, sizeof(item), "bearer=%s", WM_AUTH_FIXTURE);
	assert_int_equal(
		wm_config_append(&e.cfg, wm_cfg_find("plugin"), item, "t", err, sizeof(err)), 0);
	assert_int_equal(wm_config_append(&e.cfg, wm_cfg_find("plugin-config"),
					  "bearer.auth-timeout-ms=300", "t", err, sizeof(err)),
			 0);
	if (wm_plugins_new(&e.loop, &e.cfg, &e.h, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(wm_auth_new(&e.loop, &e.a), 0);
	assert_int_equal(wm_plugins_auth_add(e.h, e.a, err, sizeof(err)), 0);
	*state = &e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	wm_auth_free(e->a);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	wm_plugins_free(e->h);
	wm_config_free(&e->cfg);
	uv_loop_close(&e->loop);
	return 0;
}

static int check(struct env *e, const char *authorization, struct wm_identity *id, char *why,
		 size_t whylen)
{
	struct wm_rpc_metadata md[2] = {{"user-agent", "test"}, {"authorization", authorization}};
	struct wm_auth_request req = {.md = md, .n_md = authorization ? 2 : 1, .now = 1};
	memset(id, 0, sizeof(*id));
	return wm_auth_authenticate_sync(e->a, &req, id, why, whylen);
}

static void test_chain(void **state)
{
	struct env *e = *state;
	struct wm_identity id;
	char why[256];

	assert_string_equal(wm_auth_methods(e->a), "bearer");
	assert_false(wm_auth_is_open(e->a));
	/* accepted, answered from another thread */
	assert_int_equal(check(e, "Bearer good", &id, why, sizeof(why)), 0);
	assert_string_equal(id.id, "alice");
	assert_int_equal(id.kind, WM_ID_USER);
	assert_string_equal(id.method, "bearer");
	/* refused */
	assert_int_equal(check(e, "Bearer nope", &id, why, sizeof(why)), -EACCES);
	assert_non_null(strstr(why, "unknown token"));
	/* no credentials of its kind: refused by the chain, nobody accepted */
	assert_int_equal(check(e, NULL, &id, why, sizeof(why)), -EACCES);
	assert_non_null(strstr(why, "no credentials"));
	/* a failing plugin: the chain fails (UNAVAILABLE), never accepts */
	assert_int_equal(check(e, "Bearer broken", &id, why, sizeof(why)), -EIO);
	assert_non_null(strstr(why, "the token service is down"));
	/* an identity RBAC cannot hold is a plugin failure */
	assert_int_equal(check(e, "Bearer bad-id", &id, why, sizeof(why)), -EIO);
	assert_non_null(strstr(why, "invalid identity"));
	/* silent: refused once auth-timeout-ms has passed */
	uint64_t t0 = uv_hrtime();
	assert_int_equal(check(e, "Bearer silent", &id, why, sizeof(why)), -ETIMEDOUT);
	assert_non_null(strstr(why, "no answer within 300 ms"));
	assert_true(uv_hrtime() - t0 >= 250000000ull);
	assert_string_equal(id.id, "");
}

static void test_host_config_errors(void **state)
{
	(void)state;
	struct wm_config c;
	struct wm_plugins *h = NULL;
	uv_loop_t loop;
	char err[512], item[4200];
	uv_loop_init(&loop);

	/* config for a plugin that is not loaded */
	assert_int_equal(wm_config_init(&c), 0);
	snprintf(item, sizeof(item), "bearer=%s", WM_AUTH_FIXTURE);
	wm_config_append(&c, wm_cfg_find("plugin"), item, "t", err, sizeof(err));
	wm_config_append(&c, wm_cfg_find("plugin-config"), "other.k=v", "t", err, sizeof(err));
	assert_int_equal(wm_plugins_new(&loop, &c, &h, err, sizeof(err)), -EINVAL);
	assert_null(h);
	assert_string_equal(err, "plugin-config: \"other.k=v\" names no loaded plugin");
	wm_config_free(&c);

	/* a bad timeout */
	assert_int_equal(wm_config_init(&c), 0);
	wm_config_append(&c, wm_cfg_find("plugin"), item, "t", err, sizeof(err));
	wm_config_append(&c, wm_cfg_find("plugin-config"), "bearer.auth-timeout-ms=0", "t", err,
			 sizeof(err));
	assert_int_equal(wm_plugins_new(&loop, &c, &h, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bearer.auth-timeout-ms \"0\""));
	wm_config_free(&c);

	/* the same name twice */
	assert_int_equal(wm_config_init(&c), 0);
	wm_config_append(&c, wm_cfg_find("plugin"), item, "t", err, sizeof(err));
	wm_config_append(&c, wm_cfg_find("plugin"), item, "t", err, sizeof(err));
	assert_int_equal(wm_plugins_new(&loop, &c, &h, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "plugin: the name bearer is given twice");
	wm_config_free(&c);

	/* an exec: plugin whose program is missing */
	assert_int_equal(wm_config_init(&c), 0);
	wm_config_append(&c, wm_cfg_find("plugin"), "ext=exec:/nonexistent/prog", "t", err,
			 sizeof(err));
	assert_int_equal(wm_plugins_new(&loop, &c, &h, err, sizeof(err)), -ENOENT);
	assert_null(h);
	assert_non_null(strstr(err, "plugin ext: /nonexistent/prog is not an executable file"));
	assert_true(wm_plugins_config_has_auth(&c)); /* exec: is auth */
	wm_config_free(&c);
	uv_loop_close(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chain, setup, teardown),
		cmocka_unit_test(test_host_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
