/* The mesh state kept in etcd v3: the commands as etcd transactions, the
 * reads from a local cache that an etcd watch keeps current, and the change
 * feed from that watch. It has the shape of the store interface
 * (store/store_api.def): apply's results and refusals, on_change's feed with
 * cmd NULL for "reload everything", so that a storage plugin can forward to
 * it. Every RaftCommand kind is taken; reads (list_edges, authz_load, dump...)
 * answer from a replica of the Raft store's own state machine that the watch
 * keeps (store_state.h), so they are the Raft store's, byte for byte. */
#ifndef WM_ETCD_STORE_H
#define WM_ETCD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "etcd/client.h"
#include "store/authz.h"
#include "store/store.h"

struct wm_etcd_store;

/* Reads the mesh under /webmesh/<mesh>/ (none yet is fine: mesh_info then
 * says -WM_ENOMESH until a BootstrapMesh) and starts watching it; ready_cb
 * runs once with 0, or a negative error (etcd unreachable, a record that is
 * not ours) and err_msg; the store is then still to be closed. The client
 * stays the caller's, and must outlive the store. */
int wm_etcd_store_open(uv_loop_t *loop, struct wm_etcd_client *client, const char *mesh,
		       void (*ready_cb)(void *data, int err, const char *err_msg), void *data,
		       struct wm_etcd_store **out);
/* Pending commands end with -ECANCELED (their cb runs within this call). */
void wm_etcd_store_close(struct wm_etcd_store *s);

/* As wm_store_apply: 0 and cb exactly once later (never within the call),
 * or -EINVAL/-ENOTSUP/-ENOMEM and no cb. res->err as the Raft store's
 * (-EEXIST, -WM_EKEYMISMATCH, -WM_EEXHAUSTED, -WM_ENOMESH, -ENOENT, -EINVAL)
 * and -WM_ERPC when etcd could not be reached; res->index is the etcd
 * revision of the write. */
int wm_etcd_store_apply(struct wm_etcd_store *s, const Webmesh__V1__RaftCommand *cmd,
			wm_store_apply_cb cb, void *data);

/* Reads of the cache (as of the last event seen; a command's own write is
 * there as soon as its cb ran). */
int wm_etcd_store_mesh_info(struct wm_etcd_store *s, struct wm_mesh_info *out);
int wm_etcd_store_get_node(struct wm_etcd_store *s, const char *id, struct wm_mesh_node *out);
int wm_etcd_store_list_nodes(struct wm_etcd_store *s, struct wm_mesh_node **out, size_t *n);
/* The store interface's other reads (store/store_api.def), with the same
 * meaning and order; arrays malloc'd. dump is wm_store_dump's format (the
 * meta row's applied_index is the etcd revision the replica reflects). */
int wm_etcd_store_list_edges(struct wm_etcd_store *s, struct wm_mesh_edge **out, size_t *n);
int wm_etcd_store_list_edge_attrs(struct wm_etcd_store *s, struct wm_edge_attr **out, size_t *n);
int wm_etcd_store_list_dns_records(struct wm_etcd_store *s, struct wm_dns_record **out, size_t *n);
int wm_etcd_store_authz_load(struct wm_etcd_store *s, struct wm_authz_snapshot *out);
int wm_etcd_store_dump(struct wm_etcd_store *s, char **out);
/* The replica itself (store_state.h), for store_reads.c. */
struct wm_etcd_state *wm_etcd_store_state(struct wm_etcd_store *s);
/* The etcd revision the cache reflects. */
int64_t wm_etcd_store_revision(const struct wm_etcd_store *s);
/* How often the watch was opened again after losing its stream. */
unsigned wm_etcd_store_watch_restarts(const struct wm_etcd_store *s);

/* Servers. Any process with access to etcd can serve the mesh: it
 * registers under servers/<node_id> with its API address, on an etcd lease
 * of ttl_s seconds (at least 3) that it renews every ttl_s / 3 seconds, so
 * that the key goes ttl_s after the process stops renewing it (a crash).
 * Failures to renew are retried (a lost lease is granted and the key put
 * again) and logged through the client's log. 0, -EINVAL (bad ID, address
 * not IP:port, ttl) or -EALREADY (registered already). */
int wm_etcd_store_register_server(struct wm_etcd_store *s, const char *node_id,
				  const char *api_address, unsigned ttl_s);
struct wm_etcd_server {
	char node_id[WM_NODE_ID_MAX + 1];
	struct wm_endpoint api;
};
/* The servers registered now, ordered by ID; *out is malloc'd. */
int wm_etcd_store_list_servers(struct wm_etcd_store *s, struct wm_etcd_server **out, size_t *n);

/* As wm_store_on_change: cb after every change of the mesh in etcd (whoever
 * wrote it), in revision order, with the revision as index; cmd NULL when
 * the cache was reloaded (after a compaction). 0 or -ENOSPC past 16. The
 * callback must not close the store. */
int wm_etcd_store_on_change(struct wm_etcd_store *s, wm_store_change_cb cb, void *data);
void wm_etcd_store_off_change(struct wm_etcd_store *s, wm_store_change_cb cb, void *data);

#endif
