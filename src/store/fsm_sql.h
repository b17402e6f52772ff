/* The SQLite helpers every file of the FSM uses (fsm_sql.c): a leaf, knowing
 * nothing of the FSM's tables or commands. */
#ifndef WM_STORE_FSM_SQL_H
#define WM_STORE_FSM_SQL_H

#include <sqlite3.h>

struct wm_store_result;

/* Prepares sql on db; on failure *st is NULL and the error a negative errno. */
int wm_fsm_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st);
/* Maps an SQLite result code to a negative errno. */
int wm_fsm_sqlite_err(int rc);
/* Binds text that may be NULL as ''. */
int wm_fsm_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Fills res with a refusal; always returns 0 so handlers can `return refuse(...)`. */
int wm_fsm_refuse(struct wm_store_result *res, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
