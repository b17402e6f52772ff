/* Joining through a server: configure WireGuard from the answer, then either
 * follow the peer set on a SubscribePeers stream (plain members) or, for a
 * voter or observer, open the local replica and serve. When the server in use
 * stops answering, move to another one: the node learns every server's mesh
 * address from its peers. Tunnels never depend on any of this being up. */
#include "node/member.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/dnsname.h"
#include "core/error.h"
#include "core/hostport.h"
#include "core/ids.h"
#include "core/upstream.h"
#include "node/meshauth.h"
#include "node/meshstate.h"
#include "rpc/tls.h"
#include "util/log.h"
#include "services/paths.h"
#include "services/peercache.h"

#define JOIN_TIMEOUT_MS 15000
#define LEAVE_TIMEOUT_MS 5000

static void send_join(struct wm_member *m);
static void subscribe(struct wm_member *m);
static void schedule_retry(struct wm_member *m);

#define OVERLAY_CONNECT_MS 3000
/* After moving to another server, ask it at once: the move itself is the
 * backoff. */
#define FAILOVER_RETRY_MS 20

/* Our credentials, and our node proof for the server in use once we know
 * who it is. */
static size_t upstream_metadata(void *data, const char *path, const char *server_fp,
				struct wm_rpc_metadata *md, size_t max)
{
	struct wm_member *m = data;
	const struct wm_server_key *sk = &m->server_keys[m->cur_server];
	size_t n = m->c.call_metadata(m->c.data, path, server_fp, md, max);
	if (!sk->known || max - n < 3 ||
	    wm_node_proof_make(m->c.private_key, m->c.node_id, sk->id, sk->key, path,
			       (int64_t)time(NULL), &m->upstream_proof) < 0)
		return n;
	return n + wm_node_proof_metadata(&m->upstream_proof, md + n, max - n);
}

/* The client for m->servers[m->cur_server]. The server given with --join is
 * verified as configured; the others are reached over the overlay, where
 * their address is bound to their WireGuard key, which is what identifies
 * them (see docs/ARCHITECTURE.md). */
static int connect_upstream(struct wm_member *m)
{
	char host[256];
	uint16_t port;
	const char *target = m->servers[m->cur_server];
	if (wm_hostport_split(target, host, sizeof(host), &port) < 0)
		return -EINVAL;
	/* Made at the first failover, not at start: most members never need it,
	 * and a TLS context is 16 KiB of heap. */
	if (m->cur_server != 0 && !m->overlay_tls) {
		char err[256];
		struct wm_tls_client_opts overlay = {
			.insecure_skip_verify = true,
			.cert_file = m->c.cfg->tls_cert,
			.key_file = m->c.cfg->tls_cert ? m->c.cfg->tls_key : NULL};
		m->overlay_tls = wm_tls_client_ctx_new(&overlay, err, sizeof(err));
		if (!m->overlay_tls) {
			wm_warn("cannot reach %s over the overlay: %s", target, err);
			return -EINVAL;
		}
	}
	struct wm_rpc_client_config cc = {
		.host = host,
		.port = port,
		.tls = m->cur_server == 0 ? m->client_tls : m->overlay_tls,
		.server_name = m->cur_server == 0 ? m->c.cfg->server_name : NULL,
		.call_metadata = upstream_metadata,
		.call_metadata_data = m,
		.keepalive_ms = m->c.cfg->api_keepalive_ms,
		.keepalive_timeout_ms = m->c.cfg->api_keepalive_timeout_ms,
		/* The other servers are a hop away on the overlay: one that does
		 * not answer a SYN quickly is down, try the next. */
		.connect_timeout_ms = m->cur_server == 0 ? 0 : OVERLAY_CONNECT_MS,
	};
	return wm_rpc_client_new(m->c.loop, &cc, &m->upstream);
}

/* The server after the current one in the list that is another node: the
 * --join address and the same server's mesh address are the same node,
 * and moving from one to the other would cost a second timeout. */
static size_t next_server(const struct wm_member *m)
{
	const struct wm_server_key *cur = &m->server_keys[m->cur_server];
	for (size_t k = 1; k < m->n_servers; k++) {
		size_t i = (m->cur_server + k) % m->n_servers;
		const struct wm_server_key *sk = &m->server_keys[i];
		if (!cur->known || !sk->known || strcmp(sk->id, cur->id) != 0)
			return i;
	}
	return wm_upstream_next(m->cur_server, m->n_servers);
}

static void failover(struct wm_member *m)
{
	if (m->n_servers < 2)
		return;
	if (m->peer_stream) {
		struct wm_rpc_stream *st = m->peer_stream;
		m->peer_stream = NULL;
		wm_rpc_stream_cancel(st);
	}
	wm_rpc_client_free(m->upstream);
	m->upstream = NULL;
	m->cur_server = next_server(m);
	wm_info("switching to server %s", m->servers[m->cur_server]);
	if (connect_upstream(m) < 0) {
		m->cur_server = 0;
		connect_upstream(m);
	}
}

/* Every voter and observer in our peer set serves the API on its mesh
 * address; remember them as places to fail over to. */
static void learn_servers(struct wm_member *m, Webmesh__V1__WireGuardPeer *const *peers, size_t n)
{
	for (size_t i = 0; i < n && m->n_servers < WM_MAX_SERVERS; i++) {
		const Webmesh__V1__MeshNode *node = peers[i]->node;
		if (!node || (node->raft_role != WEBMESH__V1__RAFT_ROLE__RAFT_ROLE_VOTER &&
			      node->raft_role != WEBMESH__V1__RAFT_ROLE__RAFT_ROLE_OBSERVER))
			continue;
		struct wm_prefix p;
		if (wm_prefix_parse(node->private_ipv4, &p) < 0 || p.family != AF_INET)
			continue;
		char addr[WM_PREFIX_STRLEN], target[WM_PREFIX_STRLEN + 8];
		wm_key key;
		if (wm_node_id_check(node->id, NULL) < 0 ||
		    wm_key_from_base64(node->public_key, key) < 0)
			continue;
		wm_prefix_format_addr(&p, addr, sizeof(addr));
		snprintf(target, sizeof(target), "%s:%u", addr, m->c.api_port);
		bool known = false;
		for (size_t j = 0; j < m->n_servers && !known; j++)
			known = strcmp(m->servers[j], target) == 0;
		if (known)
			continue;
		/* Over the overlay that address is bound to this key. */
		struct wm_server_key *sk = &m->server_keys[m->n_servers];
		snprintf(sk->id, sizeof(sk->id), "%s", node->id);
		memcpy(sk->key, key, sizeof(wm_key));
		sk->known = true;
		snprintf(m->servers[m->n_servers++], sizeof(m->servers[0]), "%s", target);
	}
	const char *list[WM_MAX_SERVERS];
	for (size_t i = 0; i < m->n_servers; i++)
		list[i] = m->servers[i];
	m->c.servers_cb(m->c.data, list, m->n_servers);
}

void wm_member_upstream_failed(struct wm_member *m)
{
	if (!m->inited || m->closed || m->c.store(m->c.data) || !m->c.in_mesh(m->c.data) ||
	    m->n_servers < 2)
		return;
	/* A dead server's stream can stay silent for a long time (its FIN died
	 * with its WireGuard); a missed heartbeat is the quicker sign. Move on
	 * now: the stream's close schedules the retry on the next server. */
	wm_warn("server %s does not answer heartbeats", m->servers[m->cur_server]);
	if (m->peer_stream) {
		/* Its close (CANCELLED) moves on at once, as a lost server. */
		struct wm_rpc_stream *st = m->peer_stream;
		m->peer_stream = NULL;
		wm_rpc_stream_cancel(st);
	} else {
		wm_upstream_missed_heartbeat(&m->failures);
		schedule_retry(m);
	}
}

/* Answers that arrive once the node stops, or the member closed, change
 * nothing. */
static bool gone(const struct wm_member *m)
{
	return m->closed || m->c.stopping(m->c.data);
}

static void retry_cb(uv_timer_t *t)
{
	struct wm_member *m = t->data;
	if (gone(m))
		return;
	if (m->joined)
		subscribe(m);
	else
		send_join(m);
}

static void schedule_retry(struct wm_member *m)
{
	if (m->closed)
		return;
	bool move;
	unsigned wait_ms = wm_upstream_retry(&m->failures, &m->retry_ms, &move);
	if (move)
		failover(m);
	uv_timer_start(&m->retry_timer, retry_cb, wait_ms, 0);
}

/* Refusals that another try cannot fix end the daemon with a clear message. */
static bool is_permanent(int status)
{
	switch (status) {
	case WM_GRPC_INVALID_ARGUMENT:
	case WM_GRPC_ALREADY_EXISTS:
	case WM_GRPC_PERMISSION_DENIED:
	case WM_GRPC_UNAUTHENTICATED:
	case WM_GRPC_UNIMPLEMENTED:
	case WM_GRPC_RESOURCE_EXHAUSTED:
		return true;
	default:
		return false;
	}
}

static int apply_join(struct wm_member *m, const Webmesh__V1__JoinResponse *r)
{
	struct wm_mesh_info mesh = {0};
	struct wm_prefix v4, v6;
	if (wm_prefix_parse(r->network_ipv4, &mesh.ipv4_network) < 0 ||
	    wm_prefix_parse(r->network_ipv6, &mesh.ipv6_network) < 0 ||
	    wm_prefix_parse(r->address_ipv4, &v4) < 0 ||
	    wm_prefix_parse(r->address_ipv6, &v6) < 0 || v4.family != AF_INET ||
	    v6.family != AF_INET6 || !wm_prefix_contains(&mesh.ipv4_network, &v4) ||
	    !wm_prefix_contains(&mesh.ipv6_network, &v6)) {
		wm_error("the server sent inconsistent addresses (%s, %s in %s, %s)",
			 r->address_ipv4, r->address_ipv6, r->network_ipv4, r->network_ipv6);
		return -WM_EPROTOCOL;
	}
	/* The domain reaches MeshDNS, the host resolver and busctl's arguments:
	 * a server's word is checked like any other input. */
	const char *why = NULL;
	if (!r->mesh_domain || strlen(r->mesh_domain) >= sizeof(mesh.domain) ||
	    wm_dns_name_check(r->mesh_domain, 0, &why) < 0) {
		wm_error("the server sent a mesh domain that is not a DNS name (%s)",
			 why ? why : "too long");
		return -WM_EPROTOCOL;
	}
	snprintf(mesh.domain, sizeof(mesh.domain), "%s", r->mesh_domain);
	bool changed = m->c.ipv4->family && !wm_prefix_equal(m->c.ipv4, &v4);
	if (changed)
		wm_warn("the mesh gave this node a new address %s", r->address_ipv4);
	*m->c.mesh = mesh;
	*m->c.ipv4 = v4;
	*m->c.ipv6 = v6;
	int err = wm_meshstate_save(m->c.cfg->state_dir, m->c.mesh, m->c.ipv4, m->c.ipv6);
	if (err)
		wm_warn("cannot save %s/mesh.state: %s", m->c.cfg->state_dir, wm_strerror(err));
	err = m->c.joined_cb(m->c.data, r);
	learn_servers(m, r->peers, r->n_peers);
	return err;
}

/* A voter or observer opens its replica once it has its mesh address (the
 * leader then adds it to Raft at that address); it and a member started with
 * --serve serve the API. */
static int become_server(struct wm_member *m)
{
	char err[512] = "";
	int rc = 0;
	if ((m->c.cfg->voter || m->c.cfg->observer) && !m->c.store(m->c.data)) {
		rc = m->c.open_store(m->c.data, err, sizeof(err));
		if (!rc)
			wm_info("waiting for the leader to add this node as a Raft %s",
				m->c.cfg->voter ? "voter" : "observer");
	}
	if (!rc && (m->c.store(m->c.data) || m->c.cfg->serve))
		rc = m->c.serve_public(m->c.data, err, sizeof(err));
	if (rc)
		wm_error("%s", err[0] ? err : wm_strerror(rc));
	return rc;
}

/* A node that will serve the API (voter, observer, --serve) must enforce the
 * mesh's authentication exactly, or not serve at all; every node says when
 * the mesh is open. True when this node must stop. */
static bool mesh_auth_refused(struct wm_member *m, const Webmesh__V1__JoinResponse *r)
{
	struct wm_mesh_auth mesh = {0};
	const char *fp = r->mtls_ca_fingerprint ? r->mtls_ca_fingerprint : "";
	char e[400];
	if (!r->auth_methods || !*r->auth_methods)
		return false; /* a mesh from before the settings were recorded */
	mesh.rbac = r->rbac;
	if (wm_mesh_auth_methods_parse(r->auth_methods, &mesh.methods) < 0 ||
	    strlen(fp) >= sizeof(mesh.ca_fingerprint)) {
		wm_error("the server sent invalid mesh authentication settings \"%.40s\"",
			 r->auth_methods);
		return m->c.cfg->voter || m->c.cfg->observer || m->c.cfg->serve;
	}
	memcpy(mesh.ca_fingerprint, fp, strlen(fp) + 1);
	if (m->c.cfg->voter || m->c.cfg->observer || m->c.cfg->serve) {
		if (wm_node_check_mesh_auth(m->c.cfg, &mesh, e, sizeof(e)) < 0) {
			wm_error("refusing to serve: %s", e);
			return true;
		}
	}
	wm_node_log_mesh_auth(&mesh);
	return false;
}

static void join_cb(void *data, int status, const char *message, const uint8_t *resp, size_t len)
{
	struct wm_member *m = data;
	if (gone(m))
		return;
	if (status != WM_GRPC_OK) {
		if (is_permanent(status)) {
			wm_error("the mesh refused to let this node join: %s: %s",
				 wm_grpc_status_name(status), message ? message : "");
			m->c.stop_cb(m->c.data, 1);
			return;
		}
		wm_warn("cannot join through %s yet (%s: %s); retrying", m->c.cfg->join,
			wm_grpc_status_name(status), message ? message : "");
		schedule_retry(m);
		return;
	}
	Webmesh__V1__JoinResponse *r = webmesh__v1__join_response__unpack(NULL, len, resp);
	if (!r) {
		wm_warn("malformed JoinResponse from %s; retrying", m->c.cfg->join);
		schedule_retry(m);
		return;
	}
	if (mesh_auth_refused(m, r)) {
		webmesh__v1__join_response__free_unpacked(r, NULL);
		m->c.stop_cb(m->c.data, 1);
		return;
	}
	int err = apply_join(m, r);
	if (!err)
		wm_info("joined the mesh through %s (server %s) as %s, %zu peers", m->c.cfg->join,
			r->server_id, r->address_ipv4, r->n_peers);
	webmesh__v1__join_response__free_unpacked(r, NULL);
	if (err) {
		schedule_retry(m);
		return;
	}
	m->announced_gen = m->sent_gen;
	m->retry_ms = 0;
	m->failures = 0;
	m->c.running_cb(m->c.data);
	if (become_server(m) < 0) {
		m->c.stop_cb(m->c.data, 1);
		return;
	}
	/* Servers follow their own replica; members follow a stream. */
	if (!m->c.store(m->c.data))
		subscribe(m);
}

/* Our JoinRequest, packed into buf; 0 or -EMSGSIZE. */
static int pack_join(struct wm_member *m, uint8_t *buf, size_t size, size_t *len)
{
	char key[WM_KEY_B64_LEN + 1];
	char eps[WM_MAX_ENDPOINTS][WM_ENDPOINT_STRLEN];
	char *ep_ptrs[WM_MAX_ENDPOINTS];
	wm_key_to_base64(m->c.public_key, key);
	for (size_t i = 0; i < *m->c.n_endpoints; i++) {
		wm_endpoint_format(&m->c.endpoints[i], eps[i], sizeof(eps[i]));
		ep_ptrs[i] = eps[i];
	}
	Webmesh__V1__JoinRequest req = WEBMESH__V1__JOIN_REQUEST__INIT;
	req.id = (char *)m->c.node_id;
	req.public_key = key;
	req.endpoints = ep_ptrs;
	req.n_endpoints = *m->c.n_endpoints;
	req.listen_port = m->c.cfg->wireguard_port;
	req.as_voter = m->c.cfg->voter;
	req.as_observer = m->c.cfg->observer;
	req.zone = m->c.cfg->zone_awareness_id ? m->c.cfg->zone_awareness_id : (char *)"";
	req.routes = (char **)m->c.cfg->routes;
	req.n_routes = m->c.cfg->n_routes;
	req.use_exit_node = m->c.cfg->use_exit_node ? m->c.cfg->use_exit_node : (char *)"";
	char p2p_id[WM_P2P_PUB_ID_MAX] = "", p2p_addrs[WM_P2P_PUB_ADDRS][WM_P2P_PUB_ADDR_MAX];
	char *p2p_ptrs[WM_P2P_PUB_ADDRS];
	size_t n_p2p = m->c.libp2p_info ? m->c.libp2p_info(m->c.data, p2p_id, p2p_addrs) : 0;
	if (p2p_id[0]) {
		for (size_t i = 0; i < n_p2p; i++)
			p2p_ptrs[i] = p2p_addrs[i];
		req.libp2p_peer_id = p2p_id;
		req.libp2p_addrs = p2p_ptrs;
		req.n_libp2p_addrs = n_p2p;
	}
	*len = webmesh__v1__join_request__get_packed_size(&req);
	if (*len > size)
		return -EMSGSIZE;
	webmesh__v1__join_request__pack(&req, buf);
	return 0;
}

static void do_join(struct wm_member *m);

static void bootstrap_info_cb(void *data, int status, const char *message, const uint8_t *resp,
			      size_t len)
{
	struct wm_member *m = data;
	struct wm_server_key *sk = &m->server_keys[m->cur_server];
	Webmesh__V1__BootstrapInfo *info = NULL;
	if (gone(m))
		return;
	if (status == WM_GRPC_OK)
		info = webmesh__v1__bootstrap_info__unpack(NULL, len, resp);
	if (info && wm_node_id_check(info->id, NULL) == 0 &&
	    wm_key_from_base64(info->public_key, sk->key) == 0) {
		snprintf(sk->id, sizeof(sk->id), "%s", info->id);
		sk->known = true;
	} else if (status == WM_GRPC_UNAVAILABLE || status == WM_GRPC_DEADLINE_EXCEEDED ||
		   status == WM_GRPC_CANCELLED) {
		if (info)
			webmesh__v1__bootstrap_info__free_unpacked(info, NULL);
		wm_warn("cannot ask %s who it is yet (%s: %s); retrying", m->servers[m->cur_server],
			wm_grpc_status_name(status), message ? message : "");
		schedule_retry(m);
		return;
	} else {
		/* A refusal here is the Join's to explain; without the server's
		 * key we join on our credentials alone. */
		wm_warn("server %s did not say who it is (%s: %s): joining without a node proof",
			m->servers[m->cur_server], wm_grpc_status_name(status),
			message ? message : "malformed answer");
	}
	if (info)
		webmesh__v1__bootstrap_info__free_unpacked(info, NULL);
	do_join(m);
}

/* Before its first Join a node asks the server, over the TLS it verified
 * (the --join server) or the overlay, for its node ID and WireGuard key. */
static void send_join(struct wm_member *m)
{
	if (m->server_keys[m->cur_server].known) {
		do_join(m);
		return;
	}
	Webmesh__V1__GetBootstrapInfoRequest req = WEBMESH__V1__GET_BOOTSTRAP_INFO_REQUEST__INIT;
	uint8_t buf[16];
	size_t len = webmesh__v1__get_bootstrap_info_request__pack(&req, buf);
	int err = wm_rpc_client_unary(m->upstream, WM_METHOD_NODE_GET_BOOTSTRAP_INFO, buf, len,
				      JOIN_TIMEOUT_MS, NULL, 0, bootstrap_info_cb, m);
	if (err) {
		wm_warn("cannot ask %s who it is: %s", m->servers[m->cur_server], wm_strerror(err));
		schedule_retry(m);
	}
}

static void do_join(struct wm_member *m)
{
	uint8_t buf[2048];
	size_t len;
	m->sent_gen = m->endpoints_gen;
	if (pack_join(m, buf, sizeof(buf), &len) < 0) {
		wm_error("JoinRequest too large");
		m->c.stop_cb(m->c.data, 1);
		return;
	}
	int err = wm_rpc_client_unary(m->upstream, WM_METHOD_MEMBERSHIP_JOIN, buf, len,
				      JOIN_TIMEOUT_MS, NULL, 0, join_cb, m);
	if (err) {
		wm_warn("cannot send Join: %s", wm_strerror(err));
		schedule_retry(m);
	}
}

static void announce_cb(void *data, int status, const char *message, const uint8_t *resp,
			size_t len)
{
	(void)resp;
	(void)len;
	struct wm_member *m = data;
	m->announce_pending = false;
	if (status == WM_GRPC_OK) {
		m->announced_gen = m->sent_gen;
		wm_info("the mesh has this node's new endpoints");
	} else if (status != WM_GRPC_CANCELLED)
		/* The next discovery round sees the same change and tries again. */
		wm_warn("cannot announce the new endpoints (%s: %s)", wm_grpc_status_name(status),
			message ? message : "");
}

void wm_member_endpoints_found(struct wm_member *m, bool changed)
{
	uint8_t buf[2048];
	size_t len;
	if (!m->inited || m->closed)
		return;
	if (changed)
		m->endpoints_gen++;
	/* a server's endpoints are its own registration's (daemon.c says so) */
	if (m->c.store(m->c.data))
		return;
	if (m->announced_gen == m->endpoints_gen)
		return; /* the mesh has them */
	if (!m->joined || !m->upstream || m->announce_pending ||
	    pack_join(m, buf, sizeof(buf), &len) < 0)
		return;
	m->sent_gen = m->endpoints_gen;
	if (wm_rpc_client_unary(m->upstream, WM_METHOD_MEMBERSHIP_JOIN, buf, len, JOIN_TIMEOUT_MS,
				NULL, 0, announce_cb, m) == 0)
		m->announce_pending = true;
}

/* The peers of the set just received, for the next subscription. Out of
 * memory, none are remembered: the next first set then names none gone,
 * and those tunnels end after the make-before-break hold instead. */
static void remember_held(struct wm_member *m, const Webmesh__V1__PeerConfigurations *pc)
{
	size_t n = 0;
	struct wm_held_peer *v =
		pc->n_peers
			? calloc(pc->n_peers < WM_HELD_PEERS_MAX ? pc->n_peers : WM_HELD_PEERS_MAX,
				 sizeof(*v))
			: NULL;
	for (size_t i = 0; v && i < pc->n_peers && n < WM_HELD_PEERS_MAX; i++) {
		const Webmesh__V1__MeshNode *node = pc->peers[i]->node;
		const char *why;
		if (!node || !wm_peer_named_ok(node->id, node->public_key, &why))
			continue;
		snprintf(v[n].id, sizeof(v[n].id), "%s", node->id);
		snprintf(v[n].key, sizeof(v[n].key), "%s", node->public_key);
		n++;
	}
	free(m->held);
	m->held = v;
	m->n_held = v ? n : 0;
}

static int peers_msg_cb(void *data, const uint8_t *msg, size_t len)
{
	struct wm_member *m = data;
	Webmesh__V1__PeerConfigurations *pc =
		webmesh__v1__peer_configurations__unpack(NULL, len, msg);
	if (!pc) {
		wm_warn("malformed PeerConfigurations from %s", m->c.cfg->join);
		return 0;
	}
	if (!m->subscribed)
		wm_info("following peer updates from %s", m->servers[m->cur_server]);
	m->subscribed = true;
	m->retry_ms = 0;
	m->failures = 0;
	wm_debug("peer set at index %llu: %zu peers", (unsigned long long)pc->index, pc->n_peers);
	learn_servers(m, pc->peers, pc->n_peers);
	remember_held(m, pc);
	m->c.peers_cb(m->c.data, pc);
	webmesh__v1__peer_configurations__free_unpacked(pc, NULL);
	return 0;
}

/* The server we followed is gone (killed, cut off: its keepalive went
 * unanswered) or cannot serve us now (behind the leader): move to the next
 * one and subscribe there at once. The tunnels do not depend on it. */
static void server_lost(struct wm_member *m, bool was_following)
{
	if (m->n_servers < 2) {
		schedule_retry(m);
		return;
	}
	if (m->closed)
		return;
	if (!was_following) {
		/* Not a working server lost: keep the usual backoff, so that a
		 * mesh whose servers all refuse is not asked in a loop. */
		wm_upstream_missed_heartbeat(&m->failures);
		schedule_retry(m);
		return;
	}
	m->failures = 0;
	m->retry_ms = 0;
	failover(m);
	uv_timer_start(&m->retry_timer, retry_cb, FAILOVER_RETRY_MS, 0);
}

static void peers_close_cb(void *data, int status, const char *message)
{
	struct wm_member *m = data;
	bool was_following = m->subscribed;
	m->peer_stream = NULL;
	m->subscribed = false;
	if (gone(m))
		return;
	if (status == WM_GRPC_NOT_FOUND) {
		/* The mesh no longer knows us (removed while we were away): join
		 * again; the same key gets the same lease if it is still free. */
		wm_warn("the mesh no longer lists this node; joining again");
		m->joined = false;
	} else {
		wm_warn("peer stream from %s ended (%s: %s); reconnecting",
			m->servers[m->cur_server], wm_grpc_status_name(status),
			message ? message : "");
		/* CANCELLED while running is ours: wm_member_upstream_failed
		 * gave up on the server. */
		if (status == WM_GRPC_UNAVAILABLE || status == WM_GRPC_DEADLINE_EXCEEDED ||
		    status == WM_GRPC_CANCELLED) {
			server_lost(m, was_following);
			return;
		}
	}
	schedule_retry(m);
}

static void subscribe(struct wm_member *m)
{
	Webmesh__V1__SubscribePeersRequest req = WEBMESH__V1__SUBSCRIBE_PEERS_REQUEST__INIT;
	req.id = (char *)m->c.node_id;
	Webmesh__V1__HeldPeer *hv = m->n_held ? calloc(m->n_held, sizeof(*hv)) : NULL;
	Webmesh__V1__HeldPeer **hp = m->n_held ? calloc(m->n_held, sizeof(*hp)) : NULL;
	if (hv && hp) {
		for (size_t i = 0; i < m->n_held; i++) {
			webmesh__v1__held_peer__init(&hv[i]);
			hv[i].id = m->held[i].id;
			hv[i].public_key = m->held[i].key;
			hp[i] = &hv[i];
		}
		req.held = hp;
		req.n_held = m->n_held;
	}
	size_t len = webmesh__v1__subscribe_peers_request__get_packed_size(&req);
	uint8_t *buf = malloc(len ? len : 1);
	int err = buf ? 0 : -ENOMEM;
	if (buf) {
		webmesh__v1__subscribe_peers_request__pack(&req, buf);
		err = wm_rpc_client_stream(m->upstream, WM_METHOD_MEMBERSHIP_SUBSCRIBE_PEERS, buf,
					   len, 0, NULL, 0, peers_msg_cb, peers_close_cb, m,
					   &m->peer_stream);
	}
	free(buf);
	free(hp);
	free(hv);
	if (err) {
		wm_warn("cannot subscribe to peers: %s", wm_strerror(err));
		schedule_retry(m);
	}
}

void wm_member_init(struct wm_member *m, const struct wm_member_config *c)
{
	*m = (struct wm_member){.c = *c, .inited = true};
	uv_timer_init(c->loop, &m->retry_timer);
	m->retry_timer.data = m;
}

int wm_member_start(struct wm_member *m, char *err, size_t errlen)
{
	char host[256];
	uint16_t port;
	if (wm_hostport_split(m->c.cfg->join, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "join \"%s\" is not HOST:PORT", m->c.cfg->join);
		return -EINVAL;
	}
	struct wm_tls_client_opts o = {
		.ca_file = m->c.cfg->ca_file,
		.pin_fingerprint = m->c.cfg->join_fingerprint,
		.insecure_skip_verify = m->c.cfg->insecure_skip_verify,
		.verify_name = m->c.cfg->server_name,
		/* our certificate, for servers that want one (--mtls) */
		.cert_file = m->c.cfg->tls_cert,
		.key_file = m->c.cfg->tls_cert ? m->c.cfg->tls_key : NULL,
	};
	if (!o.ca_file && !o.pin_fingerprint && !o.insecure_skip_verify) {
		snprintf(err, errlen,
			 "cannot verify %s: pass --ca-file FILE, or --join-fingerprint sha256:HEX "
			 "(printed by the server), or --insecure-skip-verify",
			 m->c.cfg->join);
		return -EINVAL;
	}
	if (o.insecure_skip_verify)
		wm_warn("INSECURE: the server's certificate is not verified "
			"(--insecure-skip-verify); anyone on the path can impersonate it");
	m->client_tls = wm_tls_client_ctx_new(&o, err, errlen);
	if (!m->client_tls)
		return -EINVAL;
	snprintf(m->servers[0], sizeof(m->servers[0]), "%s", m->c.cfg->join);
	m->n_servers = 1;
	int rc = connect_upstream(m);
	if (rc) {
		snprintf(err, errlen, "cannot create a client for %s: %s", m->c.cfg->join,
			 wm_strerror(rc));
		return rc;
	}
	/* A restart brings the old addresses back at once, so the tunnels carry
	 * traffic while the join is still on its way. */
	if (wm_meshstate_load(m->c.cfg->state_dir, m->c.mesh, m->c.ipv4, m->c.ipv6) == 0) {
		m->c.restored_cb(m->c.data);
		/* A voter or observer resumes its replica at once: when every
		 * voter restarts together, none of them can answer a Join until
		 * they have elected a leader among themselves. */
		if ((m->c.cfg->voter || m->c.cfg->observer) && (rc = become_server(m)) < 0) {
			snprintf(err, errlen, "cannot resume the local replica");
			return rc;
		}
	}
	return 0;
}

struct leave_ctx {
	struct wm_member *m;
	wm_services_done_cb done;
	void *cd;
};

static void leave_cb(void *data, int status, const char *message, const uint8_t *resp, size_t len)
{
	(void)resp;
	(void)len;
	struct leave_ctx *l = data;
	struct wm_member *m = l->m;
	if (status != WM_GRPC_OK && status != WM_GRPC_NOT_FOUND) {
		char msg[256];
		snprintf(msg, sizeof(msg), "the server refused the leave: %s: %s",
			 wm_grpc_status_name(status), message ? message : "");
		l->done(l->cd, -WM_ERPC, msg);
		free(l);
		return;
	}
	wm_info("left the mesh");
	wm_meshstate_remove(m->c.cfg->state_dir);
	l->done(l->cd, 0, NULL);
	free(l);
	m->c.stop_cb(m->c.data, 0);
}

void wm_member_leave(struct wm_member *m, wm_services_done_cb done, void *cd)
{
	if (!m->inited) {
		done(cd, -WM_ENOMESH, "this node has not joined a mesh yet");
		return;
	}
	if (m->c.store(m->c.data)) {
		done(cd, -EPERM, "a Raft voter cannot leave the mesh this way");
		return;
	}
	if (!m->joined || !m->upstream) {
		done(cd, -WM_ENOMESH, "this node has not joined a mesh yet");
		return;
	}
	struct leave_ctx *l = malloc(sizeof(*l));
	if (!l) {
		done(cd, -ENOMEM, NULL);
		return;
	}
	*l = (struct leave_ctx){m, done, cd};
	Webmesh__V1__LeaveRequest req = WEBMESH__V1__LEAVE_REQUEST__INIT;
	req.id = (char *)m->c.node_id;
	uint8_t buf[128];
	size_t len = webmesh__v1__leave_request__pack(&req, buf);
	int err = wm_rpc_client_unary(m->upstream, WM_METHOD_MEMBERSHIP_LEAVE, buf, len,
				      LEAVE_TIMEOUT_MS, NULL, 0, leave_cb, l);
	if (err) {
		free(l);
		done(cd, err, "cannot reach the mesh server");
	}
}

/* The Join carries our endpoints: the daemon found them first (STUN
 * included). */
void wm_member_join(struct wm_member *m)
{
	if (!m->closed)
		send_join(m);
}

void wm_member_running(struct wm_member *m)
{
	m->joined = true;
}

static void timer_closed(uv_handle_t *h)
{
	struct wm_member *m = h->data;
	m->close_cb(m->close_data);
}

void wm_member_close(struct wm_member *m, void (*done_cb)(void *data), void *data)
{
	if (!m->inited || m->closed) {
		done_cb(data);
		return;
	}
	m->closed = true;
	m->close_cb = done_cb;
	m->close_data = data;
	if (m->peer_stream) {
		struct wm_rpc_stream *s = m->peer_stream;
		m->peer_stream = NULL;
		wm_rpc_stream_cancel(s);
	}
	uv_close((uv_handle_t *)&m->retry_timer, timer_closed);
}

void wm_member_free(struct wm_member *m)
{
	if (m->upstream) {
		wm_rpc_client_free(m->upstream);
		m->upstream = NULL;
	}
	SSL_CTX_free(m->client_tls);
	SSL_CTX_free(m->overlay_tls);
	m->client_tls = m->overlay_tls = NULL;
	free(m->held);
	m->held = NULL;
	m->n_held = 0;
}

struct wm_rpc_client *wm_member_upstream(const struct wm_member *m)
{
	return m->joined ? m->upstream : NULL;
}

const char *wm_member_server(const struct wm_member *m)
{
	return m->n_servers ? m->servers[m->cur_server] : "";
}

size_t wm_member_servers(const struct wm_member *m, const char **out, size_t max)
{
	for (size_t i = 0; i < m->n_servers && i < max; i++)
		out[i] = m->servers[i];
	return m->n_servers < max ? m->n_servers : max;
}

bool wm_member_subscribed(const struct wm_member *m)
{
	return m->subscribed;
}
