/* A member's choice of server and its retry backoff (see upstream.h). */
#include "core/upstream.h"

unsigned wm_upstream_retry(unsigned *failures, unsigned *retry_ms, bool *failover)
{
	*failover = false;
	if (++*failures >= WM_UPSTREAM_FAILURES_BEFORE_FAILOVER) {
		/* a fresh server gets a fresh backoff */
		*failures = 0;
		*retry_ms = 0;
		*failover = true;
	}
	*retry_ms = *retry_ms ? *retry_ms * 2 : WM_UPSTREAM_RETRY_MIN_MS;
	if (*retry_ms > WM_UPSTREAM_RETRY_MAX_MS)
		*retry_ms = WM_UPSTREAM_RETRY_MAX_MS;
	return *retry_ms;
}

void wm_upstream_missed_heartbeat(unsigned *failures)
{
	*failures = WM_UPSTREAM_FAILURES_BEFORE_FAILOVER - 1;
}

size_t wm_upstream_next(size_t cur, size_t n)
{
	return n < 2 ? cur : (cur + 1) % n;
}
