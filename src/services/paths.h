/* The API's method paths: what callers (the daemon, wmctl) name a method
 * by. Each has one row in the method table (services/methods.h), which is
 * where its handler and authorization policy are written. No includes, so
 * that any program may use it. */
#ifndef WM_SERVICES_PATHS_H
#define WM_SERVICES_PATHS_H

/* webmesh.v1.Membership */
#define WM_METHOD_MEMBERSHIP_JOIN "/webmesh.v1.Membership/Join"
#define WM_METHOD_MEMBERSHIP_LEAVE "/webmesh.v1.Membership/Leave"
#define WM_METHOD_MEMBERSHIP_SUBSCRIBE_PEERS "/webmesh.v1.Membership/SubscribePeers"
#define WM_METHOD_MEMBERSHIP_HEARTBEAT "/webmesh.v1.Membership/Heartbeat"
/* webmesh.v1.Mesh */
#define WM_METHOD_MESH_GET_NODE "/webmesh.v1.Mesh/GetNode"
#define WM_METHOD_MESH_LIST_NODES "/webmesh.v1.Mesh/ListNodes"
#define WM_METHOD_MESH_GET_MESH_GRAPH "/webmesh.v1.Mesh/GetMeshGraph"
/* webmesh.v1.Node */
#define WM_METHOD_NODE_GET_STATUS "/webmesh.v1.Node/GetStatus"
#define WM_METHOD_NODE_SUBSCRIBE_STATUS "/webmesh.v1.Node/SubscribeStatus"
#define WM_METHOD_NODE_GET_BOOTSTRAP_INFO "/webmesh.v1.Node/GetBootstrapInfo"
#define WM_METHOD_NODE_LEAVE_MESH "/webmesh.v1.Node/LeaveMesh"
#define WM_METHOD_NODE_PING "/webmesh.v1.Node/Ping"
#define WM_METHOD_NODE_NET_CHECK "/webmesh.v1.Node/NetCheck"
#define WM_METHOD_NODE_CONSOLE_TOKEN "/webmesh.v1.Node/ConsoleToken"
/* webmesh.v1.Admin */
#define WM_METHOD_ADMIN_PUT_EDGE "/webmesh.v1.Admin/PutEdge"
#define WM_METHOD_ADMIN_DELETE_EDGE "/webmesh.v1.Admin/DeleteEdge"
#define WM_METHOD_ADMIN_LIST_EDGES "/webmesh.v1.Admin/ListEdges"
#define WM_METHOD_ADMIN_PUT_ROUTE "/webmesh.v1.Admin/PutRoute"
#define WM_METHOD_ADMIN_DELETE_ROUTE "/webmesh.v1.Admin/DeleteRoute"
#define WM_METHOD_ADMIN_LIST_ROUTES "/webmesh.v1.Admin/ListRoutes"
#define WM_METHOD_ADMIN_PUT_ROLE "/webmesh.v1.Admin/PutRole"
#define WM_METHOD_ADMIN_DELETE_ROLE "/webmesh.v1.Admin/DeleteRole"
#define WM_METHOD_ADMIN_LIST_ROLES "/webmesh.v1.Admin/ListRoles"
#define WM_METHOD_ADMIN_PUT_ROLE_BINDING "/webmesh.v1.Admin/PutRoleBinding"
#define WM_METHOD_ADMIN_DELETE_ROLE_BINDING "/webmesh.v1.Admin/DeleteRoleBinding"
#define WM_METHOD_ADMIN_LIST_ROLE_BINDINGS "/webmesh.v1.Admin/ListRoleBindings"
#define WM_METHOD_ADMIN_PUT_GROUP "/webmesh.v1.Admin/PutGroup"
#define WM_METHOD_ADMIN_DELETE_GROUP "/webmesh.v1.Admin/DeleteGroup"
#define WM_METHOD_ADMIN_LIST_GROUPS "/webmesh.v1.Admin/ListGroups"
#define WM_METHOD_ADMIN_PUT_NETWORK_ACL "/webmesh.v1.Admin/PutNetworkACL"
#define WM_METHOD_ADMIN_DELETE_NETWORK_ACL "/webmesh.v1.Admin/DeleteNetworkACL"
#define WM_METHOD_ADMIN_LIST_NETWORK_ACLS "/webmesh.v1.Admin/ListNetworkACLs"
#define WM_METHOD_ADMIN_CAN_I "/webmesh.v1.Admin/CanI"
#define WM_METHOD_ADMIN_ALLOW_NODE "/webmesh.v1.Admin/AllowNode"
#define WM_METHOD_ADMIN_PUT_DNS_RECORD "/webmesh.v1.Admin/PutDnsRecord"
#define WM_METHOD_ADMIN_DELETE_DNS_RECORD "/webmesh.v1.Admin/DeleteDnsRecord"
#define WM_METHOD_ADMIN_LIST_DNS_RECORDS "/webmesh.v1.Admin/ListDnsRecords"
/* webmesh.v1.Signaling */
#define WM_METHOD_SIGNALING_SEND_SIGNAL "/webmesh.v1.Signaling/SendSignal"
#define WM_METHOD_SIGNALING_RECEIVE_SIGNALS "/webmesh.v1.Signaling/ReceiveSignals"
#define WM_METHOD_SIGNALING_GET_TURN_CREDENTIALS "/webmesh.v1.Signaling/GetTurnCredentials"

#endif
