/* The authorization gate: authenticate, resolve proxied callers, check RBAC,
 * then run the method's handler. */
#include "services/gate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/ids.h"
#include "core/key.h"
#include "core/nodeproof.h"
#include "services/deny.h"
#include "services/methods.h"
#include "services/routerights.h"
#include "store/authz.h"
#include "util/log.h"
#include "webmesh/v1/mesh.pb-c.h"

/* Unknown methods: only a wildcard verb passes (mesh-admin). */
static const struct wm_method_def fallback = {
	.path = NULL, .policy = WM_POLICY_RBAC, .verb = "call", .resource = "methods"};

struct gated {
	struct wm_gate *g;
	struct wm_rpc_method m;
	char *path;
	const struct wm_method_def *p;
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
};

const struct wm_identity *wm_gate_caller(const struct wm_rpc_call *call)
{
	return call ? wm_rpc_call_user(call) : NULL;
}

int wm_gate_proxied_for(const struct wm_identity *who, const char *self_id, char *out, size_t len)
{
	int n;

	if (who->local)
		n = snprintf(out, len, "node:%s", self_id);
	else if (who->id[0])
		n = snprintf(out, len, "%s:%s", who->kind == WM_ID_NODE ? "node" : "user", who->id);
	else if (who->anonymous)
		n = snprintf(out, len, "%s", WM_PROXIED_ANONYMOUS);
	else
		return -EINVAL;
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
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

/* The method table's row of path (services/methods.c): the one place a
 * method's policy is written. */
static const struct wm_method_def *policy_of(const char *path)
{
	const struct wm_method_def *m = wm_method_find(path);
	return m ? m : &fallback;
}

/* 0 when allowed; else the gRPC status with why. */
static int authorize(struct wm_store *store, const struct wm_method_def *p,
		     const struct wm_identity *id, const uint8_t *req, size_t len, char *why,
		     size_t whylen)
{
	struct wm_gate_fields f;
	const char *who = id->id[0] ? id->id : id->method;

	if (id->local)
		return 0;
	if (p->policy == WM_POLICY_LOCAL) {
		snprintf(why, whylen, "%.64s may be called on the local socket only", p->path);
		return WM_GRPC_PERMISSION_DENIED;
	}
	if (id->anonymous && p->policy != WM_POLICY_JOIN)
		return 0;
	if (p->policy == WM_POLICY_AUTHENTICATED)
		return 0;
	if (p->policy == WM_POLICY_MESH_READ) {
		struct wm_mesh_node n;
		if ((id->kind == WM_ID_NODE && id->proven) ||
		    (id->id[0] && store && wm_store_get_node(store, id->id, &n) == 0) ||
		    wm_gate_allowed(store, id, p->verb, p->resource, NULL))
			return 0;
		snprintf(why, whylen, "%.64s may not %s %s", who, p->verb, p->resource);
		return WM_GRPC_PERMISSION_DENIED;
	}
	if (p->policy != WM_POLICY_RBAC && wm_gate_scan(req, len, &f) < 0) {
		snprintf(why, whylen, "malformed request");
		return WM_GRPC_INVALID_ARGUMENT;
	}
	if (p->policy == WM_POLICY_RBAC) {
		if (wm_gate_allowed(store, id, p->verb, p->resource, NULL))
			return 0;
		snprintf(why, whylen, "%.64s may not %s %s", who, p->verb, p->resource);
		return WM_GRPC_PERMISSION_DENIED;
	}
	size_t n_routes = 0;
	const char *name = f.has_name ? f.name : "";
	bool self = f.has_name && id->id[0] && strcmp(name, id->id) == 0;
	if (p->policy == WM_POLICY_SELF_ONLY) {
		if (self)
			return 0;
		snprintf(why, whylen, "%.64s may act only as itself, not as %.64s", who,
			 f.has_name ? name : "(no node ID)");
		return WM_GRPC_PERMISSION_DENIED;
	}
	if (p->policy == WM_POLICY_RBAC_NAME || !self) {
		if (!wm_gate_allowed(store, id, p->verb, p->resource, name)) {
			snprintf(why, whylen, "%.64s may not %s %s %.64s", who, p->verb,
				 p->resource, name);
			return WM_GRPC_PERMISSION_DENIED;
		}
	}
	if (p->policy == WM_POLICY_JOIN) {
		/* The real decoder decides what the handler will see: protobuf
		 * accepts encodings of a bool (packed, repeated) a scanner can miss. */
		Webmesh__V1__JoinRequest *j = webmesh__v1__join_request__unpack(NULL, len, req);
		if (!j) {
			snprintf(why, whylen, "malformed request");
			return WM_GRPC_INVALID_ARGUMENT;
		}
		f.f5 = j->as_voter;
		f.f6 = j->as_observer;
		n_routes = j->n_routes;
		bool same = strcmp(j->id, name) == 0;
		webmesh__v1__join_request__free_unpacked(j, NULL);
		if (!same) {
			snprintf(why, whylen, "malformed request");
			return WM_GRPC_INVALID_ARGUMENT;
		}
		/* A registered node's key is in the mesh: only that node (by its
		 * node proof, or key auth) may join as it again, else a user of
		 * the same name could re-join it with a key of its own. */
		struct wm_mesh_node n;
		if (store && wm_store_get_node(store, name, &n) == 0 &&
		    (id->kind != WM_ID_NODE || strcmp(id->id, name) != 0)) {
			snprintf(why, whylen,
				 "node %.64s is registered: joining as it again needs its node "
				 "proof",
				 name);
			return WM_GRPC_PERMISSION_DENIED;
		}
		if (id->anonymous)
			return 0;
	}
	if (p->policy == WM_POLICY_JOIN && f.f5 &&
	    !wm_gate_allowed(store, id, "put", "voters", name)) {
		snprintf(why, whylen,
			 "%.64s may not join as a voter (not bound to the voters role)", who);
		return WM_GRPC_PERMISSION_DENIED;
	}
	if (p->policy == WM_POLICY_JOIN && f.f6 &&
	    !wm_gate_allowed(store, id, "put", "observers", name) &&
	    !wm_gate_allowed(store, id, "put", "voters", name)) {
		snprintf(why, whylen, "%.64s may not join as an observer", who);
		return WM_GRPC_PERMISSION_DENIED;
	}
	if (p->policy == WM_POLICY_JOIN && n_routes)
		return wm_gate_join_routes(store, id, name, why, whylen);
	return 0;
}

int wm_gate_authorize(struct wm_store *store, const char *path, const struct wm_identity *id,
		      const uint8_t *req, size_t len, char *why, size_t whylen)
{
	if (whylen)
		why[0] = '\0';
	return authorize(store, policy_of(path), id, req, len, why, whylen);
}

static bool gate_open(const struct wm_gate *g)
{
	return !g->cfg.auth || wm_auth_is_open(g->cfg.auth);
}

/* The WireGuard key the caller of a proof for node id must hold: the one in
 * the replica, or for a Join of a node not registered yet the one the
 * JoinRequest asks to register (proof of possession). */
static int caller_key(struct wm_store *store, const char *path, const char *id, const uint8_t *req,
		      size_t len, wm_key out)
{
	struct wm_mesh_node n;
	int r = -ENOENT;

	if (wm_store_get_node(store, id, &n) == 0) {
		memcpy(out, n.public_key, sizeof(wm_key));
		return 0;
	}
	if (strcmp(path, WM_METHOD_MEMBERSHIP_JOIN) != 0)
		return -ENOENT;
	Webmesh__V1__JoinRequest *j = webmesh__v1__join_request__unpack(NULL, len, req);
	if (j && strcmp(j->id, id) == 0 && wm_key_from_base64(j->public_key, out) == 0)
		r = 0;
	if (j)
		webmesh__v1__join_request__free_unpacked(j, NULL);
	return r;
}

/* Checks the node proof headers, if any, and makes eff node:N when they hold.
 * 0, or the gRPC status with why. */
static int check_node_proof(struct wm_gate *g, struct wm_store *store, struct pending *pd,
			    struct wm_identity *eff, char *why, size_t whylen)
{
	struct wm_rpc_call *call = pd->call;
	const char *id = wm_rpc_call_metadata(call, WM_NODEPROOF_HDR_ID);
	const char *w = wm_rpc_call_metadata(call, WM_NODEPROOF_HDR_WINDOW);
	const char *proof = wm_rpc_call_metadata(call, WM_NODEPROOF_HDR_PROOF);
	const char *path = pd->gm->path;
	wm_key pub;
	char e[160] = "";

	/* The local socket is the administrator already; a node that holds no
	 * replica cannot look keys up: the caller stays what its credentials
	 * say, and a proof never lowers or raises that. */
	if ((!id && !w && !proof) || eff->local || !store || !g->cfg.wg_private_key ||
	    !g->cfg.node_id)
		return 0;
	if (!id || wm_node_id_check(id, NULL) < 0) {
		snprintf(why, whylen, "malformed node proof headers");
		return WM_GRPC_UNAUTHENTICATED;
	}
	/* A node the mesh no longer lists (removed while it was away) must
	 * still hear NOT_FOUND from its calls so that it joins again: its
	 * proof proves nothing here, and the caller stays what its
	 * credentials say. */
	if (caller_key(store, path, id, pd->req, pd->len, pub) < 0)
		return 0;
	int r = wm_node_proof_verify(g->cfg.wg_private_key, g->cfg.node_id, pub, id, w, proof, path,
				     (int64_t)time(NULL), g->cfg.skew ? g->cfg.skew : 30, e,
				     sizeof(e));
	wm_wipe(pub, sizeof(pub));
	if (r < 0) {
		snprintf(why, whylen, "%s", e);
		return r == -EIO ? WM_GRPC_UNAVAILABLE : WM_GRPC_UNAUTHENTICATED;
	}
	return wm_gate_node_identity(eff, id, why, whylen);
}

int wm_gate_node_identity(struct wm_identity *eff, const char *node_id, char *why, size_t whylen)
{
	/* The credential must name the same node: a proof does not turn one
	 * authenticated principal into another. */
	if (!eff->anonymous && strcmp(eff->id, node_id) != 0) {
		snprintf(why, whylen, "node proof for %.64s but credentials of %.64s", node_id,
			 eff->id[0] ? eff->id : eff->method);
		return WM_GRPC_PERMISSION_DENIED;
	}
	snprintf(eff->id, sizeof(eff->id), "%s", node_id);
	eff->kind = WM_ID_NODE;
	eff->proven = true;
	if (eff->anonymous)
		snprintf(eff->method, sizeof(eff->method), "node-proof");
	return 0;
}

int wm_gate_resolve(struct wm_store *store, bool open, const char *pf, const char *from,
		    struct wm_identity *eff, char *why, size_t whylen)
{
	const char *hdr = pf ? WM_HDR_PROXIED_FOR : WM_HDR_PROXIED_FROM;
	const char *name = NULL;
	enum wm_identity_kind kind = WM_ID_ANY;

	if (!pf && !from)
		return 0;
	if (eff->local) {
		/* The local administrator may act as anyone; it stays local for
		 * "@local" and for a bare hop marker. */
		if (!pf || strcmp(pf, WM_PROXIED_LOCAL) == 0)
			return 0;
	} else if (!eff->proven || !is_server(store, eff->id)) {
		snprintf(why, whylen,
			 "only proven servers may forward calls: %s needs the node proof of a "
			 "current voter or observer",
			 hdr);
		return WM_GRPC_PERMISSION_DENIED;
	} else if (from && strcmp(from, eff->id) != 0) {
		snprintf(why, whylen, "%s must name the forwarding server %.64s",
			 WM_HDR_PROXIED_FROM, eff->id);
		return WM_GRPC_PERMISSION_DENIED;
	}
	if (!pf)
		return 0; /* the server's own call, marked as one hop */
	if (strcmp(pf, WM_PROXIED_LOCAL) == 0) {
		snprintf(why, whylen, "%s: @local never crosses the network", WM_HDR_PROXIED_FOR);
		return WM_GRPC_PERMISSION_DENIED;
	}
	if (strcmp(pf, WM_PROXIED_ANONYMOUS) == 0) {
		if (!open) {
			snprintf(why, whylen,
				 "%s: anonymous callers are not forwarded into a mesh with "
				 "authentication",
				 WM_HDR_PROXIED_FOR);
			return WM_GRPC_PERMISSION_DENIED;
		}
		memset(eff, 0, sizeof(*eff));
		eff->kind = WM_ID_ANY;
		eff->anonymous = true;
		snprintf(eff->method, sizeof(eff->method), "anonymous");
		return 0;
	}
	if (strncmp(pf, "node:", 5) == 0 && wm_node_id_check(pf + 5, NULL) == 0) {
		name = pf + 5;
		kind = WM_ID_NODE;
	} else if (strncmp(pf, "user:", 5) == 0 && wm_rbac_name_check(pf + 5, NULL) == 0) {
		name = pf + 5;
		kind = WM_ID_USER;
	}
	if (!name) {
		snprintf(why, whylen, "invalid %s: want node:ID or user:ID", WM_HDR_PROXIED_FOR);
		return WM_GRPC_INVALID_ARGUMENT;
	}
	memset(eff, 0, sizeof(*eff));
	snprintf(eff->id, sizeof(eff->id), "%s", name);
	eff->kind = kind;
	snprintf(eff->method, sizeof(eff->method), "proxied");
	/* In an open mesh everyone may do everything: so may whom a server
	 * forwards, whatever its name. */
	eff->anonymous = open;
	return 0;
}

static void dispatch(struct pending *pd, const struct wm_identity *caller)
{
	struct gated *gm = pd->gm;
	struct wm_gate *g = gm->g;
	struct wm_store *store = g->cfg.store ? g->cfg.store(g->cfg.data) : NULL;
	struct wm_identity eff = *caller, *keep;
	char why[200] = "";
	int st;

	st = check_node_proof(g, store, pd, &eff, why, sizeof(why));
	if (!st)
		st = wm_gate_resolve(store, gate_open(g),
				     wm_rpc_call_metadata(pd->call, WM_HDR_PROXIED_FOR),
				     wm_rpc_call_metadata(pd->call, WM_HDR_PROXIED_FROM), &eff, why,
				     sizeof(why));
	if (!st)
		st = wm_deny_check(store, gm->path, &eff, pd->req, pd->len, why, sizeof(why));
	if (!st)
		st = authorize(store, gm->p, &eff, pd->req, pd->len, why, sizeof(why));
	if (st) {
		wm_info("refused %s from %s (%s %s): %s", gm->path, wm_rpc_call_peer(pd->call),
			eff.method, eff.id, why);
		wm_rpc_call_finish(pd->call, st, why);
		return;
	}
	/* The identity lives with the call: forwarding and streaming handlers
	 * read it after this turn. */
	keep = malloc(sizeof(*keep));
	if (!keep) {
		wm_rpc_call_finish(pd->call, WM_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	*keep = eff;
	wm_rpc_call_set_user(pd->call, keep, free);
	gm->m.handler(pd->call, pd->req, pd->len, gm->m.data);
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
	if (r == -EAGAIN || r == -EUSERS) {
		/* Limits before authentication: logged once per source, not per call. */
		const char *why = r == -EAGAIN ? WM_AUTH_WHY_BACKOFF : WM_AUTH_WHY_SOURCE_BUSY;
		pending_free(pd);
		if (wm_auth_log_due(gm->g->cfg.auth, wm_rpc_call_peer(call)))
			wm_warn("authentication limit hit by %s: %s (logged once a minute per "
				"source)",
				wm_rpc_call_peer(call), why);
		wm_rpc_call_finish(call, WM_GRPC_RESOURCE_EXHAUSTED, why);
		return;
	}
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
