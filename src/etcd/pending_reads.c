/* TEMPORARY (delete at merge): the reads branch s6-etcdcmd writes in
 * store.c, answered from what the etcd store keeps today (nodes, the mesh),
 * so that a server on etcd runs before that branch lands. The etcd store
 * keeps no edges, edge attributes, DNS records or RBAC objects yet: a full
 * mesh's edges are the implied ones (every pair of nodes, weight 1, as a
 * JoinNode with full_mesh writes them in the Raft store), and the other
 * reads are empty. */
#include "etcd/pending_reads.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int wm_etcd_store_list_edges(struct wm_etcd_store *s, struct wm_mesh_edge **out, size_t *n)
{
	struct wm_mesh_info info;
	struct wm_mesh_node *nodes = NULL;
	size_t nn = 0;
	*out = NULL;
	*n = 0;
	int r = wm_etcd_store_mesh_info(s, &info);
	if (r == -WM_ENOMESH)
		return 0;
	if (r < 0)
		return r;
	if (info.topology != WM_TOPOLOGY_FULL)
		return 0;
	r = wm_etcd_store_list_nodes(s, &nodes, &nn);
	if (r < 0)
		return r;
	size_t cap = nn > 1 ? nn * (nn - 1) / 2 : 0;
	struct wm_mesh_edge *e = cap ? calloc(cap, sizeof(*e)) : NULL;
	if (cap && !e) {
		free(nodes);
		return -ENOMEM;
	}
	size_t k = 0;
	for (size_t i = 0; i < nn; i++) {
		for (size_t j = 0; j < nn; j++) {
			if (strcmp(nodes[i].id, nodes[j].id) >= 0)
				continue;
			snprintf(e[k].source, sizeof(e[k].source), "%s", nodes[i].id);
			snprintf(e[k].target, sizeof(e[k].target), "%s", nodes[j].id);
			e[k].weight = 1;
			k++;
		}
	}
	free(nodes);
	*out = e;
	*n = k;
	return 0;
}

int wm_etcd_store_list_edge_attrs(struct wm_etcd_store *s, struct wm_edge_attr **out, size_t *n)
{
	(void)s;
	*out = NULL;
	*n = 0;
	return 0;
}

int wm_etcd_store_list_dns_records(struct wm_etcd_store *s, struct wm_dns_record **out, size_t *n)
{
	(void)s;
	*out = NULL;
	*n = 0;
	return 0;
}

int wm_etcd_store_authz_load(struct wm_etcd_store *s, struct wm_authz_snapshot *out)
{
	(void)s;
	memset(out, 0, sizeof(*out));
	/* No RBAC objects and no network ACLs: the default network policy
	 * (accept) is what lets the implied edges carry traffic. */
	out->default_accept = true;
	return 0;
}

int wm_etcd_store_dump(struct wm_etcd_store *s, char **out)
{
	struct wm_mesh_node *nodes = NULL;
	size_t nn = 0;
	int r = wm_etcd_store_list_nodes(s, &nodes, &nn);
	if (r < 0)
		return r;
	size_t cap = 64 + nn * 128;
	char *t = malloc(cap);
	if (!t) {
		free(nodes);
		return -ENOMEM;
	}
	size_t len = (size_t)snprintf(t, cap, "revision-free dump: %zu nodes\n", nn);
	for (size_t i = 0; i < nn && len < cap; i++) {
		char v4[WM_PREFIX_STRLEN] = "";
		if (nodes[i].ipv4.family)
			wm_prefix_format(&nodes[i].ipv4, v4, sizeof(v4));
		len += (size_t)snprintf(t + len, cap - len, "node %s %s\n", nodes[i].id, v4);
	}
	free(nodes);
	*out = t;
	return 0;
}
