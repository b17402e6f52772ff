/* The host's global unicast addresses (endpoint detection): a link dump to
 * know which links count, then an address dump. */
#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "sys/linux/nl.h"
#include "sys/sys.h"

/* A dump the kernel marks interrupted (NLM_F_DUMP_INTR) is retried this often. */
#define DUMP_TRIES 5

struct links {
	int *ok; /* ifindexes of up, non-loopback links other than the skipped one */
	size_t n, cap;
	const char *skip;
};

struct addrs {
	struct wm_prefix *v;
	size_t n, cap;
	const struct links *links;
	int err;
};

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	const char **name = data;

	if (mnl_attr_get_type(attr) == IFLA_IFNAME &&
	    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
		*name = mnl_attr_get_str(attr);
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct links *l = data;
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	const char *name = NULL;

	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifm))
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, &name) < 0)
		return MNL_CB_ERROR;
	if (!(ifm->ifi_flags & IFF_UP) || (ifm->ifi_flags & IFF_LOOPBACK))
		return MNL_CB_OK;
	if (l->skip && name && strcmp(name, l->skip) == 0)
		return MNL_CB_OK;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		int *p = realloc(l->ok, ncap * sizeof(*p));

		if (!p) {
			errno = ENOMEM;
			return MNL_CB_ERROR;
		}
		l->ok = p;
		l->cap = ncap;
	}
	l->ok[l->n++] = ifm->ifi_index;
	return MNL_CB_OK;
}

static bool link_ok(const struct links *l, int idx)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->ok[i] == idx)
			return true;
	return false;
}

struct addr_attrs {
	const struct nlattr *local, *address;
	uint32_t flags;
	bool has_flags;
};

static int addr_attr_cb(const struct nlattr *attr, void *data)
{
	struct addr_attrs *a = data;

	switch (mnl_attr_get_type(attr)) {
	case IFA_LOCAL:
		a->local = attr;
		break;
	case IFA_ADDRESS:
		a->address = attr;
		break;
	case IFA_FLAGS:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0) {
			a->flags = mnl_attr_get_u32(attr);
			a->has_flags = true;
		}
		break;
	}
	return MNL_CB_OK;
}

static bool is_link_local(const struct wm_prefix *p)
{
	if (p->family == AF_INET)
		return p->addr[0] == 169 && p->addr[1] == 254;
	return p->addr[0] == 0xfe && (p->addr[1] & 0xc0) == 0x80;
}

static bool is_multicast(const struct wm_prefix *p)
{
	if (p->family == AF_INET)
		return (p->addr[0] & 0xf0) == 0xe0;
	return p->addr[0] == 0xff;
}

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addrs *out = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct addr_attrs a = {0};
	const struct nlattr *attr;
	struct wm_prefix p = {0};
	size_t alen;
	uint32_t flags;

	if (nlh->nlmsg_type != RTM_NEWADDR || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa))
		return MNL_CB_OK;
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return MNL_CB_OK;
	if (!link_ok(out->links, (int)ifa->ifa_index) || ifa->ifa_scope != RT_SCOPE_UNIVERSE)
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, &a) < 0)
		return MNL_CB_ERROR;
	/* IFA_LOCAL is ours; IFA_ADDRESS is the far end on point-to-point links. */
	attr = a.local ? a.local : a.address;
	alen = ifa->ifa_family == AF_INET ? 4 : 16;
	if (!attr || mnl_attr_get_payload_len(attr) != alen)
		return MNL_CB_OK;
	flags = a.has_flags ? a.flags : ifa->ifa_flags;
	if (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED | IFA_F_DEPRECATED))
		return MNL_CB_OK;
	p.family = ifa->ifa_family;
	p.len = (uint8_t)(alen * 8);
	memcpy(p.addr, mnl_attr_get_payload(attr), alen);
	if (is_link_local(&p) || is_multicast(&p))
		return MNL_CB_OK;
	for (size_t i = 0; i < out->n; i++)
		if (wm_prefix_equal(&out->v[i], &p))
			return MNL_CB_OK;
	if (out->n == out->cap) {
		size_t ncap = out->cap ? out->cap * 2 : 8;
		struct wm_prefix *np = realloc(out->v, ncap * sizeof(*np));

		if (!np) {
			errno = ENOMEM;
			return MNL_CB_ERROR;
		}
		out->v = np;
		out->cap = ncap;
	}
	out->v[out->n++] = p;
	return MNL_CB_OK;
}

static int dump(struct wm_nl *nl, int type, mnl_cb_t cb, void *data)
{
	char buf[WM_NL_MSGSIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtgenmsg *g;

	nlh->nlmsg_type = (uint16_t)type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->rtgen_family = AF_UNSPEC;
	return wm_nl_talk(nl, nlh, cb, data);
}

/* Public addresses first, keeping the kernel's order otherwise. */
static void order_public_first(struct wm_prefix *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct wm_prefix x = v[i];
		size_t j = i;

		if (wm_addr_is_private(&x))
			continue;
		while (j > 0 && wm_addr_is_private(&v[j - 1])) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}

int wm_sys_list_addresses(const char *skip_ifname, struct wm_prefix **out, size_t *n)
{
	struct wm_nl nl;
	struct links links = {.skip = skip_ifname};
	struct addrs addrs = {.links = &links};
	int ret, tries = 0;

	if (!out || !n)
		return -EINVAL;
	*out = NULL;
	*n = 0;
	do {
		links.n = 0;
		addrs.n = 0;
		/* A fresh socket each try: an interrupted dump leaves the rest of
		 * its messages queued on the old one. */
		ret = wm_nl_open(&nl, NETLINK_ROUTE);
		if (ret < 0)
			break;
		ret = dump(&nl, RTM_GETLINK, link_cb, &links);
		if (ret == 0)
			ret = dump(&nl, RTM_GETADDR, addr_cb, &addrs);
		wm_nl_close(&nl);
	} while (ret == -EINTR && ++tries < DUMP_TRIES);
	free(links.ok);
	if (ret < 0) {
		free(addrs.v);
		return ret;
	}
	order_public_first(addrs.v, addrs.n);
	*out = addrs.v;
	*n = addrs.n;
	return 0;
}
