/* Every read of the FSM's state, for callers and for the commands: typed rows,
 * the mesh row, the deny list, the authorization snapshot, a canonical dump
 * for tests. Depends on the SQL helpers only. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/meshauth.h"
#include "core/sort.h"
#include "store/authz.h"
#include "store/fsm_int.h"

/* The last column: routes an administrator put behind the node (fsm_routes.c). */
#define NODE_COLUMNS                                                                               \
	"SELECT n.id, n.public_key, l.ipv4, n.ipv6, n.endpoints, n.listen_port, n.raft_role,"      \
	" n.zone, n.joined_at, n.routes, n.exit_node,"                                             \
	" (SELECT group_concat(r.prefix, ',') FROM routes r WHERE r.node_id = n.id),"              \
	" n.libp2p_id, n.libp2p_addrs"                                                             \
	" FROM nodes n LEFT JOIN leases l ON l.node_id = n.id"

static const char *col_text(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s ? s : "";
}

/* Splits a stored "a,b,c" list; parse() fills item i. -EBADMSG if a stored
 * value does not parse (the handlers only store canonical forms). */
static int split_list(const char *s, size_t max, size_t *n, void *items, size_t item_size,
		      int (*parse)(const char *s, void *out))
{
	char buf[WM_ENDPOINT_STRLEN + WM_PREFIX_STRLEN];

	*n = 0;
	while (*s) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		if (len >= sizeof(buf) || *n >= max)
			return -EBADMSG;
		memcpy(buf, s, len);
		buf[len] = '\0';
		if (parse(buf, (char *)items + *n * item_size) < 0)
			return -EBADMSG;
		(*n)++;
		s += len;
		if (*s == ',')
			s++;
	}
	return 0;
}

static int parse_endpoint(const char *s, void *out)
{
	return wm_endpoint_parse(s, out);
}

static int parse_prefix(const char *s, void *out)
{
	return wm_prefix_parse(s, out);
}

static int prefix_ptr_cmp(const void *a, const void *b)
{
	return wm_prefix_cmp(a, b);
}

/* Appends the routes an administrator put (sorted, so every replica lists
 * them alike) after the node's own, skipping any it advertises already. The
 * writes keep the total within WM_MAX_ROUTES. */
static int add_admin_routes(struct wm_mesh_node *n, const char *list)
{
	struct wm_prefix extra[WM_MAX_ROUTES];
	size_t n_extra = 0;

	if (split_list(list, WM_MAX_ROUTES, &n_extra, extra, sizeof(extra[0]), parse_prefix) < 0)
		return -EBADMSG;
	wm_sort(extra, n_extra, sizeof(extra[0]), prefix_ptr_cmp);
	for (size_t i = 0; i < n_extra; i++) {
		bool dup = false;

		for (size_t k = 0; k < n->n_routes && !dup; k++)
			dup = wm_prefix_equal(&n->routes[k], &extra[i]);
		if (dup)
			continue;
		if (n->n_routes >= WM_MAX_ROUTES)
			return -EBADMSG;
		n->routes[n->n_routes++] = extra[i];
	}
	return 0;
}

static int row_to_node(sqlite3_stmt *st, struct wm_mesh_node *n)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->id, sizeof(n->id), "%s", col_text(st, 0));
	if (wm_key_from_base64(col_text(st, 1), n->public_key) < 0)
		return -EBADMSG;
	if (sqlite3_column_type(st, 2) != SQLITE_NULL)
		n->ipv4 = wm_prefix_from_ipv4_u32((uint32_t)sqlite3_column_int64(st, 2), 32);
	if (wm_prefix_parse(col_text(st, 3), &n->ipv6) < 0)
		return -EBADMSG;
	if (split_list(col_text(st, 4), WM_MAX_ENDPOINTS, &n->n_endpoints, n->endpoints,
		       sizeof(n->endpoints[0]), parse_endpoint) < 0)
		return -EBADMSG;
	n->listen_port = (uint16_t)sqlite3_column_int(st, 5);
	n->raft_role = sqlite3_column_int(st, 6);
	snprintf(n->zone, sizeof(n->zone), "%s", col_text(st, 7));
	n->joined_at = sqlite3_column_int64(st, 8);
	if (split_list(col_text(st, 9), WM_MAX_ROUTES, &n->n_routes, n->routes,
		       sizeof(n->routes[0]), parse_prefix) < 0)
		return -EBADMSG;
	snprintf(n->exit_node, sizeof(n->exit_node), "%s", col_text(st, 10));
	snprintf(n->libp2p_id, sizeof(n->libp2p_id), "%s", col_text(st, 12));
	snprintf(n->libp2p_addrs, sizeof(n->libp2p_addrs), "%s", col_text(st, 13));
	return add_admin_routes(n, col_text(st, 11));
}

int wm_fsm_mesh_info(struct wm_fsm *f, struct wm_mesh_info *out)
{
	struct wm_fsm_mesh m;
	int r = wm_fsm_mesh_load(f, &m);

	if (r == 0)
		*out = m.info;
	return r;
}

int wm_fsm_get_node(struct wm_fsm *f, const char *id, struct wm_mesh_node *out)
{
	int r = 0, rc;

	if (!f->get_node)
		r = wm_fsm_prepare(f->db, NODE_COLUMNS " WHERE n.id = ?1", &f->get_node);
	if (r < 0) {
		f->get_node = NULL;
		return r;
	}
	sqlite3_stmt *st = f->get_node;
	wm_fsm_bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = row_to_node(st, out);
	else
		r = rc == SQLITE_DONE ? -ENOENT : wm_fsm_sqlite_err(rc);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

int wm_fsm_node_by_raft_id(struct wm_fsm *f, uint64_t raft_id, char *out, size_t len)
{
	sqlite3_stmt *st;
	int r = wm_fsm_prepare(f->db, "SELECT id FROM nodes WHERE raft_id = ?1", &st), rc;

	if (len)
		out[0] = '\0';
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)raft_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(out, len, "%s", col_text(st, 0));
	r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : wm_fsm_sqlite_err(rc);
	sqlite3_finalize(st);
	return r;
}

/* Runs a SELECT and collects every row into a growing malloc'd array. */
static int collect(struct wm_fsm *f, const char *sql, size_t item_size,
		   int (*row)(sqlite3_stmt *st, void *item), void **out, size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	char *items = NULL;
	int r, rc;

	*out = NULL;
	*n = 0;
	r = wm_fsm_prepare(f->db, sql, &st);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char *p = realloc(items, ncap * item_size);
			if (!p) {
				r = -ENOMEM;
				break;
			}
			items = p;
			cap = ncap;
		}
		r = row(st, items + *n * item_size);
		if (r < 0)
			break;
		(*n)++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = wm_fsm_sqlite_err(rc);
	sqlite3_finalize(st);
	if (r < 0) {
		free(items);
		*n = 0;
		return r;
	}
	*out = items;
	return 0;
}

static int node_row(sqlite3_stmt *st, void *item)
{
	return row_to_node(st, item);
}

static int edge_row(sqlite3_stmt *st, void *item)
{
	struct wm_mesh_edge *e = item;

	memset(e, 0, sizeof(*e));
	snprintf(e->source, sizeof(e->source), "%s", col_text(st, 0));
	snprintf(e->target, sizeof(e->target), "%s", col_text(st, 1));
	e->weight = sqlite3_column_int(st, 2);
	e->ice = sqlite3_column_int(st, 3) != 0;
	e->libp2p = sqlite3_column_int(st, 4) != 0;
	return 0;
}

int wm_fsm_list_nodes(struct wm_fsm *f, struct wm_mesh_node **out, size_t *n)
{
	return collect(f, NODE_COLUMNS " ORDER BY n.id", sizeof(**out), node_row, (void **)out, n);
}

int wm_fsm_list_edges(struct wm_fsm *f, struct wm_mesh_edge **out, size_t *n)
{
	/* Attribute values are strings (see attrs_json): only "true" marks ice.
	 * json_valid first, so that one malformed row cannot fail the whole list
	 * (CASE evaluates its branches in order). */
	return collect(f,
		       "SELECT source, target, weight,"
		       " CASE WHEN json_valid(attributes)"
		       " THEN coalesce(json_extract(attributes, '$.ice') = 'true', 0) ELSE 0 END,"
		       " CASE WHEN json_valid(attributes)"
		       " THEN coalesce(json_extract(attributes, '$.libp2p') = 'true', 0) ELSE 0 END"
		       " FROM edges ORDER BY source, target",
		       sizeof(**out), edge_row, (void **)out, n);
}

static int dns_record_row(sqlite3_stmt *st, void *item)
{
	struct wm_dns_record *r = item;

	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", col_text(st, 0));
	snprintf(r->type, sizeof(r->type), "%s", col_text(st, 1));
	snprintf(r->value, sizeof(r->value), "%s", col_text(st, 2));
	return 0;
}

int wm_fsm_list_dns_records(struct wm_fsm *f, struct wm_dns_record **out, size_t *n)
{
	return collect(f, "SELECT name, type, value FROM dns_records ORDER BY name, type, value",
		       sizeof(**out), dns_record_row, (void **)out, n);
}

#define STR_(x) #x
#define STR(x) STR_(x)

static int edge_attr_row(sqlite3_stmt *st, void *item)
{
	struct wm_edge_attr *a = item;

	memset(a, 0, sizeof(*a));
	snprintf(a->source, sizeof(a->source), "%s", col_text(st, 0));
	snprintf(a->target, sizeof(a->target), "%s", col_text(st, 1));
	snprintf(a->key, sizeof(a->key), "%s", col_text(st, 2));
	snprintf(a->value, sizeof(a->value), "%s", col_text(st, 3));
	return 0;
}

int wm_fsm_list_edge_attrs(struct wm_fsm *f, struct wm_edge_attr **out, size_t *n)
{
	/* attrs_json stores an object of strings within these limits; a row
	 * that is not (never written by us) is left out rather than failing
	 * the list or being cut short. */
	/* clang-format off */
	return collect(f,
		       "SELECT e.source, e.target, j.key, j.value"
		       " FROM edges e, json_each(CASE WHEN NOT json_valid(e.attributes) THEN '{}'"
		       " WHEN json_type(e.attributes) = 'object' THEN e.attributes ELSE '{}' END) j"
		       " WHERE j.type = 'text'"
		       " AND length(CAST(j.key AS BLOB)) BETWEEN 1 AND " STR(WM_EDGE_ATTR_KEY_MAX)
		       " AND length(CAST(j.value AS BLOB)) <= " STR(WM_EDGE_ATTR_VALUE_MAX)
		       " ORDER BY e.source, e.target, j.key",
		       sizeof(**out), edge_attr_row, (void **)out, n);
	/* clang-format on */
}

struct buf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = b->cap ? b->cap : 1024;
		while (ncap <= b->len + (size_t)n)
			ncap *= 2;
		char *p = realloc(b->p, ncap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = ncap;
	}
}

/* Text values are validated or JSON-escaped when stored; escaping here keeps
 * one row per line whatever a future column holds. */
static void buf_text(struct buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '\\')
			buf_printf(b, "\\x%02x", c);
		else
			buf_printf(b, "%c", c);
	}
}

/* Every table, ordered by its key: the dump is the same on every replica that
 * holds the same state, whatever the page layout. */
static const char *const dump_queries[] = {
	"SELECT 'meta', * FROM meta ORDER BY id",
	"SELECT 'mesh', * FROM mesh ORDER BY id",
	"SELECT 'node', * FROM nodes ORDER BY id",
	"SELECT 'lease', * FROM leases ORDER BY ipv4",
	"SELECT 'edge', * FROM edges ORDER BY source, target",
	"SELECT 'route', * FROM routes ORDER BY node_id, prefix",
	"SELECT 'authz', * FROM authz_settings ORDER BY id",
	"SELECT 'role', * FROM rbac_roles ORDER BY name",
	"SELECT 'rolebinding', * FROM rbac_bindings ORDER BY name",
	"SELECT 'group', * FROM rbac_groups ORDER BY name",
	"SELECT 'networkacl', * FROM network_acls ORDER BY name",
	"SELECT 'meshauth', * FROM mesh_auth ORDER BY id",
	"SELECT 'denied', * FROM denied_nodes ORDER BY node_id",
	"SELECT 'dnsrecord', * FROM dns_records ORDER BY name, type, value",
};

int wm_fsm_dump(struct wm_fsm *f, char **out)
{
	struct buf b = {0};
	sqlite3_stmt *st;
	int r = 0, rc;

	*out = NULL;
	for (size_t q = 0; q < sizeof(dump_queries) / sizeof(dump_queries[0]) && r == 0; q++) {
		r = wm_fsm_prepare(f->db, dump_queries[q], &st);
		if (r < 0)
			break;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			int cols = sqlite3_column_count(st);
			buf_printf(&b, "%s", col_text(st, 0));
			for (int i = 1; i < cols; i++) {
				buf_printf(&b, " %s=", sqlite3_column_name(st, i));
				switch (sqlite3_column_type(st, i)) {
				case SQLITE_NULL:
					buf_printf(&b, "NULL");
					break;
				case SQLITE_INTEGER:
					buf_printf(&b, "%lld",
						   (long long)sqlite3_column_int64(st, i));
					break;
				default:
					buf_text(&b, col_text(st, i));
					break;
				}
			}
			buf_printf(&b, "\n");
		}
		if (rc != SQLITE_DONE)
			r = wm_fsm_sqlite_err(rc);
		sqlite3_finalize(st);
	}
	if (r == 0 && (b.failed || !b.p)) {
		/* An empty state still dumps its meta row, so !b.p means failure. */
		r = -ENOMEM;
	}
	if (r < 0) {
		free(b.p);
		return r;
	}
	*out = b.p;
	return 0;
}

int wm_fsm_mesh_load(struct wm_fsm *f, struct wm_fsm_mesh *out)
{
	sqlite3_stmt *st;
	int r, rc;

	memset(out, 0, sizeof(*out));
	r = wm_fsm_prepare(f->db,
			   "SELECT ipv4_network, ipv6_network, domain, created_at, ipv4_first,"
			   " ipv4_last, ipv4_low_water, topology FROM mesh WHERE id = 1",
			   &st);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = -WM_ENOMESH;
	} else if (rc != SQLITE_ROW) {
		r = wm_fsm_sqlite_err(rc);
	} else if (wm_prefix_parse((const char *)sqlite3_column_text(st, 0),
				   &out->info.ipv4_network) < 0 ||
		   wm_prefix_parse((const char *)sqlite3_column_text(st, 1),
				   &out->info.ipv6_network) < 0) {
		r = -EBADMSG;
	} else {
		snprintf(out->info.domain, sizeof(out->info.domain), "%s",
			 (const char *)sqlite3_column_text(st, 2));
		out->info.created_at = sqlite3_column_int64(st, 3);
		out->ipv4_first = (uint32_t)sqlite3_column_int64(st, 4);
		out->ipv4_last = (uint32_t)sqlite3_column_int64(st, 5);
		out->ipv4_low_water = (uint64_t)sqlite3_column_int64(st, 6);
		out->info.topology = sqlite3_column_int(st, 7);
	}
	sqlite3_finalize(st);
	return r;
}

int wm_fsm_denied(struct wm_fsm *f, const char *node_id, bool *found)
{
	sqlite3_stmt *st;
	int r = wm_fsm_prepare(f->db, "SELECT 1 FROM denied_nodes WHERE node_id = ?1", &st);
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, node_id);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return wm_fsm_sqlite_err(rc);
	*found = rc == SQLITE_ROW;
	return 0;
}

/* ---- authorization ---- */

#undef STR
#undef STR_

static char *keep(struct wm_authz_snapshot *s, const unsigned char *text)
{
	if (s->n_strings == s->cap_strings) {
		size_t cap = s->cap_strings ? s->cap_strings * 2 : 64;
		char **p = realloc(s->strings, cap * sizeof(*p));
		if (!p)
			return NULL;
		s->strings = p;
		s->cap_strings = cap;
	}
	char *c = strdup(text ? (const char *)text : "");
	if (c)
		s->strings[s->n_strings++] = c;
	return c;
}

static int grow(void **arr, size_t n, size_t size)
{
	if (n && (n & (n - 1)))
		return 0;
	void *p = realloc(*arr, (n ? n * 2 : 8) * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	return 0;
}

int wm_fsm_authz_load(struct wm_fsm *f, struct wm_authz_snapshot *out)
{
	sqlite3_stmt *st = NULL;
	int r, rc;

	memset(out, 0, sizeof(*out));
#define T(i) sqlite3_column_text(st, i)
#define STR(i)                                                                                     \
	({                                                                                         \
		char *_s = keep(out, T(i));                                                        \
		if (!_s)                                                                           \
			goto oom;                                                                  \
		_s;                                                                                \
	})
	r = wm_fsm_prepare(f->db, "SELECT name, rules FROM rbac_roles ORDER BY name", &st);
	if (r < 0)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (grow((void **)&out->roles, out->n_roles, sizeof(*out->roles)))
			goto oom;
		struct wm_rbac_role *x = &out->roles[out->n_roles];
		x->name = STR(0);
		x->rules = STR(1);
		out->n_roles++;
	}
	sqlite3_finalize(st);
	r = wm_fsm_prepare(f->db, "SELECT name, role, subjects FROM rbac_bindings ORDER BY name",
			   &st);
	if (r < 0)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (grow((void **)&out->bindings, out->n_bindings, sizeof(*out->bindings)))
			goto oom;
		struct wm_rbac_binding *x = &out->bindings[out->n_bindings];
		x->name = STR(0);
		x->role = STR(1);
		x->subjects = STR(2);
		out->n_bindings++;
	}
	sqlite3_finalize(st);
	r = wm_fsm_prepare(f->db, "SELECT name, subjects FROM rbac_groups ORDER BY name", &st);
	if (r < 0)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (grow((void **)&out->groups, out->n_groups, sizeof(*out->groups)))
			goto oom;
		struct wm_rbac_group *x = &out->groups[out->n_groups];
		x->name = STR(0);
		x->subjects = STR(1);
		out->n_groups++;
	}
	sqlite3_finalize(st);
	r = wm_fsm_prepare(f->db,
			   "SELECT name, priority, accept, source_nodes, destination_nodes,"
			   " source_cidrs, destination_cidrs, protocols, ports FROM network_acls"
			   " ORDER BY name",
			   &st);
	if (r < 0)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (grow((void **)&out->acls, out->n_acls, sizeof(*out->acls)))
			goto oom;
		struct wm_acl *x = &out->acls[out->n_acls];
		x->name = STR(0);
		x->priority = sqlite3_column_int(st, 1);
		x->accept = sqlite3_column_int(st, 2) != 0;
		x->src_nodes = STR(3);
		x->dst_nodes = STR(4);
		x->src_cidrs = STR(5);
		x->dst_cidrs = STR(6);
		x->protocols = STR(7);
		x->ports = STR(8);
		out->n_acls++;
	}
	sqlite3_finalize(st);
	r = wm_fsm_prepare(f->db, "SELECT default_accept FROM authz_settings WHERE id = 1", &st);
	if (r < 0)
		goto fail;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->bootstrapped = true;
		out->default_accept = sqlite3_column_int(st, 0) != 0;
	} else {
		/* A mesh from before authorization existed behaves as it did: open. */
		out->default_accept = true;
	}
	sqlite3_finalize(st);
	r = wm_fsm_prepare(f->db,
			   "SELECT methods, ca_fingerprint, rbac FROM mesh_auth WHERE id = 1", &st);
	if (r < 0)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *m = (const char *)sqlite3_column_text(st, 0);
		const char *fp = (const char *)sqlite3_column_text(st, 1);
		struct wm_mesh_auth *ma = &out->mesh_auth;
		ma->rbac = sqlite3_column_int(st, 2) != 0;
		snprintf(ma->ca_fingerprint, sizeof(ma->ca_fingerprint), "%s", fp ? fp : "");
		out->has_mesh_auth = wm_mesh_auth_methods_parse(m, &ma->methods) == 0;
	}
	sqlite3_finalize(st);
	r = wm_fsm_prepare(f->db, "SELECT node_id FROM denied_nodes ORDER BY node_id", &st);
	if (r < 0)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (grow((void **)&out->denied, out->n_denied, sizeof(*out->denied)))
			goto oom;
		if (!(out->denied[out->n_denied] = STR(0)))
			goto oom;
		out->n_denied++;
	}
	sqlite3_finalize(st);
	return 0;
#undef STR
#undef T
oom:
	sqlite3_finalize(st);
	r = -ENOMEM;
fail:
	wm_authz_snapshot_free(out);
	return r;
}
