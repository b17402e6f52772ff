/* The etcd store's reads beyond nodes (store.h): answered by the replica of
 * the Raft store's state machine (store_state.c), the very functions the
 * Raft store answers with. */
#include "etcd/store.h"
#include "etcd/store_state.h"
#include "store/fsm.h"

int wm_etcd_store_list_edges(struct wm_etcd_store *s, struct wm_mesh_edge **out, size_t *n)
{
	return wm_fsm_list_edges(wm_etcd_state_fsm(wm_etcd_store_state(s)), out, n);
}

int wm_etcd_store_list_edge_attrs(struct wm_etcd_store *s, struct wm_edge_attr **out, size_t *n)
{
	return wm_fsm_list_edge_attrs(wm_etcd_state_fsm(wm_etcd_store_state(s)), out, n);
}

int wm_etcd_store_list_dns_records(struct wm_etcd_store *s, struct wm_dns_record **out, size_t *n)
{
	return wm_fsm_list_dns_records(wm_etcd_state_fsm(wm_etcd_store_state(s)), out, n);
}

int wm_etcd_store_authz_load(struct wm_etcd_store *s, struct wm_authz_snapshot *out)
{
	return wm_fsm_authz_load(wm_etcd_state_fsm(wm_etcd_store_state(s)), out);
}

int wm_etcd_store_dump(struct wm_etcd_store *s, char **out)
{
	return wm_fsm_dump(wm_etcd_state_fsm(wm_etcd_store_state(s)), out);
}
