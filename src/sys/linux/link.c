/* Links: create a wireguard link, delete, look up, bring up with an MTU. */
#include <errno.h>
#include <net/if.h>
#include <string.h>

#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "sys/linux/nl.h"
#include "sys/sys.h"

static int ifname_check(const char *ifname)
{
	size_t n;

	if (!ifname)
		return -EINVAL;
	n = strnlen(ifname, IFNAMSIZ);
	if (n == 0 || n >= IFNAMSIZ || strchr(ifname, '/'))
		return -EINVAL;
	return 0;
}

int wm_sys_link_index(const char *ifname)
{
	unsigned idx;

	if (ifname_check(ifname) < 0)
		return -EINVAL;
	idx = if_nametoindex(ifname);
	if (idx == 0)
		return -ENODEV;
	return (int)idx;
}

int wm_sys_link_create_wireguard(const char *ifname)
{
	char buf[WM_NL_MSGSIZE];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	struct nlattr *linkinfo;
	int ret;

	if (ifname_check(ifname) < 0)
		return -EINVAL;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "wireguard");
	mnl_attr_nest_end(nlh, linkinfo);
	ret = wm_nl_route_talk(nlh, NULL, NULL);
	/* Without the module the kernel cannot resolve the kind and says
	 * EOPNOTSUPP; keep that exact code, callers fall back to userspace. */
	return ret;
}

/* A request of type about the existing link ifname, written into buf; NULL
 * (with *err set) when there is no such link. */
static struct nlmsghdr *link_msg(char *buf, uint16_t type, const char *ifname,
				 struct ifinfomsg **ifm, int *err)
{
	struct nlmsghdr *nlh;
	int idx = wm_sys_link_index(ifname);

	if (idx < 0) {
		*err = idx;
		return NULL;
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	*ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(**ifm));
	(*ifm)->ifi_family = AF_UNSPEC;
	(*ifm)->ifi_index = idx;
	return nlh;
}

int wm_sys_link_delete(const char *ifname)
{
	char buf[WM_NL_MSGSIZE];
	struct ifinfomsg *ifm;
	int err = 0;
	struct nlmsghdr *nlh = link_msg(buf, RTM_DELLINK, ifname, &ifm, &err);

	return nlh ? wm_nl_route_talk(nlh, NULL, NULL) : err;
}

int wm_sys_link_up(const char *ifname, uint32_t mtu)
{
	char buf[WM_NL_MSGSIZE];
	struct ifinfomsg *ifm;
	int err = 0;
	struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, ifname, &ifm, &err);

	if (!nlh)
		return err;
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return wm_nl_route_talk(nlh, NULL, NULL);
}
