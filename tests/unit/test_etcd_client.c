/* The etcd client's retries (src/etcd/client.c, retry.c): which errors are
 * tried again, on which endpoint, how often and for how long. The gRPC layer
 * below is a mock defined here (client.c is linked without src/rpc), which
 * answers each attempt as the test scripts it, on a real libuv loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/grpccode.h"
#include "etcd/client.h"
#include "etcd/retry.h"
#include "rpc/rpc.h"
#include "rpc/tls.h"

/* ------------------------------------------------------------ the mock */

#define MAX_SENDS 64

struct answer {
	int status;
	const char *message;
};

struct wm_rpc_client {
	int ep; /* index of the endpoint, in the order the client made them */
};

struct pending {
	wm_rpc_unary_cb cb;
	void *data;
	struct answer a;
};

static struct mock {
	uv_loop_t *loop;
	int n_clients;
	struct wm_rpc_client *clients[WM_ETCD_MAX_ENDPOINTS];
	/* The answer to send number i; past the end, the last one again. */
	const struct answer *script;
	size_t n_script;
	uint64_t reply_ms; /* how long each answer takes */
	unsigned sends;
	unsigned require_leader; /* sends asking for a member with a leader */
	int send_ep[MAX_SENDS];
	uint64_t send_at[MAX_SENDS];
	struct pending pending[MAX_SENDS];
	size_t n_pending;
	uv_timer_t timer;
} m;

static void reply_cb(uv_timer_t *t)
{
	(void)t;
	/* Answers may send again (the client's retries): take the batch first. */
	struct pending batch[MAX_SENDS];
	size_t n = m.n_pending;
	memcpy(batch, m.pending, n * sizeof(batch[0]));
	m.n_pending = 0;
	for (size_t i = 0; i < n; i++) {
		const uint8_t ok[1] = {0};
		batch[i].cb(batch[i].data, batch[i].a.status, batch[i].a.message,
			    batch[i].a.status == WM_GRPC_OK ? ok : NULL, 0);
	}
}

int wm_rpc_client_new(uv_loop_t *loop, const struct wm_rpc_client_config *cfg,
		      struct wm_rpc_client **out)
{
	(void)loop;
	(void)cfg;
	struct wm_rpc_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->ep = m.n_clients;
	m.clients[m.n_clients++] = c;
	*out = c;
	return 0;
}

void wm_rpc_client_free(struct wm_rpc_client *c)
{
	/* As the real one: pending calls end CANCELLED before it returns. */
	size_t n = m.n_pending;
	struct pending batch[MAX_SENDS];
	memcpy(batch, m.pending, n * sizeof(batch[0]));
	m.n_pending = 0;
	for (size_t i = 0; i < n; i++)
		batch[i].cb(batch[i].data, WM_GRPC_CANCELLED, "client closed", NULL, 0);
	free(c);
}

int wm_rpc_client_unary(struct wm_rpc_client *c, const char *path, const uint8_t *req, size_t len,
			uint64_t timeout_ms, const struct wm_rpc_metadata *md, size_t n_md,
			wm_rpc_unary_cb cb, void *data)
{
	(void)path;
	(void)req;
	(void)len;
	(void)timeout_ms;
	assert_true(m.sends < MAX_SENDS);
	if (n_md == 1 && strcmp(md[0].key, "hasleader") == 0 && strcmp(md[0].value, "true") == 0)
		m.require_leader++;
	size_t i = m.sends < m.n_script ? m.sends : m.n_script - 1;
	m.send_ep[m.sends] = c->ep;
	m.send_at[m.sends] = uv_now(m.loop);
	m.sends++;
	m.pending[m.n_pending++] = (struct pending){cb, data, m.script[i]};
	uv_timer_start(&m.timer, reply_cb, m.reply_ms, 0);
	return 0;
}

int wm_rpc_client_stream(struct wm_rpc_client *c, const char *path, const uint8_t *req, size_t len,
			 uint64_t timeout_ms, const struct wm_rpc_metadata *md, size_t n_md,
			 wm_rpc_message_cb msg_cb, wm_rpc_close_cb close_cb, void *data,
			 struct wm_rpc_stream **out)
{
	(void)c, (void)path, (void)req, (void)len, (void)timeout_ms, (void)md, (void)n_md;
	(void)msg_cb, (void)close_cb, (void)data, (void)out;
	return -ENOTSUP; /* no watches or lease streams here */
}

void wm_rpc_stream_cancel(struct wm_rpc_stream *s)
{
	(void)s;
}

SSL_CTX *wm_tls_client_ctx_new(const struct wm_tls_client_opts *o, char *err, size_t errlen)
{
	(void)o;
	snprintf(err, errlen, "no TLS in this test");
	return NULL;
}

const char *wm_grpc_status_name(int status)
{
	const char *name = wm_grpc_code_name(status);
	return name ? name : "INVALID_STATUS";
}

/* ------------------------------------------------------------ fixture */

struct result {
	bool done;
	int calls;
	int err;
	char msg[400];
};

static void done_cb(void *data, int err, const char *message, const uint8_t *resp, size_t len)
{
	struct result *r = data;
	(void)resp;
	(void)len;
	r->done = true;
	r->calls++;
	r->err = err;
	snprintf(r->msg, sizeof(r->msg), "%s", message ? message : "");
}

struct fx {
	uv_loop_t loop;
	struct wm_etcd_client *c;
};

static void fx_start(struct fx *f, const char *endpoints, uint32_t retry_ms,
		     const struct answer *script, size_t n_script)
{
	char err[200];
	memset(&m, 0, sizeof(m));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	m.loop = &f->loop;
	m.script = script;
	m.n_script = n_script;
	uv_timer_init(&f->loop, &m.timer);
	struct wm_etcd_config cfg = {.endpoints = endpoints, .retry_ms = retry_ms};
	assert_int_equal(wm_etcd_client_new(&f->loop, &cfg, &f->c, err, sizeof(err)), 0);
}

/* Runs one call of path to its end (bounded: the loop stops once it ended). */
static void fx_call_flags(struct fx *f, const char *path, unsigned flags, struct result *r)
{
	Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
	rq.key = (ProtobufCBinaryData){3, (uint8_t *)"/k/"};
	memset(r, 0, sizeof(*r));
	assert_int_equal(wm_etcd_call_flags(f->c, path, &rq.base, flags, done_cb, r), 0);
	while (!r->done)
		assert_true(uv_run(&f->loop, UV_RUN_ONCE) || r->done);
}

static void fx_call(struct fx *f, const char *path, struct result *r)
{
	fx_call_flags(f, path, 0, r);
}

static void fx_stop(struct fx *f)
{
	wm_etcd_client_free(f->c);
	uv_close((uv_handle_t *)&m.timer, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

#define RANGE "/etcdserverpb.KV/Range"
#define TXN "/etcdserverpb.KV/Txn"
#define EPS3 "http://127.0.0.1:1,http://127.0.0.1:2,http://127.0.0.1:3"
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ pure parts */

static void test_transient_errors(void **state)
{
	(void)state;
	/* etcd's own texts, with the codes v3.4 and v3.5 give them. */
	assert_true(wm_etcd_error_transient(WM_GRPC_UNAVAILABLE, "etcdserver: no leader"));
	assert_true(wm_etcd_error_transient(WM_GRPC_UNAVAILABLE, "etcdserver: leader changed"));
	assert_true(wm_etcd_error_transient(WM_GRPC_UNAVAILABLE, "etcdserver: request timed out"));
	assert_true(wm_etcd_error_transient(
		WM_GRPC_UNAVAILABLE,
		"etcdserver: request timed out, possibly due to previous leader failure"));
	assert_true(wm_etcd_error_transient(WM_GRPC_UNAVAILABLE, NULL));
	assert_true(
		wm_etcd_error_transient(WM_GRPC_DEADLINE_EXCEEDED, "context deadline exceeded"));
	assert_true(wm_etcd_error_transient(WM_GRPC_RESOURCE_EXHAUSTED,
					    "etcdserver: too many requests"));
	assert_true(wm_etcd_error_transient(WM_GRPC_FAILED_PRECONDITION, "etcdserver: not leader"));
	/* Errors etcd's table lacks come as UNKNOWN with Go's text. */
	assert_true(wm_etcd_error_transient(WM_GRPC_UNKNOWN, "raft proposal dropped"));
	assert_true(wm_etcd_error_transient(
		WM_GRPC_UNKNOWN, "etcdserver: request timed out, leader transfer took too long"));
	assert_true(wm_etcd_error_transient(WM_GRPC_UNKNOWN, "context deadline exceeded"));
	assert_true(wm_etcd_error_transient(WM_GRPC_UNKNOWN, "etcdserver: leader changed"));
	/* Answers, final. */
	assert_false(wm_etcd_error_transient(WM_GRPC_PERMISSION_DENIED,
					     "etcdserver: permission denied"));
	assert_false(wm_etcd_error_transient(WM_GRPC_INVALID_ARGUMENT,
					     "etcdserver: duplicate key given in txn request"));
	assert_false(wm_etcd_error_transient(WM_GRPC_INVALID_ARGUMENT,
					     "etcdserver: request timed out")); /* code decides */
	assert_false(
		wm_etcd_error_transient(WM_GRPC_UNAUTHENTICATED, "etcdserver: invalid auth token"));
	assert_false(wm_etcd_error_transient(WM_GRPC_RESOURCE_EXHAUSTED,
					     "etcdserver: mvcc: database space exceeded"));
	assert_false(wm_etcd_error_transient(
		WM_GRPC_OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted"));
	assert_false(wm_etcd_error_transient(WM_GRPC_FAILED_PRECONDITION,
					     "etcdserver: authentication is not enabled"));
	assert_false(wm_etcd_error_transient(WM_GRPC_UNKNOWN, "something else"));
	assert_false(wm_etcd_error_transient(WM_GRPC_UNKNOWN, NULL));
	assert_false(wm_etcd_error_transient(WM_GRPC_CANCELLED, "context canceled"));
	assert_false(wm_etcd_error_transient(WM_GRPC_DATA_LOSS, "etcdserver: corrupt cluster"));
}

/* Certainly not applied: refused before a proposal, or never sent. The
 * rest of the transient errors may have been applied. */
static void test_unapplied_errors(void **state)
{
	(void)state;
	assert_true(wm_etcd_error_unapplied(WM_GRPC_UNAVAILABLE, "etcdserver: no leader"));
	assert_true(wm_etcd_error_unapplied(WM_GRPC_FAILED_PRECONDITION, "etcdserver: not leader"));
	assert_true(wm_etcd_error_unapplied(WM_GRPC_RESOURCE_EXHAUSTED,
					    "etcdserver: too many requests"));
	assert_true(wm_etcd_error_unapplied(
		WM_GRPC_UNAVAILABLE, "cannot connect to 127.0.0.1:2379: connection refused"));
	assert_true(wm_etcd_error_unapplied(WM_GRPC_UNAVAILABLE, "cannot start an HTTP/2 stream"));
	/* Ambiguous. */
	assert_false(wm_etcd_error_unapplied(WM_GRPC_UNAVAILABLE, "etcdserver: request timed out"));
	assert_false(wm_etcd_error_unapplied(WM_GRPC_UNAVAILABLE, "etcdserver: leader changed"));
	assert_false(
		wm_etcd_error_unapplied(WM_GRPC_DEADLINE_EXCEEDED, "context deadline exceeded"));
	assert_false(wm_etcd_error_unapplied(WM_GRPC_DEADLINE_EXCEEDED, NULL));
	assert_false(wm_etcd_error_unapplied(WM_GRPC_UNKNOWN, "raft proposal dropped"));
	assert_false(wm_etcd_error_unapplied(
		WM_GRPC_UNAVAILABLE, "connection to 127.0.0.1:2379: connection reset by peer"));
	assert_false(wm_etcd_error_unapplied(WM_GRPC_UNAVAILABLE, NULL));
	/* Our texts count only with our code; a final error is not retried. */
	assert_false(wm_etcd_error_unapplied(WM_GRPC_UNKNOWN, "cannot connect to x"));
	assert_false(wm_etcd_error_unapplied(WM_GRPC_INVALID_ARGUMENT, "etcdserver: no leader"));
}

static void test_repeatable_paths(void **state)
{
	(void)state;
	assert_true(wm_etcd_path_repeatable(RANGE));
	assert_true(wm_etcd_path_repeatable(TXN));
	assert_true(wm_etcd_path_repeatable("/etcdserverpb.KV/Put"));
	assert_true(wm_etcd_path_repeatable("/etcdserverpb.Lease/LeaseGrant"));
	assert_true(wm_etcd_path_repeatable("/etcdserverpb.Cluster/MemberList"));
	assert_false(wm_etcd_path_repeatable("/etcdserverpb.KV/DeleteRange"));
	assert_false(wm_etcd_path_repeatable("/etcdserverpb.Lease/LeaseRevoke"));
	assert_false(wm_etcd_path_repeatable("/etcdserverpb.KV/Range/x"));
}

static void test_retry_schedule(void **state)
{
	(void)state;
	/* Each of 3 endpoints at once, however long the attempts took. */
	assert_int_equal(wm_etcd_retry_delay(1, 3, 0, 5000), 0);
	assert_int_equal(wm_etcd_retry_delay(2, 3, 12000, 5000), 0);
	/* Then doubling from budget/100 up to budget/5. */
	const int64_t want[WM_ETCD_RETRY_EXTRA] = {50, 100, 200, 400, 800, 1000, 1000, 1000};
	for (unsigned i = 0; i < WM_ETCD_RETRY_EXTRA; i++)
		assert_int_equal(wm_etcd_retry_delay(3 + i, 3, 0, 5000), want[i]);
	/* At most WM_ETCD_RETRY_EXTRA more... */
	assert_int_equal(wm_etcd_retry_delay(3 + WM_ETCD_RETRY_EXTRA, 3, 0, 5000), -1);
	/* ...and none that would start after the budget. */
	assert_int_equal(wm_etcd_retry_delay(3, 3, 4949, 5000), 50);
	assert_int_equal(wm_etcd_retry_delay(3, 3, 4950, 5000), -1);
	assert_int_equal(wm_etcd_retry_delay(1, 1, 5000, 5000), -1);
	/* A tiny budget still waits a little. */
	assert_int_equal(wm_etcd_retry_delay(1, 1, 0, 50), 1);
}

/* ------------------------------------------------------------ the client */

/* The errors a leader's death brings, with the codes etcd gives them, end in
 * an answer from the member that has the new leader. */
static void test_retry_through_election(void **state)
{
	static const struct answer script[] = {
		{WM_GRPC_UNAVAILABLE, "connection refused"},
		{WM_GRPC_UNAVAILABLE, "etcdserver: leader changed"},
		{WM_GRPC_UNKNOWN, "etcdserver: request timed out"},
		{WM_GRPC_UNAVAILABLE, "etcdserver: no leader"},
		{WM_GRPC_DEADLINE_EXCEEDED, "context deadline exceeded"},
		{WM_GRPC_UNKNOWN, "raft proposal dropped"},
		{WM_GRPC_OK, NULL},
	};
	struct fx f;
	struct result r;
	(void)state;
	fx_start(&f, EPS3, 5000, script, N(script));
	fx_call(&f, TXN, &r);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.err, 0);
	assert_int_equal(m.sends, 7);
	/* Each asked the member to refuse at once if it has no leader. */
	assert_int_equal(m.require_leader, 7);
	/* Round the list, moving on after every failure. */
	for (unsigned i = 0; i < m.sends; i++)
		assert_int_equal(m.send_ep[i], (int)(i % 3));
	/* Each endpoint at once, then waiting 50, 100, 200 ms. */
	assert_true(m.send_at[2] - m.send_at[0] < 50);
	assert_true(m.send_at[3] - m.send_at[2] >= 50);
	assert_true(m.send_at[4] - m.send_at[3] >= 100);
	assert_true(m.send_at[5] - m.send_at[4] >= 200);
	fx_stop(&f);
}

/* A real error is the answer: no second attempt. */
static void test_no_retry_on_real_error(void **state)
{
	static const struct answer denied[] = {
		{WM_GRPC_PERMISSION_DENIED, "etcdserver: permission denied"},
	};
	static const struct answer invalid[] = {
		{WM_GRPC_INVALID_ARGUMENT, "etcdserver: duplicate key given in txn request"},
	};
	static const struct answer full[] = {
		{WM_GRPC_RESOURCE_EXHAUSTED, "etcdserver: mvcc: database space exceeded"},
	};
	static const struct answer other[] = {
		{WM_GRPC_UNKNOWN, "etcdserver: some error we do not know"},
	};
	const struct answer *scripts[] = {denied, invalid, full, other};
	struct fx f;
	struct result r;
	(void)state;
	for (size_t i = 0; i < N(scripts); i++) {
		fx_start(&f, EPS3, 5000, scripts[i], 1);
		fx_call(&f, TXN, &r);
		assert_int_equal(r.calls, 1);
		assert_int_equal(r.err, -EIO);
		assert_string_equal(r.msg, scripts[i]->message);
		assert_int_equal(m.sends, 1);
		/* The member answered: it stays current. */
		assert_string_equal(wm_etcd_client_endpoint(f.c), "http://127.0.0.1:1");
		fx_stop(&f);
	}
}

/* A cluster that stays without a leader: one attempt per endpoint, then
 * WM_ETCD_RETRY_EXTRA more with delays, then a clear error. */
static void test_bounded_attempts(void **state)
{
	static const struct answer script[] = {
		{WM_GRPC_UNAVAILABLE, "etcdserver: no leader"},
	};
	struct fx f;
	struct result r;
	char want[100];
	(void)state;
	/* Delays 30, 60, 120, 240, 480, 600, 600, 600: 2730 ms of 3000. */
	fx_start(&f, EPS3, 3000, script, N(script));
	fx_call(&f, RANGE, &r);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.err, -ECONNREFUSED);
	assert_int_equal(m.sends, 3 + WM_ETCD_RETRY_EXTRA);
	snprintf(want, sizeof(want), "etcdserver: no leader (gave up after %u attempts, ",
		 3 + WM_ETCD_RETRY_EXTRA);
	assert_non_null(strstr(r.msg, want));
	uint64_t took = m.send_at[m.sends - 1] - m.send_at[0];
	assert_true(took >= 2730);
	assert_true(took < 3000);
	fx_stop(&f);
}

/* Slow failures end the retries by time before the count does. */
static void test_bounded_time(void **state)
{
	static const struct answer script[] = {
		{WM_GRPC_UNAVAILABLE, "etcdserver: request timed out"},
	};
	struct fx f;
	struct result r;
	(void)state;
	fx_start(&f, "http://127.0.0.1:1", 500, script, N(script));
	m.reply_ms = 100;
	uint64_t t0 = uv_now(&f.loop);
	fx_call(&f, TXN, &r);
	uv_update_time(&f.loop);
	uint64_t took = uv_now(&f.loop) - t0;
	assert_int_equal(r.err, -ETIMEDOUT);
	assert_non_null(strstr(r.msg, "etcdserver: request timed out (gave up after"));
	assert_true(m.sends >= 2);
	assert_true(m.sends < 1 + WM_ETCD_RETRY_EXTRA);
	/* The last attempt began within the budget from the first failure. */
	assert_true(m.send_at[m.sends - 1] - (m.send_at[0] + 100) < 500);
	assert_true(took < 100 + 500 + 100 + 100);
	fx_stop(&f);
}

/* A method a repeat could harm fails at its first transient error. */
static void test_no_retry_unless_repeatable(void **state)
{
	static const struct answer script[] = {
		{WM_GRPC_UNAVAILABLE, "etcdserver: request timed out"},
		{WM_GRPC_OK, NULL},
	};
	struct fx f;
	struct result r;
	(void)state;
	fx_start(&f, EPS3, 5000, script, N(script));
	fx_call(&f, "/etcdserverpb.KV/DeleteRange", &r);
	assert_int_equal(r.err, -ETIMEDOUT);
	assert_int_equal(m.sends, 1);
	/* Still, the next call goes to another member. */
	assert_string_equal(wm_etcd_client_endpoint(f.c), "http://127.0.0.1:2");
	fx_stop(&f);
}

/* A write sent with WM_ETCD_CALL_ONCE (a deny or allow: no compare would
 * fail its repeat) is not sent again after an error that leaves it unknown
 * whether etcd applied it. */
static void test_once_not_resent_when_ambiguous(void **state)
{
	static const struct answer timed_out[] = {
		{WM_GRPC_UNAVAILABLE, "etcdserver: request timed out"},
		{WM_GRPC_OK, NULL},
	};
	static const struct answer changed[] = {
		{WM_GRPC_UNAVAILABLE, "etcdserver: leader changed"},
		{WM_GRPC_OK, NULL},
	};
	static const struct answer deadline[] = {
		{WM_GRPC_DEADLINE_EXCEEDED, "context deadline exceeded"},
		{WM_GRPC_OK, NULL},
	};
	static const struct answer reset[] = {
		{WM_GRPC_UNAVAILABLE, "connection to 127.0.0.1:1: connection reset by peer"},
		{WM_GRPC_OK, NULL},
	};
	const struct answer *scripts[] = {timed_out, changed, deadline, reset};
	struct fx f;
	struct result r;
	(void)state;
	for (size_t i = 0; i < N(scripts); i++) {
		fx_start(&f, EPS3, 5000, scripts[i], 2);
		fx_call_flags(&f, TXN, WM_ETCD_CALL_ONCE, &r);
		assert_int_equal(r.calls, 1);
		assert_true(r.err == -ETIMEDOUT || r.err == -ECONNREFUSED);
		assert_int_equal(m.sends, 1);
		assert_non_null(strstr(r.msg, scripts[i]->message));
		assert_non_null(strstr(r.msg, "may have been applied"));
		fx_stop(&f);
		/* Without the flag the same Txn goes again and succeeds. */
		fx_start(&f, EPS3, 5000, scripts[i], 2);
		fx_call(&f, TXN, &r);
		assert_int_equal(r.err, 0);
		assert_int_equal(m.sends, 2);
		fx_stop(&f);
	}
}

/* Errors that say the request was not applied are retried for any call,
 * WM_ETCD_CALL_ONCE or a method that is not repeatable. */
static void test_unapplied_retried_for_every_call(void **state)
{
	static const struct answer script[] = {
		{WM_GRPC_UNAVAILABLE, "cannot connect to 127.0.0.1:1: connection refused"},
		{WM_GRPC_UNAVAILABLE, "etcdserver: no leader"},
		{WM_GRPC_FAILED_PRECONDITION, "etcdserver: not leader"},
		{WM_GRPC_RESOURCE_EXHAUSTED, "etcdserver: too many requests"},
		{WM_GRPC_OK, NULL},
	};
	struct fx f;
	struct result r;
	(void)state;
	fx_start(&f, EPS3, 5000, script, N(script));
	fx_call_flags(&f, TXN, WM_ETCD_CALL_ONCE, &r);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.err, 0);
	assert_int_equal(m.sends, 5);
	fx_stop(&f);
	fx_start(&f, EPS3, 5000, script, N(script));
	fx_call(&f, "/etcdserverpb.KV/DeleteRange", &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(m.sends, 5);
	fx_stop(&f);
}

/* Freeing the client while a call waits to be retried ends it, once. */
static void test_free_while_waiting(void **state)
{
	static const struct answer script[] = {
		{WM_GRPC_UNAVAILABLE, "etcdserver: no leader"},
	};
	struct fx f;
	struct result r = {0};
	Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
	(void)state;
	fx_start(&f, "http://127.0.0.1:1", 60000, script, N(script));
	assert_int_equal(wm_etcd_call(f.c, RANGE, &rq.base, done_cb, &r), 0);
	/* The first answer comes; the call then waits 600 ms on its timer
	 * (NOWAIT: UV_RUN_ONCE would sleep until that timer fires). */
	for (int i = 0; i < 1000 && m.n_pending; i++)
		uv_run(&f.loop, UV_RUN_NOWAIT);
	assert_int_equal(m.sends, 1);
	assert_false(r.done);
	wm_etcd_client_free(f.c);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.err, -ECANCELED);
	uv_close((uv_handle_t *)&m.timer, NULL);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	assert_int_equal(r.calls, 1);
	assert_int_equal(uv_loop_close(&f.loop), 0);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transient_errors),
		cmocka_unit_test(test_unapplied_errors),
		cmocka_unit_test(test_repeatable_paths),
		cmocka_unit_test(test_retry_schedule),
		cmocka_unit_test(test_retry_through_election),
		cmocka_unit_test(test_no_retry_on_real_error),
		cmocka_unit_test(test_bounded_attempts),
		cmocka_unit_test(test_bounded_time),
		cmocka_unit_test(test_no_retry_unless_repeatable),
		cmocka_unit_test(test_once_not_resent_when_ambiguous),
		cmocka_unit_test(test_unapplied_retried_for_every_call),
		cmocka_unit_test(test_free_while_waiting),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
