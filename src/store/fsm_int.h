/* Internals shared by the FSM's files (fsm.c, fsm_cmd.c, fsm_read.c, schema.c). */
#ifndef WM_STORE_FSM_INT_H
#define WM_STORE_FSM_INT_H

#include <stdarg.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/fsm.h"

/* Bumped when the schema changes; a snapshot with another version is refused. */
#define WM_FSM_SCHEMA_VERSION 5
/* PRAGMA application_id: "wmsh", so `file state.db` and restores can tell it is ours. */
#define WM_FSM_APPLICATION_ID 0x776d7368

struct wm_fsm {
	sqlite3 *db;
	uint64_t applied; /* last index given to wm_fsm_apply, refused or not */
};

/* Creates the tables of an empty database. */
int wm_fsm_schema_create(sqlite3 *db, char *err, size_t errlen);
/* 0 if db (a snapshot opened read-only) carries our schema, -EINVAL otherwise. */
int wm_fsm_schema_check(sqlite3 *db);

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

/* Denied nodes (fsm_deny.c, issue 10). wm_fsm_join_denied refuses (res,
 * *refused) a Join of a denied node. */
int wm_fsm_cmd_deny(struct wm_fsm *f, const Webmesh__V1__RaftCommand *cmd,
		    struct wm_store_result *res);
int wm_fsm_denied(struct wm_fsm *f, const char *node_id, bool *found);
int wm_fsm_join_denied(struct wm_fsm *f, const char *node_id, struct wm_store_result *res,
		       bool *refused);

/* Fills res with a refusal; always returns 0 so handlers can `return refuse(...)`. */
int wm_fsm_refuse(struct wm_store_result *res, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Small SQLite helpers: prepare or fail with -EIO. */
int wm_fsm_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st);
/* Maps an SQLite result code to a negative errno. */
int wm_fsm_sqlite_err(int rc);
/* Binds text that may be NULL as ''. */
int wm_fsm_bind_text(sqlite3_stmt *st, int i, const char *s);

/* The mesh row's allocation state, read by join. */
struct wm_fsm_mesh {
	struct wm_mesh_info info;
	uint32_t ipv4_first, ipv4_last; /* host range of the IPv4 network */
	uint64_t ipv4_low_water;	/* every host below it is leased */
};
/* 0, -WM_ENOMESH, or another negative error. */
int wm_fsm_mesh_load(struct wm_fsm *f, struct wm_fsm_mesh *out);
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
