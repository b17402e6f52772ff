/* The etcd store's calls when etcd's answers are lost or late (src/etcd/
 * store.c): a repeated bootstrap that had been applied, liveness Puts that
 * overtake each other, and the writes that must not be sent twice. The
 * client below the store is a mock defined here (wm_etcd_call and the rest
 * of client.h the store uses), which holds each call until the test answers
 * it, as a fake etcd that applies a Put when it answers it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "etcd/client.h"
#include "etcd/store.h"
#include "webmesh/v1/raft.pb-c.h"

/* ------------------------------------------------------------ the mock */

#define MAX_CALLS 32

struct mcall {
	char path[64];
	unsigned flags;
	uint8_t *req;
	size_t len;
	wm_etcd_call_cb cb;
	void *data;
	bool answered;
};

struct wm_etcd_watch {
	wm_etcd_event_cb cb;
	void *data;
};

static struct mock {
	struct mcall calls[MAX_CALLS];
	size_t n_calls;
	struct wm_etcd_watch watch;
	bool watching;
	/* The liveness key as the fake etcd holds it. */
	uint8_t live[256];
	size_t live_len;
	int64_t live_lease;
	unsigned live_puts;
	/* A lease renewal waiting for its answer. */
	wm_etcd_call_cb renew_cb;
	void *renew_data;
} m;

int wm_etcd_call_flags(struct wm_etcd_client *c, const char *path, const ProtobufCMessage *req,
		       unsigned flags, wm_etcd_call_cb cb, void *data)
{
	(void)c;
	assert_true(m.n_calls < MAX_CALLS);
	struct mcall *k = &m.calls[m.n_calls++];
	snprintf(k->path, sizeof(k->path), "%s", path);
	k->flags = flags;
	k->len = protobuf_c_message_get_packed_size(req);
	k->req = malloc(k->len ? k->len : 1);
	assert_non_null(k->req);
	protobuf_c_message_pack(req, k->req);
	k->cb = cb;
	k->data = data;
	return 0;
}

int wm_etcd_call(struct wm_etcd_client *c, const char *path, const ProtobufCMessage *req,
		 wm_etcd_call_cb cb, void *data)
{
	return wm_etcd_call_flags(c, path, req, 0, cb, data);
}

void wm_etcd_client_log(struct wm_etcd_client *c, const char *msg)
{
	(void)c;
	(void)msg;
}

int wm_etcd_lease_keepalive(struct wm_etcd_client *c, int64_t id, wm_etcd_call_cb cb, void *data)
{
	(void)c, (void)id;
	m.renew_cb = cb;
	m.renew_data = data;
	return 0;
}

int wm_etcd_watch_start(struct wm_etcd_client *c, const char *prefix, int64_t start_revision,
			wm_etcd_event_cb cb, void *data, struct wm_etcd_watch **out)
{
	(void)c, (void)prefix, (void)start_revision;
	m.watch.cb = cb;
	m.watch.data = data;
	m.watching = true;
	*out = &m.watch;
	return 0;
}

void wm_etcd_watch_stop(struct wm_etcd_watch *w)
{
	(void)w;
	m.watching = false;
}

unsigned wm_etcd_watch_restarts(const struct wm_etcd_watch *w)
{
	(void)w;
	return 0;
}

/* The oldest call not answered yet (of path, if given), or NULL. */
static struct mcall *pending(const char *path, size_t *at)
{
	for (size_t i = 0; i < m.n_calls; i++)
		if (!m.calls[i].answered && (!path || strcmp(m.calls[i].path, path) == 0)) {
			if (at)
				*at = i;
			return &m.calls[i];
		}
	return NULL;
}

static size_t n_pending(const char *path)
{
	size_t n = 0;
	for (size_t i = 0; i < m.n_calls; i++)
		n += !m.calls[i].answered && strcmp(m.calls[i].path, path) == 0;
	return n;
}

static void answer(struct mcall *k, int err, const ProtobufCMessage *resp)
{
	uint8_t buf[1024];
	size_t len = resp ? protobuf_c_message_pack(resp, buf) : 0;
	k->answered = true;
	k->cb(k->data, err, err ? "etcdserver: request timed out" : NULL, err ? NULL : buf, len);
}

/* The Puts of a liveness key not answered yet; *last the newest. */
static size_t live_pending(struct mcall **last)
{
	size_t n = 0;
	for (size_t i = 0; i < m.n_calls; i++) {
		struct mcall *k = &m.calls[i];
		if (k->answered || strcmp(k->path, "/etcdserverpb.KV/Put") != 0)
			continue;
		Etcdserverpb__PutRequest *p =
			etcdserverpb__put_request__unpack(NULL, k->len, k->req);
		assert_non_null(p);
		char key[256];
		snprintf(key, sizeof(key), "%.*s", (int)p->key.len, (const char *)p->key.data);
		if (strstr(key, "/liveness/")) {
			n++;
			if (last)
				*last = k;
		}
		etcdserverpb__put_request__free_unpacked(p, NULL);
	}
	return n;
}

/* The fake etcd applies a Put as it answers it. */
static void answer_put(struct mcall *k)
{
	Etcdserverpb__PutRequest *p = etcdserverpb__put_request__unpack(NULL, k->len, k->req);
	assert_non_null(p);
	char key[256];
	snprintf(key, sizeof(key), "%.*s", (int)p->key.len, (const char *)p->key.data);
	if (strstr(key, "/liveness/")) {
		assert_true(p->value.len <= sizeof(m.live));
		memcpy(m.live, p->value.data, p->value.len);
		m.live_len = p->value.len;
		m.live_lease = p->lease;
		m.live_puts++;
	}
	etcdserverpb__put_request__free_unpacked(p, NULL);
	Etcdserverpb__PutResponse r = ETCDSERVERPB__PUT_RESPONSE__INIT;
	answer(k, 0, &r.base);
}

/* ------------------------------------------------------------ fixture */

struct res {
	int calls;
	int err;
	char msg[256];
};

static void apply_cb(void *data, const struct wm_store_result *r)
{
	struct res *x = data;
	x->calls++;
	x->err = r->err;
	snprintf(x->msg, sizeof(x->msg), "%s", r->message);
}

static void ready_cb(void *data, int err, const char *msg)
{
	(void)msg;
	*(int *)data = err;
}

struct fx {
	uv_loop_t loop;
	struct wm_etcd_store *s;
};

static void run(struct fx *f)
{
	/* The store's zero timers (refusals, results on the next turn). */
	for (int i = 0; i < 10; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* An empty etcd: the store loads nothing and starts its watch. */
static void fx_open(struct fx *f)
{
	int ready = 1;
	memset(&m, 0, sizeof(m));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(wm_etcd_store_open(&f->loop, (struct wm_etcd_client *)&m, "m", ready_cb,
					    &ready, &f->s),
			 0);
	struct mcall *k = pending("/etcdserverpb.KV/Range", NULL);
	assert_non_null(k);
	Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	Etcdserverpb__RangeResponse r = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	h.revision = 1;
	r.header = &h;
	answer(k, 0, &r.base);
	assert_int_equal(ready, 0);
	assert_true(m.watching);
}

/* Registered, with a lease: what liveness marks need. */
static void fx_register_ttl(struct fx *f, unsigned ttl)
{
	assert_int_equal(wm_etcd_store_register_server(f->s, "srv1", "127.0.0.1:8443", ttl), 0);
	struct mcall *k = pending("/etcdserverpb.Lease/LeaseGrant", NULL);
	assert_non_null(k);
	Etcdserverpb__LeaseGrantResponse g = ETCDSERVERPB__LEASE_GRANT_RESPONSE__INIT;
	g.id = 42;
	g.ttl = ttl;
	answer(k, 0, &g.base);
	k = pending("/etcdserverpb.KV/Put", NULL);
	assert_non_null(k);
	answer_put(k);
}

static void fx_register(struct fx *f)
{
	fx_register_ttl(f, 30);
}

static void fx_close(struct fx *f)
{
	wm_etcd_store_close(f->s);
	for (size_t i = 0; i < m.n_calls; i++) {
		if (!m.calls[i].answered) /* the store's op is freed with it */
			answer(&m.calls[i], -ECANCELED, NULL);
		free(m.calls[i].req);
	}
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static int apply_live(struct fx *f, const char *node, struct res *x)
{
	char *ids[1] = {(char *)node};
	Webmesh__V1__LivenessCommand lc = WEBMESH__V1__LIVENESS_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	lc.unreachable = ids;
	lc.n_unreachable = 1;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_LIVENESS;
	cmd.liveness = &lc;
	return wm_etcd_store_apply(f->s, &cmd, apply_cb, x);
}

/* The node the fake etcd's liveness record marks. */
static const char *live_marked(char *buf, size_t len)
{
	Webmesh__V1__LivenessCommand *lc =
		webmesh__v1__liveness_command__unpack(NULL, m.live_len, m.live);
	assert_non_null(lc);
	assert_int_equal(lc->n_unreachable, 1);
	snprintf(buf, len, "%s", lc->unreachable[0]);
	webmesh__v1__liveness_command__free_unpacked(lc, NULL);
	return buf;
}

/* ------------------------------------------------------------ tests */

/* The first liveness Put is backing off (its first attempt may have been
 * applied; the client sends it again later) when the next marks come: the
 * next Put waits for it, so the record etcd keeps is the newer. The fake
 * etcd answers the newest call first, as a retry after backoff would land
 * after a Put sent meanwhile. */
static void test_live_puts_in_order(void **state)
{
	struct fx f;
	struct res a = {0}, b = {0};
	char buf[64];
	(void)state;
	fx_open(&f);
	fx_register(&f);
	unsigned before = m.live_puts;
	assert_int_equal(apply_live(&f, "older", &a), 0);
	assert_int_equal(apply_live(&f, "newer", &b), 0);
	for (int guard = 0; guard < 8 && n_pending("/etcdserverpb.KV/Put"); guard++) {
		struct mcall *last = NULL;
		for (size_t i = 0; i < m.n_calls; i++)
			if (!m.calls[i].answered &&
			    strcmp(m.calls[i].path, "/etcdserverpb.KV/Put") == 0)
				last = &m.calls[i];
		answer_put(last);
		run(&f);
	}
	assert_int_equal(m.live_puts - before, 2);
	assert_string_equal(live_marked(buf, sizeof(buf)), "newer");
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.err, 0);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.err, 0);
	fx_close(&f);
}

/* Marks that come while a Put is in flight replace those waiting: only the
 * newest is written after it, and the replaced command hears so. */
static void test_live_waiting_replaced(void **state)
{
	struct fx f;
	struct res a = {0}, b = {0}, c = {0};
	char buf[64];
	(void)state;
	fx_open(&f);
	fx_register(&f);
	unsigned before = m.live_puts;
	assert_int_equal(apply_live(&f, "first", &a), 0);
	assert_int_equal(apply_live(&f, "second", &b), 0);
	assert_int_equal(apply_live(&f, "third", &c), 0);
	assert_int_equal(n_pending("/etcdserverpb.KV/Put"), 1);
	run(&f);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.err, -ECANCELED);
	assert_non_null(strstr(b.msg, "superseded"));
	for (int guard = 0; guard < 8 && n_pending("/etcdserverpb.KV/Put"); guard++) {
		answer_put(pending("/etcdserverpb.KV/Put", NULL));
		run(&f);
	}
	assert_int_equal(m.live_puts - before, 2);
	assert_string_equal(live_marked(buf, sizeof(buf)), "third");
	assert_int_equal(a.err, 0);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.err, 0);
	fx_close(&f);
}

/* A Put that fails for good lets the next one go. */
static void test_live_next_after_failure(void **state)
{
	struct fx f;
	struct res a = {0}, b = {0};
	char buf[64];
	(void)state;
	fx_open(&f);
	fx_register(&f);
	assert_int_equal(apply_live(&f, "lost", &a), 0);
	assert_int_equal(apply_live(&f, "kept", &b), 0);
	answer(pending("/etcdserverpb.KV/Put", NULL), -ETIMEDOUT, NULL);
	run(&f);
	assert_int_equal(a.err, -WM_ERPC);
	answer_put(pending("/etcdserverpb.KV/Put", NULL));
	run(&f);
	assert_int_equal(b.err, 0);
	assert_string_equal(live_marked(buf, sizeof(buf)), "kept");
	fx_close(&f);
}

/* The lease expires while a liveness Put is in flight: the registration's
 * put of our record on the new lease waits for it (one Put of the key at a
 * time), then writes the newest record. */
static void test_live_reput_waits(void **state)
{
	struct fx f;
	struct res a = {0}, b = {0};
	struct mcall *k;
	char buf[64];
	(void)state;
	fx_open(&f);
	fx_register_ttl(&f, 3);
	assert_int_equal(apply_live(&f, "x", &a), 0);
	answer_put(pending("/etcdserverpb.KV/Put", NULL));
	run(&f);
	assert_int_equal(a.err, 0);
	/* The renewal, after ttl / 3. */
	for (int i = 0; i < 100 && !m.renew_cb; i++)
		uv_run(&f.loop, UV_RUN_ONCE);
	assert_non_null(m.renew_cb);
	assert_int_equal(apply_live(&f, "y", &b), 0);
	assert_int_equal(live_pending(NULL), 1);
	Etcdserverpb__LeaseKeepAliveResponse ka = ETCDSERVERPB__LEASE_KEEP_ALIVE_RESPONSE__INIT;
	uint8_t kb[64];
	ka.ttl = 0; /* expired */
	size_t kl = etcdserverpb__lease_keep_alive_response__pack(&ka, kb);
	wm_etcd_call_cb cb = m.renew_cb;
	m.renew_cb = NULL;
	cb(m.renew_data, 0, NULL, kb, kl);
	run(&f);
	k = pending("/etcdserverpb.Lease/LeaseGrant", NULL);
	assert_non_null(k);
	Etcdserverpb__LeaseGrantResponse g = ETCDSERVERPB__LEASE_GRANT_RESPONSE__INIT;
	g.id = 43;
	g.ttl = 3;
	answer(k, 0, &g.base);
	k = NULL;
	for (size_t i = 0; i < m.n_calls; i++) /* the server key's Put */
		if (!m.calls[i].answered && strcmp(m.calls[i].path, "/etcdserverpb.KV/Put") == 0)
			k = &m.calls[i];
	assert_non_null(k);
	answer_put(k);
	run(&f);
	/* "x" again on the new lease would race "y". */
	assert_int_equal(live_pending(NULL), 1);
	live_pending(&k);
	answer_put(k);
	run(&f);
	assert_int_equal(b.err, 0);
	assert_int_equal(live_pending(&k), 1);
	answer_put(k);
	run(&f);
	assert_string_equal(live_marked(buf, sizeof(buf)), "y");
	assert_int_equal(m.live_lease, 43);
	fx_close(&f);
}

static void bootstrap_cmd(Webmesh__V1__BootstrapMeshCommand *b, Webmesh__V1__RaftCommand *cmd,
			  const char *v6)
{
	webmesh__v1__bootstrap_mesh_command__init(b);
	webmesh__v1__raft_command__init(cmd);
	b->network_ipv4 = "10.1.0.0/24";
	b->network_ipv6 = (char *)v6;
	b->domain = "mesh.internal";
	b->created_at = 1700000000;
	cmd->command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP;
	cmd->bootstrap = b;
}

/* The mesh key as the watch and a failed bootstrap Txn see it: value, put
 * at revision 5. */
static void mesh_key_at_5(struct fx *f, const uint8_t *v, size_t len, struct mcall *txn)
{
	Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT, *kvs[1] = {&kv};
	kv.key = (ProtobufCBinaryData){15, (uint8_t *)"/webmesh/m/mesh"};
	kv.value = (ProtobufCBinaryData){len, (uint8_t *)v};
	kv.create_revision = kv.mod_revision = 5;
	kv.version = 1;
	Mvccpb__Event ev = MVCCPB__EVENT__INIT;
	ev.type = MVCCPB__EVENT__EVENT_TYPE__PUT;
	ev.kv = &kv;
	m.watch.cb(m.watch.data, 5, &ev);
	Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	Etcdserverpb__RangeResponse rr = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	Etcdserverpb__ResponseOp op = ETCDSERVERPB__RESPONSE_OP__INIT, *ops[1] = {&op};
	Etcdserverpb__TxnResponse r = ETCDSERVERPB__TXN_RESPONSE__INIT;
	h.revision = 5;
	rr.kvs = kvs;
	rr.n_kvs = 1;
	rr.count = 1;
	op.response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE;
	op.response_range = &rr;
	r.header = &h;
	r.succeeded = false;
	r.responses = ops;
	r.n_responses = 1;
	answer(txn, 0, &r.base);
	(void)f;
}

/* A bootstrap Txn applied by an attempt whose answer was lost and sent
 * again finds the mesh key taken, by our own record: bootstrapped. Another
 * server's record is still a refusal. */
static void test_bootstrap_repeated(void **state)
{
	struct fx f;
	struct res x = {0};
	Webmesh__V1__BootstrapMeshCommand b;
	Webmesh__V1__RaftCommand cmd;
	struct wm_mesh_info info;
	(void)state;

	fx_open(&f);
	bootstrap_cmd(&b, &cmd, "fd12:3456:789a::/48");
	assert_int_equal(wm_etcd_store_apply(f.s, &cmd, apply_cb, &x), 0);
	struct mcall *k = pending("/etcdserverpb.KV/Txn", NULL);
	assert_non_null(k);
	Etcdserverpb__TxnRequest *t = etcdserverpb__txn_request__unpack(NULL, k->len, k->req);
	assert_non_null(t);
	const ProtobufCBinaryData *v = &t->success[0]->request_put->value;
	mesh_key_at_5(&f, v->data, v->len, k);
	etcdserverpb__txn_request__free_unpacked(t, NULL);
	run(&f);
	assert_int_equal(x.calls, 1);
	assert_int_equal(x.err, 0);
	assert_int_equal(wm_etcd_store_mesh_info(f.s, &info), 0);
	/* The same command again, now that the store has seen the mesh: an
	 * earlier bootstrap, not this call's. */
	memset(&x, 0, sizeof(x));
	assert_int_equal(wm_etcd_store_apply(f.s, &cmd, apply_cb, &x), 0);
	k = pending("/etcdserverpb.KV/Txn", NULL);
	assert_non_null(k);
	t = etcdserverpb__txn_request__unpack(NULL, k->len, k->req);
	assert_non_null(t);
	v = &t->success[0]->request_put->value;
	mesh_key_at_5(&f, v->data, v->len, k);
	etcdserverpb__txn_request__free_unpacked(t, NULL);
	run(&f);
	assert_int_equal(x.calls, 1);
	assert_int_equal(x.err, -EEXIST);
	fx_close(&f);

	/* Another server's mesh (its own random /48) got there first. */
	memset(&x, 0, sizeof(x));
	fx_open(&f);
	assert_int_equal(wm_etcd_store_apply(f.s, &cmd, apply_cb, &x), 0);
	k = pending("/etcdserverpb.KV/Txn", NULL);
	assert_non_null(k);
	Webmesh__V1__BootstrapMeshCommand other;
	Webmesh__V1__RaftCommand ocmd;
	uint8_t ov[256];
	bootstrap_cmd(&other, &ocmd, "fd99:8877:6655::/48");
	size_t olen = webmesh__v1__bootstrap_mesh_command__pack(&other, ov);
	mesh_key_at_5(&f, ov, olen, k);
	run(&f);
	assert_int_equal(x.calls, 1);
	assert_int_equal(x.err, -EEXIST);
	fx_close(&f);
}

/* Deny and allow compare too little for a repeat to be harmless: the
 * client is told not to send them again after an ambiguous error; the
 * guarded writes are not held back so. */
static void test_deny_allow_sent_once(void **state)
{
	struct fx f;
	struct res x = {0}, y = {0};
	(void)state;
	fx_open(&f);
	Webmesh__V1__DenyNodeCommand d = WEBMESH__V1__DENY_NODE_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	d.node_id = "bad";
	d.by = "admin";
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DENY_NODE;
	cmd.deny_node = &d;
	assert_int_equal(wm_etcd_store_apply(f.s, &cmd, apply_cb, &x), 0);
	struct mcall *k = pending("/etcdserverpb.KV/Txn", NULL);
	assert_non_null(k);
	assert_true(k->flags & WM_ETCD_CALL_ONCE);
	answer(k, -ETIMEDOUT, NULL);
	Webmesh__V1__AllowNodeCommand a = WEBMESH__V1__ALLOW_NODE_COMMAND__INIT;
	a.node_id = "bad";
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_ALLOW_NODE;
	cmd.allow_node = &a;
	assert_int_equal(wm_etcd_store_apply(f.s, &cmd, apply_cb, &y), 0);
	k = pending("/etcdserverpb.KV/Txn", NULL);
	assert_non_null(k);
	assert_true(k->flags & WM_ETCD_CALL_ONCE);
	answer(k, -ETIMEDOUT, NULL);
	run(&f);
	assert_int_equal(x.err, -WM_ERPC);
	assert_int_equal(y.err, -WM_ERPC);
	/* A bootstrap is guarded (created only if absent): no flag. */
	Webmesh__V1__BootstrapMeshCommand b;
	bootstrap_cmd(&b, &cmd, "fd12:3456:789a::/48");
	assert_int_equal(wm_etcd_store_apply(f.s, &cmd, apply_cb, &x), 0);
	k = pending("/etcdserverpb.KV/Txn", NULL);
	assert_non_null(k);
	assert_false(k->flags & WM_ETCD_CALL_ONCE);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live_puts_in_order),
		cmocka_unit_test(test_live_waiting_replaced),
		cmocka_unit_test(test_live_next_after_failure),
		cmocka_unit_test(test_live_reput_waits),
		cmocka_unit_test(test_bootstrap_repeated),
		cmocka_unit_test(test_deny_allow_sent_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
