/* Which failed etcd calls are tried again, and when (retry.h). */
#include "etcd/retry.h"

#include <string.h>

#include "rpc/rpc.h"

/* etcd's texts for its transient errors, for the codes that also carry final
 * ones (UNKNOWN, RESOURCE_EXHAUSTED, FAILED_PRECONDITION). Matched anywhere in
 * the message: a proxy or a newer version may add a prefix. */
static const char *const transient_texts[] = {
	"etcdserver: request timed out", /* and its ", possibly due to ..." forms */
	"etcdserver: leader changed",	 "etcdserver: no leader",
	"etcdserver: not leader",	 "etcdserver: server stopped",
	"etcdserver: unhealthy cluster", "etcdserver: too many requests",
	"raft proposal dropped",	 "context deadline exceeded",
};

bool wm_etcd_error_transient(int grpc_status, const char *message)
{
	switch (grpc_status) {
	case WM_GRPC_UNAVAILABLE:
	case WM_GRPC_DEADLINE_EXCEEDED:
		/* Ours (connection refused or lost, no answer in time) or
		 * etcd's: every UNAVAILABLE in its table is transient. */
		return true;
	case WM_GRPC_UNKNOWN:
	case WM_GRPC_RESOURCE_EXHAUSTED:
	case WM_GRPC_FAILED_PRECONDITION:
		break;
	default:
		return false;
	}
	if (!message)
		return false;
	for (size_t i = 0; i < sizeof(transient_texts) / sizeof(transient_texts[0]); i++)
		if (strstr(message, transient_texts[i]))
			return true;
	return false;
}

/* A retried request may have been applied already: etcd can commit a
 * proposal whose client was told "request timed out", and a member that went
 * silent may have applied what it got. So only these are sent again:
 * - Range, MemberList: reads.
 * - Txn: every transaction we send is guarded by compares (mod revisions of
 *   the keys it changes, the guard key's revision; record.c, record_state.c)
 *   or only reads, so a repeat of one that was applied fails its compare
 *   instead of writing twice, and the caller reloads and decides again.
 * - Put: ours write the same value to the same key under our own lease
 *   (server registration, liveness marks: store.c); a repeat writes the same.
 * - LeaseGrant: a repeat of one that was applied leaves an unused lease,
 *   which etcd drops after its TTL.
 * Anything else (DeleteRange, LeaseRevoke, ...) fails at its first error. */
static const char *const repeatable_paths[] = {
	"/etcdserverpb.KV/Range", "/etcdserverpb.Cluster/MemberList", "/etcdserverpb.KV/Txn",
	"/etcdserverpb.KV/Put",	  "/etcdserverpb.Lease/LeaseGrant",
};

bool wm_etcd_path_repeatable(const char *path)
{
	for (size_t i = 0; i < sizeof(repeatable_paths) / sizeof(repeatable_paths[0]); i++)
		if (strcmp(path, repeatable_paths[i]) == 0)
			return true;
	return false;
}

int64_t wm_etcd_retry_delay(unsigned attempts, size_t n_eps, uint64_t elapsed_ms,
			    uint32_t budget_ms)
{
	if (attempts < n_eps)
		return 0;
	unsigned extra = attempts - (unsigned)n_eps; /* backed-off attempts made */
	if (extra >= WM_ETCD_RETRY_EXTRA)
		return -1;
	uint64_t base = budget_ms / 100 ? budget_ms / 100 : 1;
	uint64_t cap = budget_ms / 5 ? budget_ms / 5 : 1;
	uint64_t delay = base << extra; /* extra < 8: no overflow */
	if (delay > cap)
		delay = cap;
	if (elapsed_ms + delay >= budget_ms)
		return -1;
	return (int64_t)delay;
}
