/* Between the core mesh model and the API's protobuf messages. */
#include "services/convert.h"

#include <errno.h>
#include <string.h>

#include "core/error.h"
#include "rpc/rpc.h"

char *wm_pb_prefix(struct wm_arena *a, const struct wm_prefix *p)
{
	char buf[WM_PREFIX_STRLEN];
	if (p->family == 0 || wm_prefix_format(p, buf, sizeof(buf)) < 0)
		buf[0] = '\0';
	return wm_arena_strdup(a, buf);
}

char *wm_pb_endpoint(struct wm_arena *a, const struct wm_endpoint *e)
{
	char buf[WM_ENDPOINT_STRLEN];
	if (e->ip.family == 0 || wm_endpoint_format(e, buf, sizeof(buf)) < 0)
		buf[0] = '\0';
	return wm_arena_strdup(a, buf);
}

Webmesh__V1__MeshNode *wm_pb_node_new(struct wm_arena *a, const struct wm_mesh_node *node)
{
	Webmesh__V1__MeshNode *m = wm_arena_alloc(a, sizeof(*m));
	if (!m)
		return NULL;
	webmesh__v1__mesh_node__init(m);
	char key[WM_KEY_B64_LEN + 1];
	wm_key_to_base64(node->public_key, key);
	m->id = wm_arena_strdup(a, node->id);
	m->public_key = wm_arena_strdup(a, key);
	m->listen_port = node->listen_port;
	m->private_ipv4 = wm_pb_prefix(a, &node->ipv4);
	m->private_ipv6 = wm_pb_prefix(a, &node->ipv6);
	m->raft_role = (Webmesh__V1__RaftRole)node->raft_role;
	m->zone = wm_arena_strdup(a, node->zone);
	m->joined_at = node->joined_at;
	m->n_endpoints = node->n_endpoints;
	m->endpoints = wm_arena_alloc(a, sizeof(char *) * (node->n_endpoints + 1));
	for (size_t i = 0; m->endpoints && i < node->n_endpoints; i++)
		m->endpoints[i] = wm_pb_endpoint(a, &node->endpoints[i]);
	m->n_routes = node->n_routes;
	m->routes = wm_arena_alloc(a, sizeof(char *) * (node->n_routes + 1));
	for (size_t i = 0; m->routes && i < node->n_routes; i++)
		m->routes[i] = wm_pb_prefix(a, &node->routes[i]);
	if (node->libp2p_id[0]) {
		char *addrs = wm_arena_strdup(a, node->libp2p_addrs);
		m->libp2p_peer_id = wm_arena_strdup(a, node->libp2p_id);
		m->libp2p_addrs = wm_arena_alloc(a, sizeof(char *) * WM_P2P_PUB_ADDRS);
		if (addrs && m->libp2p_addrs)
			m->n_libp2p_addrs =
				wm_p2p_pub_split(addrs, m->libp2p_addrs, WM_P2P_PUB_ADDRS);
	}
	return a->failed ? NULL : m;
}

int wm_pb_peers_new(struct wm_arena *a, const struct wm_mesh_node *nodes,
		    const struct wm_peer_set *set, Webmesh__V1__WireGuardPeer ***out, size_t *n_out)
{
	Webmesh__V1__WireGuardPeer **peers = wm_arena_alloc(a, sizeof(*peers) * (set->n_peers + 1));
	if (!peers)
		return -ENOMEM;
	for (size_t i = 0; i < set->n_peers; i++) {
		const struct wm_peer *p = &set->peers[i];
		const struct wm_mesh_node *node = &nodes[p->node];
		Webmesh__V1__WireGuardPeer *w = wm_arena_alloc(a, sizeof(*w));
		if (!w)
			return -ENOMEM;
		webmesh__v1__wire_guard_peer__init(w);
		w->node = wm_pb_node_new(a, node);
		w->endpoint = node->n_endpoints ? wm_pb_endpoint(a, &node->endpoints[0])
						: wm_arena_strdup(a, "");
		w->ice = p->ice;
		w->libp2p = p->libp2p;
		w->n_allowed_ips = p->n_allowed_ips;
		w->allowed_ips = wm_arena_alloc(a, sizeof(char *) * (p->n_allowed_ips + 1));
		for (size_t j = 0; w->allowed_ips && j < p->n_allowed_ips; j++)
			w->allowed_ips[j] = wm_pb_prefix(a, &p->allowed_ips[j]);
		peers[i] = w;
	}
	if (a->failed)
		return -ENOMEM;
	*out = peers;
	*n_out = set->n_peers;
	return 0;
}

int wm_grpc_status_from_err(int err)
{
	switch (-err) {
	case 0:
		return WM_GRPC_OK;
	case EINVAL:
		return WM_GRPC_INVALID_ARGUMENT;
	case ENOENT:
		return WM_GRPC_NOT_FOUND;
	case EEXIST:
	case WM_EKEYMISMATCH:
		return WM_GRPC_ALREADY_EXISTS;
	case WM_EEXHAUSTED:
	case ENOSPC:
		return WM_GRPC_RESOURCE_EXHAUSTED;
	case WM_ENOTLEADER:
	case ECANCELED:
	case ECONNREFUSED:
	case ETIMEDOUT:
		return WM_GRPC_UNAVAILABLE;
	case WM_ENOMESH:
	case WM_EVERSION:
		return WM_GRPC_FAILED_PRECONDITION;
	case EPERM:
	case EACCES:
		return WM_GRPC_PERMISSION_DENIED;
	default:
		return WM_GRPC_INTERNAL;
	}
}

/* Hangs on e the attributes of its edge: attrs is ordered like the edges, so
 * one cursor (*pos) walks it once for the whole list. */
void wm_pb_edge_add_attrs(struct wm_arena *a, Webmesh__V1__MeshEdge *e,
			  const struct wm_edge_attr *attrs, size_t n, size_t *pos)
{
	size_t i = *pos, first;
	int cmp = -1;

	/* attributes of an edge not listed: none, as both lists come from one
	 * read of the replica with no apply between them */
	for (; i < n; i++) {
		cmp = strcmp(attrs[i].source, e->source);
		if (cmp == 0)
			cmp = strcmp(attrs[i].target, e->target);
		if (cmp >= 0)
			break;
	}
	first = i;
	while (i < n && cmp == 0 && strcmp(attrs[i].source, e->source) == 0 &&
	       strcmp(attrs[i].target, e->target) == 0)
		i++;
	*pos = i;
	if (i == first)
		return;
	e->attributes = wm_arena_alloc(a, sizeof(*e->attributes) * (i - first));
	for (size_t k = first; e->attributes && k < i; k++) {
		Webmesh__V1__MeshEdge__AttributesEntry *kv = wm_arena_alloc(a, sizeof(*kv));
		if (!kv)
			return;
		webmesh__v1__mesh_edge__attributes_entry__init(kv);
		kv->key = wm_arena_strdup(a, attrs[k].key);
		kv->value = wm_arena_strdup(a, attrs[k].value);
		e->attributes[e->n_attributes++] = kv;
	}
}
