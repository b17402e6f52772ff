/* etcd v3 client: endpoints, failover, unary calls and watches (client.h). */
#include "etcd/client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/retry.h"
#include "rpc/rpc.h"
#include "rpc/tls.h"

/* A lost watch is opened again after 200 ms, doubling up to 5 s while
 * it keeps failing (every endpoint down): no tight loop against a cluster
 * that refuses us. */
#define RESTART_DELAY_MS 200
#define RESTART_DELAY_MAX_MS 5000
/* HTTP/2 PINGs find a member that went silent (killed host, cut link).
 * etcd (grpc-go) answers a client that pings more often than its
 * --grpc-keepalive-min-time (5 s by default) with GOAWAY too_many_pings
 * and closes the connection, watches and all: stay above it. */
#define KEEPALIVE_MS 10000
#define KEEPALIVE_TIMEOUT_MS 5000

struct ep {
	struct wm_etcd_endpoint url;
	char text[300];
	struct wm_rpc_client *rpc; /* made on first use */
};

struct wm_etcd_client {
	uv_loop_t *loop;
	struct ep eps[WM_ETCD_MAX_ENDPOINTS];
	size_t n_eps, cur;
	char *ca_file, *cert_file, *key_file;
	uint32_t timeout_ms, retry_ms;
	void (*log)(void *data, const char *msg);
	void *log_data;
	struct call *calls; /* in flight, for free */
	struct wm_etcd_watch *watches;
	bool freeing;
};

struct call {
	struct wm_etcd_client *c;
	struct call *prev, *next;
	char path[64];
	uint8_t *req;
	size_t len;
	unsigned attempts;
	unsigned flags;	    /* WM_ETCD_CALL_* */
	size_t ep;	    /* where this attempt went */
	uint64_t failed_ms; /* uv_now at the first transient error */
	uv_timer_t *timer;  /* the delay before the next attempt; made on first use */
	wm_etcd_call_cb cb;
	void *data;
};

struct wm_etcd_watch {
	struct wm_etcd_client *c;
	struct wm_etcd_watch *prev, *next;
	uint8_t key[WM_ETCD_KEY_MAX];
	size_t key_len;
	int64_t next_rev; /* the first revision not delivered yet; 0 = now */
	struct wm_rpc_stream *stream;
	size_t ep;
	uv_timer_t *timer; /* restart delay; closed on stop */
	uint64_t delay_ms;
	unsigned restarts;
	wm_etcd_event_cb cb;
	void *data;
	bool stopped;
};

static void logf_(struct wm_etcd_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void logf_(struct wm_etcd_client *c, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	if (!c->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->log(c->log_data, msg);
}

static struct wm_rpc_client *ep_rpc(struct wm_etcd_client *c, size_t i, int *err)
{
	struct ep *e = &c->eps[i];
	char why[256];

	if (e->rpc)
		return e->rpc;
	struct wm_rpc_client_config rc = {
		.host = e->url.host,
		.port = e->url.port,
		.cleartext = !e->url.tls,
		.keepalive_ms = KEEPALIVE_MS,
		.keepalive_timeout_ms = KEEPALIVE_TIMEOUT_MS,
		.connect_timeout_ms = c->timeout_ms,
	};
	SSL_CTX *tls = NULL;
	if (e->url.tls) {
		struct wm_tls_client_opts o = {
			.ca_file = c->ca_file,
			.cert_file = c->cert_file,
			.key_file = c->key_file,
			.verify_name = e->url.host,
		};
		tls = wm_tls_client_ctx_new(&o, why, sizeof(why));
		if (!tls) {
			logf_(c, "etcd %s: %s", e->text, why);
			*err = -EINVAL;
			return NULL;
		}
		rc.tls = tls;
		rc.cleartext = false;
	}
	*err = wm_rpc_client_new(c->loop, &rc, &e->rpc);
	SSL_CTX_free(tls);
	return *err < 0 ? NULL : e->rpc;
}

/* Moves on from endpoint `from` unless another failure already did. */
static void fail_over(struct wm_etcd_client *c, size_t from, const char *why)
{
	if (c->cur != from || c->n_eps < 2)
		return;
	c->cur = (from + 1) % c->n_eps;
	logf_(c, "etcd %s: %s; trying %s", c->eps[from].text, why ? why : "unavailable",
	      c->eps[c->cur].text);
}

int wm_etcd_client_new(uv_loop_t *loop, const struct wm_etcd_config *cfg,
		       struct wm_etcd_client **out, char *err, size_t errlen)
{
	struct wm_etcd_endpoint urls[WM_ETCD_MAX_ENDPOINTS];
	const char *why = NULL;
	char bad[64];
	size_t n;
	bool any_tls = false, any_plain = false;

	*out = NULL;
	if (wm_etcd_endpoints_parse(cfg->endpoints, urls, WM_ETCD_MAX_ENDPOINTS, &n, &why, bad,
				    sizeof(bad)) < 0) {
		snprintf(err, errlen, "invalid etcd endpoint \"%s\": %s", bad, why);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		any_tls |= urls[i].tls;
		any_plain |= !urls[i].tls;
	}
	if (any_tls && (!cfg->ca_file || !*cfg->ca_file)) {
		snprintf(err, errlen, "https:// etcd endpoints need --etcd-ca-file");
		return -EINVAL;
	}
	if (!cfg->cert_file != !cfg->key_file) {
		snprintf(err, errlen, "--etcd-cert and --etcd-key go together");
		return -EINVAL;
	}
	if (any_plain && (cfg->cert_file || cfg->ca_file) && !any_tls) {
		snprintf(err, errlen,
			 "etcd TLS files given but every endpoint is http://; use https://");
		return -EINVAL;
	}
	struct wm_etcd_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->n_eps = n;
	c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 5000;
	c->retry_ms = cfg->retry_ms ? cfg->retry_ms : WM_ETCD_RETRY_MS;
	c->log = cfg->log;
	c->log_data = cfg->log_data;
	for (size_t i = 0; i < n; i++) {
		c->eps[i].url = urls[i];
		bool v6 = strchr(urls[i].host, ':') != NULL;
		snprintf(c->eps[i].text, sizeof(c->eps[i].text), "%s://%s%s%s:%u",
			 urls[i].tls ? "https" : "http", v6 ? "[" : "", urls[i].host, v6 ? "]" : "",
			 urls[i].port);
	}
	if ((cfg->ca_file && !(c->ca_file = strdup(cfg->ca_file))) ||
	    (cfg->cert_file && !(c->cert_file = strdup(cfg->cert_file))) ||
	    (cfg->key_file && !(c->key_file = strdup(cfg->key_file)))) {
		wm_etcd_client_free(c);
		return -ENOMEM;
	}
	/* Build the TLS contexts now so that a bad CA or key file is an error
	 * at startup, not at the first call. */
	for (size_t i = 0; i < n; i++) {
		int r = 0;
		if (urls[i].tls && !ep_rpc(c, i, &r)) {
			snprintf(err, errlen, "etcd TLS for %s: cannot use the CA/cert/key files",
				 c->eps[i].text);
			wm_etcd_client_free(c);
			return r ? r : -EINVAL;
		}
	}
	if (any_plain)
		logf_(c, "WARNING: etcd endpoints over plain http://: the mesh state travels "
			 "unencrypted and unauthenticated; use https:// with --etcd-ca-file");
	*out = c;
	return 0;
}

bool wm_etcd_client_insecure(const struct wm_etcd_client *c)
{
	for (size_t i = 0; i < c->n_eps; i++)
		if (!c->eps[i].url.tls)
			return true;
	return false;
}

void wm_etcd_client_log(struct wm_etcd_client *c, const char *msg)
{
	if (c->log)
		c->log(c->log_data, msg);
}

const char *wm_etcd_client_endpoint(const struct wm_etcd_client *c)
{
	return c->eps[c->cur].text;
}

/* ------------------------------------------------------------ unary */

static void call_unlink(struct call *k)
{
	struct wm_etcd_client *c = k->c;
	if (k->prev)
		k->prev->next = k->next;
	else
		c->calls = k->next;
	if (k->next)
		k->next->prev = k->prev;
}

static void timer_free_cb(uv_handle_t *h)
{
	free(h);
}

static void call_end(struct call *k, int err, const char *msg, const uint8_t *resp, size_t len)
{
	call_unlink(k);
	if (k->timer)
		uv_close((uv_handle_t *)k->timer, timer_free_cb);
	k->cb(k->data, err, msg, resp, len);
	free(k->req);
	free(k);
}

static int call_send(struct call *k);

static void call_fail(struct call *k, int err, const char *message)
{
	char msg[300];
	snprintf(msg, sizeof(msg), "%s (gave up after %u attempts, %" PRIu64 " ms of retries)",
		 message, k->attempts, uv_now(k->c->loop) - k->failed_ms);
	call_end(k, err, msg, NULL, 0);
}

static void retry_timer_cb(uv_timer_t *t)
{
	struct call *k = t->data;
	int r = call_send(k);
	if (r < 0)
		call_fail(k, r, "no etcd endpoint can be reached");
}

static void call_cb(void *data, int status, const char *message, const uint8_t *resp, size_t len)
{
	struct call *k = data;
	struct wm_etcd_client *c = k->c;

	if (status == WM_GRPC_OK) {
		call_end(k, 0, NULL, resp, len);
		return;
	}
	if (c->freeing || status == WM_GRPC_CANCELLED) {
		call_end(k, -ECANCELED, message, NULL, 0);
		return;
	}
	if (!message)
		message = wm_grpc_status_name(status);
	if (!wm_etcd_error_transient(status, message)) {
		call_end(k, -EIO, message, NULL, 0);
		return;
	}
	/* Another member may have a leader, or be up: move on from this one
	 * whatever it said. */
	fail_over(c, k->ep, message);
	if (k->attempts++ == 0)
		k->failed_ms = uv_now(c->loop);
	int err = -ECONNREFUSED;
	if (status == WM_GRPC_DEADLINE_EXCEEDED || strstr(message, "timed out"))
		err = -ETIMEDOUT;
	if (!wm_etcd_error_unapplied(status, message) &&
	    ((k->flags & WM_ETCD_CALL_ONCE) || !wm_etcd_path_repeatable(k->path))) {
		char msg[300];
		snprintf(msg, sizeof(msg), "%s (not sent again: it may have been applied)",
			 message);
		call_end(k, err, msg, NULL, 0);
		return;
	}
	int64_t delay = wm_etcd_retry_delay(k->attempts, c->n_eps, uv_now(c->loop) - k->failed_ms,
					    c->retry_ms);
	if (delay < 0) {
		call_fail(k, err, message);
		return;
	}
	if (delay == 0) {
		int r = call_send(k);
		if (r < 0)
			call_fail(k, r, message);
		return;
	}
	if (!k->timer) {
		k->timer = malloc(sizeof(*k->timer));
		if (!k->timer) {
			call_fail(k, err, message);
			return;
		}
		uv_timer_init(c->loop, k->timer);
		k->timer->data = k;
	}
	uv_timer_start(k->timer, retry_timer_cb, (uint64_t)delay, 0);
}

/* etcd then answers "no leader" at once when the member has none (it is cut
 * off, or the cluster is electing) instead of holding the request until it
 * times out: the call moves on to a member that has one, or backs off. */
static const struct wm_rpc_metadata require_leader[] = {{"hasleader", "true"}};

static int call_send(struct call *k)
{
	struct wm_etcd_client *c = k->c;
	int r = 0;
	for (size_t tries = 0; tries < c->n_eps; tries++) {
		k->ep = c->cur;
		struct wm_rpc_client *rpc = ep_rpc(c, k->ep, &r);
		if (rpc) {
			r = wm_rpc_client_unary(rpc, k->path, k->req, k->len, c->timeout_ms,
						require_leader, 1, call_cb, k);
			if (r == 0)
				return 0;
		}
		fail_over(c, k->ep, "cannot send");
	}
	return r ? r : -EIO;
}

int wm_etcd_call(struct wm_etcd_client *c, const char *path, const ProtobufCMessage *req,
		 wm_etcd_call_cb cb, void *data)
{
	return wm_etcd_call_flags(c, path, req, 0, cb, data);
}

int wm_etcd_call_flags(struct wm_etcd_client *c, const char *path, const ProtobufCMessage *req,
		       unsigned flags, wm_etcd_call_cb cb, void *data)
{
	if (c->freeing)
		return -ECANCELED;
	struct call *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->c = c;
	k->cb = cb;
	k->data = data;
	k->flags = flags;
	snprintf(k->path, sizeof(k->path), "%s", path);
	k->len = protobuf_c_message_get_packed_size(req);
	k->req = malloc(k->len ? k->len : 1);
	if (!k->req) {
		free(k);
		return -ENOMEM;
	}
	protobuf_c_message_pack(req, k->req);
	k->next = c->calls;
	if (c->calls)
		c->calls->prev = k;
	c->calls = k;
	int r = call_send(k);
	if (r < 0) {
		call_unlink(k);
		free(k->req);
		free(k);
	}
	return r;
}

/* ------------------------------------------------------------ sync */

struct sync_res {
	bool done;
	int err;
	char msg[256];
	uint8_t *resp;
	size_t len;
};

static void sync_cb(void *data, int err, const char *message, const uint8_t *resp, size_t len)
{
	struct sync_res *s = data;
	s->done = true;
	s->err = err;
	snprintf(s->msg, sizeof(s->msg), "%s", message ? message : "");
	if (err == 0) {
		s->resp = malloc(len ? len : 1);
		if (!s->resp)
			s->err = -ENOMEM;
		else
			memcpy(s->resp, resp, len);
		s->len = len;
	}
}

static int call_sync(struct wm_etcd_client *c, uv_loop_t *loop, const char *path,
		     const ProtobufCMessage *req, struct sync_res *s, char *err, size_t errlen)
{
	int r = wm_etcd_call(c, path, req, sync_cb, s);
	if (r < 0) {
		snprintf(err, errlen, "etcd %s: %s", path, strerror(-r));
		return r;
	}
	while (!s->done)
		uv_run(loop, UV_RUN_ONCE);
	if (s->err < 0)
		snprintf(err, errlen, "etcd %s: %s", path, s->msg[0] ? s->msg : strerror(-s->err));
	return s->err;
}

int wm_etcd_txn_sync(struct wm_etcd_client *c, uv_loop_t *loop, const Etcdserverpb__TxnRequest *req,
		     Etcdserverpb__TxnResponse **out, char *err, size_t errlen)
{
	struct sync_res s = {0};
	int r = call_sync(c, loop, "/etcdserverpb.KV/Txn", &req->base, &s, err, errlen);
	if (r < 0)
		return r;
	*out = etcdserverpb__txn_response__unpack(NULL, s.len, s.resp);
	free(s.resp);
	if (!*out) {
		snprintf(err, errlen, "etcd Txn: undecodable response");
		return -EPROTO;
	}
	return 0;
}

int wm_etcd_range_sync(struct wm_etcd_client *c, uv_loop_t *loop, const char *prefix,
		       bool is_prefix, Etcdserverpb__RangeResponse **out, char *err, size_t errlen)
{
	Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
	uint8_t end[WM_ETCD_KEY_MAX];
	size_t n = strlen(prefix);
	struct sync_res s = {0};

	if (n >= sizeof(end))
		return -ENAMETOOLONG;
	rq.key.data = (uint8_t *)prefix;
	rq.key.len = n;
	if (is_prefix) {
		rq.range_end.len = wm_etcd_prefix_end((const uint8_t *)prefix, n, end);
		rq.range_end.data = end;
		rq.sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND;
	}
	int r = call_sync(c, loop, "/etcdserverpb.KV/Range", &rq.base, &s, err, errlen);
	if (r < 0)
		return r;
	*out = etcdserverpb__range_response__unpack(NULL, s.len, s.resp);
	free(s.resp);
	if (!*out) {
		snprintf(err, errlen, "etcd Range: undecodable response");
		return -EPROTO;
	}
	return 0;
}

/* ------------------------------------------------------------ lease */

struct renew {
	wm_etcd_call_cb cb;
	void *data;
	struct wm_etcd_client *c;
	size_t ep;
	bool done;
};

static int renew_msg_cb(void *data, const uint8_t *msg, size_t len)
{
	struct renew *k = data;
	if (!k->done) {
		k->done = true;
		k->cb(k->data, 0, NULL, msg, len);
	}
	return 1; /* one answer is all we asked for */
}

static void renew_close_cb(void *data, int status, const char *message)
{
	struct renew *k = data;
	if (!k->done) {
		if (wm_etcd_error_transient(status, message))
			fail_over(k->c, k->ep, message);
		k->cb(k->data, status == WM_GRPC_CANCELLED ? -ECANCELED : -ECONNREFUSED,
		      message ? message : wm_grpc_status_name(status), NULL, 0);
	}
	free(k);
}

int wm_etcd_lease_keepalive(struct wm_etcd_client *c, int64_t id, wm_etcd_call_cb cb, void *data)
{
	Etcdserverpb__LeaseKeepAliveRequest rq = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
	struct wm_rpc_stream *st;
	uint8_t buf[16];
	int r = 0;

	if (c->freeing)
		return -ECANCELED;
	struct renew *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->cb = cb;
	k->data = data;
	k->c = c;
	k->ep = c->cur;
	rq.id = id;
	size_t len = etcdserverpb__lease_keep_alive_request__pack(&rq, buf);
	struct wm_rpc_client *rpc = ep_rpc(c, k->ep, &r);
	if (rpc)
		r = wm_rpc_client_stream(rpc, "/etcdserverpb.Lease/LeaseKeepAlive", buf, len,
					 c->timeout_ms, NULL, 0, renew_msg_cb, renew_close_cb, k,
					 &st);
	if (!rpc || r < 0) {
		free(k);
		return r < 0 ? r : -EIO;
	}
	return 0;
}

/* ------------------------------------------------------------ watch */

static void watch_open(struct wm_etcd_watch *w);

static void restart_timer_cb(uv_timer_t *t)
{
	struct wm_etcd_watch *w = t->data;
	if (!w->stopped)
		watch_open(w);
}

static void watch_later(struct wm_etcd_watch *w)
{
	if (w->stopped)
		return;
	w->restarts++;
	w->delay_ms = w->delay_ms ? w->delay_ms * 2 : RESTART_DELAY_MS;
	if (w->delay_ms > RESTART_DELAY_MAX_MS)
		w->delay_ms = RESTART_DELAY_MAX_MS;
	uv_timer_start(w->timer, restart_timer_cb, w->delay_ms, 0);
}

static int watch_msg_cb(void *data, const uint8_t *msg, size_t len)
{
	struct wm_etcd_watch *w = data;
	Etcdserverpb__WatchResponse *r = etcdserverpb__watch_response__unpack(NULL, len, msg);

	if (!r)
		return 1; /* garbage: drop the stream; close_cb opens it again */
	w->delay_ms = 0;  /* the member answers: the next loss retries soon */
	if (r->compact_revision > 0) {
		/* What we missed is gone: the caller reloads at the
		 * revision etcd kept, and we go on from there. */
		w->next_rev = r->compact_revision;
		etcdserverpb__watch_response__free_unpacked(r, NULL);
		w->cb(w->data, w->next_rev, NULL);
		return 1;
	}
	if (r->canceled) {
		etcdserverpb__watch_response__free_unpacked(r, NULL);
		return 1;
	}
	for (size_t i = 0; i < r->n_events && !w->stopped; i++) {
		const Mvccpb__Event *ev = r->events[i];
		int64_t rev = ev->kv ? ev->kv->mod_revision : 0;
		w->cb(w->data, rev, ev);
		if (rev >= w->next_rev)
			w->next_rev = rev + 1;
	}
	/* created / progress notifications: everything up to the header's
	 * revision has been sent. */
	if (r->n_events == 0 && r->header && r->header->revision + 1 > w->next_rev)
		w->next_rev = r->header->revision + 1;
	etcdserverpb__watch_response__free_unpacked(r, NULL);
	return w->stopped ? 1 : 0;
}

static void watch_close_cb(void *data, int status, const char *message)
{
	struct wm_etcd_watch *w = data;
	w->stream = NULL;
	if (w->stopped || w->c->freeing)
		return;
	/* CANCELLED is our own doing (a compaction, an undecodable answer):
	 * the member is fine, stay with it. */
	if (status != WM_GRPC_CANCELLED)
		fail_over(w->c, w->ep, message ? message : wm_grpc_status_name(status));
	watch_later(w);
}

static void watch_open(struct wm_etcd_watch *w)
{
	struct wm_etcd_client *c = w->c;
	Etcdserverpb__WatchRequest rq = ETCDSERVERPB__WATCH_REQUEST__INIT;
	Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
	uint8_t end[WM_ETCD_KEY_MAX], buf[2 * WM_ETCD_KEY_MAX + 64];
	int r = 0;

	cr.key.data = w->key;
	cr.key.len = w->key_len;
	cr.range_end.len = wm_etcd_prefix_end(w->key, w->key_len, end);
	cr.range_end.data = end;
	cr.start_revision = w->next_rev;
	cr.progress_notify = true;
	rq.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	rq.create_request = &cr;
	size_t len = etcdserverpb__watch_request__pack(&rq, buf);
	w->ep = c->cur;
	struct wm_rpc_client *rpc = ep_rpc(c, w->ep, &r);
	/* The request side is closed after the create request: etcd keeps a
	 * watch stream whose sender closed its half open. */
	if (rpc)
		r = wm_rpc_client_stream(rpc, "/etcdserverpb.Watch/Watch", buf, len, 0, NULL, 0,
					 watch_msg_cb, watch_close_cb, w, &w->stream);
	if (!rpc || r < 0) {
		fail_over(c, w->ep, "cannot open a watch");
		watch_later(w);
	}
}

int wm_etcd_watch_start(struct wm_etcd_client *c, const char *prefix, int64_t start_revision,
			wm_etcd_event_cb cb, void *data, struct wm_etcd_watch **out)
{
	size_t n = strlen(prefix);
	if (n == 0 || n >= WM_ETCD_KEY_MAX)
		return -EINVAL;
	struct wm_etcd_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->timer = malloc(sizeof(*w->timer));
	if (!w->timer) {
		free(w);
		return -ENOMEM;
	}
	uv_timer_init(c->loop, w->timer);
	w->timer->data = w;
	w->c = c;
	memcpy(w->key, prefix, n);
	w->key_len = n;
	w->next_rev = start_revision;
	w->cb = cb;
	w->data = data;
	w->next = c->watches;
	if (c->watches)
		c->watches->prev = w;
	c->watches = w;
	watch_open(w);
	*out = w;
	return 0;
}

void wm_etcd_watch_stop(struct wm_etcd_watch *w)
{
	struct wm_etcd_client *c = w->c;
	w->stopped = true;
	if (w->stream)
		wm_rpc_stream_cancel(w->stream); /* close_cb runs now */
	uv_close((uv_handle_t *)w->timer, timer_free_cb);
	if (w->prev)
		w->prev->next = w->next;
	else
		c->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	free(w);
}

unsigned wm_etcd_watch_restarts(const struct wm_etcd_watch *w)
{
	return w->restarts;
}

void wm_etcd_client_free(struct wm_etcd_client *c)
{
	if (!c)
		return;
	c->freeing = true;
	while (c->watches)
		wm_etcd_watch_stop(c->watches);
	/* Freeing each rpc client fails its calls with CANCELLED, which ends
	 * ours through call_cb. */
	for (size_t i = 0; i < c->n_eps; i++)
		if (c->eps[i].rpc)
			wm_rpc_client_free(c->eps[i].rpc);
	while (c->calls)
		call_end(c->calls, -ECANCELED, "closing", NULL, 0);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c);
}
