/* Unit tests for the WireGuard front end with the null backend: parse, open,
 * set/get through the diff, the record file, close. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "wg/wg.h"

static void test_backend_parse(void **state)
{
	(void)state;
	enum wm_wg_backend b = WM_WG_NULL;

	assert_int_equal(wm_wg_backend_parse("auto", &b), 0);
	assert_int_equal(b, WM_WG_AUTO);
	assert_int_equal(wm_wg_backend_parse("kernel", &b), 0);
	assert_int_equal(b, WM_WG_KERNEL);
	assert_int_equal(wm_wg_backend_parse("userspace", &b), 0);
	assert_int_equal(b, WM_WG_USERSPACE);
	assert_int_equal(wm_wg_backend_parse("null", &b), 0);
	assert_int_equal(b, WM_WG_NULL);
	assert_int_equal(wm_wg_backend_parse("Kernel", &b), -EINVAL);
	assert_int_equal(wm_wg_backend_parse("", &b), -EINVAL);
	assert_int_equal(wm_wg_backend_parse(NULL, &b), -EINVAL);
}

static void test_open_errors(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct wm_wg_config cfg = {.ifname = "webmesh0-far-too-long", .backend = WM_WG_NULL};
	struct wm_wg *wg = (void *)1;
	char err[256];

	uv_loop_init(&loop);
	assert_int_equal(wm_wg_open(&loop, &cfg, &wg, err, sizeof(err)), -EINVAL);
	assert_null(wg);
	assert_non_null(strstr(err, "invalid interface name"));
	cfg.ifname = "a/b";
	assert_int_equal(wm_wg_open(&loop, &cfg, &wg, err, sizeof(err)), -EINVAL);
	cfg.ifname = "wg0";
	cfg.backend = (enum wm_wg_backend)42;
	assert_int_equal(wm_wg_open(&loop, &cfg, &wg, err, sizeof(err)), -EINVAL);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static int done_calls;

static void done_cb(void *data)
{
	assert_ptr_equal(data, &done_calls);
	done_calls++;
}

static void test_null_set_get(void **state)
{
	(void)state;
	char dir[] = "/tmp/wm-null-XXXXXX", path[64];
	uv_loop_t loop;
	struct wm_wg_config cfg = {.ifname = "webmesh0", .backend = WM_WG_NULL};
	struct wm_wg *wg = NULL;
	struct wm_wg_device *want, *have = NULL, *upd = NULL;
	struct wm_wg_peer *p;
	struct wm_prefix a = test_pfx("172.16.0.2/32"), b = test_pfx("172.16.0.3/32");
	wm_key k;
	char err[128];

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/record.txt", dir);
	cfg.null_record_path = path;
	uv_loop_init(&loop);
	assert_int_equal(wm_wg_open(&loop, &cfg, &wg, err, sizeof(err)), 0);
	assert_string_equal(wm_wg_backend_name(wg), "null");
	assert_string_equal(wm_wg_ifname(wg), "webmesh0");
	assert_int_equal(wm_wg_helper_pid(wg), 0);

	/* Desired: key, port, two peers. The owner's loop: get, diff, set. */
	want = wm_wg_device_new("webmesh0");
	memset(want->private_key, 0x11, WM_KEY_LEN);
	want->listen_port = 51820;
	memset(k, 0xa0, sizeof(k));
	p = wm_wg_device_add_peer(want, k);
	assert_int_equal(wm_endpoint_parse("192.0.2.1:51820", &p->endpoint), 0);
	assert_int_equal(wm_wg_peer_add_allowed_ip(p, &a), 0);
	memset(k, 0xb0, sizeof(k));
	p = wm_wg_device_add_peer(want, k);
	p->keepalive_interval = 25;
	assert_int_equal(wm_wg_peer_add_allowed_ip(p, &b), 0);
	wm_wg_device_sort(want);

	assert_int_equal(wm_wg_get(wg, &have), 0);
	assert_int_equal(have->n_peers, 0);
	assert_int_equal(wm_wg_diff(have, want, &upd), 0);
	assert_int_equal(wm_wg_set(wg, upd), 0);
	wm_wg_device_free(upd);
	wm_wg_device_free(have);

	assert_int_equal(wm_wg_get(wg, &have), 0);
	assert_string_equal(have->name, "webmesh0");
	assert_int_equal(have->listen_port, 51820);
	assert_int_equal(have->n_peers, 2);
	/* The public key of the all-0x11 private key (as `wg pubkey` says). */
	assert_int_equal(have->public_key[0], 0x7b);
	assert_int_equal(have->public_key[31], 0x13);
	assert_int_equal(wm_wg_diff(have, want, &upd), 0);
	assert_null(upd); /* converged */
	wm_wg_device_free(have);

	/* A change reaches the device as a diff. */
	want->peers[0].keepalive_interval = 10;
	assert_int_equal(wm_wg_get(wg, &have), 0);
	assert_int_equal(wm_wg_diff(have, want, &upd), 0);
	assert_int_equal(upd->n_peers, 1);
	assert_int_equal(wm_wg_set(wg, upd), 0);
	wm_wg_device_free(upd);
	wm_wg_device_free(have);
	assert_int_equal(wm_wg_get(wg, &have), 0);
	assert_int_equal(have->peers[0].keepalive_interval, 10);
	wm_wg_device_free(have);

	/* The record: two sets, the key redacted, mode 0600. */
	FILE *f = fopen(path, "r");
	char text[4096];
	size_t n;
	struct stat st;

	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_non_null(strstr(text, "# set 1 webmesh0 peers=2\nprivate_key=(redacted)\n"
				     "listen_port=51820\npublic_key="));
	assert_non_null(strstr(text, "# set 2 webmesh0 peers=1\npublic_key=" /* no key line */));
	assert_non_null(strstr(text, "persistent_keepalive_interval=10\n"));
	assert_null(strstr(text, "1111111111"));

	done_calls = 0;
	wm_wg_close(wg, done_cb, &done_calls);
	assert_int_equal(done_calls, 1); /* null closes at once */
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	wm_wg_device_free(want);
	unlink(path);
	rmdir(dir);

	wm_wg_close(NULL, done_cb, &done_calls);
	assert_int_equal(done_calls, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backend_parse),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_null_set_get),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
