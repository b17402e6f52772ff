/* Joining through a server: configure WireGuard from the answer, then either
 * follow the peer set on a SubscribePeers stream (plain members) or, for a
 * voter or observer, open the local replica and serve. When the server in use
 * stops answering, move to another one: the node learns every server's mesh
 * address from its peers. Tunnels never depend on any of this being up. */
#include "node/daemon.h"

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
#include "node/routes.h"
#include "util/log.h"
#include "services/paths.h"

#define JOIN_TIMEOUT_MS 15000
#define LEAVE_TIMEOUT_MS 5000

static void send_join(struct wm_daemon *d);
static void subscribe(struct wm_daemon *d);
static void schedule_retry(struct wm_daemon *d);

#define OVERLAY_CONNECT_MS 3000
/* After moving to another server, ask it at once: the move itself is the
 * backoff. */
#define FAILOVER_RETRY_MS 20

/* Our credentials, and our node proof for the server in use once we know
 * who it is. */
static size_t upstream_metadata(void *data, const char *path, const char *server_fp,
				struct wm_rpc_metadata *md, size_t max)
{
	struct wm_daemon *d = data;
	const struct wm_server_key *sk = &d->server_keys[d->cur_server];
	size_t n = wm_api_call_metadata(&d->api, path, server_fp, md, max);
	if (!sk->known || max - n < 3 ||
	    wm_node_proof_make(d->private_key, d->node_id, sk->id, sk->key, path,
			       (int64_t)time(NULL), &d->upstream_proof) < 0)
		return n;
	return n + wm_node_proof_metadata(&d->upstream_proof, md + n, max - n);
}

/* The client for d->servers[d->cur_server]. The server given with --join is
 * verified as configured; the others are reached over the overlay, where
 * their address is bound to their WireGuard key, which is what identifies
 * them (see docs/ARCHITECTURE.md). */
static int connect_upstream(struct wm_daemon *d)
{
	char host[256];
	uint16_t port;
	const char *target = d->servers[d->cur_server];
	if (wm_hostport_split(target, host, sizeof(host), &port) < 0)
		return -EINVAL;
	struct wm_rpc_client_config cc = {
		.host = host,
		.port = port,
		.tls = d->cur_server == 0 ? d->client_tls : d->overlay_tls,
		.server_name = d->cur_server == 0 ? d->cfg->server_name : NULL,
		.call_metadata = upstream_metadata,
		.call_metadata_data = d,
		.keepalive_ms = d->cfg->api_keepalive_ms,
		.keepalive_timeout_ms = d->cfg->api_keepalive_timeout_ms,
		/* The other servers are a hop away on the overlay: one that does
		 * not answer a SYN quickly is down, try the next. */
		.connect_timeout_ms = d->cur_server == 0 ? 0 : OVERLAY_CONNECT_MS,
	};
	return wm_rpc_client_new(d->loop, &cc, &d->upstream);
}

/* The server after the current one in the list that is another node: the
 * --join address and the same server's mesh address are the same node,
 * and moving from one to the other would cost a second timeout. */
static size_t next_server(const struct wm_daemon *d)
{
	const struct wm_server_key *cur = &d->server_keys[d->cur_server];
	for (size_t k = 1; k < d->n_servers; k++) {
		size_t i = (d->cur_server + k) % d->n_servers;
		const struct wm_server_key *sk = &d->server_keys[i];
		if (!cur->known || !sk->known || strcmp(sk->id, cur->id) != 0)
			return i;
	}
	return wm_upstream_next(d->cur_server, d->n_servers);
}

static void failover(struct wm_daemon *d)
{
	if (d->n_servers < 2)
		return;
	if (d->peer_stream) {
		struct wm_rpc_stream *st = d->peer_stream;
		d->peer_stream = NULL;
		wm_rpc_stream_cancel(st);
	}
	wm_rpc_client_free(d->upstream);
	d->upstream = NULL;
	d->cur_server = next_server(d);
	wm_info("switching to server %s", d->servers[d->cur_server]);
	if (connect_upstream(d) < 0) {
		d->cur_server = 0;
		connect_upstream(d);
	}
}

/* Every voter and observer in our peer set serves the API on its mesh
 * address; remember them as places to fail over to. */
static void learn_servers(struct wm_daemon *d, Webmesh__V1__WireGuardPeer *const *peers, size_t n)
{
	for (size_t i = 0; i < n && d->n_servers < WM_MAX_SERVERS; i++) {
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
		snprintf(target, sizeof(target), "%s:%u", addr, d->api_port);
		bool known = false;
		for (size_t j = 0; j < d->n_servers && !known; j++)
			known = strcmp(d->servers[j], target) == 0;
		if (known)
			continue;
		/* Over the overlay that address is bound to this key. */
		struct wm_server_key *sk = &d->server_keys[d->n_servers];
		snprintf(sk->id, sizeof(sk->id), "%s", node->id);
		memcpy(sk->key, key, sizeof(wm_key));
		sk->known = true;
		snprintf(d->servers[d->n_servers++], sizeof(d->servers[0]), "%s", target);
	}
	wm_daemon_servers_changed(d);
}

void wm_member_upstream_failed(struct wm_daemon *d)
{
	if (wm_server_store(&d->server) || d->phase != WM_PHASE_RUNNING || d->n_servers < 2)
		return;
	/* A dead server's stream can stay silent for a long time (its FIN died
	 * with its WireGuard); a missed heartbeat is the quicker sign. Move on
	 * now: the stream's close schedules the retry on the next server. */
	wm_warn("server %s does not answer heartbeats", d->servers[d->cur_server]);
	if (d->peer_stream) {
		/* Its close (CANCELLED) moves on at once, as a lost server. */
		struct wm_rpc_stream *st = d->peer_stream;
		d->peer_stream = NULL;
		wm_rpc_stream_cancel(st);
	} else {
		wm_upstream_missed_heartbeat(&d->failures);
		schedule_retry(d);
	}
}

static void retry_cb(uv_timer_t *t)
{
	struct wm_daemon *d = t->data;
	if (d->phase == WM_PHASE_STOPPING)
		return;
	if (d->joined)
		subscribe(d);
	else
		send_join(d);
}

static void schedule_retry(struct wm_daemon *d)
{
	bool move;
	unsigned wait_ms = wm_upstream_retry(&d->failures, &d->retry_ms, &move);
	if (move)
		failover(d);
	uv_timer_start(&d->retry_timer, retry_cb, wait_ms, 0);
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

static int apply_join(struct wm_daemon *d, const Webmesh__V1__JoinResponse *r)
{
	struct wm_mesh_info mesh = {0};
	struct wm_prefix v4, v6;
	if (wm_prefix_parse(r->network_ipv4, &mesh.ipv4_network) < 0 ||
	    wm_prefix_parse(r->network_ipv6, &mesh.ipv6_network) < 0 ||
	    wm_prefix_parse(r->address_ipv4, &v4) < 0 || wm_prefix_parse(r->address_ipv6, &v6) < 0 ||
	    v4.family != AF_INET || v6.family != AF_INET6 ||
	    !wm_prefix_contains(&mesh.ipv4_network, &v4) ||
	    !wm_prefix_contains(&mesh.ipv6_network, &v6)) {
		wm_error("the server sent inconsistent addresses (%s, %s in %s, %s)", r->address_ipv4,
			 r->address_ipv6, r->network_ipv4, r->network_ipv6);
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
	bool changed = d->ipv4.family && !wm_prefix_equal(&d->ipv4, &v4);
	if (changed)
		wm_warn("the mesh gave this node a new address %s", r->address_ipv4);
	d->mesh = mesh;
	d->ipv4 = v4;
	d->ipv6 = v6;
	int err = wm_meshstate_save(d->cfg->state_dir, &d->mesh, &d->ipv4, &d->ipv6);
	if (err)
		wm_warn("cannot save %s/mesh.state: %s", d->cfg->state_dir, wm_strerror(err));
	err = wm_netconf_set_addresses(&d->netconf);
	wm_routes_set_self(d->routes, r->forwarding, r->own_routes, r->n_own_routes);
	if (!err)
		err = wm_netconf_apply_peers(&d->netconf, r->peers, r->n_peers);
	learn_servers(d, r->peers, r->n_peers);
	return err;
}

/* A voter or observer opens its replica once it has its mesh address (the
 * leader then adds it to Raft at that address); it and a member started with
 * --serve serve the API. */
static int become_server(struct wm_daemon *d)
{
	char err[512] = "";
	int rc = 0;
	if ((d->cfg->voter || d->cfg->observer) && !wm_server_store(&d->server)) {
		rc = wm_server_open_store(&d->server, false, err, sizeof(err));
		if (!rc)
			wm_info("waiting for the leader to add this node as a Raft %s",
				d->cfg->voter ? "voter" : "observer");
	}
	if (!rc && (wm_server_store(&d->server) || d->cfg->serve))
		rc = wm_api_serve_public(&d->api, err, sizeof(err));
	if (rc)
		wm_error("%s", err[0] ? err : wm_strerror(rc));
	return rc;
}

/* A node that will serve the API (voter, observer, --serve) must enforce the
 * mesh's authentication exactly, or not serve at all; every node says when
 * the mesh is open. True when this node must stop. */
static bool mesh_auth_refused(struct wm_daemon *d, const Webmesh__V1__JoinResponse *r)
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
		return d->cfg->voter || d->cfg->observer || d->cfg->serve;
	}
	memcpy(mesh.ca_fingerprint, fp, strlen(fp) + 1);
	if (d->cfg->voter || d->cfg->observer || d->cfg->serve) {
		if (wm_node_check_mesh_auth(d->cfg, &mesh, e, sizeof(e)) < 0) {
			wm_error("refusing to serve: %s", e);
			return true;
		}
	}
	wm_node_log_mesh_auth(&mesh);
	return false;
}

static void join_cb(void *data, int status, const char *message, const uint8_t *resp, size_t len)
{
	struct wm_daemon *d = data;
	if (d->phase == WM_PHASE_STOPPING)
		return;
	if (status != WM_GRPC_OK) {
		if (is_permanent(status)) {
			wm_error("the mesh refused to let this node join: %s: %s",
				 wm_grpc_status_name(status), message ? message : "");
			wm_daemon_stop(d, 1);
			return;
		}
		wm_warn("cannot join through %s yet (%s: %s); retrying", d->cfg->join,
			wm_grpc_status_name(status), message ? message : "");
		schedule_retry(d);
		return;
	}
	Webmesh__V1__JoinResponse *r = webmesh__v1__join_response__unpack(NULL, len, resp);
	if (!r) {
		wm_warn("malformed JoinResponse from %s; retrying", d->cfg->join);
		schedule_retry(d);
		return;
	}
	if (mesh_auth_refused(d, r)) {
		webmesh__v1__join_response__free_unpacked(r, NULL);
		wm_daemon_stop(d, 1);
		return;
	}
	int err = apply_join(d, r);
	if (!err)
		wm_info("joined the mesh through %s (server %s) as %s, %zu peers", d->cfg->join,
			r->server_id, r->address_ipv4, r->n_peers);
	webmesh__v1__join_response__free_unpacked(r, NULL);
	if (err) {
		schedule_retry(d);
		return;
	}
	d->announced_gen = d->sent_gen;
	d->retry_ms = 0;
	d->failures = 0;
	wm_daemon_running(d);
	if (become_server(d) < 0) {
		wm_daemon_stop(d, 1);
		return;
	}
	/* Servers follow their own replica; members follow a stream. */
	if (!wm_server_store(&d->server))
		subscribe(d);
}

/* Our JoinRequest, packed into buf; 0 or -EMSGSIZE. */
static int pack_join(struct wm_daemon *d, uint8_t *buf, size_t size, size_t *len)
{
	char key[WM_KEY_B64_LEN + 1];
	char eps[WM_MAX_ENDPOINTS][WM_ENDPOINT_STRLEN];
	char *ep_ptrs[WM_MAX_ENDPOINTS];
	wm_key_to_base64(d->public_key, key);
	for (size_t i = 0; i < d->n_endpoints; i++) {
		wm_endpoint_format(&d->endpoints[i], eps[i], sizeof(eps[i]));
		ep_ptrs[i] = eps[i];
	}
	Webmesh__V1__JoinRequest req = WEBMESH__V1__JOIN_REQUEST__INIT;
	req.id = d->node_id;
	req.public_key = key;
	req.endpoints = ep_ptrs;
	req.n_endpoints = d->n_endpoints;
	req.listen_port = d->cfg->wireguard_port;
	req.as_voter = d->cfg->voter;
	req.as_observer = d->cfg->observer;
	req.zone = d->cfg->zone_awareness_id ? d->cfg->zone_awareness_id : (char *)"";
	req.routes = (char **)d->cfg->routes;
	req.n_routes = d->cfg->n_routes;
	req.use_exit_node = d->cfg->use_exit_node ? d->cfg->use_exit_node : (char *)"";
	*len = webmesh__v1__join_request__get_packed_size(&req);
	if (*len > size)
		return -EMSGSIZE;
	webmesh__v1__join_request__pack(&req, buf);
	return 0;
}

static void do_join(struct wm_daemon *d);

static void bootstrap_info_cb(void *data, int status, const char *message, const uint8_t *resp,
			      size_t len)
{
	struct wm_daemon *d = data;
	struct wm_server_key *sk = &d->server_keys[d->cur_server];
	Webmesh__V1__BootstrapInfo *info = NULL;
	if (d->phase == WM_PHASE_STOPPING)
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
		wm_warn("cannot ask %s who it is yet (%s: %s); retrying", d->servers[d->cur_server],
			wm_grpc_status_name(status), message ? message : "");
		schedule_retry(d);
		return;
	} else {
		/* A refusal here is the Join's to explain; without the server's
		 * key we join on our credentials alone. */
		wm_warn("server %s did not say who it is (%s: %s): joining without a node proof",
			d->servers[d->cur_server], wm_grpc_status_name(status),
			message ? message : "malformed answer");
	}
	if (info)
		webmesh__v1__bootstrap_info__free_unpacked(info, NULL);
	do_join(d);
}

/* Before its first Join a node asks the server, over the TLS it verified
 * (the --join server) or the overlay, for its node ID and WireGuard key. */
static void send_join(struct wm_daemon *d)
{
	if (d->server_keys[d->cur_server].known) {
		do_join(d);
		return;
	}
	Webmesh__V1__GetBootstrapInfoRequest req = WEBMESH__V1__GET_BOOTSTRAP_INFO_REQUEST__INIT;
	uint8_t buf[16];
	size_t len = webmesh__v1__get_bootstrap_info_request__pack(&req, buf);
	int err = wm_rpc_client_unary(d->upstream, WM_METHOD_NODE_GET_BOOTSTRAP_INFO, buf, len,
				      JOIN_TIMEOUT_MS, NULL, 0, bootstrap_info_cb, d);
	if (err) {
		wm_warn("cannot ask %s who it is: %s", d->servers[d->cur_server], wm_strerror(err));
		schedule_retry(d);
	}
}

static void do_join(struct wm_daemon *d)
{
	uint8_t buf[2048];
	size_t len;
	d->sent_gen = d->endpoints_gen;
	if (pack_join(d, buf, sizeof(buf), &len) < 0) {
		wm_error("JoinRequest too large");
		wm_daemon_stop(d, 1);
		return;
	}
	int err = wm_rpc_client_unary(d->upstream, WM_METHOD_MEMBERSHIP_JOIN, buf, len,
				      JOIN_TIMEOUT_MS, NULL, 0, join_cb, d);
	if (err) {
		wm_warn("cannot send Join: %s", wm_strerror(err));
		schedule_retry(d);
	}
}

static void announce_cb(void *data, int status, const char *message, const uint8_t *resp,
			size_t len)
{
	(void)resp;
	(void)len;
	struct wm_daemon *d = data;
	d->announce_pending = false;
	if (status == WM_GRPC_OK) {
		d->announced_gen = d->sent_gen;
		wm_info("the mesh has this node's new endpoints");
	}
	else if (status != WM_GRPC_CANCELLED)
		/* The next discovery round sees the same change and tries again. */
		wm_warn("cannot announce the new endpoints (%s: %s)", wm_grpc_status_name(status),
			message ? message : "");
}

void wm_member_announce(struct wm_daemon *d)
{
	uint8_t buf[2048];
	size_t len;
	if (d->announced_gen == d->endpoints_gen)
		return; /* the mesh has them */
	if (!d->joined || !d->upstream || d->announce_pending ||
	    pack_join(d, buf, sizeof(buf), &len) < 0)
		return;
	d->sent_gen = d->endpoints_gen;
	if (wm_rpc_client_unary(d->upstream, WM_METHOD_MEMBERSHIP_JOIN, buf, len,
				JOIN_TIMEOUT_MS, NULL, 0, announce_cb, d) == 0)
		d->announce_pending = true;
}

static int peers_msg_cb(void *data, const uint8_t *msg, size_t len)
{
	struct wm_daemon *d = data;
	Webmesh__V1__PeerConfigurations *pc = webmesh__v1__peer_configurations__unpack(NULL, len, msg);
	if (!pc) {
		wm_warn("malformed PeerConfigurations from %s", d->cfg->join);
		return 0;
	}
	if (!d->subscribed)
		wm_info("following peer updates from %s", d->servers[d->cur_server]);
	d->subscribed = true;
	d->retry_ms = 0;
	d->failures = 0;
	wm_debug("peer set at index %llu: %zu peers", (unsigned long long)pc->index, pc->n_peers);
	learn_servers(d, pc->peers, pc->n_peers);
	wm_routes_set_self(d->routes, pc->forwarding, pc->own_routes, pc->n_own_routes);
	wm_netconf_apply_peers(&d->netconf, pc->peers, pc->n_peers);
	wm_firewall_set(&d->firewall, pc->acl_rules);
	webmesh__v1__peer_configurations__free_unpacked(pc, NULL);
	return 0;
}

/* The server we followed is gone (killed, cut off: its keepalive went
 * unanswered) or cannot serve us now (behind the leader): move to the next
 * one and subscribe there at once. The tunnels do not depend on it. */
static void server_lost(struct wm_daemon *d, bool was_following)
{
	if (d->n_servers < 2) {
		schedule_retry(d);
		return;
	}
	if (!was_following) {
		/* Not a working server lost: keep the usual backoff, so that a
		 * mesh whose servers all refuse is not asked in a loop. */
		wm_upstream_missed_heartbeat(&d->failures);
		schedule_retry(d);
		return;
	}
	d->failures = 0;
	d->retry_ms = 0;
	failover(d);
	uv_timer_start(&d->retry_timer, retry_cb, FAILOVER_RETRY_MS, 0);
}

static void peers_close_cb(void *data, int status, const char *message)
{
	struct wm_daemon *d = data;
	bool was_following = d->subscribed;
	d->peer_stream = NULL;
	d->subscribed = false;
	if (d->phase == WM_PHASE_STOPPING)
		return;
	if (status == WM_GRPC_NOT_FOUND) {
		/* The mesh no longer knows us (removed while we were away): join
		 * again; the same key gets the same lease if it is still free. */
		wm_warn("the mesh no longer lists this node; joining again");
		d->joined = false;
	} else {
		wm_warn("peer stream from %s ended (%s: %s); reconnecting", d->servers[d->cur_server],
			wm_grpc_status_name(status), message ? message : "");
		/* CANCELLED while running is ours: wm_member_upstream_failed
		 * gave up on the server. */
		if (status == WM_GRPC_UNAVAILABLE || status == WM_GRPC_DEADLINE_EXCEEDED ||
		    status == WM_GRPC_CANCELLED) {
			server_lost(d, was_following);
			return;
		}
	}
	schedule_retry(d);
}

static void subscribe(struct wm_daemon *d)
{
	Webmesh__V1__SubscribePeersRequest req = WEBMESH__V1__SUBSCRIBE_PEERS_REQUEST__INIT;
	req.id = d->node_id;
	uint8_t buf[128];
	size_t len = webmesh__v1__subscribe_peers_request__pack(&req, buf);
	int err = wm_rpc_client_stream(d->upstream, WM_METHOD_MEMBERSHIP_SUBSCRIBE_PEERS, buf,
				       len, 0, NULL, 0, peers_msg_cb, peers_close_cb, d,
				       &d->peer_stream);
	if (err) {
		wm_warn("cannot subscribe to peers: %s", wm_strerror(err));
		schedule_retry(d);
	}
}

static void discovered_cb(void *data)
{
	send_join(data);
}

int wm_member_start(struct wm_daemon *d, char *err, size_t errlen)
{
	char host[256];
	uint16_t port;
	if (wm_hostport_split(d->cfg->join, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "join \"%s\" is not HOST:PORT", d->cfg->join);
		return -EINVAL;
	}
	struct wm_tls_client_opts o = {
		.ca_file = d->cfg->ca_file,
		.pin_fingerprint = d->cfg->join_fingerprint,
		.insecure_skip_verify = d->cfg->insecure_skip_verify,
		.verify_name = d->cfg->server_name,
		/* our certificate, for servers that want one (--mtls) */
		.cert_file = d->cfg->tls_cert,
		.key_file = d->cfg->tls_cert ? d->cfg->tls_key : NULL,
	};
	if (!o.ca_file && !o.pin_fingerprint && !o.insecure_skip_verify) {
		snprintf(err, errlen,
			 "cannot verify %s: pass --ca-file FILE, or --join-fingerprint sha256:HEX "
			 "(printed by the server), or --insecure-skip-verify",
			 d->cfg->join);
		return -EINVAL;
	}
	if (o.insecure_skip_verify)
		wm_warn("INSECURE: the server's certificate is not verified "
			"(--insecure-skip-verify); anyone on the path can impersonate it");
	d->client_tls = wm_tls_client_ctx_new(&o, err, errlen);
	if (!d->client_tls)
		return -EINVAL;
	struct wm_tls_client_opts overlay = {.insecure_skip_verify = true,
					     .cert_file = d->cfg->tls_cert,
					     .key_file = d->cfg->tls_cert ? d->cfg->tls_key : NULL};
	d->overlay_tls = wm_tls_client_ctx_new(&overlay, err, errlen);
	if (!d->overlay_tls)
		return -ENOMEM;
	snprintf(d->servers[0], sizeof(d->servers[0]), "%s", d->cfg->join);
	d->n_servers = 1;
	int rc = connect_upstream(d);
	if (rc) {
		snprintf(err, errlen, "cannot create a client for %s: %s", d->cfg->join,
			 wm_strerror(rc));
		return rc;
	}
	/* A restart brings the old addresses back at once, so the tunnels carry
	 * traffic while the join is still on its way. */
	if (wm_meshstate_load(d->cfg->state_dir, &d->mesh, &d->ipv4, &d->ipv6) == 0) {
		wm_netconf_set_addresses(&d->netconf);
		wm_netconf_restore_peers(&d->netconf);
		/* A voter or observer resumes its replica at once: when every
		 * voter restarts together, none of them can answer a Join until
		 * they have elected a leader among themselves. */
		if ((d->cfg->voter || d->cfg->observer) && (rc = become_server(d)) < 0) {
			snprintf(err, errlen, "cannot resume the local replica");
			return rc;
		}
	}
	/* The Join carries our endpoints: find them first (STUN included). */
	wm_traversal_discover(&d->traversal, discovered_cb);
	return 0;
}

struct leave_ctx {
	struct wm_daemon *d;
	wm_services_done_cb done;
	void *cd;
};

static void leave_cb(void *data, int status, const char *message, const uint8_t *resp,
		     size_t len)
{
	(void)resp;
	(void)len;
	struct leave_ctx *l = data;
	struct wm_daemon *d = l->d;
	if (status != WM_GRPC_OK && status != WM_GRPC_NOT_FOUND) {
		char msg[256];
		snprintf(msg, sizeof(msg), "the server refused the leave: %s: %s",
			 wm_grpc_status_name(status), message ? message : "");
		l->done(l->cd, -WM_ERPC, msg);
		free(l);
		return;
	}
	wm_info("left the mesh");
	wm_meshstate_remove(d->cfg->state_dir);
	l->done(l->cd, 0, NULL);
	free(l);
	wm_daemon_stop(d, 0);
}

void wm_member_leave_mesh(void *data, wm_services_done_cb done, void *cd)
{
	struct wm_daemon *d = data;
	if (wm_server_store(&d->server)) {
		done(cd, -EPERM, "a Raft voter cannot leave the mesh this way");
		return;
	}
	if (!d->joined || !d->upstream) {
		done(cd, -WM_ENOMESH, "this node has not joined a mesh yet");
		return;
	}
	struct leave_ctx *l = malloc(sizeof(*l));
	if (!l) {
		done(cd, -ENOMEM, NULL);
		return;
	}
	*l = (struct leave_ctx){d, done, cd};
	Webmesh__V1__LeaveRequest req = WEBMESH__V1__LEAVE_REQUEST__INIT;
	req.id = d->node_id;
	uint8_t buf[128];
	size_t len = webmesh__v1__leave_request__pack(&req, buf);
	int err = wm_rpc_client_unary(d->upstream, WM_METHOD_MEMBERSHIP_LEAVE, buf, len,
				      LEAVE_TIMEOUT_MS, NULL, 0, leave_cb, l);
	if (err) {
		free(l);
		done(cd, err, "cannot reach the mesh server");
	}
}
