/* webmeshd lifecycle: start the pieces in order, run the loop, and take them
 * down in reverse order on a signal, a fatal error or a leave. */
#include "node/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/hostport.h"
#include "core/p2pwire.h"
#include "node/routes.h"
#include "services/peercache.h"
#include "util/arena.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "services/paths.h"

#define EPHEMERAL_LEAVE_TIMEOUT_MS 3000

static void teardown(struct wm_daemon *d);
static void daemon_running(struct wm_daemon *d);

static int lock_state_dir(struct wm_daemon *d, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int rc = wm_mkdir_p(d->cfg->state_dir, 0700);
	if (rc) {
		snprintf(err, errlen, "cannot create state dir %s: %s", d->cfg->state_dir,
			 wm_strerror(rc));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/webmeshd.lock", d->cfg->state_dir);
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lock_fd < 0 || flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -WM_ELOCKED : -errno;
		snprintf(err, errlen, "%s is in use by another webmeshd (%s)", d->cfg->state_dir,
			 wm_strerror(rc));
		return rc;
	}
	return 0;
}

/* ---- the components ------------------------------------------------------
 *
 * The one place that composes the daemon. Each row starts one component
 * (after the rows above it) and closes it (before the rows above it): a
 * component may use every component above it for as long as it runs. A
 * component that starts its work later (the store opens once the node has
 * its mesh address) still sits where its dependencies put it: its close
 * then finds it open or not. A component whose start was called is closed,
 * even if that start failed: closes cope with a partial start. To add a
 * component: its files, one row here,
 * and (if it needs other components) callbacks given at its init below; see
 * docs/ARCHITECTURE.md, "How to add a component".
 */

typedef void (*done_fn)(void *data);

/* The WireGuard interface (netconf.c): its addresses and peers. What the
 * node puts on the host around it (routes, ACL and Raft-port chains) are the
 * rows below, so it is gone before the interface goes. */
static struct wm_node_nat *nat_of(void *data)
{
	return ((struct wm_daemon *)data)->nat;
}

/* a sync of netconf -> routes.sync */
static void peers_synced(void *data, const struct wm_wg_device *desired)
{
	struct wm_daemon *d = data;
	wm_routes_sync(d->routes, desired, &d->mesh);
}

static bool is_running(void *data)
{
	const struct wm_daemon *d = data;
	return d->phase != WM_PHASE_STOPPING;
}

static int netconf_start(struct wm_daemon *d, char *err, size_t errlen)
{
	int rc = wm_netconf_detect_endpoints(d->cfg, d->endpoints, &d->n_endpoints);
	if (rc)
		wm_warn("cannot list this host's addresses: %s", wm_strerror(rc));
	if (d->n_endpoints == 0)
		wm_warn("no endpoint to advertise: other nodes cannot reach this one directly "
			"(set --endpoints IP:PORT)");
	struct wm_netconf_config c = {
		.loop = d->loop,
		.cfg = d->cfg,
		.private_key = d->private_key,
		.public_key = d->public_key,
		.mesh = &d->mesh,
		.ipv4 = &d->ipv4,
		.ipv6 = &d->ipv6,
		.endpoints = d->endpoints,
		.n_endpoints = &d->n_endpoints,
		.nat = nat_of,
		.synced_cb = peers_synced,
		.running = is_running,
		.data = d,
	};
	return wm_netconf_init(&d->netconf, &c, err, errlen);
}

static void netconf_close(struct wm_daemon *d, done_fn done, void *data)
{
	wm_netconf_close(&d->netconf, done, data);
}

/* Routes, forwarding and NAT beyond the mesh (routes.c): synced with every
 * peer set, removed before the interface goes. A server reads what the
 * servers compute for it from its own replica. */
static void self_from_replica(void *data, bool *forwarding, struct wm_prefix *own, size_t *n_own)
{
	struct wm_daemon *d = data;
	struct wm_services *services = wm_api_services(&d->api);
	if (!wm_server_store(&d->server) || !services)
		return;
	struct wm_arena a;
	Webmesh__V1__PeerConfigurations pc;
	wm_arena_init(&a);
	if (wm_services_peers(services, d->node_id, &a, &pc) == 0) {
		*forwarding = pc.forwarding;
		for (size_t i = 0; i < pc.n_own_routes && *n_own < WM_MAX_ROUTES; i++) {
			if (wm_prefix_parse(pc.own_routes[i], &own[*n_own]) == 0)
				(*n_own)++;
		}
	}
	wm_arena_free(&a);
}

static int routes_start(struct wm_daemon *d, char *err, size_t errlen)
{
	struct wm_routes_config c = {
		.cfg = d->cfg,
		.wg = wm_netconf_wg(&d->netconf),
		.self_from_replica = self_from_replica,
		.data = d,
	};
	int rc = wm_routes_new(&c, &d->routes);
	if (rc)
		snprintf(err, errlen, "cannot start routing: %s", wm_strerror(rc));
	return rc;
}

static void routes_close(struct wm_daemon *d, done_fn done, void *data)
{
	wm_routes_free(d->routes);
	d->routes = NULL;
	done(data);
}

/* The network ACLs on our interface (firewall.c): set from every peer set,
 * removed before the interface goes. */
static int firewall_start(struct wm_daemon *d, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	wm_firewall_init(&d->firewall, d->cfg->interface);
	return 0;
}

static void firewall_close(struct wm_daemon *d, done_fn done, void *data)
{
	wm_firewall_close(&d->firewall);
	done(data);
}

/* The Raft port's firewall (raftguard.c): synced by raftmembers' passes,
 * removed before the interface goes. */
static int raftguard_start(struct wm_daemon *d, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	wm_raftguard_init(&d->raftguard, d->cfg->interface, d->cfg->raft_port);
	return 0;
}

static void raftguard_close(struct wm_daemon *d, done_fn done, void *data)
{
	wm_raftguard_close(&d->raftguard);
	done(data);
}

/* NAT traversal and endpoint discovery (traversal.c). */
/* Members signal through the server they joined; servers through their own
 * Signaling service, on the traversal's client of their local socket. */
static struct wm_rpc_client *upstream_of(void *data)
{
	return wm_member_upstream(&((struct wm_daemon *)data)->member);
}

static bool has_store(void *data)
{
	return wm_server_store(&((struct wm_daemon *)data)->server) != NULL;
}

/* A later discovery round: the mesh learns new endpoints from a Join (same
 * key, same lease); peers get them with their next peer set. Until a Join
 * with them is answered, every round tries again (the change may have cut
 * the connection it went out on). */
static void endpoints_found(void *data, bool changed)
{
	struct wm_daemon *d = data;
	wm_member_endpoints_found(&d->member, changed);
	if (wm_server_store(&d->server) && changed)
		wm_warn("a server's endpoints changed: restart it to announce them");
}

/* nat_changed (traversal) -> netconf rewrites the peers, httpd counts it */
static void nat_changed(void *data)
{
	struct wm_daemon *d = data;
	wm_netconf_nat_changed(&d->netconf);
	wm_node_httpd_nat_event(&d->httpd);
}

static int traversal_start(struct wm_daemon *d, char *err, size_t errlen)
{
	struct wm_traversal_config c = {
		.loop = d->loop,
		.cfg = d->cfg,
		.node_id = d->node_id,
		.wg = wm_netconf_wg(&d->netconf),
		.endpoints = d->endpoints,
		.n_endpoints = &d->n_endpoints,
		.signaling_client = upstream_of,
		.serves_signaling = has_store,
		.nat_changed_cb = nat_changed,
		.endpoints_cb = endpoints_found,
		.running = is_running,
		.p2p = d->p2p,
		.data = d,
	};
	int rc = wm_traversal_init(&d->traversal, &c, err, errlen);
	d->nat = d->traversal.nat;
	return rc;
}

static void traversal_close(struct wm_daemon *d, done_fn done, void *data)
{
	/* ICE sessions end (BYE to the peers) while the clients still exist */
	d->nat = NULL;
	wm_traversal_close(&d->traversal, done, data);
}

/* libp2p (src/p2p, webmesh-p2p.so): loaded only when configured; it
 * depends on no other row, and status reads it. */
static int libp2p_start(struct wm_daemon *d, char *err, size_t errlen)
{
	const struct wm_config *cfg = d->cfg;
	char key[4096];
	enum wm_log_level level = WM_LOG_INFO;

	if (cfg->n_libp2p_listen == 0 && cfg->n_libp2p_peers == 0)
		return 0;
	if (snprintf(key, sizeof(key), "%s/libp2p.key", cfg->state_dir) >= (int)sizeof(key)) {
		snprintf(err, errlen, "state-dir is too long for libp2p.key");
		return -ENAMETOOLONG;
	}
	wm_log_parse_level(cfg->log_level, &level);
	struct wm_p2p_config c = {
		.loop = d->loop,
		.key_path = key,
		.listen = cfg->libp2p_listen,
		.nlisten = cfg->n_libp2p_listen,
		.peers = cfg->libp2p_peers,
		.npeers = cfg->n_libp2p_peers,
		.agent = "webmesh/" WM_VERSION,
		.mesh_ifname = cfg->interface,
		.ping_interval_ms = cfg->libp2p_ping_interval * 1000u,
		.max_conns = cfg->libp2p_max_connections,
		.max_streams = cfg->libp2p_max_streams,
		.handshake_timeout_ms = cfg->libp2p_handshake_timeout * 1000u,
		.write_queue_max = cfg->libp2p_max_write_queue,
		.held_per_stream = cfg->libp2p_max_held_per_stream,
		.held_per_conn = cfg->libp2p_max_held_per_connection,
		.log_level = (int)level,
		.log_name = d->node_id,
		/* circuit relay v2 (src/p2p/relay.c) */
		.relay = cfg->libp2p_relay,
		.relay_limits = {.max_reservations = cfg->libp2p_relay_max_reservations,
				 .max_per_source = cfg->libp2p_relay_max_per_source,
				 .reservation_ttl_s = cfg->libp2p_relay_reservation_ttl,
				 .reservation_bytes = cfg->libp2p_relay_reservation_bytes,
				 .max_circuits = cfg->libp2p_relay_max_circuits,
				 .max_circuits_per_peer = cfg->libp2p_relay_max_circuits_per_peer,
				 .circuit_duration_s = cfg->libp2p_relay_circuit_duration,
				 .circuit_bytes = cfg->libp2p_relay_circuit_bytes},
		.dht_providers_max = cfg->libp2p_dht_max_providers,
		.dht_providers_per_key = cfg->libp2p_dht_providers_per_key,
		.dht_provider_ttl_s = cfg->libp2p_dht_provider_ttl,
		.dht_requests_per_s = cfg->libp2p_dht_requests_per_second,
		.dht_requests_per_stream = cfg->libp2p_dht_requests_per_stream,
		.dht_max_requests = cfg->libp2p_dht_max_requests,
		.dht_max_lookups = cfg->libp2p_dht_max_lookups,
		.dht_query_timeout_ms = cfg->libp2p_dht_query_timeout * 1000u,
		.dht_lookup_timeout_ms = cfg->libp2p_dht_lookup_timeout * 1000u,
		.rdv_max_pipes = cfg->libp2p_rendezvous_max_pipes,
		.rdv_handshake_ms = cfg->libp2p_rendezvous_handshake_timeout * 1000u,
		.rdv_handshakes_per_peer = cfg->libp2p_rendezvous_handshakes_per_peer,
		.announce_rendezvous = cfg->announce_rendezvous,
		.api_addr = cfg->api_listen,
	};
	return wm_p2p_new(&c, &d->p2p, err, errlen);
}

/* What this node publishes of its libp2p side in its Join (core/p2pwg.h):
 * its peer ID and listen addresses, a wildcard one (0.0.0.0, ::) as the
 * advertised endpoints' addresses of its family, which peers reach already.
 * Returns how many addresses; id "" without libp2p. */
static size_t libp2p_info(void *data, char *id, char (*addrs)[WM_P2P_PUB_ADDR_MAX])
{
	struct wm_daemon *d = data;
	struct wm_p2p_status *st;
	size_t n = 0;

	id[0] = '\0';
	if (!d->p2p || !(st = malloc(sizeof(*st))))
		return 0;
	wm_p2p_status(d->p2p, st);
	snprintf(id, WM_P2P_PUB_ID_MAX, "%s", st->peer_id);
	for (size_t i = 0; i < st->nlisten && n < WM_P2P_PUB_ADDRS; i++) {
		uint8_t b[WM_MADDR_MAX];
		char e[64];
		struct wm_maddr_tcp t;
		static const uint8_t zero[16];
		int len = wm_maddr_parse(st->listen[i], b, sizeof(b), e, sizeof(e));

		if (len < 0 || wm_maddr_to_tcp(b, (size_t)len, &t))
			continue;
		if (memcmp(t.ip, zero, t.family == 4 ? 4 : 16)) {
			/* memcpy, not snprintf: the length is checked here, and a
			 * Debug build's format-truncation check cannot see it. */
			size_t l = strlen(st->listen[i]);
			if (l < WM_P2P_PUB_ADDR_MAX)
				memcpy(addrs[n++], st->listen[i], l + 1);
			continue;
		}
		for (size_t k = 0; k < d->n_endpoints && n < WM_P2P_PUB_ADDRS; k++) {
			const struct wm_endpoint *ep = &d->endpoints[k];
			struct wm_maddr_tcp a = t;
			char text[WM_MADDR_TEXT_MAX];

			if ((ep->ip.family == AF_INET) != (t.family == 4))
				continue;
			memcpy(a.ip, ep->ip.addr, t.family == 4 ? 4 : 16);
			len = wm_maddr_from_tcp(&a, b, sizeof(b));
			if (len > 0 && wm_maddr_print(b, (size_t)len, text, sizeof(text)) == 0 &&
			    strlen(text) < WM_P2P_PUB_ADDR_MAX)
				memcpy(addrs[n++], text, strlen(text) + 1);
		}
	}
	free(st);
	return n;
}

static void libp2p_close(struct wm_daemon *d, done_fn done, void *data)
{
	struct wm_p2p *p = d->p2p;

	d->p2p = NULL;
	wm_p2p_free(p, done, data);
}

/* The replica and the server around it (server.c, bootstrap_multi.c):
 * opened by the role below once the node has its mesh address, so nothing
 * starts here but its timers. */
static struct wm_services *services_of(void *data)
{
	return wm_api_services(&((struct wm_daemon *)data)->api);
}

static const char *fingerprint_of(void *data)
{
	return wm_api_fingerprint(&((struct wm_daemon *)data)->api);
}

/* a peer set -> netconf.apply, routes.set_self, firewall.set */
static void own_peers(void *data, const Webmesh__V1__PeerConfigurations *pc)
{
	struct wm_daemon *d = data;
	wm_routes_set_self(d->routes, pc->forwarding, pc->own_routes, pc->n_own_routes);
	wm_netconf_apply_peers_gone(&d->netconf, pc->peers, pc->n_peers, pc->gone_keys,
				    pc->n_gone_keys);
	wm_firewall_set(&d->firewall, pc->acl_rules);
}

static int store_opened(void *data, struct wm_store *store, char *err, size_t errlen);

static void server_running(void *data)
{
	daemon_running(data);
}

static void server_stop(void *data, int exit_code)
{
	wm_daemon_stop(data, exit_code);
}

static bool is_starting(void *data)
{
	const struct wm_daemon *d = data;
	return d->phase == WM_PHASE_STARTING;
}

static bool is_stopping(void *data)
{
	const struct wm_daemon *d = data;
	return d->phase == WM_PHASE_STOPPING;
}

static int store_start(struct wm_daemon *d, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	struct wm_server_config c = {
		.loop = d->loop,
		.cfg = d->cfg,
		.node_id = d->node_id,
		.private_key = d->private_key,
		.public_key = d->public_key,
		.mesh = &d->mesh,
		.ipv4 = &d->ipv4,
		.ipv6 = &d->ipv6,
		.endpoints = d->endpoints,
		.n_endpoints = &d->n_endpoints,
		.netconf = &d->netconf,
		.libp2p_info = libp2p_info,
		.services = services_of,
		.fingerprint = fingerprint_of,
		.peers_cb = own_peers,
		.store_opened_cb = store_opened,
		.running_cb = server_running,
		.stop_cb = server_stop,
		.starting = is_starting,
		.stopping = is_stopping,
		.data = d,
	};
	wm_server_init(&d->server, &c);
	return 0;
}

static void store_close(struct wm_daemon *d, done_fn done, void *data)
{
	wm_server_close(&d->server, done, data);
}

/* Leader detection and Raft membership (raftmembers.c), passes from the
 * store's opening on; each pass brings the Raft port's firewall along. */
static void raft_status(void *data, const struct wm_store_status *st)
{
	struct wm_daemon *d = data;
	struct wm_prefix servers[64];
	size_t n = 0, n_peers;
	struct wm_wg *wg = wm_netconf_wg(&d->netconf);
	/* The null backend configures nothing on the host (bench/scale runs
	 * many nodes in one namespace, where no Raft peer arrives on the mesh
	 * interface): no firewall either. */
	if (wg && strcmp(wm_wg_backend_name(wg), "null") == 0)
		return;
	const struct wm_peer_name *peers = wm_netconf_peers(&d->netconf, &n_peers);
	for (size_t i = 0; i < n_peers && n < 64; i++)
		if (peers[i].raft_role != WM_ROLE_MEMBER)
			servers[n++] = peers[i].ipv4;
	wm_raftguard_sync(&d->raftguard, st, &d->ipv4, servers, n);
}

/* The services drop their client to the old leader (api starts after
 * raftmembers, so there may be none yet). */
static void leader_changed(void *data)
{
	struct wm_daemon *d = data;
	struct wm_services *s = wm_api_services(&d->api);
	if (s)
		wm_services_leader_changed(s);
}

static bool in_mesh(void *data)
{
	const struct wm_daemon *d = data;
	return d->phase == WM_PHASE_RUNNING;
}

static int raftmembers_start(struct wm_daemon *d, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	struct wm_raftmembers_config c = {
		.loop = d->loop,
		.node_id = d->node_id,
		.raft_port = d->cfg->raft_port,
		.period_ms = d->cfg->raft_heartbeat_ms,
		.status_cb = raft_status,
		.leader_changed = leader_changed,
		.running = in_mesh,
		.stopping = is_stopping,
		.data = d,
	};
	wm_raftmembers_init(&d->raftmembers, &c);
	return 0;
}

static void raftmembers_close(struct wm_daemon *d, done_fn done, void *data)
{
	wm_raftmembers_close(&d->raftmembers);
	done(data);
}

/* MeshDNS (it reads the store) and the host resolver (dns.c). */
static int dns_start(struct wm_daemon *d, char *err, size_t errlen)
{
	struct wm_node_dns_config c = {
		.loop = d->loop,
		.cfg = d->cfg,
		.node_id = d->node_id,
		.mesh = &d->mesh,
	};
	return wm_node_dns_init(&d->dns, &c, err, errlen);
}

static void dns_close(struct wm_daemon *d, done_fn done, void *data)
{
	wm_node_dns_close(&d->dns, done, data);
}

/* The listeners (api.c): the local socket, and the TLS API on servers. The
 * bootstrap node serves it at once: other bootstrap servers fetch our key
 * from it before any store exists. */
static struct wm_store *store_of(void *data)
{
	return wm_server_store(&((struct wm_daemon *)data)->server);
}

static size_t call_metadata(void *data, const char *path, const char *server_fp,
			    struct wm_rpc_metadata *md, size_t max)
{
	struct wm_daemon *d = data;
	return wm_api_call_metadata(&d->api, path, server_fp, md, max);
}

static void leave_mesh(void *data, wm_services_done_cb done, void *cd)
{
	wm_member_leave(&((struct wm_daemon *)data)->member, done, cd);
}

/* What the API asks of the HTTP row below it: a console token (Node.
 * ConsoleToken), and the count of every call answered (httpd counts once
 * it started; the API answers nothing before the loop runs). */
static int console_url(void *data, char *url, size_t len)
{
	return wm_node_httpd_console_url(&((struct wm_daemon *)data)->httpd, url, len);
}

static void api_call_done(void *data, const char *path, int grpc_status)
{
	wm_node_httpd_count_call(&((struct wm_daemon *)data)->httpd, path, grpc_status);
}

static int api_start(struct wm_daemon *d, char *err, size_t errlen)
{
	struct wm_api_config c = {
		.loop = d->loop,
		.cfg = d->cfg,
		.node_id = d->node_id,
		.private_key = d->private_key,
		.api_port = d->api_port,
		.endpoints = d->endpoints,
		.n_endpoints = &d->n_endpoints,
		.serve_public = d->cfg->bootstrap || wm_server_plugin_storage(d->cfg),
		.store = store_of,
		.upstream = upstream_of,
		.fill_status = wm_status_fill,
		.leave_mesh = leave_mesh,
		.fill_bootstrap_info = wm_status_fill_bootstrap_info,
		.ping = wm_ping_start,
		.netcheck = wm_netcheck_start,
		.call_metadata = call_metadata,
		.console_url = console_url,
		.call_done = api_call_done,
		.data = d,
	};
	return wm_api_init(&d->api, &c, err, errlen);
}

static void api_close(struct wm_daemon *d, done_fn done, void *data)
{
	wm_api_close(&d->api, done, data);
}

/* The HTTP listener (httpd.c): /metrics, /healthz, /readyz and the console,
 * reading the rows above through their getters. */
static struct wm_wg *wg_of(void *data)
{
	return wm_netconf_wg(&((struct wm_daemon *)data)->netconf);
}

static const struct wm_peer_name *peer_names(void *data, size_t *n)
{
	return wm_netconf_peers(&((struct wm_daemon *)data)->netconf, n);
}

/* The path Status reports, as the metric names it. */
static const char *peer_path(void *data, const wm_key key)
{
	struct wm_daemon *d = data;
	if (!d->nat)
		return "direct";
	struct wm_arena a;
	Webmesh__V1__PeerStatus ps = WEBMESH__V1__PEER_STATUS__INIT;
	wm_arena_init(&a);
	wm_node_nat_fill_peer_status(d->nat, key, &ps, &a);
	const char *path = NULL;
	if (ps.path && strcmp(ps.path, "direct") == 0)
		path = "direct";
	else if (ps.path && strcmp(ps.path, "ice-relay") == 0)
		path = "relay";
	else if (ps.path && strncmp(ps.path, "ice-", 4) == 0)
		path = "ice";
	else if (ps.path && strncmp(ps.path, "libp2p-", 7) == 0)
		path = "libp2p";
	wm_arena_free(&a);
	return path;
}

static struct wm_rpc_server *local_rpc_of(void *data)
{
	return ((struct wm_daemon *)data)->api.local;
}

static const char *tls_fingerprint_of(void *data)
{
	return wm_api_fingerprint(&((struct wm_daemon *)data)->api);
}

static int httpd_start(struct wm_daemon *d, char *err, size_t errlen)
{
	struct wm_node_httpd_config c = {
		.loop = d->loop,
		.cfg = d->cfg,
		.node_id = d->node_id,
		.wg = wg_of,
		.peers = peer_names,
		.path = peer_path,
		.store = store_of,
		.joined = in_mesh,
		.local_rpc = local_rpc_of,
		.tls_fingerprint = tls_fingerprint_of,
		.data = d,
	};
	return wm_node_httpd_init(&d->httpd, &c, err, errlen);
}

static void httpd_close(struct wm_daemon *d, done_fn done, void *data)
{
	wm_node_httpd_close(&d->httpd, done, data);
}

/* The bootstrap server registers itself with its endpoints: after discovery. */
static void bootstrap_server(void *data)
{
	struct wm_daemon *d = data;
	char err[512] = "";
	int rc = wm_server_start(&d->server, err, sizeof(err));
	if (rc) {
		wm_error("%s", err[0] ? err : wm_strerror(rc));
		wm_daemon_stop(d, 1);
	}
}

/* The node's role: bootstrap a mesh (server.c, bootstrap_multi.c), or join
 * one through a server (member.c, which applies what it learns through the
 * callbacks below). */
static int open_store(void *data, char *err, size_t errlen)
{
	return wm_server_open_store(&((struct wm_daemon *)data)->server, false, err, errlen);
}

static int serve_public(void *data, char *err, size_t errlen)
{
	return wm_api_serve_public(&((struct wm_daemon *)data)->api, err, errlen);
}

/* mesh.state read back -> netconf gets the addresses and the old peers */
static void member_restored(void *data)
{
	struct wm_daemon *d = data;
	wm_netconf_set_addresses(&d->netconf);
	wm_netconf_restore_peers(&d->netconf);
}

/* a Join answered -> netconf.set_addresses, routes.set_self, netconf.apply */
static int member_joined(void *data, const Webmesh__V1__JoinResponse *r)
{
	struct wm_daemon *d = data;
	int err = wm_netconf_set_addresses(&d->netconf);
	wm_routes_set_self(d->routes, r->forwarding, r->own_routes, r->n_own_routes);
	if (!err)
		err = wm_netconf_apply_peers(&d->netconf, r->peers, r->n_peers);
	return err;
}

static void servers_changed(void *data, const char *const *servers, size_t n);

static void member_running(void *data)
{
	daemon_running(data);
}

/* The Join carries our endpoints: find them first (STUN included). */
static void member_discovered(void *data)
{
	wm_member_join(&((struct wm_daemon *)data)->member);
}

/* join-rendezvous: the server is found and proved it knows the secret;
 * the member joins through the loopback end of the pipe to its API. */
static void rendezvous_found(void *data, const char *hostport)
{
	struct wm_daemon *d = data;
	char err[512] = "";

	if (d->phase == WM_PHASE_STOPPING)
		return;
	snprintf(d->rdv_join, sizeof(d->rdv_join), "%s", hostport);
	d->rdv_cfg.join = d->rdv_join;
	int rc = wm_member_start(&d->member, err, sizeof(err));
	if (rc) {
		wm_error("join-rendezvous: %s", err);
		wm_daemon_stop(d, 1);
		return;
	}
	wm_traversal_discover(&d->traversal, member_discovered);
}

static int role_start(struct wm_daemon *d, char *err, size_t errlen)
{
	struct wm_member_config c = {
		.loop = d->loop,
		.cfg = d->cfg,
		.node_id = d->node_id,
		.private_key = d->private_key,
		.public_key = d->public_key,
		.api_port = d->api_port,
		.mesh = &d->mesh,
		.ipv4 = &d->ipv4,
		.ipv6 = &d->ipv6,
		.endpoints = d->endpoints,
		.n_endpoints = &d->n_endpoints,
		.call_metadata = call_metadata,
		.libp2p_info = libp2p_info,
		.store = store_of,
		.open_store = open_store,
		.serve_public = serve_public,
		.restored_cb = member_restored,
		.joined_cb = member_joined,
		.peers_cb = own_peers,
		.servers_cb = servers_changed,
		.running_cb = member_running,
		.stop_cb = server_stop,
		.in_mesh = in_mesh,
		.stopping = is_stopping,
		.data = d,
	};
	/* join-rendezvous: the member starts once a server is found. */
	if (d->cfg->join_rendezvous) {
		d->rdv_cfg = *d->cfg;
		c.cfg = &d->rdv_cfg;
		wm_member_init(&d->member, &c);
		int rc = wm_p2p_join_rendezvous(d->p2p, d->cfg->join_rendezvous, rendezvous_found,
						d);
		if (rc)
			snprintf(err, errlen, "join-rendezvous: %s", wm_strerror(rc));
		else
			wm_info("join-rendezvous: looking for a server in the libp2p DHT");
		return rc;
	}
	/* A bootstrap node's member is initialised but never started: the
	 * events it is given (running, endpoints found) change nothing. */
	wm_member_init(&d->member, &c);
	/* A server on a storage plugin starts as a bootstrap one does: it
	 * finds the mesh in the store, or creates it there. */
	if (d->cfg->bootstrap || wm_server_plugin_storage(d->cfg)) {
		wm_traversal_discover(&d->traversal, bootstrap_server);
		return 0;
	}
	int rc = wm_member_start(&d->member, err, errlen);
	if (!rc)
		wm_traversal_discover(&d->traversal, member_discovered);
	return rc;
}

static void role_close(struct wm_daemon *d, done_fn done, void *data)
{
	/* the member's client to its server stays until every component
	 * closed: the traversal's BYEs go out on it */
	wm_member_close(&d->member, done, data);
}

/* Heartbeats to the leader: members through their server, servers straight
 * to the leader over the overlay. */
static int heartbeat_send(void *data, const char *path, const uint8_t *req, size_t len,
			  uint64_t timeout_ms, wm_rpc_unary_cb done_cb, void *done_data)
{
	struct wm_daemon *d = data;
	if (d->phase != WM_PHASE_RUNNING)
		return -EAGAIN;
	struct wm_store *store = wm_server_store(&d->server);
	if (store) {
		struct wm_store_status st;
		wm_store_status(store, &st);
		if (st.is_leader)
			return -EAGAIN;
		return wm_services_call_leader(wm_api_services(&d->api), path, req, len, NULL,
					       done_cb, done_data);
	}
	struct wm_rpc_client *upstream = wm_member_upstream(&d->member);
	if (!upstream)
		return -EAGAIN;
	return wm_rpc_client_unary(upstream, path, req, len, timeout_ms, NULL, 0, done_cb,
				   done_data);
}

static void heartbeat_failed(void *data)
{
	struct wm_daemon *d = data;
	if (d->phase == WM_PHASE_RUNNING)
		wm_member_upstream_failed(&d->member);
}

static int heartbeat_start(struct wm_daemon *d, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	struct wm_heartbeat_config c = {
		.loop = d->loop,
		.node_id = d->node_id,
		.interval_ms = d->cfg->heartbeat_interval_ms,
		.send = heartbeat_send,
		.upstream_failed_cb = heartbeat_failed,
		.data = d,
	};
	/* armed by wm_daemon_running, once the node is in the mesh */
	wm_heartbeat_init(&d->heartbeat, &c);
	return 0;
}

static void heartbeat_close(struct wm_daemon *d, done_fn done, void *data)
{
	wm_heartbeat_close(&d->heartbeat, done, data);
}

/* uses: the rows a row calls or reads, directly or through the events
 * below; wm_lifecycle_check holds the order to them (at start, and in
 * tests/unit/test_daemon_table.c). */
static const struct component {
	const char *name;
	const char *uses;
	int (*start)(struct wm_daemon *d, char *err, size_t errlen);
	void (*close)(struct wm_daemon *d, done_fn done, void *data);
} components[] = {
	{"netconf", "", netconf_start, netconf_close},
	{"routes", "netconf", routes_start, routes_close},
	{"firewall", "netconf", firewall_start, firewall_close},
	{"raftguard", "netconf", raftguard_start, raftguard_close},
	{"libp2p", "", libp2p_start, libp2p_close},
	{"traversal", "netconf,libp2p", traversal_start, traversal_close},
	{"store", "netconf,libp2p", store_start, store_close},
	{"raftmembers", "store,raftguard", raftmembers_start, raftmembers_close},
	{"dns", "netconf,store", dns_start, dns_close},
	{"api", "netconf,traversal,libp2p,store,dns", api_start, api_close},
	{"httpd", "netconf,traversal,store,api", httpd_start, httpd_close},
	{"heartbeat", "store,api", heartbeat_start, heartbeat_close},
	{"role", "netconf,routes,firewall,traversal,libp2p,store,raftmembers,dns,api,heartbeat",
	 role_start, role_close},
};
#define N_COMPONENTS (sizeof(components) / sizeof(components[0]))

int wm_daemon_check_components(char *err, size_t errlen)
{
	struct wm_lifecycle_row rows[N_COMPONENTS];
	for (size_t i = 0; i < N_COMPONENTS; i++)
		rows[i] = (struct wm_lifecycle_row){components[i].name, components[i].uses};
	return wm_lifecycle_check(rows, N_COMPONENTS, err, errlen);
}

/* ---- events the components raise, to the components that want them ---- */

/* running (member.c, server.c) -> the phase, the member counts itself
 * joined, heartbeats start */
static void daemon_running(struct wm_daemon *d)
{
	d->phase = WM_PHASE_RUNNING;
	wm_member_running(&d->member);
	wm_heartbeat_start(&d->heartbeat);
}

static int store_opened(void *data, struct wm_store *store, char *err, size_t errlen)
{
	struct wm_daemon *d = data;
	if (wm_api_services(&d->api))
		wm_services_set_store(wm_api_services(&d->api), store);
	/* No Raft membership on a storage plugin: servers register in it. */
	if (!wm_server_plugin_storage(d->cfg))
		wm_raftmembers_start(&d->raftmembers, store);
	return wm_node_dns_store_opened(&d->dns, store, err, errlen);
}

/* servers_changed (member.c) -> the resolver follows a server */
static void servers_changed(void *data, const char *const *servers, size_t n)
{
	struct wm_daemon *d = data;
	wm_node_dns_servers_changed(&d->dns, servers, n);
}

static void close_next(struct wm_daemon *d);

static void component_closed(void *data)
{
	struct wm_daemon *d = data;
	if (wm_lifecycle_closed(&d->lifecycle) < 0)
		return;
	/* a close that finished inside its own call is picked up by the loop
	 * in close_next, not by a recursion per component */
	if (!d->closing_sync)
		close_next(d);
}

static void close_next(struct wm_daemon *d)
{
	for (;;) {
		int i = wm_lifecycle_next_close(&d->lifecycle);
		if (i == WM_LIFECYCLE_WAIT)
			return;
		if (i == WM_LIFECYCLE_DONE) {
			/* every component is down: the daemon's own handles go,
			 * and the client to our server, which the role and the
			 * traversal's last signals shared */
			wm_member_free(&d->member);
			if (!uv_is_closing((uv_handle_t *)&d->sigint)) {
				uv_close((uv_handle_t *)&d->sigterm, NULL);
				uv_close((uv_handle_t *)&d->sigint, NULL);
			}
			return;
		}
		wm_debug("closing %s", components[i].name);
		d->closing_sync = true;
		components[i].close(d, component_closed, d);
		d->closing_sync = false;
	}
}

static void teardown(struct wm_daemon *d)
{
	wm_services_stop(wm_api_services(&d->api));
	wm_lifecycle_stop(&d->lifecycle);
	close_next(d);
}

static void ephemeral_left_cb(void *data, int status, const char *message, const uint8_t *resp,
			      size_t len)
{
	(void)resp;
	(void)len;
	struct wm_daemon *d = data;
	if (status == WM_GRPC_OK || status == WM_GRPC_NOT_FOUND) {
		wm_info("ephemeral node left the mesh");
		wm_meshstate_remove(d->cfg->state_dir);
	} else {
		wm_warn("could not leave the mesh on exit (%s: %s); the servers will keep this "
			"node until it is removed",
			wm_grpc_status_name(status), message ? message : "");
	}
	teardown(d);
}

static void handed_over_cb(void *data, int err)
{
	struct wm_daemon *d = data;
	if (err)
		wm_warn("could not hand leadership over (%s); stopping anyway", wm_strerror(err));
	else
		wm_info("handed leadership over");
	teardown(d);
}

/* A leader that stops on purpose hands over first, so the mesh does not wait
 * an election timeout for a new one. */
static bool hand_over(struct wm_daemon *d)
{
	struct wm_store *store = wm_server_store(&d->server);
	if (!store)
		return false;
	struct wm_store_status st;
	wm_store_status(store, &st);
	if (!st.is_leader)
		return false;
	return wm_store_transfer_leadership(store, handed_over_cb, d) == 0;
}

void wm_daemon_stop(struct wm_daemon *d, int exit_code)
{
	if (d->phase == WM_PHASE_STOPPING)
		return;
	d->phase = WM_PHASE_STOPPING;
	d->exit_code = exit_code;
	wm_info("stopping");
	struct wm_rpc_client *upstream = wm_member_upstream(&d->member);
	if (d->cfg->ephemeral && !wm_server_store(&d->server) && upstream) {
		Webmesh__V1__LeaveRequest req = WEBMESH__V1__LEAVE_REQUEST__INIT;
		req.id = d->node_id;
		uint8_t buf[128];
		size_t len = webmesh__v1__leave_request__pack(&req, buf);
		if (wm_rpc_client_unary(upstream, WM_METHOD_MEMBERSHIP_LEAVE, buf, len,
					EPHEMERAL_LEAVE_TIMEOUT_MS, NULL, 0, ephemeral_left_cb,
					d) == 0)
			return;
	}
	if (hand_over(d))
		return;
	teardown(d);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	struct wm_daemon *d = s->data;
	wm_info("received %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	wm_daemon_stop(d, 0);
}

static int start(struct wm_daemon *d, char *err, size_t errlen)
{
	/* api-listen was validated with the config; the port is read by every
	 * peer update (servers to fail over to), so parse it once. */
	char host[256];
	d->api_port = 8443;
	wm_hostport_split(d->cfg->api_listen, host, sizeof(host), &d->api_port);
	int rc = lock_state_dir(d, err, errlen);
	if (!rc)
		rc = wm_identity_load(d->cfg->state_dir, d->private_key, d->public_key, err,
				      errlen);
	if (rc)
		return rc;
	char key[WM_KEY_B64_LEN + 1];
	wm_key_to_base64(d->public_key, key);
	wm_info("node %s, WireGuard public key %s", d->node_id, key);
	rc = wm_daemon_check_components(err, errlen);
	if (rc)
		return rc;
	int i;
	while ((i = wm_lifecycle_next_start(&d->lifecycle)) != WM_LIFECYCLE_DONE) {
		rc = components[i].start(d, err, errlen);
		if (rc)
			return rc; /* it and the ones before it close in reverse */
	}
	return 0;
}

int wm_daemon_run(const struct wm_config *cfg, const char *node_id)
{
	uv_loop_t loop;
	struct wm_daemon *d = calloc(1, sizeof(*d));
	if (!d || uv_loop_init(&loop) < 0) {
		free(d);
		fprintf(stderr, "webmeshd: out of memory\n");
		return 1;
	}
	/* libraft and our sockets write to peers that may vanish at any moment. */
	signal(SIGPIPE, SIG_IGN);
	d->loop = &loop;
	d->cfg = cfg;
	d->lock_fd = -1;
	d->started_at = (int64_t)time(NULL);
	snprintf(d->node_id, sizeof(d->node_id), "%s", node_id);
	wm_log_set_name(d->node_id);
	wm_lifecycle_init(&d->lifecycle, N_COMPONENTS);
	uv_signal_init(&loop, &d->sigterm);
	uv_signal_init(&loop, &d->sigint);
	d->sigterm.data = d->sigint.data = d;
	uv_signal_start(&d->sigterm, signal_cb, SIGTERM);
	uv_signal_start(&d->sigint, signal_cb, SIGINT);

	char err[512] = "";
	int rc = start(d, err, sizeof(err));
	if (rc) {
		wm_error("%s", err[0] ? err : wm_strerror(rc));
		wm_daemon_stop(d, 1);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	int code = d->exit_code;

	wm_api_free(&d->api, &loop);
	wm_member_free(&d->member); /* after a failed start too */
	wm_server_free(&d->server);
	wm_wipe(d->private_key, sizeof(d->private_key));
	if (uv_loop_close(&loop) == UV_EBUSY)
		wm_warn("some handles were still open at exit");
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	wm_metrics_calls_free(&d->httpd.calls);
	free(d);
	wm_info("stopped");
	return code;
}
