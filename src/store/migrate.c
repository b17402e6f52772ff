/* Migrations of the state's schema: one step per version, run in one
 * transaction when a snapshot of an older version is restored (a node
 * started on an older state dir, or a snapshot from a leader of an older
 * build). The database file itself is rebuilt from the log at every start,
 * so the snapshot is the only place an old schema can come from. */
#include <errno.h>
#include <stdio.h>

#include "store/fsm_int.h"

/*
 * Step N brings version N to N + 1. Its result must be exactly what
 * schema.c creates for N + 1 (tests/unit/test_migrate.c compares them), so
 * that a replica that migrated a snapshot and one that replayed the log on
 * the new schema hold the same state. To change the schema: edit schema_sql,
 * bump WM_FSM_SCHEMA_VERSION, add the step here and its test.
 */
struct step {
	int from;
	const char *sql;
};

static const struct step steps[] = {
	/* 5 -> 6: an index for the binding lookup of a role delete. */
	{5, "CREATE INDEX rbac_bindings_by_role ON rbac_bindings (role);"},
	/* 6 -> 7: the libp2p peer ID and addresses a node published (issue 11). */
	{6, "ALTER TABLE nodes ADD COLUMN libp2p_id TEXT NOT NULL DEFAULT '';"
	    "ALTER TABLE nodes ADD COLUMN libp2p_addrs TEXT NOT NULL DEFAULT '';"},
};

int wm_fsm_migrate(sqlite3 *db, int from, char *err, size_t errlen)
{
	char sql[64];
	char *msg = NULL;
	int rc = SQLITE_OK, v = from;

	if (from < WM_FSM_SCHEMA_OLDEST || from > WM_FSM_SCHEMA_VERSION) {
		if (err)
			snprintf(err, errlen, "no migration from state schema %d", from);
		return -EINVAL;
	}
	if (from == WM_FSM_SCHEMA_VERSION)
		return 0;
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
	for (size_t i = 0; rc == SQLITE_OK && i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (steps[i].from != v)
			continue;
		rc = sqlite3_exec(db, steps[i].sql, NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			v++;
	}
	if (rc == SQLITE_OK && v != WM_FSM_SCHEMA_VERSION) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		if (err)
			snprintf(err, errlen, "no migration step from state schema %d", v);
		return -EINVAL;
	}
	if (rc == SQLITE_OK) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; COMMIT", v);
		rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	}
	if (rc != SQLITE_OK) {
		if (err)
			snprintf(err, errlen, "migrate state schema %d at step %d: %s", from, v,
				 msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return wm_fsm_sqlite_err(rc);
	}
	return 0;
}
