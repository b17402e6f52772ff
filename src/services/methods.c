/* The API's method table (see methods.h): the one place a method's path,
 * handler and authorization policy are written. */
#include "services/methods.h"

#include <string.h>

#include "services/admin.h"
#include "services/admin_rbac.h"
#include "services/deny.h"
#include "services/services_int.h"
#include "services/signaling.h"

const struct wm_method_def wm_methods[] = {
	{WM_METHOD_MEMBERSHIP_JOIN, wm_membership_join, false, false, WM_POLICY_JOIN, "put",
	 "nodes"},
	{WM_METHOD_MEMBERSHIP_LEAVE, wm_membership_leave, false, false, WM_POLICY_SELF, "delete",
	 "nodes"},
	{WM_METHOD_MEMBERSHIP_SUBSCRIBE_PEERS, wm_subscriptions_subscribe, true, false,
	 WM_POLICY_SELF, "get", "nodes"},
	/* Liveness is about oneself: a node that could heartbeat for another
	 * would keep a dead node in the mesh forever. */
	{WM_METHOD_MEMBERSHIP_HEARTBEAT, wm_membership_heartbeat, false, false, WM_POLICY_SELF_ONLY,
	 NULL, NULL},
	{WM_METHOD_MESH_GET_NODE, wm_mesh_get_node, false, false, WM_POLICY_MESH_READ, "get",
	 "nodes", true},
	{WM_METHOD_MESH_LIST_NODES, wm_mesh_list_nodes, false, false, WM_POLICY_MESH_READ, "get",
	 "nodes", true},
	{WM_METHOD_MESH_GET_MESH_GRAPH, wm_mesh_get_graph, false, false, WM_POLICY_MESH_READ, "get",
	 "edges", true},
	{WM_METHOD_NODE_GET_STATUS, wm_node_get_status, false, false, WM_POLICY_MESH_READ, "get",
	 "nodes"},
	/* GetStatus repeated: whoever may read it once may watch it. */
	{WM_METHOD_NODE_SUBSCRIBE_STATUS, wm_node_subscribe_status, true, false,
	 WM_POLICY_MESH_READ, "get", "nodes"},
	{WM_METHOD_NODE_GET_BOOTSTRAP_INFO, wm_node_get_bootstrap_info, false, false,
	 WM_POLICY_AUTHENTICATED, NULL, NULL},
	{WM_METHOD_NODE_LEAVE_MESH, wm_node_leave_mesh, false, true, WM_POLICY_LOCAL, NULL, NULL},
	/* Probes from this host: a remote caller could aim them elsewhere. */
	{WM_METHOD_NODE_PING, wm_node_ping, true, true, WM_POLICY_LOCAL, NULL, NULL},
	{WM_METHOD_NODE_NET_CHECK, wm_node_netcheck, false, true, WM_POLICY_LOCAL, NULL, NULL},
	/* a console session is this host's user's: tokens only to the local socket */
	{WM_METHOD_NODE_CONSOLE_TOKEN, wm_node_console_token, false, true, WM_POLICY_LOCAL, NULL,
	 NULL},
	{WM_METHOD_ADMIN_PUT_EDGE, wm_admin_put_edge, false, false, WM_POLICY_RBAC, "put", "edges"},
	{WM_METHOD_ADMIN_DELETE_EDGE, wm_admin_delete_edge, false, false, WM_POLICY_RBAC, "delete",
	 "edges"},
	{WM_METHOD_ADMIN_LIST_EDGES, wm_admin_list_edges, false, false, WM_POLICY_RBAC, "get",
	 "edges"},
	{WM_METHOD_ADMIN_PUT_ROUTE, wm_admin_put_route, false, false, WM_POLICY_RBAC_NAME, "put",
	 "routes"},
	{WM_METHOD_ADMIN_DELETE_ROUTE, wm_admin_delete_route, false, false, WM_POLICY_RBAC_NAME,
	 "delete", "routes"},
	{WM_METHOD_ADMIN_LIST_ROUTES, wm_admin_list_routes, false, false, WM_POLICY_RBAC, "get",
	 "routes"},
	{WM_METHOD_ADMIN_PUT_ROLE, wm_admin_put_role, false, false, WM_POLICY_RBAC_NAME, "put",
	 "roles"},
	{WM_METHOD_ADMIN_DELETE_ROLE, wm_admin_delete_role, false, false, WM_POLICY_RBAC_NAME,
	 "delete", "roles"},
	{WM_METHOD_ADMIN_LIST_ROLES, wm_admin_list_roles, false, false, WM_POLICY_RBAC, "get",
	 "roles"},
	{WM_METHOD_ADMIN_PUT_ROLE_BINDING, wm_admin_put_role_binding, false, false,
	 WM_POLICY_RBAC_NAME, "put", "rolebindings"},
	{WM_METHOD_ADMIN_DELETE_ROLE_BINDING, wm_admin_delete_role_binding, false, false,
	 WM_POLICY_RBAC_NAME, "delete", "rolebindings"},
	{WM_METHOD_ADMIN_LIST_ROLE_BINDINGS, wm_admin_list_role_bindings, false, false,
	 WM_POLICY_RBAC, "get", "rolebindings"},
	{WM_METHOD_ADMIN_PUT_GROUP, wm_admin_put_group, false, false, WM_POLICY_RBAC_NAME, "put",
	 "groups"},
	{WM_METHOD_ADMIN_DELETE_GROUP, wm_admin_delete_group, false, false, WM_POLICY_RBAC_NAME,
	 "delete", "groups"},
	{WM_METHOD_ADMIN_LIST_GROUPS, wm_admin_list_groups, false, false, WM_POLICY_RBAC, "get",
	 "groups"},
	{WM_METHOD_ADMIN_PUT_NETWORK_ACL, wm_admin_put_network_acl, false, false,
	 WM_POLICY_RBAC_NAME, "put", "networkacls"},
	{WM_METHOD_ADMIN_DELETE_NETWORK_ACL, wm_admin_delete_network_acl, false, false,
	 WM_POLICY_RBAC_NAME, "delete", "networkacls"},
	/* Every node enforces the ACLs, so every node may read them. */
	{WM_METHOD_ADMIN_LIST_NETWORK_ACLS, wm_admin_list_network_acls, false, false,
	 WM_POLICY_MESH_READ, "get", "networkacls", true},
	/* The handler checks "get rolebindings" when asking for someone else. */
	{WM_METHOD_ADMIN_CAN_I, wm_admin_can_i, false, false, WM_POLICY_AUTHENTICATED, NULL, NULL},
	/* Re-admitting a removed node is removing it undone (issue 10). */
	{WM_METHOD_ADMIN_ALLOW_NODE, wm_admin_allow_node, false, false, WM_POLICY_RBAC_NAME,
	 "delete", "nodes"},
	/* MeshDNS user records: one resource, like edges (a record's name is
	 * canonicalised against the mesh domain by the FSM, so per-name rules
	 * would match the text the caller typed, not the name stored). */
	{WM_METHOD_ADMIN_PUT_DNS_RECORD, wm_admin_put_dns_record, false, false, WM_POLICY_RBAC,
	 "put", "dns-records"},
	{WM_METHOD_ADMIN_DELETE_DNS_RECORD, wm_admin_delete_dns_record, false, false,
	 WM_POLICY_RBAC, "delete", "dns-records"},
	{WM_METHOD_ADMIN_LIST_DNS_RECORDS, wm_admin_list_dns_records, false, false, WM_POLICY_RBAC,
	 "get", "dns-records"},
	/* A node signals and takes TURN credentials as itself only, with no
	 * RBAC way around it: a second ReceiveSignals stream for a node
	 * replaces the first, so reading another node's signals would also
	 * cut that node off from ICE. */
	{WM_METHOD_SIGNALING_SEND_SIGNAL, wm_signaling_send, false, false, WM_POLICY_SELF_ONLY,
	 NULL, NULL},
	{WM_METHOD_SIGNALING_RECEIVE_SIGNALS, wm_signaling_receive, true, false,
	 WM_POLICY_SELF_ONLY, NULL, NULL},
	{WM_METHOD_SIGNALING_GET_TURN_CREDENTIALS, wm_signaling_turn_credentials, false, false,
	 WM_POLICY_SELF_ONLY, NULL, NULL},
};

const size_t wm_n_methods = sizeof(wm_methods) / sizeof(wm_methods[0]);

const struct wm_method_def *wm_method_find(const char *path)
{
	for (size_t i = 0; path && i < wm_n_methods; i++)
		if (strcmp(wm_methods[i].path, path) == 0)
			return &wm_methods[i];
	return NULL;
}
