/* The FSM's commands: validation and the SQL each one runs in its transaction. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "core/dnsname.h"
#include "core/error.h"
#include "core/ids.h"
#include "core/ipam.h"
#include "core/sort.h"
#include "store/fsm_int.h"

#define ATTR_MAX WM_EDGE_ATTR_MAX
#define ATTR_VALUE_MAX WM_EDGE_ATTR_VALUE_MAX

/* Runs a statement that returns no row; -errno on failure. */
static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : wm_fsm_sqlite_err(rc);
}

/* Domains become DNS names (core/dnsname.c owns the syntax). */
static int domain_check(const char *d, const char **why)
{
	return wm_dns_name_check(d, 0, why);
}

int wm_fsm_cmd_bootstrap(struct wm_fsm *f, const Webmesh__V1__BootstrapMeshCommand *c,
			 struct wm_store_result *res)
{
	struct wm_fsm_mesh m;
	struct wm_prefix v4, v6;
	char v4s[WM_PREFIX_STRLEN], v6s[WM_PREFIX_STRLEN];
	const char *why = NULL;
	uint32_t first, last;
	sqlite3_stmt *st;
	int r, topology;

	r = wm_fsm_mesh_load(f, &m);
	if (r == 0)
		return wm_fsm_refuse(res, -EEXIST, "the mesh is already bootstrapped");
	if (r != -WM_ENOMESH)
		return r;
	if (wm_prefix_parse(c->network_ipv4, &v4) < 0 || v4.family != AF_INET)
		return wm_fsm_refuse(res, -EINVAL, "invalid IPv4 network \"%.60s\"",
				     c->network_ipv4);
	v4 = wm_prefix_network(&v4);
	if (wm_ipam_v4_range(&v4, &first, &last) < 0)
		return wm_fsm_refuse(res, -EINVAL, "IPv4 network %.60s has no usable address",
				     c->network_ipv4);
	if (wm_prefix_parse(c->network_ipv6, &v6) < 0 || v6.family != AF_INET6 ||
	    v6.len != WM_MESH_IPV6_LEN)
		return wm_fsm_refuse(res, -EINVAL, "invalid IPv6 network \"%.60s\" (want a /48)",
				     c->network_ipv6);
	v6 = wm_prefix_network(&v6);
	if (domain_check(c->domain, &why) < 0)
		return wm_fsm_refuse(res, -EINVAL, "invalid mesh domain \"%.64s\": %s", c->domain,
				     why);
	if (!c->topology || !*c->topology || strcmp(c->topology, "full") == 0)
		topology = WM_TOPOLOGY_FULL;
	else if (strcmp(c->topology, "manual") == 0)
		topology = WM_TOPOLOGY_MANUAL;
	else
		return wm_fsm_refuse(res, -EINVAL,
				     "invalid topology \"%.32s\" (want \"full\" or \"manual\")",
				     c->topology);
	if (wm_prefix_format(&v4, v4s, sizeof(v4s)) < 0 ||
	    wm_prefix_format(&v6, v6s, sizeof(v6s)) < 0)
		return -EINVAL;
	r = wm_fsm_prepare(f->db,
			   "INSERT INTO mesh (id, ipv4_network, ipv6_network, domain, created_at,"
			   " ipv4_first, ipv4_last, ipv4_low_water, topology)"
			   " VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?5, ?7)",
			   &st);
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, v4s);
	wm_fsm_bind_text(st, 2, v6s);
	wm_fsm_bind_text(st, 3, c->domain);
	sqlite3_bind_int64(st, 4, c->created_at);
	sqlite3_bind_int64(st, 5, first);
	sqlite3_bind_int64(st, 6, last);
	sqlite3_bind_int(st, 7, topology);
	return step_done(st);
}

/* Joins strings with ',' into a malloc'd string; "" for none. */
static char *join_list(char **items, size_t n)
{
	size_t len = 1;
	char *out, *p;

	for (size_t i = 0; i < n; i++)
		len += strlen(items[i]) + 1;
	out = malloc(len);
	if (!out)
		return NULL;
	p = out;
	*p = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		p = stpcpy(p, items[i]);
	}
	return out;
}

/* The validated, canonical form of a JoinNodeCommand. */
struct join {
	wm_key key;
	char key_b64[WM_KEY_B64_LEN + 1];
	char *endpoints; /* "a,b" canonical, malloc'd */
	char *routes;	 /* "p,q" canonical network form, malloc'd */
	char libp2p_id[WM_P2P_PUB_ID_MAX];
	char libp2p_addrs[WM_P2P_PUB_ADDRS_MAX];
	bool has_request;
	bool strict; /* an IPAM plugin chose it: taken = refused */
	struct wm_prefix request;
};

static int canon_list(char **in, size_t n, bool endpoints, char **out, char *bad, size_t badlen)
{
	char **items = calloc(n ? n : 1, sizeof(*items));
	char buf[WM_ENDPOINT_STRLEN > WM_PREFIX_STRLEN ? WM_ENDPOINT_STRLEN : WM_PREFIX_STRLEN];
	int r = 0;
	size_t i;

	if (!items)
		return -ENOMEM;
	for (i = 0; i < n && r == 0; i++) {
		if (endpoints) {
			struct wm_endpoint e;
			r = wm_endpoint_parse(in[i], &e);
			if (r == 0)
				r = wm_endpoint_format(&e, buf, sizeof(buf));
		} else {
			struct wm_prefix p;
			r = wm_prefix_parse(in[i], &p);
			if (r == 0) {
				p = wm_prefix_network(&p);
				r = wm_prefix_format(&p, buf, sizeof(buf));
			}
		}
		if (r < 0) {
			snprintf(bad, badlen, "%.60s", in[i]);
			r = -EINVAL;
			break;
		}
		items[i] = strdup(buf);
		if (!items[i])
			r = -ENOMEM;
	}
	if (r == 0) {
		*out = join_list(items, n);
		if (!*out)
			r = -ENOMEM;
	}
	for (size_t j = 0; j < n; j++)
		free(items[j]);
	free(items);
	return r;
}

static int join_validate(const Webmesh__V1__JoinNodeCommand *c, struct join *j,
			 struct wm_store_result *res)
{
	const char *why = NULL;
	char bad[64];
	int r;

	if (wm_node_id_check(c->id, &why) < 0)
		return wm_fsm_refuse(res, -EINVAL, "invalid node ID: %s", why);
	if (wm_key_from_base64(c->public_key, j->key) < 0 || wm_key_is_zero(j->key))
		return wm_fsm_refuse(res, -EINVAL,
				     "invalid public key for node %s (want a 44-character base64 "
				     "WireGuard key)",
				     c->id);
	wm_key_to_base64(j->key, j->key_b64);
	if (c->n_endpoints > WM_MAX_ENDPOINTS)
		return wm_fsm_refuse(res, -EINVAL, "too many endpoints (%zu, at most %d)",
				     c->n_endpoints, WM_MAX_ENDPOINTS);
	if (c->n_routes > WM_MAX_ROUTES)
		return wm_fsm_refuse(res, -EINVAL, "too many routes (%zu, at most %d)", c->n_routes,
				     WM_MAX_ROUTES);
	if (c->listen_port > 65535)
		return wm_fsm_refuse(res, -EINVAL, "invalid listen port %u", c->listen_port);
	if (c->raft_role < WM_ROLE_MEMBER || c->raft_role > WM_ROLE_OBSERVER)
		return wm_fsm_refuse(res, -EINVAL, "invalid raft role %d", c->raft_role);
	if (c->zone && *c->zone && wm_zone_check(c->zone, &why) < 0)
		return wm_fsm_refuse(res, -EINVAL, "invalid zone \"%.64s\": %s", c->zone, why);
	if (c->ipv4_request && *c->ipv4_request) {
		if (wm_prefix_parse(c->ipv4_request, &j->request) < 0 ||
		    j->request.family != AF_INET)
			return wm_fsm_refuse(res, -EINVAL,
					     "invalid requested IPv4 address \"%.60s\"",
					     c->ipv4_request);
		j->has_request = true;
		j->strict = c->ipv4_request_strict;
	}
	char p2p_why[160];
	if (wm_p2p_pub_canon(c->libp2p_peer_id, c->libp2p_addrs, c->n_libp2p_addrs, j->libp2p_id,
			     j->libp2p_addrs, p2p_why, sizeof(p2p_why)))
		return wm_fsm_refuse(res, -EINVAL, "node %s: %s", c->id, p2p_why);
	r = canon_list(c->endpoints, c->n_endpoints, true, &j->endpoints, bad, sizeof(bad));
	if (r == -EINVAL)
		return wm_fsm_refuse(res, -EINVAL, "invalid endpoint \"%s\" (want IP:port)", bad);
	if (r < 0)
		return r;
	r = canon_list(c->routes, c->n_routes, false, &j->routes, bad, sizeof(bad));
	if (r == -EINVAL)
		return wm_fsm_refuse(res, -EINVAL, "invalid route \"%s\" (want a prefix)", bad);
	return r;
}

/* 0 and *found (with the stored key in key_b64) if the node exists. */
static int node_key(struct wm_fsm *f, const char *id, bool *found, char *key_b64)
{
	sqlite3_stmt *st;
	int r = wm_fsm_prepare(f->db, "SELECT public_key FROM nodes WHERE id = ?1", &st), rc;

	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, id);
	rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	if (*found)
		snprintf(key_b64, WM_KEY_B64_LEN + 1, "%s",
			 (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : wm_fsm_sqlite_err(rc);
}

/* The ID of the node matching `where` (one bound text ?1, one bound int ?2). */
static int node_where(struct wm_fsm *f, const char *where, const char *text, int64_t num,
		      char *id_out)
{
	char sql[160];
	sqlite3_stmt *st;
	int r, rc;

	snprintf(sql, sizeof(sql), "SELECT id FROM nodes WHERE %s LIMIT 1", where);
	r = wm_fsm_prepare(f->db, sql, &st);
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, text);
	sqlite3_bind_int64(st, 2, num);
	rc = sqlite3_step(st);
	id_out[0] = '\0';
	if (rc == SQLITE_ROW)
		snprintf(id_out, WM_NODE_ID_MAX + 1, "%s",
			 (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : wm_fsm_sqlite_err(rc);
}

static int lease_taken(struct wm_fsm *f, uint32_t addr, bool *taken)
{
	sqlite3_stmt *st;
	int r = wm_fsm_prepare(f->db, "SELECT 1 FROM leases WHERE ipv4 = ?1", &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, addr);
	rc = sqlite3_step(st);
	*taken = rc == SQLITE_ROW;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : wm_fsm_sqlite_err(rc);
}

/*
 * The lowest free host. The mesh row keeps a low-water mark below which every
 * host is leased (raised by allocations, lowered by releases), and the search
 * walks the leases table - ordered by address, it is the rowid - from there up
 * to the first gap. With leases handed out in order and none released, the
 * first lease at or above the mark is past the gap, so an allocation costs one
 * index probe, not a read of every node; after a release the mark points at
 * the released host and the next allocation takes it at once. Only a run of
 * hand-picked (requested) addresses just above the mark is walked, once.
 */
static int lease_next(struct wm_fsm *f, const struct wm_fsm_mesh *m, uint32_t *out)
{
	uint64_t cand = m->ipv4_low_water > m->ipv4_first ? m->ipv4_low_water : m->ipv4_first;
	sqlite3_stmt *st;
	int r, rc;

	if (cand > m->ipv4_last)
		return -WM_EEXHAUSTED;
	r = wm_fsm_prepare(f->db, "SELECT ipv4 FROM leases WHERE ipv4 >= ?1 ORDER BY ipv4", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)cand);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((uint64_t)sqlite3_column_int64(st, 0) != cand || ++cand > m->ipv4_last)
			break;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return wm_fsm_sqlite_err(rc);
	if (cand > m->ipv4_last)
		return -WM_EEXHAUSTED;
	*out = (uint32_t)cand;
	return 0;
}

static int set_low_water(struct wm_fsm *f, const char *sql, uint64_t v)
{
	sqlite3_stmt *st;
	int r = wm_fsm_prepare(f->db, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)v);
	return step_done(st);
}

/* Picks the lease for a new node: the requested host if it is free, else the lowest free. */
static int lease_pick(struct wm_fsm *f, const struct wm_fsm_mesh *m, const struct join *j,
		      uint32_t *addr, struct wm_store_result *res)
{
	char net[WM_PREFIX_STRLEN];
	bool taken = true;
	uint64_t low;
	int r;

	wm_prefix_format(&m->info.ipv4_network, net, sizeof(net));
	if (j->has_request) {
		uint32_t want = wm_prefix_ipv4_u32(&j->request);
		if (want < m->ipv4_first || want > m->ipv4_last)
			return wm_fsm_refuse(
				res, -EINVAL,
				"requested IPv4 address is not a host of the mesh network %s", net);
		r = lease_taken(f, want, &taken);
		if (r < 0)
			return r;
		if (!taken)
			*addr = want;
		else if (j->strict)
			/* A plugin's answer is never second-guessed into another
			 * address, nor allowed to duplicate one. */
			return wm_fsm_refuse(res, -EEXIST,
					     "the IPAM plugin's address for the node is leased to "
					     "another node");
	}
	if (taken) {
		r = lease_next(f, m, addr);
		if (r == -WM_EEXHAUSTED)
			return wm_fsm_refuse(res, -WM_EEXHAUSTED,
					     "no free IPv4 address left in the mesh network %s",
					     net);
		if (r < 0)
			return r;
	}
	/* Every host below the mark was leased and the search found *addr the
	 * lowest free one (or a request took exactly the mark): raise it. */
	low = m->ipv4_low_water > m->ipv4_first ? m->ipv4_low_water : m->ipv4_first;
	if (taken || *addr == low)
		return set_low_water(f, "UPDATE mesh SET ipv4_low_water = ?1 WHERE id = 1",
				     (uint64_t)*addr + 1);
	return 0;
}

static int insert_node(struct wm_fsm *f, const Webmesh__V1__JoinNodeCommand *c,
		       const struct join *j, const struct wm_fsm_mesh *m, uint32_t addr,
		       struct wm_store_result *res)
{
	uint8_t digest[SHA256_DIGEST_LENGTH];
	char v6s[WM_PREFIX_STRLEN], other[WM_NODE_ID_MAX + 1];
	struct wm_prefix v6;
	int64_t raft_id = (int64_t)wm_store_raft_id(c->id);
	sqlite3_stmt *st;
	int r;

	SHA256(j->key, WM_KEY_LEN, digest);
	v6 = wm_ipam_v6_node_prefix(&m->info.ipv6_network, digest);
	if (wm_prefix_format(&v6, v6s, sizeof(v6s)) < 0)
		return -EINVAL;
	/* 64-bit hashes: a clash is (nearly) impossible by chance, but refusing
	 * one keeps two nodes from sharing a prefix or a raft identity. */
	r = node_where(f, "ipv6 = ?1 OR raft_id = ?2", v6s, raft_id, other);
	if (r < 0)
		return r;
	if (other[0])
		return wm_fsm_refuse(
			res, -EEXIST,
			"node %s's derived IPv6 prefix or raft ID collides with node %s", c->id,
			other);
	r = wm_fsm_prepare(
		f->db,
		"INSERT INTO nodes (id, raft_id, public_key, ipv6, endpoints, listen_port,"
		" raft_role, zone, joined_at, routes, exit_node, libp2p_id, libp2p_addrs)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
		&st);
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, c->id);
	sqlite3_bind_int64(st, 2, raft_id);
	wm_fsm_bind_text(st, 3, j->key_b64);
	wm_fsm_bind_text(st, 4, v6s);
	wm_fsm_bind_text(st, 5, j->endpoints);
	sqlite3_bind_int64(st, 6, c->listen_port);
	sqlite3_bind_int(st, 7, c->raft_role);
	wm_fsm_bind_text(st, 8, c->zone);
	sqlite3_bind_int64(st, 9, c->joined_at);
	wm_fsm_bind_text(st, 10, j->routes);
	wm_fsm_bind_text(st, 11, c->exit_node);
	wm_fsm_bind_text(st, 12, j->libp2p_id);
	wm_fsm_bind_text(st, 13, j->libp2p_addrs);
	r = step_done(st);
	if (r < 0)
		return r;
	r = wm_fsm_prepare(f->db, "INSERT INTO leases (ipv4, node_id) VALUES (?1, ?2)", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, addr);
	wm_fsm_bind_text(st, 2, c->id);
	return step_done(st);
}

static int update_node(struct wm_fsm *f, const Webmesh__V1__JoinNodeCommand *c,
		       const struct join *j)
{
	sqlite3_stmt *st;
	int r = wm_fsm_prepare(f->db,
			       "UPDATE nodes SET endpoints = ?2, listen_port = ?3, raft_role = ?4,"
			       " zone = ?5, routes = ?6, exit_node = ?7, libp2p_id = ?8,"
			       " libp2p_addrs = ?9 WHERE id = ?1",
			       &st);

	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, c->id);
	wm_fsm_bind_text(st, 2, j->endpoints);
	sqlite3_bind_int64(st, 3, c->listen_port);
	sqlite3_bind_int(st, 4, c->raft_role);
	wm_fsm_bind_text(st, 5, c->zone);
	wm_fsm_bind_text(st, 6, j->routes);
	wm_fsm_bind_text(st, 7, c->exit_node);
	wm_fsm_bind_text(st, 8, j->libp2p_id);
	wm_fsm_bind_text(st, 9, j->libp2p_addrs);
	return step_done(st);
}

/* Adds weight-1 edges from id to the nodes `where` selects (bound: ?1 the new
 * node, ?2 text); existing links keep their weight. */
static int add_edges(struct wm_fsm *f, const char *id, const char *where, const char *text)
{
	char sql[256];
	sqlite3_stmt *st;
	int r;

	snprintf(sql, sizeof(sql),
		 "INSERT OR IGNORE INTO edges (source, target, weight)"
		 " SELECT min(?1, id), max(?1, id), 1 FROM nodes WHERE id <> ?1 AND (%s)"
		 " ORDER BY id",
		 where);
	r = wm_fsm_prepare(f->db, sql, &st);
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, id);
	wm_fsm_bind_text(st, 2, text);
	return step_done(st);
}

/*
 * The edges a new node gets. Full topology: one to every node. Manual: one to
 * the server it joined through (via; without one, every voter, which in a
 * one-server mesh is that server), and one to each node of its zone, so that a
 * site's nodes talk directly and reach the rest through their server.
 */
static int join_edges(struct wm_fsm *f, const struct wm_fsm_mesh *m,
		      const Webmesh__V1__JoinNodeCommand *c)
{
	char stored[WM_KEY_B64_LEN + 1];
	bool via = false;
	int r;

	if (m->info.topology != WM_TOPOLOGY_MANUAL)
		return add_edges(f, c->id, "1", NULL);
	if (c->via && *c->via && strcmp(c->via, c->id) != 0) {
		r = node_key(f, c->via, &via, stored);
		if (r < 0)
			return r;
	}
	r = via ? add_edges(f, c->id, "id = ?2", c->via)
		: add_edges(f, c->id, "raft_role = 1", NULL);
	if (r == 0 && c->zone && *c->zone)
		r = add_edges(f, c->id, "zone = ?2", c->zone);
	return r;
}

/* Node routes checked against the mesh networks; with the routes an
 * administrator put, at most WM_MAX_ROUTES in all. */
static int join_routes_check(struct wm_fsm *f, const struct wm_fsm_mesh *m,
			     const Webmesh__V1__JoinNodeCommand *c, struct wm_store_result *res)
{
	char canon[WM_PREFIX_STRLEN];
	sqlite3_stmt *st;
	int64_t extra = 0;
	int r, rc;

	for (size_t i = 0; i < c->n_routes; i++) {
		r = wm_fsm_route_check(m, c->routes[i], canon, sizeof(canon), res);
		if (r < 0 || res->err)
			return r;
	}
	r = wm_fsm_route_claims_check(f, c->id, c->routes, c->n_routes, c->route_overrides,
				      c->n_route_overrides, c->route_override_any,
				      c->route_claims_checked, res);
	if (r < 0 || res->err)
		return r;
	r = wm_fsm_prepare(f->db, "SELECT count(*) FROM routes WHERE node_id = ?1", &st);
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, c->id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		extra = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return wm_fsm_sqlite_err(rc);
	if ((int64_t)c->n_routes + extra > WM_MAX_ROUTES)
		return wm_fsm_refuse(res, -EINVAL,
				     "node %s would advertise %lld routes (at most %d, %lld of "
				     "them put by an administrator)",
				     c->id, (long long)c->n_routes + extra, WM_MAX_ROUTES,
				     (long long)extra);
	return 0;
}

static int join_run(struct wm_fsm *f, const Webmesh__V1__JoinNodeCommand *c, struct join *j,
		    struct wm_store_result *res)
{
	char stored[WM_KEY_B64_LEN + 1], other[WM_NODE_ID_MAX + 1];
	const char *why = NULL;
	struct wm_fsm_mesh m;
	uint32_t addr = 0;
	bool found;
	int r;

	r = join_validate(c, j, res);
	if (r < 0 || res->err)
		return r;
	r = wm_fsm_mesh_load(f, &m);
	if (r == -WM_ENOMESH)
		return wm_fsm_refuse(res, -WM_ENOMESH, "the mesh has not been bootstrapped yet");
	if (r < 0)
		return r;
	if (c->via && *c->via && wm_node_id_check(c->via, &why) < 0)
		return wm_fsm_refuse(res, -EINVAL, "invalid via node ID: %s", why);
	if (c->exit_node && *c->exit_node &&
	    (wm_node_id_check(c->exit_node, &why) < 0 || strcmp(c->exit_node, c->id) == 0))
		return wm_fsm_refuse(res, -EINVAL, "invalid exit node ID for node %s: %s", c->id,
				     why ? why : "it names the node itself");
	r = join_routes_check(f, &m, c, res);
	if (r < 0 || res->err)
		return r;
	r = node_key(f, c->id, &found, stored);
	if (r < 0)
		return r;
	if (found && strcmp(stored, j->key_b64) != 0)
		return wm_fsm_refuse(res, -WM_EKEYMISMATCH,
				     "node ID %s is registered with another public key", c->id);
	if (found) {
		/* A node coming back (restart, new endpoints) keeps its lease. */
		r = update_node(f, c, j);
	} else {
		r = node_where(f, "public_key = ?1", j->key_b64, 0, other);
		if (r < 0)
			return r;
		if (other[0])
			return wm_fsm_refuse(
				res, -EEXIST,
				"the public key of node %s is already registered to node %s", c->id,
				other);
		r = lease_pick(f, &m, j, &addr, res);
		if (r < 0 || res->err)
			return r;
		r = insert_node(f, c, j, &m, addr, res);
	}
	if (r < 0 || res->err)
		return r;
	/* Only a new node gets the default edges: after that the user governs
	 * them, and a node coming back must not revive an edge deleted on purpose. */
	if (c->full_mesh && !found) {
		r = join_edges(f, &m, c);
		if (r < 0)
			return r;
	}
	r = wm_fsm_get_node(f, c->id, &res->node);
	return r;
}

int wm_fsm_cmd_join(struct wm_fsm *f, const Webmesh__V1__JoinNodeCommand *c,
		    struct wm_store_result *res)
{
	struct join j;
	int r;

	memset(&j, 0, sizeof(j));
	bool refused = false;
	r = wm_fsm_join_denied(f, c->id, res, &refused);
	if (r < 0 || refused)
		return r;
	r = join_run(f, c, &j, res);
	free(j.endpoints);
	free(j.routes);
	return r;
}

int wm_fsm_cmd_remove(struct wm_fsm *f, const Webmesh__V1__RemoveNodeCommand *c,
		      struct wm_store_result *res)
{
	const char *why = NULL;
	sqlite3_stmt *st;
	int64_t lease = -1;
	int r, rc;

	if (wm_node_id_check(c->id, &why) < 0)
		return wm_fsm_refuse(res, -EINVAL, "invalid node ID: %s", why);
	r = wm_fsm_prepare(f->db, "SELECT ipv4 FROM leases WHERE node_id = ?1", &st);
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, c->id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		lease = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return wm_fsm_sqlite_err(rc);
	/* The lease and the node's edges go with it (ON DELETE CASCADE). */
	r = wm_fsm_prepare(f->db, "DELETE FROM nodes WHERE id = ?1", &st);
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, c->id);
	r = step_done(st);
	if (r < 0)
		return r;
	if (sqlite3_changes(f->db) == 0)
		return wm_fsm_refuse(res, -ENOENT, "node %s does not exist", c->id);
	if (lease >= 0)
		return set_low_water(f,
				     "UPDATE mesh SET ipv4_low_water = min(ipv4_low_water, ?1)"
				     " WHERE id = 1",
				     (uint64_t)lease);
	return 0;
}

/* Both IDs valid, distinct and stored; refuses otherwise. */
static int edge_nodes(struct wm_fsm *f, const char *a, const char *b, struct wm_store_result *res)
{
	const char *ids[2] = {a, b}, *why = NULL;
	char stored[WM_KEY_B64_LEN + 1];
	bool found;
	int r;

	for (int i = 0; i < 2; i++) {
		if (wm_node_id_check(ids[i], &why) < 0)
			return wm_fsm_refuse(res, -EINVAL, "invalid edge %s node ID: %s",
					     i ? "target" : "source", why);
	}
	if (strcmp(a, b) == 0)
		return wm_fsm_refuse(res, -EINVAL,
				     "an edge needs two different nodes (got %s twice)", a);
	for (int i = 0; i < 2; i++) {
		r = node_key(f, ids[i], &found, stored);
		if (r < 0)
			return r;
		if (!found)
			return wm_fsm_refuse(res, -ENOENT, "node %s does not exist", ids[i]);
	}
	return 0;
}

static int attr_cmp(const void *x, const void *y)
{
	const Webmesh__V1__PutEdgeCommand__AttributesEntry *const *a = x, *const *b = y;

	return strcmp((*a)->key, (*b)->key);
}

static char *json_put(char *p, const char *s)
{
	*p++ = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			p += sprintf(p, "\\u%04x", c);
		} else {
			*p++ = (char)c;
		}
	}
	*p++ = '"';
	return p;
}

/* The attributes as JSON with sorted keys, so equal maps store equal text. */
static int attrs_json(const Webmesh__V1__PutEdgeCommand *c, char **out, struct wm_store_result *res)
{
	Webmesh__V1__PutEdgeCommand__AttributesEntry **sorted;
	size_t cap = 3;
	char *p;

	if (c->n_attributes > ATTR_MAX)
		return wm_fsm_refuse(res, -EINVAL, "too many edge attributes (%zu, at most %d)",
				     c->n_attributes, ATTR_MAX);
	for (size_t i = 0; i < c->n_attributes; i++) {
		const char *k = c->attributes[i]->key, *v = c->attributes[i]->value;
		if (wm_edge_attr_key_check(k, NULL) < 0)
			return wm_fsm_refuse(
				res, -EINVAL,
				"invalid edge attribute key (1-63 of A-Z a-z 0-9 - _ . /)");
		if (strnlen(v, ATTR_VALUE_MAX + 1) > ATTR_VALUE_MAX)
			return wm_fsm_refuse(res, -EINVAL,
					     "edge attribute %s is longer than %d bytes", k,
					     ATTR_VALUE_MAX);
		cap += 6 * (strlen(k) + strlen(v)) + 6;
	}
	sorted = calloc(c->n_attributes ? c->n_attributes : 1, sizeof(*sorted));
	*out = malloc(cap);
	if (!sorted || !*out) {
		free(sorted);
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	if (c->n_attributes) /* attributes is NULL when there are none */
		memcpy(sorted, c->attributes, c->n_attributes * sizeof(*sorted));
	wm_sort(sorted, c->n_attributes, sizeof(*sorted), attr_cmp);
	p = *out;
	*p++ = '{';
	for (size_t i = 0; i < c->n_attributes; i++) {
		if (i && strcmp(sorted[i - 1]->key, sorted[i]->key) == 0) {
			wm_fsm_refuse(res, -EINVAL, "edge attribute %s is given twice",
				      sorted[i]->key);
			break;
		}
		if (i)
			*p++ = ',';
		p = json_put(p, sorted[i]->key);
		*p++ = ':';
		p = json_put(p, sorted[i]->value);
	}
	*p++ = '}';
	*p = '\0';
	free(sorted);
	return 0;
}

int wm_fsm_cmd_put_edge(struct wm_fsm *f, const Webmesh__V1__PutEdgeCommand *c,
			struct wm_store_result *res)
{
	sqlite3_stmt *st;
	char *attrs = NULL;
	int r;

	r = edge_nodes(f, c->source, c->target, res);
	if (r < 0 || res->err)
		return r;
	if (c->weight < 1)
		return wm_fsm_refuse(res, -EINVAL, "edge weight must be at least 1 (got %d)",
				     c->weight);
	r = attrs_json(c, &attrs, res);
	if (r < 0 || res->err) {
		free(attrs);
		return r;
	}
	r = wm_fsm_prepare(f->db,
			   "INSERT INTO edges (source, target, weight, attributes)"
			   " VALUES (min(?1, ?2), max(?1, ?2), ?3, ?4)"
			   " ON CONFLICT (source, target) DO UPDATE"
			   " SET weight = excluded.weight, attributes = excluded.attributes",
			   &st);
	if (r == 0) {
		wm_fsm_bind_text(st, 1, c->source);
		wm_fsm_bind_text(st, 2, c->target);
		sqlite3_bind_int(st, 3, c->weight);
		wm_fsm_bind_text(st, 4, attrs);
		r = step_done(st);
	}
	free(attrs);
	return r;
}

int wm_fsm_cmd_delete_edge(struct wm_fsm *f, const Webmesh__V1__DeleteEdgeCommand *c,
			   struct wm_store_result *res)
{
	sqlite3_stmt *st;
	int r;

	r = edge_nodes(f, c->source, c->target, res);
	if (r < 0 || res->err)
		return r;
	r = wm_fsm_prepare(f->db,
			   "DELETE FROM edges WHERE source = min(?1, ?2) AND target = max(?1, ?2)",
			   &st);
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, c->source);
	wm_fsm_bind_text(st, 2, c->target);
	r = step_done(st);
	if (r < 0)
		return r;
	if (sqlite3_changes(f->db) == 0)
		return wm_fsm_refuse(res, -ENOENT, "there is no edge between %s and %s", c->source,
				     c->target);
	return 0;
}
