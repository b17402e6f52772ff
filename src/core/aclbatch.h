/* The network ACL batch a server sends (PeerConfigurations.acl_rules), as a
 * node takes it: every line must act on table inet webmesh's ACL chains (a
 * server can change nothing else of the host's firewall; no second command
 * after a ';' either), and the interface
 * placeholder becomes this node's interface name. */
#ifndef WM_CORE_ACLBATCH_H
#define WM_CORE_ACLBATCH_H

/* The servers render the batch with this interface name (in quotes). */
#define WM_ACL_IFNAME_PLACEHOLDER "wm-acl-ifname"

/* *out: the batch to run (the caller frees it). 0; -EINVAL when a line is
 * not one of ours (nothing is returned); -ENOMEM. */
int wm_acl_batch_localize(const char *rules, const char *ifname, char **out);

#endif
