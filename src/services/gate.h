/* The authorization gate in front of every API method: authenticate the
 * caller (src/auth), check its node proof (core/nodeproof.h), honour
 * forwarding metadata from proven servers only, check the method's RBAC rule
 * against the store, then hand the call to the method's handler.
 *
 * The effective identity of a call: the credential chain names a principal
 * (a user for mTLS, htpasswd and LDAP; a node for key auth); a valid node
 * proof for node N makes the caller node:N, provided the credential names N
 * too (in an open mesh the proof alone does). A proven server is node:N by a
 * node proof with N a current voter or observer in this replica: only its
 * x-webmesh-proxied-for ("node:ID", "user:ID", or "@anonymous" into an open
 * mesh) and x-webmesh-proxied-from (its own ID) are honoured; anyone else's
 * are refused with PERMISSION_DENIED. "@local" never crosses the network.
 *
 * Hook (one call): register methods with wm_gate_register(gate, srv, &m)
 * instead of wm_rpc_server_register(srv, &m).
 *
 * Policy per method (its row in services/methods.c): reads of the mesh and status
 * need an authenticated caller; Join/Leave/SubscribePeers need the caller to
 * be the node itself (or put/delete/get nodes NAME), Join as voter also
 * "put voters ID" and as observer "put observers ID"; Admin writes need
 * put/delete on their resource and name, Admin lists get on the resource;
 * Signaling (SendSignal, ReceiveSignals, GetTurnCredentials) only for the
 * node named in field 1 itself, with no RBAC override;
 * unknown methods only pass a role with verb "*" (mesh-admin). The local
 * socket is the local administrator; an open mesh (no authenticator) lets
 * everyone through.
 */
#ifndef WM_SERVICES_GATE_H
#define WM_SERVICES_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "rpc/rpc.h"
#include "store/store.h"

#define WM_HDR_PROXIED_FOR "x-webmesh-proxied-for"
#define WM_HDR_PROXIED_FROM "x-webmesh-proxied-from"
/* Refused from the network: a server forwards its local socket's calls as itself. */
#define WM_PROXIED_LOCAL "@local"
/* proxied-for of an anonymous caller: honoured only by an open mesh's servers */
#define WM_PROXIED_ANONYMOUS "@anonymous"

struct wm_gate;

struct wm_gate_config {
	uv_loop_t *loop;
	struct wm_auth *auth; /* borrowed; NULL or empty = open mesh */
	/* The store to evaluate RBAC against, asked anew for every call (NULL
	 * on plain members: only local and authenticated-only methods pass). */
	struct wm_store *(*store)(void *data);
	void *data;
	/* This server's node ID and WireGuard private key (32 bytes, borrowed:
	 * the daemon holds the only copy) to check node proofs with; without
	 * them, or without a store, node proofs are not checked (the caller is
	 * who its credentials say) and forwarding metadata is refused. */
	const char *node_id;
	const uint8_t *wg_private_key;
	uint32_t skew; /* node proof clock skew in seconds (key-auth-skew-seconds) */
};

int wm_gate_new(const struct wm_gate_config *cfg, struct wm_gate **out);
/* Registers m on srv behind the gate (the method is copied). */
int wm_gate_register(struct wm_gate *g, struct wm_rpc_server *srv, const struct wm_rpc_method *m);
/* Frees the gate after the rpc servers that use it are freed. */
void wm_gate_free(struct wm_gate *g);

/* The effective caller of a call that passed the gate (valid as long as the
 * call), or NULL for a call that did not come through a gate. */
const struct wm_identity *wm_gate_caller(const struct wm_rpc_call *call);
/* The x-webmesh-proxied-for value a server sends to forward a call of who
 * (self_id: this server): "node:ID"/"user:ID", the local socket as
 * "node:<self_id>", an anonymous caller as "@anonymous". -EINVAL when who
 * cannot be forwarded (an empty authenticated identity). */
int wm_gate_proxied_for(const struct wm_identity *who, const char *self_id, char *out, size_t len);
/* May id do verb on resource [name]? Local and anonymous identities may do
 * everything; others per RBAC in store (NULL store: no). */
bool wm_gate_allowed(struct wm_store *store, const struct wm_identity *id, const char *verb,
		     const char *resource, const char *name);

/* The decision of the gate for a caller id (after proxied-for is resolved)
 * calling path with the request req: 0 when allowed, else the gRPC status
 * (PERMISSION_DENIED, INVALID_ARGUMENT) with the reason in why. store: the
 * RBAC state (NULL: nothing granted by RBAC). A Join of a node registered in
 * store needs that node principal itself (node proof or key auth), not a user
 * of the same name, even in an open mesh. Pure apart from reading store;
 * exposed for unit tests. */
int wm_gate_authorize(struct wm_store *store, const char *path, const struct wm_identity *id,
		      const uint8_t *req, size_t len, char *why, size_t whylen);

/* The effective identity after a valid node proof for node_id: eff (what the
 * credentials say) becomes node:node_id, proven, when it names node_id or is
 * anonymous (an open mesh); else PERMISSION_DENIED with why. */
int wm_gate_node_identity(struct wm_identity *eff, const char *node_id, char *why, size_t whylen);
/* Forwarding metadata (pf: proxied-for, from: proxied-from, NULL when
 * absent) sent by eff: honoured only from the local socket or a proven
 * server (eff->proven and a voter or observer in store), from naming that
 * server; then eff becomes whom pf names (open: this node's mesh is open, the
 * only place "@anonymous" is taken). 0, or the gRPC status with why naming
 * the header. Exposed for unit tests. */
int wm_gate_resolve(struct wm_store *store, bool open, const char *pf, const char *from,
		    struct wm_identity *eff, char *why, size_t whylen);

/* The fields the policy reads from a request, without a full decode: the
 * string of field 1 (the object's name or node ID) and the bools of fields
 * 5 and 6 (JoinRequest.as_voter, as_observer). -EBADMSG for a message that
 * is not valid protobuf wire format. Exposed for the fuzzer. The bools are a
 * hint only (a packed encoding is not read): Join's are taken from the real
 * decoder. */
struct wm_gate_fields {
	char name[256];
	bool has_name;
	bool f5, f6;
};
int wm_gate_scan(const uint8_t *msg, size_t len, struct wm_gate_fields *out);

#endif
