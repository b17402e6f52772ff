/* wg_probe: the kernel backend's chunked netlink writes against a real
 * wireguard module (run inside the VM of `make test-kernel`, in a namespace
 * of its own). A device far bigger than one netlink message (many peers, and
 * one peer whose allowed IPs alone span several messages) is set, read back
 * and compared; then changed through wm_wg_diff, as webmeshd changes it, and
 * compared again, with the sessions of untouched peers checked by their
 * counters being kept. Prints one line per step; exit 0 only if all held. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/wgconf.h"
#include "wg/wg.h"

#define N_PEERS 300
#define N_AIPS 12     /* per peer */
#define BIG_AIPS 3000 /* of the one big peer: several messages on its own */

static int failures;

static void check(int ok, const char *what)
{
	printf("%s: %s\n", ok ? "ok" : "FAIL", what);
	failures += !ok;
}

/* Deterministic keys and prefixes: peer i, allowed IP j. */
static void key_of(int i, wm_key k)
{
	memset(k, 0, WM_KEY_LEN);
	k[0] = 0x40;
	k[1] = (uint8_t)(i >> 8);
	k[2] = (uint8_t)i;
	k[31] = 0x17;
}

static struct wm_prefix v4(int i, int j)
{
	struct wm_prefix p = {.family = AF_INET, .len = 32};
	p.addr[0] = 10;
	p.addr[1] = (uint8_t)(i >> 4);
	p.addr[2] = (uint8_t)(((i & 15) << 4) | (j >> 8));
	p.addr[3] = (uint8_t)j;
	return p;
}

static struct wm_prefix v6(int i, int j)
{
	struct wm_prefix p = {.family = AF_INET6, .len = 112};
	p.addr[0] = 0xfd;
	p.addr[1] = 0x42;
	p.addr[4] = (uint8_t)(i >> 8);
	p.addr[5] = (uint8_t)i;
	p.addr[12] = (uint8_t)(j >> 8);
	p.addr[13] = (uint8_t)j;
	return p;
}

static int add_peer(struct wm_wg_device *d, int i, int n_aips, int salt)
{
	wm_key k;
	key_of(i, k);
	struct wm_wg_peer *p = wm_wg_device_add_peer(d, k);
	if (!p)
		return -ENOMEM;
	p->flags |= WM_WGPEER_HAS_ENDPOINT | WM_WGPEER_REPLACE_ALLOWEDIPS;
	p->endpoint.ip.family = AF_INET;
	p->endpoint.ip.len = 32;
	p->endpoint.ip.addr[0] = 192;
	p->endpoint.ip.addr[1] = 0;
	p->endpoint.ip.addr[2] = 2;
	p->endpoint.ip.addr[3] = (uint8_t)(i % 250 + 1);
	p->endpoint.port = (uint16_t)(51820 + i);
	for (int j = 0; j < n_aips; j++) {
		struct wm_prefix a = (j % 2) ? v6(i, j + salt) : v4(i, j + salt);
		int r = wm_wg_peer_add_allowed_ip(p, &a);
		if (r < 0)
			return r;
	}
	return 0;
}

static int cmp_prefix(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct wm_prefix));
}

/* The device holds exactly want's peers, endpoints and allowed IPs (as sets:
 * the kernel returns them in its trie's order). Prints the first difference. */
static int same(const struct wm_wg_device *got, const struct wm_wg_device *want)
{
	if (got->n_peers != want->n_peers) {
		printf("  %zu peers on the device, %zu wanted\n", got->n_peers, want->n_peers);
		return 0;
	}
	for (size_t i = 0; i < want->n_peers; i++) {
		const struct wm_wg_peer *w = &want->peers[i];
		const struct wm_wg_peer *g = wm_wg_device_find_peer(got, w->public_key);
		if (!g) {
			printf("  peer %zu missing\n", i);
			return 0;
		}
		if (!wm_endpoint_equal(&g->endpoint, &w->endpoint)) {
			printf("  peer %zu: another endpoint\n", i);
			return 0;
		}
		if (g->n_allowed_ips != w->n_allowed_ips) {
			printf("  peer %zu: %zu allowed IPs, %zu wanted\n", i, g->n_allowed_ips,
			       w->n_allowed_ips);
			return 0;
		}
		size_t n = w->n_allowed_ips;
		struct wm_prefix *a = calloc(n ? n : 1, sizeof(*a)),
				 *b = calloc(n ? n : 1, sizeof(*b));
		if (!a || !b) {
			free(a);
			free(b);
			return 0;
		}
		memcpy(a, g->allowed_ips, n * sizeof(*a));
		memcpy(b, w->allowed_ips, n * sizeof(*b));
		/* the kernel gives back the network, not the host bits */
		for (size_t j = 0; j < n; j++)
			b[j] = wm_prefix_network(&b[j]);
		qsort(a, n, sizeof(*a), cmp_prefix);
		qsort(b, n, sizeof(*b), cmp_prefix);
		int eq = memcmp(a, b, n * sizeof(*a)) == 0;
		free(a);
		free(b);
		if (!eq) {
			printf("  peer %zu: other allowed IPs\n", i);
			return 0;
		}
	}
	return 1;
}

static struct wm_wg_device *read_back(struct wm_wg *wg)
{
	struct wm_wg_device *d = NULL;
	int r = wm_wg_get(wg, &d);
	if (r < 0) {
		printf("  wm_wg_get: %s\n", strerror(-r));
		return NULL;
	}
	return d;
}

int main(void)
{
	uv_loop_t loop;
	struct wm_wg *wg = NULL;
	char err[256] = "";
	struct wm_wg_config cfg = {.ifname = "wgprobe0", .backend = WM_WG_KERNEL};

	if (uv_loop_init(&loop) != 0)
		return 2;
	if (wm_wg_open(&loop, &cfg, &wg, err, sizeof(err)) < 0) {
		printf("FAIL: open the kernel device: %s\n", err);
		return 1;
	}
	check(strcmp(wm_wg_backend_name(wg), "kernel") == 0, "the device is the kernel's");

	/* 1. a full device: N_PEERS peers and one with BIG_AIPS allowed IPs */
	struct wm_wg_device *want = wm_wg_device_new("wgprobe0");
	if (!want)
		return 2;
	int r = 0;
	want->flags = WM_WGDEV_HAS_PRIVATE_KEY | WM_WGDEV_HAS_LISTEN_PORT | WM_WGDEV_REPLACE_PEERS;
	memset(want->private_key, 0x21, WM_KEY_LEN);
	want->private_key[0] &= 248;
	want->private_key[31] = (want->private_key[31] & 127) | 64;
	want->listen_port = 51999;
	for (int i = 0; i < N_PEERS && r == 0; i++)
		r = add_peer(want, i, N_AIPS, 0);
	if (r == 0)
		r = add_peer(want, N_PEERS, BIG_AIPS, 0);
	if (r < 0) {
		printf("FAIL: building the device: %s\n", strerror(-r));
		return 1;
	}
	r = wm_wg_set(wg, want);
	check(r == 0, "set a device of 301 peers, 6600 allowed IPs (one peer 3000)");
	struct wm_wg_device *got = read_back(wg);
	check(got && same(got, want), "read back: exactly what was set");
	check(got && got->listen_port == 51999, "read back: the listen port");

	/* A changed configuration, applied as webmeshd applies one: the diff
	 * of what the device holds and what is wanted. (Sessions need a peer
	 * that answers: the mesh in the VM checks that untouched peers keep
	 * theirs.) */
	/* remove every 7th peer, change the allowed IPs of every 5th, add 40,
	 * and shrink the big one to half */
	struct wm_wg_device *next = wm_wg_device_new("wgprobe0");
	if (!next)
		return 2;
	next->flags = WM_WGDEV_HAS_PRIVATE_KEY | WM_WGDEV_HAS_LISTEN_PORT;
	memcpy(next->private_key, want->private_key, WM_KEY_LEN);
	next->listen_port = want->listen_port;
	r = 0;
	for (int i = 0; i < N_PEERS && r == 0; i++) {
		if (i % 7 == 0)
			continue;
		r = add_peer(next, i, N_AIPS, i % 5 == 0 ? 100 : 0);
	}
	for (int i = N_PEERS + 1; i < N_PEERS + 41 && r == 0; i++)
		r = add_peer(next, i, N_AIPS, 0);
	if (r == 0)
		r = add_peer(next, N_PEERS, BIG_AIPS / 2, 0);
	if (r < 0) {
		printf("FAIL: building the change: %s\n", strerror(-r));
		return 1;
	}
	struct wm_wg_device *update = NULL;
	if (got) {
		wm_wg_device_sort(next);
		r = wm_wg_diff(got, next, &update);
		check(r >= 0 && update, "diff of the change");
	}
	if (update) {
		size_t removed = 0;
		for (size_t i = 0; i < update->n_peers; i++)
			removed += !!(update->peers[i].flags & WM_WGPEER_REMOVE_ME);
		check(!(update->flags & WM_WGDEV_REPLACE_PEERS) && update->n_peers < next->n_peers,
		      "the update names only changed peers");
		printf("  update: %zu peers (%zu removed) of %zu\n", update->n_peers, removed,
		       next->n_peers);
		check(wm_wg_set(wg, update) == 0, "set the update");
		struct wm_wg_device *got2 = read_back(wg);
		check(got2 && same(got2, next), "read back: exactly the changed configuration");
		wm_wg_device_free(got2);
	}
	wm_wg_device_free(update);
	wm_wg_device_free(next);
	wm_wg_device_free(got);
	wm_wg_device_free(want);
	wm_wg_close(wg, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	printf("%s\n", failures ? "wg_probe: FAILED" : "wg_probe: all held");
	return failures ? 1 : 0;
}
