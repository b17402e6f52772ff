/* How a member follows the servers it knows (the --join server first, then
 * the voters and observers learnt from its peers): when it leaves a failing
 * server for the next one, and how long it waits before the next try. Pure:
 * member.c makes the calls and keeps the list. */
#ifndef WM_CORE_UPSTREAM_H
#define WM_CORE_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>

/* Consecutive failures on one server before the member moves on. */
#define WM_UPSTREAM_FAILURES_BEFORE_FAILOVER 2
#define WM_UPSTREAM_RETRY_MIN_MS 500
#define WM_UPSTREAM_RETRY_MAX_MS 10000

/* A call to the server in use failed (Join, stream, info): counts it in
 * *failures and returns the wait before the next try, doubling *retry_ms up
 * to the maximum. *failover is set when this failure is the one that moves
 * the member to the next server (the count and the backoff then start
 * over); the caller moves only if there is another server to move to. */
unsigned wm_upstream_retry(unsigned *failures, unsigned *retry_ms, bool *failover);
/* The server in use missed a heartbeat (it may have crashed while its
 * stream stays silent): the next failure moves on. */
void wm_upstream_missed_heartbeat(unsigned *failures);
/* The server after cur in a list of n (the --join server again after the
 * last one); cur itself when n < 2. */
size_t wm_upstream_next(size_t cur, size_t n);

#endif
