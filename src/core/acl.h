/* Network ACLs: validation, evaluation and the nftables rules that enforce
 * them (pure).
 *
 * An ACL's list fields are canonical comma-separated text, as stored:
 *   src_nodes / dst_nodes: node IDs, "*", "group:NAME"   ("" = any node)
 *   src_cidrs / dst_cidrs: IP prefixes                    ("" = any address)
 *   protocols:             tcp, udp, icmp                 ("" = any protocol)
 *   ports:                 destination ports, "22" or "1000-2000" ("" = any);
 *                          ports without protocols mean tcp and udp
 * ACLs are evaluated by priority, highest first (ties: by name); the first
 * one that matches decides; when none matches, the mesh's default policy
 * does.
 */
#ifndef WM_CORE_ACL_H
#define WM_CORE_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mesh.h"
#include "core/net.h"

#define WM_ACL_LIST_MAX 64 /* items in one list field */

enum { WM_ACL_TCP = 1, WM_ACL_UDP = 2, WM_ACL_ICMP = 4 };

struct wm_acl {
	const char *name;
	int32_t priority;
	bool accept; /* false: deny */
	const char *src_nodes, *dst_nodes;
	const char *src_cidrs, *dst_cidrs;
	const char *protocols;
	const char *ports;
};

struct wm_acl_set {
	const struct wm_acl *acls; /* any order */
	size_t n;
	bool default_accept;
	/* Is node_id a member of group? NULL: no node is in any group. */
	bool (*in_group)(void *ctx, const char *group, const char *node_id);
	void *ctx;
};

/* Checks every field of a; err names the field and the bad item. */
int wm_acl_validate(const struct wm_acl *a, char *err, size_t errlen);

/* One packet (for evaluation and tests): the nodes are NULL when unknown. */
struct wm_acl_packet {
	const char *src_node, *dst_node;
	struct wm_prefix src, dst; /* full-length addresses */
	int protocol;		   /* WM_ACL_TCP, WM_ACL_UDP, WM_ACL_ICMP, or 0 for other */
	uint16_t dport;
};
/* The verdict for one packet. *which gets the deciding ACL's name, or NULL
 * when the default policy decided (which may be NULL). */
bool wm_acl_allows(const struct wm_acl_set *s, const struct wm_acl_packet *p, const char **which);

/* Do nodes a and b peer at all? Yes when some traffic may flow between them
 * in either direction: for each direction the ACLs whose node selectors match
 * are taken in order; one without CIDRs, protocols and ports decides; an
 * accepting one with such limits allows peering (some traffic flows); a
 * denying one with limits is passed over; none: the default policy. */
bool wm_acl_allows_peering(const struct wm_acl_set *s, const char *a, const char *b);

/* The order of evaluation: idx receives s->n indices into s->acls. */
void wm_acl_order(const struct wm_acl_set *s, size_t *idx);

/* The nftables batch that makes this node enforce the ACLs on packets that
 * arrive on interface ifname (input and forward), in table inet WM_NFT_TABLE
 * ("webmesh"): chains acl-input and acl-forward (base chains, priority 0,
 * policy accept) jump to chain acl for packets from ifname; acl accepts
 * established/related packets, then has one rule per ACL and family, and
 * ends with the default policy. Node selectors become the nodes' addresses
 * (IPv4 /32 and IPv6 /112); a rule whose selectors match no address of a
 * family is left out for that family. The batch first flushes the three
 * chains, so applying it again replaces the previous rules atomically.
 * *out is malloc'd. -EINVAL for an invalid ACL or interface name, -ENOMEM. */
int wm_acl_nft_render(const struct wm_acl_set *s, const struct wm_mesh_node *nodes, size_t n_nodes,
		      const char *ifname, char **out);
/* The batch that removes the chains again (flush + delete), for shutdown. */
int wm_acl_nft_remove(char **out);

#endif
