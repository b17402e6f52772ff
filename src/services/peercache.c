/* Peer configurations from one snapshot of the graph per change (see peercache.h). */
#include "services/peercache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acl.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/ids.h"
#include "core/key.h"
#include "core/peers.h"
#include "services/convert.h"
#include "store/authz.h"
#include "services/services_int.h"
#include "util/log.h"

/* One state of the mesh, as read at one point of the log. */
struct snapshot {
	struct wm_mesh_node *nodes;
	size_t n_nodes;
	struct wm_mesh_edge *edges;
	size_t n_edges;
	struct wm_peer_graph *graph;
	char *acl_rules; /* the nft batch every node applies, NULL = none */
};

struct wm_peercache {
	struct wm_store *store;
	bool (*marked)(void *data, const char *id); /* the liveness marks, or NULL */
	void *marked_data;
	struct snapshot snap;
	bool loaded;
	uint64_t loads;
};

static void snapshot_free(struct snapshot *sn)
{
	wm_peer_graph_free(sn->graph);
	free(sn->acl_rules);
	free(sn->nodes);
	free(sn->edges);
	*sn = (struct snapshot){0};
}

/* Network ACLs decide which nodes peer at all: an edge between two nodes
 * that may exchange no traffic is left out of the graph (so paths avoid it
 * too), and the port-level rules are rendered once here for every node. */
static int apply_acls(struct wm_store *store, struct snapshot *sn)
{
	struct wm_authz_snapshot az;
	int err = wm_store_authz_load(store, &az);
	if (err)
		return err;
	struct wm_acl_set set = wm_authz_acl_set(&az);
	if (set.n || !set.default_accept) {
		size_t kept = 0;
		for (size_t i = 0; i < sn->n_edges; i++)
			if (wm_acl_allows_peering(&set, sn->edges[i].source, sn->edges[i].target))
				sn->edges[kept++] = sn->edges[i];
		sn->n_edges = kept;
	}
	if (set.n || !set.default_accept)
		err = wm_acl_nft_render(&set, sn->nodes, sn->n_nodes, WM_ACL_IFNAME_PLACEHOLDER,
					&sn->acl_rules);
	wm_authz_snapshot_free(&az);
	return err;
}

static int snapshot_load(struct wm_store *store, struct snapshot *sn,
			 bool (*marked)(void *data, const char *id), void *marked_data)
{
	struct wm_peers_opts opts = {0};
	struct wm_mesh_info info;
	int err;

	*sn = (struct snapshot){0};
	/* Before the bootstrap entry is applied there are no networks to
	 * summarise with (and no nodes either). */
	err = wm_store_mesh_info(store, &info);
	if (err == 0) {
		opts.ipv4_network = info.ipv4_network;
		opts.ipv6_network = info.ipv6_network;
	} else if (err != -WM_ENOMESH) {
		return err;
	}
	err = wm_store_list_nodes(store, &sn->nodes, &sn->n_nodes);
	/* Routes of nodes the leader marked unreachable fail over (peers.h). */
	for (size_t i = 0; !err && marked && i < sn->n_nodes; i++)
		sn->nodes[i].unreachable = marked(marked_data, sn->nodes[i].id);
	if (!err)
		err = wm_store_list_edges(store, &sn->edges, &sn->n_edges);
	if (!err)
		err = apply_acls(store, sn);
	if (!err)
		err = wm_peer_graph_new(sn->nodes, sn->n_nodes, sn->edges, sn->n_edges, &opts,
					&sn->graph);
	if (err)
		snapshot_free(sn);
	return err;
}

static int snapshot_config(struct snapshot *sn, const char *node_id, struct wm_arena *a,
			   Webmesh__V1__PeerConfigurations *out)
{
	struct wm_peer_set set = {0};
	size_t self;
	int err;

	webmesh__v1__peer_configurations__init(out);
	err = wm_peer_graph_find(sn->graph, node_id, &self);
	if (!err)
		err = wm_peer_graph_compute(sn->graph, node_id, &set);
	if (!err)
		err = wm_pb_peers_new(a, sn->nodes, &set, &out->peers, &out->n_peers);
	if (!err) {
		const struct wm_mesh_node *me = &sn->nodes[self];

		out->forwarding = set.forwarding;
		out->own_routes = wm_arena_alloc(a, sizeof(char *) * (me->n_routes + 1));
		for (size_t i = 0; out->own_routes && i < me->n_routes; i++)
			out->own_routes[i] = wm_pb_prefix(a, &me->routes[i]);
		out->n_own_routes = me->n_routes;
		out->acl_rules = wm_arena_strdup(a, sn->acl_rules ? sn->acl_rules : "");
		if (a->failed)
			err = -ENOMEM;
	}
	wm_peer_set_free(&set);
	return err;
}

static void changed_cb(void *data, uint64_t index, const Webmesh__V1__RaftCommand *cmd)
{
	(void)index;
	(void)cmd;
	struct wm_peercache *pc = data;
	/* Dropped at once, not on the next use: the graph points into the node
	 * array, and nothing should hold a stale state longer than needed. */
	if (pc->loaded) {
		snapshot_free(&pc->snap);
		pc->loaded = false;
	}
}

int wm_peercache_new(struct wm_store *store, struct wm_peercache **out)
{
	struct wm_peercache *pc;
	int err;

	if (!store || !out)
		return -EINVAL;
	pc = calloc(1, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	pc->store = store;
	err = wm_store_on_change(store, changed_cb, pc);
	if (err) {
		free(pc);
		return err;
	}
	*out = pc;
	return 0;
}

void wm_peercache_free(struct wm_peercache *pc, bool store_open)
{
	if (!pc)
		return;
	if (store_open)
		wm_store_off_change(pc->store, changed_cb, pc);
	snapshot_free(&pc->snap);
	free(pc);
}

/* The state as of the last change, loaded on first use after it. */
static int cache_load(struct wm_peercache *pc)
{
	if (!pc->loaded) {
		uint64_t t0 = uv_hrtime();
		int err = snapshot_load(pc->store, &pc->snap, pc->marked, pc->marked_data);
		if (err)
			return err;
		pc->loaded = true;
		pc->loads++;
		wm_debug("peer graph of %zu nodes loaded in %llu us", pc->snap.n_nodes,
			 (unsigned long long)((uv_hrtime() - t0) / 1000));
	}
	return 0;
}

int wm_peercache_config(struct wm_peercache *pc, const char *node_id, struct wm_arena *a,
			Webmesh__V1__PeerConfigurations *out)
{
	int err = cache_load(pc);

	return err ? err : snapshot_config(&pc->snap, node_id, a, out);
}

int wm_peercache_inputs(struct wm_peercache *pc, const char *node_id, uint64_t *out)
{
	int err = cache_load(pc);
	/* The rules travel with every set, so they are one of its inputs. */
	uint64_t rules = pc->snap.acl_rules
				 ? wm_hash_fnv1a(pc->snap.acl_rules, strlen(pc->snap.acl_rules) + 1)
				 : 0;

	return err ? err : wm_peer_graph_inputs(pc->snap.graph, node_id, rules, out);
}

uint64_t wm_peercache_loads(const struct wm_peercache *pc)
{
	return pc ? pc->loads : 0;
}

int wm_peercache_config_once(struct wm_store *store, const char *node_id, struct wm_arena *a,
			     Webmesh__V1__PeerConfigurations *out)
{
	struct snapshot sn;
	int err = snapshot_load(store, &sn, NULL, NULL);

	if (err)
		return err;
	err = snapshot_config(&sn, node_id, a, out);
	snapshot_free(&sn);
	return err;
}

/* s's cache, made on first use. */
static int services_cache(struct wm_services *s, struct wm_peercache **out)
{
	if (!s->cfg.store)
		return -WM_ENOTLEADER;
	/* The store is set once (wm_services_set_store); a different one means
	 * the old is gone, and so is our listener on it. */
	if (s->peercache && s->peercache->store != s->cfg.store) {
		wm_peercache_free(s->peercache, false);
		s->peercache = NULL;
	}
	if (!s->peercache) {
		int err = wm_peercache_new(s->cfg.store, &s->peercache);
		if (err)
			return err;
		s->peercache->marked = wm_liveness_marked;
		s->peercache->marked_data = s;
	}
	*out = s->peercache;
	return 0;
}

int wm_services_peers(struct wm_services *s, const char *node_id, struct wm_arena *a,
		      Webmesh__V1__PeerConfigurations *out)
{
	struct wm_peercache *pc;
	int err = services_cache(s, &pc);

	return err ? err : wm_peercache_config(pc, node_id, a, out);
}

int wm_services_peer_inputs(struct wm_services *s, const char *node_id, uint64_t *out)
{
	struct wm_peercache *pc;
	int err = services_cache(s, &pc);

	return err ? err : wm_peercache_inputs(pc, node_id, out);
}

int wm_sent_peers_set(struct wm_sent_peers *sp, const Webmesh__V1__PeerConfigurations *pc)
{
	struct wm_sent_peer *v = NULL;
	size_t n = 0;

	if (pc->n_peers) {
		v = calloc(pc->n_peers, sizeof(*v));
		if (!v) {
			wm_sent_peers_free(sp);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < pc->n_peers; i++) {
		const Webmesh__V1__MeshNode *node = pc->peers[i]->node;

		/* computed here from the replica: always named and keyed */
		if (!node || !node->id || !node->public_key)
			continue;
		snprintf(v[n].id, sizeof(v[n].id), "%s", node->id);
		snprintf(v[n].key, sizeof(v[n].key), "%s", node->public_key);
		n++;
	}
	free(sp->v);
	sp->v = v;
	sp->n = n;
	return 0;
}

int wm_sent_peers_held(struct wm_sent_peers *sp, Webmesh__V1__HeldPeer *const *held, size_t n,
		       const char **why)
{
	if (n > WM_HELD_PEERS_MAX) {
		*why = "held: more peers than a subscriber may name (1024)";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (!wm_peer_named_ok(held[i]->id, held[i]->public_key, why))
			return -EINVAL;
	if (!n)
		return 0;
	struct wm_sent_peer *v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		snprintf(v[i].id, sizeof(v[i].id), "%s", held[i]->id);
		snprintf(v[i].key, sizeof(v[i].key), "%s", held[i]->public_key);
	}
	free(sp->v);
	sp->v = v;
	sp->n = n;
	return 0;
}

void wm_sent_peers_free(struct wm_sent_peers *sp)
{
	free(sp->v);
	sp->v = NULL;
	sp->n = 0;
}

/* A peer's node is gone when its ID is not in the node table (removed for
 * silence, left, denied: a denied node is removed too), or holds another key
 * now (its old key is no longer a member). A node that only moved behind a
 * hub is still there with its key. The node table is the one the peer set
 * was just computed from, looked up by the graph's index of IDs. */
int wm_peercache_gone_keys(struct wm_peercache *pc, const struct wm_sent_peers *sp,
			   struct wm_arena *a, Webmesh__V1__PeerConfigurations *out)
{
	size_t n = 0;
	int err = cache_load(pc);

	if (err || !sp->n)
		return err;
	out->gone_keys = wm_arena_alloc(a, sizeof(char *) * sp->n);
	if (!out->gone_keys)
		return -ENOMEM;
	for (size_t i = 0; i < sp->n; i++) {
		size_t at;
		char key[WM_KEY_B64_LEN + 1];

		if (wm_peer_graph_find(pc->snap.graph, sp->v[i].id, &at) == 0) {
			wm_key_to_base64(pc->snap.nodes[at].public_key, key);
			if (strcmp(key, sp->v[i].key) == 0)
				continue;
		}
		out->gone_keys[n] = wm_arena_strdup(a, sp->v[i].key);
		if (!out->gone_keys[n])
			return -ENOMEM;
		n++;
	}
	out->n_gone_keys = n;
	return 0;
}

int wm_services_gone_keys(struct wm_services *s, const struct wm_sent_peers *sp, struct wm_arena *a,
			  Webmesh__V1__PeerConfigurations *out)
{
	struct wm_peercache *pc;
	int err = services_cache(s, &pc);

	return err ? err : wm_peercache_gone_keys(pc, sp, a, out);
}
