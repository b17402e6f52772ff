/* A server node: bootstraps a new mesh or resumes one from its state dir, keeps
 * the Raft store, and configures its own peers from the local replica. */
#include "node/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "core/cmdver.h"
#include "core/error.h"
#include "core/ipam.h"
#include "node/meshauth.h"
#include "node/meshstate.h"
#include "store/authz.h"
#include "services/admin_rbac.h"
#include "services/peercache.h"
#include "util/crypto.h"
#include "util/log.h"

#define LEADER_POLL_MS 50

/* New mesh: the first host of the network, a random ULA, our key-derived /112. */
static int plan_new_mesh(struct wm_server *s, char *err, size_t errlen)
{
	uint32_t first, last;
	if (wm_ipam_v4_range(&s->c.cfg->ipv4_network, &first, &last) < 0) {
		snprintf(err, errlen, "ipv4-network has no usable host address");
		return -EINVAL;
	}
	memset(s->c.mesh, 0, sizeof(*s->c.mesh));
	s->c.mesh->ipv4_network = wm_prefix_network(&s->c.cfg->ipv4_network);
	uint8_t rnd[5];
	if (wm_random(rnd, sizeof(rnd)) < 0) {
		snprintf(err, errlen, "cannot get random bytes for the mesh's IPv6 network");
		return -EIO;
	}
	s->c.mesh->ipv6_network = wm_ipam_ula48(rnd);
	snprintf(s->c.mesh->domain, sizeof(s->c.mesh->domain), "%s", s->c.cfg->domain);
	s->c.mesh->created_at = (int64_t)time(NULL);
	*s->c.ipv4 = wm_prefix_from_ipv4_u32(first, 32);
	uint8_t digest[32];
	SHA256(s->c.public_key, WM_KEY_LEN, digest);
	*s->c.ipv6 = wm_ipam_v6_node_prefix(&s->c.mesh->ipv6_network, digest);
	return 0;
}

static int check_replica_auth(struct wm_server *s);

/* How long our own update stands back for the subscribers' passes at most:
 * passes come back to back only in a storm of changes, and this node's
 * WireGuard must follow the mesh even then. */
#define SELF_DEFER_MAX_NS (1000ull * 1000 * 1000)
#define SELF_DEFER_POLL_MS 2

static void self_update_cb(uv_timer_t *t)
{
	struct wm_server *s = t->data;
	s->self_update_pending = false;
	if (s->c.stopping(s->c.data))
		return;
	uint64_t start = uv_hrtime();
	/* the services' cache: one graph per change for this node and every subscriber */
	struct wm_services *services = s->c.services(s->c.data);
	/* Members first: at 10,000 members this update (a hub with thousands
	 * of peers) took 0.4-0.6 s before their pass could start, which made
	 * most of a change's latency (bench/scale stages). */
	if (services && wm_services_peers_pass_due(services)) {
		if (!s->self_deferred_ns)
			s->self_deferred_ns = start;
		if (start - s->self_deferred_ns < SELF_DEFER_MAX_NS) {
			s->self_update_pending = true;
			uv_timer_start(&s->self_timer, self_update_cb, SELF_DEFER_POLL_MS, 0);
			return;
		}
	}
	s->self_deferred_ns = 0;
	struct wm_arena a;
	wm_arena_init(&a);
	Webmesh__V1__PeerConfigurations pc;
	int err = services ? wm_services_peers(services, s->c.node_id, &a, &pc)
			   : wm_services_peer_config(s->store, s->c.node_id, &a, &pc);
	uint64_t t_computed = uv_hrtime();
	if (err) {
		if (err != -ENOENT)
			wm_warn("cannot compute this node's peers: %s", wm_strerror(err));
		wm_arena_free(&a);
		return;
	}
	/* Peers whose node left the mesh end at once (core/mbb.h); without the
	 * cache (no services yet) they end after the hold, as before. */
	if (services && wm_services_gone_keys(services, &s->own_sent, &a, &pc) < 0)
		pc.n_gone_keys = 0;
	uint64_t t_gone = uv_hrtime();
	s->c.peers_cb(s->c.data, &pc);
	uint64_t t_configured = uv_hrtime();
	if (services && wm_sent_peers_set(&s->own_sent, &pc) < 0)
		wm_warn("out of memory: peers leaving the mesh are held like moved ones");
	wm_pace_done(&s->self_pace, start, uv_hrtime() - start);
	wm_debug("own peers: %zu, computed and configured in %llu us (compute %llu, gone %llu, "
		 "configure %llu)",
		 pc.n_peers, (unsigned long long)((uv_hrtime() - start) / 1000),
		 (unsigned long long)((t_computed - start) / 1000),
		 (unsigned long long)((t_gone - t_computed) / 1000),
		 (unsigned long long)((t_configured - t_gone) / 1000));
	/* A bootstrap server that does not lead is registered by the leader:
	 * seeing itself in its replica is its cue that the mesh is up. */
	if (s->c.starting(s->c.data) && s->c.cfg->bootstrap &&
	    !wm_server_plugin_storage(s->c.cfg)) {
		/* Restarted, or one of several bootstrap servers: the replica
		 * now holds the mesh's authentication, which we must enforce. */
		if (check_replica_auth(s) < 0) {
			wm_arena_free(&a);
			s->c.stop_cb(s->c.data, 1);
			return;
		}
		s->c.running_cb(s->c.data);
		wm_info("this node is in the mesh");
	}
	wm_arena_free(&a);
}

/* Our own peers follow the replica, coalesced like the subscribers' are. */
static void self_change_cb(void *data, uint64_t index, const Webmesh__V1__RaftCommand *cmd)
{
	(void)index;
	(void)cmd;
	struct wm_server *s = data;
	if (s->self_update_pending || s->c.stopping(s->c.data))
		return;
	s->self_update_pending = true;
	uv_timer_start(&s->self_timer, self_update_cb,
		       wm_pace_delay_ms(&s->self_pace, uv_hrtime(), WM_PEERS_PACE_SHARE_PCT,
					WM_PEERS_PACE_MAX_NS),
		       0);
}

static void self_joined_cb(void *data, const struct wm_store_result *res)
{
	struct wm_server *s = data;
	if (s->c.stopping(s->c.data))
		return;
	if (res->err) {
		wm_error("cannot register this node in the mesh: %s",
			 res->message[0] ? res->message : wm_strerror(res->err));
		s->c.stop_cb(s->c.data, 1);
		return;
	}
	if (wm_server_plugin_storage(s->c.cfg)) {
		/* The store chose (or kept) our lease: the interface gets it now. */
		*s->c.ipv4 = res->node.ipv4;
		*s->c.ipv6 = res->node.ipv6;
		int rc = wm_netconf_set_addresses(s->c.netconf);
		if (rc) {
			wm_error("cannot configure %s: %s", s->c.cfg->interface, wm_strerror(rc));
			s->c.stop_cb(s->c.data, 1);
			return;
		}
	}
	s->c.running_cb(s->c.data);
	self_change_cb(s, res->index, NULL);
	/* host, brackets and quotes, ":PORT" (api-listen is a valid HOST:PORT,
	 * so its port part is at most ":65535") */
	char ep[WM_PREFIX_STRLEN + 12] = "";
	char host[WM_PREFIX_STRLEN] = "THIS-HOST";
	const char *colon = strrchr(s->c.cfg->api_listen, ':');
	if (!colon)
		colon = ":8443";
	/* Quoted when IPv6: shells such as zsh take unquoted brackets for a
	 * pattern and refuse the command instead of passing it on. */
	if (*s->c.n_endpoints)
		wm_prefix_format_addr(&s->c.endpoints[0].ip, host, sizeof(host));
	if (*s->c.n_endpoints && s->c.endpoints[0].ip.family == AF_INET6)
		snprintf(ep, sizeof(ep), "'[%s]%.6s'", host, colon);
	else
		snprintf(ep, sizeof(ep), "%s%.6s", host, colon);
	wm_info("mesh is ready; join it from another host with:");
	wm_info("  webmeshd --join %s --join-fingerprint %s", ep, s->c.fingerprint(s->c.data));
}

int wm_server_register(struct wm_server *s, const char *id, const char *key, char **endpoints,
		       size_t n_endpoints, uint32_t listen_port, const struct wm_prefix *lease,
		       wm_store_apply_cb cb)
{
	char lease_text[WM_PREFIX_STRLEN] = "";
	if (lease)
		wm_prefix_format(lease, lease_text, sizeof(lease_text));
	Webmesh__V1__JoinNodeCommand jc = WEBMESH__V1__JOIN_NODE_COMMAND__INIT;
	jc.id = (char *)id;
	jc.public_key = (char *)key;
	jc.endpoints = endpoints;
	jc.n_endpoints = n_endpoints;
	jc.listen_port = listen_port;
	jc.raft_role = WM_ROLE_VOTER;
	jc.joined_at = (int64_t)time(NULL);
	jc.full_mesh = true;
	jc.ipv4_request = lease_text;
	if (strcmp(id, s->c.node_id) == 0) {
		jc.zone = s->c.cfg->zone_awareness_id ? s->c.cfg->zone_awareness_id : (char *)"";
		jc.routes = (char **)s->c.cfg->routes;
		jc.n_routes = s->c.cfg->n_routes;
		jc.exit_node = s->c.cfg->use_exit_node ? s->c.cfg->use_exit_node : (char *)"";
		/* A server registering itself writes its own configuration
		 * straight to its store, as its local administrator would. */
		jc.route_override_any = true;
		jc.route_claims_checked = true;
	}
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE;
	cmd.join_node = &jc;
	/* Our libp2p side (WireGuard over libp2p), as a member's Join carries
	 * it: only into a mesh whose voters all know the fields. */
	char p2p_id[WM_P2P_PUB_ID_MAX] = "", p2p_addrs[WM_P2P_PUB_ADDRS][WM_P2P_PUB_ADDR_MAX];
	char *p2p_ptrs[WM_P2P_PUB_ADDRS];
	size_t n_p2p = 0;
	if (strcmp(id, s->c.node_id) == 0 && s->c.libp2p_info)
		n_p2p = s->c.libp2p_info(s->c.data, p2p_id, p2p_addrs);
	if (p2p_id[0]) {
		struct wm_store_status *ss = malloc(sizeof(*ss));
		if (ss)
			wm_store_status(s->store, ss);
		if (ss && ss->is_leader && ss->mesh_command_version >= WM_CMD_VERSION_LIBP2P) {
			for (size_t i = 0; i < n_p2p; i++)
				p2p_ptrs[i] = p2p_addrs[i];
			jc.libp2p_peer_id = p2p_id;
			jc.libp2p_addrs = p2p_ptrs;
			jc.n_libp2p_addrs = n_p2p;
			cmd.min_version = WM_CMD_VERSION_LIBP2P;
		}
		free(ss);
	}
	return wm_store_apply(s->store, &cmd, cb, s);
}

static void register_self(struct wm_server *s, bool with_lease)
{
	char key[WM_KEY_B64_LEN + 1];
	char eps[WM_MAX_ENDPOINTS][WM_ENDPOINT_STRLEN];
	char *ep_ptrs[WM_MAX_ENDPOINTS];
	wm_key_to_base64(s->c.public_key, key);
	for (size_t i = 0; i < *s->c.n_endpoints; i++) {
		wm_endpoint_format(&s->c.endpoints[i], eps[i], sizeof(eps[i]));
		ep_ptrs[i] = eps[i];
	}
	int err = wm_server_register(s, s->c.node_id, key, ep_ptrs, *s->c.n_endpoints,
				     s->c.cfg->wireguard_port, with_lease ? s->c.ipv4 : NULL,
				     self_joined_cb);
	if (err) {
		wm_error("cannot register this node: %s", wm_strerror(err));
		s->c.stop_cb(s->c.data, 1);
	}
}

static void peer_registered_cb(void *data, const struct wm_store_result *res)
{
	(void)data;
	if (res->err)
		wm_error("cannot register bootstrap server %s: %s", res->node.id,
			 res->message[0] ? res->message : wm_strerror(res->err));
}

static void authz_bootstrapped_cb(void *data, const struct wm_store_result *res)
{
	struct wm_server *s = data;
	if (s->c.stopping(s->c.data))
		return;
	if (res->err) {
		/* Without the built-ins nobody but the local socket could do
		 * anything: better to stop than to run a mesh nobody can manage. */
		wm_error("cannot create the built-in roles: %s",
			 res->message[0] ? res->message : wm_strerror(res->err));
		s->c.stop_cb(s->c.data, 1);
		return;
	}
	wm_info("RBAC bootstrapped: mesh-admin bound to %s, default network policy %s",
		s->c.cfg->bootstrap_admin && *s->c.cfg->bootstrap_admin ? s->c.cfg->bootstrap_admin
									: s->c.node_id,
		s->c.cfg->default_network_policy ? s->c.cfg->default_network_policy : "accept");
}

static void bootstrapped_cb(void *data, const struct wm_store_result *res)
{
	struct wm_server *s = data;
	if (s->c.stopping(s->c.data))
		return;
	if (res->err) {
		wm_error("cannot create the mesh: %s",
			 res->message[0] ? res->message : wm_strerror(res->err));
		s->c.stop_cb(s->c.data, 1);
		return;
	}
	wm_info("created a new mesh");
	/* The built-in roles and the default network policy come right after
	 * the mesh, before any node (even this one) is registered. */
	Webmesh__V1__BootstrapAuthzCommand b;
	Webmesh__V1__RaftCommand cmd;
	const char *policy =
		s->c.cfg->default_network_policy ? s->c.cfg->default_network_policy : "accept";
	wm_authz_bootstrap_command(&b, &cmd, s->c.cfg->bootstrap_admin, s->c.node_id,
				   (char **)s->c.cfg->bootstrap_voters,
				   s->c.cfg->n_bootstrap_voters, strcmp(policy, "accept") == 0);
	/* The mesh's authentication is what this bootstrap node enforces: every
	 * server that joins later must enforce the same. */
	struct wm_mesh_auth_local local;
	char methods[WM_MESH_AUTH_TEXT_MAX], e[400];
	if (wm_node_local_auth(s->c.cfg, &local, e, sizeof(e)) < 0) {
		wm_error("%s", e);
		s->c.stop_cb(s->c.data, 1);
		return;
	}
	wm_mesh_auth_methods_format(local.auth.methods, methods);
	b.auth_methods = methods;
	b.mtls_ca_fingerprint = local.auth.ca_fingerprint;
	b.rbac = local.auth.rbac;
	wm_node_log_mesh_auth(&local.auth);
	int err = wm_store_apply(s->store, &cmd, authz_bootstrapped_cb, s);
	if (err == -ENOTSUP && wm_server_plugin_storage(s->c.cfg)) {
		/* A storage plugin may keep no RBAC objects (the header lets
		 * it refuse a kind of command): the mesh then has none. */
		wm_warn("storage %s keeps no RBAC objects: the mesh has no built-in roles",
			s->c.cfg->storage);
	} else if (err) {
		wm_error("cannot create the built-in roles: %s", wm_strerror(err));
		s->c.stop_cb(s->c.data, 1);
		return;
	}
	wm_multiboot_register_peers(s, peer_registered_cb);
	/* On a storage plugin another server may create the mesh at the same
	 * moment: the store picks our lease rather than us. */
	register_self(s, !wm_server_plugin_storage(s->c.cfg));
}

/* A restarted server checks its configuration against its replica's mesh
 * authentication settings: it must not serve what it cannot enforce. */
static int check_replica_auth(struct wm_server *s)
{
	struct wm_authz_snapshot snap;
	char e[400];
	int r = wm_store_authz_load(s->store, &snap);
	if (r < 0) {
		wm_error("cannot read the mesh's authentication settings: %s", wm_strerror(r));
		return r;
	}
	if (snap.has_mesh_auth) {
		r = wm_node_check_mesh_auth(s->c.cfg, &snap.mesh_auth, e, sizeof(e));
		if (r < 0)
			wm_error("refusing to serve: %s", e);
		else
			wm_node_log_mesh_auth(&snap.mesh_auth);
	}
	wm_authz_snapshot_free(&snap);
	return r;
}

/* Runs once the log is applied locally: a brand-new cluster proposes the mesh,
 * a resumed one only refreshes this node's endpoints. */
static void caught_up_cb(void *data, const struct wm_store_result *res)
{
	struct wm_server *s = data;
	if (s->c.stopping(s->c.data))
		return;
	if (res->err) {
		wm_error("raft barrier failed: %s", wm_strerror(res->err));
		s->c.stop_cb(s->c.data, 1);
		return;
	}
	struct wm_mesh_info stored;
	bool plugin = wm_server_plugin_storage(s->c.cfg);
	if (plugin && wm_store_mesh_info(s->store, &stored) == 0) {
		/* A mesh in the store: this server registers (or re-registers,
		 * keeping its lease) and serves it. */
		*s->c.mesh = stored;
		wm_info("serving the mesh in %s storage", s->c.cfg->storage);
		if (check_replica_auth(s) < 0) {
			s->c.stop_cb(s->c.data, 1);
			return;
		}
		register_self(s, false);
		return;
	}
	if (plugin && !s->c.cfg->bootstrap) {
		wm_error("%s storage holds no mesh yet: start one server with --bootstrap "
			 "--storage %s first",
			 s->c.cfg->storage, s->c.cfg->storage);
		s->c.stop_cb(s->c.data, 1);
		return;
	}
	if (plugin) {
		char e[256] = "";
		if (plan_new_mesh(s, e, sizeof(e)) < 0) {
			wm_error("%s", e);
			s->c.stop_cb(s->c.data, 1);
			return;
		}
	}
	if (!plugin && wm_store_mesh_info(s->store, &stored) == 0) {
		*s->c.mesh = stored;
		struct wm_mesh_node self;
		if (wm_store_get_node(s->store, s->c.node_id, &self) == 0) {
			if (!wm_prefix_equal(&self.ipv4, s->c.ipv4))
				wm_warn("stored lease differs from mesh.state; using the stored "
					"one");
			*s->c.ipv4 = self.ipv4;
			*s->c.ipv6 = self.ipv6;
		}
		wm_info("resumed the mesh from %s", s->c.cfg->state_dir);
		if (check_replica_auth(s) < 0) {
			s->c.stop_cb(s->c.data, 1);
			return;
		}
		register_self(s, false);
		return;
	}
	char n4[WM_PREFIX_STRLEN], n6[WM_PREFIX_STRLEN];
	wm_prefix_format(&s->c.mesh->ipv4_network, n4, sizeof(n4));
	wm_prefix_format(&s->c.mesh->ipv6_network, n6, sizeof(n6));
	Webmesh__V1__BootstrapMeshCommand bc = WEBMESH__V1__BOOTSTRAP_MESH_COMMAND__INIT;
	bc.network_ipv4 = n4;
	bc.network_ipv6 = n6;
	bc.domain = s->c.mesh->domain;
	bc.created_at = s->c.mesh->created_at;
	bc.topology = s->c.cfg->topology ? s->c.cfg->topology : (char *)"";
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP;
	cmd.bootstrap = &bc;
	int err = wm_store_apply(s->store, &cmd, bootstrapped_cb, s);
	if (err) {
		wm_error("cannot create the mesh: %s", wm_strerror(err));
		s->c.stop_cb(s->c.data, 1);
	}
}

/* libraft 0.15 has no leadership callback: poll until we lead. */
static void leader_poll_cb(uv_timer_t *t)
{
	struct wm_server *s = t->data;
	/* the timer runs until the store's row closes, later in a stop */
	if (s->c.stopping(s->c.data))
		return;
	struct wm_store_status st;
	wm_store_status(s->store, &st);
	if (st.state && strcmp(st.state, "failed") == 0) {
		uv_timer_stop(t);
		wm_error("%s", st.storage_detail);
		s->c.stop_cb(s->c.data, 1);
		return;
	}
	if (!st.is_leader)
		return;
	uv_timer_stop(t);
	if (wm_server_plugin_storage(s->c.cfg))
		wm_info("%s storage is ready (%s, revision %llu)", st.storage, st.storage_endpoints,
			(unsigned long long)st.storage_revision);
	else
		wm_info("this node leads the mesh (term %llu)", (unsigned long long)st.term);
	int err = wm_store_barrier(s->store, caught_up_cb, s);
	if (err) {
		wm_error("raft barrier failed: %s", wm_strerror(err));
		s->c.stop_cb(s->c.data, 1);
	}
}

int wm_server_start(struct wm_server *s, char *err, size_t errlen)
{
	if (wm_server_plugin_storage(s->c.cfg)) {
		/* The state dir holds no mesh: the store has it (or will). */
		int rc = wm_server_open_store(s, s->c.cfg->bootstrap, err, errlen);
		if (!rc)
			uv_timer_start(&s->leader_timer, leader_poll_cb, 0, LEADER_POLL_MS);
		return rc;
	}
	bool multi = s->c.cfg->n_bootstrap_servers > 0;
	int rc = wm_meshstate_load(s->c.cfg->state_dir, s->c.mesh, s->c.ipv4, s->c.ipv6);
	if (rc && rc != -ENOENT) {
		snprintf(err, errlen,
			 "%s/mesh.state is damaged (%s): remove the state dir to "
			 "start a new mesh",
			 s->c.cfg->state_dir, wm_strerror(rc));
		return rc;
	}
	bool resuming = rc == 0;
	if (multi) {
		/* The list fixes addresses and the initial voters, resumed or not. */
		rc = wm_multiboot_plan(s, err, errlen);
		if (rc)
			return rc;
		if (!resuming)
			return wm_multiboot_start(s, err, errlen);
	} else if (!resuming) {
		rc = plan_new_mesh(s, err, errlen);
		if (rc)
			return rc;
	}
	rc = wm_netconf_set_addresses(s->c.netconf);
	if (rc) {
		snprintf(err, errlen, "cannot configure %s: %s", s->c.cfg->interface,
			 wm_strerror(rc));
		return rc;
	}
	/* Voters restarting together can only reach each other over the
	 * overlay: the peers they last had are their way back to a quorum. */
	if (resuming)
		wm_netconf_restore_peers(s->c.netconf);
	wm_info("%s the mesh in %s", resuming ? "resuming" : "creating", s->c.cfg->state_dir);
	return wm_server_resume(s, err, errlen);
}

int wm_server_resume(struct wm_server *s, char *err, size_t errlen)
{
	int rc = wm_server_open_store(s, true, err, errlen);
	/* mesh.state is written only once Raft holds the bootstrap: a crash
	 * before that starts over from scratch rather than resuming a cluster
	 * that never existed. */
	if (!rc)
		rc = wm_meshstate_save(s->c.cfg->state_dir, s->c.mesh, s->c.ipv4, s->c.ipv6);
	if (rc) {
		if (!err[0])
			snprintf(err, errlen, "cannot write %s/mesh.state: %s", s->c.cfg->state_dir,
				 wm_strerror(rc));
		return rc;
	}
	uv_timer_start(&s->leader_timer, leader_poll_cb, 0, LEADER_POLL_MS);
	return 0;
}

/* The Raft peers this node knows outside its replica: those its servers
 * named when it joined (a new voter's replica is empty until the leader's
 * snapshot arrives) and the other bootstrap servers. */
static int raft_peer_lookup(void *data, uint64_t raft_id, char node_id[WM_NODE_ID_MAX + 1],
			    uint8_t pub[32], bool *is_server)
{
	struct wm_server *s = data;
	size_t n_peers;
	const struct wm_peer_name *peers = wm_netconf_peers(s->c.netconf, &n_peers);
	for (size_t i = 0; i < n_peers; i++) {
		const struct wm_peer_name *p = &peers[i];
		if (wm_store_raft_id(p->id) != raft_id)
			continue;
		snprintf(node_id, WM_NODE_ID_MAX + 1, "%s", p->id);
		memcpy(pub, p->key, WM_KEY_LEN);
		*is_server = p->raft_role != WM_ROLE_MEMBER;
		return 0;
	}
	return -ENOENT;
}

static void raft_log(void *data, const char *msg)
{
	(void)data;
	wm_warn("%s", msg);
}

int wm_server_open_store(struct wm_server *s, bool bootstrap, char *err, size_t errlen)
{
	if (s->store)
		return 0;
	/* Raft listens on the overlay address only, and its connections
	 * prove both nodes' WireGuard keys inside TLS (store/raft_transport.c). */
	char addr[WM_PREFIX_STRLEN], raft_address[WM_PREFIX_STRLEN + 8];
	wm_prefix_format_addr(s->c.ipv4, addr, sizeof(addr));
	snprintf(raft_address, sizeof(raft_address), "%s:%u", addr, s->c.cfg->raft_port);
	const char *ids[WM_CFG_LIST_MAX];
	char addrs[WM_CFG_LIST_MAX][64];
	size_t n_initial = 0;
	if (bootstrap && s->n_bootpeers)
		wm_multiboot_initial_voters(s, ids, addrs, &n_initial);
	const char *addr_ptrs[WM_CFG_LIST_MAX];
	for (size_t i = 0; i < n_initial; i++)
		addr_ptrs[i] = addrs[i];
	struct wm_store_config sc = {
		.initial_ids = ids,
		.initial_addresses = addr_ptrs,
		.n_initial = n_initial,
		.dir = s->c.cfg->state_dir,
		.node_id = s->c.node_id,
		.raft_address = raft_address,
		.bootstrap = bootstrap,
		.heartbeat_ms = s->c.cfg->raft_heartbeat_ms,
		.election_ms = s->c.cfg->raft_election_ms,
		.snapshot_threshold = s->c.cfg->raft_snapshot_threshold,
		.snapshot_trailing = s->c.cfg->raft_snapshot_trailing,
		.wg_private_key = s->c.private_key,
		.peer_lookup = raft_peer_lookup,
		.log = raft_log,
		.peer_data = s,
		/* the daemon closes its store only on its way out */
		.exiting = true,
	};
	/* A storage plugin's settings, from our etcd-* flags. */
	const struct wm_config *cfg = s->c.cfg;
	const char *keys[4], *values[4];
	char api_address[WM_ENDPOINT_STRLEN] = "";
	size_t n = 0;
	bool plugin = wm_server_plugin_storage(cfg);
	if (plugin) {
		const char *k[] = {"endpoints", "ca-file", "cert", "key"};
		const char *v[] = {cfg->etcd_endpoints, cfg->etcd_ca_file, cfg->etcd_cert,
				   cfg->etcd_key};
		for (size_t i = 0; i < 4; i++) {
			if (!v[i])
				continue;
			keys[n] = k[i];
			values[n++] = v[i];
		}
		/* Where members reach this server's API: its first endpoint's
		 * address and the API port. */
		const char *colon = cfg->api_listen ? strrchr(cfg->api_listen, ':') : NULL;
		if (*s->c.n_endpoints && colon) {
			struct wm_endpoint ep = s->c.endpoints[0];
			ep.port = (uint16_t)atoi(colon + 1);
			wm_endpoint_format(&ep, api_address, sizeof(api_address));
		}
		sc.storage = cfg->storage;
		sc.storage_keys = keys;
		sc.storage_values = values;
		sc.n_storage_config = n;
		sc.api_address = api_address;
	}
	int rc = wm_store_open(s->c.loop, &sc, &s->store, err, errlen);
	if (rc)
		return rc;
	wm_store_on_change(s->store, self_change_cb, s);
	if (plugin)
		wm_info("the mesh state is in %s storage at %s", cfg->storage, cfg->etcd_endpoints);
	else
		wm_info("raft listens on %s", raft_address);
	return s->c.store_opened_cb(s->c.data, s->store, err, errlen);
}

void wm_server_init(struct wm_server *s, const struct wm_server_config *c)
{
	*s = (struct wm_server){.c = *c};
	uv_timer_init(c->loop, &s->leader_timer);
	uv_timer_init(c->loop, &s->self_timer);
	uv_timer_init(c->loop, &s->multiboot_timer);
	s->leader_timer.data = s->self_timer.data = s->multiboot_timer.data = s;
}

struct wm_store *wm_server_store(const struct wm_server *s)
{
	return s->store;
}

/* Every server names itself and its WireGuard key: a joiner learns from this
 * answer, over the TLS it verified, whom to make its node proofs for. The
 * rest is for the other servers of a multi-server bootstrap. */
void wm_server_fill_bootstrap_info(const struct wm_server *s, Webmesh__V1__BootstrapInfo *info,
				   struct wm_arena *a)
{
	char key[WM_KEY_B64_LEN + 1];
	if (s->c.cfg->n_bootstrap_servers) {
		wm_multiboot_fill_info(s, info, a);
		return;
	}
	wm_key_to_base64(s->c.public_key, key);
	info->id = (char *)s->c.node_id;
	info->public_key = wm_arena_strdup(a, key);
	info->listen_port = s->c.cfg->wireguard_port;
}

void wm_server_close(struct wm_server *s, void (*done_cb)(void *data), void *data)
{
	uv_close((uv_handle_t *)&s->leader_timer, NULL);
	uv_close((uv_handle_t *)&s->self_timer, NULL);
	wm_sent_peers_free(&s->own_sent);
	uv_close((uv_handle_t *)&s->multiboot_timer, NULL);
	if (s->store)
		wm_store_close(s->store, done_cb, data);
	else
		done_cb(data);
}
