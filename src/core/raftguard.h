/* The nftables rules that close this node's Raft port to everyone but the
 * current voters and observers (pure: renders the batch src/node applies). */
#ifndef WM_CORE_RAFTGUARD_H
#define WM_CORE_RAFTGUARD_H

#include <stddef.h>
#include <stdint.h>

#include "core/net.h"

/* A batch for table inet webmesh: base chain raft-input (hook input,
 * priority -10, policy accept) and set raft-servers; TCP to local:port is
 * accepted when it arrives on ifname from an address in servers (IPv4
 * prefixes, their addresses taken) and reset otherwise, whatever the
 * interface. Replaces what an earlier batch put there. *out is malloc'd.
 * -EINVAL for a bad interface name, port 0 or a local address that is not
 * IPv4; servers of another family are skipped. -ENOMEM. */
int wm_raftguard_nft_render(const char *ifname, uint16_t port, const struct wm_prefix *local,
			    const struct wm_prefix *servers, size_t n, char **out);
/* A batch that removes the chain and the set (present or not). */
int wm_raftguard_nft_remove(char **out);

#endif
