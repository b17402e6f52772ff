/* The FSM's life cycle: opening the database, applying commands in
 * transactions, snapshots and restores. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cmdver.h"
#include "core/error.h"
#include "store/fsm_int.h"

static int exec(sqlite3 *db, const char *sql)
{
	return wm_fsm_sqlite_err(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

static void unlink_db_files(const char *path)
{
	static const char *const suffixes[] = {"", "-journal", "-wal", "-shm"};
	char name[4096];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if ((size_t)snprintf(name, sizeof(name), "%s%s", path, suffixes[i]) < sizeof(name))
			unlink(name);
	}
}

int wm_fsm_open(const char *path, struct wm_fsm **out, char *err, size_t errlen)
{
	struct wm_fsm *f;
	int rc, r;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	/* The raft log (and its snapshots) is the durable state; the database is
	 * rebuilt from it at every start, so whatever a previous run left is
	 * stale by definition. */
	if (strcmp(path, ":memory:") != 0)
		unlink_db_files(path);
	rc = sqlite3_open_v2(path, &f->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		if (err)
			snprintf(err, errlen, "open state database %s: %s", path,
				 f->db ? sqlite3_errmsg(f->db) : sqlite3_errstr(rc));
		r = wm_fsm_sqlite_err(rc);
		goto fail;
	}
	sqlite3_db_config(f->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	/* Durability is raft's job: no fsync. WAL because `sqlite3 state.db` on
	 * a running node is how operators inspect it: with a rollback journal a
	 * reader's lock makes our write fail with SQLITE_BUSY, and libraft does
	 * not retry an entry whose apply failed, so the replica would silently
	 * miss it. In WAL mode readers and the writer never block each other. */
	r = exec(f->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;"
			"PRAGMA foreign_keys = ON; PRAGMA trusted_schema = OFF;");
	if (r < 0) {
		if (err)
			snprintf(err, errlen, "configure state database %s: %s", path,
				 sqlite3_errmsg(f->db));
		goto fail;
	}
	r = wm_fsm_schema_create(f->db, err, errlen);
	if (r < 0)
		goto fail;
	*out = f;
	return 0;
fail:
	wm_fsm_close(f);
	return r;
}

void wm_fsm_close(struct wm_fsm *f)
{
	if (!f)
		return;
	sqlite3_finalize(f->get_node);
	sqlite3_close_v2(f->db);
	free(f);
}

struct sqlite3 *wm_fsm_db(struct wm_fsm *f)
{
	return f->db;
}

uint64_t wm_fsm_applied_index(struct wm_fsm *f)
{
	return f->applied;
}

static int dispatch(struct wm_fsm *f, const Webmesh__V1__RaftCommand *cmd,
		    struct wm_store_result *res)
{
	switch (cmd->command_case) {
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP:
		return wm_fsm_cmd_bootstrap(f, cmd->bootstrap, res);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE:
		return wm_fsm_cmd_join(f, cmd->join_node, res);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE:
		return wm_fsm_cmd_remove(f, cmd->remove_node, res);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE:
		return wm_fsm_cmd_put_edge(f, cmd->put_edge, res);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_EDGE:
		return wm_fsm_cmd_delete_edge(f, cmd->delete_edge, res);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROUTES:
		return wm_fsm_cmd_put_routes(f, cmd->put_routes, res);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_ROUTES:
		return wm_fsm_cmd_delete_routes(f, cmd->delete_routes, res);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE_BINDING:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_GROUP:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_NETWORK_ACL:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_AUTHZ:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP_AUTHZ:
		return wm_fsm_cmd_authz(f, cmd, res);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DENY_NODE:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_ALLOW_NODE:
		return wm_fsm_cmd_deny(f, cmd, res);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_DNS_RECORD:
		return wm_fsm_cmd_put_dns_record(f, cmd->put_dns_record, res);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_DNS_RECORD:
		return wm_fsm_cmd_delete_dns_record(f, cmd->delete_dns_record, res);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_LIVENESS:
		return 0; /* soft state, nothing stored: the change feed carries it */
	default:
		/* Every replica refuses it alike, so the log stays usable. */
		return wm_fsm_refuse(res, -EINVAL, "unknown or empty command (case %d)",
				     (int)cmd->command_case);
	}
}

int wm_fsm_stall(struct wm_fsm *f, uint64_t index, uint32_t needs, struct wm_store_result *res)
{
	memset(res, 0, sizeof(*res));
	res->index = index;
	if (!f->stalled_at) {
		f->stalled_at = index;
		f->stalled_needs = needs;
	}
	return wm_fsm_refuse(res, -WM_EVERSION,
			     "entry %llu needs command version %u, this build has %u",
			     (unsigned long long)index, needs, WM_CMD_VERSION);
}

int wm_fsm_apply_cmd(struct wm_fsm *f, uint64_t index, const Webmesh__V1__RaftCommand *cmd,
		     struct wm_store_result *res)
{
	sqlite3_stmt *st;
	int r;

	memset(res, 0, sizeof(*res));
	res->index = index;
	if (f->stalled_at)
		return wm_fsm_refuse(res, -WM_EVERSION,
				     "not applied: this replica stopped at entry %llu, which needs "
				     "command version %u",
				     (unsigned long long)f->stalled_at, f->stalled_needs);
	/* An entry this build does not understand is neither applied nor
	 * refused (newer replicas apply it: either would diverge): the replica
	 * stops here, and a restart on a newer build replays from here. */
	uint32_t needs = wm_cmd_apply_needs(WM_CMD_VERSION, (int)cmd->command_case,
					    cmd->min_version, cmd->base.n_unknown_fields > 0);
	if (needs)
		return wm_fsm_stall(f, index, needs, res);
	/* IMMEDIATE: take the write lock up front so a reader (sqlite3 state.db)
	 * cannot make the command fail half-way with SQLITE_BUSY. */
	r = exec(f->db, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	r = dispatch(f, cmd, res);
	if (r == 0 && res->err == 0) {
		r = wm_fsm_prepare(f->db, "UPDATE meta SET applied_index = ?1 WHERE id = 1", &st);
		if (r == 0) {
			sqlite3_bind_int64(st, 1, (sqlite3_int64)index);
			r = sqlite3_step(st) == SQLITE_DONE
				    ? 0
				    : wm_fsm_sqlite_err(sqlite3_errcode(f->db));
			sqlite3_finalize(st);
		}
		if (r == 0)
			r = exec(f->db, "COMMIT");
	}
	if (r < 0 || res->err != 0) {
		/* A refused command leaves no trace: with the journal in memory the
		 * rollback restores every page, so the file stays byte-identical. */
		exec(f->db, "ROLLBACK");
		if (r < 0) {
			memset(&res->node, 0, sizeof(res->node));
			if (res->err == 0)
				wm_fsm_refuse(res, r, "state database error: %s",
					      sqlite3_errmsg(f->db));
			return r;
		}
		memset(&res->node, 0, sizeof(res->node));
	}
	f->applied = index;
	return 0;
}

int wm_fsm_check_cmd(struct wm_fsm *f, const Webmesh__V1__RaftCommand *cmd,
		     struct wm_store_result *res, int (*after)(void *data, struct wm_fsm *f),
		     void *data)
{
	memset(res, 0, sizeof(*res));
	/* Another store (src/etcd) keeps its state elsewhere and asks the
	 * FSM only what a command would do to it: the same code that decides
	 * on a Raft replica, so both refuse alike; nothing stays. */
	int r = exec(f->db, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	r = dispatch(f, cmd, res);
	if (r == 0 && res->err == 0 && after)
		r = after(data, f);
	exec(f->db, "ROLLBACK");
	if (r < 0 && res->err == 0)
		wm_fsm_refuse(res, r, "state database error: %s", sqlite3_errmsg(f->db));
	return r;
}

int wm_fsm_apply(struct wm_fsm *f, uint64_t index, const uint8_t *buf, size_t len,
		 struct wm_store_result *res)
{
	Webmesh__V1__RaftCommand *cmd;
	int r;

	cmd = webmesh__v1__raft_command__unpack(NULL, len, buf);
	if (!cmd) {
		memset(res, 0, sizeof(*res));
		res->index = index;
		wm_fsm_refuse(res, -EINVAL, "undecodable command (%zu bytes)", len);
		if (!f->stalled_at)
			f->applied = index;
		return -EBADMSG;
	}
	r = wm_fsm_apply_cmd(f, index, cmd, res);
	webmesh__v1__raft_command__free_unpacked(cmd, NULL);
	return r;
}

/* The file format write and read versions in a database header: 2 in WAL
 * mode, 1 otherwise (https://www.sqlite.org/fileformat2.html#database_header). */
#define WAL_HEADER_WRITE 18
#define WAL_HEADER_READ 19

static void *malloc_cb(size_t n)
{
	return malloc(n);
}

int wm_fsm_snapshot_alloc(struct wm_fsm *f, void *(*alloc)(size_t), uint8_t **out, size_t *len)
{
	sqlite3_int64 size = 0;
	unsigned char *img;

	*out = NULL;
	*len = 0;
	/* A snapshot would say entries after the stall were applied. */
	if (f->stalled_at)
		return -EBUSY;
	img = sqlite3_serialize(f->db, "main", &size, 0);
	if (!img)
		return -ENOMEM;
	*out = alloc((size_t)size);
	if (!*out) {
		sqlite3_free(img);
		return -ENOMEM;
	}
	memcpy(*out, img, (size_t)size);
	*len = (size_t)size;
	/* The image is a database file on its own, without the -wal beside it
	 * (whose content serialize has read in): say so in the header, or
	 * sqlite3_deserialize cannot open it. */
	if (*len >= 100)
		(*out)[WAL_HEADER_WRITE] = (*out)[WAL_HEADER_READ] = 1;
	sqlite3_free(img);
	return 0;
}

int wm_fsm_snapshot(struct wm_fsm *f, uint8_t **out, size_t *len)
{
	return wm_fsm_snapshot_alloc(f, malloc_cb, out, len);
}

static int read_applied(sqlite3 *db, uint64_t *out)
{
	sqlite3_stmt *st;
	int r = wm_fsm_prepare(db, "SELECT applied_index FROM meta WHERE id = 1", &st);

	if (r < 0)
		return r;
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		*out = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return r == SQLITE_ROW ? 0 : -EBADMSG;
}

/*
 * Restore copies the snapshot into the live connection with the backup API
 * rather than sqlite3_deserialize'ing it in place:
 *  - the snapshot is first opened on a scratch connection (a copy, with its
 *    header marked not WAL, see below), where it is checked (ours, a schema
 *    version we know, not corrupt) and an older schema is migrated; a bad
 *    snapshot, or a failed migration, is refused before the live state is
 *    touched;
 *  - the live connection keeps its file (state.db stays inspectable with
 *    `sqlite3 state.db`), its pragmas and its VFS, where a deserialized
 *    database would silently move to memory.
 * The price is that the backup bumps the schema cookie, so a restored replica's
 * bytes differ from the leader's in the header; dumps compare equal.
 */
int wm_fsm_restore(struct wm_fsm *f, const uint8_t *buf, size_t len)
{
	sqlite3 *src = NULL;
	sqlite3_backup *b;
	sqlite3_stmt *st;
	uint64_t applied = 0;
	unsigned char *img;
	int rc, r, version = 0;

	if (len < 512)
		return -EBADMSG;
	rc = sqlite3_open_v2(":memory:", &src, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		r = wm_fsm_sqlite_err(rc);
		goto out;
	}
	/* A copy, for the header fix of wm_fsm_snapshot_alloc: builds before
	 * it (30926c0 and older) wrote images marked WAL, which a restore
	 * could not open; their snapshots load now. */
	img = sqlite3_malloc64(len);
	if (!img) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(img, buf, len);
	img[WAL_HEADER_WRITE] = img[WAL_HEADER_READ] = 1;
	rc = sqlite3_deserialize(src, "main", img, (sqlite3_int64)len, (sqlite3_int64)len,
				 SQLITE_DESERIALIZE_RESIZEABLE | SQLITE_DESERIALIZE_FREEONCLOSE);
	if (rc != SQLITE_OK) {
		r = -EBADMSG;
		goto out;
	}
	r = wm_fsm_schema_check(src, &version);
	if (r < 0)
		goto out;
	r = wm_fsm_prepare(src, "PRAGMA quick_check", &st);
	if (r < 0) {
		r = -EBADMSG;
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
		r = -EBADMSG;
	sqlite3_finalize(st);
	if (r < 0)
		goto out;
	r = read_applied(src, &applied);
	if (r < 0)
		goto out;
	/* An older schema is brought up to date on the scratch copy, in one
	 * transaction (migrate.c). */
	if (version != WM_FSM_SCHEMA_VERSION) {
		r = wm_fsm_migrate(src, version, NULL, 0);
		if (r < 0)
			goto out;
	}
	b = sqlite3_backup_init(f->db, "main", src, "main");
	if (!b) {
		r = wm_fsm_sqlite_err(sqlite3_errcode(f->db));
		goto out;
	}
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		r = wm_fsm_sqlite_err(rc);
		goto out;
	}
	f->migrated_from = version != WM_FSM_SCHEMA_VERSION ? version : 0;
	/* The snapshot holds everything up to its index: whatever stopped the
	 * replica before is behind it now. */
	f->stalled_at = 0;
	f->stalled_needs = 0;
	f->applied = applied;
	r = 0;
out:
	sqlite3_close_v2(src);
	return r;
}

bool wm_fsm_stalled(struct wm_fsm *f, uint64_t *index, uint32_t *needs)
{
	if (index)
		*index = f->stalled_at;
	if (needs)
		*needs = f->stalled_needs;
	return f->stalled_at != 0;
}

int wm_fsm_migrated_from(struct wm_fsm *f)
{
	return f->migrated_from;
}
