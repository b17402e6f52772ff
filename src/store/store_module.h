/* The table the store module (webmesh-store.so: libraft, SQLite) exports and
 * through which webmeshd's loader (store_loader.c) calls it. Each entry is
 * the store.h or authz.h function of the same name. Only nodes that keep a
 * replica (voters, observers) load it: a plain member never maps libraft,
 * SQLite or libm. Change the table: bump the ABI. */
#ifndef WM_STORE_STORE_MODULE_H
#define WM_STORE_STORE_MODULE_H

#include "store/authz.h"
#include "store/store.h"
#include "util/module.h"

#define WM_STORE_MODULE_NAME "webmesh-store"
#define WM_STORE_MODULE_SYMBOL "wm_store_module_v1"
#define WM_STORE_MODULE_ABI 4

struct wm_store_module {
	struct wm_module_header header;
	int (*open)(uv_loop_t *loop, const struct wm_store_config *cfg, struct wm_store **out,
		    char *err, size_t errlen);
	void (*close)(struct wm_store *s, void (*done_cb)(void *data), void *data);
	int (*apply)(struct wm_store *s, const Webmesh__V1__RaftCommand *cmd, wm_store_apply_cb cb,
		     void *data);
	int (*barrier)(struct wm_store *s, wm_store_apply_cb cb, void *data);
	int (*mesh_info)(struct wm_store *s, struct wm_mesh_info *out);
	int (*get_node)(struct wm_store *s, const char *id, struct wm_mesh_node *out);
	int (*list_nodes)(struct wm_store *s, struct wm_mesh_node **out, size_t *n);
	int (*list_edges)(struct wm_store *s, struct wm_mesh_edge **out, size_t *n);
	int (*list_edge_attrs)(struct wm_store *s, struct wm_edge_attr **out, size_t *n);
	int (*dump)(struct wm_store *s, char **out);
	int (*on_change)(struct wm_store *s, wm_store_change_cb cb, void *data);
	void (*off_change)(struct wm_store *s, wm_store_change_cb cb, void *data);
	void (*status)(struct wm_store *s, struct wm_store_status *out);
	int (*add_member)(struct wm_store *s, const char *node_id, const char *address, int role,
			  wm_store_done_cb cb, void *data);
	int (*remove_member)(struct wm_store *s, const char *node_id, wm_store_done_cb cb,
			     void *data);
	int (*transfer_leadership)(struct wm_store *s, wm_store_done_cb cb, void *data);
	int (*authz_load)(struct wm_store *s, struct wm_authz_snapshot *out);
	int (*rbac_check)(struct wm_store *s, const struct wm_rbac_who *who, const char *verb,
			  const char *resource, const char *name);
	int (*remove_raft_id)(struct wm_store *s, uint64_t raft_id, wm_store_done_cb cb,
			      void *data);
	int (*list_dns_records)(struct wm_store *s, struct wm_dns_record **out, size_t *n);
};

#endif
