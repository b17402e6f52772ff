/* The authorization gate in front of every API method: authenticate the
 * caller (src/auth), honour x-webmesh-proxied-for from server nodes only,
 * check the method's RBAC rule against the store, then hand the call to the
 * method's handler.
 *
 * Hook (one call): register methods with wm_gate_register(gate, srv, &m)
 * instead of wm_rpc_server_register(srv, &m).
 *
 * Policy per method (policies in gate.c): reads of the mesh and status
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
#define WM_PROXIED_LOCAL "@local" /* proxied-for value: the forwarding server's local admin */

struct wm_gate;

struct wm_gate_config {
	uv_loop_t *loop;
	struct wm_auth *auth; /* borrowed; NULL or empty = open mesh */
	/* The store to evaluate RBAC against, asked anew for every call (NULL
	 * on plain members: only local and authenticated-only methods pass). */
	struct wm_store *(*store)(void *data);
	void *data;
};

int wm_gate_new(const struct wm_gate_config *cfg, struct wm_gate **out);
/* Registers m on srv behind the gate (the method is copied). */
int wm_gate_register(struct wm_gate *g, struct wm_rpc_server *srv, const struct wm_rpc_method *m);
/* Frees the gate after the rpc servers that use it are freed. */
void wm_gate_free(struct wm_gate *g);

/* The caller of the call whose handler runs right now (NULL outside a
 * handler's synchronous part): handlers that need it copy it. */
const struct wm_identity *wm_gate_caller(void);
/* May id do verb on resource [name]? Local and anonymous identities may do
 * everything; others per RBAC in store (NULL store: no). */
bool wm_gate_allowed(struct wm_store *store, const struct wm_identity *id, const char *verb,
		     const char *resource, const char *name);

/* The decision of the gate for a caller id (after proxied-for is resolved)
 * calling path with the request req: 0 when allowed, else the gRPC status
 * (PERMISSION_DENIED, INVALID_ARGUMENT) with the reason in why. store: the
 * RBAC state (NULL: nothing granted by RBAC). Pure apart from reading store;
 * exposed for unit tests. */
int wm_gate_authorize(struct wm_store *store, const char *path, const struct wm_identity *id,
		      const uint8_t *req, size_t len, char *why, size_t whylen);

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
