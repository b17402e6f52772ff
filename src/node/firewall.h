/* Network ACL enforcement on this node's WireGuard interface (nftables), as a
 * component: the batch the servers computed (PeerConfigurations.acl_rules)
 * is applied when it changed, and the chains go at close, before the
 * interface does. */
#ifndef WM_NODE_FIREWALL_H
#define WM_NODE_FIREWALL_H

#include <stdbool.h>
#include <stdint.h>

struct wm_firewall {
	const char *ifname; /* borrowed */
	bool applied;	    /* our ACL chains are in the kernel */
	bool hash_valid;
	uint64_t hash; /* of the rules last applied */
};

void wm_firewall_init(struct wm_firewall *fw, const char *ifname);
/* Enforces rules (core/aclbatch.h checks that they touch only our chains)
 * when they differ from the last ones applied; "" or NULL removes our
 * chains. 0 or -errno (logged). */
int wm_firewall_set(struct wm_firewall *fw, const char *rules);
/* Removes the ACL chains if we put any. */
void wm_firewall_close(struct wm_firewall *fw);

#endif
