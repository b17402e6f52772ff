/* Network ACL enforcement: render the ACLs as one nft batch and apply it. */
#include "node/firewall.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "store/authz.h"
#include "sys/nft.h"

int wm_firewall_apply(const struct wm_acl_set *set, const struct wm_mesh_node *nodes,
		      size_t n_nodes, const char *ifname, char *err, size_t errlen)
{
	char *batch = NULL;
	int r = wm_acl_nft_render(set, nodes, n_nodes, ifname, &batch);

	if (r < 0) {
		snprintf(err, errlen, "cannot render the network ACLs: %s", wm_strerror(r));
		return r;
	}
	r = wm_nft_run(batch, err, errlen);
	free(batch);
	return r;
}

int wm_firewall_apply_store(struct wm_store *store, const char *ifname, char *err, size_t errlen)
{
	struct wm_authz_snapshot snap;
	struct wm_mesh_node *nodes = NULL;
	size_t n = 0;
	int r = wm_store_authz_load(store, &snap);

	if (r < 0) {
		snprintf(err, errlen, "cannot read the network ACLs: %s", wm_strerror(r));
		return r;
	}
	r = wm_store_list_nodes(store, &nodes, &n);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the nodes: %s", wm_strerror(r));
	} else {
		struct wm_acl_set set = wm_authz_acl_set(&snap);
		r = wm_firewall_apply(&set, nodes, n, ifname, err, errlen);
	}
	free(nodes);
	wm_authz_snapshot_free(&snap);
	return r;
}

int wm_firewall_remove(char *err, size_t errlen)
{
	char *batch = NULL;
	int r = wm_acl_nft_remove(&batch);

	if (r < 0)
		return r;
	r = wm_nft_run(batch, err, errlen);
	free(batch);
	return r;
}
