/* store.h and authz.h for webmeshd: the same functions, calling the store
 * module (webmesh-store.so) through its table. The module, and with it
 * libraft, SQLite, liblz4 and libm (about 0.7 MB of a process's RSS), is
 * loaded by the first wm_store_open: a plain member never opens a store.
 * Every other call takes a store, so the module is loaded by then. */
#include <errno.h>
#include <stdio.h>

#include "store/store_module.h"
#include "util/log.h"

static const struct wm_store_module *mod;

int wm_store_open(uv_loop_t *loop, const struct wm_store_config *cfg, struct wm_store **out,
		  char *err, size_t errlen)
{
	if (!mod) {
		char why[512] = "";
		mod = wm_module_load(WM_STORE_MODULE_NAME, WM_STORE_MODULE_SYMBOL,
				     WM_STORE_MODULE_ABI, sizeof(struct wm_store_module), why,
				     sizeof(why));
		if (!mod) {
			snprintf(err, errlen, "a server keeps a replica of the mesh state: %s",
				 why);
			return -ENOTSUP;
		}
	}
	return mod->open(loop, cfg, out, err, errlen);
}

void wm_store_close(struct wm_store *s, void (*done_cb)(void *data), void *data)
{
	mod->close(s, done_cb, data);
}

int wm_store_apply(struct wm_store *s, const Webmesh__V1__RaftCommand *cmd, wm_store_apply_cb cb,
		   void *data)
{
	return mod->apply(s, cmd, cb, data);
}

int wm_store_barrier(struct wm_store *s, wm_store_apply_cb cb, void *data)
{
	return mod->barrier(s, cb, data);
}

int wm_store_mesh_info(struct wm_store *s, struct wm_mesh_info *out)
{
	return mod->mesh_info(s, out);
}

int wm_store_get_node(struct wm_store *s, const char *id, struct wm_mesh_node *out)
{
	return mod->get_node(s, id, out);
}

int wm_store_list_nodes(struct wm_store *s, struct wm_mesh_node **out, size_t *n)
{
	return mod->list_nodes(s, out, n);
}

int wm_store_list_edges(struct wm_store *s, struct wm_mesh_edge **out, size_t *n)
{
	return mod->list_edges(s, out, n);
}

int wm_store_list_edge_attrs(struct wm_store *s, struct wm_edge_attr **out, size_t *n)
{
	return mod->list_edge_attrs(s, out, n);
}

int wm_store_list_dns_records(struct wm_store *s, struct wm_dns_record **out, size_t *n)
{
	return mod->list_dns_records(s, out, n);
}

int wm_store_dump(struct wm_store *s, char **out)
{
	return mod->dump(s, out);
}

int wm_store_on_change(struct wm_store *s, wm_store_change_cb cb, void *data)
{
	return mod->on_change(s, cb, data);
}

void wm_store_off_change(struct wm_store *s, wm_store_change_cb cb, void *data)
{
	mod->off_change(s, cb, data);
}

void wm_store_status(struct wm_store *s, struct wm_store_status *out)
{
	mod->status(s, out);
}

int wm_store_add_member(struct wm_store *s, const char *node_id, const char *address, int role,
			wm_store_done_cb cb, void *data)
{
	return mod->add_member(s, node_id, address, role, cb, data);
}

int wm_store_remove_member(struct wm_store *s, const char *node_id, wm_store_done_cb cb, void *data)
{
	return mod->remove_member(s, node_id, cb, data);
}

int wm_store_transfer_leadership(struct wm_store *s, wm_store_done_cb cb, void *data)
{
	return mod->transfer_leadership(s, cb, data);
}

int wm_store_authz_load(struct wm_store *s, struct wm_authz_snapshot *out)
{
	return mod->authz_load(s, out);
}

int wm_store_rbac_check(struct wm_store *s, const struct wm_rbac_who *who, const char *verb,
			const char *resource, const char *name)
{
	return mod->rbac_check(s, who, verb, resource, name);
}

int wm_store_remove_raft_id(struct wm_store *s, uint64_t raft_id, wm_store_done_cb cb, void *data)
{
	return mod->remove_raft_id(s, raft_id, cb, data);
}
