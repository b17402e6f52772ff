/* The etcd store's replica of the whole mesh state (store_state.c): an
 * in-memory copy of the Raft store's own state machine (store/fsm.h), fed in
 * revision order by the store's load and watch, so that every read, every
 * check and the dump are the Raft store's, and the commands beyond nodes and
 * the deny list (edges, routes, DNS, RBAC, Liveness) as etcd transactions.
 * Internal to src/etcd: store.c calls it at the points named below. */
#ifndef WM_ETCD_STORE_STATE_H
#define WM_ETCD_STORE_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "etcd/client.h"
#include "etcd/kv.pb-c.h"
#include "store/store.h"

struct wm_etcd_state;

int wm_etcd_state_new(uv_loop_t *loop, struct wm_etcd_client *client, const char *mesh,
		      struct wm_etcd_state **out);
/* Commands in flight and results waiting for the replica end with
 * -ECANCELED (their callbacks run within this call). */
void wm_etcd_state_free(struct wm_etcd_state *st);

/* The whole mesh as one Range read at revision rev: the replica is rebuilt
 * from the records (layout.h says in which order). */
int wm_etcd_state_load(struct wm_etcd_state *st, Mvccpb__KeyValue **kvs, size_t n, int64_t rev);
/* One watch event at revision rev. The command it amounts to, for the change
 * feed, in *feed (NULL: none; free with webmesh__v1__raft_command__free_unpacked). */
void wm_etcd_state_event(struct wm_etcd_state *st, const Mvccpb__KeyValue *kv, bool deleted,
			 int64_t rev, Webmesh__V1__RaftCommand **feed);
/* After events: results and commands waiting for the replica to reach their
 * revision go on. */
void wm_etcd_state_caught_up(struct wm_etcd_state *st);
/* The revision the replica reflects. */
int64_t wm_etcd_state_revision(const struct wm_etcd_state *st);

/* Calls cb(data, res) once the replica reflects revision rev (at once, on
 * the next turn of the loop, if it does). 0 or -ENOMEM. */
int wm_etcd_state_defer(struct wm_etcd_state *st, int64_t rev, wm_store_apply_cb cb, void *data,
			const struct wm_store_result *res);

/* Whether the replica's commands include cmd's kind (the ones store.c does
 * not itself write). */
bool wm_etcd_state_handles(const Webmesh__V1__RaftCommand *cmd);
/* As wm_etcd_store_apply for those kinds. */
int wm_etcd_state_apply(struct wm_etcd_state *st, const Webmesh__V1__RaftCommand *cmd,
			wm_store_apply_cb cb, void *data);

/* The guard key's mod revision as the replica saw it (0: none yet). */
int64_t wm_etcd_state_guard_rev(const struct wm_etcd_state *st);
/* The FSM's verdict on cmd against the replica (wm_fsm_check_cmd). */
int wm_etcd_state_check(struct wm_etcd_state *st, const Webmesh__V1__RaftCommand *cmd,
			struct wm_store_result *res);
/* The replica, for reads (store_reads.c). */
struct wm_fsm *wm_etcd_state_fsm(struct wm_etcd_state *st);

#endif
