/* Which failed etcd calls are tried again, and when (pure: no I/O; the time
 * comes in as an argument).
 *
 * An error is transient when the cluster or the member may answer the same
 * request differently in a moment: the member is down or cut off, the cluster
 * has no leader or is electing one, a proposal timed out. etcd (v3.4, v3.5:
 * server/etcdserver/api/v3rpc/rpctypes/error.go and util.go) sends those as
 * UNAVAILABLE ("etcdserver: no leader", "leader changed", "request timed
 * out...", "server stopped", "unhealthy cluster"), as DEADLINE_EXCEEDED
 * ("context deadline exceeded"), as RESOURCE_EXHAUSTED ("etcdserver: too many
 * requests": the applied index lags, as after an election), and an error its
 * table does not know as UNKNOWN with the Go error's text ("raft proposal
 * dropped", "etcdserver: request timed out, leader transfer took too long").
 * Everything else (invalid argument, permission denied, unauthenticated, out
 * of range, a full database, ...) is an answer, and final. A failed compare is
 * no error at all: Txn says succeeded = false. */
#ifndef WM_ETCD_RETRY_H
#define WM_ETCD_RETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The default for wm_etcd_config.retry_ms: an election takes about 1 s with
 * etcd's defaults (1 s election timeout), a few when votes split. */
#define WM_ETCD_RETRY_MS 5000
/* Attempts beyond one per endpoint, at most. */
#define WM_ETCD_RETRY_EXTRA 8

/* Whether a call that ended with gRPC status (and etcd's message, may be
 * NULL) may succeed when sent again. */
bool wm_etcd_error_transient(int grpc_status, const char *message);

/* Whether a transient error (wm_etcd_error_transient) says the request was
 * certainly not applied: refused before etcd proposed it ("no leader", which
 * the hasleader metadata asks for, "not leader", "too many requests") or
 * never sent (our connection could not be made or the stream not started).
 * Such a call may be sent again whatever it does. Every other transient
 * error is ambiguous: a request that timed out, met a leader change,
 * DEADLINE_EXCEEDED, or lost its connection after it was sent may have been
 * applied. */
bool wm_etcd_error_unapplied(int grpc_status, const char *message);

/* Whether the request to path may be sent again after an ambiguous error,
 * although the first one may have been applied (a timed-out proposal can
 * still commit). Only the methods we know are: see retry.c. */
bool wm_etcd_path_repeatable(const char *path);

/* After `attempts` (>= 1) failed attempts of one call, the first of them
 * elapsed_ms ago, against a list of n_eps endpoints: the delay in ms before
 * the next attempt, or -1 to give up. Each endpoint gets one attempt at once
 * (failover to a member that went silent must not wait); then attempts back
 * off, doubling from budget_ms / 100 up to budget_ms / 5, while the next one
 * starts within budget_ms of the first failure and at most
 * WM_ETCD_RETRY_EXTRA more were made. Counting from the first failure, not
 * the call's start, leaves the retries their time after an attempt that
 * waited out its whole timeout on a silent member; a call then takes at most
 * about timeout + budget_ms + timeout. */
int64_t wm_etcd_retry_delay(unsigned attempts, size_t n_eps, uint64_t elapsed_ms,
			    uint32_t budget_ms);

#endif
