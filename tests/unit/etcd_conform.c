/* The store interface's conformance suite run against both providers: the
 * same commands through the Raft store's FSM and through the etcd store
 * (src/etcd), compared result by result and dump by dump after every
 * command: every command kind, its refusals (duplicate, unknown node, bad
 * input), then a seeded random sequence, then a second etcd store that reads
 * the mesh from etcd's records alone and must dump the same. Run by
 * tests/integration/test_etcd.py against a real etcd:
 *   etcd_conform ENDPOINTS MESH [SEED [STEPS]]
 * Prints one line per command and "conform ok N" (exit 0), or the
 * differences (exit 1). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>

#include "core/error.h"
#include "etcd/store.h"
#include "store/fsm.h"

static uv_loop_t *loop;
static bool done;
static unsigned accepted; /* commands both took */

/* The change feed of the store under test: each command it took is reported
 * once, as the Raft store's on_change reports an applied entry: its kind,
 * at its index, by the time the command's callback runs. */
static struct wm_etcd_store *feed_store;
static unsigned fed;
static int fed_case;
static uint64_t fed_index;
/* The marks in force the feed last said (a LivenessCommand), joined by ',' */
static char fed_marks[256];
static void feed_cb(void *data, uint64_t index, const Webmesh__V1__RaftCommand *cmd)
{
	(void)data;
	if (!cmd)
		return;
	fed++;
	fed_case = (int)cmd->command_case;
	fed_index = index;
	if (cmd->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_LIVENESS) {
		fed_marks[0] = '\0';
		for (size_t i = 0; i < cmd->liveness->n_unreachable; i++)
			snprintf(fed_marks + strlen(fed_marks),
				 sizeof(fed_marks) - strlen(fed_marks), "%s%s", i ? "," : "",
				 cmd->liveness->unreachable[i]);
	}
}
static struct wm_store_result got;

static void ready_cb(void *data, int err, const char *msg)
{
	(void)data;
	(void)msg;
	done = true;
	got.err = err;
	/* uv_run(ONCE) would go on to wait for I/O after a timer's callback. */
	uv_stop(loop);
}

/* The store's log: a stored command its replica refused would show here. */
static unsigned logged;
static void log_cb(void *data, const char *msg)
{
	(void)data;
	printf("log: %s\n", msg);
	/* A replica that refused what etcd holds has parted from it. */
	if (strstr(msg, "refused a stored command") || strstr(msg, "not ours"))
		logged++;
}

static void apply_cb(void *data, const struct wm_store_result *res)
{
	(void)data;
	got = *res;
	done = true;
	uv_stop(loop);
}

static bool same_node(const struct wm_mesh_node *a, const struct wm_mesh_node *b)
{
	if (strcmp(a->id, b->id) || !wm_key_equal(a->public_key, b->public_key) ||
	    !wm_prefix_equal(&a->ipv4, &b->ipv4) || !wm_prefix_equal(&a->ipv6, &b->ipv6) ||
	    a->n_endpoints != b->n_endpoints || a->n_routes != b->n_routes ||
	    a->listen_port != b->listen_port || a->raft_role != b->raft_role ||
	    strcmp(a->zone, b->zone) || strcmp(a->exit_node, b->exit_node))
		return false;
	for (size_t i = 0; i < a->n_endpoints; i++)
		if (!wm_endpoint_equal(&a->endpoints[i], &b->endpoints[i]))
			return false;
	for (size_t i = 0; i < a->n_routes; i++)
		if (!wm_prefix_equal(&a->routes[i], &b->routes[i]))
			return false;
	return true;
}

static void show(const char *who, const struct wm_mesh_node *n)
{
	char v4[WM_PREFIX_STRLEN], v6[WM_PREFIX_STRLEN];
	wm_prefix_format_addr(&n->ipv4, v4, sizeof(v4));
	wm_prefix_format(&n->ipv6, v6, sizeof(v6));
	printf("  %s: %s %s %s eps=%zu routes=%zu port=%u zone=%s\n", who, n->id, v4, v6,
	       n->n_endpoints, n->n_routes, n->listen_port, n->zone);
}

/* The dump without its meta row (the Raft store counts log entries there,
 * etcd revisions) and without the mesh row's ipv4_low_water: the allocator's
 * search hint, "every host below is leased", which a Raft replica raises as
 * it allocates and the etcd replica, given each join's address, only as far
 * as a join takes it exactly. Both are true of the same leases; everything
 * else is the state and must be equal. Edits dump in place. */
static char *state_of(char *dump)
{
	if (!dump)
		return dump;
	if (strncmp(dump, "meta", 4) == 0) {
		char *nl = strchr(dump, '\n');
		dump = nl ? nl + 1 : dump + strlen(dump);
	}
	char *lw = strstr(dump, " ipv4_low_water=");
	if (lw) {
		char *end = lw + 1;
		while (*end && *end != ' ' && *end != '\n')
			end++;
		memmove(lw, end, strlen(end) + 1);
	}
	return dump;
}

static void show_diff(const char *a, const char *b)
{
	/* The first differing line of each. */
	while (*a && *b) {
		const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
		size_t la = ea ? (size_t)(ea - a) : strlen(a),
		       lb = eb ? (size_t)(eb - b) : strlen(b);
		if (la != lb || memcmp(a, b, la) != 0)
			break;
		a += la + (ea != NULL);
		b += lb + (eb != NULL);
	}
	printf("  raft: %.*s\n  etcd: %.*s\n",
	       (int)(strchr(a, '\n') ? strchr(a, '\n') - a : (long)strlen(a)), a,
	       (int)(strchr(b, '\n') ? strchr(b, '\n') - b : (long)strlen(b)), b);
}

static int dumps_equal(char *x, char *y, const char *what, const char *wx, const char *wy)
{
	int r = 0;
	char *sx = state_of(x), *sy = state_of(y);
	if (!sx || !sy || strcmp(sx, sy) != 0) {
		printf("%s: the dumps of %s and %s differ\n", what, wx, wy);
		if (sx && sy)
			show_diff(sx, sy);
		r = -1;
	}
	free(x);
	free(y);
	return r;
}

static int same_dump(struct wm_fsm *f, struct wm_etcd_store *s, const char *what)
{
	char *x = NULL, *y = NULL;
	wm_fsm_dump(f, &x);
	wm_etcd_store_dump(s, &y);
	return dumps_equal(x, y, what, "raft", "etcd");
}

/* Both stores take cmd; 0 if they agree. */
static int both(struct wm_fsm *f, struct wm_etcd_store *s, uint64_t index, const char *what,
		const Webmesh__V1__RaftCommand *cmd)
{
	struct wm_store_result fr = {0};
	if (wm_fsm_apply_cmd(f, index, cmd, &fr) < 0) {
		printf("%s: the FSM failed\n", what);
		return -1;
	}
	done = false;
	memset(&got, 0, sizeof(got));
	unsigned fed_before = fed;
	int r = wm_etcd_store_apply(s, cmd, apply_cb, NULL);
	if (r < 0) {
		printf("%s: etcd store refused at once: %s\n", what, wm_strerror(r));
		return -1;
	}
	while (!done)
		uv_run(loop, UV_RUN_ONCE);
	printf("%s: raft %s / etcd %s\n", what, fr.err ? wm_strerror(fr.err) : "ok",
	       got.err ? wm_strerror(got.err) : "ok");
	if (fr.err != got.err) {
		printf("  raft: %s\n  etcd: %s\n", fr.message, got.message);
		return -1;
	}
	if (!got.err)
		accepted++;
	/* Liveness is each server's own marks on etcd; the feed says the marks
	 * all servers agree on, when they change (src/etcd/liveset.h):
	 * checked by live_check, not here. */
	bool live = cmd->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_LIVENESS;
	if (s == feed_store && !got.err && !live &&
	    (fed != fed_before + 1 || fed_case != (int)cmd->command_case ||
	     fed_index != got.index)) {
		printf("%s: the feed reported %u command(s), the last of kind %d at %llu; want "
		       "one of kind %d at %llu\n",
		       what, fed - fed_before, fed_case, (unsigned long long)fed_index,
		       (int)cmd->command_case, (unsigned long long)got.index);
		return -1;
	}
	if (s == feed_store && got.err && fed != fed_before) {
		printf("%s: a refused command was reported\n", what);
		return -1;
	}
	if (!fr.err && cmd->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE &&
	    !same_node(&fr.node, &got.node)) {
		show("raft", &fr.node);
		show("etcd", &got.node);
		return -1;
	}
	return same_dump(f, s, what);
}

static Webmesh__V1__RaftCommand join_cmd(Webmesh__V1__JoinNodeCommand *j, const char *id,
					 const char *key, const char *v4, char **eps, size_t n_eps,
					 char **routes, size_t n_routes, const char *zone)
{
	Webmesh__V1__RaftCommand c = WEBMESH__V1__RAFT_COMMAND__INIT;
	webmesh__v1__join_node_command__init(j);
	j->id = (char *)id;
	j->public_key = (char *)key;
	j->ipv4_request = (char *)(v4 ? v4 : "");
	j->endpoints = eps;
	j->n_endpoints = n_eps;
	j->routes = routes;
	j->n_routes = n_routes;
	j->listen_port = 51820;
	j->zone = (char *)(zone ? zone : "");
	j->joined_at = 100;
	j->full_mesh = true; /* as webmeshd's joins: the default edges */
	c.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE;
	c.join_node = j;
	return c;
}

/* Command builders: each fills a RaftCommand in storage the caller keeps. */
struct cmdbuf {
	Webmesh__V1__RaftCommand c;
	Webmesh__V1__PutEdgeCommand pe;
	Webmesh__V1__DeleteEdgeCommand de;
	Webmesh__V1__PutEdgeCommand__AttributesEntry attr, *attrs[1];
	Webmesh__V1__PutRoutesCommand pr;
	Webmesh__V1__DeleteRoutesCommand dr;
	Webmesh__V1__PutDnsRecordCommand pd;
	Webmesh__V1__DeleteDnsRecordCommand dd;
	Webmesh__V1__PutRoleCommand role;
	Webmesh__V1__PutRoleBindingCommand bind;
	Webmesh__V1__PutGroupCommand group;
	Webmesh__V1__PutNetworkACLCommand acl;
	Webmesh__V1__DeleteAuthzCommand da;
	Webmesh__V1__BootstrapAuthzCommand ba;
	Webmesh__V1__LivenessCommand lv;
	Webmesh__V1__RemoveNodeCommand rm;
	char *list[4];
};

static Webmesh__V1__RaftCommand *c_init(struct cmdbuf *b, Webmesh__V1__RaftCommand__CommandCase k)
{
	memset(b, 0, sizeof(*b));
	webmesh__v1__raft_command__init(&b->c);
	b->c.command_case = k;
	return &b->c;
}

static Webmesh__V1__RaftCommand *put_edge(struct cmdbuf *b, const char *x, const char *y, int w,
					  const char *ak, const char *av)
{
	c_init(b, WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE);
	webmesh__v1__put_edge_command__init(&b->pe);
	b->pe.source = (char *)x;
	b->pe.target = (char *)y;
	b->pe.weight = w;
	if (ak) {
		webmesh__v1__put_edge_command__attributes_entry__init(&b->attr);
		b->attr.key = (char *)ak;
		b->attr.value = (char *)av;
		b->attrs[0] = &b->attr;
		b->pe.attributes = b->attrs;
		b->pe.n_attributes = 1;
	}
	b->c.put_edge = &b->pe;
	return &b->c;
}

static Webmesh__V1__RaftCommand *del_edge(struct cmdbuf *b, const char *x, const char *y)
{
	c_init(b, WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_EDGE);
	webmesh__v1__delete_edge_command__init(&b->de);
	b->de.source = (char *)x;
	b->de.target = (char *)y;
	b->c.delete_edge = &b->de;
	return &b->c;
}

static Webmesh__V1__RaftCommand *routes(struct cmdbuf *b, bool put, const char *id, const char *r1,
					const char *r2, bool checked)
{
	c_init(b, put ? WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROUTES
		      : WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_ROUTES);
	b->list[0] = (char *)r1;
	b->list[1] = (char *)r2;
	size_t n = r2 ? 2 : r1 ? 1 : 0;
	if (put) {
		webmesh__v1__put_routes_command__init(&b->pr);
		b->pr.node_id = (char *)id;
		b->pr.routes = b->list;
		b->pr.n_routes = n;
		b->pr.route_claims_checked = checked;
		b->c.put_routes = &b->pr;
	} else {
		webmesh__v1__delete_routes_command__init(&b->dr);
		b->dr.node_id = (char *)id;
		b->dr.routes = b->list;
		b->dr.n_routes = n;
		b->c.delete_routes = &b->dr;
	}
	return &b->c;
}

static Webmesh__V1__RaftCommand *dns(struct cmdbuf *b, bool put, const char *name, const char *type,
				     const char *value)
{
	if (put) {
		c_init(b, WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_DNS_RECORD);
		webmesh__v1__put_dns_record_command__init(&b->pd);
		b->pd.name = (char *)name;
		b->pd.type = (char *)type;
		b->pd.value = (char *)value;
		b->c.put_dns_record = &b->pd;
	} else {
		c_init(b, WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_DNS_RECORD);
		webmesh__v1__delete_dns_record_command__init(&b->dd);
		b->dd.name = (char *)name;
		b->dd.type = (char *)type;
		b->dd.value = (char *)value;
		b->c.delete_dns_record = &b->dd;
	}
	return &b->c;
}

static Webmesh__V1__RaftCommand *role(struct cmdbuf *b, const char *name, const char *rules)
{
	c_init(b, WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE);
	webmesh__v1__put_role_command__init(&b->role);
	b->role.name = (char *)name;
	b->role.rules = (char *)rules;
	b->c.put_role = &b->role;
	return &b->c;
}

static Webmesh__V1__RaftCommand *binding(struct cmdbuf *b, const char *name, const char *r,
					 const char *subjects)
{
	c_init(b, WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE_BINDING);
	webmesh__v1__put_role_binding_command__init(&b->bind);
	b->bind.name = (char *)name;
	b->bind.role = (char *)r;
	b->bind.subjects = (char *)subjects;
	b->c.put_role_binding = &b->bind;
	return &b->c;
}

static Webmesh__V1__RaftCommand *group(struct cmdbuf *b, const char *name, const char *subjects)
{
	c_init(b, WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_GROUP);
	webmesh__v1__put_group_command__init(&b->group);
	b->group.name = (char *)name;
	b->group.subjects = (char *)subjects;
	b->c.put_group = &b->group;
	return &b->c;
}

static Webmesh__V1__RaftCommand *acl(struct cmdbuf *b, const char *name, int prio, const char *src,
				     const char *ports)
{
	c_init(b, WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_NETWORK_ACL);
	webmesh__v1__put_network_aclcommand__init(&b->acl);
	b->acl.name = (char *)name;
	b->acl.priority = prio;
	b->acl.accept = true;
	b->acl.source_nodes = (char *)src;
	b->acl.destination_nodes = "*";
	b->acl.protocols = "tcp";
	b->acl.ports = (char *)ports;
	b->c.put_network_acl = &b->acl;
	return &b->c;
}

static Webmesh__V1__RaftCommand *del_authz(struct cmdbuf *b, const char *kind, const char *name)
{
	c_init(b, WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_AUTHZ);
	webmesh__v1__delete_authz_command__init(&b->da);
	b->da.kind = (char *)kind;
	b->da.name = (char *)name;
	b->c.delete_authz = &b->da;
	return &b->c;
}

static Webmesh__V1__RaftCommand *boot_authz(struct cmdbuf *b, const char *admin)
{
	c_init(b, WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP_AUTHZ);
	webmesh__v1__bootstrap_authz_command__init(&b->ba);
	b->ba.admin = (char *)admin;
	b->ba.bootstrap_node = "node-b";
	b->list[0] = "node-b";
	b->ba.voters = b->list;
	b->ba.n_voters = 1;
	b->c.bootstrap_authz = &b->ba;
	return &b->c;
}

static Webmesh__V1__RaftCommand *liveness(struct cmdbuf *b, const char *who)
{
	c_init(b, WEBMESH__V1__RAFT_COMMAND__COMMAND_LIVENESS);
	webmesh__v1__liveness_command__init(&b->lv);
	b->list[0] = (char *)who;
	b->lv.unreachable = b->list;
	b->lv.n_unreachable = who ? 1 : 0;
	b->c.liveness = &b->lv;
	return &b->c;
}

static Webmesh__V1__RaftCommand *remove_cmd(struct cmdbuf *b, const char *id)
{
	c_init(b, WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE);
	webmesh__v1__remove_node_command__init(&b->rm);
	b->rm.id = (char *)id;
	b->c.remove_node = &b->rm;
	return &b->c;
}

/* Registers s as server id and runs the loop until etcd lists it: its
 * liveness marks go on its server lease. Bounded: the registration retries
 * every second, so each turn of the loop is an event of it. */
static int serve(struct wm_etcd_store *s, const char *id)
{
	if (wm_etcd_store_register_server(s, id, "127.0.0.1:8443", 10) < 0)
		return -1;
	for (int i = 0; i < 2000; i++) {
		struct wm_etcd_server *v;
		size_t n;
		bool found = false;
		if (wm_etcd_store_list_servers(s, &v, &n) < 0)
			return -1;
		for (size_t k = 0; k < n; k++)
			found = found || strcmp(v[k].node_id, id) == 0;
		free(v);
		if (found)
			return 0;
		uv_run(loop, UV_RUN_ONCE);
	}
	printf("server %s: never registered in etcd\n", id);
	return -1;
}

/* A second etcd store on the same mesh: it reads the mesh from the records
 * alone (no command history) and must hold the same state. */
static int reopen_same(struct wm_etcd_client *c, const char *mesh, struct wm_etcd_store *s,
		       const char *what)
{
	struct wm_etcd_store *s2;
	done = false;
	got.err = 0;
	if (wm_etcd_store_open(loop, c, mesh, ready_cb, NULL, &s2) < 0)
		return -1;
	while (!done)
		uv_run(loop, UV_RUN_ONCE);
	if (got.err < 0) {
		wm_etcd_store_close(s2);
		return -1;
	}
	char *x = NULL, *y = NULL;
	wm_etcd_store_dump(s, &x);
	wm_etcd_store_dump(s2, &y);
	wm_etcd_store_close(s2);
	int r = dumps_equal(x, y, what, "the etcd store", "a store loaded from etcd");
	printf("%s: %s\n", what, r == 0 ? "same" : "DIFFERENT");
	return r;
}

/* xorshift64*: the sequence depends on the seed alone, so a failing seed
 * replays. */
static uint64_t rng_state;
static unsigned rnd(unsigned n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (unsigned)((rng_state * 2685821657736338717ull) >> 33) % n;
}

/* A seeded random sequence over a few nodes, names and values, so that
 * commands meet each other's records: both stores compared after every
 * step, and a store loaded from etcd at the end. Returns the differences. */
static int random_run(struct wm_etcd_client *c, const char *mesh, uint64_t seed, int steps,
		      int *count)
{
	static const char *ids[] = {"r0", "r1", "r2", "r3", "r4", "r5"};
	static const char *keys[] = {"YNv0dxJDr9kH0OQOqWNaoajIVsR8fTBEbz1tWg8G2ng=",
				     "HrEkipF9rj3bi574T/xDAZkA5YvcpLKmJ9nfBFWumTM=",
				     "REH4xa48P0TtZCAHx1BwNslelGxusv41sCKkGacB5PQ=",
				     "BiR35gNORs2w8amawu/85J0754mZhWg2K9booGjlyH8=",
				     "Kh8bU4cijsnrndmreSRdRe97IbOj2CFTDxM6j1x2e0s=",
				     "h4d8lWRQ9s/gFdsnzIk9A6M3vzuuH9X1E1lLTY2gvbY="};
	static const char *nets[] = {"172.20.0.0/16", "172.20.1.0/24", "192.168.50.0/24",
				     "10.200.0.0/16", "10.250.0.0/16"};
	static const char *names[] = {"www", "api", "db"};
	static const char *types[] = {"A", "CNAME", "TXT"};
	static const char *vals[3][2] = {{"10.30.0.7", "10.30.0.8"},
					 {"www.rand.internal", "api.rand.internal"},
					 {"v=1", "hello"}};
	static const char *roles[] = {"ra", "rb"};
	char err[256], what[160];
	struct wm_fsm *f;
	struct wm_etcd_store *s;
	int bad = 0;

	rng_state = seed ? seed : 1;
	if (wm_fsm_open(":memory:", &f, err, sizeof(err)) < 0)
		return 1;
	done = false;
	if (wm_etcd_store_open(loop, c, mesh, ready_cb, NULL, &s) < 0) {
		wm_fsm_close(f);
		return 1;
	}
	while (!done)
		uv_run(loop, UV_RUN_ONCE);
	if (serve(s, "conform-random") < 0) {
		wm_etcd_store_close(s);
		wm_fsm_close(f);
		return 1;
	}
	wm_etcd_store_on_change(s, feed_cb, NULL);
	feed_store = s;
	uint64_t idx = 1;
	Webmesh__V1__BootstrapMeshCommand b = WEBMESH__V1__BOOTSTRAP_MESH_COMMAND__INIT;
	Webmesh__V1__RaftCommand bc = WEBMESH__V1__RAFT_COMMAND__INIT;
	b.network_ipv4 = "10.30.0.0/24";
	b.network_ipv6 = "fd30:1:2::/48";
	b.domain = "rand.internal";
	/* A full mesh: in a manual one a join's default edges depend on the
	 * zones and roles of the nodes at the time, which a store loading from
	 * etcd does not know (docs/ARCHITECTURE.md, etcd layout). */
	b.topology = "full";
	b.created_at = 1;
	bc.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP;
	bc.bootstrap = &b;
	struct cmdbuf cb;
	(*count) += 2;
	if (both(f, s, idx++, "random: bootstrap", &bc) < 0 ||
	    both(f, s, idx++, "random: bootstrap RBAC", boot_authz(&cb, "admin")) < 0)
		bad++;
	for (int i = 0; i < steps && bad < 5; i++) {
		unsigned x = rnd(6), y = rnd(6), k = rnd(16);
		const char *a = ids[x], *bb = ids[y];
		Webmesh__V1__RaftCommand *cmd = NULL, jc;
		Webmesh__V1__JoinNodeCommand j;
		Webmesh__V1__DenyNodeCommand dn = WEBMESH__V1__DENY_NODE_COMMAND__INIT;
		Webmesh__V1__AllowNodeCommand al = WEBMESH__V1__ALLOW_NODE_COMMAND__INIT;
		char *rt[1] = {(char *)nets[rnd(5)]};
		char *ep[1] = {"192.0.2.1:51820"};
		unsigned t = rnd(3);
		switch (k) {
		case 0:
		case 1:
		case 2:
			jc = join_cmd(&j, a, keys[rnd(4) ? x : y], NULL, ep, 1, rt, rnd(3) == 0,
				      rnd(2) ? "z1" : NULL);
			j.full_mesh = rnd(4) != 0;
			j.via = rnd(2) ? (char *)bb : "";
			j.raft_role = (int)rnd(2);
			if (rnd(4) == 0) {
				/* An IPAM plugin's address: free or taken. */
				static char want[16];
				snprintf(want, sizeof(want), "10.30.0.%u", 1 + rnd(8));
				j.ipv4_request = want;
				j.ipv4_request_strict = rnd(2);
			}
			cmd = &jc;
			break;
		case 3:
			cmd = remove_cmd(&cb, a);
			break;
		case 4:
			cmd = put_edge(&cb, a, bb, 1 + (int)rnd(9), rnd(2) ? "ice" : NULL, "true");
			break;
		case 5:
			cmd = del_edge(&cb, a, bb);
			break;
		case 6:
			cmd = routes(&cb, true, a, nets[rnd(5)], rnd(2) ? nets[rnd(5)] : NULL,
				     rnd(2));
			break;
		case 7:
			cmd = routes(&cb, false, a, nets[rnd(5)], NULL, false);
			break;
		case 8:
			cmd = dns(&cb, true, names[rnd(3)], types[t], vals[t][rnd(2)]);
			break;
		case 9:
			cmd = dns(&cb, false, names[rnd(3)], types[t],
				  rnd(2) ? vals[t][rnd(2)] : "");
			break;
		case 10:
			cmd = role(&cb, roles[rnd(2)], rnd(2) ? "get:edges:" : "get,put:routes:");
			break;
		case 11:
			cmd = rnd(2) ? binding(&cb, "bind", roles[rnd(2)], "group:ops")
				     : group(&cb, "ops", rnd(2) ? "user:dave" : "user:erin");
			break;
		case 12: {
			static const char *kinds[] = {"roles", "rolebindings", "groups"};
			static const char *objs[] = {"ra", "bind", "ops"};
			unsigned q = rnd(3);
			cmd = del_authz(&cb, kinds[q], q == 0 ? roles[rnd(2)] : objs[q]);
			break;
		}
		case 13:
			cmd = acl(&cb, rnd(2) ? "web" : "db", (int)rnd(5), a, "80");
			break;
		case 14:
			c_init(&cb, rnd(2) ? WEBMESH__V1__RAFT_COMMAND__COMMAND_DENY_NODE
					   : WEBMESH__V1__RAFT_COMMAND__COMMAND_ALLOW_NODE);
			dn.node_id = al.node_id = (char *)a;
			dn.by = "admin";
			cb.c.deny_node = &dn;
			if (cb.c.command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_ALLOW_NODE) {
				cb.c.deny_node = NULL;
				cb.c.allow_node = &al;
			}
			cmd = &cb.c;
			break;
		default:
			cmd = liveness(&cb, a);
			break;
		}
		snprintf(what, sizeof(what), "random %d (seed %llu, kind %u)", i,
			 (unsigned long long)seed, k);
		(*count)++;
		if (both(f, s, idx++, what, cmd) < 0)
			bad++;
	}
	(*count)++;
	if (reopen_same(c, mesh, s, "random: reload") < 0)
		bad++;
	/* Another store may be given its address later. */
	feed_store = NULL;
	wm_etcd_store_close(s);
	wm_fsm_close(f);
	return bad;
}

/* Two stores on one mesh, each given a command at the same time; both run
 * to the end. */
static struct wm_store_result race_res[2];
static int race_done;
static void race_cb(void *data, const struct wm_store_result *res)
{
	race_res[(intptr_t)data] = *res;
	race_done++;
	uv_stop(loop);
}

static int race(struct wm_etcd_store *s1, struct wm_etcd_store *s2,
		const Webmesh__V1__RaftCommand *c1, const Webmesh__V1__RaftCommand *c2)
{
	race_done = 0;
	memset(race_res, 0, sizeof(race_res));
	if (wm_etcd_store_apply(s1, c1, race_cb, (void *)0) < 0 ||
	    wm_etcd_store_apply(s2, c2, race_cb, (void *)1) < 0)
		return -1;
	while (race_done < 2)
		uv_run(loop, UV_RUN_ONCE);
	return 0;
}

/* Commands whose checks read more than their own keys (routes against every
 * node's routes), given to two servers at once: exactly one may win, the
 * loser is refused as the Raft store refuses the second of the two, and the
 * two replicas (and the Raft FSM given the winner) stay equal. Returns the
 * differences. */
static int race_run(struct wm_etcd_client *c, const char *mesh, int *count)
{
	struct wm_etcd_store *s[2];
	struct wm_fsm *f;
	char err[256];
	int bad = 0;
	uint64_t idx = 1;
	if (wm_fsm_open(":memory:", &f, err, sizeof(err)) < 0)
		return 1;
	for (int i = 0; i < 2; i++) {
		done = false;
		if (wm_etcd_store_open(loop, c, mesh, ready_cb, NULL, &s[i]) < 0)
			return 1;
		while (!done)
			uv_run(loop, UV_RUN_ONCE);
		if (serve(s[i], i ? "conform-race1" : "conform-race0") < 0)
			return 1;
	}
	Webmesh__V1__BootstrapMeshCommand b = WEBMESH__V1__BOOTSTRAP_MESH_COMMAND__INIT;
	Webmesh__V1__RaftCommand bc = WEBMESH__V1__RAFT_COMMAND__INIT;
	b.network_ipv4 = "10.40.0.0/24";
	b.network_ipv6 = "fd40:1:2::/48";
	b.domain = "race.internal";
	b.created_at = 1;
	bc.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP;
	bc.bootstrap = &b;
	Webmesh__V1__JoinNodeCommand j;
	Webmesh__V1__RaftCommand jc;
	char *ep[] = {"192.0.2.1:51820"};
	static const char *keys[] = {"YNv0dxJDr9kH0OQOqWNaoajIVsR8fTBEbz1tWg8G2ng=",
				     "HrEkipF9rj3bi574T/xDAZkA5YvcpLKmJ9nfBFWumTM=",
				     "REH4xa48P0TtZCAHx1BwNslelGxusv41sCKkGacB5PQ=",
				     "BiR35gNORs2w8amawu/85J0754mZhWg2K9booGjlyH8="};
	static const char *ids[] = {"q0", "q1", "q2", "q3"};
	*count += 3;
	if (both(f, s[0], idx++, "race: bootstrap", &bc) < 0 ||
	    both(f, s[0], idx++, "race: join q0",
		 (jc = join_cmd(&j, ids[0], keys[0], NULL, ep, 1, NULL, 0, NULL), &jc)) < 0 ||
	    both(f, s[0], idx++, "race: join q1",
		 (jc = join_cmd(&j, ids[1], keys[1], NULL, ep, 1, NULL, 0, NULL), &jc)) < 0)
		bad++;
	/* A node joined through one server and removed at once through the
	 * other, whose cache may not hold it yet: etcd decides, not the cache. */
	for (int i = 0; i < 5 && !bad; i++) {
		*count += 2;
		if (both(f, s[0], idx++, "race: join q9",
			 (jc = join_cmd(&j, "q9", "Kh8bU4cijsnrndmreSRdRe97IbOj2CFTDxM6j1x2e0s=",
					NULL, ep, 1, NULL, 0, NULL),
			  &jc)) < 0)
			bad++;
		struct cmdbuf rb;
		if (both(f, s[1], idx++, "race: remove q9 through the other server",
			 remove_cmd(&rb, "q9")) < 0)
			bad++;
	}
	for (int round = 0; round < 20 && !bad; round++) {
		struct cmdbuf x, y;
		Webmesh__V1__JoinNodeCommand jx;
		Webmesh__V1__RaftCommand jxc, *c1, *c2;
		char net[32], *rt[1] = {net};
		snprintf(net, sizeof(net), "10.%d.0.0/16", 100 + round);
		/* Even rounds: two PutRoutes; odd: a PutRoutes and a join
		 * (the guarded join path) claiming the same network. */
		c1 = routes(&x, true, ids[0], net, NULL, true);
		if (round % 2 == 0) {
			c2 = routes(&y, true, ids[1], net, NULL, true);
		} else {
			jxc = join_cmd(&jx, ids[2 + (round / 2) % 2], keys[2 + (round / 2) % 2],
				       NULL, ep, 1, rt, 1, NULL);
			jx.route_claims_checked = true;
			c2 = &jxc;
		}
		(*count)++;
		if (race(s[0], s[1], c1, c2) < 0) {
			bad++;
			break;
		}
		int wins = (race_res[0].err == 0) + (race_res[1].err == 0);
		/* The Raft FSM gets them in etcd's order: the loser's refusal
		 * must be the one the FSM gives the second. */
		int first = race_res[0].err == 0 ? 0 : 1;
		const Webmesh__V1__RaftCommand *order[2] = {first == 0 ? c1 : c2,
							    first == 0 ? c2 : c1};
		struct wm_store_result fr[2];
		for (int i = 0; i < 2; i++)
			wm_fsm_apply_cmd(f, idx++, order[i], &fr[i]);
		printf("race %d: %s / %s (raft in that order: %s / %s)\n", round,
		       race_res[0].err ? wm_strerror(race_res[0].err) : "ok",
		       race_res[1].err ? wm_strerror(race_res[1].err) : "ok",
		       fr[0].err ? wm_strerror(fr[0].err) : "ok",
		       fr[1].err ? wm_strerror(fr[1].err) : "ok");
		if (wins != 1 || fr[0].err != 0 || fr[1].err != race_res[1 - first].err) {
			printf("race %d: want exactly one winner, refused as the FSM refuses "
			       "(%s / %s)\n",
			       round, race_res[0].message, race_res[1].message);
			bad++;
		}
		/* Then the routes go, so that the next round starts clean. */
		struct cmdbuf dz;
		const char *who =
			first == 0							    ? ids[0]
			: c2->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROUTES ? ids[1]
											    : NULL;
		(*count)++;
		if (who && both(f, s[0], idx++, "race: drop the winner's route",
				routes(&dz, false, who, net, NULL, false)) < 0)
			bad++;
		if (!who && both(f, s[0], idx++, "race: remove the joined node",
				 remove_cmd(&dz, jx.id)) < 0)
			bad++;
		char *d0 = NULL, *d1 = NULL;
		/* The other store has seen it all once it saw a write after it. */
		(*count)++;
		if (both(f, s[1], idx++, "race: liveness through the other store",
			 liveness(&dz, NULL)) < 0)
			bad++;
		wm_etcd_store_dump(s[0], &d0);
		wm_etcd_store_dump(s[1], &d1);
		if (dumps_equal(d0, d1, "race", "one server", "the other") < 0)
			bad++;
	}
	for (int i = 0; i < 2; i++)
		wm_etcd_store_close(s[i]);
	wm_fsm_close(f);
	return bad;
}

int main(int argc, char **argv)
{
	char err[256];
	struct wm_etcd_client *c;
	struct wm_etcd_store *s;
	struct wm_fsm *f;

	if (argc < 3 || argc > 5) {
		fprintf(stderr, "usage: etcd_conform ENDPOINTS MESH [SEED [STEPS]]\n");
		return 2;
	}
	uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 12;
	int steps = argc > 4 ? atoi(argv[4]) : 200;
	if (steps < 0 || steps > 100000 || strlen(argv[2]) > 40) {
		fprintf(stderr, "etcd_conform: STEPS 0-100000, MESH at most 40 characters\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	loop = uv_default_loop();
	struct wm_etcd_config cfg = {.endpoints = argv[1], .timeout_ms = 3000, .log = log_cb};
	if (wm_etcd_client_new(loop, &cfg, &c, err, sizeof(err)) < 0 ||
	    wm_fsm_open(":memory:", &f, err, sizeof(err)) < 0) {
		fprintf(stderr, "etcd_conform: %s\n", err);
		return 2;
	}
	if (wm_etcd_store_open(loop, c, argv[2], ready_cb, NULL, &s) < 0)
		return 2;
	while (!done)
		uv_run(loop, UV_RUN_ONCE);
	if (got.err < 0 || serve(s, "conform-main") < 0)
		return 2;
	wm_etcd_store_on_change(s, feed_cb, NULL);
	feed_store = s;

	const char *ka = "YNv0dxJDr9kH0OQOqWNaoajIVsR8fTBEbz1tWg8G2ng=";
	const char *kb = "HrEkipF9rj3bi574T/xDAZkA5YvcpLKmJ9nfBFWumTM=";
	const char *kc = "REH4xa48P0TtZCAHx1BwNslelGxusv41sCKkGacB5PQ=";
	const char *kd = "BiR35gNORs2w8amawu/85J0754mZhWg2K9booGjlyH8=";
	const char *ke = "Kh8bU4cijsnrndmreSRdRe97IbOj2CFTDxM6j1x2e0s=";
	char *ep1[] = {"192.0.2.1:51820"}, *ep2[] = {"192.0.2.9:51821", "[2001:db8::1]:51820"};
	char *rt_ok[] = {"192.168.10.7/24"}, *rt_in[] = {"10.9.0.0/30"};
	Webmesh__V1__JoinNodeCommand j;
	Webmesh__V1__RaftCommand cmd;
	uint64_t idx = 1;
	int bad = 0, n = 0;

	Webmesh__V1__BootstrapMeshCommand b = WEBMESH__V1__BOOTSTRAP_MESH_COMMAND__INIT;
	Webmesh__V1__RaftCommand bc = WEBMESH__V1__RAFT_COMMAND__INIT;
	b.network_ipv4 = "10.9.0.0/29"; /* six hosts: exhaustion is near */
	b.network_ipv6 = "fd09:1:2::/48";
	b.domain = "mesh.internal";
	b.created_at = 1;
	bc.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP;
	bc.bootstrap = &b;
#define BOTH(what, c)                                                                              \
	do {                                                                                       \
		n++;                                                                               \
		if (both(f, s, idx++, what, c) < 0)                                                \
			bad++;                                                                     \
	} while (0)
	BOTH("join before bootstrap",
	     (cmd = join_cmd(&j, "early", ka, NULL, ep1, 1, NULL, 0, NULL), &cmd));
	b.network_ipv6 = "fd09:1:2::/64";
	BOTH("bootstrap with a /64", &bc);
	b.network_ipv6 = "fd09:1:2::/48";
	BOTH("bootstrap", &bc);
	BOTH("bootstrap again", &bc);
	BOTH("join a", (cmd = join_cmd(&j, "node-a", ka, NULL, ep1, 1, rt_ok, 1, "z1"), &cmd));
	BOTH("join b asking for .5",
	     (cmd = join_cmd(&j, "node-b", kb, "10.9.0.5", ep2, 2, NULL, 0, NULL), &cmd));
	BOTH("join c asking for b's .5",
	     (cmd = join_cmd(&j, "node-c", kc, "10.9.0.5", ep1, 1, NULL, 0, NULL), &cmd));
	BOTH("rejoin a, new endpoints and zone",
	     (cmd = join_cmd(&j, "node-a", ka, NULL, ep2, 2, NULL, 0, "z2"), &cmd));
	BOTH("a's ID with b's key",
	     (cmd = join_cmd(&j, "node-a", kb, NULL, ep1, 1, NULL, 0, NULL), &cmd));
	BOTH("b's key under a new ID",
	     (cmd = join_cmd(&j, "node-x", kb, NULL, ep1, 1, NULL, 0, NULL), &cmd));
	BOTH("invalid ID",
	     (cmd = join_cmd(&j, "Not Valid", kd, NULL, ep1, 1, NULL, 0, NULL), &cmd));
	BOTH("invalid key",
	     (cmd = join_cmd(&j, "node-d", "nope", NULL, ep1, 1, NULL, 0, NULL), &cmd));
	BOTH("route inside the mesh",
	     (cmd = join_cmd(&j, "node-d", kd, NULL, ep1, 1, rt_in, 1, NULL), &cmd));
	BOTH("address outside the network",
	     (cmd = join_cmd(&j, "node-d", kd, "10.8.0.1", ep1, 1, NULL, 0, NULL), &cmd));
	char *self_exit = "node-d";
	cmd = join_cmd(&j, "node-d", kd, NULL, ep1, 1, NULL, 0, NULL);
	j.exit_node = self_exit;
	BOTH("exit node names itself", &cmd);
	BOTH("join d", (cmd = join_cmd(&j, "node-d", kd, NULL, ep1, 1, NULL, 0, NULL), &cmd));
	Webmesh__V1__RemoveNodeCommand rm = WEBMESH__V1__REMOVE_NODE_COMMAND__INIT;
	Webmesh__V1__RaftCommand rc = WEBMESH__V1__RAFT_COMMAND__INIT;
	rc.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE;
	rc.remove_node = &rm;
	rm.id = "node-a";
	BOTH("remove a", &rc);
	BOTH("remove a again", &rc);
	Webmesh__V1__DenyNodeCommand dn = WEBMESH__V1__DENY_NODE_COMMAND__INIT;
	Webmesh__V1__AllowNodeCommand al = WEBMESH__V1__ALLOW_NODE_COMMAND__INIT;
	Webmesh__V1__RaftCommand dc = WEBMESH__V1__RAFT_COMMAND__INIT;
	Webmesh__V1__RaftCommand ac = WEBMESH__V1__RAFT_COMMAND__INIT;
	dc.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DENY_NODE;
	dc.deny_node = &dn;
	ac.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_ALLOW_NODE;
	ac.allow_node = &al;
	dn.node_id = "node-a";
	dn.by = "admin";
	dn.denied_at = 5;
	al.node_id = "node-a";
	BOTH("deny a", &dc);
	BOTH("join a while denied",
	     (cmd = join_cmd(&j, "node-a", ka, NULL, ep1, 1, NULL, 0, NULL), &cmd));
	BOTH("join a while denied, with a bad key",
	     (cmd = join_cmd(&j, "node-a", "nope", NULL, ep1, 1, NULL, 0, NULL), &cmd));
	BOTH("allow a", &ac);
	BOTH("allow a again", &ac);
	dn.node_id = "Bad ID";
	BOTH("deny an invalid ID", &dc);
	BOTH("join e takes a's address",
	     (cmd = join_cmd(&j, "node-e", ke, NULL, ep1, 1, NULL, 0, NULL), &cmd));
	const char *more[] = {"m1", "m2", "m3", "m4"};
	const char *mk[] = {"h4d8lWRQ9s/gFdsnzIk9A6M3vzuuH9X1E1lLTY2gvbY=",
			    "BXLv7GRQlUzdAIMa3EAReHj3kATceo91HhrgWOgBzsM=",
			    "VS/r0N74okgfOmucQ0dLuJGMiLVlWhIvKfw2+ZgdJLE=",
			    "2QrRUbYLKwIoSLxQ/3O4JwwtzyhpJSCqDgnTsyQOM10="};
	cmd = join_cmd(&j, "m0", mk[0], "10.9.0.5", ep1, 1, NULL, 0, NULL);
	j.ipv4_request_strict = true;
	BOTH("an IPAM plugin's address that is taken", &cmd);
	for (size_t i = 0; i < 4; i++) /* the last one finds the network full */
		BOTH(more[i],
		     (cmd = join_cmd(&j, more[i], mk[i], NULL, ep1, 1, NULL, 0, NULL), &cmd));

	/* Edges: the full mesh's implied edges, explicit ones, refusals. */
	struct cmdbuf cb;
	BOTH("edge b-e weight 5 with an attribute",
	     put_edge(&cb, "node-b", "node-e", 5, "ice", "true"));
	BOTH("edge b-e again, weight 7", put_edge(&cb, "node-b", "node-e", 7, NULL, NULL));
	BOTH("edge to an unknown node", put_edge(&cb, "node-b", "ghost", 1, NULL, NULL));
	BOTH("edge to itself", put_edge(&cb, "node-b", "node-b", 1, NULL, NULL));
	BOTH("edge weight 0", put_edge(&cb, "node-b", "node-e", 0, NULL, NULL));
	BOTH("edge with a bad attribute key", put_edge(&cb, "node-b", "node-e", 2, "bad key", "x"));
	BOTH("edge with an invalid ID", put_edge(&cb, "Bad ID", "node-e", 2, NULL, NULL));
	BOTH("delete the implied edge c-d", del_edge(&cb, "node-d", "node-c"));
	BOTH("delete it again", del_edge(&cb, "node-c", "node-d"));
	BOTH("delete edge b-e", del_edge(&cb, "node-e", "node-b"));
	BOTH("delete an edge of an unknown node", del_edge(&cb, "node-e", "ghost"));
	BOTH("delete an edge with an invalid ID", del_edge(&cb, "node-e", "Bad ID"));
	BOTH("put edge c-d back", put_edge(&cb, "node-c", "node-d", 3, NULL, NULL));
	/* Routes. */
	BOTH("routes of b", routes(&cb, true, "node-b", "172.16.0.0/16", "192.168.99.1/24", true));
	BOTH("routes of b again", routes(&cb, true, "node-b", "172.16.0.0/16", NULL, true));
	BOTH("route of c overlapping b's",
	     routes(&cb, true, "node-c", "172.16.5.0/24", NULL, true));
	BOTH("route of c overlapping, unchecked",
	     routes(&cb, true, "node-c", "172.16.6.0/24", NULL, false));
	BOTH("route inside the mesh", routes(&cb, true, "node-c", "10.9.0.0/30", NULL, true));
	BOTH("route not a prefix", routes(&cb, true, "node-c", "nope", NULL, true));
	BOTH("routes of an unknown node", routes(&cb, true, "ghost", "10.200.0.0/16", NULL, true));
	BOTH("no route given", routes(&cb, true, "node-c", NULL, NULL, true));
	BOTH("delete b's 192.168.99.0/24",
	     routes(&cb, false, "node-b", "192.168.99.0/24", NULL, true));
	BOTH("delete it again", routes(&cb, false, "node-b", "192.168.99.0/24", NULL, true));
	BOTH("delete routes of an unknown node",
	     routes(&cb, false, "ghost", "10.1.0.0/16", NULL, true));
	BOTH("delete a route that is not a prefix",
	     routes(&cb, false, "node-b", "x/99", NULL, true));
	BOTH("delete d's own route", routes(&cb, false, "node-c", "172.16.6.0/24", NULL, true));
	/* A join's own routes against the routes others advertise. */
	char *rt_over[] = {"172.16.9.0/24"}, *rt_free[] = {"10.123.0.0/16"};
	cmd = join_cmd(&j, "node-d", kd, NULL, ep1, 1, rt_over, 1, NULL);
	j.route_claims_checked = true;
	BOTH("rejoin d with a route overlapping b's", &cmd);
	cmd = join_cmd(&j, "node-d", kd, NULL, ep1, 1, rt_free, 1, NULL);
	j.route_claims_checked = true;
	BOTH("rejoin d with a route of its own", &cmd);
	cmd = join_cmd(&j, "node-d", kd, NULL, ep1, 1, rt_over, 1, NULL);
	BOTH("rejoin d overlapping, unchecked", &cmd);
	BOTH("routes of b overlapping d's now",
	     routes(&cb, true, "node-b", "172.16.9.128/25", NULL, true));
	cmd = join_cmd(&j, "node-d", kd, NULL, ep1, 1, rt_free, 1, NULL);
	BOTH("rejoin d back to its own route", &cmd);
	/* 31 routes put behind d, then a rejoin with 2 of its own: 33. */
	static char many[31][24];
	for (int i = 0; i < 31; i++) {
		snprintf(many[i], sizeof(many[i]), "10.%d.0.0/16", 130 + i);
		BOTH("a route behind d", routes(&cb, true, "node-d", many[i], NULL, true));
	}
	char *rt_two[] = {"10.123.0.0/16", "10.124.0.0/16"};
	cmd = join_cmd(&j, "node-d", kd, NULL, ep1, 1, rt_two, 2, NULL);
	BOTH("rejoin d with its routes and those put: too many", &cmd);
	BOTH("delete the route behind d", routes(&cb, false, "node-d", many[0], NULL, true));
	/* DNS. */
	BOTH("dns A www", dns(&cb, true, "www", "A", "10.9.0.2"));
	BOTH("dns A www again, a second value",
	     dns(&cb, true, "www.mesh.internal.", "a", "10.9.0.3"));
	BOTH("dns A www, the same value again", dns(&cb, true, "www", "A", "10.9.0.2"));
	BOTH("dns TXT www", dns(&cb, true, "www", "TXT", "hello world"));
	BOTH("dns CNAME at www", dns(&cb, true, "www", "CNAME", "other.mesh.internal"));
	BOTH("dns CNAME api", dns(&cb, true, "api", "CNAME", "www.mesh.internal"));
	BOTH("dns A at the CNAME api", dns(&cb, true, "api", "A", "10.9.0.4"));
	BOTH("dns bad type", dns(&cb, true, "x", "MX", "mail"));
	BOTH("dns bad A value", dns(&cb, true, "x", "A", "not-an-ip"));
	BOTH("dns bad name", dns(&cb, true, "bad..name", "A", "10.9.0.4"));
	BOTH("dns delete one A of www", dns(&cb, false, "www", "A", "10.9.0.3"));
	BOTH("dns delete it again", dns(&cb, false, "www", "A", "10.9.0.3"));
	BOTH("dns delete every TXT of www", dns(&cb, false, "www", "TXT", ""));
	BOTH("dns delete a missing type", dns(&cb, false, "www", "AAAA", ""));
	/* RBAC. */
	BOTH("put a role before RBAC is bootstrapped", role(&cb, "edge-editor", "get,put:edges:"));
	BOTH("bootstrap RBAC with an invalid admin", boot_authz(&cb, "bad admin!"));
	BOTH("bootstrap RBAC", boot_authz(&cb, "admin"));
	BOTH("bootstrap RBAC again", boot_authz(&cb, "admin"));
	BOTH("put a role", role(&cb, "edge-editor", "get,put:edges:"));
	BOTH("change the role", role(&cb, "edge-editor", "get:edges:"));
	BOTH("put a built-in role", role(&cb, "mesh-admin", "get:nodes:"));
	BOTH("put a role with bad rules", role(&cb, "bad", "fly:nodes:"));
	BOTH("put a role with a bad name", role(&cb, "bad name", "get:nodes:"));
	BOTH("put a group", group(&cb, "ops", "user:dave"));
	BOTH("put a group with a bad subject", group(&cb, "g", "robot:x"));
	BOTH("bind the role", binding(&cb, "ops-edges", "edge-editor", "group:ops"));
	BOTH("bind an unknown role", binding(&cb, "x", "no-such-role", "all"));
	BOTH("delete the bound role", del_authz(&cb, "roles", "edge-editor"));
	BOTH("put an ACL", acl(&cb, "web", 10, "node-b", "80,443"));
	BOTH("put an ACL with a bad node", acl(&cb, "a", 1, "Bad_Node", ""));
	BOTH("delete the binding", del_authz(&cb, "rolebindings", "ops-edges"));
	BOTH("delete the role", del_authz(&cb, "roles", "edge-editor"));
	BOTH("delete it again", del_authz(&cb, "roles", "edge-editor"));
	BOTH("delete an unknown kind", del_authz(&cb, "widgets", "x"));
	BOTH("delete a built-in role", del_authz(&cb, "roles", "mesh-admin"));
	BOTH("delete the ACL", del_authz(&cb, "networkacls", "web"));
	/* Liveness: soft state, nothing stored. */
	BOTH("liveness", liveness(&cb, "node-c"));
	/* This store is the only server with marks: its marks are in force,
	 * and the feed said so by the time the command's callback ran. */
	n++;
	if (strcmp(fed_marks, "node-c") != 0 ||
	    fed_case != WEBMESH__V1__RAFT_COMMAND__COMMAND_LIVENESS) {
		printf("liveness: the feed said marks \"%s\", want \"node-c\"\n", fed_marks);
		bad++;
	}
	BOTH("liveness: none", liveness(&cb, NULL));
	n++;
	if (fed_marks[0]) {
		printf("liveness: the feed said marks \"%s\", want none\n", fed_marks);
		bad++;
	}
	/* A node removed with its edges and routes; back as a new node it has
	 * none of them (the old records are stale). */
	BOTH("put edge c-e", put_edge(&cb, "node-c", "node-e", 9, NULL, NULL));
	BOTH("routes of c", routes(&cb, true, "node-c", "10.77.0.0/16", NULL, true));
	BOTH("remove c", remove_cmd(&cb, "node-c"));
	BOTH("edge to removed c", put_edge(&cb, "node-c", "node-e", 9, NULL, NULL));
	BOTH("c joins again",
	     (cmd = join_cmd(&j, "node-c", kc, NULL, ep1, 1, NULL, 0, NULL), &cmd));
	if (reopen_same(c, argv[2], s, "reload after the fixed commands") < 0)
		bad++;
	n++;
	/* The feed reported each command the store took, once. */
	if (fed != accepted) {
		printf("the change feed reported %u commands, the store took %u\n", fed, accepted);
		bad++;
	}
	/* Everything stored, node by node. */
	struct wm_mesh_node *fv, *ev;
	size_t fn, en;
	if (wm_fsm_list_nodes(f, &fv, &fn) < 0 || wm_etcd_store_list_nodes(s, &ev, &en) < 0)
		return 2;
	if (fn != en) {
		printf("raft has %zu nodes, etcd %zu\n", fn, en);
		bad++;
	}
	for (size_t i = 0; i < fn && i < en; i++)
		if (!same_node(&fv[i], &ev[i])) {
			show("raft", &fv[i]);
			show("etcd", &ev[i]);
			bad++;
		}
	free(fv);
	free(ev);
	wm_etcd_store_close(s);
	char rmesh[64];
	snprintf(rmesh, sizeof(rmesh), "%s-rand", argv[2]);
	bad += random_run(c, rmesh, seed, steps, &n);
	snprintf(rmesh, sizeof(rmesh), "%s-race", argv[2]);
	bad += race_run(c, rmesh, &n);
	wm_etcd_client_free(c);
	wm_fsm_close(f);
	uv_run(loop, UV_RUN_DEFAULT);
	if (logged) {
		printf("conform: %u stored command(s) refused by a replica\n", logged);
		bad++;
	}
	if (bad) {
		printf("conform: %d difference(s)\n", bad);
		return 1;
	}
	printf("conform ok %d\n", n);
	return 0;
}
