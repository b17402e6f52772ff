/* The main routing table: dump, and routes through a gateway (see sys/route.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/rtnetlink.h>

#include "sys/linux/nl.h"
#include "sys/route.h"

#define DUMP_TRIES 5

struct dump {
	struct wm_route *v;
	size_t n, cap;
	int family;
};

struct attrs {
	const struct nlattr *dst, *gateway, *oif, *priority, *table, *multipath;
};

static int attr_cb(const struct nlattr *attr, void *data)
{
	struct attrs *a = data;

	switch (mnl_attr_get_type(attr)) {
	case RTA_DST:
		a->dst = attr;
		break;
	case RTA_GATEWAY:
		a->gateway = attr;
		break;
	case RTA_OIF:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
			a->oif = attr;
		break;
	case RTA_PRIORITY:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
			a->priority = attr;
		break;
	case RTA_TABLE:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
			a->table = attr;
		break;
	case RTA_MULTIPATH:
		a->multipath = attr;
		break;
	}
	return MNL_CB_OK;
}

static void set_addr(struct wm_prefix *p, int family, const struct nlattr *a, uint8_t len)
{
	size_t alen = family == AF_INET ? 4 : 16;

	if (!a || mnl_attr_get_payload_len(a) != alen)
		return;
	p->family = (uint8_t)family;
	p->len = len;
	memcpy(p->addr, mnl_attr_get_payload(a), alen);
}

/* A multipath route: its first next hop stands for it. */
static void first_hop(struct wm_route *r, int family, const struct nlattr *mp)
{
	const struct rtnexthop *nh = mnl_attr_get_payload(mp);
	size_t len = mnl_attr_get_payload_len(mp);

	if (len < sizeof(*nh) || nh->rtnh_len < sizeof(*nh) || nh->rtnh_len > len)
		return;
	r->ifindex = nh->rtnh_ifindex;
	for (size_t off = RTNH_ALIGN(sizeof(*nh)); off + sizeof(struct nlattr) <= nh->rtnh_len;) {
		const struct nlattr *a = (const struct nlattr *)((const char *)nh + off);

		if (a->nla_len < sizeof(*a) || off + a->nla_len > nh->rtnh_len)
			break;
		if (mnl_attr_get_type(a) == RTA_GATEWAY)
			set_addr(&r->gateway, family, a, family == AF_INET ? 32 : 128);
		off += MNL_ALIGN(a->nla_len);
	}
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct attrs a = {0};
	struct wm_route r = {0};
	uint32_t table;

	if (nlh->nlmsg_type != RTM_NEWROUTE || mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm))
		return MNL_CB_OK;
	if (rtm->rtm_family != d->family || rtm->rtm_type != RTN_UNICAST)
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(*rtm), attr_cb, &a) < 0)
		return MNL_CB_ERROR;
	table = a.table ? mnl_attr_get_u32(a.table) : rtm->rtm_table;
	if (table != RT_TABLE_MAIN)
		return MNL_CB_OK;
	r.dst.family = (uint8_t)d->family;
	r.dst.len = rtm->rtm_dst_len;
	set_addr(&r.dst, d->family, a.dst, rtm->rtm_dst_len);
	r.dst = wm_prefix_network(&r.dst);
	set_addr(&r.gateway, d->family, a.gateway, d->family == AF_INET ? 32 : 128);
	r.ifindex = a.oif ? (int)mnl_attr_get_u32(a.oif) : 0;
	r.metric = a.priority ? mnl_attr_get_u32(a.priority) : 0;
	r.protocol = rtm->rtm_protocol;
	if (a.multipath && !r.ifindex)
		first_hop(&r, d->family, a.multipath);
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 32;
		struct wm_route *v = realloc(d->v, cap * sizeof(*v));

		if (!v) {
			errno = ENOMEM;
			return MNL_CB_ERROR;
		}
		d->v = v;
		d->cap = cap;
	}
	d->v[d->n++] = r;
	return MNL_CB_OK;
}

int wm_sys_route_list(int family, struct wm_route **out, size_t *n)
{
	struct dump d = {.family = family};
	int ret, tries = 0;

	if (!out || !n || (family != AF_INET && family != AF_INET6))
		return -EINVAL;
	*out = NULL;
	*n = 0;
	do {
		char buf[WM_NL_MSGSIZE];
		struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
		struct rtmsg *rtm;
		struct wm_nl nl;

		d.n = 0;
		nlh->nlmsg_type = RTM_GETROUTE;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
		rtm->rtm_family = (unsigned char)family;
		ret = wm_nl_open(&nl, NETLINK_ROUTE);
		if (ret < 0)
			break;
		ret = wm_nl_talk(&nl, nlh, route_cb, &d);
		wm_nl_close(&nl);
	} while (ret == -EINTR && ++tries < DUMP_TRIES);
	if (ret < 0) {
		free(d.v);
		return ret;
	}
	*out = d.v;
	*n = d.n;
	return 0;
}

static int route_msg(int type, uint16_t flags, const struct wm_route *r)
{
	char buf[WM_NL_MSGSIZE];
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	struct wm_prefix dst;
	size_t alen;

	if (!r || (r->dst.family != AF_INET && r->dst.family != AF_INET6) || r->ifindex <= 0)
		return -EINVAL;
	alen = r->dst.family == AF_INET ? 4 : 16;
	if (r->dst.len > alen * 8 || (r->gateway.family && r->gateway.family != r->dst.family))
		return -EINVAL;
	dst = wm_prefix_network(&r->dst);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (uint16_t)type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = dst.family;
	rtm->rtm_dst_len = dst.len;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = r->protocol ? r->protocol : WM_RTPROT_WEBMESH;
	rtm->rtm_scope = r->gateway.family ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put(nlh, RTA_DST, alen, dst.addr);
	if (r->gateway.family)
		mnl_attr_put(nlh, RTA_GATEWAY, alen, r->gateway.addr);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)r->ifindex);
	mnl_attr_put_u32(nlh, RTA_PRIORITY, r->metric);
	return wm_nl_route_talk(nlh, NULL, NULL);
}

int wm_sys_route_set(const struct wm_route *r)
{
	return route_msg(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, r);
}

int wm_sys_route_remove(const struct wm_route *r)
{
	return route_msg(RTM_DELROUTE, 0, r);
}
