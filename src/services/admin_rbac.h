/* The Admin service's RBAC and network ACL handlers (admin_rbac.c). */
#ifndef WM_SERVICES_ADMIN_RBAC_H
#define WM_SERVICES_ADMIN_RBAC_H

#include "services/services_int.h"

void wm_admin_put_role(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_delete_role(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_list_roles(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_put_role_binding(struct wm_rpc_call *call, const uint8_t *req, size_t len,
			       void *data);
void wm_admin_delete_role_binding(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				  void *data);
void wm_admin_list_role_bindings(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				 void *data);
void wm_admin_put_group(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_delete_group(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_list_groups(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_put_network_acl(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_delete_network_acl(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				 void *data);
void wm_admin_list_network_acls(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				void *data);
void wm_admin_can_i(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);

/* The command that creates the built-ins right after BootstrapMeshCommand:
 * apply it with wm_store_apply on the bootstrap node. Strings are borrowed
 * from the arguments; voters may be NULL. */
void wm_authz_bootstrap_command(Webmesh__V1__BootstrapAuthzCommand *b,
				Webmesh__V1__RaftCommand *cmd, const char *admin,
				const char *bootstrap_node, char **voters, size_t n_voters,
				bool default_accept);

#endif
