/* The FSM's SQLite schema: typed tables whose constraints back the FSM's checks. */
#include <errno.h>
#include <stdio.h>

#include "store/fsm_int.h"

/*
 * Constraints repeat what the command handlers check first (with a message a
 * user can act on); they are the backstop that keeps a bug from storing a
 * state no handler would produce. Text columns hold canonical forms written by
 * the handlers (prefixes in network form, keys in base64), so that a dump and
 * every replica compare byte-wise.
 */
static const char schema_sql[] =
	/* Fixed so that every replica's file, and so every snapshot, has the same
	 * layout whatever SQLite's compiled-in default is. */
	"PRAGMA page_size = 4096;"
	"CREATE TABLE meta ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  applied_index INTEGER NOT NULL CHECK (applied_index >= 0)"
	");"
	"INSERT INTO meta (id, applied_index) VALUES (1, 0);"
	"CREATE TABLE mesh ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  ipv4_network TEXT NOT NULL,"
	"  ipv6_network TEXT NOT NULL,"
	"  domain TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  ipv4_first INTEGER NOT NULL,"
	"  ipv4_last INTEGER NOT NULL CHECK (ipv4_last >= ipv4_first),"
	/* Every host in [ipv4_first, ipv4_low_water) is leased: where the search
	 * for the lowest free host starts (see fsm_cmd.c). */
	"  ipv4_low_water INTEGER NOT NULL,"
	"  topology INTEGER NOT NULL DEFAULT 0 CHECK (topology IN (0, 1))"
	");"
	"CREATE TABLE nodes ("
	"  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 63),"
	"  raft_id INTEGER NOT NULL UNIQUE CHECK (raft_id <> 0),"
	"  public_key TEXT NOT NULL UNIQUE CHECK (length(public_key) = 44),"
	"  ipv6 TEXT NOT NULL UNIQUE,"
	"  endpoints TEXT NOT NULL,"
	"  listen_port INTEGER NOT NULL CHECK (listen_port BETWEEN 0 AND 65535),"
	"  raft_role INTEGER NOT NULL CHECK (raft_role IN (0, 1, 2)),"
	"  zone TEXT NOT NULL,"
	"  joined_at INTEGER NOT NULL,"
	"  routes TEXT NOT NULL,"
	"  exit_node TEXT NOT NULL DEFAULT ''"
	/* schema 7 (WireGuard over libp2p): as ALTER TABLE ADD COLUMN writes them */
	", libp2p_id TEXT NOT NULL DEFAULT '', libp2p_addrs TEXT NOT NULL DEFAULT ''"
	") WITHOUT ROWID;"
	/* ipv4 is the host-order address: as the rowid, the table is its own
	 * ordered index, which the free-host search walks. */
	"CREATE TABLE leases ("
	"  ipv4 INTEGER PRIMARY KEY CHECK (ipv4 BETWEEN 0 AND 4294967295),"
	"  node_id TEXT NOT NULL UNIQUE REFERENCES nodes(id) ON DELETE CASCADE"
	");"
	/* One row per link: source < target (byte-wise), so A-B and B-A can never
	 * be stored with two different weights. */
	"CREATE TABLE edges ("
	"  source TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,"
	"  target TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,"
	"  weight INTEGER NOT NULL CHECK (weight >= 1),"
	"  attributes TEXT NOT NULL DEFAULT '{}',"
	"  PRIMARY KEY (source, target),"
	"  CHECK (source < target)"
	") WITHOUT ROWID;"
	/* The cascade on target (and the edges of one node) would scan without it. */
	"CREATE INDEX edges_by_target ON edges (target);"
	/* Routes an administrator put behind a node; the node's own (--routes)
	 * are in nodes.routes and refreshed by every join, these stay. */
	"CREATE TABLE routes ("
	"  node_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,"
	"  prefix TEXT NOT NULL,"
	"  PRIMARY KEY (node_id, prefix)"
	") WITHOUT ROWID;"
	/* RBAC objects and network ACLs (fsm_authz.c): the canonical text
	 * forms of core/rbac.h and core/acl.h, checked before they are stored. */
	"CREATE TABLE authz_settings ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  default_accept INTEGER NOT NULL CHECK (default_accept IN (0, 1)),"
	"  admin TEXT NOT NULL"
	");"
	"CREATE TABLE rbac_roles ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  builtin INTEGER NOT NULL CHECK (builtin IN (0, 1)),"
	"  rules TEXT NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE rbac_bindings ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  builtin INTEGER NOT NULL CHECK (builtin IN (0, 1)),"
	"  role TEXT NOT NULL,"
	"  subjects TEXT NOT NULL"
	") WITHOUT ROWID;"
	/* Deleting a role looks for a binding to it (schema 6, migrate.c). */
	"CREATE INDEX rbac_bindings_by_role ON rbac_bindings (role);"
	"CREATE TABLE rbac_groups ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  subjects TEXT NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE network_acls ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  priority INTEGER NOT NULL,"
	"  accept INTEGER NOT NULL CHECK (accept IN (0, 1)),"
	"  source_nodes TEXT NOT NULL,"
	"  destination_nodes TEXT NOT NULL,"
	"  source_cidrs TEXT NOT NULL,"
	"  destination_cidrs TEXT NOT NULL,"
	"  protocols TEXT NOT NULL,"
	"  ports TEXT NOT NULL"
	") WITHOUT ROWID;"
	/* The mesh's authentication settings (issue 10; core/meshauth.h), set
	 * once by BootstrapAuthzCommand: what every server must enforce. */
	"CREATE TABLE mesh_auth ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  methods TEXT NOT NULL,"
	"  ca_fingerprint TEXT NOT NULL,"
	"  rbac INTEGER NOT NULL CHECK (rbac IN (0, 1))"
	");"
	/* Nodes an administrator removed (issue 10): refused until allowed. */
	"CREATE TABLE denied_nodes ("
	"  node_id TEXT PRIMARY KEY NOT NULL CHECK (length(node_id) BETWEEN 1 AND 63),"
	"  by TEXT NOT NULL,"
	"  denied_at INTEGER NOT NULL"
	") WITHOUT ROWID;"
	/* MeshDNS user records, canonical (core/dnsname.c). */
	"CREATE TABLE dns_records ("
	"  name TEXT NOT NULL,"
	"  type TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  PRIMARY KEY (name, type, value)"
	") WITHOUT ROWID;";

int wm_fsm_schema_create(sqlite3 *db, char *err, size_t errlen)
{
	char sql[64];
	char *msg = NULL;
	int rc;

	rc = sqlite3_exec(db, schema_sql, NULL, NULL, &msg);
	if (rc == SQLITE_OK) {
		snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; PRAGMA user_version = %d;",
			 WM_FSM_APPLICATION_ID, WM_FSM_SCHEMA_VERSION);
		rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	}
	if (rc != SQLITE_OK) {
		if (err)
			snprintf(err, errlen, "create the state schema: %s",
				 msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return wm_fsm_sqlite_err(rc);
	}
	return 0;
}

static int pragma_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc = wm_fsm_prepare(db, sql, &st);

	if (rc < 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -EINVAL;
}

int wm_fsm_schema_check(sqlite3 *db, int *version)
{
	int64_t app = 0, v = 0;

	if (pragma_int(db, "PRAGMA application_id", &app) < 0 ||
	    pragma_int(db, "PRAGMA user_version", &v) < 0)
		return -EINVAL;
	if (app != WM_FSM_APPLICATION_ID || v < WM_FSM_SCHEMA_OLDEST || v > WM_FSM_SCHEMA_VERSION)
		return -EINVAL;
	if (version)
		*version = (int)v;
	return 0;
}
