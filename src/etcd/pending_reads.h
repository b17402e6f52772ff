/* TEMPORARY (delete at merge, with pending_reads.c and its line in
 * CMakeLists.txt): the etcd store's reads that branch s6-etcdcmd adds to
 * store.c/store.h with these very signatures. Until then the plugin answers
 * them from pending_reads.c. */
#ifndef WM_ETCD_PENDING_READS_H
#define WM_ETCD_PENDING_READS_H

#include "etcd/store.h"
#include "store/authz.h"

int wm_etcd_store_list_edges(struct wm_etcd_store *s, struct wm_mesh_edge **out, size_t *n);
int wm_etcd_store_list_edge_attrs(struct wm_etcd_store *s, struct wm_edge_attr **out, size_t *n);
int wm_etcd_store_list_dns_records(struct wm_etcd_store *s, struct wm_dns_record **out, size_t *n);
int wm_etcd_store_authz_load(struct wm_etcd_store *s, struct wm_authz_snapshot *out);
int wm_etcd_store_dump(struct wm_etcd_store *s, char **out);

#endif
