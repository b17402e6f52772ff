/* End-to-end test of the userspace backend against the real wireguard-go, in
 * private network and mount namespaces made by this process (they vanish with
 * it). Results are read back with wm_wg_get and, independently, `wg show`.
 * Skipped unless root with wireguard-go, wg and /dev/net/tun. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "core/error.h"
#include "sys/sys.h"
#include "wg/uapi.h"
#include "wg/wg.h"

#define WRAPPER "/run/wm-e2e/wireguard-go"

static bool ready;
static uv_loop_t loop;

static int setup(void **state)
{
	(void)state;
	FILE *f;

	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0 ||
	    system("command -v wireguard-go >/dev/null && command -v wg >/dev/null") != 0)
		return 0;
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0)
		return 0;
	/* Private mounts: a tmpfs on /run gives wireguard-go (whose socket dir
	 * is fixed) an empty /run/wireguard of our own. */
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("wm-e2e", "/run", "tmpfs", 0, "mode=0755") != 0 ||
	    mkdir("/run/wm-e2e", 0755) != 0)
		return 0;
	/* wireguard-go through setpriv: it dies with this test even if the
	 * test crashes before it could stop it. */
	f = fopen(WRAPPER, "w");
	if (!f)
		return 0;
	fprintf(f, "#!/bin/sh\nexec setpriv --pdeathsig KILL wireguard-go \"$@\"\n");
	fclose(f);
	chmod(WRAPPER, 0755);
	uv_loop_init(&loop);
	ready = true;
	return 0;
}

/* Devices a failed test left open, closed by teardown. */
static struct wm_wg *left_open[8];

static void track(struct wm_wg *wg, bool open)
{
	for (size_t i = 0; i < 8; i++) {
		if (open ? !left_open[i] : left_open[i] == wg) {
			left_open[i] = open ? wg : NULL;
			return;
		}
	}
}

static void run_until(const int *flag);
static int closed;

static void closed_cb(void *data)
{
	(void)data;
	closed++;
}

static int teardown(void **state)
{
	(void)state;
	if (!ready)
		return 0;
	for (size_t i = 0; i < 8; i++) {
		if (left_open[i]) {
			closed = 0;
			wm_wg_close(left_open[i], closed_cb, NULL);
			left_open[i] = NULL;
			run_until(&closed);
		}
	}
	uv_run(&loop, UV_RUN_NOWAIT);
	uv_loop_close(&loop);
	return 0;
}

/* Runs the loop until *flag is set, at most ~15 s (no timing assertions:
 * the bound only keeps a broken build from hanging). */
static void run_until(const int *flag)
{
	for (int i = 0; i < 1500 && !*flag; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		if (!*flag)
			usleep(10000);
	}
}

static int restarted;

static void restarted_cb(void *data)
{
	(void)data;
	restarted++;
}

static struct wm_wg *open_go(const char *ifname)
{
	struct wm_wg_config cfg = {
		.ifname = ifname,
		.backend = WM_WG_USERSPACE,
		.wireguard_go = WRAPPER,
		.restarted_cb = restarted_cb,
	};
	struct wm_wg *wg = NULL;
	char err[256] = "";
	int ret = wm_wg_open(&loop, &cfg, &wg, err, sizeof(err));

	if (ret)
		fail_msg("wm_wg_open(%s): %d %s", ifname, ret, err);
	track(wg, true);
	return wg;
}

static void close_go(struct wm_wg *wg)
{
	track(wg, false);
	closed = 0;
	wm_wg_close(wg, closed_cb, NULL);
	run_until(&closed);
	assert_int_equal(closed, 1);
}

static void key_fill(wm_key k, uint8_t v)
{
	memset(k, v, WM_KEY_LEN);
}

static struct wm_wg_peer *add_peer(struct wm_wg_device *d, uint8_t kb, const char *ep,
				   const char *ip1, const char *ip2)
{
	wm_key k;
	struct wm_wg_peer *p;
	struct wm_prefix a;

	key_fill(k, kb);
	p = wm_wg_device_add_peer(d, k);
	if (ep)
		assert_int_equal(wm_endpoint_parse(ep, &p->endpoint), 0);
	assert_int_equal(wm_prefix_parse(ip1, &a), 0);
	assert_int_equal(wm_wg_peer_add_allowed_ip(p, &a), 0);
	if (ip2) {
		assert_int_equal(wm_prefix_parse(ip2, &a), 0);
		assert_int_equal(wm_wg_peer_add_allowed_ip(p, &a), 0);
	}
	return p;
}

/* Gets the device, diffs against want, applies, and checks convergence. */
static void converge(struct wm_wg *wg, const struct wm_wg_device *want)
{
	struct wm_wg_device *have = NULL, *upd = NULL;

	assert_int_equal(wm_wg_get(wg, &have), 0);
	assert_int_equal(wm_wg_diff(have, want, &upd), 0);
	if (upd)
		assert_int_equal(wm_wg_set(wg, upd), 0);
	wm_wg_device_free(upd);
	wm_wg_device_free(have);
	assert_int_equal(wm_wg_get(wg, &have), 0);
	upd = (void *)1;
	assert_int_equal(wm_wg_diff(have, want, &upd), 0);
	assert_null(upd);
	wm_wg_device_free(have);
}

static void b64(const wm_key k, char out[WM_KEY_B64_LEN + 1])
{
	wm_key_to_base64(k, out);
}

/* The `wg show dump` line of a peer, split at tabs: public key, preshared key,
 * endpoint, allowed IPs, handshake, rx, tx, keepalive. */
struct dump_peer {
	char f[8][256];
};

static bool dump_find(const char *dump, const wm_key key, struct dump_peer *out)
{
	char k64[WM_KEY_B64_LEN + 1];
	const char *l;

	b64(key, k64);
	for (l = dump; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, k64, WM_KEY_B64_LEN) != 0 || l[WM_KEY_B64_LEN] != '\t')
			continue;
		const char *p = l;
		for (int i = 0; i < 8; i++) {
			size_t n = strcspn(p, "\t\n");

			assert_true(n < sizeof(out->f[i]));
			memcpy(out->f[i], p, n);
			out->f[i][n] = '\0';
			p += n + (p[n] == '\t');
		}
		return true;
	}
	return false;
}

/* True if the comma-separated list holds exactly these entries (any order). */
static bool list_is(const char *list, const char *a, const char *b)
{
	size_t n = strlen(a) + (b ? strlen(b) + 1 : 0);
	char x[256];

	if (strlen(list) != n)
		return false;
	snprintf(x, sizeof(x), ",%s,", list);
	char want[128];
	snprintf(want, sizeof(want), ",%s,", a);
	if (!strstr(x, want))
		return false;
	if (b) {
		snprintf(want, sizeof(want), ",%s,", b);
		if (!strstr(x, want))
			return false;
	}
	return true;
}

static void test_userspace_roundtrip(void **state)
{
	(void)state;
	struct wm_wg *wg;
	struct wm_wg_device *want, *have = NULL;
	struct wm_wg_peer *p;
	char line[512], k64[WM_KEY_B64_LEN + 1], pub64[WM_KEY_B64_LEN + 1];
	int pid;

	if (!ready)
		skip();
	wg = open_go("wme2e0");
	assert_string_equal(wm_wg_backend_name(wg), "userspace");
	pid = wm_wg_helper_pid(wg);
	assert_true(pid > 0);
	assert_non_null(strstr(test_output("ip -o link show wme2e0"), "wme2e0"));

	/* What the daemon does next with src/sys: MTU, up, address, route. */
	struct wm_prefix addr, route;
	assert_int_equal(wm_prefix_parse("172.16.0.1/12", &addr), 0);
	assert_int_equal(wm_prefix_parse("10.10.0.0/16", &route), 0);
	assert_int_equal(wm_sys_link_up("wme2e0", 1420), 0);
	assert_int_equal(wm_sys_addr_add("wme2e0", &addr), 0);
	assert_int_equal(wm_sys_route_replace("wme2e0", &route), 0);
	assert_non_null(strstr(test_output("ip -o link show wme2e0"), "mtu 1420"));
	assert_non_null(strstr(test_output("ip -o addr show dev wme2e0"), "inet 172.16.0.1/12"));
	assert_non_null(strstr(test_output("ip route show dev wme2e0"),
			       "10.10.0.0/16 proto static scope link"));

	/* Private key + port + two peers. */
	want = wm_wg_device_new("wme2e0");
	key_fill(want->private_key, 0x11);
	want->private_key[0] = 0x10; /* clamped form: wg prints it back unchanged */
	want->private_key[31] = 0x51;
	want->listen_port = 51820;
	p = add_peer(want, 0xa0, "127.0.0.1:51821", "172.16.0.2/32", "fd00:1::/112");
	p->keepalive_interval = 25;
	add_peer(want, 0xb0, "[::1]:51822", "172.16.0.3/32", NULL);
	wm_wg_device_sort(want);
	converge(wg, want);

	assert_int_equal(wm_wg_get(wg, &have), 0);
	assert_int_equal(have->listen_port, 51820);
	assert_memory_equal(have->private_key, want->private_key, WM_KEY_LEN);
	assert_int_equal(have->n_peers, 2);
	assert_int_equal(have->peers[0].keepalive_interval, 25);
	assert_int_equal(have->peers[0].n_allowed_ips, 2);
	assert_int_equal(have->peers[1].endpoint.ip.family, AF_INET6);
	assert_int_equal(have->peers[1].endpoint.port, 51822);
	assert_int_equal(have->peers[1].protocol_version, 1);

	/* `wg show` reads the same device independently. */
	b64(have->public_key, pub64);
	snprintf(line, sizeof(line), "%s\n", pub64);
	assert_string_equal(test_output("wg show wme2e0 public-key"), line);
	const char *dump = test_output("wg show wme2e0 dump");
	struct dump_peer dp;
	b64(want->private_key, k64);
	snprintf(line, sizeof(line), "%s\t%s\t51820\toff\n", k64, pub64);
	assert_true(strncmp(dump, line, strlen(line)) == 0);
	assert_true(dump_find(dump, want->peers[0].public_key, &dp));
	assert_string_equal(dp.f[1], "(none)");
	assert_string_equal(dp.f[2], "127.0.0.1:51821");
	assert_true(list_is(dp.f[3], "172.16.0.2/32", "fd00:1::/112"));
	assert_string_equal(dp.f[7], "25");
	assert_true(dump_find(dump, want->peers[1].public_key, &dp));
	assert_string_equal(dp.f[2], "[::1]:51822");
	assert_true(list_is(dp.f[3], "172.16.0.3/32", NULL));
	assert_string_equal(dp.f[7], "off");
	wm_wg_device_free(have);

	/* A diff: B goes, A's allowed IPs change, C arrives, port changes. */
	struct wm_wg_device *want2 = wm_wg_device_new("wme2e0");
	memcpy(want2->private_key, want->private_key, WM_KEY_LEN);
	want2->listen_port = 51830;
	p = add_peer(want2, 0xa0, "127.0.0.1:51821", "172.16.0.2/32", "10.10.0.0/16");
	p->keepalive_interval = 25;
	add_peer(want2, 0xc0, "127.0.0.1:51823", "172.16.0.4/32", NULL);
	wm_wg_device_sort(want2);
	converge(wg, want2);
	dump = test_output("wg show wme2e0 dump");
	assert_non_null(strstr(dump, "\t51830\toff\n"));
	assert_true(dump_find(dump, want2->peers[0].public_key, &dp));
	assert_true(list_is(dp.f[3], "172.16.0.2/32", "10.10.0.0/16"));
	assert_string_equal(dp.f[7], "25");
	assert_true(dump_find(dump, want2->peers[1].public_key, &dp));
	assert_string_equal(dp.f[2], "127.0.0.1:51823");
	b64(want->peers[1].public_key, k64);
	assert_null(strstr(dump, k64)); /* B removed */

	/* A partial update with only an endpoint. */
	struct wm_wg_device *upd = wm_wg_device_new("wme2e0");
	p = wm_wg_device_add_peer(upd, want2->peers[1].public_key);
	p->flags = WM_WGPEER_HAS_ENDPOINT;
	assert_int_equal(wm_endpoint_parse("127.0.0.1:40000", &p->endpoint), 0);
	assert_int_equal(wm_wg_set(wg, upd), 0);
	wm_wg_device_free(upd);
	assert_non_null(strstr(test_output("wg show wme2e0 endpoints"), "127.0.0.1:40000"));

	/* The daemon's own errno reply, verbatim, for a line it refuses. */
	int fd = wm_uapi_connect("/run/wireguard", "wme2e0");
	char reply[64];
	ssize_t n;
	assert_true(fd >= 0);
	assert_int_equal(wm_uapi_write_all(fd, "set=1\nlisten_port=notaport\n\n", 29), 0);
	n = read(fd, reply, sizeof(reply));
	close(fd);
	assert_true(n > 0);
	assert_int_equal(wm_uapi_parse_errno(reply, (size_t)n), -EINVAL);

	/* REPLACE_PEERS empties the peer list. */
	upd = wm_wg_device_new("wme2e0");
	upd->flags = WM_WGDEV_REPLACE_PEERS;
	assert_int_equal(wm_wg_set(wg, upd), 0);
	wm_wg_device_free(upd);
	assert_int_equal(wm_wg_get(wg, &have), 0);
	assert_int_equal(have->n_peers, 0);
	assert_int_equal(have->listen_port, 51830);
	wm_wg_device_free(have);

	close_go(wg);
	assert_int_equal(kill(pid, 0), -1);
	assert_string_equal(test_output("ip -o link show wme2e0 2>/dev/null"), "");
	assert_int_equal(access("/run/wireguard/wme2e0.sock", F_OK), -1);
	wm_wg_device_free(want);
	wm_wg_device_free(want2);
}

static void test_userspace_restart(void **state)
{
	(void)state;
	struct wm_wg *wg;
	struct wm_wg_device *want, *have = NULL;
	int pid, pid2;

	if (!ready)
		skip();
	wg = open_go("wme2e1");
	want = wm_wg_device_new("wme2e1");
	key_fill(want->private_key, 0x22);
	want->listen_port = 51900;
	add_peer(want, 0xa0, "127.0.0.1:51821", "172.16.0.2/32", NULL);
	converge(wg, want);
	pid = wm_wg_helper_pid(wg);

	/* Our own child, by its PID: SIGKILL leaves a stale socket behind. */
	restarted = 0;
	assert_int_equal(kill(pid, SIGKILL), 0);
	run_until(&restarted);
	assert_int_equal(restarted, 1);
	pid2 = wm_wg_helper_pid(wg);
	assert_true(pid2 > 0 && pid2 != pid);
	/* The new instance is empty; re-applying the config restores it. */
	assert_int_equal(wm_wg_get(wg, &have), 0);
	assert_int_equal(have->n_peers, 0);
	wm_wg_device_free(have);
	converge(wg, want);
	assert_non_null(strstr(test_output("wg show wme2e1 listen-port"), "51900"));
	close_go(wg);
	assert_int_equal(kill(pid2, 0), -1);
	wm_wg_device_free(want);
}

static void test_userspace_stale_and_busy(void **state)
{
	(void)state;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct wm_wg_config cfg = {
		.ifname = "wme2e2", .backend = WM_WG_USERSPACE, .wireguard_go = WRAPPER};
	struct wm_wg *wg, *wg2 = (void *)1;
	char err[256];
	int fd;

	if (!ready)
		skip();
	/* A socket file nobody listens on, as a SIGKILLed predecessor leaves. */
	mkdir("/run/wireguard", 0755);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "/run/wireguard/wme2e2.sock");
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	assert_int_equal(access(sun.sun_path, F_OK), 0);
	wg = open_go("wme2e2");

	/* A live one is not ours to replace. */
	assert_int_equal(wm_wg_open(&loop, &cfg, &wg2, err, sizeof(err)), -EEXIST);
	assert_null(wg2);
	assert_non_null(strstr(err, "already serves wme2e2"));
	close_go(wg);
}

static void test_userspace_spawn_failures(void **state)
{
	(void)state;
	struct wm_wg_config cfg = {.ifname = "wme2e3", .backend = WM_WG_USERSPACE};
	struct wm_wg *wg = (void *)1;
	char err[256];
	int ret;

	if (!ready)
		skip();
	cfg.wireguard_go = "/nonexistent/wireguard-go";
	ret = wm_wg_open(&loop, &cfg, &wg, err, sizeof(err));
	assert_int_equal(ret, -ENOENT);
	assert_null(wg);
	assert_non_null(strstr(err, "/nonexistent/wireguard-go"));

	cfg.wireguard_go = "/bin/false"; /* starts, then exits at once */
	ret = wm_wg_open(&loop, &cfg, &wg, err, sizeof(err));
	assert_int_equal(ret, -ECHILD);
	assert_non_null(strstr(err, "exited (status 1) before its UAPI socket"));
	/* Its handles close once the loop runs. */
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
}

static void test_auto_and_kernel(void **state)
{
	(void)state;
	struct wm_wg_config cfg = {.ifname = "wme2e4", .backend = WM_WG_KERNEL};
	struct wm_wg *wg = NULL;
	char err[256];
	int ret;

	if (!ready)
		skip();
	ret = wm_wg_open(&loop, &cfg, &wg, err, sizeof(err));
	if (ret == 0) {
		track(wg, true);
		/* A machine with the module: the kernel backend works here. */
		assert_string_equal(wm_wg_backend_name(wg), "kernel");
		close_go(wg);
		return;
	}
	assert_int_equal(ret, -EOPNOTSUPP);
	assert_non_null(strstr(err, "creating WireGuard link wme2e4"));

	/* auto falls back to the embedded WireGuard without the module, and the
	 * front end drives it as it drives wireguard-go: set, then read back. */
	cfg.backend = WM_WG_AUTO;
	cfg.wireguard_go = WRAPPER;
	assert_int_equal(wm_wg_open(&loop, &cfg, &wg, err, sizeof(err)), 0);
	track(wg, true);
	assert_string_equal(wm_wg_backend_name(wg), "embedded");
	assert_int_equal(wm_wg_helper_pid(wg), 0);
	struct wm_wg_device *want = wm_wg_device_new("wme2e4"), *have = NULL;
	key_fill(want->private_key, 0x41);
	want->flags = WM_WGDEV_HAS_PRIVATE_KEY | WM_WGDEV_HAS_LISTEN_PORT;
	want->listen_port = 52004;
	add_peer(want, 0x42, "127.0.0.1:4242", "10.9.0.2/32", "fd09::2/128");
	add_peer(want, 0x43, "[::1]:4343", "10.9.1.0/24", "fd09:1::/64");
	wm_wg_device_sort(want);
	converge(wg, want);
	assert_int_equal(wm_wg_get(wg, &have), 0);
	assert_int_equal(have->listen_port, 52004);
	assert_int_equal(have->n_peers, 2);
	wm_wg_device_free(have);
	wm_wg_device_free(want);
	close_go(wg);
}

static void test_userspace_large_and_update_only(void **state)
{
	(void)state;
	struct wm_wg *wg;
	struct wm_wg_device *want, *have = NULL, *upd;
	struct wm_wg_peer *p;
	const int n = 2000;
	wm_key k;

	if (!ready)
		skip();
	wg = open_go("wme2e5");
	want = wm_wg_device_new("wme2e5");
	key_fill(want->private_key, 0x30);
	want->listen_port = 52000;
	for (int i = 0; i < n; i++) {
		char ep[32];

		memset(k, 0, sizeof(k));
		k[0] = (uint8_t)(i >> 8);
		k[1] = (uint8_t)i;
		k[2] = 1;
		p = wm_wg_device_add_peer(want, k);
		snprintf(ep, sizeof(ep), "127.0.%d.%d:%d", i >> 8, i & 255, 10000 + i);
		assert_int_equal(wm_endpoint_parse(ep, &p->endpoint), 0);
		for (int j = 0; j < 3; j++) {
			struct wm_prefix a = {
				.family = AF_INET,
				.len = 32,
				.addr = {10, (uint8_t)(i >> 8), (uint8_t)i, (uint8_t)j}};
			assert_int_equal(wm_wg_peer_add_allowed_ip(p, &a), 0);
		}
	}
	wm_wg_device_sort(want);
	converge(wg, want); /* one ~600 KB set request, then one get */
	assert_int_equal(atoi(test_output("wg show wme2e5 peers | wc -l")), n);
	assert_int_equal(atoi(test_output("wg show wme2e5 allowed-ips | wc -w")), n * 4);

	/* UPDATE_ONLY: an unknown peer is not created, a known one is updated. */
	upd = wm_wg_device_new("wme2e5");
	key_fill(k, 0xee);
	p = wm_wg_device_add_peer(upd, k);
	p->flags = WM_WGPEER_UPDATE_ONLY | WM_WGPEER_HAS_KEEPALIVE;
	p->keepalive_interval = 9;
	p = wm_wg_device_add_peer(upd, want->peers[7].public_key);
	p->flags = WM_WGPEER_UPDATE_ONLY | WM_WGPEER_HAS_KEEPALIVE;
	p->keepalive_interval = 0;
	assert_int_equal(wm_wg_set(wg, upd), 0);
	wm_wg_device_free(upd);
	assert_int_equal(wm_wg_get(wg, &have), 0);
	assert_int_equal(have->n_peers, (size_t)n);
	assert_null(wm_wg_device_find_peer(have, k));
	wm_wg_device_free(have);
	close_go(wg);
	wm_wg_device_free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_userspace_spawn_failures),
		cmocka_unit_test(test_userspace_roundtrip),
		cmocka_unit_test(test_userspace_restart),
		cmocka_unit_test(test_userspace_stale_and_busy),
		cmocka_unit_test(test_auto_and_kernel),
		cmocka_unit_test(test_userspace_large_and_update_only),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
