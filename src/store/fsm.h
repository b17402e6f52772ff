/* The mesh state machine: applies encoded RaftCommands to an SQLite database.
 * Deterministic: the same commands in the same order give the same database,
 * byte for byte (times come from the commands, never from the clock). */
#ifndef WM_STORE_FSM_H
#define WM_STORE_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mesh.h"
#include "store/store.h"

/* The state's schema (PRAGMA user_version), bumped when it changes, with a
 * step in migrate.c: a snapshot of an older version is migrated when
 * restored, a newer one refused. */
#define WM_FSM_SCHEMA_VERSION 7
/* The oldest version migrate.c has steps from. */
#define WM_FSM_SCHEMA_OLDEST 5

struct wm_fsm;

/* path: a file (recreated empty: the log rebuilds it) or ":memory:". */
int wm_fsm_open(const char *path, struct wm_fsm **out, char *err, size_t errlen);
void wm_fsm_close(struct wm_fsm *f);
/* Applies one encoded command in one transaction. A command the state refuses
 * (duplicate ID with another key, exhausted network) fills res->err and leaves
 * the state untouched; the return value is non-zero only for undecodable input
 * or an SQLite failure. */
int wm_fsm_apply(struct wm_fsm *f, uint64_t index, const uint8_t *buf, size_t len,
		 struct wm_store_result *res);
/* The same for a command already decoded (the store decodes each entry once,
 * for the FSM and for the change feed). Undecodable input: wm_fsm_apply
 * returns -EBADMSG with res->err -EINVAL; such an entry is refused alike on
 * every replica. res->node is filled for a successful JoinNode only. */
int wm_fsm_apply_cmd(struct wm_fsm *f, uint64_t index, const Webmesh__V1__RaftCommand *cmd,
		     struct wm_store_result *res);
/* What cmd would do, without doing it: the checks of wm_fsm_apply_cmd, then
 * (when it would succeed and after is not NULL) after(data, f) reads the
 * state as the command leaves it; then everything is rolled back. res as
 * wm_fsm_apply_cmd's (res->index 0); < 0 only for an SQLite failure or
 * after's error. For a store that keeps the state elsewhere (src/etcd). */
int wm_fsm_check_cmd(struct wm_fsm *f, const Webmesh__V1__RaftCommand *cmd,
		     struct wm_store_result *res, int (*after)(void *data, struct wm_fsm *f),
		     void *data);
/* Serializes the database (sqlite3_serialize); *out is malloc'd. */
int wm_fsm_snapshot(struct wm_fsm *f, uint8_t **out, size_t *len);
/* The same with the caller's allocator (raft_malloc for libraft). */
int wm_fsm_snapshot_alloc(struct wm_fsm *f, void *(*alloc)(size_t), uint8_t **out, size_t *len);
/* Replaces the database with a snapshot. buf stays the caller's. A snapshot
 * that is not ours, of a newer schema version, or corrupt is refused with
 * -EINVAL / -EBADMSG and the state is left as it was; one of an older
 * version is migrated (migrate.c) in one transaction. */
int wm_fsm_restore(struct wm_fsm *f, const uint8_t *buf, size_t len);
struct sqlite3 *wm_fsm_db(struct wm_fsm *f);

int wm_fsm_mesh_info(struct wm_fsm *f, struct wm_mesh_info *out);
int wm_fsm_get_node(struct wm_fsm *f, const char *id, struct wm_mesh_node *out);
int wm_fsm_list_nodes(struct wm_fsm *f, struct wm_mesh_node **out, size_t *n);
/* The ID of the node whose raft ID is raft_id into out; -ENOENT (out "") if none. */
int wm_fsm_node_by_raft_id(struct wm_fsm *f, uint64_t raft_id, char *out, size_t len);
int wm_fsm_list_edges(struct wm_fsm *f, struct wm_mesh_edge **out, size_t *n);
/* See wm_store_list_dns_records. */
int wm_fsm_list_dns_records(struct wm_fsm *f, struct wm_dns_record **out, size_t *n);
/* See wm_store_list_edge_attrs. */
int wm_fsm_list_edge_attrs(struct wm_fsm *f, struct wm_edge_attr **out, size_t *n);
/* One line per row of every table, ordered by key ("node id=a raft_id=..."). */
int wm_fsm_dump(struct wm_fsm *f, char **out);
/* The index of the last entry given to wm_fsm_apply, refused or not (after a
 * restore: the last one the snapshot's state had applied). The meta table
 * records the last index that changed the state. */
uint64_t wm_fsm_applied_index(struct wm_fsm *f);
/* Whether the FSM met an entry this build cannot apply (core/cmdver.h): its
 * index and the command version it needs. From there on nothing is applied
 * (every entry is refused with -WM_EVERSION without a trace) and snapshots
 * fail with -EBUSY, until a snapshot is restored. */
bool wm_fsm_stalled(struct wm_fsm *f, uint64_t *index, uint32_t *needs);
/* Stops the FSM at entry index, which needs command version needs (an entry
 * the caller could not even decode: framed by a newer build); res tells
 * why. Already stopped: stays at the first entry. Returns 0. */
int wm_fsm_stall(struct wm_fsm *f, uint64_t index, uint32_t needs, struct wm_store_result *res);
/* The schema version the last restored snapshot was migrated from, 0 if it
 * needed no migration. */
int wm_fsm_migrated_from(struct wm_fsm *f);

#endif
