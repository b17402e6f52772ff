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

/* Refusals etcd makes before it proposes anything (v3.5 v3rpc/interceptor.go
 * for "no leader" under hasleader; etcdserver/v3_server.go for "too many
 * requests" and "not leader"), and our own src/rpc's texts for a request
 * that never left (rpc/client.c, rpc/client_call.c). A proxy may add a
 * prefix: matched anywhere. */
static const char *const unapplied_texts[] = {
	"etcdserver: no leader",
	"etcdserver: not leader",
	"etcdserver: too many requests",
};
static const char *const unsent_texts[] = {
	"cannot connect to ",
	"cannot start an HTTP/2 stream",
};

static bool has_text(const char *message, const char *const *texts, size_t n)
{
	for (size_t i = 0; message && i < n; i++)
		if (strstr(message, texts[i]))
			return true;
	return false;
}

bool wm_etcd_error_unapplied(int grpc_status, const char *message)
{
	if (!wm_etcd_error_transient(grpc_status, message))
		return false;
	/* Our own texts come only with our UNAVAILABLE: the same words from
	 * a member would mean something else. */
	if (grpc_status == WM_GRPC_UNAVAILABLE &&
	    has_text(message, unsent_texts, sizeof(unsent_texts) / sizeof(unsent_texts[0])))
		return true;
	return has_text(message, unapplied_texts,
			sizeof(unapplied_texts) / sizeof(unapplied_texts[0]));
}

/* A retried request may have been applied already: etcd can commit a
 * proposal whose client was told "request timed out", and a member that went
 * silent may have applied what it got. So only these are sent again:
 * - Range, MemberList: reads.
 * - Txn: the transactions we send without WM_ETCD_CALL_ONCE are guarded by
 *   compares (mod revisions of the keys they change, the guard key's
 *   revision; record.c, record_state.c) or only read, so a repeat of one
 *   that was applied fails its compare instead of writing twice, and the
 *   caller reloads and decides again. The deny and allow transactions
 *   (record.c) compare too little for that (a repeat could undo a
 *   concurrent allow or deny): store.c sends them with WM_ETCD_CALL_ONCE.
 * - Put: the server registration writes the same value to the same key
 *   under our own lease, so a repeat writes the same. The liveness record's
 *   value changes from one Put to the next: store.c keeps at most one Put
 *   of it in flight, so a repeat of an older one never lands after a newer.
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
