/* Turns the store's change feed into watch events and ipam releases. The
 * feed carries commands, applied or refused alike: a node's presence in the
 * replica after the change says what it did. */
#include "plugin/plugin_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mesh.h"
#include "core/net.h"
#include "core/sort.h"
#include "store/store.h"
#include "util/log.h"

static int known_cmp(const void *a, const void *b)
{
	return strcmp(((const struct wm_plugin_known *)a)->id,
		      ((const struct wm_plugin_known *)b)->id);
}

static void format_v4(const struct wm_mesh_node *n, char *out, size_t len)
{
	char pfx[WM_PREFIX_STRLEN];
	out[0] = '\0';
	if (n->ipv4.family && wm_prefix_format(&n->ipv4, pfx, sizeof(pfx)) == 0) {
		char *slash = strchr(pfx, '/');
		if (slash)
			*slash = '\0';
		snprintf(out, len, "%s", pfx);
	}
}

/* Re-reads every node of the replica. */
static void known_load(struct wm_plugins *h, struct wm_store *store)
{
	struct wm_mesh_node *nodes = NULL;
	size_t n = 0;
	if (wm_store_list_nodes(store, &nodes, &n) < 0)
		return;
	struct wm_plugin_known *k = calloc(n + 1, sizeof(*k));
	if (!k) {
		free(nodes);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(k[i].id, sizeof(k[i].id), "%s", nodes[i].id);
		format_v4(&nodes[i], k[i].address, sizeof(k[i].address));
	}
	free(nodes);
	wm_sort(k, n, sizeof(*k), known_cmp);
	free(h->known);
	h->known = k;
	h->n_known = n;
	h->known_loaded = true;
}

static struct wm_plugin_known *known_find(struct wm_plugins *h, const char *id)
{
	struct wm_plugin_known key;
	snprintf(key.id, sizeof(key.id), "%s", id);
	return h->n_known ? bsearch(&key, h->known, h->n_known, sizeof(key), known_cmp) : NULL;
}

static void known_add(struct wm_plugins *h, const char *id, const char *address)
{
	struct wm_plugin_known *k = realloc(h->known, (h->n_known + 1) * sizeof(*k));
	if (!k)
		return;
	h->known = k;
	snprintf(k[h->n_known].id, sizeof(k->id), "%s", id);
	snprintf(k[h->n_known].address, sizeof(k->address), "%s", address);
	h->n_known++;
	wm_sort(h->known, h->n_known, sizeof(*k), known_cmp);
}

static void known_remove(struct wm_plugins *h, struct wm_plugin_known *k)
{
	size_t i = (size_t)(k - h->known);
	memmove(k, k + 1, (h->n_known - i - 1) * sizeof(*k));
	h->n_known--;
}

static void join_routes(char *const *routes, size_t n, char *out, size_t len)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? "," : "", routes[i]);
}

static void leader_check(struct wm_plugins *h, struct wm_store *store)
{
	struct wm_store_status st;
	wm_store_status(store, &st);
	if (strcmp(st.leader_id, h->leader) == 0)
		return;
	snprintf(h->leader, sizeof(h->leader), "%s", st.leader_id);
	wm_plugins_watch_emit(h, WEBMESH_WATCH_LEADER_CHANGED, 0, h->leader, "", "", "");
}

void wm_plugins_attach(struct wm_plugins *h, struct wm_store *store)
{
	if (!h || !h->n || !store)
		return;
	known_load(h, store);
	struct wm_store_status st;
	wm_store_status(store, &st);
	snprintf(h->leader, sizeof(h->leader), "%s", st.leader_id);
}

void wm_plugins_feed(struct wm_plugins *h, struct wm_store *store, uint64_t index,
		     const Webmesh__V1__RaftCommand *cmd)
{
	char detail[1024];

	if (!h || !h->n || !store)
		return;
	if (!h->known_loaded || !cmd) {
		/* The first change, or a snapshot replaced the replica: start over
		 * from what it holds now (a snapshot's changes are not events). */
		known_load(h, store);
		if (!cmd)
			return;
	}
	leader_check(h, store);
	switch (cmd->command_case) {
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE: {
		struct wm_mesh_node n;
		char addr[64];
		const char *id = cmd->join_node->id;
		if (!id || wm_store_get_node(store, id, &n) < 0)
			return; /* refused */
		format_v4(&n, addr, sizeof(addr));
		struct wm_plugin_known *k = known_find(h, id);
		if (k) {
			snprintf(k->address, sizeof(k->address), "%s", addr);
			wm_plugins_watch_emit(h, WEBMESH_WATCH_NODE_CHANGED, index, id, "", addr,
					      "");
		} else {
			known_add(h, id, addr);
			wm_plugins_watch_emit(h, WEBMESH_WATCH_NODE_JOINED, index, id, "", addr,
					      "");
		}
		return;
	}
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE: {
		struct wm_mesh_node n;
		const char *id = cmd->remove_node->id;
		struct wm_plugin_known *k = id ? known_find(h, id) : NULL;
		if (!k || wm_store_get_node(store, id, &n) == 0)
			return; /* unknown, or refused */
		char addr[64];
		snprintf(addr, sizeof(addr), "%s", k->address);
		known_remove(h, k);
		wm_plugins_watch_emit(h, WEBMESH_WATCH_NODE_LEFT, index, id, "", addr, "");
		/* Only the leader releases: every server sees the same change. */
		struct wm_store_status st;
		wm_store_status(store, &st);
		if (st.is_leader)
			wm_plugins_ipam_release_queue(h, id, addr);
		return;
	}
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE:
		wm_plugins_watch_emit(h, WEBMESH_WATCH_EDGE_PUT, index, cmd->put_edge->source,
				      cmd->put_edge->target, "", "");
		return;
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_EDGE:
		wm_plugins_watch_emit(h, WEBMESH_WATCH_EDGE_DELETED, index,
				      cmd->delete_edge->source, cmd->delete_edge->target, "", "");
		return;
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROUTES:
		join_routes(cmd->put_routes->routes, cmd->put_routes->n_routes, detail,
			    sizeof(detail));
		wm_plugins_watch_emit(h, WEBMESH_WATCH_ROUTES_PUT, index, cmd->put_routes->node_id,
				      "", "", detail);
		return;
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_ROUTES:
		join_routes(cmd->delete_routes->routes, cmd->delete_routes->n_routes, detail,
			    sizeof(detail));
		wm_plugins_watch_emit(h, WEBMESH_WATCH_ROUTES_DELETED, index,
				      cmd->delete_routes->node_id, "", "", detail);
		return;
	default:
		return;
	}
}
