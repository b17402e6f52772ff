/* The FSM's route commands: networks an administrator advertises behind a node. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/ids.h"
#include "store/fsm_int.h"

/* The stored node routes ("a,b") contain prefix (canonical text)? */
static bool list_has(const char *list, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *s = list; s && *s;) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);

		if (len == n && memcmp(s, prefix, n) == 0)
			return true;
		s = end ? end + 1 : s + len;
	}
	return false;
}

struct route_node {
	char routes[WM_MAX_ROUTES * WM_PREFIX_STRLEN + 1]; /* the node's own, stored form */
	int64_t n_admin;
};

/* Loads what the checks need; refuses an invalid or unknown node. */
static int route_node_load(struct wm_fsm *f, const char *id, struct route_node *rn,
			   struct wm_store_result *res)
{
	const char *why = NULL;
	sqlite3_stmt *st;
	int r, rc;

	if (wm_node_id_check(id, &why) < 0)
		return wm_fsm_refuse(res, -EINVAL, "invalid node ID: %s", why);
	r = wm_fsm_prepare(f->db,
			   "SELECT n.routes, (SELECT count(*) FROM routes r WHERE r.node_id = n.id)"
			   " FROM nodes n WHERE n.id = ?1",
			   &st);
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);

		snprintf(rn->routes, sizeof(rn->routes), "%s", t ? t : "");
		rn->n_admin = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return wm_fsm_refuse(res, -ENOENT, "node %s does not exist", id);
	return rc == SQLITE_ROW ? 0 : wm_fsm_sqlite_err(rc);
}

static int route_count_own(const char *list)
{
	int n = 0;

	for (const char *s = list; *s; s++)
		n += *s == ',';
	return *list ? n + 1 : 0;
}

int wm_fsm_cmd_put_routes(struct wm_fsm *f, const Webmesh__V1__PutRoutesCommand *c,
			  struct wm_store_result *res)
{
	char canon[WM_MAX_ROUTES][WM_PREFIX_STRLEN];
	struct route_node rn;
	struct wm_fsm_mesh m;
	sqlite3_stmt *st;
	int r;

	r = wm_fsm_mesh_load(f, &m);
	if (r < 0)
		return r == -WM_ENOMESH
			       ? wm_fsm_refuse(res, r, "the mesh has not been bootstrapped")
			       : r;
	r = route_node_load(f, c->node_id, &rn, res);
	if (r < 0 || res->err)
		return r;
	if (c->n_routes == 0)
		return wm_fsm_refuse(res, -EINVAL, "no route given");
	if (c->n_routes > WM_MAX_ROUTES)
		return wm_fsm_refuse(res, -EINVAL, "too many routes (%zu, at most %d)", c->n_routes,
				     WM_MAX_ROUTES);
	for (size_t i = 0; i < c->n_routes; i++) {
		r = wm_fsm_route_check(&m, c->routes[i], canon[i], sizeof(canon[i]), res);
		if (r < 0 || res->err)
			return r;
	}
	r = wm_fsm_route_claims_check(f, c->node_id, c->routes, c->n_routes, c->route_overrides,
				      c->n_route_overrides, c->route_override_any,
				      c->route_claims_checked, res);
	if (r < 0 || res->err)
		return r;
	for (size_t i = 0; i < c->n_routes; i++) {
		r = wm_fsm_prepare(f->db,
				   "INSERT OR IGNORE INTO routes (node_id, prefix) VALUES (?1, ?2)",
				   &st);
		if (r < 0)
			return r;
		wm_fsm_bind_text(st, 1, c->node_id);
		wm_fsm_bind_text(st, 2, canon[i]);
		r = sqlite3_step(st) == SQLITE_DONE ? 0 : wm_fsm_sqlite_err(sqlite3_errcode(f->db));
		sqlite3_finalize(st);
		if (r < 0)
			return r;
		rn.n_admin += sqlite3_changes(f->db);
	}
	if (route_count_own(rn.routes) + rn.n_admin > WM_MAX_ROUTES)
		return wm_fsm_refuse(res, -EINVAL, "node %s would advertise more than %d routes",
				     c->node_id, WM_MAX_ROUTES);
	return 0;
}

int wm_fsm_cmd_delete_routes(struct wm_fsm *f, const Webmesh__V1__DeleteRoutesCommand *c,
			     struct wm_store_result *res)
{
	struct route_node rn;
	sqlite3_stmt *st;
	int r;

	r = route_node_load(f, c->node_id, &rn, res);
	if (r < 0 || res->err)
		return r;
	if (c->n_routes == 0)
		return wm_fsm_refuse(res, -EINVAL, "no route given");
	for (size_t i = 0; i < c->n_routes; i++) {
		char canon[WM_PREFIX_STRLEN];
		struct wm_prefix p;

		if (wm_prefix_parse(c->routes[i], &p) < 0)
			return wm_fsm_refuse(res, -EINVAL,
					     "invalid route \"%.60s\" (want a CIDR prefix)",
					     c->routes[i]);
		p = wm_prefix_network(&p);
		if (wm_prefix_format(&p, canon, sizeof(canon)) < 0)
			return -EINVAL;
		r = wm_fsm_prepare(f->db, "DELETE FROM routes WHERE node_id = ?1 AND prefix = ?2",
				   &st);
		if (r < 0)
			return r;
		wm_fsm_bind_text(st, 1, c->node_id);
		wm_fsm_bind_text(st, 2, canon);
		r = sqlite3_step(st) == SQLITE_DONE ? 0 : wm_fsm_sqlite_err(sqlite3_errcode(f->db));
		sqlite3_finalize(st);
		if (r < 0)
			return r;
		if (sqlite3_changes(f->db) > 0)
			continue;
		if (list_has(rn.routes, canon))
			return wm_fsm_refuse(res, -EINVAL,
					     "node %s advertises %s itself (its routes setting); "
					     "change it there",
					     c->node_id, canon);
		return wm_fsm_refuse(res, -ENOENT, "node %s has no route %s", c->node_id, canon);
	}
	return 0;
}
