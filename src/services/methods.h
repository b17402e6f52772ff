/* The API's methods, one row each: path, handler, and the authorization
 * policy the gate applies (services.c registers the rows, gate.c looks the
 * policy up by path). Callers name a method by its WM_METHOD_* constant
 * (services/paths.h). */
#ifndef WM_SERVICES_METHODS_H
#define WM_SERVICES_METHODS_H

#include <stdbool.h>
#include <stddef.h>

#include "rpc/rpc.h"
#include "services/paths.h"

/* Who may call a method (the gate's rule kinds). Local-socket callers and, but
 * for Join, the callers of an open mesh pass every policy. */
enum wm_method_policy {
	WM_POLICY_AUTHENTICATED, /* any authenticated caller */
	WM_POLICY_SELF,		 /* the node named in field 1, or verb/resource on it */
	WM_POLICY_RBAC_NAME,	 /* verb/resource with field 1 as the name */
	WM_POLICY_RBAC,		 /* verb/resource, no name */
	WM_POLICY_JOIN,		 /* SELF (put nodes) plus voters/observers and routes */
	WM_POLICY_SELF_ONLY,	 /* the node named in field 1, and nobody else */
	WM_POLICY_LOCAL,	 /* the local socket only (registered nowhere else) */
	/* reads of the mesh: a node of the mesh (proven, or calling under its
	 * own registered node ID: members read the mesh they are in), else
	 * verb/resource by RBAC (a user, e.g. the web console's) */
	WM_POLICY_MESH_READ,
};

struct wm_method_def {
	const char *path; /* a WM_METHOD_* constant */
	wm_rpc_handler_cb handler;
	bool streaming;	 /* server streaming */
	bool local_only; /* registered on the local socket only */
	enum wm_method_policy policy;
	const char *verb, *resource; /* the RBAC rule of RBAC, RBAC_NAME, SELF, JOIN */
	/* The answer is the same for every authenticated caller: a member
	 * without a replica may pass the call on under its own name. */
	bool caller_free;
};

extern const struct wm_method_def wm_methods[];
extern const size_t wm_n_methods;

/* The row of path, or NULL for a path of no method. */
const struct wm_method_def *wm_method_find(const char *path);

#endif
