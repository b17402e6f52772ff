/* The node's API endpoints: TLS on the API port (servers) and the local unix
 * socket (every node), plus the Status this node reports. */
#include "node/daemon.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/hostport.h"
#include "auth/pki.h"
#include "core/ipam.h"
#include "services/convert.h"
#include "services/signaling.h"
#include "store/authz.h"
#include "util/fsutil.h"
#include "util/log.h"

static void limit_cb(void *data, const char *source, const char *what)
{
	(void)data;
	wm_warn("API limit hit by %s: %s (logged once a minute per source)", source, what);
}

/* The limits that hold before anyone is authenticated (config keys api-*). */
static struct wm_rpc_server_config public_limits(const struct wm_config *cfg)
{
	return (struct wm_rpc_server_config){
		.max_concurrent_streams = cfg->api_max_streams,
		.max_connections = cfg->api_max_connections,
		.max_connections_per_source = cfg->api_max_connections_per_source,
		.max_buffered_per_connection = cfg->api_max_buffered_per_connection,
		.max_buffered = cfg->api_max_buffered,
		.handshake_timeout_ms = (uint64_t)cfg->api_handshake_timeout * 1000,
		.idle_timeout_ms =
			cfg->api_idle_timeout ? (uint64_t)cfg->api_idle_timeout * 1000 : UINT64_MAX,
		.on_limit = limit_cb,
	};
}

static int start_public(struct wm_daemon *d, char *err, size_t errlen)
{
	char cert[PATH_MAX], key[PATH_MAX], host[256];
	uint16_t port;
	if (wm_hostport_split(d->cfg->api_listen, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "api-listen \"%s\" is not HOST:PORT", d->cfg->api_listen);
		return -EINVAL;
	}
	if (d->cfg->tls_cert) {
		snprintf(cert, sizeof(cert), "%s", d->cfg->tls_cert);
		snprintf(key, sizeof(key), "%s", d->cfg->tls_key);
	} else {
		snprintf(cert, sizeof(cert), "%s/tls.crt", d->cfg->state_dir);
		snprintf(key, sizeof(key), "%s/tls.key", d->cfg->state_dir);
		char ipbuf[WM_MAX_ENDPOINTS][WM_PREFIX_STRLEN];
		const char *ips[WM_MAX_ENDPOINTS];
		for (size_t i = 0; i < d->n_endpoints; i++) {
			wm_prefix_format_addr(&d->endpoints[i].ip, ipbuf[i], sizeof(ipbuf[i]));
			ips[i] = ipbuf[i];
		}
		int rc = wm_tls_ensure_self_signed(cert, key, d->node_id, ips, d->n_endpoints, err,
						   errlen);
		if (rc)
			return rc;
	}
	/* With --mtls every client is asked for a certificate; the gate's mTLS
	 * authenticator judges it (a bad one is UNAUTHENTICATED, not a broken
	 * handshake). */
	struct wm_tls_server_opts o = {.cert_file = cert,
				       .key_file = key,
				       .client_ca_file = d->cfg->mtls ? d->cfg->ca_file : NULL,
				       .require_client_cert = d->cfg->mtls};
	d->server_tls = wm_tls_server_ctx_new(&o, err, errlen);
	if (!d->server_tls)
		return -EINVAL;
	int rc = wm_tls_cert_file_fingerprint(cert, d->fingerprint);
	if (rc) {
		snprintf(err, errlen, "cannot read %s: %s", cert, wm_strerror(rc));
		return rc;
	}
	struct wm_rpc_server_config limits = public_limits(d->cfg);
	rc = wm_rpc_server_new(d->loop, &limits, &d->api);
	if (!rc)
		rc = wm_services_register_public(d->services, d->api);
	if (!rc)
		rc = wm_rpc_server_listen_tcp(d->api, host, port, d->server_tls);
	if (rc) {
		snprintf(err, errlen, "cannot serve the API on %s: %s", d->cfg->api_listen,
			 wm_strerror(rc));
		return rc;
	}
	wm_info("serving the API on %s (TLS, certificate %s)", d->cfg->api_listen, d->fingerprint);
	return 0;
}

/* socket-group: members of the group may use wmctl. The socket is created
 * with our own group (0660) and handed over here; where the daemon's group is
 * already that one (systemd's Group=), chown needs no capability. */
static int socket_group(const struct wm_config *cfg, char *err, size_t errlen)
{
	struct group gr, *res = NULL;
	char buf[4096];

	if (!cfg->socket_group)
		return 0;
	int rc = getgrnam_r(cfg->socket_group, &gr, buf, sizeof(buf), &res);
	if (rc || !res) {
		snprintf(err, errlen,
			 "socket-group: there is no group \"%s\" (create it, e.g. "
			 "groupadd --system %s)",
			 cfg->socket_group, cfg->socket_group);
		return rc ? -rc : -ENOENT;
	}
	if (chown(cfg->socket, (uid_t)-1, gr.gr_gid) < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket-group: cannot give %s to group %s: %s", cfg->socket,
			 cfg->socket_group, strerror(-rc));
		return rc;
	}
	return 0;
}

static int start_local(struct wm_daemon *d, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", d->cfg->socket);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		wm_mkdir_p(dir, 0750);
	}
	int rc = wm_rpc_server_new(d->loop, NULL, &d->local);
	if (!rc)
		rc = wm_services_register_local(d->services, d->local);
	if (!rc)
		rc = wm_rpc_server_listen_unix(d->local, d->cfg->socket, 0660);
	if (rc) {
		snprintf(err, errlen, "cannot listen on %s: %s", d->cfg->socket, wm_strerror(rc));
		return rc;
	}
	return socket_group(d->cfg, err, errlen);
}

/* Every server names itself and its WireGuard key: a joiner learns from this
 * answer, over the TLS it verified, whom to make its node proofs for. The
 * rest is for the other servers of a multi-server bootstrap. */
static void fill_bootstrap_info(void *data, Webmesh__V1__BootstrapInfo *info, struct wm_arena *a)
{
	struct wm_daemon *d = data;
	char key[WM_KEY_B64_LEN + 1];
	if (d->cfg->n_bootstrap_servers) {
		wm_multiboot_fill_info(data, info, a);
		return;
	}
	wm_key_to_base64(d->public_key, key);
	info->id = d->node_id;
	info->public_key = wm_arena_strdup(a, key);
	info->listen_port = d->cfg->wireguard_port;
}

static struct wm_rpc_client *upstream_of(void *data)
{
	struct wm_daemon *d = data;
	return d->joined ? d->upstream : NULL;
}

static struct wm_store *store_of(void *data)
{
	return ((struct wm_daemon *)data)->store;
}

size_t wm_api_call_metadata(void *data, const char *path, const char *server_fp,
			    struct wm_rpc_metadata *md, size_t max)
{
	struct wm_daemon *d = data;
	(void)path;
	if (!d->creds)
		return 0;
	return wm_auth_client_metadata(d->creds, d->node_id, server_fp, (int64_t)time(NULL), md,
				       max);
}

/* The certificate this node presents: --tls-cert, else the self-signed one. */
static void cert_path(const struct wm_daemon *d, char *out, size_t len)
{
	if (d->cfg->tls_cert)
		snprintf(out, len, "%s", d->cfg->tls_cert);
	else
		snprintf(out, len, "%s/tls.crt", d->cfg->state_dir);
}

static int auth_start(struct wm_daemon *d, char *err, size_t errlen)
{
	int rc = wm_auth_from_config(d->loop, d->cfg, &d->auth, err, errlen);
	if (rc)
		return rc;
	struct wm_gate_config gc = {
		.loop = d->loop,
		.auth = d->auth,
		.store = store_of,
		.data = d,
		.node_id = d->node_id,
		.wg_private_key = d->private_key,
		.skew = d->cfg->key_auth_skew_seconds,
	};
	rc = wm_gate_new(&gc, &d->gate);
	if (rc) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	/* What we present to servers: a joiner's Join and stream, a member's
	 * proxied reads, a server's calls to the leader. */
	if (d->cfg->basic_auth_user || d->cfg->key_auth_private_key_file) {
		d->creds = calloc(1, sizeof(*d->creds));
		if (!d->creds)
			return -ENOMEM;
		char e[256] = "";
		rc = wm_auth_client_init(d->creds, d->cfg->basic_auth_user,
					 d->cfg->basic_auth_password,
					 d->cfg->key_auth_private_key_file, e, sizeof(e));
		if (rc) {
			free(d->creds);
			d->creds = NULL;
			snprintf(err, errlen, "client credentials: %s", e);
			return rc;
		}
	}
	if (wm_auth_is_open(d->auth)) {
		if (d->cfg->bootstrap || d->cfg->voter || d->cfg->observer || d->cfg->serve)
			wm_warn("no authentication is configured: anyone who can reach %s can "
				"join this mesh",
				d->cfg->api_listen);
	} else {
		wm_info("API authentication: %s", wm_auth_methods(d->auth));
	}
	char cert[PATH_MAX], warn[256];
	cert_path(d, cert, sizeof(cert));
	if (wm_pki_expiry_warning(cert, (int64_t)time(NULL), WM_PKI_WARN_DAYS, warn,
				  sizeof(warn)) == 1)
		wm_warn("%s", warn);
	return 0;
}

void wm_api_free_auth(struct wm_daemon *d)
{
	wm_auth_free(d->auth);
	d->auth = NULL;
	if (d->creds) {
		wm_auth_client_free(d->creds);
		free(d->creds);
		d->creds = NULL;
	}
}

int wm_api_start(struct wm_daemon *d, bool serve_public, char *err, size_t errlen)
{
	struct wm_services_config sc = {
		.loop = d->loop,
		.node_id = d->node_id,
		.store = d->store,
		.fill_status = wm_api_fill_status,
		.leave_mesh = wm_member_leave_mesh,
		.ping = wm_ping_start,
		.netcheck = wm_netcheck_start,
		.data = d,
		.api_port = d->api_port,
		.unreachable_after_ms = d->cfg->unreachable_after_ms,
		.remove_after_ms = d->cfg->remove_after_ms,
		.liveness_max_nodes = d->cfg->liveness_max_nodes,
		.fill_bootstrap_info = fill_bootstrap_info,
		.wg_private_key = d->private_key,
	};
	sc.upstream = upstream_of;
	int rc = auth_start(d, err, errlen);
	if (rc)
		return rc;
	sc.gate = d->gate;
	sc.client_cert = d->cfg->tls_cert;
	sc.client_key = d->cfg->tls_key;
	sc.call_metadata = wm_api_call_metadata;
	rc = wm_services_new(&sc, &d->services);
	if (rc) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	rc = wm_signaling_set_limits(d->services, d->cfg->signaling_max_messages,
				     d->cfg->signaling_max_bytes);
	if (rc) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	if (d->cfg->turn_secret) {
		/* Servers hand members short-lived TURN credentials instead. */
		struct wm_signaling_config sig = {
			.turn_secret = d->cfg->turn_secret,
			.turn_urls = (const char *const *)d->cfg->turn_servers,
			.n_turn_urls = d->cfg->n_turn_servers,
			.turn_ttl_s = d->cfg->turn_credential_ttl,
		};
		rc = wm_signaling_configure(d->services, &sig);
		if (rc) {
			snprintf(err, errlen,
				 "turn-secret: cannot use turn-servers and "
				 "turn-credential-ttl as given");
			return rc;
		}
	}
	rc = start_local(d, err, errlen);
	if (!rc && serve_public)
		rc = wm_api_serve_public(d, err, errlen);
	return rc;
}

int wm_api_serve_public(struct wm_daemon *d, char *err, size_t errlen)
{
	return d->api ? 0 : start_public(d, err, errlen);
}

static const char *peer_name(const struct wm_daemon *d, const wm_key key)
{
	size_t n_peers;
	const struct wm_peer_name *peers = wm_netconf_peers(&d->netconf, &n_peers);
	for (size_t i = 0; i < n_peers; i++)
		if (wm_key_equal(peers[i].key, key))
			return peers[i].id;
	return "";
}

static void fill_peers(struct wm_daemon *d, Webmesh__V1__Status *st, struct wm_arena *a)
{
	struct wm_wg_device *dev = NULL;
	struct wm_wg *wg = wm_netconf_wg(&d->netconf);
	if (!wg || wm_wg_get(wg, &dev) < 0)
		return;
	st->peers = wm_arena_alloc(a, sizeof(*st->peers) * (dev->n_peers + 1));
	for (size_t i = 0; st->peers && i < dev->n_peers; i++) {
		const struct wm_wg_peer *p = &dev->peers[i];
		Webmesh__V1__PeerStatus *ps = wm_arena_alloc(a, sizeof(*ps));
		if (!ps)
			break;
		webmesh__v1__peer_status__init(ps);
		char key[WM_KEY_B64_LEN + 1];
		wm_key_to_base64(p->public_key, key);
		ps->id = wm_arena_strdup(a, peer_name(d, p->public_key));
		ps->public_key = wm_arena_strdup(a, key);
		ps->endpoint = wm_pb_endpoint(a, &p->endpoint);
		ps->n_allowed_ips = p->n_allowed_ips;
		ps->allowed_ips = wm_arena_alloc(a, sizeof(char *) * (p->n_allowed_ips + 1));
		for (size_t j = 0; ps->allowed_ips && j < p->n_allowed_ips; j++)
			ps->allowed_ips[j] = wm_pb_prefix(a, &p->allowed_ips[j]);
		ps->last_handshake = p->last_handshake_sec;
		ps->rx_bytes = p->rx_bytes;
		ps->tx_bytes = p->tx_bytes;
		/* the path (direct, ice-direct, ice-relay), candidates, ICE bytes */
		wm_node_nat_fill_peer_status(d->nat, p->public_key, ps, a);
		st->peers[st->n_peers++] = ps;
	}
	wm_wg_device_free(dev);
}

static void fill_raft(struct wm_daemon *d, Webmesh__V1__Status *st, struct wm_arena *a)
{
	if (!d->store) {
		st->raft_state = wm_arena_strdup(a, "none");
		st->leader_id = wm_arena_strdup(a, "");
		return;
	}
	struct wm_store_status rs;
	wm_store_status(d->store, &rs);
	st->raft_state = wm_arena_strdup(a, rs.state);
	st->leader_id = wm_arena_strdup(a, rs.leader_id);
	st->term = rs.term;
	st->commit_index = rs.commit_index;
	st->applied_index = rs.applied_index;
	/* Our role is what the Raft configuration says, not what we asked for:
	 * a joiner is an observer-to-be until the leader has added it. */
	st->raft_role = WEBMESH__V1__RAFT_ROLE__RAFT_ROLE_MEMBER;
	for (size_t i = 0; i < rs.n_members; i++)
		if (strcmp(rs.members[i].node_id, d->node_id) == 0)
			st->raft_role = (Webmesh__V1__RaftRole)rs.members[i].role;
	if (rs.is_leader)
		wm_services_unreachable(d->services, a, &st->unreachable_nodes,
					&st->n_unreachable_nodes);
	st->raft_members = wm_arena_alloc(a, sizeof(*st->raft_members) * (rs.n_members + 1));
	for (size_t i = 0; st->raft_members && i < rs.n_members; i++) {
		Webmesh__V1__RaftMember *m = wm_arena_alloc(a, sizeof(*m));
		if (!m)
			break;
		webmesh__v1__raft_member__init(m);
		m->id = wm_arena_strdup(a, rs.members[i].node_id);
		m->address = wm_arena_strdup(a, rs.members[i].address);
		m->role = (Webmesh__V1__RaftRole)rs.members[i].role;
		st->raft_members[st->n_raft_members++] = m;
	}
}

void wm_api_fill_status(void *data, Webmesh__V1__Status *st, struct wm_arena *a)
{
	struct wm_daemon *d = data;
	char key[WM_KEY_B64_LEN + 1];
	wm_key_to_base64(d->public_key, key);
	st->id = d->node_id;
	st->version = WM_VERSION;
	st->started_at = d->started_at;
	st->public_key = wm_arena_strdup(a, key);
	st->address_ipv4 = wm_pb_prefix(a, &d->ipv4);
	/* The node's own address within its /112: ping the host part, route the prefix. */
	struct wm_prefix a6 = d->ipv6;
	if (a6.family) {
		a6 = wm_ipam_v6_node_address(&d->ipv6);
		a6.len = d->ipv6.len;
	}
	st->address_ipv6 = wm_pb_prefix(a, &a6);
	st->network_ipv4 = wm_pb_prefix(a, &d->mesh.ipv4_network);
	st->network_ipv6 = wm_pb_prefix(a, &d->mesh.ipv6_network);
	st->mesh_domain = wm_arena_strdup(a, d->mesh.domain);
	st->interface_name = (char *)d->cfg->interface;
	st->wireguard_backend = (char *)(wm_netconf_wg(&d->netconf) ? wm_wg_backend_name(wm_netconf_wg(&d->netconf)) : "");
	st->listen_port = d->cfg->wireguard_port;
	st->endpoints = wm_arena_alloc(a, sizeof(char *) * (d->n_endpoints + 1));
	for (size_t i = 0; st->endpoints && i < d->n_endpoints; i++)
		st->endpoints[st->n_endpoints++] = wm_pb_endpoint(a, &d->endpoints[i]);
	/* The server in use now: after a failover, not the one given with --join. */
	st->join_server = (char *)(d->n_servers ? d->servers[d->cur_server] : "");
	st->subscribed = d->store ? true : d->subscribed;
	fill_raft(d, st, a);
	fill_peers(d, st, a);
	st->auth_methods = (char *)wm_auth_methods(d->auth);
	st->default_network_policy = (char *)"";
	if (d->store) {
		struct wm_authz_snapshot az;
		if (wm_store_authz_load(d->store, &az) == 0) {
			st->default_network_policy = az.default_accept ? "accept" : "deny";
			wm_authz_snapshot_free(&az);
		}
	}
	st->warnings = wm_arena_alloc(a, sizeof(char *) * 3);
	if (st->warnings && d->store && wm_auth_is_open(d->auth))
		st->warnings[st->n_warnings++] =
			wm_arena_strdup(a, "no authentication configured: anyone who can reach "
					   "the API port can join this mesh");
	char cert[PATH_MAX], warn[256];
	cert_path(d, cert, sizeof(cert));
	if (st->warnings && wm_pki_expiry_warning(cert, (int64_t)time(NULL), WM_PKI_WARN_DAYS, warn,
						  sizeof(warn)) == 1)
		st->warnings[st->n_warnings++] = wm_arena_strdup(a, warn);
}
