/* wmnat-node: a member node reduced to what NAT traversal needs, for tests
 * and benchmarks while webmeshd does not call src/node/nat.c yet.
 *
 * It does what a webmeshd member does, through the same modules: key in
 * --state-dir, wireguard-go via src/wg, endpoint discovery with STUN, Join and
 * SubscribePeers on the real server, the peer set applied as a diff to the
 * device - with the NAT layer (wm_node_nat_*) called exactly where the daemon
 * will call it. Signals go through the real server's Signaling service.
 *
 * Flags: webmeshd's own (--join, --join-fingerprint, --node-id, --state-dir,
 * --stun-servers, --turn-servers, --turn-username/--turn-password,
 * --wireguard-port, --interface, --ice-handshake-timeout, --endpoints,
 * --log-level), plus
 *   --status-file PATH   the node's Status (JSON, as `wmctl status -o json`)
 *                        rewritten every second;
 *   --force-ice          every peer over ICE; --force-relay  TURN only;
 *   --turn-secret S      (a webmeshd key) here: make coturn shared-secret
 *                        credentials locally, as a server would hand them out.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/config.h"
#include "core/error.h"
#include "core/hostport.h"
#include "core/key.h"
#include "nat/turncred.h"
#include "node/config_load.h"
#include "node/daemon.h"
#include "node/nat.h"
#include "rpc/rpc.h"
#include "rpc/tls.h"
#include "sys/sys.h"
#include "util/arena.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/pbjson.h"
#include "util/strbuf.h"
#include "webmesh/v1/mesh.pb-c.h"
#include "webmesh/v1/node.pb-c.h"
#include "wg/wg.h"

struct app {
	uv_loop_t loop;
	struct wm_config cfg;
	const char *status_file;
	bool force_ice, force_relay;
	wm_key priv, pub;
	struct wm_wg *wg;
	SSL_CTX *tls;
	struct wm_rpc_client *client;
	struct wm_node_nat *nat;
	struct wm_endpoint eps[WM_MAX_ENDPOINTS];
	size_t n_eps;
	struct wm_prefix net4, addr4;
	bool joined;
	struct wm_rpc_stream *stream;
	Webmesh__V1__PeerConfigurations *peers; /* the last set, owned */
	struct wm_wg_device *desired;		/* what the device should hold */
	uv_timer_t timer;
	uv_signal_t sigterm, sigint;
	uint64_t retry_at;
	bool stopping;
	int exit_code;
};

static struct app A;

static void join(void);
static void subscribe(void);

static struct wm_rpc_client *signaling_client(void *data)
{
	(void)data;
	return A.joined ? A.client : NULL;
}

/* ---- the device: as src/node/netconf.c does it ---- */

static int add_peer(struct wm_wg_device *dev, const Webmesh__V1__WireGuardPeer *p)
{
	struct wm_wg_peer *peer;
	wm_key key;

	if (!p->node || wm_key_from_base64(p->node->public_key, key) < 0)
		return -EINVAL;
	if (wm_key_equal(key, A.pub))
		return 0;
	peer = wm_wg_device_add_peer(dev, key);
	if (!peer)
		return -ENOMEM;
	peer->flags = WM_WGPEER_REPLACE_ALLOWEDIPS;
	if (p->endpoint && p->endpoint[0] && wm_endpoint_parse(p->endpoint, &peer->endpoint) == 0)
		peer->flags |= WM_WGPEER_HAS_ENDPOINT;
	for (size_t i = 0; i < p->n_allowed_ips; i++) {
		struct wm_prefix pfx;

		if (wm_prefix_parse(p->allowed_ips[i], &pfx) == 0)
			wm_wg_peer_add_allowed_ip(peer, &pfx);
	}
	return 0;
}

static void kick(const struct wm_wg_peer *p)
{
	for (size_t j = 0; j < p->n_allowed_ips; j++) {
		const struct wm_prefix *a = &p->allowed_ips[j];
		struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(9)};
		int fd;

		if (a->family != AF_INET || a->len != 32)
			continue;
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return;
		memcpy(&sin.sin_addr, a->addr, 4);
		(void)sendto(fd, "", 0, 0, (struct sockaddr *)&sin, sizeof(sin));
		close(fd);
		return;
	}
}

/* Makes the device match A.desired (netconf.c's apply_desired). */
static void apply_desired(void)
{
	struct wm_wg_device *actual = NULL, *update = NULL;
	int err;

	if (!A.desired)
		return;
	err = wm_wg_get(A.wg, &actual);
	if (!err) {
		wm_wg_device_sort(actual);
		err = wm_wg_diff(actual, A.desired, &update);
	}
	if (!err && update) {
		err = wm_wg_set(A.wg, update);
		for (size_t i = 0; !err && i < update->n_peers; i++)
			if (!(update->peers[i].flags & WM_WGPEER_REMOVE_ME) &&
			    !wm_wg_device_find_peer(actual, update->peers[i].public_key))
				kick(&update->peers[i]);
	}
	if (err)
		wm_error("cannot configure %s: %s", A.cfg.interface, wm_strerror(err));
	wm_wg_device_free(update);
	wm_wg_device_free(actual);
}

/* A new peer set (netconf.c's wm_netconf_apply_peers). */
static void apply(void)
{
	struct wm_wg_device *desired = wm_wg_device_new(A.cfg.interface);
	Webmesh__V1__WireGuardPeer **peers = A.peers ? A.peers->peers : NULL;
	size_t n = A.peers ? A.peers->n_peers : 0;

	if (!desired)
		return;
	desired->flags = WM_WGDEV_HAS_PRIVATE_KEY | WM_WGDEV_HAS_LISTEN_PORT;
	memcpy(desired->private_key, A.priv, sizeof(wm_key));
	desired->listen_port = A.cfg.wireguard_port;
	for (size_t i = 0; i < n; i++)
		add_peer(desired, peers[i]);
	wm_wg_device_sort(desired);
	/* the hook: ICE peers get their relay endpoints */
	wm_node_nat_apply(A.nat, peers, n, A.eps, A.n_eps, desired);
	wm_wg_device_free(A.desired);
	A.desired = desired;
	apply_desired();
}

/* the hook: a peer moved to ICE */
static void nat_changed_cb(void *data)
{
	(void)data;
	wm_node_nat_rewrite(A.nat, A.desired);
	apply_desired();
}

/* ---- status ---- */

static const char *peer_id(const wm_key key)
{
	for (size_t i = 0; A.peers && i < A.peers->n_peers; i++) {
		wm_key k;
		const Webmesh__V1__MeshNode *node = A.peers->peers[i]->node;

		if (node && wm_key_from_base64(node->public_key, k) == 0 && wm_key_equal(k, key))
			return node->id;
	}
	return "";
}

static void write_status(void)
{
	Webmesh__V1__Status st = WEBMESH__V1__STATUS__INIT;
	struct wm_wg_device *dev = NULL;
	struct wm_arena a;
	struct wm_strbuf b;
	char key[WM_KEY_B64_LEN + 1], tmp[4200];
	FILE *f;

	if (!A.status_file)
		return;
	wm_arena_init(&a);
	wm_key_to_base64(A.pub, key);
	st.id = A.cfg.node_id;
	st.public_key = key;
	st.address_ipv4 = wm_arena_alloc(&a, WM_PREFIX_STRLEN);
	if (A.addr4.family && st.address_ipv4)
		wm_prefix_format(&A.addr4, st.address_ipv4, WM_PREFIX_STRLEN);
	st.endpoints = wm_arena_alloc(&a, sizeof(char *) * (A.n_eps + 1));
	for (size_t i = 0; st.endpoints && i < A.n_eps; i++) {
		char *e = wm_arena_alloc(&a, WM_ENDPOINT_STRLEN);
		if (e && wm_endpoint_format(&A.eps[i], e, WM_ENDPOINT_STRLEN) == 0)
			st.endpoints[st.n_endpoints++] = e;
	}
	st.subscribed = A.stream != NULL;
	if (wm_wg_get(A.wg, &dev) == 0) {
		st.peers = wm_arena_alloc(&a, sizeof(*st.peers) * (dev->n_peers + 1));
		for (size_t i = 0; st.peers && i < dev->n_peers; i++) {
			const struct wm_wg_peer *p = &dev->peers[i];
			Webmesh__V1__PeerStatus *ps = wm_arena_alloc(&a, sizeof(*ps));
			char *k = wm_arena_alloc(&a, WM_KEY_B64_LEN + 1);
			char *e = wm_arena_alloc(&a, WM_ENDPOINT_STRLEN);

			if (!ps || !k || !e)
				break;
			webmesh__v1__peer_status__init(ps);
			wm_key_to_base64(p->public_key, k);
			ps->public_key = k;
			ps->id = wm_arena_strdup(&a, peer_id(p->public_key));
			if (p->endpoint.ip.family)
				wm_endpoint_format(&p->endpoint, e, WM_ENDPOINT_STRLEN);
			else
				e[0] = '\0';
			ps->endpoint = e;
			ps->last_handshake = p->last_handshake_sec;
			ps->rx_bytes = p->rx_bytes;
			ps->tx_bytes = p->tx_bytes;
			/* the hook: path, candidates, ICE bytes */
			wm_node_nat_fill_peer_status(A.nat, p->public_key, ps, &a);
			st.peers[st.n_peers++] = ps;
		}
	}
	wm_strbuf_init(&b);
	wm_pbjson_write(&b, &st.base, 2);
	snprintf(tmp, sizeof(tmp), "%s.tmp", A.status_file);
	f = fopen(tmp, "w");
	if (f && !b.failed && b.s) {
		fputs(b.s, f);
		fputc('\n', f);
	}
	if (f && fclose(f) == 0)
		rename(tmp, A.status_file);
	wm_strbuf_free(&b);
	wm_wg_device_free(dev);
	wm_arena_free(&a);
}

/* ---- the server: join, follow the peer set ---- */

static int peers_msg_cb(void *data, const uint8_t *msg, size_t len)
{
	Webmesh__V1__PeerConfigurations *pc =
		webmesh__v1__peer_configurations__unpack(NULL, len, msg);

	(void)data;
	if (!pc)
		return 0;
	if (A.peers)
		webmesh__v1__peer_configurations__free_unpacked(A.peers, NULL);
	A.peers = pc;
	apply();
	return 0;
}

static void peers_close_cb(void *data, int status, const char *message)
{
	(void)data;
	A.stream = NULL;
	if (A.stopping)
		return;
	wm_warn("peer stream ended (%s: %s)", wm_grpc_status_name(status), message ? message : "");
	A.retry_at = uv_now(&A.loop) + 1000;
}

static void subscribe(void)
{
	Webmesh__V1__SubscribePeersRequest r = WEBMESH__V1__SUBSCRIBE_PEERS_REQUEST__INIT;
	uint8_t buf[128];
	size_t len;

	r.id = A.cfg.node_id;
	len = webmesh__v1__subscribe_peers_request__pack(&r, buf);
	if (wm_rpc_client_stream(A.client, "/webmesh.v1.Membership/SubscribePeers", buf, len, 0,
				 NULL, 0, peers_msg_cb, peers_close_cb, NULL, &A.stream) < 0)
		A.retry_at = uv_now(&A.loop) + 1000;
}

static void join_cb(void *data, int status, const char *message, const uint8_t *resp, size_t len)
{
	Webmesh__V1__JoinResponse *r;

	(void)data;
	if (A.stopping)
		return;
	if (status != WM_GRPC_OK || !(r = webmesh__v1__join_response__unpack(NULL, len, resp))) {
		wm_warn("join: %s: %s", wm_grpc_status_name(status), message ? message : "");
		A.retry_at = uv_now(&A.loop) + 1000;
		return;
	}
	if (wm_prefix_parse(r->network_ipv4, &A.net4) == 0 &&
	    wm_prefix_parse(r->address_ipv4, &A.addr4) == 0) {
		struct wm_prefix a = A.addr4;

		a.len = A.net4.len; /* the whole mesh goes to the interface */
		if (wm_sys_link_up(A.cfg.interface, A.cfg.mtu) < 0 ||
		    wm_sys_addr_add(A.cfg.interface, &a) < 0)
			wm_error("cannot set %s on %s", r->address_ipv4, A.cfg.interface);
	}
	wm_info("joined as %s", r->address_ipv4);
	webmesh__v1__join_response__free_unpacked(r, NULL);
	A.joined = true;
	subscribe();
}

static void join(void)
{
	Webmesh__V1__JoinRequest req = WEBMESH__V1__JOIN_REQUEST__INIT;
	char key[WM_KEY_B64_LEN + 1], eps[WM_MAX_ENDPOINTS][WM_ENDPOINT_STRLEN];
	char *ep[WM_MAX_ENDPOINTS];
	uint8_t buf[2048];
	size_t len;

	wm_key_to_base64(A.pub, key);
	for (size_t i = 0; i < A.n_eps; i++) {
		wm_endpoint_format(&A.eps[i], eps[i], sizeof(eps[i]));
		ep[i] = eps[i];
	}
	req.id = A.cfg.node_id;
	req.public_key = key;
	req.endpoints = ep;
	req.n_endpoints = A.n_eps;
	req.listen_port = A.cfg.wireguard_port;
	len = webmesh__v1__join_request__pack(&req, buf);
	if (wm_rpc_client_unary(A.client, "/webmesh.v1.Membership/Join", buf, len, 15000, NULL, 0,
				join_cb, NULL) < 0)
		A.retry_at = uv_now(&A.loop) + 1000;
}

static void discovered_cb(void *data, int err, const struct wm_nat_discovery *d)
{
	char text[WM_ENDPOINT_STRLEN];

	(void)data;
	if (err == -ECANCELED || A.stopping)
		return;
	A.n_eps = d->n_endpoints;
	memcpy(A.eps, d->endpoints, sizeof(A.eps[0]) * d->n_endpoints);
	if (d->nat.mapped.ip.family) {
		wm_endpoint_format(&d->nat.mapped, text, sizeof(text));
		wm_info("STUN: mapped %s (from port %u), mapping %s, port %s", text,
			d->stun_local_port, wm_nat_mapping_name(d->nat.mapping),
			d->nat.port_preserved ? "kept" : "changed");
	}
	for (size_t i = 0; i < A.n_eps; i++) {
		wm_endpoint_format(&A.eps[i], text, sizeof(text));
		wm_info("advertising %s", text);
	}
	join();
}

/* ---- lifecycle ---- */

static void timer_cb(uv_timer_t *t)
{
	(void)t;
	if (A.stopping)
		return;
	if (A.retry_at && uv_now(&A.loop) >= A.retry_at) {
		A.retry_at = 0;
		if (!A.joined)
			join();
		else if (!A.stream)
			subscribe();
	}
	write_status();
}

static void wg_closed_cb(void *data)
{
	(void)data;
	uv_close((uv_handle_t *)&A.timer, NULL);
	uv_close((uv_handle_t *)&A.sigterm, NULL);
	uv_close((uv_handle_t *)&A.sigint, NULL);
}

static void nat_closed_cb(void *data)
{
	(void)data;
	if (A.client) {
		wm_rpc_client_free(A.client);
		A.client = NULL;
	}
	wm_wg_close(A.wg, wg_closed_cb, NULL);
}

static void stop(int code)
{
	if (A.stopping)
		return;
	A.stopping = true;
	A.exit_code = code;
	if (A.stream) {
		struct wm_rpc_stream *s = A.stream;

		A.stream = NULL;
		wm_rpc_stream_cancel(s);
	}
	wm_node_nat_close(A.nat, nat_closed_cb, NULL);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	(void)s;
	(void)signum;
	stop(0);
}

/* Takes this program's own flags out of argv; the rest are webmeshd's. */
static int own_flags(int argc, char **argv, char **rest)
{
	int n = 0;

	rest[n++] = argv[0];
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--status-file") == 0 && i + 1 < argc)
			A.status_file = argv[++i];
		else if (strcmp(argv[i], "--force-ice") == 0)
			A.force_ice = true;
		else if (strcmp(argv[i], "--force-relay") == 0)
			A.force_relay = true;
		else
			rest[n++] = argv[i];
	}
	rest[n] = NULL;
	return n;
}

int main(int argc, char **argv)
{
	char **rest = calloc((size_t)argc + 1, sizeof(char *));
	char err[512], host[256];
	uint16_t port;
	enum wm_log_level level = WM_LOG_INFO;
	int rc, nrest;

	if (!rest)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0); /* GLib prints debug messages on stdout */
	nrest = own_flags(argc, argv, rest);
	wm_config_init(&A.cfg);
	if (wm_config_load_args(&A.cfg, nrest, rest, err, sizeof(err)) < 0 ||
	    wm_config_validate(&A.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "wmnat-node: %s\n", err);
		return 2;
	}
	if (!A.cfg.join || !A.cfg.node_id ||
	    wm_hostport_split(A.cfg.join, host, sizeof(host), &port) < 0) {
		fprintf(stderr, "wmnat-node: needs --join HOST:PORT and --node-id\n");
		return 2;
	}
	wm_log_parse_level(A.cfg.log_level, &level);
	wm_log_set_level(level);
	wm_log_set_name(A.cfg.node_id);
	signal(SIGPIPE, SIG_IGN);
	if (A.cfg.turn_secret && A.cfg.n_turn_servers) {
		/* what a server with turn-secret would hand this node */
		struct wm_turn_credentials tc;

		if (wm_turn_rest_credentials(A.cfg.turn_secret, A.cfg.node_id, (int64_t)time(NULL),
					     A.cfg.turn_credential_ttl, &tc) < 0) {
			fprintf(stderr, "wmnat-node: cannot make TURN credentials\n");
			return 2;
		}
		wm_config_set(&A.cfg, wm_cfg_find("turn-username"), tc.username, "local", err,
			      sizeof(err));
		wm_config_set(&A.cfg, wm_cfg_find("turn-password"), tc.password, "local", err,
			      sizeof(err));
		wm_wipe(&tc, sizeof(tc));
	}
	uv_loop_init(&A.loop);
	if (wm_mkdir_p(A.cfg.state_dir, 0700) < 0) {
		fprintf(stderr, "wmnat-node: cannot create %s\n", A.cfg.state_dir);
		return 1;
	}
	if (wm_identity_load(A.cfg.state_dir, A.priv, A.pub, err, sizeof(err)) < 0) {
		fprintf(stderr, "wmnat-node: %s\n", err);
		return 1;
	}
	struct wm_wg_config wc = {
		.ifname = A.cfg.interface,
		.backend = WM_WG_USERSPACE,
		.wireguard_go = A.cfg.wireguard_go,
	};
	rc = wm_wg_open(&A.loop, &wc, &A.wg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "wmnat-node: %s\n", err);
		return 1;
	}
	apply(); /* key and port, no peers */
	struct wm_node_nat_config nc = {
		.loop = &A.loop,
		.cfg = &A.cfg,
		.node_id = A.cfg.node_id,
		.wg = A.wg,
		.signaling_client = signaling_client,
		.changed_cb = nat_changed_cb,
		.force_ice = A.force_ice,
		.force_relay = A.force_relay,
	};
	rc = wm_node_nat_init(&nc, &A.nat, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "wmnat-node: %s\n", err);
		return 1;
	}
	struct wm_tls_client_opts o = {
		.pin_fingerprint = A.cfg.join_fingerprint,
		.insecure_skip_verify = A.cfg.insecure_skip_verify,
	};
	A.tls = wm_tls_client_ctx_new(&o, err, sizeof(err));
	struct wm_rpc_client_config cc = {.host = host, .port = port, .tls = A.tls};
	if (!A.tls || wm_rpc_client_new(&A.loop, &cc, &A.client) < 0) {
		fprintf(stderr, "wmnat-node: %s\n", A.tls ? "cannot create the client" : err);
		return 1;
	}
	uv_timer_init(&A.loop, &A.timer);
	uv_timer_start(&A.timer, timer_cb, 1000, 1000);
	uv_signal_init(&A.loop, &A.sigterm);
	uv_signal_init(&A.loop, &A.sigint);
	uv_signal_start(&A.sigterm, signal_cb, SIGTERM);
	uv_signal_start(&A.sigint, signal_cb, SIGINT);
	if (wm_node_nat_discover(A.nat, discovered_cb, NULL) < 0)
		join();
	uv_run(&A.loop, UV_RUN_DEFAULT);
	if (A.peers)
		webmesh__v1__peer_configurations__free_unpacked(A.peers, NULL);
	wm_wg_device_free(A.desired);
	SSL_CTX_free(A.tls);
	wm_wipe(A.priv, sizeof(A.priv));
	uv_loop_close(&A.loop);
	wm_config_free(&A.cfg);
	free(rest);
	return A.exit_code;
}
