/* The authorization gate: authenticate, resolve proxied callers, check RBAC,
 * then run the method's handler. */
#include "services/gate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "store/authz.h"
#include "util/log.h"
#include "webmesh/v1/mesh.pb-c.h"

enum rule_kind {
	R_AUTHENTICATED, /* any authenticated caller */
	R_SELF,		 /* the node named in field 1, or verb/resource on it */
	R_RBAC_NAME,	 /* verb/resource with field 1 as the name */
	R_RBAC,		 /* verb/resource, no name */
	R_JOIN,		 /* R_SELF (put nodes) plus voters/observers */
	R_SELF_ONLY,	 /* the node named in field 1, and nobody else */
};

struct policy {
	const char *path;
	enum rule_kind kind;
	const char *verb, *resource;
};

static const struct policy policies[] = {
	{"/webmesh.v1.Membership/Join", R_JOIN, "put", "nodes"},
	{"/webmesh.v1.Membership/Leave", R_SELF, "delete", "nodes"},
	{"/webmesh.v1.Membership/SubscribePeers", R_SELF, "get", "nodes"},
	{"/webmesh.v1.Membership/Heartbeat", R_AUTHENTICATED, NULL, NULL},
	{"/webmesh.v1.Mesh/GetNode", R_AUTHENTICATED, NULL, NULL},
	{"/webmesh.v1.Mesh/ListNodes", R_AUTHENTICATED, NULL, NULL},
	{"/webmesh.v1.Mesh/GetMeshGraph", R_AUTHENTICATED, NULL, NULL},
	{"/webmesh.v1.Node/GetStatus", R_AUTHENTICATED, NULL, NULL},
	{"/webmesh.v1.Node/GetBootstrapInfo", R_AUTHENTICATED, NULL, NULL},
	{"/webmesh.v1.Admin/PutEdge", R_RBAC, "put", "edges"},
	{"/webmesh.v1.Admin/DeleteEdge", R_RBAC, "delete", "edges"},
	{"/webmesh.v1.Admin/ListEdges", R_RBAC, "get", "edges"},
	{"/webmesh.v1.Admin/PutRoute", R_RBAC_NAME, "put", "routes"},
	{"/webmesh.v1.Admin/DeleteRoute", R_RBAC_NAME, "delete", "routes"},
	{"/webmesh.v1.Admin/ListRoutes", R_RBAC, "get", "routes"},
	{"/webmesh.v1.Admin/PutRole", R_RBAC_NAME, "put", "roles"},
	{"/webmesh.v1.Admin/DeleteRole", R_RBAC_NAME, "delete", "roles"},
	{"/webmesh.v1.Admin/ListRoles", R_RBAC, "get", "roles"},
	{"/webmesh.v1.Admin/PutRoleBinding", R_RBAC_NAME, "put", "rolebindings"},
	{"/webmesh.v1.Admin/DeleteRoleBinding", R_RBAC_NAME, "delete", "rolebindings"},
	{"/webmesh.v1.Admin/ListRoleBindings", R_RBAC, "get", "rolebindings"},
	{"/webmesh.v1.Admin/PutGroup", R_RBAC_NAME, "put", "groups"},
	{"/webmesh.v1.Admin/DeleteGroup", R_RBAC_NAME, "delete", "groups"},
	{"/webmesh.v1.Admin/ListGroups", R_RBAC, "get", "groups"},
	{"/webmesh.v1.Admin/PutNetworkACL", R_RBAC_NAME, "put", "networkacls"},
	{"/webmesh.v1.Admin/DeleteNetworkACL", R_RBAC_NAME, "delete", "networkacls"},
	/* Every node enforces the ACLs, so every node may read them. */
	{"/webmesh.v1.Admin/ListNetworkACLs", R_AUTHENTICATED, NULL, NULL},
	/* The handler checks "get rolebindings" when asking for someone else. */
	{"/webmesh.v1.Admin/CanI", R_AUTHENTICATED, NULL, NULL},
	/* A node signals and takes TURN credentials as itself only, with no
	 * RBAC way around it: a second ReceiveSignals stream for a node
	 * replaces the first, so reading another node's signals would also
	 * cut that node off from ICE. */
	{"/webmesh.v1.Signaling/SendSignal", R_SELF_ONLY, NULL, NULL},
	{"/webmesh.v1.Signaling/ReceiveSignals", R_SELF_ONLY, NULL, NULL},
	{"/webmesh.v1.Signaling/GetTurnCredentials", R_SELF_ONLY, NULL, NULL},
	/* MeshDNS user records: one resource, like edges (a record's name is
	 * canonicalised against the mesh domain by the FSM, so per-name rules
	 * would match the text the caller typed, not the name stored). */
	{"/webmesh.v1.Admin/PutDnsRecord", R_RBAC, "put", "dns-records"},
	{"/webmesh.v1.Admin/DeleteDnsRecord", R_RBAC, "delete", "dns-records"},
	{"/webmesh.v1.Admin/ListDnsRecords", R_RBAC, "get", "dns-records"},
};

/* Unknown methods: only a wildcard verb passes (mesh-admin). */
static const struct policy fallback = {NULL, R_RBAC, "call", "methods"};

struct gated {
	struct wm_gate *g;
	struct wm_rpc_method m;
	char *path;
	const struct policy *p;
	struct gated *next;
};

struct wm_gate {
	struct wm_gate_config cfg;
	struct gated *methods;
};

struct pending {
	struct gated *gm;
	struct wm_rpc_call *call;
	uint8_t *req;
	size_t len;
	char proxied_for[WM_AUTH_ID_MAX + 1];
	bool has_proxied;
};

static const struct wm_identity *current;

const struct wm_identity *wm_gate_caller(void)
{
	return current;
}

int wm_gate_new(const struct wm_gate_config *cfg, struct wm_gate **out)
{
	struct wm_gate *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->cfg = *cfg;
	*out = g;
	return 0;
}

void wm_gate_free(struct wm_gate *g)
{
	if (!g)
		return;
	for (struct gated *m = g->methods, *n; m; m = n) {
		n = m->next;
		free(m->path);
		free(m);
	}
	free(g);
}

/* ---- a minimal protobuf wire scanner ---- */

static int varint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*off >= len)
			return -EBADMSG;
		uint8_t b = p[(*off)++];
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
	}
	return -EBADMSG;
}

int wm_gate_scan(const uint8_t *msg, size_t len, struct wm_gate_fields *out)
{
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	while (off < len) {
		uint64_t key, v;
		if (varint(msg, len, &off, &key) < 0)
			return -EBADMSG;
		uint32_t field = (uint32_t)(key >> 3), type = key & 7;
		if (field == 0)
			return -EBADMSG;
		switch (type) {
		case 0:
			if (varint(msg, len, &off, &v) < 0)
				return -EBADMSG;
			if (field == 5)
				out->f5 = v != 0;
			if (field == 6)
				out->f6 = v != 0;
			break;
		case 1:
			if (len - off < 8)
				return -EBADMSG;
			off += 8;
			break;
		case 5:
			if (len - off < 4)
				return -EBADMSG;
			off += 4;
			break;
		case 2:
			if (varint(msg, len, &off, &v) < 0 || v > len - off)
				return -EBADMSG;
			if (field == 1) {
				/* The last occurrence wins, as protobuf decoders do. */
				size_t n = v < sizeof(out->name) - 1 ? (size_t)v
								     : sizeof(out->name) - 1;
				memcpy(out->name, msg + off, n);
				out->name[n] = '\0';
				out->has_name = v < sizeof(out->name) && !memchr(out->name, 0, n);
			}
			off += (size_t)v;
			break;
		default:
			return -EBADMSG;
		}
	}
	return 0;
}

/* ---- decisions ---- */

bool wm_gate_allowed(struct wm_store *store, const struct wm_identity *id, const char *verb,
		     const char *resource, const char *name)
{
	if (id->local || id->anonymous)
		return true;
	if (!store)
		return false;
	struct wm_rbac_who who = {.id = id->id, .kind = id->kind};
	return wm_store_rbac_check(store, &who, verb, resource, name) == 1;
}

static bool is_server(struct wm_store *store, const char *id)
{
	struct wm_mesh_node n;
	if (!store || wm_store_get_node(store, id, &n) < 0)
		return false;
	return n.raft_role == WM_ROLE_VOTER || n.raft_role == WM_ROLE_OBSERVER;
}

static const struct policy *policy_of(const char *path)
{
	for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
		if (strcmp(policies[i].path, path) == 0)
			return &policies[i];
	return &fallback;
}

/* 0 when allowed; else the gRPC status with why. */
static int authorize(struct wm_store *store, const struct policy *p, const struct wm_identity *id,
		     const uint8_t *req, size_t len, char *why, size_t whylen)
{
	struct wm_gate_fields f;
	const char *who = id->id[0] ? id->id : id->method;

	if (id->local || id->anonymous)
		return 0;
	if (p->kind == R_AUTHENTICATED)
		return 0;
	if (p->kind != R_RBAC && wm_gate_scan(req, len, &f) < 0) {
		snprintf(why, whylen, "malformed request");
		return WM_GRPC_INVALID_ARGUMENT;
	}
	if (p->kind == R_RBAC) {
		if (wm_gate_allowed(store, id, p->verb, p->resource, NULL))
			return 0;
		snprintf(why, whylen, "%.64s may not %s %s", who, p->verb, p->resource);
		return WM_GRPC_PERMISSION_DENIED;
	}
	const char *name = f.has_name ? f.name : "";
	bool self = f.has_name && id->id[0] && strcmp(name, id->id) == 0;
	if (p->kind == R_SELF_ONLY) {
		if (self)
			return 0;
		snprintf(why, whylen, "%.64s may act only as itself, not as %.64s", who,
			 f.has_name ? name : "(no node ID)");
		return WM_GRPC_PERMISSION_DENIED;
	}
	if (p->kind == R_RBAC_NAME || !self) {
		if (!wm_gate_allowed(store, id, p->verb, p->resource, name)) {
			snprintf(why, whylen, "%.64s may not %s %s %.64s", who, p->verb,
				 p->resource, name);
			return WM_GRPC_PERMISSION_DENIED;
		}
	}
	if (p->kind == R_JOIN) {
		/* The real decoder decides what the handler will see: protobuf
		 * accepts encodings of a bool (packed, repeated) a scanner can miss. */
		Webmesh__V1__JoinRequest *j = webmesh__v1__join_request__unpack(NULL, len, req);
		if (!j) {
			snprintf(why, whylen, "malformed request");
			return WM_GRPC_INVALID_ARGUMENT;
		}
		f.f5 = j->as_voter;
		f.f6 = j->as_observer;
		bool same = strcmp(j->id, name) == 0;
		webmesh__v1__join_request__free_unpacked(j, NULL);
		if (!same) {
			snprintf(why, whylen, "malformed request");
			return WM_GRPC_INVALID_ARGUMENT;
		}
	}
	if (p->kind == R_JOIN && f.f5 && !wm_gate_allowed(store, id, "put", "voters", name)) {
		snprintf(why, whylen,
			 "%.64s may not join as a voter (not bound to the voters role)", who);
		return WM_GRPC_PERMISSION_DENIED;
	}
	if (p->kind == R_JOIN && f.f6 && !wm_gate_allowed(store, id, "put", "observers", name) &&
	    !wm_gate_allowed(store, id, "put", "voters", name)) {
		snprintf(why, whylen, "%.64s may not join as an observer", who);
		return WM_GRPC_PERMISSION_DENIED;
	}
	return 0;
}

int wm_gate_authorize(struct wm_store *store, const char *path, const struct wm_identity *id,
		      const uint8_t *req, size_t len, char *why, size_t whylen)
{
	if (whylen)
		why[0] = '\0';
	return authorize(store, policy_of(path), id, req, len, why, whylen);
}

static void dispatch(struct pending *pd, const struct wm_identity *caller)
{
	struct gated *gm = pd->gm;
	struct wm_identity eff = *caller;
	char why[200] = "";
	int st;

	if (pd->has_proxied) {
		/* Only a server node may speak for someone else: servers hold the
		 * replicated state and are trusted with it already. */
		struct wm_store *store =
			gm->g->cfg.store ? gm->g->cfg.store(gm->g->cfg.data) : NULL;
		if (!caller->local && !caller->anonymous && !is_server(store, caller->id)) {
			wm_info("refused %s from %s: %s set by a non-server", gm->path,
				wm_rpc_call_peer(pd->call), WM_HDR_PROXIED_FOR);
			wm_rpc_call_finish(pd->call, WM_GRPC_PERMISSION_DENIED,
					   "only server nodes may forward calls for others");
			return;
		}
		memset(&eff, 0, sizeof(eff));
		if (strcmp(pd->proxied_for, WM_PROXIED_LOCAL) == 0) {
			eff.local = true;
			snprintf(eff.method, sizeof(eff.method), "local");
		} else if (wm_rbac_name_check(pd->proxied_for, NULL) == 0) {
			snprintf(eff.id, sizeof(eff.id), "%s", pd->proxied_for);
			eff.kind = WM_ID_ANY;
			snprintf(eff.method, sizeof(eff.method), "proxied");
		} else {
			wm_rpc_call_finish(pd->call, WM_GRPC_INVALID_ARGUMENT,
					   "invalid " WM_HDR_PROXIED_FOR);
			return;
		}
	}
	struct wm_store *store = gm->g->cfg.store ? gm->g->cfg.store(gm->g->cfg.data) : NULL;
	st = authorize(store, gm->p, &eff, pd->req, pd->len, why, sizeof(why));
	if (st) {
		wm_info("refused %s from %s (%s %s): %s", gm->path, wm_rpc_call_peer(pd->call),
			eff.method, eff.id, why);
		wm_rpc_call_finish(pd->call, st, why);
		return;
	}
	current = &eff;
	gm->m.handler(pd->call, pd->req, pd->len, gm->m.data);
	current = NULL;
}

static void pending_free(struct pending *pd)
{
	free(pd->req);
	free(pd);
}

static void auth_done_cb(void *data, int err, const struct wm_identity *id, const char *why)
{
	struct pending *pd = data;

	if (err) {
		/* The reason goes to the log only: it may say which users exist. */
		wm_info("unauthenticated %s from %s: %s", pd->gm->path, wm_rpc_call_peer(pd->call),
			why ? why : "");
		wm_rpc_call_finish(pd->call,
				   err == -EACCES ? WM_GRPC_UNAUTHENTICATED : WM_GRPC_UNAVAILABLE,
				   err == -EACCES ? "authentication failed"
						  : "authentication is unavailable right now");
	} else {
		dispatch(pd, id);
	}
	pending_free(pd);
}

static void gate_handler(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct gated *gm = data;
	struct pending *pd = calloc(1, sizeof(*pd));
	struct wm_auth_request ar;
	const char *pf;
	int r;

	if (!pd || !(pd->req = malloc(len ? len : 1))) {
		free(pd);
		wm_rpc_call_finish(call, WM_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	memcpy(pd->req, req, len);
	pd->len = len;
	pd->gm = gm;
	pd->call = call;
	pf = wm_rpc_call_metadata(call, WM_HDR_PROXIED_FOR);
	if (pf) {
		pd->has_proxied = true;
		snprintf(pd->proxied_for, sizeof(pd->proxied_for), "%s", pf);
	}
	wm_auth_request_from_call(call, &ar);
	if (!gm->g->cfg.auth || wm_auth_is_open(gm->g->cfg.auth) || ar.local) {
		/* Nothing to wait for: answer in this turn. */
		struct wm_identity id;
		memset(&id, 0, sizeof(id));
		id.kind = WM_ID_ANY;
		id.local = ar.local;
		id.anonymous = !ar.local;
		snprintf(id.method, sizeof(id.method), "%s", ar.local ? "local" : "anonymous");
		dispatch(pd, &id);
		pending_free(pd);
		return;
	}
	r = wm_auth_authenticate(gm->g->cfg.auth, &ar, auth_done_cb, pd);
	if (r < 0) {
		pending_free(pd);
		wm_rpc_call_finish(call, WM_GRPC_UNAVAILABLE,
				   r == -EBUSY ? "too many calls waiting for authentication"
					       : "cannot authenticate right now");
	}
}

int wm_gate_register(struct wm_gate *g, struct wm_rpc_server *srv, const struct wm_rpc_method *m)
{
	struct gated *gm = calloc(1, sizeof(*gm));
	if (!gm || !(gm->path = strdup(m->path))) {
		free(gm);
		return -ENOMEM;
	}
	gm->g = g;
	gm->m = *m;
	gm->m.path = gm->path;
	gm->p = policy_of(m->path);
	struct wm_rpc_method w = *m;
	w.handler = gate_handler;
	w.data = gm;
	int r = wm_rpc_server_register(srv, &w);
	if (r < 0) {
		free(gm->path);
		free(gm);
		return r;
	}
	gm->next = g->methods;
	g->methods = gm;
	return 0;
}
