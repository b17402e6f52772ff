/* An etcd v3 client over our own gRPC client (src/rpc): unary KV, Lease and
 * Cluster calls and prefix watches, with a list of endpoints and failover.
 *
 * One endpoint is current; a call that ends with a transient error (the
 * member is down or cut off, the cluster has no leader or is electing one, a
 * proposal timed out: retry.h) moves the client to the next endpoint and is
 * sent again: at once to each endpoint in turn, then with a growing delay, for
 * at most retry_ms, so that a cluster without a leader is not hammered. Calls
 * ask etcd to refuse them at once when the member has no leader ("hasleader"
 * metadata) rather than wait for one. Any
 * other error (bad request, permission denied, ...) ends the call at once. A
 * call whose error says it was not applied (retry.h) is always sent again;
 * after an ambiguous one it may have been applied already, so only the
 * methods retry.c lists are sent again, and callers write with transactions
 * whose comparisons make a repeat harmless, or ask for WM_ETCD_CALL_ONCE
 * (store.c). Everything runs on the caller's libuv loop. */
#ifndef WM_ETCD_CLIENT_H
#define WM_ETCD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>
#include <uv.h>

#include "etcd/kv.pb-c.h"
#include "etcd/layout.h"
#include "etcd/rpc.pb-c.h"

struct wm_etcd_client;

struct wm_etcd_config {
	const char *endpoints; /* "https://h1:2379,https://h2:2379" */
	/* TLS for https:// endpoints: the CA that signed the members'
	 * certificates (required), and optionally our client certificate. */
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
	uint32_t timeout_ms; /* per attempt; 0 = 5000 */
	/* How long a call keeps retrying transient errors, from its first
	 * one; 0 = WM_ETCD_RETRY_MS. Each endpoint is tried once however long
	 * the attempts took. */
	uint32_t retry_ms;
	/* One line per event worth an operator's eye (failover, plain http);
	 * may be NULL. */
	void (*log)(void *data, const char *msg);
	void *log_data;
};

/* Parses and checks the configuration (endpoints, TLS files); connects lazily.
 * -EINVAL with err naming what is wrong (an https:// endpoint without a CA
 * file, a certificate without its key, a bad URL). Plain http:// endpoints
 * are accepted and logged as a warning: nothing on them is private or
 * authenticated. */
int wm_etcd_client_new(uv_loop_t *loop, const struct wm_etcd_config *cfg,
		       struct wm_etcd_client **out, char *err, size_t errlen);
/* Fails pending calls (cb with -ECANCELED) and stops watches (no more
 * callbacks); run the loop afterwards for the handles to close. */
void wm_etcd_client_free(struct wm_etcd_client *c);
/* Whether some endpoint is plain http:// (the caller warns at startup). */
bool wm_etcd_client_insecure(const struct wm_etcd_client *c);
/* Passes msg to the configured log (for the client's users). */
void wm_etcd_client_log(struct wm_etcd_client *c, const char *msg);
/* The endpoint calls currently go to, as given. */
const char *wm_etcd_client_endpoint(const struct wm_etcd_client *c);

/* A unary call's end: err 0 with the response bytes, or a negative errno
 * (-EIO for an etcd error that is final, -ETIMEDOUT or -ECONNREFUSED when
 * transient errors outlasted the retries, -ECANCELED on free) with message
 * saying what etcd said last (and, after retries, how many attempts in how
 * long). */
typedef void (*wm_etcd_call_cb)(void *data, int err, const char *message, const uint8_t *resp,
				size_t len);
/* Sends req (packed now) to path ("/etcdserverpb.KV/Txn") with failover.
 * 0 and cb later exactly once, or a negative error and no cb. */
int wm_etcd_call(struct wm_etcd_client *c, const char *path, const ProtobufCMessage *req,
		 wm_etcd_call_cb cb, void *data);

/* For a write whose repeat could harm although its method is repeatable (a
 * Txn without a compare that a repeat would fail): after an error that
 * leaves it unknown whether etcd applied it (retry.h), the call ends with
 * -ETIMEDOUT or -ECONNREFUSED and a message saying so, instead of being sent
 * again; errors that say it was not applied are still retried. */
#define WM_ETCD_CALL_ONCE 0x1u
/* wm_etcd_call with flags (WM_ETCD_CALL_*). */
int wm_etcd_call_flags(struct wm_etcd_client *c, const char *path, const ProtobufCMessage *req,
		       unsigned flags, wm_etcd_call_cb cb, void *data);

/* Blocking helpers for tools and tests: run loop until the call completes.
 * The response is unpacked into *out (free with its __free_unpacked). */
int wm_etcd_txn_sync(struct wm_etcd_client *c, uv_loop_t *loop, const Etcdserverpb__TxnRequest *req,
		     Etcdserverpb__TxnResponse **out, char *err, size_t errlen);
int wm_etcd_range_sync(struct wm_etcd_client *c, uv_loop_t *loop, const char *prefix,
		       bool is_prefix, Etcdserverpb__RangeResponse **out, char *err, size_t errlen);

/* Renews etcd lease id once (LeaseKeepAlive is a stream: one request, its
 * answer, then the stream is closed). cb as for wm_etcd_call, with a
 * LeaseKeepAliveResponse (TTL <= 0: the lease had expired). */
int wm_etcd_lease_keepalive(struct wm_etcd_client *c, int64_t id, wm_etcd_call_cb cb, void *data);

/* A watch on every key under prefix. Events come in revision order; after
 * the stream is lost it is opened again (on the next endpoint) from the
 * revision after the last one delivered, so that nothing is missed or
 * repeated. When etcd compacted that revision away, cb gets ev NULL with
 * the revision to reload the state at, and the watch goes on from there. */
typedef void (*wm_etcd_event_cb)(void *data, int64_t revision, const Mvccpb__Event *ev);
struct wm_etcd_watch;
/* start_revision 0 = from now. */
int wm_etcd_watch_start(struct wm_etcd_client *c, const char *prefix, int64_t start_revision,
			wm_etcd_event_cb cb, void *data, struct wm_etcd_watch **out);
void wm_etcd_watch_stop(struct wm_etcd_watch *w);
/* How many times the watch was opened again after a loss (for tests). */
unsigned wm_etcd_watch_restarts(const struct wm_etcd_watch *w);

#endif
