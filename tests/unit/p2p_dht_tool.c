/* A libp2p host with the DHT for the interop test (tests/integration/
 * test_libp2p_dht.py): it listens, dials its bootstrap peers, announces
 * --provide keys and looks up --find keys (again each second until a
 * provider is found or --seconds pass), and prints one JSON object per line:
 * ready, provider, find_done. Keys are hex multihashes. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/dht.h"
#include "p2p/host.h"

struct find {
	uint8_t key[WM_KAD_KEY_MAX];
	size_t len;
	char hex[2 * WM_KAD_KEY_MAX + 1];
	bool found, busy;
};

static struct wm_p2p *host;
static struct wm_dht *dht;
static struct find finds[4];
static size_t nfinds;
static uv_timer_t retry, stop_timer;
static uv_signal_t sigterm;

static int unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = strlen(h);

	if (n % 2 || n / 2 > cap || n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

static void on_provider(void *ud, const struct wm_kad_peer *p, int err)
{
	struct find *f = ud;

	if (!p) {
		f->busy = false;
		printf("{\"event\":\"find_done\",\"key\":\"%s\",\"err\":%d}\n", f->hex, err);
		fflush(stdout);
		return;
	}
	struct wm_peer_id id;
	char text[WM_PEERID_TEXT_MAX] = "?", addr[WM_MADDR_TEXT_MAX] = "";
	if (wm_peer_id_from_bytes(p->id, p->id_len, &id, NULL) == 0)
		wm_peer_id_print(&id, text);
	if (p->naddrs)
		wm_maddr_print(p->addrs[0], p->addr_len[0], addr, sizeof(addr));
	f->found = true;
	printf("{\"event\":\"provider\",\"key\":\"%s\",\"peer_id\":\"%s\",\"addr\":\"%s\"}\n",
	       f->hex, text, addr);
	fflush(stdout);
}

static void on_retry(uv_timer_t *t)
{
	(void)t;
	for (size_t i = 0; i < nfinds; i++)
		if (!finds[i].found && !finds[i].busy && wm_dht_table_size(dht) > 0 &&
		    wm_dht_find_providers(dht, finds[i].key, finds[i].len, 4, on_provider,
					  &finds[i]) == 0)
			finds[i].busy = true;
}

static void host_done(void *data)
{
	(void)data;
	wm_dht_free(dht, NULL, NULL);
}

static void shutdown_all(void)
{
	uv_timer_stop(&retry);
	uv_close((uv_handle_t *)&retry, NULL);
	uv_close((uv_handle_t *)&stop_timer, NULL);
	uv_close((uv_handle_t *)&sigterm, NULL);
	wm_dht_stop(dht);
	wm_p2p_free(host, host_done, NULL);
}

static void on_stop(uv_timer_t *t)
{
	(void)t;
	shutdown_all();
}

static void on_sigterm(uv_signal_t *s, int sig)
{
	(void)s;
	(void)sig;
	shutdown_all();
}

int main(int argc, char **argv)
{
	char *listen[4], *peers[4];
	size_t nl = 0, np = 0;
	const char *key = NULL;
	uint8_t provide[4][WM_KAD_KEY_MAX];
	int nprovide_len[4];
	size_t nprovide = 0;
	long seconds = 60;
	char err[512] = "";
	uv_loop_t *loop = uv_default_loop();
	/* As webmeshd: a peer that closes first is an error code, not a signal. */
	signal(SIGPIPE, SIG_IGN);

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--listen") && nl < 4)
			listen[nl++] = argv[i + 1];
		else if (!strcmp(k, "--peer") && np < 4)
			peers[np++] = argv[i + 1];
		else if (!strcmp(k, "--key"))
			key = v;
		else if (!strcmp(k, "--provide") && nprovide < 4 &&
			 (nprovide_len[nprovide] = unhex(v, provide[nprovide], WM_KAD_KEY_MAX)) > 0)
			nprovide++;
		else if (!strcmp(k, "--find") && nfinds < 4 &&
			 unhex(v, finds[nfinds].key, WM_KAD_KEY_MAX) > 0) {
			finds[nfinds].len = strlen(v) / 2;
			snprintf(finds[nfinds].hex, sizeof(finds[0].hex), "%s", v);
			nfinds++;
		} else if (!strcmp(k, "--seconds"))
			seconds = strtol(v, NULL, 10);
		else {
			fprintf(stderr, "p2p_dht_tool: bad argument %s %s\n", k, v);
			return 2;
		}
	}
	if (!key || seconds <= 0 || seconds > 600) {
		fprintf(stderr, "p2p_dht_tool: --key PATH required, --seconds 1..600\n");
		return 2;
	}
	struct wm_p2p_config c = {
		.loop = loop,
		.key_path = key,
		.listen = listen,
		.nlisten = nl,
		.peers = peers,
		.npeers = np,
		.agent = "webmesh/dht-tool",
		.max_conns = 16,
		.max_streams = 32,
		.log_level = 1,
	};
	if (wm_p2p_new(&c, &host, err, sizeof(err))) {
		fprintf(stderr, "p2p_dht_tool: %s\n", err);
		return 1;
	}
	struct wm_dht_config dc = {.query_timeout_ms = 3000, .lookup_timeout_ms = 10000};
	if (wm_dht_new(host, &dc, &dht)) {
		fprintf(stderr, "p2p_dht_tool: cannot start the DHT\n");
		return 1;
	}
	for (size_t i = 0; i < nprovide; i++)
		wm_dht_provide(dht, provide[i], (size_t)nprovide_len[i]);
	struct wm_p2p_status *st = calloc(1, sizeof(*st));
	wm_p2p_status(host, st);
	printf("{\"event\":\"ready\",\"peer_id\":\"%s\",\"addrs\":[", st->peer_id);
	for (size_t i = 0; i < st->nlisten; i++)
		printf("%s\"%s\"", i ? "," : "", st->listen[i]);
	printf("]}\n");
	fflush(stdout);
	free(st);
	uv_timer_init(loop, &retry);
	uv_timer_start(&retry, on_retry, 1000, 1000);
	uv_timer_init(loop, &stop_timer);
	uv_timer_start(&stop_timer, on_stop, (uint64_t)seconds * 1000, 0);
	uv_signal_init(loop, &sigterm);
	uv_signal_start(&sigterm, on_sigterm, SIGTERM);
	uv_run(loop, UV_RUN_DEFAULT);
	return 0;
}
