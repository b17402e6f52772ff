/* The authenticated Raft transport (src/store/raft_transport.c) on loopback:
 * a good pair carries libraft's bytes both ways; every impostor is refused
 * with its exact reason before libraft hears of it; a three-voter store
 * cluster forms, replicates, and shrugs the impostors off. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "store/raft_transport.h"
#include "store/store.h"
#include "test_store_live.h"
#include "test_store_util.h"

#define DEADLINE_MS 20000 /* a bound for each wait, not an expected duration */

static uv_loop_t loop;
static uv_timer_t poll_timer, deadline_timer;
static bool timed_out;
static bool (*wait_cond)(void *);
static void *wait_arg;

static void poll_cb(uv_timer_t *t)
{
	(void)t;
	if (wait_cond(wait_arg))
		uv_stop(&loop);
}

static void deadline_cb(uv_timer_t *t)
{
	(void)t;
	timed_out = true;
	uv_stop(&loop);
}

static bool run_until(bool (*cond)(void *), void *arg)
{
	if (cond(arg))
		return true;
	wait_cond = cond;
	wait_arg = arg;
	timed_out = false;
	uv_timer_start(&poll_timer, poll_cb, 5, 5);
	uv_timer_start(&deadline_timer, deadline_cb, DEADLINE_MS, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_timer_stop(&poll_timer);
	uv_timer_stop(&deadline_timer);
	return !timed_out && cond(arg);
}

/* Runs the loop for ms, whatever happens (to see that nothing does). */
static bool never(void *arg)
{
	(void)arg;
	return false;
}
static void run_for(unsigned ms)
{
	uv_timer_start(&deadline_timer, deadline_cb, ms, 0);
	wait_cond = never;
	uv_timer_start(&poll_timer, poll_cb, 5, 5);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_timer_stop(&poll_timer);
}

static void loop_init(void)
{
	assert_int_equal(uv_loop_init(&loop), 0);
	uv_timer_init(&loop, &poll_timer);
	uv_timer_init(&loop, &deadline_timer);
}

static void loop_close(void)
{
	uv_close((uv_handle_t *)&poll_timer, NULL);
	uv_close((uv_handle_t *)&deadline_timer, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0); /* nothing leaked on the loop */
}

/* One side: its keys, the peers it knows, what it logged. */
struct side {
	struct raft_uv_transport t;
	struct test_wg self;
	struct test_wg known[6]; /* ends with a NULL id */
	char logs[16][400];
	size_t n_logs;
	/* listener: streams libraft got */
	uv_stream_t *accepted;
	unsigned n_accepted;
	raft_id accepted_id;
	char accepted_address[64];
	bool closed;
};

static int side_identify(void *data, uint64_t raft_id, char node_id[WM_NODE_ID_MAX + 1],
			 uint8_t pub[32], bool *is_server)
{
	struct side *s = data;
	return test_peer_lookup(s->known, raft_id, node_id, pub, is_server);
}

static void side_log(void *data, const char *msg)
{
	struct side *s = data;
	if (s->n_logs < 16)
		snprintf(s->logs[s->n_logs++], sizeof(s->logs[0]), "%s", msg);
}

static bool has_log(struct side *s, const char *msg)
{
	for (size_t i = 0; i < s->n_logs; i++)
		if (strcmp(s->logs[i], msg) == 0)
			return true;
	return false;
}

struct log_wait {
	struct side *s;
	const char *msg;
};
static bool log_seen(void *arg)
{
	struct log_wait *w = arg;
	return has_log(w->s, w->msg);
}

static void side_init(struct side *s, const char *id, int seed, const char *address,
		      raft_id raft_id_override)
{
	char err[256];
	memset(s, 0, sizeof(*s));
	test_wg_init(&s->self, id, seed, true);
	struct wm_raft_transport_config cfg = {.loop = &loop,
					       .node_id = id,
					       .wg_private_key = s->self.priv,
					       .identify = side_identify,
					       .log = side_log,
					       .data = s,
					       .handshake_timeout_ms = 300};
	assert_int_equal(wm_raft_transport_init(&s->t, &cfg, err, sizeof(err)), 0);
	raft_id rid = raft_id_override ? raft_id_override : wm_store_raft_id(id);
	assert_int_equal(s->t.init(&s->t, rid, address), 0);
}

static void accept_cb(struct raft_uv_transport *t, raft_id id, const char *address,
		      uv_stream_t *stream)
{
	struct side *s = (struct side *)((char *)t - offsetof(struct side, t));
	s->n_accepted++;
	s->accepted = stream;
	s->accepted_id = id;
	snprintf(s->accepted_address, sizeof(s->accepted_address), "%s", address);
}

static void side_closed_cb(struct raft_uv_transport *t)
{
	struct side *s = (struct side *)((char *)t - offsetof(struct side, t));
	s->closed = true;
}

static bool flag(void *arg)
{
	return *(bool *)arg;
}

static void side_close(struct side *s)
{
	s->t.close(&s->t, side_closed_cb);
	assert_true(run_until(flag, &s->closed));
	wm_raft_transport_free(&s->t);
}

static void stream_closed_cb(uv_handle_t *h)
{
	raft_free(h);
}

struct conn_wait {
	struct raft_uv_connect req;
	bool done;
	int status;
	uv_stream_t *stream;
};

static void connect_cb(struct raft_uv_connect *req, uv_stream_t *stream, int status)
{
	struct conn_wait *w = req->data;
	w->done = true;
	w->status = status;
	w->stream = stream;
}

/* Connects from c to the listener at address, asking for raft ID want. */
static void connect_to(struct side *c, const char *address, raft_id want, struct conn_wait *w)
{
	memset(w, 0, sizeof(*w));
	w->req.data = w;
	assert_int_equal(c->t.connect(&c->t, &w->req, want, address, connect_cb), 0);
	assert_true(run_until(flag, &w->done));
}

static void free_port_addr(const char *ip, char *out, size_t len)
{
	snprintf(out, len, "%s:%d", ip, test_free_port());
}

/* --- the pump: bytes both ways, in order, with backpressure --- */

struct sink {
	size_t got;
	bool bad, eof;
	uint8_t seed;
	char buf[65536];
};

static void sink_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
	struct sink *k = h->data;
	(void)n;
	*b = uv_buf_init(k->buf, sizeof(k->buf));
}

static void sink_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct sink *k = st->data;
	if (n < 0) {
		k->eof = true;
		uv_read_stop(st);
		return;
	}
	for (ssize_t i = 0; i < n; i++, k->got++)
		if ((uint8_t)b->base[i] != (uint8_t)(k->got * 7 + k->seed))
			k->bad = true;
}

struct want_bytes {
	struct sink *k;
	size_t n;
};
static bool got_all(void *arg)
{
	struct want_bytes *w = arg;
	return w->k->got >= w->n || w->k->bad;
}

static void write_done(uv_write_t *w, int status)
{
	assert_int_equal(status, 0);
	free(w->data);
	free(w);
}

static void send_pattern(uv_stream_t *st, size_t total, uint8_t seed)
{
	for (size_t off = 0; off < total;) {
		size_t n = total - off < 100000 ? total - off : 100000;
		char *p = malloc(n);
		for (size_t i = 0; i < n; i++)
			p[i] = (char)(uint8_t)((off + i) * 7 + seed);
		uv_write_t *w = malloc(sizeof(*w));
		w->data = p;
		uv_buf_t b = uv_buf_init(p, (unsigned)n);
		assert_int_equal(uv_write(w, st, &b, 1, write_done), 0);
		off += n;
	}
}

static bool eof_seen(void *arg)
{
	return ((struct sink *)arg)->eof;
}

static bool accepted_one(void *arg)
{
	return ((struct side *)arg)->n_accepted > 0;
}

static void test_good_pair_pumps(void **state)
{
	(void)state;
	char aa[32];
	struct side a, b;
	struct conn_wait w;

	loop_init();
	free_port_addr("127.0.0.1", aa, sizeof(aa));
	side_init(&a, "alpha", 1, aa, 0);
	side_init(&b, "beta", 2, "127.0.0.2:9", 0);
	a.known[0] = b.self;
	b.known[0] = a.self;
	assert_int_equal(a.t.listen(&a.t, accept_cb), 0);

	connect_to(&b, aa, wm_store_raft_id("alpha"), &w);
	assert_int_equal(w.status, 0);
	assert_non_null(w.stream);
	/* The acceptor hands libraft the connector's proven identity. */
	assert_true(run_until(accepted_one, &a));
	assert_int_equal(a.n_accepted, 1);
	assert_true(a.accepted_id == wm_store_raft_id("beta"));
	assert_string_equal(a.accepted_address, "127.0.0.2:9");
	assert_int_equal(a.n_logs, 0);
	assert_int_equal(b.n_logs, 0);

	/* 4 MiB one way, 1 MiB the other, at once: more than the pump buffers,
	 * so it must pause and resume. */
	struct sink at_a = {.seed = 3}, at_b = {.seed = 5};
	a.accepted->data = &at_a;
	w.stream->data = &at_b;
	assert_int_equal(uv_read_start(a.accepted, sink_alloc, sink_read), 0);
	assert_int_equal(uv_read_start(w.stream, sink_alloc, sink_read), 0);
	send_pattern(w.stream, 4 << 20, 3);
	send_pattern(a.accepted, 1 << 20, 5);
	assert_true(run_until(got_all, &(struct want_bytes){&at_a, 4 << 20}));
	assert_true(run_until(got_all, &(struct want_bytes){&at_b, 1 << 20}));
	assert_false(at_a.bad);
	assert_false(at_b.bad);
	assert_int_equal(at_a.got, 4 << 20);
	assert_int_equal(at_b.got, 1 << 20);

	/* The connector's libraft closes its stream: the acceptor's sees EOF. */
	uv_close((uv_handle_t *)w.stream, stream_closed_cb);
	assert_true(run_until(eof_seen, &at_a));
	uv_close((uv_handle_t *)a.accepted, stream_closed_cb);
	side_close(&b);
	side_close(&a);
	loop_close();
}

/* The connector checks whom it reached: a listener holding beta's key but
 * answering as alpha (its MAC verifies) is still not beta. */
static void test_connector_checks_peer(void **state)
{
	(void)state;
	char aa[32];
	struct side l, c;
	struct conn_wait w;

	loop_init();
	free_port_addr("127.0.0.1", aa, sizeof(aa));
	side_init(&l, "alpha", 2 /* beta's key */, aa, 0);
	side_init(&c, "gamma", 3, "127.0.0.3:9", 0);
	l.known[0] = c.self;
	test_wg_init(&c.known[0], "beta", 2, true);
	assert_int_equal(l.t.listen(&l.t, accept_cb), 0);
	connect_to(&c, aa, wm_store_raft_id("beta"), &w);
	assert_int_equal(w.status, RAFT_NOCONNECTION);
	assert_null(w.stream);
	char msg[300];
	snprintf(msg, sizeof(msg),
		 "raft: connection to %s refused: reached node alpha, not node beta (raft ID %llx)",
		 aa, (unsigned long long)wm_store_raft_id("beta"));
	assert_true(run_until(log_seen, &(struct log_wait){&c, msg}));
	/* The listener, holding the key gamma meant, did accept. */
	assert_int_equal(l.n_accepted, 1);
	uv_close((uv_handle_t *)l.accepted, stream_closed_cb);
	side_close(&c);
	side_close(&l);
	loop_close();
}

/* A raw TCP client: what it sends, then it waits for the close. */
struct raw {
	uv_tcp_t tcp;
	uv_connect_t req;
	uv_write_t wr;
	const char *data;
	size_t len;
	bool closed;
	char buf[4096];
};

static void raw_closed_cb(uv_handle_t *h)
{
	((struct raw *)h->data)->closed = true;
}

static void raw_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
	struct raw *r = h->data;
	(void)n;
	*b = uv_buf_init(r->buf, sizeof(r->buf));
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	(void)b;
	if (n < 0)
		uv_close((uv_handle_t *)s, raw_closed_cb);
}

static void raw_connected(uv_connect_t *req, int status)
{
	struct raw *r = req->data;
	assert_int_equal(status, 0);
	uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
	if (r->len) {
		uv_buf_t b = uv_buf_init((char *)r->data, (unsigned)r->len);
		assert_int_equal(uv_write(&r->wr, (uv_stream_t *)&r->tcp, &b, 1, NULL), 0);
	}
}

/* Connects from source (an IPv4 address) to address, sends len bytes,
 * runs until the server closes. */
static void raw_send(const char *source, const char *address, const void *data, size_t len)
{
	struct raw r = {.data = data, .len = len};
	struct sockaddr_in sa, src;
	char host[32];
	int port;
	assert_int_equal(sscanf(address, "%31[^:]:%d", host, &port), 2);
	assert_int_equal(uv_ip4_addr(host, port, &sa), 0);
	assert_int_equal(uv_ip4_addr(source, 0, &src), 0);
	uv_tcp_init(&loop, &r.tcp);
	assert_int_equal(uv_tcp_bind(&r.tcp, (struct sockaddr *)&src, 0), 0);
	r.tcp.data = r.req.data = &r;
	assert_int_equal(uv_tcp_connect(&r.req, &r.tcp, (struct sockaddr *)&sa, raw_connected), 0);
	assert_true(run_until(flag, &r.closed));
}

static bool plain_closed;
static void plain_closed_cb(struct raft_uv_transport *t)
{
	(void)t;
	plain_closed = true;
}

/* libraft's own TCP transport, as an unauthenticated peer would use it. */
static void plain_libraft_connect(const char *address, raft_id as, raft_id want)
{
	struct raft_uv_transport t = {0};
	struct conn_wait w = {0};
	assert_int_equal(raft_uv_tcp_init(&t, &loop), 0);
	assert_int_equal(t.init(&t, as, "127.0.0.1:9"), 0);
	w.req.data = &w;
	assert_int_equal(t.connect(&t, &w.req, want, address, connect_cb), 0);
	assert_true(run_until(flag, &w.done));
	/* libraft's handshake is written; the other side drops it unread. */
	assert_int_equal(w.status, 0);
	struct sink k = {0};
	w.stream->data = &k;
	uv_read_start(w.stream, sink_alloc, sink_read);
	assert_true(run_until(eof_seen, &k));
	assert_int_equal(k.got, 0);
	uv_close((uv_handle_t *)w.stream, stream_closed_cb);
	plain_closed = false;
	t.close(&t, plain_closed_cb);
	assert_true(run_until(flag, &plain_closed));
	raft_uv_tcp_close(&t);
}

/* Every impostor, one at a time, against one listener: refused with the
 * reason, the connector told "no connection", libraft never called. */
static void test_refusals(void **state)
{
	(void)state;
	char aa[32], msg[300];
	struct side l, c;
	struct conn_wait w;
	raft_id alpha = wm_store_raft_id("alpha");

	loop_init();
	free_port_addr("127.0.0.1", aa, sizeof(aa));
	side_init(&l, "alpha", 1, aa, 0);
	test_wg_init(&l.known[0], "beta", 2, true);
	test_wg_init(&l.known[1], "delta", 4, false); /* a member */
	assert_int_equal(l.t.listen(&l.t, accept_cb), 0);

	/* beta's name, someone else's key */
	side_init(&c, "beta", 99, "127.0.0.2:9", 0);
	test_wg_init(&c.known[0], "alpha", 1, true);
	connect_to(&c, aa, alpha, &w);
	assert_int_equal(w.status, RAFT_NOCONNECTION);
	assert_true(run_until(
		log_seen,
		&(struct log_wait){&l, "raft: connection from 127.0.0.1 refused: node beta did "
				       "not prove its WireGuard key"}));
	side_close(&c);

	/* beta's key, a raft ID that is not beta's */
	side_init(&c, "beta", 2, "127.0.0.2:9", 12345);
	test_wg_init(&c.known[0], "alpha", 1, true);
	connect_to(&c, aa, alpha, &w);
	assert_int_equal(w.status, RAFT_NOCONNECTION);
	assert_true(run_until(
		log_seen, &(struct log_wait){&l, "raft: connection from 127.0.0.1 refused: raft "
						 "ID 3039 is not that of node beta"}));
	side_close(&c);

	/* a member with its own key: known, proven, not a server */
	side_init(&c, "delta", 4, "127.0.0.4:9", 0);
	test_wg_init(&c.known[0], "alpha", 1, true);
	connect_to(&c, aa, alpha, &w);
	assert_int_equal(w.status, RAFT_NOCONNECTION);
	assert_true(run_until(
		log_seen, &(struct log_wait){&l, "raft: connection from 127.0.0.1 refused: node "
						 "delta is not a voter or observer"}));
	side_close(&c);

	/* a node the listener never heard of */
	side_init(&c, "omega", 5, "127.0.0.5:9", 0);
	test_wg_init(&c.known[0], "alpha", 1, true);
	connect_to(&c, aa, alpha, &w);
	assert_int_equal(w.status, RAFT_NOCONNECTION);
	assert_true(run_until(log_seen, &(struct log_wait){&l, "raft: connection from 127.0.0.1 "
							       "refused: node omega is unknown"}));
	side_close(&c);

	/* libraft's plain handshake, claiming to be beta */
	plain_libraft_connect(aa, wm_store_raft_id("beta"), alpha);
	assert_true(has_log(&l, "raft: connection from 127.0.0.1 refused: not TLS (first byte "
				"0x01)"));

	/* garbage (from another source: the same kind of refusal is logged
	 * once per source) */
	static const char http[] = "GET / HTTP/1.0\r\n\r\n";
	raw_send("127.0.0.2", aa, http, sizeof(http) - 1);
	assert_true(has_log(&l, "raft: connection from 127.0.0.2 refused: not TLS (first byte "
				"0x47)"));

	/* silence: the handshake deadline closes it */
	raw_send("127.0.0.1", aa, NULL, 0);
	assert_true(has_log(&l, "raft: connection from 127.0.0.1 refused: no hello within 300 ms"));

	/* A TLS record header announcing a ClientHello, then garbage. */
	static const char bad_tls[] = "\x16\x03\x01\x00\x05hello";
	raw_send("127.0.0.1", aa, bad_tls, sizeof(bad_tls) - 1);
	snprintf(msg, sizeof(msg),
		 "raft: connection from 127.0.0.1 refused: TLS handshake failed: ");
	bool tls_refused = false;
	for (size_t i = 0; i < l.n_logs; i++)
		tls_refused |= strncmp(l.logs[i], msg, strlen(msg)) == 0;
	assert_true(tls_refused);

	/* Each kind of refusal once per source: the same impostor again, or
	 * claiming other names, logs nothing new. */
	size_t n = l.n_logs;
	raw_send("127.0.0.1", aa, http, sizeof(http) - 1);
	raw_send("127.0.0.2", aa, http, sizeof(http) - 1);
	side_init(&c, "omicron", 6, "127.0.0.6:9", 0);
	test_wg_init(&c.known[0], "alpha", 1, true);
	connect_to(&c, aa, alpha, &w);
	assert_int_equal(w.status, RAFT_NOCONNECTION);
	side_close(&c);
	assert_int_equal(l.n_logs, n);

	assert_int_equal(l.n_accepted, 0); /* libraft never saw any of them */
	side_close(&l);
	loop_close();
}

/* --- three voters on 127.0.0.1-3 --- */

struct node {
	struct wm_store *s;
	char dir[64];
	char addr[32];
	char logs[16][400];
	size_t n_logs;
	struct test_wg *wg;
};

static void node_log(void *data, const char *msg)
{
	struct node *n = data;
	if (n->n_logs < 16)
		snprintf(n->logs[n->n_logs++], sizeof(n->logs[0]), "%s", msg);
}

static struct test_wg cluster_wg[5];
static struct node nodes[3];

static int node_lookup(void *data, uint64_t raft_id, char node_id[WM_NODE_ID_MAX + 1],
		       uint8_t pub[32], bool *is_server)
{
	(void)data;
	return test_peer_lookup(cluster_wg, raft_id, node_id, pub, is_server);
}

static bool one_leader(void *arg)
{
	int *leader = arg;
	int n = 0;
	for (int i = 0; i < 3; i++)
		if (test_is_leader(nodes[i].s)) {
			*leader = i;
			n++;
		}
	return n == 1;
}

static bool all_applied(void *arg)
{
	uint64_t want = *(uint64_t *)arg;
	struct wm_store_status st;
	for (int i = 0; i < 3; i++) {
		wm_store_status(nodes[i].s, &st);
		if (st.applied_index < want)
			return false;
	}
	return true;
}

struct applied {
	bool done;
	struct wm_store_result res;
};
static void applied_cb(void *data, const struct wm_store_result *res)
{
	struct applied *a = data;
	a->done = true;
	a->res = *res;
}

static uint64_t apply(struct wm_store *s, uint8_t *buf, size_t len)
{
	Webmesh__V1__RaftCommand *cmd = webmesh__v1__raft_command__unpack(NULL, len, buf);
	struct applied a = {0};
	free(buf);
	assert_int_equal(wm_store_apply(s, cmd, applied_cb, &a), 0);
	webmesh__v1__raft_command__free_unpacked(cmd, NULL);
	assert_true(run_until(flag, &a.done));
	assert_int_equal(a.res.err, 0);
	return a.res.index;
}

static bool node_log_seen(void *arg)
{
	struct log_wait *w = arg;
	struct node *n = (struct node *)w->s;
	for (size_t i = 0; i < n->n_logs; i++)
		if (strcmp(n->logs[i], w->msg) == 0)
			return true;
	return false;
}

static void store_closed_cb(void *data)
{
	*(bool *)data = true;
}

static void test_cluster_shrugs_impostors(void **state)
{
	(void)state;
	const char *ids[3] = {"alpha", "beta", "gamma"};
	char err[512];
	int leader = -1;

	loop_init();
	for (int i = 0; i < 3; i++)
		test_wg_init(&cluster_wg[i], ids[i], i + 1, true);
	test_wg_init(&cluster_wg[3], "delta", 4, false);
	for (int i = 0; i < 3; i++) {
		struct node *n = &nodes[i];
		memset(n, 0, sizeof(*n));
		snprintf(n->dir, sizeof(n->dir), "/tmp/wm-test-rt-XXXXXX");
		assert_non_null(mkdtemp(n->dir));
		char ip[16];
		snprintf(ip, sizeof(ip), "127.0.0.%d", i + 1);
		free_port_addr(ip, n->addr, sizeof(n->addr));
	}
	for (int i = 0; i < 3; i++) {
		const char *oids[2], *oaddrs[2];
		for (int j = 0, k = 0; j < 3; j++)
			if (j != i) {
				oids[k] = ids[j];
				oaddrs[k++] = nodes[j].addr;
			}
		/* The replica is empty: the keys come from the lookup (as the
		 * daemon's bootstrap list), the servers from the configuration. */
		struct wm_store_config cfg = {.dir = nodes[i].dir,
					      .node_id = ids[i],
					      .raft_address = nodes[i].addr,
					      .bootstrap = true,
					      .heartbeat_ms = 50,
					      .election_ms = 400,
					      .initial_ids = oids,
					      .initial_addresses = oaddrs,
					      .n_initial = 2,
					      .wg_private_key = cluster_wg[i].priv,
					      .peer_lookup = node_lookup,
					      .log = node_log,
					      .peer_data = &nodes[i]};
		assert_int_equal(wm_store_open(&loop, &cfg, &nodes[i].s, err, sizeof(err)), 0);
	}
	assert_true(run_until(one_leader, &leader));
	struct wm_store *ls = nodes[leader].s;
	size_t len;
	uint8_t *boot = test_bootstrap_cmd("172.16.0.0/12", "fd00:aa:bb::/48", &len);
	apply(ls, boot, len);
	uint64_t idx = 0;
	for (int i = 0; i < 4; i++) {
		uint8_t *buf = test_join_cmd(&(struct test_join){.id = cluster_wg[i].id,
								 .key = cluster_wg[i].pub_b64,
								 .full_mesh = true},
					     &len);
		idx = apply(ls, buf, len);
	}
	assert_true(run_until(all_applied, &idx));

	struct wm_store_status before;
	wm_store_status(ls, &before);
	char *dumps[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(wm_store_dump(nodes[i].s, &dumps[i]), 0);
	assert_string_equal(dumps[0], dumps[1]);
	assert_string_equal(dumps[0], dumps[2]);

	/* Impostors at the leader: a member with its own key, a voter's name
	 * with another key, libraft's plain handshake. */
	struct side c;
	struct conn_wait w;
	raft_id lid = wm_store_raft_id(ids[leader]);
	char msg[300];
	side_init(&c, "delta", 4, "127.0.0.4:9", 0);
	c.known[0] = cluster_wg[leader];
	connect_to(&c, nodes[leader].addr, lid, &w);
	assert_int_equal(w.status, RAFT_NOCONNECTION);
	snprintf(msg, sizeof(msg),
		 "raft: connection from 127.0.0.1 refused: node delta is not a voter or observer");
	assert_true(
		run_until(node_log_seen, &(struct log_wait){(struct side *)&nodes[leader], msg}));
	side_close(&c);

	int other = (leader + 1) % 3;
	side_init(&c, ids[other], 77, "127.0.0.9:9", 0);
	c.known[0] = cluster_wg[leader];
	connect_to(&c, nodes[leader].addr, lid, &w);
	assert_int_equal(w.status, RAFT_NOCONNECTION);
	snprintf(msg, sizeof(msg),
		 "raft: connection from 127.0.0.1 refused: node %s did not prove its WireGuard key",
		 ids[other]);
	assert_true(
		run_until(node_log_seen, &(struct log_wait){(struct side *)&nodes[leader], msg}));
	side_close(&c);

	plain_libraft_connect(nodes[leader].addr, wm_store_raft_id(ids[other]), lid);
	assert_true(node_log_seen(&(struct log_wait){
		(struct side *)&nodes[leader],
		"raft: connection from 127.0.0.1 refused: not TLS (first byte 0x01)"}));

	/* Nothing changed: same leader, same term, same replicas; and the
	 * cluster still replicates. */
	run_for(300);
	struct wm_store_status after;
	wm_store_status(ls, &after);
	assert_true(after.is_leader);
	assert_true(after.term == before.term);
	for (int i = 0; i < 3; i++) {
		char *d;
		assert_int_equal(wm_store_dump(nodes[i].s, &d), 0);
		assert_string_equal(d, dumps[0]);
		free(d);
	}
	uint8_t *buf = test_join_cmd(&(struct test_join){.id = "epsilon", .key_seed = 9}, &len);
	idx = apply(ls, buf, len);
	assert_true(run_until(all_applied, &idx));
	for (int i = 0; i < 3; i++) {
		free(dumps[i]);
		assert_int_equal(wm_store_dump(nodes[i].s, &dumps[i]), 0);
	}
	assert_string_equal(dumps[0], dumps[1]);
	assert_string_equal(dumps[0], dumps[2]);
	for (int i = 0; i < 3; i++) {
		free(dumps[i]);
		bool closed = false;
		wm_store_close(nodes[i].s, store_closed_cb, &closed);
		assert_true(run_until(flag, &closed));
	}
	loop_close();
	for (int i = 0; i < 3; i++) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", nodes[i].dir);
		assert_int_equal(system(cmd), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_pair_pumps),
		cmocka_unit_test(test_connector_checks_peer),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_cluster_shrugs_impostors),
	};
	return cmocka_run_group_tests_name("raft_transport", tests, NULL, NULL);
}
