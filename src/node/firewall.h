/* Network ACL enforcement on this node's WireGuard interface (nftables). */
#ifndef WM_NODE_FIREWALL_H
#define WM_NODE_FIREWALL_H

#include <stddef.h>

#include "core/acl.h"
#include "store/store.h"

/* Replaces the ACL chains of table inet webmesh with the rules for set
 * (core/acl.h wm_acl_nft_render), atomically. err gets nft's message. */
int wm_firewall_apply(const struct wm_acl_set *set, const struct wm_mesh_node *nodes,
		      size_t n_nodes, const char *ifname, char *err, size_t errlen);
/* The same from the store's current ACLs, groups and nodes (servers). */
int wm_firewall_apply_store(struct wm_store *store, const char *ifname, char *err, size_t errlen);
/* Removes the ACL chains (at shutdown, or when leaving the mesh). */
int wm_firewall_remove(char *err, size_t errlen);

#endif
