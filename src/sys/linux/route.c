/* Routes through a link without a gateway (the mesh interface), main table. */
#include <errno.h>
#include <string.h>

#include <linux/rtnetlink.h>

#include "sys/linux/nl.h"
#include "sys/sys.h"

static int route_msg(int type, uint16_t flags, const char *ifname, const struct wm_prefix *dst)
{
	char buf[WM_NL_MSGSIZE];
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	struct wm_prefix net;
	size_t alen;
	int idx;

	if (!wm_prefix_valid(dst))
		return -EINVAL;
	alen = dst->family == AF_INET ? 4 : 16;
	idx = wm_sys_link_index(ifname);
	if (idx < 0)
		return idx;
	/* The kernel refuses a destination with host bits set. */
	net = wm_prefix_network(dst);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (uint16_t)type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = net.family;
	rtm->rtm_dst_len = net.len;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put(nlh, RTA_DST, alen, net.addr);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)idx);
	return wm_nl_route_talk(nlh, NULL, NULL);
}

int wm_sys_route_replace(const char *ifname, const struct wm_prefix *dst)
{
	return route_msg(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, ifname, dst);
}

int wm_sys_route_del(const char *ifname, const struct wm_prefix *dst)
{
	return route_msg(RTM_DELROUTE, 0, ifname, dst);
}
