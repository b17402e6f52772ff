/* Checks that several of the FSM's commands share: a route against the mesh
 * networks and against the routes other nodes advertise (join, put routes),
 * and a join against the deny list. Reads and refuses; writes nothing. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/denied.h"
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

int wm_fsm_join_denied(struct wm_fsm *f, const char *node_id, struct wm_store_result *res,
		       bool *refused)
{
	bool found = false;
	char why[WM_DENIED_REASON_MAX];
	int r = wm_fsm_denied(f, node_id, &found);
	*refused = false;
	if (r < 0 || !found)
		return r;
	wm_denied_reason(node_id, why, sizeof(why));
	*refused = true;
	return wm_fsm_refuse(res, -EPERM, "%s", why);
}
