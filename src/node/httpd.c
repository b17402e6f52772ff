/* The HTTP listener's component: see httpd.h. */
#include "node/httpd.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/net.h"
#include "core/sort.h"
#include "http/console.h"
#include "node/console_dir.h"
#include "node/netconf.h"
#include "util/log.h"

static int64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	long pages = 0, rss = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return (int64_t)rss * sysconf(_SC_PAGESIZE);
}

static int cmp_name(const void *a, const void *b)
{
	const struct wm_peer_name *x = *(const struct wm_peer_name *const *)a;
	const struct wm_peer_name *y = *(const struct wm_peer_name *const *)b;
	return memcmp(x->key, y->key, WM_KEY_LEN);
}

static int cmp_key(const void *key, const void *elem)
{
	const struct wm_peer_name *y = *(const struct wm_peer_name *const *)elem;
	return memcmp(key, y->key, WM_KEY_LEN);
}

#define RAFT_CACHE_MS 1000

/* The replica's status, at most RAFT_CACHE_MS old; NULL without a replica. */
static const struct wm_store_status *raft_status(struct wm_node_httpd *h)
{
	struct wm_store *store = h->c.store(h->c.data);
	if (!store)
		return NULL;
	uint64_t now = uv_now(h->c.loop);
	if (!h->raft_at_ms || now - h->raft_at_ms >= RAFT_CACHE_MS) {
		wm_store_status(store, &h->raft);
		h->raft_at_ms = now ? now : 1;
	}
	return &h->raft;
}

int wm_node_httpd_metrics(struct wm_node_httpd *h, struct wm_metrics_buf *buf)
{
	struct wm_metrics_snapshot s = {
		.node_id = h->c.node_id,
		.calls = &h->calls,
		.nat_events = h->nat_events,
		.joined = h->c.joined(h->c.data),
	};
	struct wm_wg *wg = h->c.wg(h->c.data);
	struct wm_wg_device *dev = NULL;
	struct wm_metrics_peer *peers = NULL;
	char(*keys)[WM_KEY_B64_LEN + 1] = NULL;
	const struct wm_peer_name **byname = NULL;
	int rc = 0;
	/* one device read per scrape, and names found by key in a sorted copy:
	 * a scrape at 1,000 peers stays linear-logarithmic */
	if (wg && wm_wg_get(wg, &dev) == 0) {
		s.wireguard_up = true;
		size_t n_names = 0;
		const struct wm_peer_name *names = h->c.peers(h->c.data, &n_names);
		peers = calloc(dev->n_peers + 1, sizeof(*peers));
		keys = calloc(dev->n_peers + 1, sizeof(*keys));
		byname = calloc(n_names + 1, sizeof(*byname));
		if (!peers || !keys || !byname) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n_names; i++)
			byname[i] = &names[i];
		wm_sort(byname, n_names, sizeof(*byname), cmp_name);
		for (size_t i = 0; i < dev->n_peers; i++) {
			const struct wm_wg_peer *p = &dev->peers[i];
			const struct wm_peer_name *const *hit =
				bsearch(p->public_key, byname, n_names, sizeof(*byname), cmp_key);
			wm_key_to_base64(p->public_key, keys[i]);
			peers[i] = (struct wm_metrics_peer){
				.node_id = hit ? (*hit)->id : "",
				.public_key = keys[i],
				.rx_bytes = p->rx_bytes,
				.tx_bytes = p->tx_bytes,
				.last_handshake = p->last_handshake_sec,
				.path = h->c.path(h->c.data, p->public_key),
			};
		}
		s.peers = peers;
		s.n_peers = dev->n_peers;
	}
	const struct wm_store_status *st = raft_status(h);
	if (st) {
		s.raft = true;
		s.raft_term = st->term;
		s.raft_commit_index = st->commit_index;
		s.raft_applied_index = st->applied_index;
		s.raft_role = st->state;
		s.raft_leader = st->leader_id;
		s.raft_caught_up = st->caught_up;
	}
	s.rss_bytes = (uint64_t)rss_bytes();
	rc = wm_metrics_render(&s, buf);
out:
	free(byname);
	free(keys);
	free(peers);
	wm_wg_device_free(dev);
	return rc;
}

bool wm_node_httpd_ready(struct wm_node_httpd *h, const char **why)
{
	if (!h->c.joined(h->c.data)) {
		*why = "not in a mesh yet";
		return false;
	}
	struct wm_wg *wg = h->c.wg(h->c.data);
	struct wm_wg_device *dev = NULL;
	if (!wg || wm_wg_get(wg, &dev) < 0) {
		*why = "the WireGuard interface does not answer";
		return false;
	}
	wm_wg_device_free(dev);
	const struct wm_store_status *st = raft_status(h);
	if (h->c.cfg->bootstrap || h->c.cfg->voter || h->c.cfg->observer || st) {
		if (!st) {
			*why = "the replica is not open yet";
			return false;
		}
		if (!st->caught_up) {
			*why = st->behind ? st->behind : "the replica is catching up";
			return false;
		}
	}
	*why = "ready";
	return true;
}

static const char *const plain[] = {"Content-Type", "text/plain; charset=utf-8", "Cache-Control",
				    "no-store", NULL};

static void serve_metrics(struct wm_http_req *req, void *arg)
{
	struct wm_node_httpd *h = arg;
	struct wm_metrics_buf buf = {0};
	static const char *const hdr[] = {"Content-Type", WM_METRICS_CONTENT_TYPE, "Cache-Control",
					  "no-store", NULL};
	if (wm_node_httpd_metrics(h, &buf)) {
		static const char msg[] = "out of memory\n";
		wm_http_respond(req, 503, plain, msg, sizeof(msg) - 1);
	} else {
		wm_http_respond(req, 200, hdr, buf.p, buf.len);
	}
	wm_metrics_buf_free(&buf);
}

static void serve_healthz(struct wm_http_req *req, void *arg)
{
	(void)arg;
	static const char msg[] = "ok\n";
	wm_http_respond(req, 200, plain, msg, sizeof(msg) - 1);
}

static void serve_readyz(struct wm_http_req *req, void *arg)
{
	const char *why;
	bool ok = wm_node_httpd_ready(arg, &why);
	char msg[160];
	int n = snprintf(msg, sizeof(msg), "%s\n", why);
	wm_http_respond(req, ok ? 200 : 503, plain, msg, (size_t)n);
}

int wm_node_httpd_init(struct wm_node_httpd *h, const struct wm_node_httpd_config *c, char *err,
		       size_t errlen)
{
	memset(h, 0, sizeof(*h));
	h->c = *c;
	h->started = true;
	const char *listen = c->cfg->http_listen;
	if (!listen || !listen[0])
		return 0;
	struct wm_http_config hc = {
		.loop = c->loop,
		.allowed_hosts = (const char *const *)c->cfg->http_allowed_hosts,
		.n_allowed_hosts = c->cfg->n_http_allowed_hosts,
	};
	int rc = wm_http_new(&hc, &h->http);
	if (rc) {
		snprintf(err, errlen, "cannot start the HTTP listener: %s", wm_strerror(rc));
		return rc;
	}
	/* public on the listener: scrapers and probes carry no session */
	rc = wm_http_mount_public(h->http, "GET", "/metrics", serve_metrics, h);
	rc = rc ? rc : wm_http_mount_public(h->http, "GET", "/healthz", serve_healthz, h);
	rc = rc ? rc : wm_http_mount_public(h->http, "GET", "/readyz", serve_readyz, h);
	char dir[PATH_MAX];
	wm_node_console_dir(c->cfg, dir, sizeof(dir));
	rc = rc ? rc : wm_http_console_mount(h->http, dir, &h->console);
	rc = rc ? rc : wm_node_httpd_mount_grpcweb(h);
	if (rc) {
		snprintf(err, errlen, "cannot mount the HTTP handlers: %s", wm_strerror(rc));
		return rc;
	}
	rc = wm_http_listen(h->http, listen);
	if (rc == -EADDRINUSE) {
		/* several daemons on one host share the default (bench/scale runs
		 * a thousand): the node runs without metrics rather than not at all */
		wm_warn("no HTTP listener: %s is in use (another webmeshd on this host?); set "
			"http-listen to a free IP:PORT, or empty to turn it off",
			listen);
		wm_http_close(h->http, NULL, NULL);
		h->http = NULL;
		wm_http_console_free(h->console);
		h->console = NULL;
		return 0;
	}
	if (rc) {
		snprintf(err, errlen,
			 "cannot serve HTTP on %s: %s (http-listen; empty turns it off)", listen,
			 rc == -EINVAL ? "not IP:PORT" : wm_strerror(rc));
		return rc;
	}
	wm_info("serving metrics, health and the console on http://%s (port %u; console files in "
		"%s)",
		listen, wm_http_port(h->http), dir);
	return 0;
}

struct wm_http *wm_node_httpd_server(const struct wm_node_httpd *h)
{
	return h->started ? h->http : NULL;
}

void wm_node_httpd_count_call(struct wm_node_httpd *h, const char *method, int code)
{
	if (h->started)
		wm_metrics_calls_add(&h->calls, method, code);
}

void wm_node_httpd_nat_event(struct wm_node_httpd *h)
{
	if (h->started)
		h->nat_events++;
}

/* http://HOST:PORT of the listener, as a browser on this host reaches it. */
static void base_url(const struct wm_node_httpd *h, char *out, size_t len)
{
	struct wm_endpoint e;
	char host[WM_PREFIX_STRLEN + 2] = "127.0.0.1";
	if (wm_endpoint_parse(h->c.cfg->http_listen, &e) == 0) {
		char ip[WM_PREFIX_STRLEN];
		wm_prefix_format_addr(&e.ip, ip, sizeof(ip));
		/* an unspecified address is reached on loopback */
		if (strcmp(ip, "0.0.0.0") == 0)
			snprintf(host, sizeof(host), "127.0.0.1");
		else if (strcmp(ip, "::") == 0)
			snprintf(host, sizeof(host), "[::1]");
		else if (e.ip.family == AF_INET6)
			snprintf(host, sizeof(host), "[%s]", ip);
		else
			snprintf(host, sizeof(host), "%s", ip);
	}
	snprintf(out, len, "http://%s:%u", host, wm_http_port(h->http));
}

int wm_node_httpd_console_url(struct wm_node_httpd *h, char *url, size_t len)
{
	if (!h->started || !h->http)
		return -ENOTCONN;
	char token[WM_HTTP_TOKEN_LEN + 1], base[WM_PREFIX_STRLEN + 24];
	int rc = wm_http_token_new(h->http, token);
	if (rc)
		return rc;
	base_url(h, base, sizeof(base));
	int n = snprintf(url, len, "%s/?token=%s", base, token);
	memset(token, 0, sizeof(token));
	return n > 0 && (size_t)n < len ? 0 : -ENOSPC;
}

static void http_closed(void *data)
{
	struct wm_node_httpd *h = data;
	wm_http_console_free(h->console);
	h->console = NULL;
	h->http = NULL;
	h->started = false;
	if (h->done_cb)
		h->done_cb(h->done_data);
}

void wm_node_httpd_close(struct wm_node_httpd *h, void (*done_cb)(void *data), void *data)
{
	h->done_cb = done_cb;
	h->done_data = data;
	if (!h->http) {
		h->started = false;
		if (done_cb)
			done_cb(data);
		return;
	}
	wm_http_close(h->http, http_closed, h);
}
