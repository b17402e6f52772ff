/* The entry of webmesh-store.so: the store's functions in the table of
 * store_module.h, the only symbol the module exports. */
#include "store/store_module.h"

__attribute__((visibility("default"))) const struct wm_store_module wm_store_module_v1 = {
	.header = {.abi = WM_STORE_MODULE_ABI, .size = sizeof(struct wm_store_module)},
	.open = wm_store_open,
	.close = wm_store_close,
	.apply = wm_store_apply,
	.barrier = wm_store_barrier,
	.mesh_info = wm_store_mesh_info,
	.get_node = wm_store_get_node,
	.list_nodes = wm_store_list_nodes,
	.list_edges = wm_store_list_edges,
	.list_edge_attrs = wm_store_list_edge_attrs,
	.dump = wm_store_dump,
	.on_change = wm_store_on_change,
	.off_change = wm_store_off_change,
	.status = wm_store_status,
	.add_member = wm_store_add_member,
	.remove_member = wm_store_remove_member,
	.transfer_leadership = wm_store_transfer_leadership,
	.authz_load = wm_store_authz_load,
	.rbac_check = wm_store_rbac_check,
	.remove_raft_id = wm_store_remove_raft_id,
	.list_dns_records = wm_store_list_dns_records,
};
