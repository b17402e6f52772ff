/* What one change costs a server's subscribers at 10,000 members: every
 * member's peer set recomputed (what a server did before) against the sets
 * whose inputs changed (wm_peer_graph_inputs), for the changes bench/scale
 * makes: a join, an edge between two members put and deleted, a route put.
 * The mesh is bench/scale's: 3 servers linked to one another, each member
 * linked to one server (--topology manual), the mesh networks summarised.
 *
 * Prints per change the CPU time of building the graph and of a server's own
 * set (paid once per change either way), then how many members' sets each
 * way computes (a server's subscribers are members), each as a server does
 * before it can tell whether a set changed (message built, packed, hashed),
 * and the CPU time that takes; exits 1 if a change recomputes more sets than
 * it affects (a join touches the joiner's, an edge the two ends' only), 2 on
 * a failure. The times are printed, not checked: they are CPU times on a
 * shared machine.
 *
 * Usage: build/wm-peersets [--members 10000] [--rounds 5]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/hash.h"
#include "core/peers.h"
#include "services/convert.h"
#include "util/arena.h"

#define SERVERS 3

struct mesh {
	struct wm_mesh_node *nodes;
	size_t n, cap;
	struct wm_mesh_edge *edges;
	size_t n_edges, cap_edges;
};

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void add_node(struct mesh *m, const char *prefix, size_t i)
{
	struct wm_mesh_node *nd = &m->nodes[m->n++];

	memset(nd, 0, sizeof(*nd));
	snprintf(nd->id, sizeof(nd->id), "%s%05zu", prefix, i);
	nd->public_key[0] = (uint8_t)i;
	nd->public_key[1] = (uint8_t)(i >> 8);
	nd->public_key[2] = prefix[0] == 's';
	nd->ipv4 = wm_prefix_from_ipv4_u32(0xac100001u + (uint32_t)m->n, 32);
	nd->endpoints[0].ip = wm_prefix_from_ipv4_u32(0xc0000200u + (uint32_t)(i % 250), 32);
	nd->endpoints[0].port = 51820;
	nd->n_endpoints = 1;
}

static void add_edge(struct mesh *m, size_t a, size_t b)
{
	struct wm_mesh_edge *e = &m->edges[m->n_edges++];

	memset(e, 0, sizeof(*e));
	memcpy(e->source, m->nodes[a].id, sizeof(e->source));
	memcpy(e->target, m->nodes[b].id, sizeof(e->target));
	e->weight = 1;
}

static int copy_mesh(struct mesh *dst, const struct mesh *src)
{
	dst->nodes = malloc(src->cap * sizeof(*dst->nodes));
	dst->edges = malloc(src->cap_edges * sizeof(*dst->edges));
	if (!dst->nodes || !dst->edges)
		return -ENOMEM;
	memcpy(dst->nodes, src->nodes, src->n * sizeof(*dst->nodes));
	memcpy(dst->edges, src->edges, src->n_edges * sizeof(*dst->edges));
	dst->n = src->n;
	dst->cap = src->cap;
	dst->n_edges = src->n_edges;
	dst->cap_edges = src->cap_edges;
	return 0;
}

static void free_mesh(struct mesh *m)
{
	free(m->nodes);
	free(m->edges);
}

struct result {
	size_t computed_all, computed_skip;
	double graph_ms, own_ms, all_ms, skip_ms;
};

/* What a server does with each set it computes before it can tell whether
 * the set changed: the message, packed, hashed (services/subscriptions.c). */
static int compute_and_pack(struct wm_peer_graph *g, const struct mesh *m, const char *id)
{
	struct wm_peer_set set = {0};
	struct wm_arena a;
	Webmesh__V1__PeerConfigurations pc;
	int err = wm_peer_graph_compute(g, id, &set);

	wm_arena_init(&a);
	webmesh__v1__peer_configurations__init(&pc);
	if (!err)
		err = wm_pb_peers_new(&a, m->nodes, &set, &pc.peers, &pc.n_peers);
	if (!err) {
		size_t len = protobuf_c_message_get_packed_size(&pc.base);
		uint8_t *buf = malloc(len + 1);

		if (buf) {
			protobuf_c_message_pack(&pc.base, buf);
			volatile uint64_t h = wm_hash_fnv1a(buf, len);
			(void)h;
		} else {
			err = -ENOMEM;
		}
		free(buf);
	}
	wm_arena_free(&a);
	wm_peer_set_free(&set);
	return err;
}

/* One change from before to after, as a server with every node subscribed
 * sees it: the graph is built in both ways (a server loads the state once
 * per change either way); then every set, or the digests and the sets whose
 * digest changed. The digests of before are what the subscribers kept. */
static int measure(const struct mesh *before, const struct mesh *after,
		   const struct wm_peers_opts *o, struct result *r)
{
	struct wm_peer_graph *g0, *g1;
	uint64_t *kept = calloc(after->n + 1, sizeof(uint64_t));
	bool *had = calloc(after->n + 1, sizeof(bool));
	int err;

	memset(r, 0, sizeof(*r));
	if (!kept || !had) {
		free(kept);
		free(had);
		return -ENOMEM;
	}
	err = wm_peer_graph_new(before->nodes, before->n, before->edges, before->n_edges, o, &g0);
	for (size_t i = 0; !err && i < after->n; i++) {
		int e = wm_peer_graph_inputs(g0, after->nodes[i].id, 0, &kept[i]);

		had[i] = e == 0;
		if (e && e != -ENOENT)
			err = e;
	}
	wm_peer_graph_free(g0);
	if (err)
		goto out;

	/* the graph: a server builds it once per change either way */
	double t = cpu_ms();
	err = wm_peer_graph_new(after->nodes, after->n, after->edges, after->n_edges, o, &g1);
	r->graph_ms = cpu_ms() - t;
	if (err)
		goto out;
	/* every set, as before */
	t = cpu_ms();
	for (size_t i = SERVERS; !err && i < after->n; i++) {
		err = compute_and_pack(g1, after, after->nodes[i].id);
		r->computed_all++;
	}
	r->all_ms = cpu_ms() - t;
	/* a server's own set, which it computes after every change anyway */
	t = cpu_ms();
	if (!err)
		err = compute_and_pack(g1, after, after->nodes[0].id);
	r->own_ms = cpu_ms() - t;
	wm_peer_graph_free(g1);
	if (err)
		goto out;

	/* only the sets whose inputs changed, in a fresh graph (no tree kept) */
	err = wm_peer_graph_new(after->nodes, after->n, after->edges, after->n_edges, o, &g1);
	t = cpu_ms();
	for (size_t i = SERVERS; !err && i < after->n; i++) {
		uint64_t d;

		err = wm_peer_graph_inputs(g1, after->nodes[i].id, 0, &d);
		if (err || (had[i] && d == kept[i]))
			continue;
		err = compute_and_pack(g1, after, after->nodes[i].id);
		r->computed_skip++;
	}
	r->skip_ms = cpu_ms() - t;
	wm_peer_graph_free(g1);
out:
	free(kept);
	free(had);
	return err;
}

int main(int argc, char **argv)
{
	size_t members = 10000, rounds = 5;
	struct wm_peers_opts o;
	struct mesh base = {0};
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		char *end = NULL;
		unsigned long v = i + 1 < argc ? strtoul(argv[i + 1], &end, 10) : 0;

		if (!end || *end || v == 0 || v > 200000) {
			fprintf(stderr, "usage: %s [--members 1..200000] [--rounds 1..200000]\n",
				argv[0]);
			return 2;
		}
		if (strcmp(argv[i], "--members") == 0)
			members = v;
		else if (strcmp(argv[i], "--rounds") == 0)
			rounds = v;
		else {
			fprintf(stderr, "%s: unknown option %s\n", argv[0], argv[i]);
			return 2;
		}
		i++;
	}
	memset(&o, 0, sizeof(o));
	wm_prefix_parse("172.16.0.0/12", &o.ipv4_network);
	wm_prefix_parse("fd00::/48", &o.ipv6_network);
	base.cap = SERVERS + members + 1;
	base.cap_edges = SERVERS * SERVERS + members + 2;
	base.nodes = malloc(base.cap * sizeof(*base.nodes));
	base.edges = malloc(base.cap_edges * sizeof(*base.edges));
	if (!base.nodes || !base.edges) {
		fprintf(stderr, "peersets: out of memory\n");
		return 2;
	}
	for (size_t i = 0; i < SERVERS; i++)
		add_node(&base, "s", i + 1);
	for (size_t i = 0; i < SERVERS; i++)
		for (size_t j = i + 1; j < SERVERS; j++)
			add_edge(&base, i, j);
	for (size_t i = 0; i + 1 < members; i++) {
		add_node(&base, "m", i + 1);
		add_edge(&base, base.n - 1, i % SERVERS);
	}
	printf("peersets: %zu nodes (%d servers, %zu members on them), every node subscribed; "
	       "CPU ms per change, best of %zu\n",
	       base.n, SERVERS, base.n - SERVERS, rounds);

	static const char *const kinds[] = {"join", "put edge m00001 m00002",
					    "delete edge m00001 m00002", "put route 10.99.0.0/16"};
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct mesh before = {0}, after = {0};
		struct result best = {0};
		size_t want_max;

		if (copy_mesh(&before, &base) || copy_mesh(&after, &base)) {
			fprintf(stderr, "peersets: out of memory\n");
			return 2;
		}
		switch (k) {
		case 0:
			add_node(&after, "m", members);
			add_edge(&after, after.n - 1, 1);
			want_max = 1; /* the joiner's first set */
			break;
		case 1:
			add_edge(&after, SERVERS, SERVERS + 1);
			want_max = 2;
			break;
		case 2:
			add_edge(&before, SERVERS, SERVERS + 1);
			want_max = 2;
			break;
		default:
			wm_prefix_parse("10.99.0.0/16", &after.nodes[SERVERS].routes[0]);
			after.nodes[SERVERS].n_routes = 1;
			want_max = after.n - SERVERS; /* every member gets the route */
			break;
		}
		for (size_t round = 0; round < rounds; round++) {
			struct result r;
			int err = measure(&before, &after, &o, &r);

			if (err) {
				fprintf(stderr, "peersets: %s: %s\n", kinds[k], strerror(-err));
				return 2;
			}
			if (round == 0 || r.own_ms < best.own_ms)
				best.own_ms = r.own_ms;
			if (round == 0 || r.graph_ms < best.graph_ms)
				best.graph_ms = r.graph_ms;
			if (round == 0 || r.all_ms < best.all_ms)
				best.all_ms = r.all_ms;
			if (round == 0 || r.skip_ms < best.skip_ms)
				best.skip_ms = r.skip_ms;
			best.computed_all = r.computed_all;
			best.computed_skip = r.computed_skip;
		}
		printf("  %-26s graph %4.1f ms, a server's own set %4.1f ms; members' sets: all "
		       "%6zu "
		       "in %6.1f ms, inputs compared %6zu in %6.1f ms (%.1f%%)\n",
		       kinds[k], best.graph_ms, best.own_ms, best.computed_all, best.all_ms,
		       best.computed_skip, best.skip_ms,
		       best.all_ms > 0 ? 100.0 * best.skip_ms / best.all_ms : 0.0);
		if (best.computed_skip > want_max) {
			printf("peersets: MISSED: %s recomputed %zu sets, it affects at most %zu\n",
			       kinds[k], best.computed_skip, want_max);
			failed = 1;
		}
		free_mesh(&before);
		free_mesh(&after);
	}
	free_mesh(&base);
	if (!failed)
		printf("peersets: every change recomputed only the sets it affects\n");
	return failed;
}
