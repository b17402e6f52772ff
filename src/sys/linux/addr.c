/* Interface addresses: add (idempotent) and delete. */
#include <errno.h>
#include <string.h>

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "sys/linux/nl.h"
#include "sys/sys.h"

static int addr_msg(int type, uint16_t flags, const char *ifname, const struct wm_prefix *addr)
{
	char buf[WM_NL_MSGSIZE];
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	size_t alen;
	int idx;

	if (!wm_prefix_valid(addr))
		return -EINVAL;
	alen = addr->family == AF_INET ? 4 : 16;
	idx = wm_sys_link_index(ifname);
	if (idx < 0)
		return idx;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (uint16_t)type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = addr->family;
	ifa->ifa_prefixlen = addr->len;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)idx;
	mnl_attr_put(nlh, IFA_LOCAL, alen, addr->addr);
	mnl_attr_put(nlh, IFA_ADDRESS, alen, addr->addr);
	/* Duplicate address detection only delays a mesh address that the
	 * control plane has already made unique. */
	if (addr->family == AF_INET6 && type == RTM_NEWADDR)
		mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
	return wm_nl_route_talk(nlh, NULL, NULL);
}

int wm_sys_addr_add(const char *ifname, const struct wm_prefix *addr)
{
	int ret = addr_msg(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifname, addr);

	return ret == -EEXIST ? 0 : ret;
}

int wm_sys_addr_del(const char *ifname, const struct wm_prefix *addr)
{
	return addr_msg(RTM_DELADDR, 0, ifname, addr);
}
