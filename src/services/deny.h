/* Nodes an administrator removed are refused until allowed again (issue 10):
 * the gate's check, the removal hook of Leave, and Admin/AllowNode. */
#ifndef WM_SERVICES_DENY_H
#define WM_SERVICES_DENY_H

#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "rpc/rpc.h"
#include "store/store.h"

struct wm_services;

/* 0 when the call may go on; else the gRPC status with the reason in why:
 * UNAUTHENTICATED when the caller's own node credentials (mTLS, key, or a
 * server forwarding for it) name a denied node, PERMISSION_DENIED for a Join
 * naming one. No store (a plain member): 0, the leader's state machine
 * refuses such a Join anyway. */
int wm_deny_check(struct wm_store *store, const char *path, const struct wm_identity *id,
		  const uint8_t *req, size_t len, char *why, size_t whylen);

/* Leave of node_id by caller (the gate's identity) on the server that applies
 * it: when an administrator removes another node (not the node's own leave,
 * not an anonymous caller of an open mesh), records it as denied first.
 * Returns 0 or the error of wm_store_apply. */
int wm_deny_on_leave(struct wm_services *s, const struct wm_identity *caller, const char *node_id);

/* Admin/AllowNode: forgets a denied node (RBAC: delete nodes NODE). */
void wm_admin_allow_node(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);

#endif
