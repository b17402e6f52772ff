/* Nodes an administrator removed, refused until an administrator allows
 * them again (issue 10). */
#include "services/deny.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/denied.h"
#include "core/error.h"
#include "core/ids.h"
#include "services/admin.h"
#include "services/gate.h"
#include "services/services_int.h"
#include "store/authz.h"
#include "util/log.h"
#include "webmesh/v1/admin.pb-c.h"
#include "services/paths.h"

/* Credentials that prove a node (or a server speaking for one): the ones a
 * removed node would come back with. A basic-auth or LDAP user of the same
 * name is no node. */
static bool node_credentials(const struct wm_identity *id)
{
	return !id->local && !id->anonymous && id->id[0] &&
	       (id->kind == WM_ID_NODE || strcmp(id->method, "mtls") == 0 ||
		strcmp(id->method, "key") == 0 || strcmp(id->method, "proxied") == 0);
}

int wm_deny_check(struct wm_store *store, const char *path, const struct wm_identity *id,
		  const uint8_t *req, size_t len, char *why, size_t whylen)
{
	struct wm_gate_fields f = {0};
	bool creds = node_credentials(id);
	bool join = strcmp(path, WM_METHOD_MEMBERSHIP_JOIN) == 0 &&
		    wm_gate_scan(req, len, &f) == 0 && f.has_name;
	if (!store || (!creds && !join))
		return 0;
	struct wm_authz_snapshot snap;
	if (wm_store_authz_load(store, &snap) < 0)
		return 0; /* the RBAC check that follows fails closed on the same read */
	int st = 0;
	if (creds && wm_authz_denied(&snap, id->id)) {
		wm_denied_reason(id->id, why, whylen);
		st = WM_GRPC_UNAUTHENTICATED;
	} else if (join && wm_authz_denied(&snap, f.name)) {
		wm_denied_reason(f.name, why, whylen);
		st = WM_GRPC_PERMISSION_DENIED;
	}
	wm_authz_snapshot_free(&snap);
	return st;
}

static void denied_cb(void *data, const struct wm_store_result *res)
{
	(void)data;
	if (res->err)
		wm_warn("cannot record the removed node as denied: %s",
			res->message[0] ? res->message : wm_strerror(res->err));
}

int wm_deny_on_leave(struct wm_services *s, const struct wm_identity *caller, const char *node_id)
{
	if (!caller || caller->anonymous)
		return 0;
	bool self =
		caller->local ? strcmp(node_id, s->node_id) == 0 : strcmp(caller->id, node_id) == 0;
	struct wm_mesh_node n;
	if (self || wm_store_get_node(s->cfg.store, node_id, &n) < 0)
		return 0; /* no such node: the removal itself says so */
	Webmesh__V1__DenyNodeCommand dc = WEBMESH__V1__DENY_NODE_COMMAND__INIT;
	dc.node_id = (char *)node_id;
	dc.by = (char *)(caller->local ? "@local" : caller->id);
	dc.denied_at = (int64_t)time(NULL);
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DENY_NODE;
	cmd.deny_node = &dc;
	/* Applied before the removal (the log keeps the order): the node is
	 * never out of the mesh without being denied. */
	int err = wm_store_apply(s->cfg.store, &cmd, denied_cb, NULL);
	if (!err)
		wm_info("node %s is removed by %s and denied until allowed again", node_id, dc.by);
	return err;
}

void wm_admin_allow_node(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	Webmesh__V1__AllowNodeRequest *r = webmesh__v1__allow_node_request__unpack(NULL, len, req);
	const char *reason = NULL;
	char why[160];
	if (!r) {
		wm_services_fail(call, -EINVAL, "malformed AllowNodeRequest");
		return;
	}
	if (wm_node_id_check(r->node_id, &reason) < 0) {
		snprintf(why, sizeof(why), "invalid node ID \"%.64s\": %s", r->node_id, reason);
		webmesh__v1__allow_node_request__free_unpacked(r, NULL);
		wm_services_fail(call, -EINVAL, why);
		return;
	}
	Webmesh__V1__AllowNodeCommand ac = WEBMESH__V1__ALLOW_NODE_COMMAND__INIT;
	ac.node_id = r->node_id;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_ALLOW_NODE;
	cmd.allow_node = &ac;
	wm_info("allowing node %s to join again", r->node_id);
	wm_admin_apply(s, call, req, len, &cmd);
	webmesh__v1__allow_node_request__free_unpacked(r, NULL);
}
