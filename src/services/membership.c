/* Membership.Join and Membership.Leave: validated here, applied through Raft. */
#include "services/services_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cmdver.h"
#include "core/error.h"
#include "core/ids.h"
#include "core/key.h"
#include "services/convert.h"
#include "services/deny.h"
#include "services/peercache.h"
#include "services/gate.h"
#include "services/routerights.h"
#include "plugin/plugin.h"
#include "store/authz.h"
#include "util/log.h"

/* Everything a Join carries is checked before it reaches the log, so that a
 * bad request costs no Raft round and gets a precise message. The FSM checks
 * again: it must never trust the log either. */
static int validate_join(const Webmesh__V1__JoinRequest *r, char *why, size_t len)
{
	const char *reason = NULL;
	wm_key key;
	if (wm_node_id_check(r->id, &reason) < 0) {
		snprintf(why, len, "invalid node ID \"%.64s\": %s", r->id, reason);
		return -EINVAL;
	}
	if (wm_key_from_base64(r->public_key, key) < 0) {
		snprintf(why, len,
			 "invalid public key: expected 44 characters of base64 (a "
			 "WireGuard key)");
		return -EINVAL;
	}
	if (wm_key_is_zero(key)) {
		snprintf(why, len, "invalid public key: all zeros");
		return -EINVAL;
	}
	if (r->n_endpoints > WM_MAX_ENDPOINTS) {
		snprintf(why, len, "too many endpoints: %zu (at most %d)", r->n_endpoints,
			 WM_MAX_ENDPOINTS);
		return -EINVAL;
	}
	for (size_t i = 0; i < r->n_endpoints; i++) {
		struct wm_endpoint e;
		if (wm_endpoint_parse(r->endpoints[i], &e) < 0) {
			snprintf(why, len, "invalid endpoint \"%.64s\": expected IP:PORT",
				 r->endpoints[i]);
			return -EINVAL;
		}
	}
	if (r->listen_port == 0 || r->listen_port > 65535) {
		snprintf(why, len, "invalid listen_port %u: expected 1..65535", r->listen_port);
		return -EINVAL;
	}
	if (r->n_routes > WM_MAX_ROUTES) {
		snprintf(why, len, "too many routes: %zu (at most %d)", r->n_routes, WM_MAX_ROUTES);
		return -EINVAL;
	}
	for (size_t i = 0; i < r->n_routes; i++) {
		struct wm_prefix p;
		if (wm_route_parse(r->routes[i], &p) < 0) {
			snprintf(why, len,
				 "invalid route \"%.64s\": expected a CIDR such as 10.1.0.0/16",
				 r->routes[i]);
			return -EINVAL;
		}
	}
	if (r->zone[0] && wm_zone_check(r->zone, &reason) < 0) {
		snprintf(why, len, "invalid zone \"%.64s\": %s", r->zone, reason);
		return -EINVAL;
	}
	if (r->as_voter && r->as_observer) {
		snprintf(why, len, "a node is either a voter or an observer, not both");
		return -EINVAL;
	}
	return 0;
}

/* The mesh's authentication settings for a joiner that will serve (issue 10). */
static void fill_mesh_auth(struct wm_store *store, Webmesh__V1__JoinResponse *resp,
			   struct wm_arena *a)
{
	struct wm_authz_snapshot snap;
	if (wm_store_authz_load(store, &snap) < 0)
		return;
	if (snap.has_mesh_auth) {
		char methods[WM_MESH_AUTH_TEXT_MAX];
		wm_mesh_auth_methods_format(snap.mesh_auth.methods, methods);
		resp->auth_methods = wm_arena_strdup(a, methods);
		resp->mtls_ca_fingerprint = wm_arena_strdup(a, snap.mesh_auth.ca_fingerprint);
		resp->rbac = snap.mesh_auth.rbac;
	}
	wm_authz_snapshot_free(&snap);
}

struct join_ctx {
	struct join_ctx *next;
	struct wm_services *s;
	struct wm_rpc_call *call;
	struct wm_mesh_node node; /* as applied */
};

static void answer_join(struct wm_services *s, struct wm_rpc_call *call,
			const struct wm_mesh_node *node)
{
	struct wm_mesh_info info;
	struct wm_arena a;
	wm_arena_init(&a);
	Webmesh__V1__JoinResponse resp = WEBMESH__V1__JOIN_RESPONSE__INIT;
	Webmesh__V1__PeerConfigurations pc;
	int err = wm_store_mesh_info(s->cfg.store, &info);
	if (!err)
		err = wm_services_peers(s, node->id, &a, &pc);
	if (err) {
		wm_arena_free(&a);
		wm_services_fail(call, err, "could not compute the joiner's peers");
		return;
	}
	resp.network_ipv4 = wm_pb_prefix(&a, &info.ipv4_network);
	resp.network_ipv6 = wm_pb_prefix(&a, &info.ipv6_network);
	resp.address_ipv4 = wm_pb_prefix(&a, &node->ipv4);
	resp.address_ipv6 = wm_pb_prefix(&a, &node->ipv6);
	resp.mesh_domain = wm_arena_strdup(&a, info.domain);
	resp.server_id = s->node_id;
	resp.peers = pc.peers;
	resp.n_peers = pc.n_peers;
	resp.forwarding = pc.forwarding;
	resp.own_routes = pc.own_routes;
	resp.n_own_routes = pc.n_own_routes;
	fill_mesh_auth(s->cfg.store, &resp, &a);
	if (a.failed)
		wm_services_fail(call, -ENOMEM, NULL);
	else
		wm_services_reply(call, &resp.base);
	wm_info("node %s joined with %s", node->id, resp.address_ipv4);
	wm_arena_free(&a);
}

/* Every join answer reads the whole state (the joiner's peers need the
 * graph). Answered one by one as each entry was applied, a storm of joins
 * read it once per join, O(N) each, on the loop: at 2,000 members that
 * stalled a leader past the election timeout (bench/scale --sim, perf).
 * The joins of one batch of entries share one read (services/peercache.c). */
static void joins_cb(uv_timer_t *t)
{
	struct wm_services *s = t->data;
	struct join_ctx *list = s->joins_done, *rev = NULL;
	s->joins_done = NULL;
	while (list) { /* answer in the order applied */
		struct join_ctx *next = list->next;
		list->next = rev;
		rev = list;
		list = next;
	}
	while (rev) {
		struct join_ctx *j = rev;
		rev = j->next;
		if (!s->cfg.store || s->stopped)
			wm_rpc_call_finish(j->call, WM_GRPC_UNAVAILABLE, "server is shutting down");
		else
			answer_join(s, j->call, &j->node);
		free(j);
	}
}

static void join_applied_cb(void *data, const struct wm_store_result *res)
{
	struct join_ctx *j = data;
	struct wm_services *s = j->s;
	if (res->err) {
		wm_services_fail(j->call, res->err, res->message);
		free(j);
		return;
	}
	wm_services_seen(s, res->node.id);
	if (s->stopped) {
		wm_rpc_call_finish(j->call, WM_GRPC_UNAVAILABLE, "server is shutting down");
		free(j);
		return;
	}
	j->node = res->node;
	j->next = s->joins_done;
	s->joins_done = j;
	if (!uv_is_active((uv_handle_t *)&s->join_timer))
		uv_timer_start(&s->join_timer, joins_cb, 0, 0);
}

void wm_membership_init(struct wm_services *s)
{
	uv_timer_init(s->cfg.loop, &s->join_timer);
	s->join_timer.data = s;
}

void wm_membership_stop(struct wm_services *s)
{
	uv_timer_stop(&s->join_timer);
	while (s->joins_done) {
		struct join_ctx *j = s->joins_done;
		s->joins_done = j->next;
		wm_rpc_call_finish(j->call, WM_GRPC_UNAVAILABLE, "server is shutting down");
		free(j);
	}
}

/* Proposes the checked join; ipv4 is the IPAM plugin's address or NULL (the
 * store's lease table picks). Answers the call in every case. */
static void propose_join(struct wm_services *s, struct wm_rpc_call *call,
			 const Webmesh__V1__JoinRequest *r, const struct wm_route_rights *rr,
			 const char *ipv4, const uint8_t *raw, size_t rawlen)
{
	Webmesh__V1__JoinNodeCommand jc = WEBMESH__V1__JOIN_NODE_COMMAND__INIT;
	jc.id = r->id;
	jc.public_key = r->public_key;
	jc.endpoints = r->endpoints;
	jc.n_endpoints = r->n_endpoints;
	jc.listen_port = r->listen_port;
	jc.zone = r->zone;
	jc.routes = r->routes;
	jc.n_routes = r->n_routes;
	jc.joined_at = (int64_t)time(NULL);
	jc.full_mesh = true;
	/* A manual-topology mesh links the joiner to the server that took it:
	 * the follower that forwarded the join, if one did. */
	const char *from = wm_rpc_call_metadata(call, WM_HDR_PROXIED_FROM);
	const char *why_not = NULL;
	jc.via = from && wm_node_id_check(from, &why_not) == 0 ? (char *)from : s->node_id;
	jc.exit_node = r->use_exit_node;
	jc.route_overrides = rr->owners;
	jc.n_route_overrides = rr->n_owners;
	jc.route_override_any = rr->any;
	jc.route_claims_checked = true;
	/* Who may become a voter is decided by authorization once it exists;
	 * until then the mesh is open and says so at startup. */
	jc.raft_role = r->as_voter	? WM_ROLE_VOTER
		       : r->as_observer ? WM_ROLE_OBSERVER
					: WM_ROLE_MEMBER;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE;
	cmd.join_node = &jc;
	if (ipv4 && *ipv4) {
		jc.ipv4_request = (char *)ipv4;
		jc.ipv4_request_strict = true;
		/* A build before command versions ignores the field and would
		 * lease another address: held back until every voter knows it. */
		cmd.min_version = 2;
	}
	/* WireGuard over libp2p: a build of command version 2 would drop the
	 * fields and its replica would differ, so they go only into a mesh
	 * whose voters all know them; else the node joins without them. */
	if (r->libp2p_peer_id && *r->libp2p_peer_id) {
		struct wm_store_status *ss = malloc(sizeof(*ss));
		if (ss)
			wm_store_status(s->cfg.store, ss);
		if (ss && ss->is_leader && ss->mesh_command_version < WM_CMD_VERSION_LIBP2P) {
			wm_info("join of %s: its libp2p peer ID is left out: the mesh runs command "
				"version %u, libp2p needs %d (upgrade every voter)",
				r->id, ss->mesh_command_version, WM_CMD_VERSION_LIBP2P);
		} else {
			jc.libp2p_peer_id = r->libp2p_peer_id;
			jc.libp2p_addrs = r->libp2p_addrs;
			jc.n_libp2p_addrs = r->n_libp2p_addrs;
			cmd.min_version = WM_CMD_VERSION_LIBP2P;
		}
		free(ss);
	}
	struct join_ctx *j = malloc(sizeof(*j));
	if (!j) {
		wm_services_fail(call, -ENOMEM, NULL);
		return;
	}
	j->s = s;
	j->call = call;
	int err = wm_store_apply(s->cfg.store, &cmd, join_applied_cb, j);
	if (err) {
		free(j);
		if (err == -WM_ENOTLEADER)
			wm_services_forward(s, call, raw, rawlen);
		else
			wm_services_fail(call, err, NULL);
	}
}

/* A join waiting for the IPAM plugin's address: the request stays decoded. */
struct ipam_wait {
	struct wm_services *s;
	struct wm_rpc_call *call;
	Webmesh__V1__JoinRequest *r;
	struct wm_route_rights rr;
	uint8_t *raw;
	size_t rawlen;
};

static void ipam_done_cb(void *data, int err, const char *addr, const char *why)
{
	struct ipam_wait *w = data;
	if (err) {
		char msg[320];
		wm_warn("refused the join of %s: IPAM plugin: %s", w->r->id,
			why && *why ? why : wm_strerror(err));
		snprintf(msg, sizeof(msg), "the IPAM plugin could not allocate an address: %s",
			 why && *why ? why : wm_strerror(err));
		wm_rpc_call_finish(w->call, WM_GRPC_UNAVAILABLE, msg);
	} else if (w->s->stopped) {
		wm_rpc_call_finish(w->call, WM_GRPC_UNAVAILABLE, "server is shutting down");
	} else {
		propose_join(w->s, w->call, w->r, &w->rr, addr, w->raw, w->rawlen);
	}
	wm_route_rights_free(&w->rr);
	webmesh__v1__join_request__free_unpacked(w->r, NULL);
	free(w->raw);
	free(w);
}

/* With an IPAM plugin, a new node's address comes from it (a node coming
 * back keeps its lease, as without). Returns true when the call is taken
 * care of (waiting for the plugin, or failed); r and rr are then owned. */
static bool ipam_join(struct wm_services *s, struct wm_rpc_call *call, Webmesh__V1__JoinRequest *r,
		      struct wm_route_rights *rr, const uint8_t *req, size_t len)
{
	struct wm_mesh_node node;
	struct wm_mesh_info info;
	struct wm_store_status st;
	char net[WM_PREFIX_STRLEN];

	if (!wm_plugins_has_ipam(s->cfg.plugins))
		return false;
	wm_store_status(s->cfg.store, &st);
	if (!st.is_leader || wm_store_get_node(s->cfg.store, r->id, &node) == 0 ||
	    wm_store_mesh_info(s->cfg.store, &info) < 0 ||
	    wm_prefix_format(&info.ipv4_network, net, sizeof(net)) < 0)
		return false; /* the leader's plugin decides; the store says why not */
	struct ipam_wait *w = calloc(1, sizeof(*w));
	uint8_t *raw = malloc(len ? len : 1);
	if (!w || !raw) {
		free(w);
		free(raw);
		wm_route_rights_free(rr);
		webmesh__v1__join_request__free_unpacked(r, NULL);
		wm_services_fail(call, -ENOMEM, NULL);
		return true;
	}
	memcpy(raw, req, len);
	*w = (struct ipam_wait){.s = s, .call = call, .r = r, .rr = *rr, .raw = raw, .rawlen = len};
	int err = wm_plugins_ipam_allocate(s->cfg.plugins, r->id, r->public_key, net, ipam_done_cb,
					   w);
	if (err) {
		wm_route_rights_free(&w->rr);
		webmesh__v1__join_request__free_unpacked(r, NULL);
		free(raw);
		free(w);
		wm_services_fail(call, err, "could not ask the IPAM plugin");
	}
	return true;
}

void wm_membership_join(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	Webmesh__V1__JoinRequest *r = webmesh__v1__join_request__unpack(NULL, len, req);
	char why[256];
	if (!r) {
		wm_services_fail(call, -EINVAL, "malformed JoinRequest");
		return;
	}
	int err = validate_join(r, why, sizeof(why));
	if (err) {
		wm_info("refused a join from %s: %s", wm_rpc_call_peer(call), why);
		webmesh__v1__join_request__free_unpacked(r, NULL);
		wm_services_fail(call, err, why);
		return;
	}
	if (!s->cfg.store) {
		webmesh__v1__join_request__free_unpacked(r, NULL);
		wm_services_forward(s, call, req, len);
		return;
	}
	/* A mesh on a storage plugin has no Raft to vote in or observe
	 * (issue 12): its servers start with --storage NAME --serve. */
	struct wm_store_status sst;
	wm_store_status(s->cfg.store, &sst);
	if ((r->as_voter || r->as_observer) && sst.storage && strcmp(sst.storage, "raft") != 0) {
		snprintf(why, sizeof(why),
			 "this mesh keeps its state in %s storage, not Raft: a server joins it "
			 "with --storage %s --serve, not as a voter or observer",
			 sst.storage, sst.storage);
		wm_info("refused a join from %s: %s", wm_rpc_call_peer(call), why);
		webmesh__v1__join_request__free_unpacked(r, NULL);
		wm_services_fail(call, -EINVAL, why);
		return;
	}
	/* Routes over other nodes' (the gate checked put routes on this one). */
	struct wm_route_rights rr;
	err = wm_route_rights_decide(s, call, r->id, r->routes, r->n_routes, &rr, why, sizeof(why));
	if (err < 0) {
		wm_info("refused a join from %s: %s", wm_rpc_call_peer(call),
			err == -EACCES ? why : wm_strerror(err));
		webmesh__v1__join_request__free_unpacked(r, NULL);
		wm_services_fail(call, err, err == -EACCES ? why : NULL);
		return;
	}
	if (ipam_join(s, call, r, &rr, req, len))
		return;
	propose_join(s, call, r, &rr, NULL, req, len);
	wm_route_rights_free(&rr);
	webmesh__v1__join_request__free_unpacked(r, NULL);
}

static bool is_last_voter(struct wm_store *store, const char *id)
{
	struct wm_mesh_node *nodes = NULL;
	size_t n = 0, voters = 0;
	bool is_voter = false;
	if (wm_store_list_nodes(store, &nodes, &n) < 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (nodes[i].raft_role != WM_ROLE_VOTER)
			continue;
		voters++;
		if (strcmp(nodes[i].id, id) == 0)
			is_voter = true;
	}
	free(nodes);
	return is_voter && voters == 1;
}

static void leave_applied_cb(void *data, const struct wm_store_result *res)
{
	struct wm_rpc_call *call = data;
	if (res->err) {
		wm_services_fail(call, res->err, res->message);
		return;
	}
	Webmesh__V1__LeaveResponse resp = WEBMESH__V1__LEAVE_RESPONSE__INIT;
	wm_services_reply(call, &resp.base);
}

void wm_membership_leave(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	Webmesh__V1__LeaveRequest *r = (Webmesh__V1__LeaveRequest *)wm_services_decode_id(
		call, &webmesh__v1__leave_request__descriptor, req, len);
	if (!r)
		return;
	char why[160];
	if (!s->cfg.store) {
		webmesh__v1__leave_request__free_unpacked(r, NULL);
		wm_services_forward(s, call, req, len);
		return;
	}
	/* The last voter holds the only copy of the state: the mesh would be gone. */
	if (is_last_voter(s->cfg.store, r->id)) {
		snprintf(why, sizeof(why),
			 "node %s is the only Raft voter; add another voter first", r->id);
		webmesh__v1__leave_request__free_unpacked(r, NULL);
		wm_rpc_call_finish(call, WM_GRPC_FAILED_PRECONDITION, why);
		return;
	}
	/* An administrator removing another node: denied from now on. */
	int derr = wm_deny_on_leave(s, wm_gate_caller(call), r->id);
	if (derr == -WM_ENOTLEADER) {
		webmesh__v1__leave_request__free_unpacked(r, NULL);
		wm_services_forward(s, call, req, len);
		return;
	}
	Webmesh__V1__RemoveNodeCommand rc = WEBMESH__V1__REMOVE_NODE_COMMAND__INIT;
	rc.id = r->id;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE;
	cmd.remove_node = &rc;
	int err = wm_store_apply(s->cfg.store, &cmd, leave_applied_cb, call);
	if (!err)
		wm_info("node %s is leaving the mesh", r->id);
	webmesh__v1__leave_request__free_unpacked(r, NULL);
	if (err == -WM_ENOTLEADER)
		wm_services_forward(s, call, req, len);
	else if (err)
		wm_services_fail(call, err, NULL);
}
