/* Unit tests of upgrades in the store: schema migrations (src/store/
 * migrate.c) from a fixture of the old schema, and an FSM that meets an entry
 * it does not understand (src/store/fsm.c, core/cmdver.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/cmdver.h"
#include "core/error.h"
#include "store/fsm.h"
#include "test_store_util.h"

/* Implemented in migrate.c, declared in store/fsm_int.h with SQLite types
 * the FSM's internals use; repeated here to keep the test off them. */
int wm_fsm_migrate(sqlite3 *db, int from, char *err, size_t errlen);

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The fixture of schema 5 in a fresh in-memory database; user_version may
 * be overridden (> 0) to fake other versions. */
static sqlite3 *fixture_db(int user_version)
{
	sqlite3 *db = NULL;
	char *sql = read_file(WM_TEST_STATE_V5);
	char pragma[64];

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	if (user_version > 0) {
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", user_version);
		assert_int_equal(sqlite3_exec(db, pragma, NULL, NULL, NULL), SQLITE_OK);
	}
	return db;
}

static uint8_t *serialize(sqlite3 *db, size_t *len)
{
	sqlite3_int64 n = 0;
	unsigned char *img = sqlite3_serialize(db, "main", &n, 0);
	uint8_t *out;

	assert_non_null(img);
	out = malloc((size_t)n);
	memcpy(out, img, (size_t)n);
	sqlite3_free(img);
	*len = (size_t)n;
	return out;
}

static int64_t one_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Every table, index and trigger with its SQL, ordered: what a schema is. */
static char *schema_of(sqlite3 *db)
{
	sqlite3_stmt *st;
	size_t cap = 1 << 16, len = 0;
	char *out = calloc(1, cap);

	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT type, name, tbl_name, coalesce(sql, '') FROM "
					    "sqlite_master ORDER BY type, name",
					    -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int n = snprintf(out + len, cap - len, "%s %s %s %s\n", sqlite3_column_text(st, 0),
				 sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
				 sqlite3_column_text(st, 3));
		assert_true(n > 0 && (size_t)n < cap - len);
		len += (size_t)n;
	}
	sqlite3_finalize(st);
	return out;
}

/* Step 5 -> 6 on the fixture: the result is the schema a fresh state gets,
 * the rows are untouched, the restore says it migrated. */
static void test_migrate_5_to_6(void **state)
{
	struct wm_fsm *fresh, *f;
	char err[256];
	size_t len;
	sqlite3 *old = fixture_db(0);
	char *rows_before, *rows_after;

	(void)state;
	assert_int_equal(one_int(old, "PRAGMA user_version"), 5);
	uint8_t *img = serialize(old, &len);
	assert_int_equal(wm_fsm_open(":memory:", &fresh, err, sizeof(err)), 0);
	/* a file, as the daemon's state.db (WAL mode), not only :memory: */
	char path[] = "/tmp/wm-test-migrate-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(wm_fsm_open(path, &f, err, sizeof(err)), 0);
	/* the rows as schema 5 held them, read through the FSM of this build */
	assert_int_equal(wm_fsm_restore(f, img, len), 0);
	assert_int_equal(wm_fsm_migrated_from(f), 5);
	assert_int_equal(wm_fsm_applied_index(f), 42);
	sqlite3 *db = wm_fsm_db(f);
	assert_int_equal(one_int(db, "PRAGMA user_version"), WM_FSM_SCHEMA_VERSION);
	assert_int_equal(one_int(db, "PRAGMA application_id"), 0x776d7368);
	char *want = schema_of(wm_fsm_db(fresh)), *got = schema_of(db);
	assert_string_equal(got, want);
	assert_non_null(strstr(got, "index rbac_bindings_by_role rbac_bindings"));
	free(want);
	free(got);
	assert_int_equal(wm_fsm_dump(f, &rows_after), 0);
	assert_non_null(strstr(rows_after, "m1"));
	assert_non_null(strstr(rows_after, "user:admin,node:s1"));
	/* a second restore of the same image gives the same rows: the
	 * migration depends on nothing but the snapshot */
	assert_int_equal(wm_fsm_restore(fresh, img, len), 0);
	assert_int_equal(wm_fsm_dump(fresh, &rows_before), 0);
	assert_string_equal(rows_before, rows_after);
	/* a snapshot of the migrated state is of this version: no migration */
	uint8_t *img2;
	size_t len2;
	assert_int_equal(wm_fsm_snapshot(f, &img2, &len2), 0);
	assert_int_equal(wm_fsm_restore(fresh, img2, len2), 0);
	assert_int_equal(wm_fsm_migrated_from(fresh), 0);
	free(img2);
	free(rows_before);
	free(rows_after);
	free(img);
	wm_fsm_close(f);
	wm_fsm_close(fresh);
	sqlite3_close(old);
	unlink(path);
	for (const char *sfx = "-wal\0-shm\0"; *sfx; sfx += strlen(sfx) + 1) {
		char name[sizeof(path) + 8];
		snprintf(name, sizeof(name), "%s%s", path, sfx);
		unlink(name);
	}
}

/* Versions no step starts from, or newer than this build: refused, the live
 * state unchanged. A step that fails rolls the whole migration back. */
static void test_migrate_refused(void **state)
{
	struct wm_fsm *f;
	char err[256], *before, *after;
	int versions[] = {WM_FSM_SCHEMA_OLDEST - 1, WM_FSM_SCHEMA_VERSION + 1};

	(void)state;
	assert_int_equal(wm_fsm_open(":memory:", &f, err, sizeof(err)), 0);
	size_t blen;
	uint8_t *b = test_bootstrap_cmd("10.1.0.0/16", "fd12:3456:789a::/48", &blen);
	struct wm_store_result res;
	assert_int_equal(wm_fsm_apply(f, 1, b, blen, &res), 0);
	assert_int_equal(res.err, 0);
	free(b);
	assert_int_equal(wm_fsm_dump(f, &before), 0);
	for (size_t i = 0; i < 2; i++) {
		size_t len;
		sqlite3 *old = fixture_db(versions[i]);
		uint8_t *img = serialize(old, &len);
		assert_int_equal(wm_fsm_restore(f, img, len), -EINVAL);
		assert_int_equal(wm_fsm_dump(f, &after), 0);
		assert_string_equal(before, after);
		free(after);
		free(img);
		sqlite3_close(old);
	}
	/* the step itself meets a state it cannot change: nothing stays */
	sqlite3 *old = fixture_db(0);
	assert_int_equal(sqlite3_exec(old,
				      "CREATE TABLE t (x); CREATE INDEX rbac_bindings_by_role "
				      "ON t (x)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	/* restored, the live state is left as it was */
	size_t blen2;
	uint8_t *bad = serialize(old, &blen2);
	assert_true(wm_fsm_restore(f, bad, blen2) < 0);
	assert_int_equal(wm_fsm_dump(f, &after), 0);
	assert_string_equal(before, after);
	free(after);
	free(bad);
	err[0] = '\0';
	assert_true(wm_fsm_migrate(old, 5, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "migrate state schema 5 at step 5"));
	assert_int_equal(one_int(old, "PRAGMA user_version"), 5);
	assert_int_equal(wm_fsm_migrate(old, 4, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "no migration from state schema 4");
	assert_int_equal(wm_fsm_migrate(old, WM_FSM_SCHEMA_VERSION, err, sizeof(err)), 0);
	sqlite3_close(old);
	free(before);
	wm_fsm_close(f);
}

/* ---- an FSM meeting entries of a newer build ---- */

struct t {
	struct wm_fsm *f;
	uint64_t index;
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	char err[256];

	assert_int_equal(wm_fsm_open(":memory:", &t->f, err, sizeof(err)), 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	wm_fsm_close(t->f);
	free(t);
	return 0;
}

static int apply(struct t *t, uint8_t *buf, size_t len, struct wm_store_result *res)
{
	struct wm_store_result local;

	if (!res)
		res = &local;
	assert_int_equal(wm_fsm_apply(t->f, ++t->index, buf, len, res), 0);
	free(buf);
	return res->err;
}

/* apply() of a buffer built in the same call: buf is evaluated before len. */
static int apply_built(struct t *t, uint8_t *buf, const size_t *len, struct wm_store_result *res)
{
	return apply(t, buf, *len, res);
}

static int join(struct t *t, const char *id, int seed)
{
	struct test_join j = {.id = id, .key_seed = seed, .role = 0, .port = 51820};
	size_t len;
	uint8_t *buf = test_join_cmd(&j, &len);

	return apply(t, buf, len, NULL);
}

/* A join stating min_version v. */
static uint8_t *join_stating(const char *id, int seed, uint32_t v, size_t *len)
{
	struct test_join j = {.id = id, .key_seed = seed, .role = 0, .port = 51820};
	size_t l;
	uint8_t *plain = test_join_cmd(&j, &l);
	Webmesh__V1__RaftCommand *cmd = webmesh__v1__raft_command__unpack(NULL, l, plain);

	assert_non_null(cmd);
	free(plain);
	cmd->min_version = v;
	uint8_t *out = test_pack(cmd, len);
	webmesh__v1__raft_command__free_unpacked(cmd, NULL);
	return out;
}

/* A RaftCommand of a kind this build does not know: field 999, a message
 * holding one string, as a newer build's oneof case would be. */
static uint8_t *unknown_kind(size_t *len)
{
	static const uint8_t bytes[] = {0xba, 0x3e, 0x05, 0x0a, 0x03, 'n', 'e', 'w'};
	uint8_t *out = malloc(sizeof(bytes));

	memcpy(out, bytes, sizeof(bytes));
	*len = sizeof(bytes);
	return out;
}

static void bootstrap(struct t *t)
{
	size_t len;
	uint8_t *b = test_bootstrap_cmd("10.1.0.0/16", "fd12:3456:789a::/48", &len);

	assert_int_equal(apply(t, b, len, NULL), 0);
}

/* Entries this build can apply, stated or not, apply; an empty command is
 * refused alike by every build, without stopping. */
static void test_applies_known(void **state)
{
	struct t *t = *state;
	struct wm_store_result res;
	size_t len;

	bootstrap(t);
	assert_int_equal(apply_built(t, join_stating("a", 1, 0, &len), &len, NULL), 0);
	assert_int_equal(apply_built(t, join_stating("b", 2, WM_CMD_VERSION, &len), &len, NULL), 0);
	Webmesh__V1__RaftCommand empty = WEBMESH__V1__RAFT_COMMAND__INIT;
	uint8_t *e = test_pack(&empty, &len);
	assert_int_equal(apply(t, e, len, &res), -EINVAL);
	assert_false(wm_fsm_stalled(t->f, NULL, NULL));
	assert_int_equal(join(t, "c", 3), 0);
}

/* Stops at an entry stating a newer version: nothing after it is applied,
 * no snapshot is taken, and the index and version are reported. */
static void test_stops_at_newer_version(void **state)
{
	struct t *t = *state;
	struct wm_store_result res;
	uint64_t at = 0;
	uint32_t needs = 0;
	uint8_t *snap, *img;
	size_t len, snap_len, img_len;
	char *before, *after;

	bootstrap(t);
	assert_int_equal(join(t, "a", 1), 0);
	assert_int_equal(wm_fsm_snapshot(t->f, &snap, &snap_len), 0);
	assert_int_equal(wm_fsm_dump(t->f, &before), 0);
	assert_int_equal(apply_built(t, join_stating("b", 2, WM_CMD_VERSION + 1, &len), &len, &res),
			 -WM_EVERSION);
	assert_non_null(strstr(res.message, "needs command version 4"));
	assert_true(wm_fsm_stalled(t->f, &at, &needs));
	assert_int_equal(at, t->index);
	assert_int_equal(needs, WM_CMD_VERSION + 1);
	uint64_t stalled = t->index;
	/* later entries, valid ones included, are not applied */
	assert_int_equal(join(t, "c", 3), -WM_EVERSION);
	assert_int_equal(join(t, "d", 4), -WM_EVERSION);
	assert_int_equal(wm_fsm_dump(t->f, &after), 0);
	assert_string_equal(before, after);
	free(after);
	assert_true(wm_fsm_applied_index(t->f) < stalled);
	assert_int_equal(wm_fsm_snapshot(t->f, &img, &img_len), -EBUSY);
	/* still where it stopped, with the first reason */
	assert_true(wm_fsm_stalled(t->f, &at, &needs));
	assert_int_equal(at, stalled);
	/* a snapshot from before the stop (what a restart loads) clears it:
	 * the log from there is replayed, and stops at the same entry */
	assert_int_equal(wm_fsm_restore(t->f, snap, snap_len), 0);
	assert_false(wm_fsm_stalled(t->f, NULL, NULL));
	t->index = stalled - 1;
	assert_int_equal(apply_built(t, join_stating("b", 2, WM_CMD_VERSION + 1, &len), &len, &res),
			 -WM_EVERSION);
	assert_true(wm_fsm_stalled(t->f, &at, NULL));
	assert_int_equal(at, stalled);
	free(snap);
	free(before);
}

/* An unknown kind (decoded as no kind, with unknown fields) stops it too,
 * where builds before versions refused it and moved on. */
static void test_stops_at_unknown_kind(void **state)
{
	struct t *t = *state;
	struct wm_store_result res;
	uint32_t needs = 0;
	size_t len;
	char *before, *after;

	bootstrap(t);
	assert_int_equal(wm_fsm_dump(t->f, &before), 0);
	assert_int_equal(apply_built(t, unknown_kind(&len), &len, &res), -WM_EVERSION);
	assert_true(wm_fsm_stalled(t->f, NULL, &needs));
	assert_int_equal(needs, WM_CMD_VERSION + 1);
	assert_int_equal(join(t, "a", 1), -WM_EVERSION);
	assert_int_equal(wm_fsm_dump(t->f, &after), 0);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_5_to_6),
		cmocka_unit_test(test_migrate_refused),
		cmocka_unit_test_setup_teardown(test_applies_known, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stops_at_newer_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stops_at_unknown_kind, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
