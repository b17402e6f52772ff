/* nftables rules for the Raft port: only the servers' mesh addresses. */
#include "core/raftguard.h"
#include "core/acl.h"
#include "core/ids.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* A priority below the ACL chains' (0): the Raft port is decided first. */
#define HEAD                                                                                       \
	"add table inet webmesh\n"                                                                 \
	"add chain inet webmesh raft-input { type filter hook input priority -10; policy accept; " \
	"}\n"                                                                                      \
	"add set inet webmesh raft-servers { type ipv4_addr; }\n"                                  \
	"flush chain inet webmesh raft-input\n"                                                    \
	"flush set inet webmesh raft-servers\n"

int wm_raftguard_nft_render(const char *ifname, uint16_t port, const struct wm_prefix *local,
			    const struct wm_prefix *servers, size_t n, char **out)
{
	char addr[WM_PREFIX_STRLEN];
	*out = NULL;
	if (wm_ifname_check(ifname, NULL) < 0 || port == 0 || local->family != AF_INET ||
	    wm_prefix_format_addr(local, addr, sizeof(addr)) < 0)
		return -EINVAL;
	size_t cap = sizeof(HEAD) + 512 + n * (WM_PREFIX_STRLEN + 2);
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	size_t len = (size_t)snprintf(buf, cap, "%s", HEAD);
	size_t listed = 0;
	for (size_t i = 0; i < n; i++) {
		char a[WM_PREFIX_STRLEN];
		if (servers[i].family != AF_INET ||
		    wm_prefix_format_addr(&servers[i], a, sizeof(a)) < 0)
			continue;
		len += (size_t)snprintf(
			buf + len, cap - len, "%s%s",
			listed++ ? ", " : "add element inet webmesh raft-servers { ", a);
	}
	if (listed)
		len += (size_t)snprintf(buf + len, cap - len, " }\n");
	snprintf(
		buf + len, cap - len,
		"add rule inet webmesh raft-input ip daddr %s tcp dport %u iifname \"%s\" ip "
		"saddr @raft-servers accept\n"
		"add rule inet webmesh raft-input ip daddr %s tcp dport %u reject with tcp reset\n",
		addr, port, ifname, addr, port);
	*out = buf;
	return 0;
}

int wm_raftguard_nft_remove(char **out)
{
	*out = strdup(HEAD "delete chain inet webmesh raft-input\n"
			   "delete set inet webmesh raft-servers\n");
	return *out ? 0 : -ENOMEM;
}
