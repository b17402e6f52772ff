/* Internals shared by the FSM's files. They form layers, each using only the
 * ones below it (scripts/filecycles.py holds that there is no circle):
 *   fsm.c                  life cycle, transactions, the dispatch of commands
 *   fsm_cmd.c fsm_routes.c fsm_dns.c fsm_authz.c fsm_deny.c   the commands
 *   fsm_check.c            checks several commands share
 *   fsm_read.c schema.c    every read of the state; the tables
 *   fsm_sql.c              SQLite helpers */
#ifndef WM_STORE_FSM_INT_H
#define WM_STORE_FSM_INT_H

#include <stdarg.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/fsm.h"
#include "store/fsm_sql.h"

/* PRAGMA application_id: "wmsh", so `file state.db` and restores can tell it is ours. */
#define WM_FSM_APPLICATION_ID 0x776d7368

struct wm_fsm {
	sqlite3 *db;
	uint64_t applied; /* last index given to wm_fsm_apply, refused or not */
	/* Set at the first entry this build cannot apply (core/cmdver.h):
	 * nothing is applied from there on, and no snapshot is taken, so a
	 * restart on a newer build replays the log from that entry. */
	uint64_t stalled_at;
	uint32_t stalled_needs;
	int migrated_from; /* the schema version of the last restored snapshot, if migrated */
	/* wm_fsm_get_node's statement, prepared once: a server looks a node up
	 * on every call (its node proof) and parsing the SQL each time was a
	 * large part of its CPU at 3,000 members (bench/scale --sim, perf). */
	sqlite3_stmt *get_node;
};

/* ---- schema.c ---- */

/* Creates the tables of an empty database. */
int wm_fsm_schema_create(sqlite3 *db, char *err, size_t errlen);
/* 0 if db (a snapshot opened read-only) carries our schema or an older one
 * that migrate.c can bring up to date (its version in *version), -EINVAL
 * otherwise. */
int wm_fsm_schema_check(sqlite3 *db, int *version);

/* ---- migrate.c ---- */

/* Brings db from schema version from up to WM_FSM_SCHEMA_VERSION in one
 * transaction (nothing changes on failure, err says which step failed).
 * -EINVAL for a version no step starts from. */
int wm_fsm_migrate(sqlite3 *db, int from, char *err, size_t errlen);

/* ---- the commands ---- */

/* Command handlers, run inside the transaction wm_fsm_apply_cmd opened. They
 * return 0 with res->err set when the state refuses the command, and a
 * negative value only for an SQLite failure. */
int wm_fsm_cmd_bootstrap(struct wm_fsm *f, const Webmesh__V1__BootstrapMeshCommand *c,
			 struct wm_store_result *res);
int wm_fsm_cmd_join(struct wm_fsm *f, const Webmesh__V1__JoinNodeCommand *c,
		    struct wm_store_result *res);
int wm_fsm_cmd_remove(struct wm_fsm *f, const Webmesh__V1__RemoveNodeCommand *c,
		      struct wm_store_result *res);
int wm_fsm_cmd_put_edge(struct wm_fsm *f, const Webmesh__V1__PutEdgeCommand *c,
			struct wm_store_result *res);
int wm_fsm_cmd_delete_edge(struct wm_fsm *f, const Webmesh__V1__DeleteEdgeCommand *c,
			   struct wm_store_result *res);
/* fsm_routes.c */
int wm_fsm_cmd_put_routes(struct wm_fsm *f, const Webmesh__V1__PutRoutesCommand *c,
			  struct wm_store_result *res);
int wm_fsm_cmd_delete_routes(struct wm_fsm *f, const Webmesh__V1__DeleteRoutesCommand *c,
			     struct wm_store_result *res);

/* fsm_dns.c: MeshDNS user records */
int wm_fsm_cmd_put_dns_record(struct wm_fsm *f, const Webmesh__V1__PutDnsRecordCommand *c,
			      struct wm_store_result *res);
int wm_fsm_cmd_delete_dns_record(struct wm_fsm *f, const Webmesh__V1__DeleteDnsRecordCommand *c,
				 struct wm_store_result *res);

/* RBAC and network ACL commands (fsm_authz.c): put/delete of roles, role
 * bindings, groups and ACLs, and the authorization bootstrap. */
int wm_fsm_cmd_authz(struct wm_fsm *f, const Webmesh__V1__RaftCommand *cmd,
		     struct wm_store_result *res);

/* Denied nodes (fsm_deny.c, issue 10). */
int wm_fsm_cmd_deny(struct wm_fsm *f, const Webmesh__V1__RaftCommand *cmd,
		    struct wm_store_result *res);

/* ---- fsm_read.c: reads the commands use (the others are in fsm.h) ---- */

/* The mesh row's allocation state, read by join. */
struct wm_fsm_mesh {
	struct wm_mesh_info info;
	uint32_t ipv4_first, ipv4_last; /* host range of the IPv4 network */
	uint64_t ipv4_low_water;	/* every host below it is leased */
};
/* 0, -WM_ENOMESH, or another negative error. */
int wm_fsm_mesh_load(struct wm_fsm *f, struct wm_fsm_mesh *out);
/* Whether node_id is on the deny list. */
int wm_fsm_denied(struct wm_fsm *f, const char *node_id, bool *found);

/* ---- fsm_check.c ---- */

/* Refuses (res, *refused) a Join of a denied node. */
int wm_fsm_join_denied(struct wm_fsm *f, const char *node_id, struct wm_store_result *res,
		       bool *refused);
/* Checks one advertised route (parses, not inside a mesh network) and writes
 * its canonical network form to out; 0, or a refusal in res. */
int wm_fsm_route_check(const struct wm_fsm_mesh *m, const char *route, char *out, size_t len,
		       struct wm_store_result *res);
/* Refuses (-EACCES in res) routes of node self that overlap a route another
 * node advertises, unless overrides lists that node or any is set (the
 * leader's decision from the caller's rights, carried in the command). */
int wm_fsm_route_claims_check(struct wm_fsm *f, const char *self, char *const *routes,
			      size_t n_routes, char *const *overrides, size_t n_overrides, bool any,
			      bool checked, struct wm_store_result *res);

#endif
