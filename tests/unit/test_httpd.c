/* The HTTP listener's component (src/node/httpd.c) on a real loop with the
 * null WireGuard backend: peers named by key in /metrics, readiness, and
 * the console URL with and without a listener. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/key.h"
#include "node/httpd.h"
#include "node/netconf.h"

struct fixture {
	uv_loop_t loop;
	struct wm_config cfg;
	struct wm_wg *wg;
	struct wm_peer_name names[3];
	bool joined;
	struct wm_node_httpd h;
	bool closed;
};

static struct wm_wg *wg_of(void *data)
{
	return ((struct fixture *)data)->wg;
}

static const struct wm_peer_name *names_of(void *data, size_t *n)
{
	*n = 3;
	return ((struct fixture *)data)->names;
}

/* relay for keys starting with 0x30, else direct */
static const char *path_of(void *data, const wm_key key)
{
	(void)data;
	return key[0] == 0x30 ? "relay" : "direct";
}

static struct wm_store *no_store(void *data)
{
	(void)data;
	return NULL;
}

static bool joined(void *data)
{
	return ((struct fixture *)data)->joined;
}

static void key_of(wm_key k, uint8_t b)
{
	memset(k, b, WM_KEY_LEN);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uv_loop_init(&f->loop);
	struct wm_wg_config wc = {.ifname = "wmtest0", .backend = WM_WG_NULL};
	char err[256];
	assert_int_equal(wm_wg_open(&f->loop, &wc, &f->wg, err, sizeof(err)), 0);
	/* four peers on the device, in no order; three have names (and one
	 * name has no peer) */
	struct wm_wg_device *dev = wm_wg_device_new("wmtest0");
	static const uint8_t keys[] = {0x40, 0x10, 0x30, 0x20};
	for (size_t i = 0; i < 4; i++) {
		wm_key k;
		key_of(k, keys[i]);
		assert_non_null(wm_wg_device_add_peer(dev, k));
	}
	assert_int_equal(wm_wg_set(f->wg, dev), 0);
	wm_wg_device_free(dev);
	static const struct {
		uint8_t key;
		const char *id;
	} names[] = {{0x30, "relayed"}, {0x99, "gone"}, {0x10, "first"}};
	for (size_t i = 0; i < 3; i++) {
		key_of(f->names[i].key, names[i].key);
		snprintf(f->names[i].id, sizeof(f->names[i].id), "%s", names[i].id);
	}
	*state = f;
	return 0;
}

static void closed(void *data)
{
	((struct fixture *)data)->closed = true;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	wm_node_httpd_close(&f->h, closed, f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_true(f->closed);
	wm_wg_close(f->wg, NULL, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	/* the table's owner frees it, as the daemon does at exit */
	wm_metrics_calls_free(&f->h.calls);
	free(f);
	return 0;
}

static void start(struct fixture *f, const char *listen)
{
	f->cfg.http_listen = (char *)listen;
	f->cfg.console_dir = (char *)"/nonexistent";
	struct wm_node_httpd_config c = {.loop = &f->loop,
					 .cfg = &f->cfg,
					 .node_id = "me",
					 .wg = wg_of,
					 .peers = names_of,
					 .path = path_of,
					 .store = no_store,
					 .joined = joined,
					 .data = f};
	char err[256] = "";
	assert_int_equal(wm_node_httpd_init(&f->h, &c, err, sizeof(err)), 0);
}

static void series(const char *text, uint8_t key, const char *id, const char *rest)
{
	wm_key k;
	char b64[WM_KEY_B64_LEN + 1], want[256];
	key_of(k, key);
	wm_key_to_base64(k, b64);
	snprintf(want, sizeof(want), "{node_id=\"%s\",public_key=\"%s\"%s", id, b64, rest);
	if (!strstr(text, want)) {
		fprintf(stderr, "missing %s in\n%s\n", want, text);
		fail();
	}
}

static void test_metrics_name_peers_by_key(void **state)
{
	struct fixture *f = *state;
	start(f, "");
	f->joined = true;
	struct wm_metrics_buf b = {0};
	assert_int_equal(wm_node_httpd_metrics(&f->h, &b), 0);
	series(b.p, 0x10, "first", "} 0\n");
	series(b.p, 0x30, "relayed", ",path=\"relay\"} 1\n");
	series(b.p, 0x20, "", ",path=\"direct\"} 1\n"); /* no name known */
	series(b.p, 0x40, "", "} 0\n");
	assert_null(strstr(b.p, "gone"));
	assert_non_null(strstr(b.p, "webmesh_wireguard_up 1\n"));
	assert_non_null(strstr(b.p, "webmesh_node_joined 1\n"));
	assert_null(strstr(b.p, "webmesh_raft_term")); /* no replica */
	/* calls and NAT events as the daemon's events deliver them */
	wm_node_httpd_count_call(&f->h, "/webmesh.v1.Membership/Join", 0);
	wm_node_httpd_nat_event(&f->h);
	b.len = 0;
	assert_int_equal(wm_node_httpd_metrics(&f->h, &b), 0);
	assert_non_null(strstr(b.p, "webmesh_joins_total 1\n"));
	assert_non_null(strstr(b.p, "webmesh_nat_events_total 1\n"));
	wm_metrics_buf_free(&b);
}

static void test_ready(void **state)
{
	struct fixture *f = *state;
	start(f, "");
	const char *why = NULL;
	assert_false(wm_node_httpd_ready(&f->h, &why));
	assert_string_equal(why, "not in a mesh yet");
	f->joined = true;
	assert_true(wm_node_httpd_ready(&f->h, &why));
	/* a bootstrap server is not ready without its replica */
	f->cfg.bootstrap = true;
	assert_false(wm_node_httpd_ready(&f->h, &why));
	assert_string_equal(why, "the replica is not open yet");
}

static void test_console_url(void **state)
{
	struct fixture *f = *state;
	char url[200];
	start(f, "");
	assert_int_equal(wm_node_httpd_console_url(&f->h, url, sizeof(url)), -ENOTCONN);
	wm_node_httpd_close(&f->h, NULL, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_null(wm_node_httpd_server(&f->h));
	start(f, "127.0.0.1:0");
	assert_non_null(wm_node_httpd_server(&f->h));
	assert_int_equal(wm_node_httpd_console_url(&f->h, url, sizeof(url)), 0);
	assert_int_equal(strncmp(url, "http://127.0.0.1:", 17), 0);
	const char *tok = strstr(url, "/?token=");
	assert_non_null(tok);
	assert_int_equal(strlen(tok + 8), WM_HTTP_TOKEN_LEN);
	char url2[200];
	assert_int_equal(wm_node_httpd_console_url(&f->h, url2, sizeof(url2)), 0);
	assert_string_not_equal(url, url2); /* a new token each time */
	assert_int_equal(wm_node_httpd_console_url(&f->h, url2, 20), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_metrics_name_peers_by_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console_url, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
