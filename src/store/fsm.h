/* The mesh state machine: applies encoded RaftCommands to an SQLite database.
 * Deterministic: the same commands in the same order give the same database,
 * byte for byte (times come from the commands, never from the clock). */
#ifndef WM_STORE_FSM_H
#define WM_STORE_FSM_H

#include <stddef.h>
#include <stdint.h>

#include "core/mesh.h"
#include "store/store.h"

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
/* Serializes the database (sqlite3_serialize); *out is malloc'd. */
int wm_fsm_snapshot(struct wm_fsm *f, uint8_t **out, size_t *len);
/* Replaces the database with a snapshot. */
int wm_fsm_restore(struct wm_fsm *f, const uint8_t *buf, size_t len);
struct sqlite3 *wm_fsm_db(struct wm_fsm *f);

int wm_fsm_mesh_info(struct wm_fsm *f, struct wm_mesh_info *out);
int wm_fsm_get_node(struct wm_fsm *f, const char *id, struct wm_mesh_node *out);
int wm_fsm_list_nodes(struct wm_fsm *f, struct wm_mesh_node **out, size_t *n);
int wm_fsm_list_edges(struct wm_fsm *f, struct wm_mesh_edge **out, size_t *n);
int wm_fsm_dump(struct wm_fsm *f, char **out);
uint64_t wm_fsm_applied_index(struct wm_fsm *f);

#endif
