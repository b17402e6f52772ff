/* The FSM's route commands: networks an administrator advertises behind a node. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/ids.h"
#include "core/routeclaim.h"
#include "store/fsm_int.h"

int wm_fsm_route_check(const struct wm_fsm_mesh *m, const char *route, char *out, size_t len,
		       struct wm_store_result *res)
{
	struct wm_prefix p;

	if (!route || wm_prefix_parse(route, &p) < 0)
		return wm_fsm_refuse(res, -EINVAL, "invalid route \"%.60s\" (want a CIDR prefix)",
				     route ? route : "");
	p = wm_prefix_network(&p);
	/* A route inside a mesh network would steal nodes' addresses from the
	 * peers that own them; a wider one (a default route) is fine, the nodes'
	 * own prefixes are more specific. */
	if (wm_prefix_contains(&m->info.ipv4_network, &p) ||
	    wm_prefix_contains(&m->info.ipv6_network, &p))
		return wm_fsm_refuse(
			res, -EINVAL,
			"route %.60s lies inside the mesh network; routes name networks "
			"behind a node",
			route);
	if (wm_prefix_format(&p, out, len) < 0)
		return -EINVAL;
	return 0;
}

/* Every route of every node: its own (nodes.routes, "a,b") and those put
 * for it (the routes table). */
struct claims {
	struct wm_route_claim *v;
	char (*owner)[WM_NODE_ID_MAX + 1];
	size_t n, cap;
};

static int claims_add(struct claims *c, const char *owner, const char *prefix, size_t len)
{
	char text[WM_PREFIX_STRLEN];
	struct wm_prefix p;

	if (len >= sizeof(text))
		return 0; /* not a prefix we stored: nothing to overlap */
	memcpy(text, prefix, len);
	text[len] = '\0';
	if (wm_prefix_parse(text, &p) < 0)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct wm_route_claim *v = realloc(c->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->v = v;
		char(*o)[WM_NODE_ID_MAX + 1] = realloc(c->owner, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		c->owner = o;
		c->cap = cap;
	}
	snprintf(c->owner[c->n], sizeof(c->owner[0]), "%s", owner);
	c->v[c->n].prefix = p;
	c->n++;
	return 0;
}

static int claims_load(struct wm_fsm *f, struct claims *c)
{
	static const char *const sql[] = {
		"SELECT id, routes FROM nodes WHERE routes IS NOT NULL AND routes != ''"
		" ORDER BY id",
		"SELECT node_id, prefix FROM routes ORDER BY node_id, prefix",
	};
	for (size_t q = 0; q < 2; q++) {
		sqlite3_stmt *st;
		int r = wm_fsm_prepare(f->db, sql[q], &st), rc;
		if (r < 0)
			return r;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *id = (const char *)sqlite3_column_text(st, 0);
			const char *list = (const char *)sqlite3_column_text(st, 1);
			for (const char *s = list; id && s && *s && r == 0;) {
				const char *end = strchr(s, ',');
				size_t len = end ? (size_t)(end - s) : strlen(s);
				r = claims_add(c, id, s, len);
				s = end ? end + 1 : s + len;
			}
			if (r < 0)
				break;
		}
		sqlite3_finalize(st);
		if (r < 0)
			return r;
		if (rc != SQLITE_DONE)
			return wm_fsm_sqlite_err(rc);
	}
	/* Pointers last: the owner array moved while it grew. */
	for (size_t i = 0; i < c->n; i++)
		c->v[i].owner = c->owner[i];
	return 0;
}

/* The leader decided which overlaps the caller may make (it alone knows the
 * caller) and put them in the command; this re-check against the state the
 * command meets makes that decision race-free: a route another node put
 * between the leader's check and this entry is an overlap the leader never
 * allowed, and is refused here, the same on every replica. */
int wm_fsm_route_claims_check(struct wm_fsm *f, const char *self, char *const *routes,
			      size_t n_routes, char *const *overrides, size_t n_overrides, bool any,
			      bool checked, struct wm_store_result *res)
{
	struct wm_prefix p[WM_MAX_ROUTES];
	struct claims c = {0};
	size_t bad_route = 0, bad_claim = 0;
	int r;

	/* An entry from a leader that predates route rights was accepted
	 * without them; refusing it on replay would lose what its caller was
	 * told is stored. */
	if (n_routes == 0 || !checked)
		return 0;
	if (n_routes > WM_MAX_ROUTES)
		return wm_fsm_refuse(res, -EINVAL, "too many routes (%zu, at most %d)", n_routes,
				     WM_MAX_ROUTES);
	for (size_t i = 0; i < n_routes; i++)
		if (!routes[i] || wm_prefix_parse(routes[i], &p[i]) < 0)
			return wm_fsm_refuse(res, -EINVAL,
					     "invalid route \"%.60s\" (want a CIDR prefix)",
					     routes[i] ? routes[i] : "");
	r = claims_load(f, &c);
	if (r == 0) {
		struct wm_route_overrides o = {any, (const char *const *)overrides, n_overrides};
		if (wm_route_claims_check(self, p, n_routes, c.v, c.n, wm_route_overrides_has, &o,
					  &bad_route, &bad_claim) < 0) {
			char why[sizeof(res->message)];
			wm_route_claim_why(&p[bad_route], &c.v[bad_claim], why, sizeof(why));
			wm_fsm_refuse(res, -EACCES, "%s", why);
		}
	}
	free(c.v);
	free(c.owner);
	return r;
}

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
