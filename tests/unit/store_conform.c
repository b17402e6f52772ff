/* The store interface's conformance suite (issue 12): one list of cases
 * written once against the wm_store_* functions of store_api.def, run
 * against each provider as webmeshd opens it, through the loader:
 *   store_conform                  the Raft store (webmesh-store.so), a real
 *                                  one-voter libraft cluster in a temp dir
 *   store_conform --etcd ENDPOINTS the etcd storage plugin (webmesh-etcd.so
 *                                  through src/plugin/storage.c), a real etcd
 * Optionally --dump FILE writes the state the node case leaves (its dump)
 * and FILE.refusals every refusal with its error and message, so that the
 * integration test can compare the two providers line by line.
 *
 * Where the providers differ by design the case says so and asserts the
 * documented difference:
 * - numbering: Raft reports log indexes, etcd revisions. Both only promise
 *   that a result's index is the index its change was reported at, and that
 *   the feed's indexes increase; the cases assert that, not the numbers.
 * - membership: etcd has no Raft configuration; add_member, remove_member
 *   and remove_raft_id answer -ENOTSUP (servers register in etcd instead),
 *   transfer_leadership -ENOENT as a lone Raft voter does.
 * A module is loaded once per process (store_loader.c), so each provider
 * is its own run of this binary. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "store/authz.h"
#include "store/store.h"
#include "test_store_util.h"

#define WAIT_MS 20000 /* a bound for each wait, not an expected duration */

static const char *etcd_endpoints; /* NULL: the Raft store */
static const char *dump_path;
/* With --dump FILE: FILE.refusals lists every refusal (kind, error,
 * message) for the integration test to compare across providers. */
static FILE *refusals;
/* The case's loop: a result that arrives from a timer (the etcd plugin
 * answers refusals so) stops uv_run at once, rather than after the poll
 * that follows the timers in UV_RUN_ONCE. */
static uv_loop_t *cur_loop;
static unsigned run_seq;

struct fed {
	uint64_t index;
	int kind;
};

struct fx {
	uv_loop_t loop;
	uv_timer_t deadline;
	bool timed_out;
	struct wm_store *s;
	char dir[64];
	struct fed feed[256];
	size_t n_feed;
	bool feed_overflow;
	bool unheard;	 /* no listener registered: apply checks no report */
	bool loose;	 /* the feed reports this command its own way (liveness on etcd) */
	char marks[128]; /* the unreachable marks the feed last reported, ',' joined */
	unsigned n_marks_reports;
};

static bool is_etcd(void)
{
	return etcd_endpoints != NULL;
}

static void deadline_cb(uv_timer_t *t)
{
	struct fx *f = t->data;
	f->timed_out = true;
	uv_stop(&f->loop);
}

/* Runs the loop until *flag, bounded in time; true if it was set. */
static bool run_until(struct fx *f, const bool *flag)
{
	f->timed_out = false;
	uv_timer_start(&f->deadline, deadline_cb, WAIT_MS, 0);
	while (!*flag && !f->timed_out)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_timer_stop(&f->deadline);
	return *flag;
}

static void feed_cb(void *data, uint64_t index, const Webmesh__V1__RaftCommand *cmd)
{
	struct fx *f = data;
	/* A snapshot (cmd NULL) cannot happen on a fresh store this small. */
	assert_non_null(cmd);
	if (f->n_feed == sizeof(f->feed) / sizeof(f->feed[0])) {
		f->feed_overflow = true;
		return;
	}
	f->feed[f->n_feed++] = (struct fed){index, (int)cmd->command_case};
	if (cmd->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_LIVENESS) {
		f->marks[0] = '\0';
		for (size_t i = 0; i < cmd->liveness->n_unreachable; i++)
			snprintf(f->marks + strlen(f->marks), sizeof(f->marks) - strlen(f->marks),
				 "%s%s", i ? "," : "", cmd->liveness->unreachable[i]);
		f->n_marks_reports++;
		uv_stop(&f->loop);
	}
}

static int no_peer(void *data, uint64_t raft_id, char node_id[WM_NODE_ID_MAX + 1], uint8_t pub[32],
		   bool *is_server)
{
	(void)data, (void)raft_id, (void)node_id, (void)pub, (void)is_server;
	return -ENOENT;
}

/* A TCP port free on 127.0.0.1 now: raft advertises its address, so it
 * cannot listen on port 0. */
static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static const uint8_t lone_key[32] = {9, 8, 7, 6, 5, 4, 3, 2, 1};

static bool serving(struct fx *f)
{
	struct wm_store_status st;
	wm_store_status(f->s, &st);
	return st.is_leader && st.caught_up;
}

/* Opens the provider as webmeshd does and waits until it serves: the Raft
 * store bootstraps a one-voter cluster on a free loopback port; the etcd
 * plugin takes a mesh name of its own per case, so cases never see each
 * other's state. */
static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	cur_loop = &f->loop;
	uv_timer_init(&f->loop, &f->deadline);
	f->deadline.data = f;
	char err[512] = "", mesh[48], port[32];
	snprintf(mesh, sizeof(mesh), "conform%ld-%u", (long)getpid(), ++run_seq);
	const char *keys[] = {"endpoints", "mesh"}, *values[] = {etcd_endpoints, mesh};
	struct wm_store_config cfg = {.node_id = "srv-1", .heartbeat_ms = 50, .election_ms = 300};
	if (is_etcd()) {
		cfg.storage = "etcd";
		cfg.storage_keys = keys;
		cfg.storage_values = values;
		cfg.n_storage_config = 2;
		cfg.api_address = "127.0.0.1:8443";
	} else {
		snprintf(f->dir, sizeof(f->dir), "/tmp/wm-conform-XXXXXX");
		assert_non_null(mkdtemp(f->dir));
		snprintf(port, sizeof(port), "127.0.0.1:%d", free_port());
		cfg.dir = f->dir;
		cfg.raft_address = port;
		cfg.bootstrap = true;
		cfg.wg_private_key = lone_key;
		cfg.peer_lookup = no_peer;
	}
	int rc = wm_store_open(&f->loop, &cfg, &f->s, err, sizeof(err));
	if (rc < 0)
		print_error("open: %s\n", err);
	assert_int_equal(rc, 0);
	f->timed_out = false;
	uv_timer_start(&f->deadline, deadline_cb, WAIT_MS, 0);
	while (!serving(f) && !f->timed_out)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_timer_stop(&f->deadline);
	assert_true(serving(f));
	assert_int_equal(wm_store_on_change(f->s, feed_cb, f), 0);
	*state = f;
	return 0;
}

static void closed_cb(void *data)
{
	*(bool *)data = true;
	uv_stop(cur_loop);
}

static void close_store(struct fx *f)
{
	if (!f->s)
		return;
	bool closed = false;
	wm_store_close(f->s, closed_cb, &closed);
	f->s = NULL;
	assert_true(run_until(f, &closed));
}

static int teardown(void **state)
{
	struct fx *f = *state;
	close_store(f);
	uv_close((uv_handle_t *)&f->deadline, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	if (f->dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
		assert_int_equal(system(cmd), 0);
	}
	free(f);
	return 0;
}

/* ---- applying a command: its result, and the feed's report of it ---- */

struct answer {
	bool done;
	int calls;
	struct wm_store_result res;
};

static void answer_cb(void *data, const struct wm_store_result *res)
{
	struct answer *a = data;
	a->calls++;
	a->done = true;
	a->res = *res;
	uv_stop(cur_loop);
}

/* Applies cmd and waits for its result. The contract checked on every
 * command: the result never comes from within apply; an accepted command
 * is reported by the change feed exactly once, of its kind, at the
 * result's index, after everything reported before; a refused one is not
 * reported and says why in res->message. */
static int apply(struct fx *f, const Webmesh__V1__RaftCommand *cmd, struct wm_store_result *out)
{
	struct answer a = {0};
	size_t before = f->n_feed;
	int rc = wm_store_apply(f->s, cmd, answer_cb, &a);
	if (rc < 0)
		return rc;
	assert_int_equal(a.calls, 0);
	assert_true(run_until(f, &a.done));
	assert_int_equal(a.calls, 1);
	assert_false(f->feed_overflow);
	if (f->loose) {
		/* checked by the case */
	} else if (f->unheard) {
		assert_int_equal(f->n_feed, before);
	} else if (a.res.err == 0) {
		assert_int_equal(f->n_feed, before + 1);
		assert_int_equal(f->feed[before].kind, (int)cmd->command_case);
		assert_int_equal(f->feed[before].index, a.res.index);
		if (before > 0)
			assert_true(f->feed[before].index > f->feed[before - 1].index);
	} else {
		assert_int_equal(f->n_feed, before);
		assert_true(a.res.message[0] != '\0');
		if (refusals)
			fprintf(refusals, "%d %d %s\n", (int)cmd->command_case, a.res.err,
				a.res.message);
	}
	if (out)
		*out = a.res;
	return a.res.err;
}

/* Packed builders from test_store_util.h, unpacked for wm_store_apply. */
static int apply_packed(struct fx *f, uint8_t *buf, const size_t *len, struct wm_store_result *out)
{
	Webmesh__V1__RaftCommand *cmd = webmesh__v1__raft_command__unpack(NULL, *len, buf);
	free(buf);
	assert_non_null(cmd);
	int rc = apply(f, cmd, out);
	webmesh__v1__raft_command__free_unpacked(cmd, NULL);
	return rc;
}

static int bootstrap_res(struct fx *f, const char *v4, const char *v6, struct wm_store_result *out)
{
	size_t len;
	return apply_packed(f, test_bootstrap_cmd(v4, v6, &len), &len, out);
}

static int bootstrap(struct fx *f, const char *v4, const char *v6)
{
	return bootstrap_res(f, v4, v6, NULL);
}

/* The refusal's message says what was wrong, in words both providers use. */
static void says(const struct wm_store_result *r, const char *words)
{
	if (!strstr(r->message, words))
		fail_msg("message \"%s\" does not say \"%s\"", r->message, words);
}

static int join(struct fx *f, const struct test_join *j, struct wm_store_result *out)
{
	size_t len;
	return apply_packed(f, test_join_cmd(j, &len), &len, out);
}

static int remove_node(struct fx *f, const char *id)
{
	size_t len;
	return apply_packed(f, test_remove_cmd(id, &len), &len, NULL);
}

static int edge(struct fx *f, bool put, const char *a, const char *b, int w, const char *k,
		const char *v)
{
	size_t len;
	return apply_packed(f, test_edge_cmd(put, a, b, w, k, v, &len), &len, NULL);
}

static const char *addr4(const struct wm_mesh_node *n, char buf[WM_PREFIX_STRLEN])
{
	wm_prefix_format_addr(&n->ipv4, buf, WM_PREFIX_STRLEN);
	return buf;
}

/* ---- the cases ---- */

static void test_open_and_empty(void **state)
{
	struct fx *f = *state;
	struct wm_store_status st;
	wm_store_status(f->s, &st);
	assert_string_equal(st.storage, is_etcd() ? "etcd" : "raft");
	assert_true(st.is_leader && st.caught_up);

	struct wm_mesh_info info;
	assert_int_equal(wm_store_mesh_info(f->s, &info), -WM_ENOMESH);
	struct wm_mesh_node n, *nodes = NULL;
	size_t nn = 99;
	assert_int_equal(wm_store_get_node(f->s, "node-a", &n), -ENOENT);
	assert_int_equal(wm_store_list_nodes(f->s, &nodes, &nn), 0);
	assert_int_equal(nn, 0);
	free(nodes);

	/* Bad input refused at once, the callback never called. */
	Webmesh__V1__RaftCommand empty = WEBMESH__V1__RAFT_COMMAND__INIT;
	assert_int_equal(wm_store_apply(f->s, &empty, answer_cb, NULL), -EINVAL);

	/* A join before the mesh exists: refused, nothing reported. */
	struct wm_store_result r;
	assert_int_equal(join(f, &(struct test_join){.id = "node-a", .key_seed = 1}, &r),
			 -WM_ENOMESH);
	assert_int_equal(wm_store_list_nodes(f->s, &nodes, &nn), 0);
	assert_int_equal(nn, 0);
	free(nodes);
	assert_int_equal(f->n_feed, 0);
}

/* Bootstrap, joins with their leases and every refusal of a join, removal,
 * exhaustion of a /29. */
static void test_nodes(void **state)
{
	struct fx *f = *state;
	struct wm_store_result r;
	char a4[WM_PREFIX_STRLEN];

	assert_int_equal(bootstrap(f, "10.9.0.0/29", "fd09:1:2::/48"), 0);
	assert_int_equal(bootstrap_res(f, "10.9.0.0/29", "fd09:1:2::/48", &r), -EEXIST);
	says(&r, "already bootstrapped");
	struct wm_mesh_info info;
	assert_int_equal(wm_store_mesh_info(f->s, &info), 0);
	assert_string_equal(info.domain, "webmesh.internal");
	assert_int_equal(info.created_at, 1700000000);
	char net[WM_PREFIX_STRLEN];
	wm_prefix_format(&info.ipv4_network, net, sizeof(net));
	assert_string_equal(net, "10.9.0.0/29");

	assert_int_equal(join(f,
			      &(struct test_join){.id = "node-a",
						  .key_seed = 1,
						  .endpoint = "192.0.2.1:51820",
						  .route = "192.168.10.0/24",
						  .full_mesh = true},
			      &r),
			 0);
	assert_string_equal(r.node.id, "node-a");
	assert_int_equal(r.node.ipv4.len, 32);
	/* A requested free address is leased as asked. */
	assert_int_equal(join(f,
			      &(struct test_join){.id = "node-b",
						  .key_seed = 2,
						  .request = "10.9.0.5",
						  .full_mesh = true},
			      &r),
			 0);
	assert_string_equal(addr4(&r.node, a4), "10.9.0.5");
	/* A taken one is not: c gets another address. */
	assert_int_equal(join(f,
			      &(struct test_join){.id = "node-c",
						  .key_seed = 3,
						  .request = "10.9.0.5",
						  .full_mesh = true},
			      &r),
			 0);
	assert_string_not_equal(addr4(&r.node, a4), "10.9.0.5");
	/* A rejoin with the same key keeps the lease and takes new details. */
	struct wm_mesh_node before, after;
	assert_int_equal(wm_store_get_node(f->s, "node-a", &before), 0);
	assert_int_equal(join(f,
			      &(struct test_join){.id = "node-a",
						  .key_seed = 1,
						  .endpoint = "192.0.2.9:51821",
						  .port = 51999,
						  .full_mesh = true},
			      &r),
			 0);
	assert_int_equal(wm_store_get_node(f->s, "node-a", &after), 0);
	assert_true(wm_prefix_equal(&before.ipv4, &after.ipv4));
	assert_int_equal(after.listen_port, 51999);
	assert_int_equal(after.n_endpoints, 1);
	assert_int_equal(after.endpoints[0].port, 51821);

	/* Refusals: another key under a's ID, b's key under a new ID, bad
	 * input; none changes the state. */
	assert_int_equal(join(f, &(struct test_join){.id = "node-a", .key_seed = 2}, &r),
			 -WM_EKEYMISMATCH);
	says(&r, "registered with another public key");
	assert_int_equal(join(f, &(struct test_join){.id = "node-x", .key_seed = 2}, &r), -EEXIST);
	says(&r, "already registered to node node-b");
	assert_int_equal(join(f, &(struct test_join){.id = "Not Valid", .key_seed = 9}, &r),
			 -EINVAL);
	assert_int_equal(join(f, &(struct test_join){.id = "node-d", .key = "nope"}, &r), -EINVAL);
	assert_int_equal(
		join(f, &(struct test_join){.id = "node-d", .key_seed = 4, .request = "10.8.0.1"},
		     &r),
		-EINVAL);
	assert_int_equal(
		join(f, &(struct test_join){.id = "node-d", .key_seed = 4, .route = "10.9.0.0/30"},
		     &r),
		-EINVAL);

	struct wm_mesh_node *nodes = NULL;
	size_t nn = 0;
	assert_int_equal(wm_store_list_nodes(f->s, &nodes, &nn), 0);
	assert_int_equal(nn, 3);
	assert_string_equal(nodes[0].id, "node-a");
	assert_string_equal(nodes[1].id, "node-b");
	assert_string_equal(nodes[2].id, "node-c");
	assert_int_equal(nodes[0].n_routes, 0); /* the rejoin gave no route */
	free(nodes);

	/* Removal, and an unknown node. */
	assert_int_equal(remove_node(f, "node-a"), 0);
	assert_int_equal(remove_node(f, "node-a"), -ENOENT);
	struct wm_mesh_node n;
	assert_int_equal(wm_store_get_node(f->s, "node-a", &n), -ENOENT);

	/* A /29 has six hosts: b, c and four more fill it, the next is refused. */
	int taken = 2, err = 0;
	for (int i = 0; i < 8 && err == 0; i++) {
		char id[16];
		snprintf(id, sizeof(id), "m%d", i);
		err = join(f, &(struct test_join){.id = id, .key_seed = 20 + i}, &r);
		if (err == 0)
			taken++;
	}
	assert_int_equal(err, -WM_EEXHAUSTED);
	says(&r, "no free IPv4 address left");
	assert_int_equal(taken, 6);
	if (dump_path) {
		/* The state after the case, for the cross-provider comparison. */
		char *d = NULL;
		assert_int_equal(wm_store_dump(f->s, &d), 0);
		FILE *o = fopen(dump_path, "w");
		assert_non_null(o);
		fputs(d, o);
		assert_int_equal(fclose(o), 0);
		free(d);
	}
}

/* Edges with their attributes, routes, DNS records. */
static void test_edges_routes_dns(void **state)
{
	struct fx *f = *state;
	struct wm_store_result r;

	assert_int_equal(bootstrap(f, "10.9.0.0/24", "fd09:1:2::/48"), 0);
	assert_int_equal(join(f, &(struct test_join){.id = "node-a", .key_seed = 1}, &r), 0);
	assert_int_equal(join(f, &(struct test_join){.id = "node-b", .key_seed = 2}, &r), 0);
	assert_int_equal(join(f, &(struct test_join){.id = "node-c", .key_seed = 3}, &r), 0);

	assert_int_equal(edge(f, true, "node-a", "node-b", 5, "ice", "true"), 0);
	assert_int_equal(edge(f, true, "node-b", "node-c", 2, "note", "x"), 0);
	assert_int_equal(edge(f, true, "node-a", "ghost", 1, NULL, NULL), -ENOENT);
	assert_int_equal(edge(f, true, "node-a", "node-a", 1, NULL, NULL), -EINVAL);
	assert_int_equal(edge(f, true, "node-a", "node-b", 0, NULL, NULL), -EINVAL);
	assert_int_equal(edge(f, true, "node-a", "node-b", 1, "bad key", "x"), -EINVAL);

	struct wm_mesh_edge *edges = NULL;
	size_t ne = 0;
	assert_int_equal(wm_store_list_edges(f->s, &edges, &ne), 0);
	assert_int_equal(ne, 2);
	assert_string_equal(edges[0].source, "node-a");
	assert_string_equal(edges[0].target, "node-b");
	assert_int_equal(edges[0].weight, 5);
	assert_true(edges[0].ice);
	assert_string_equal(edges[1].source, "node-b");
	assert_int_equal(edges[1].weight, 2);
	assert_false(edges[1].ice);
	free(edges);
	struct wm_edge_attr *attrs = NULL;
	size_t na = 0;
	assert_int_equal(wm_store_list_edge_attrs(f->s, &attrs, &na), 0);
	assert_int_equal(na, 2);
	assert_string_equal(attrs[0].key, "ice");
	assert_string_equal(attrs[0].value, "true");
	assert_string_equal(attrs[1].source, "node-b");
	assert_string_equal(attrs[1].key, "note");
	free(attrs);
	assert_int_equal(edge(f, false, "node-b", "node-a", 0, NULL, NULL), 0);
	assert_int_equal(wm_store_list_edges(f->s, &edges, &ne), 0);
	assert_int_equal(ne, 1);
	free(edges);

	/* Routes: put, overlap with another's checked claim, delete. */
	Webmesh__V1__PutRoutesCommand pr = WEBMESH__V1__PUT_ROUTES_COMMAND__INIT;
	Webmesh__V1__RaftCommand c = WEBMESH__V1__RAFT_COMMAND__INIT;
	char *r1[] = {"172.16.0.0/16"}, *r2[] = {"172.16.5.0/24"};
	c.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROUTES;
	c.put_routes = &pr;
	pr.node_id = "node-b";
	pr.routes = r1;
	pr.n_routes = 1;
	pr.route_claims_checked = true;
	assert_int_equal(apply(f, &c, NULL), 0);
	/* A checked claim overlapping another node's route is refused. */
	pr.node_id = "node-c";
	pr.routes = r2;
	assert_int_equal(apply(f, &c, &r), -EACCES);
	pr.node_id = "ghost";
	assert_int_equal(apply(f, &c, &r), -ENOENT);
	struct wm_mesh_node n;
	assert_int_equal(wm_store_get_node(f->s, "node-b", &n), 0);
	assert_int_equal(n.n_routes, 1);
	Webmesh__V1__DeleteRoutesCommand dr = WEBMESH__V1__DELETE_ROUTES_COMMAND__INIT;
	c.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_ROUTES;
	c.delete_routes = &dr;
	dr.node_id = "node-b";
	dr.routes = r1;
	dr.n_routes = 1;
	assert_int_equal(apply(f, &c, NULL), 0);
	assert_int_equal(wm_store_get_node(f->s, "node-b", &n), 0);
	assert_int_equal(n.n_routes, 0);

	/* DNS: records listed by name, type and value; bad ones refused. */
	Webmesh__V1__PutDnsRecordCommand pd = WEBMESH__V1__PUT_DNS_RECORD_COMMAND__INIT;
	c.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_DNS_RECORD;
	c.put_dns_record = &pd;
	pd.name = "www";
	pd.type = "A";
	pd.value = "10.9.0.3";
	assert_int_equal(apply(f, &c, NULL), 0);
	pd.value = "10.9.0.2";
	assert_int_equal(apply(f, &c, NULL), 0);
	pd.name = "api";
	pd.type = "TXT";
	pd.value = "hello";
	assert_int_equal(apply(f, &c, NULL), 0);
	pd.type = "MX";
	assert_int_equal(apply(f, &c, &r), -EINVAL);
	pd.name = "bad..name";
	pd.type = "A";
	pd.value = "10.9.0.4";
	assert_int_equal(apply(f, &c, &r), -EINVAL);
	struct wm_dns_record *recs = NULL;
	size_t nr = 0;
	assert_int_equal(wm_store_list_dns_records(f->s, &recs, &nr), 0);
	assert_int_equal(nr, 3);
	assert_string_equal(recs[0].name, "api.webmesh.internal");
	assert_string_equal(recs[1].value, "10.9.0.2");
	assert_string_equal(recs[2].value, "10.9.0.3");
	free(recs);
	Webmesh__V1__DeleteDnsRecordCommand dd = WEBMESH__V1__DELETE_DNS_RECORD_COMMAND__INIT;
	c.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_DNS_RECORD;
	c.delete_dns_record = &dd;
	dd.name = "www";
	dd.type = "A";
	dd.value = "10.9.0.3";
	assert_int_equal(apply(f, &c, NULL), 0);
	assert_int_equal(apply(f, &c, &r), -ENOENT);
	assert_int_equal(wm_store_list_dns_records(f->s, &recs, &nr), 0);
	assert_int_equal(nr, 2);
	free(recs);
}

/* RBAC objects, network ACLs, the deny list, as authz_load reads them. */
static void test_authz(void **state)
{
	struct fx *f = *state;
	struct wm_store_result r;
	size_t len;

	assert_int_equal(bootstrap(f, "10.9.0.0/24", "fd09:1:2::/48"), 0);
	assert_int_equal(join(f, &(struct test_join){.id = "node-a", .key_seed = 1}, &r), 0);
	assert_int_equal(apply_packed(f, test_role_cmd("readers", "get:edges:", &len), &len, NULL),
			 0);
	assert_int_equal(
		apply_packed(f, test_binding_cmd("rb", "readers", "user:alice", &len), &len, NULL),
		0);
	assert_int_equal(apply_packed(f, test_group_cmd("ops", "user:bob", &len), &len, NULL), 0);
	assert_int_equal(apply_packed(f, test_role_cmd("bad", "nonsense", &len), &len, &r),
			 -EINVAL);

	Webmesh__V1__PutNetworkACLCommand acl = WEBMESH__V1__PUT_NETWORK_ACLCOMMAND__INIT;
	Webmesh__V1__RaftCommand c = WEBMESH__V1__RAFT_COMMAND__INIT;
	c.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_NETWORK_ACL;
	c.put_network_acl = &acl;
	acl.name = "web";
	acl.priority = 3;
	acl.accept = true;
	acl.source_nodes = "*";
	acl.destination_nodes = "*";
	acl.protocols = "tcp";
	acl.ports = "80";
	assert_int_equal(apply(f, &c, NULL), 0);

	Webmesh__V1__DenyNodeCommand dn = WEBMESH__V1__DENY_NODE_COMMAND__INIT;
	c.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DENY_NODE;
	c.deny_node = &dn;
	dn.node_id = "node-a";
	dn.by = "admin";
	dn.denied_at = 5;
	assert_int_equal(apply(f, &c, NULL), 0);
	/* A denied node cannot join again (its entry is RemoveNode's to drop). */
	assert_int_not_equal(join(f, &(struct test_join){.id = "node-a", .key_seed = 1}, &r), 0);
	dn.node_id = "Bad ID";
	assert_int_equal(apply(f, &c, &r), -EINVAL);

	struct wm_authz_snapshot az;
	assert_int_equal(wm_store_authz_load(f->s, &az), 0);
	assert_int_equal(az.n_roles, 1);
	assert_string_equal(az.roles[0].name, "readers");
	assert_string_equal(az.roles[0].rules, "get:edges:");
	assert_int_equal(az.n_bindings, 1);
	assert_string_equal(az.bindings[0].subjects, "user:alice");
	assert_int_equal(az.n_groups, 1);
	assert_string_equal(az.groups[0].subjects, "user:bob");
	assert_int_equal(az.n_acls, 1);
	assert_string_equal(az.acls[0].name, "web");
	assert_int_equal(az.acls[0].priority, 3);
	assert_true(wm_authz_denied(&az, "node-a"));
	assert_false(wm_authz_denied(&az, "node-b"));
	wm_authz_snapshot_free(&az);

	Webmesh__V1__AllowNodeCommand al = WEBMESH__V1__ALLOW_NODE_COMMAND__INIT;
	c.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_ALLOW_NODE;
	c.allow_node = &al;
	al.node_id = "node-a";
	assert_int_equal(apply(f, &c, NULL), 0);
	assert_int_equal(join(f, &(struct test_join){.id = "node-a", .key_seed = 1}, &r), 0);

	Webmesh__V1__DeleteAuthzCommand da = WEBMESH__V1__DELETE_AUTHZ_COMMAND__INIT;
	c.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_AUTHZ;
	c.delete_authz = &da;
	/* A role still bound is refused; unbound, it goes. */
	da.kind = "roles";
	da.name = "readers";
	assert_int_equal(apply(f, &c, &r), -EBUSY);
	da.kind = "rolebindings";
	da.name = "rb";
	assert_int_equal(apply(f, &c, NULL), 0);
	da.kind = "roles";
	da.name = "readers";
	assert_int_equal(apply(f, &c, NULL), 0);
	da.kind = "sideboards";
	assert_int_equal(apply(f, &c, &r), -EINVAL);
	assert_int_equal(wm_store_authz_load(f->s, &az), 0);
	assert_int_equal(az.n_roles, 0);
	assert_false(wm_authz_denied(&az, "node-a"));
	assert_false(az.bootstrapped);
	wm_authz_snapshot_free(&az);

	/* RBAC's bootstrap, once. */
	Webmesh__V1__BootstrapAuthzCommand ba = WEBMESH__V1__BOOTSTRAP_AUTHZ_COMMAND__INIT;
	char *voters[] = {"node-a"};
	c.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP_AUTHZ;
	c.bootstrap_authz = &ba;
	ba.admin = "admin";
	ba.bootstrap_node = "node-a";
	ba.voters = voters;
	ba.n_voters = 1;
	assert_int_equal(apply(f, &c, NULL), 0);
	assert_int_equal(apply(f, &c, &r), -EEXIST);
	says(&r, "already bootstrapped");
	assert_int_equal(wm_store_authz_load(f->s, &az), 0);
	assert_true(az.bootstrapped);
	assert_true(az.n_roles > 0 && az.n_bindings > 0);
	wm_authz_snapshot_free(&az);
}

/* The feed over a whole sequence: every accepted command once, in order. */
static void test_feed_and_dump(void **state)
{
	struct fx *f = *state;
	struct wm_store_result r;
	int kinds[16], nk = 0;

	assert_int_equal(bootstrap(f, "10.9.0.0/24", "fd09:1:2::/48"), 0);
	kinds[nk++] = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP;
	assert_int_equal(join(f, &(struct test_join){.id = "node-a", .key_seed = 1}, &r), 0);
	kinds[nk++] = WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE;
	assert_int_not_equal(join(f, &(struct test_join){.id = "node-a", .key_seed = 5}, &r), 0);
	assert_int_equal(join(f, &(struct test_join){.id = "node-b", .key_seed = 2}, &r), 0);
	kinds[nk++] = WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE;
	assert_int_equal(edge(f, true, "node-a", "node-b", 4, NULL, NULL), 0);
	kinds[nk++] = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE;
	assert_int_equal(remove_node(f, "node-b"), 0);
	kinds[nk++] = WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE;
	assert_int_equal(f->n_feed, (size_t)nk);
	for (int i = 0; i < nk; i++)
		assert_int_equal(f->feed[i].kind, kinds[i]);

	/* A barrier answers once everything before it is applied. */
	struct answer a = {0};
	assert_int_equal(wm_store_barrier(f->s, answer_cb, &a), 0);
	assert_true(run_until(f, &a.done));
	assert_int_equal(a.res.err, 0);

	/* The dump holds the state: the node, not the removed one. */
	char *d = NULL;
	assert_int_equal(wm_store_dump(f->s, &d), 0);
	assert_non_null(strstr(d, "node-a"));
	assert_null(strstr(d, "node-b"));
	free(d);

	/* off_change stops the reports. */
	wm_store_off_change(f->s, feed_cb, f);
	f->unheard = true;
	assert_int_equal(join(f, &(struct test_join){.id = "node-c", .key_seed = 3}, &r), 0);
	assert_int_equal(f->n_feed, (size_t)nk); /* no listener, no report */
}

/* Raft membership through the interface: a lone voter's answers, or the
 * etcd plugin's documented -ENOTSUP (no Raft configuration there). */
static Webmesh__V1__RaftCommand *liveness(Webmesh__V1__RaftCommand *c,
					  Webmesh__V1__LivenessCommand *lc, char **who, size_t n)
{
	webmesh__v1__raft_command__init(c);
	webmesh__v1__liveness_command__init(lc);
	lc->unreachable = who;
	lc->n_unreachable = n;
	c->command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_LIVENESS;
	c->liveness = lc;
	return c;
}

/* Liveness marks. On Raft the leader's marks are the mesh's: the feed
 * reports the command itself, at its index (apply checks that). On etcd
 * each server writes its own marks and the feed reports the marks all
 * servers agree on when they change (src/etcd/liveset.h), by design not the
 * command at its revision: with this one server, its marks. Both: the feed
 * says [node-a], then []. */
static void test_liveness(void **state)
{
	struct fx *f = *state;
	struct wm_store_result r;
	Webmesh__V1__RaftCommand c;
	Webmesh__V1__LivenessCommand lc;
	char *a[] = {"node-a"}, *bad[] = {"Bad ID"};

	assert_int_equal(bootstrap(f, "10.9.0.0/24", "fd09:1:2::/48"), 0);
	assert_int_equal(join(f, &(struct test_join){.id = "node-a", .key_seed = 1}, &r), 0);
	f->loose = is_etcd();
	assert_int_equal(apply(f, liveness(&c, &lc, a, 1), NULL), 0);
	f->timed_out = false;
	uv_timer_start(&f->deadline, deadline_cb, WAIT_MS, 0);
	while (strcmp(f->marks, "node-a") != 0 && !f->timed_out)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_string_equal(f->marks, "node-a");
	unsigned reports = f->n_marks_reports;
	assert_int_equal(apply(f, liveness(&c, &lc, NULL, 0), NULL), 0);
	while (f->n_marks_reports == reports && !f->timed_out)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_timer_stop(&f->deadline);
	assert_string_equal(f->marks, "");
	f->loose = false;
	/* A difference found here, not by design (reported; the fix belongs in
	 * src/store/fsm.c, a replicated command's validation, so with command
	 * versions in mind): the etcd store checks the marks' node IDs, the
	 * Raft FSM stores nothing for liveness and takes any string. Asserted
	 * as each does now so that a change to either shows here. */
	assert_int_equal(apply(f, liveness(&c, &lc, bad, 1), &r), is_etcd() ? -EINVAL : 0);
}

static void never_cb(void *data, int err)
{
	(void)data, (void)err;
	fail_msg("a refused membership change called its callback");
}

static void test_membership(void **state)
{
	struct fx *f = *state;
	struct wm_store_status st;
	wm_store_status(f->s, &st);
	if (is_etcd()) {
		assert_int_equal(st.n_members, 0);
		assert_int_equal(wm_store_add_member(f->s, "srv-2", "127.0.0.1:9", WM_ROLE_VOTER,
						     never_cb, NULL),
				 -ENOTSUP);
		assert_int_equal(wm_store_remove_member(f->s, "srv-2", never_cb, NULL), -ENOTSUP);
		assert_int_equal(wm_store_remove_raft_id(f->s, 42, never_cb, NULL), -ENOTSUP);
	} else {
		assert_int_equal(st.n_members, 1);
		assert_string_equal(st.members[0].node_id, "srv-1");
		assert_int_equal(st.members[0].raft_id, wm_store_raft_id("srv-1"));
		assert_int_equal(wm_store_add_member(f->s, "srv-2", "not-an-address", WM_ROLE_VOTER,
						     never_cb, NULL),
				 -EINVAL);
		assert_int_equal(wm_store_add_member(f->s, "srv-1", st.members[0].address,
						     WM_ROLE_VOTER, never_cb, NULL),
				 -EALREADY);
		assert_int_equal(wm_store_remove_member(f->s, "srv-2", never_cb, NULL), -ENOENT);
	}
	/* Both: no other voter to hand leadership to. */
	assert_int_equal(wm_store_transfer_leadership(f->s, never_cb, NULL), -ENOENT);
	/* The loop turns without any callback. */
	for (int i = 0; i < 3; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* Closing with commands in flight completes each with -ECANCELED, once,
 * from within close. Five in flight: with two or more appends queued,
 * libraft 0.15's raft_close read a NULL entry reference and the process died
 * (each cancelled append truncated the log again); store.c's io_append
 * reports appends cancelled by the close as done. */
static void test_close_in_flight(void **state)
{
	struct fx *f = *state;
	assert_int_equal(bootstrap(f, "10.9.0.0/24", "fd09:1:2::/48"), 0);
	struct answer a[5] = {{0}};
	for (int i = 0; i < 5; i++) {
		char id[16];
		snprintf(id, sizeof(id), "n%d", i);
		size_t len;
		uint8_t *buf =
			test_join_cmd(&(struct test_join){.id = id, .key_seed = 40 + i}, &len);
		Webmesh__V1__RaftCommand *cmd = webmesh__v1__raft_command__unpack(NULL, len, buf);
		free(buf);
		assert_int_equal(wm_store_apply(f->s, cmd, answer_cb, &a[i]), 0);
		webmesh__v1__raft_command__free_unpacked(cmd, NULL);
	}
	bool closed = false;
	wm_store_close(f->s, closed_cb, &closed);
	f->s = NULL;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(a[i].calls, 1);
		assert_int_equal(a[i].res.err, -ECANCELED);
	}
	assert_true(run_until(f, &closed));
	for (int i = 0; i < 5; i++)
		assert_int_equal(a[i].calls, 1);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--etcd") == 0 && i + 1 < argc)
			etcd_endpoints = argv[++i];
		else if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc)
			dump_path = argv[++i];
		else {
			fprintf(stderr, "usage: store_conform [--etcd ENDPOINTS] [--dump FILE]\n");
			return 2;
		}
	}
	/* webmesh-store.so and webmesh-etcd.so, as webmeshd finds them. */
	setenv("WEBMESHD_MODULE_DIR", WM_MODULE_DIR, 0);
	if (dump_path) {
		char p[4096];
		snprintf(p, sizeof(p), "%s.refusals", dump_path);
		refusals = fopen(p, "w");
		if (!refusals) {
			perror(p);
			return 2;
		}
	}
	if (getenv("WM_CONFORM_ONLY")) /* one case by name, when looking into it */
		cmocka_set_test_filter(getenv("WM_CONFORM_ONLY"));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_and_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edges_routes_dns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authz, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feed_and_dump, setup, teardown),
		cmocka_unit_test_setup_teardown(test_liveness, setup, teardown),
		cmocka_unit_test_setup_teardown(test_membership, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_in_flight, setup, teardown),
	};
	int failed = cmocka_run_group_tests_name(
		is_etcd() ? "store_conform etcd" : "store_conform raft", tests, NULL, NULL);
	if (refusals && fclose(refusals) != 0)
		return 2;
	return failed;
}
