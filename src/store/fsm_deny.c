/* Nodes an administrator removed (issue 10): DenyNodeCommand records one,
 * AllowNodeCommand forgets it, and a Join of a denied node is refused by
 * every replica alike. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/ids.h"
#include "store/fsm_int.h"

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : wm_fsm_sqlite_err(rc);
}

static int deny(struct wm_fsm *f, const Webmesh__V1__DenyNodeCommand *c,
		struct wm_store_result *res)
{
	const char *why = NULL;
	sqlite3_stmt *st;
	if (wm_node_id_check(c->node_id, &why) < 0)
		return wm_fsm_refuse(res, -EINVAL, "invalid node ID: %s", why);
	if (!c->by || strlen(c->by) > 255)
		return wm_fsm_refuse(res, -EINVAL, "invalid remover (at most 255 characters)");
	int r = wm_fsm_prepare(f->db,
			       "INSERT OR REPLACE INTO denied_nodes (node_id, by, denied_at)"
			       " VALUES (?1, ?2, ?3)",
			       &st);
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, c->node_id);
	wm_fsm_bind_text(st, 2, c->by);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)c->denied_at);
	return step_done(st);
}

static int allow(struct wm_fsm *f, const Webmesh__V1__AllowNodeCommand *c,
		 struct wm_store_result *res)
{
	const char *why = NULL;
	bool found = false;
	sqlite3_stmt *st;
	if (wm_node_id_check(c->node_id, &why) < 0)
		return wm_fsm_refuse(res, -EINVAL, "invalid node ID: %s", why);
	int r = wm_fsm_denied(f, c->node_id, &found);
	if (r < 0)
		return r;
	if (!found)
		return wm_fsm_refuse(res, -ENOENT, "node %s is not denied", c->node_id);
	r = wm_fsm_prepare(f->db, "DELETE FROM denied_nodes WHERE node_id = ?1", &st);
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, c->node_id);
	return step_done(st);
}

int wm_fsm_cmd_deny(struct wm_fsm *f, const Webmesh__V1__RaftCommand *cmd,
		    struct wm_store_result *res)
{
	switch (cmd->command_case) {
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DENY_NODE:
		return deny(f, cmd->deny_node, res);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_ALLOW_NODE:
		return allow(f, cmd->allow_node, res);
	default:
		return wm_fsm_refuse(res, -EINVAL, "not a deny command");
	}
}
