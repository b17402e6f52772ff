/* Kernel WireGuard backend: WG_CMD_SET_DEVICE/GET_DEVICE over generic netlink. */
#include "wg/netlink.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/genetlink.h>

#include "core/error.h"
#include "sys/linux/nl.h"

/* Smallest buffer that fits the headers, the name and one device attribute set. */
#define MIN_SET_BUF 256

static int put_endpoint(struct nlmsghdr *nlh, size_t len, const struct wm_endpoint *e)
{
	if (e->ip.family == AF_INET) {
		struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(e->port)};

		memcpy(&sin.sin_addr, e->ip.addr, 4);
		return mnl_attr_put_check(nlh, len, WGPEER_A_ENDPOINT, sizeof(sin), &sin)
			       ? 0
			       : -EMSGSIZE;
	}
	if (e->ip.family == AF_INET6) {
		struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(e->port)};

		memcpy(&sin6.sin6_addr, e->ip.addr, 16);
		return mnl_attr_put_check(nlh, len, WGPEER_A_ENDPOINT, sizeof(sin6), &sin6)
			       ? 0
			       : -EMSGSIZE;
	}
	return -EINVAL;
}

static int put_allowed_ip(struct nlmsghdr *nlh, size_t len, const struct wm_prefix *p)
{
	struct nlattr *nest;
	size_t alen;

	if (p->family == AF_INET && p->len <= 32)
		alen = 4;
	else if (p->family == AF_INET6 && p->len <= 128)
		alen = 16;
	else
		return -EINVAL;
	nest = mnl_attr_nest_start_check(nlh, len, 0);
	if (!nest)
		return -EMSGSIZE;
	if (!mnl_attr_put_u16_check(nlh, len, WGALLOWEDIP_A_FAMILY, p->family) ||
	    !mnl_attr_put_check(nlh, len, WGALLOWEDIP_A_IPADDR, alen, p->addr) ||
	    !mnl_attr_put_u8_check(nlh, len, WGALLOWEDIP_A_CIDR_MASK, p->len)) {
		mnl_attr_nest_cancel(nlh, nest);
		return -EMSGSIZE;
	}
	mnl_attr_nest_end(nlh, nest);
	return 0;
}

/* The part of a peer that goes before its allowed IPs. A continuation (the
 * header already went out) carries only what must hold for every part. */
static int put_peer_header(struct nlmsghdr *nlh, size_t len, const struct wm_wg_peer *peer,
			   bool continuation)
{
	uint32_t flags = 0;
	int ret;

	if (!mnl_attr_put_check(nlh, len, WGPEER_A_PUBLIC_KEY, WM_KEY_LEN, peer->public_key))
		return -EMSGSIZE;
	if (peer->flags & WM_WGPEER_REMOVE_ME)
		flags |= WGPEER_F_REMOVE_ME;
	/* Without UPDATE_ONLY a continuation would create the peer that the
	 * first part, by request, did not. */
	if (peer->flags & WM_WGPEER_UPDATE_ONLY)
		flags |= WGPEER_F_UPDATE_ONLY;
	if (!continuation) {
		if (peer->flags & WM_WGPEER_REPLACE_ALLOWEDIPS)
			flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
		if (peer->flags & WM_WGPEER_HAS_ENDPOINT) {
			ret = put_endpoint(nlh, len, &peer->endpoint);
			if (ret < 0)
				return ret;
		}
		if ((peer->flags & WM_WGPEER_HAS_KEEPALIVE) &&
		    !mnl_attr_put_u16_check(nlh, len, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
					    peer->keepalive_interval))
			return -EMSGSIZE;
	}
	if (flags && !mnl_attr_put_u32_check(nlh, len, WGPEER_A_FLAGS, flags))
		return -EMSGSIZE;
	return 0;
}

/* Adds peer, or as much of it as fits when it is alone in the message (a peer
 * that does not fit behind others starts the next message instead, so peers
 * split only when one message cannot hold them). Returns 1 if something was
 * added (progress), 0 if nothing was, or a negative error. Advances the cursor. */
static int put_peer(struct nlmsghdr *nlh, size_t len, const struct wm_wg_peer *peer,
		    struct wm_wgnl_cursor *cur, bool alone)
{
	struct nlattr *pnest, *anest;
	size_t aip0 = cur->aip;
	bool progress = false;
	int ret;

	pnest = mnl_attr_nest_start_check(nlh, len, 0);
	if (!pnest)
		return 0;
	ret = put_peer_header(nlh, len, peer, cur->hdr_sent);
	if (ret < 0) {
		mnl_attr_nest_cancel(nlh, pnest);
		return ret == -EMSGSIZE ? 0 : ret;
	}
	if (!cur->hdr_sent)
		progress = true;
	if (cur->aip < peer->n_allowed_ips && !(peer->flags & WM_WGPEER_REMOVE_ME)) {
		anest = mnl_attr_nest_start_check(nlh, len, WGPEER_A_ALLOWEDIPS);
		if (!anest)
			goto full;
		while (cur->aip < peer->n_allowed_ips) {
			ret = put_allowed_ip(nlh, len, &peer->allowed_ips[cur->aip]);
			if (ret == -EMSGSIZE)
				break;
			if (ret < 0) {
				mnl_attr_nest_cancel(nlh, pnest);
				return ret;
			}
			cur->aip++;
			progress = true;
		}
		if (cur->aip < peer->n_allowed_ips) {
			mnl_attr_nest_end(nlh, anest);
			goto full;
		}
		mnl_attr_nest_end(nlh, anest);
	}
	mnl_attr_nest_end(nlh, pnest);
	cur->peer++;
	cur->aip = 0;
	cur->hdr_sent = false;
	return 1;
full:
	if (!progress || !alone) {
		cur->aip = aip0;
		mnl_attr_nest_cancel(nlh, pnest);
		return 0;
	}
	mnl_attr_nest_end(nlh, pnest);
	cur->hdr_sent = true;
	return 1;
}

int wm_wgnl_build_set(const struct wm_wg_device *dev, void *buf, size_t len, uint16_t family_id,
		      uint32_t seq, struct wm_wgnl_cursor *cur)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;
	struct nlattr *peers;
	bool first, progress, added = false;

	if (!dev || !buf || !cur)
		return -EINVAL;
	if (cur->done)
		return 0;
	if (len < MIN_SET_BUF || len > UINT32_MAX)
		return -EMSGSIZE;
	if (!dev->name[0] || strnlen(dev->name, WM_IFNAMSIZ) >= WM_IFNAMSIZ)
		return -EINVAL;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = family_id;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = WG_CMD_SET_DEVICE;
	genl->version = WG_GENL_VERSION;
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, dev->name);

	first = !cur->started;
	progress = first;
	if (first) {
		if (dev->flags & WM_WGDEV_HAS_PRIVATE_KEY)
			mnl_attr_put(nlh, WGDEVICE_A_PRIVATE_KEY, WM_KEY_LEN, dev->private_key);
		if (dev->flags & WM_WGDEV_HAS_LISTEN_PORT)
			mnl_attr_put_u16(nlh, WGDEVICE_A_LISTEN_PORT, dev->listen_port);
		if (dev->flags & WM_WGDEV_HAS_FWMARK)
			mnl_attr_put_u32(nlh, WGDEVICE_A_FWMARK, dev->fwmark);
		if (dev->flags & WM_WGDEV_REPLACE_PEERS)
			mnl_attr_put_u32(nlh, WGDEVICE_A_FLAGS, WGDEVICE_F_REPLACE_PEERS);
		cur->started = true;
	}
	if (cur->peer < dev->n_peers) {
		peers = mnl_attr_nest_start_check(nlh, len, WGDEVICE_A_PEERS);
		if (!peers)
			return -EMSGSIZE;
		while (cur->peer < dev->n_peers) {
			int ret = put_peer(nlh, len, &dev->peers[cur->peer], cur, !added);

			if (ret < 0)
				return ret;
			if (ret == 0)
				break;
			progress = true;
			added = true;
			if (cur->hdr_sent)
				break; /* the peer continues in the next message */
		}
		/* Before nest_end a nest's length is still its header's. */
		if ((char *)mnl_nlmsg_get_payload_tail(nlh) == (char *)peers + MNL_ATTR_HDRLEN)
			mnl_attr_nest_cancel(nlh, peers);
		else
			mnl_attr_nest_end(nlh, peers);
	}
	if (!progress)
		return -EMSGSIZE;
	if (cur->peer >= dev->n_peers)
		cur->done = true;
	return (int)nlh->nlmsg_len;
}

int wm_wgnl_build_get(const char *ifname, void *buf, size_t len, uint16_t family_id, uint32_t seq)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;

	if (!ifname || !*ifname || strnlen(ifname, WM_IFNAMSIZ) >= WM_IFNAMSIZ)
		return -EINVAL;
	if (len < MIN_SET_BUF)
		return -EMSGSIZE;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = family_id;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = WG_CMD_GET_DEVICE;
	genl->version = WG_GENL_VERSION;
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, ifname);
	return (int)nlh->nlmsg_len;
}

/* ---- parsing a get dump ---- */

struct parse_ctx {
	struct wm_wg_device *dev;
	struct wm_wg_peer *peer;
	struct wm_prefix aip;
	bool aip_family, aip_addr, aip_cidr;
	int err;
};

static int allowedip_attr_cb(const struct nlattr *attr, void *data)
{
	struct parse_ctx *c = data;

	switch (mnl_attr_get_type(attr)) {
	case WGALLOWEDIP_A_FAMILY:
		if (mnl_attr_validate(attr, MNL_TYPE_U16) < 0)
			return MNL_CB_ERROR;
		c->aip.family = (uint8_t)mnl_attr_get_u16(attr);
		c->aip_family =
			mnl_attr_get_u16(attr) == AF_INET || mnl_attr_get_u16(attr) == AF_INET6;
		break;
	case WGALLOWEDIP_A_IPADDR: {
		uint16_t n = mnl_attr_get_payload_len(attr);

		if (n != 4 && n != 16)
			return MNL_CB_ERROR;
		memcpy(c->aip.addr, mnl_attr_get_payload(attr), n);
		c->aip_addr = true;
		break;
	}
	case WGALLOWEDIP_A_CIDR_MASK:
		if (mnl_attr_validate(attr, MNL_TYPE_U8) < 0)
			return MNL_CB_ERROR;
		c->aip.len = mnl_attr_get_u8(attr);
		c->aip_cidr = true;
		break;
	}
	return MNL_CB_OK;
}

static int allowedips_cb(const struct nlattr *attr, void *data)
{
	struct parse_ctx *c = data;
	int ret;

	memset(&c->aip, 0, sizeof(c->aip));
	c->aip_family = c->aip_addr = c->aip_cidr = false;
	if (mnl_attr_parse_nested(attr, allowedip_attr_cb, c) < 0)
		return MNL_CB_ERROR;
	if (!c->aip_family || !c->aip_addr || !c->aip_cidr)
		return MNL_CB_ERROR;
	ret = wm_wg_peer_add_allowed_ip(c->peer, &c->aip);
	if (ret < 0) {
		c->err = ret == -ENOMEM ? -ENOMEM : -WM_EPROTOCOL;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

static int peer_key_cb(const struct nlattr *attr, void *data)
{
	const uint8_t **key = data;

	if (mnl_attr_get_type(attr) == WGPEER_A_PUBLIC_KEY &&
	    mnl_attr_get_payload_len(attr) == WM_KEY_LEN)
		*key = mnl_attr_get_payload(attr);
	return MNL_CB_OK;
}

static int peer_attr_cb(const struct nlattr *attr, void *data)
{
	struct parse_ctx *c = data;
	struct wm_wg_peer *p = c->peer;

	switch (mnl_attr_get_type(attr)) {
	case WGPEER_A_ENDPOINT: {
		uint16_t n = mnl_attr_get_payload_len(attr);
		const struct sockaddr *sa = mnl_attr_get_payload(attr);

		if (n == sizeof(struct sockaddr_in) && sa->sa_family == AF_INET) {
			struct sockaddr_in sin;

			memcpy(&sin, sa, sizeof(sin));
			memset(&p->endpoint, 0, sizeof(p->endpoint));
			p->endpoint.ip.family = AF_INET;
			p->endpoint.ip.len = 32;
			memcpy(p->endpoint.ip.addr, &sin.sin_addr, 4);
			p->endpoint.port = ntohs(sin.sin_port);
			p->flags |= WM_WGPEER_HAS_ENDPOINT;
		} else if (n == sizeof(struct sockaddr_in6) && sa->sa_family == AF_INET6) {
			struct sockaddr_in6 sin6;

			memcpy(&sin6, sa, sizeof(sin6));
			memset(&p->endpoint, 0, sizeof(p->endpoint));
			p->endpoint.ip.family = AF_INET6;
			p->endpoint.ip.len = 128;
			memcpy(p->endpoint.ip.addr, &sin6.sin6_addr, 16);
			p->endpoint.port = ntohs(sin6.sin6_port);
			p->flags |= WM_WGPEER_HAS_ENDPOINT;
		}
		break;
	}
	case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
		if (mnl_attr_validate(attr, MNL_TYPE_U16) < 0)
			return MNL_CB_ERROR;
		p->keepalive_interval = mnl_attr_get_u16(attr);
		p->flags |= WM_WGPEER_HAS_KEEPALIVE;
		break;
	case WGPEER_A_LAST_HANDSHAKE_TIME: {
		int64_t ts[2];

		if (mnl_attr_get_payload_len(attr) != sizeof(ts))
			return MNL_CB_ERROR;
		memcpy(ts, mnl_attr_get_payload(attr), sizeof(ts));
		p->last_handshake_sec = ts[0];
		p->last_handshake_nsec = ts[1];
		break;
	}
	case WGPEER_A_RX_BYTES:
		if (mnl_attr_validate(attr, MNL_TYPE_U64) < 0)
			return MNL_CB_ERROR;
		p->rx_bytes = mnl_attr_get_u64(attr);
		break;
	case WGPEER_A_TX_BYTES:
		if (mnl_attr_validate(attr, MNL_TYPE_U64) < 0)
			return MNL_CB_ERROR;
		p->tx_bytes = mnl_attr_get_u64(attr);
		break;
	case WGPEER_A_PROTOCOL_VERSION:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		p->protocol_version = mnl_attr_get_u32(attr);
		break;
	case WGPEER_A_ALLOWEDIPS:
		return mnl_attr_parse_nested(attr, allowedips_cb, c);
	}
	return MNL_CB_OK;
}

static int peers_cb(const struct nlattr *attr, void *data)
{
	struct parse_ctx *c = data;
	const uint8_t *key = NULL;
	struct wm_wg_device *dev = c->dev;

	if (mnl_attr_parse_nested(attr, peer_key_cb, &key) < 0 || !key)
		return MNL_CB_ERROR;
	if (dev->n_peers && memcmp(dev->peers[dev->n_peers - 1].public_key, key, WM_KEY_LEN) == 0) {
		c->peer = &dev->peers[dev->n_peers - 1];
	} else {
		c->peer = wm_wg_device_add_peer(dev, key);
		if (!c->peer) {
			c->err = -ENOMEM;
			return MNL_CB_ERROR;
		}
	}
	return mnl_attr_parse_nested(attr, peer_attr_cb, c);
}

static int device_attr_cb(const struct nlattr *attr, void *data)
{
	struct parse_ctx *c = data;
	struct wm_wg_device *dev = c->dev;

	switch (mnl_attr_get_type(attr)) {
	case WGDEVICE_A_IFNAME:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0 ||
		    mnl_attr_get_payload_len(attr) > WM_IFNAMSIZ)
			return MNL_CB_ERROR;
		strcpy(dev->name, mnl_attr_get_str(attr));
		break;
	case WGDEVICE_A_PRIVATE_KEY:
		if (mnl_attr_get_payload_len(attr) != WM_KEY_LEN)
			return MNL_CB_ERROR;
		memcpy(dev->private_key, mnl_attr_get_payload(attr), WM_KEY_LEN);
		if (!wm_key_is_zero(dev->private_key))
			dev->flags |= WM_WGDEV_HAS_PRIVATE_KEY;
		break;
	case WGDEVICE_A_PUBLIC_KEY:
		if (mnl_attr_get_payload_len(attr) != WM_KEY_LEN)
			return MNL_CB_ERROR;
		memcpy(dev->public_key, mnl_attr_get_payload(attr), WM_KEY_LEN);
		break;
	case WGDEVICE_A_LISTEN_PORT:
		if (mnl_attr_validate(attr, MNL_TYPE_U16) < 0)
			return MNL_CB_ERROR;
		dev->listen_port = mnl_attr_get_u16(attr);
		dev->flags |= WM_WGDEV_HAS_LISTEN_PORT;
		break;
	case WGDEVICE_A_FWMARK:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		dev->fwmark = mnl_attr_get_u32(attr);
		if (dev->fwmark)
			dev->flags |= WM_WGDEV_HAS_FWMARK;
		break;
	case WGDEVICE_A_PEERS:
		return mnl_attr_parse_nested(attr, peers_cb, c);
	}
	return MNL_CB_OK;
}

int wm_wgnl_parse_get(const struct nlmsghdr *nlh, struct wm_wg_device *dev)
{
	struct parse_ctx c = {.dev = dev};

	if (!nlh || !dev)
		return -EINVAL;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct genlmsghdr))
		return -WM_EPROTOCOL;
	if (mnl_attr_parse(nlh, sizeof(struct genlmsghdr), device_attr_cb, &c) < 0)
		return c.err ? c.err : -WM_EPROTOCOL;
	return 0;
}

/* ---- I/O ---- */

static int family_attr_cb(const struct nlattr *attr, void *data)
{
	uint16_t *id = data;

	if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID &&
	    mnl_attr_validate(attr, MNL_TYPE_U16) == 0)
		*id = mnl_attr_get_u16(attr);
	return MNL_CB_OK;
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_attr_cb, data) < 0
		       ? MNL_CB_ERROR
		       : MNL_CB_OK;
}

int wm_wgnl_family(uint16_t *family_id)
{
	char buf[WM_NL_MSGSIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *genl;
	struct wm_nl nl;
	uint16_t id = 0;
	int ret;

	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = CTRL_CMD_GETFAMILY;
	genl->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
	ret = wm_nl_open(&nl, NETLINK_GENERIC);
	if (ret < 0)
		return ret;
	ret = wm_nl_talk(&nl, nlh, family_cb, &id);
	wm_nl_close(&nl);
	if (ret < 0)
		return ret;
	if (!id)
		return -ENOENT;
	*family_id = id;
	return 0;
}

/* Refuses a device that would fail half-way, after earlier messages applied. */
static int validate(const struct wm_wg_device *dev)
{
	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct wm_wg_peer *p = &dev->peers[i];
		uint8_t f = p->endpoint.ip.family;

		if ((p->flags & WM_WGPEER_HAS_ENDPOINT) && f != AF_INET && f != AF_INET6)
			return -EINVAL;
		for (size_t j = 0; j < p->n_allowed_ips; j++) {
			const struct wm_prefix *a = &p->allowed_ips[j];

			if (!((a->family == AF_INET && a->len <= 32) ||
			      (a->family == AF_INET6 && a->len <= 128)))
				return -EINVAL;
		}
	}
	return 0;
}

int wm_wgnl_set(uint16_t family_id, const struct wm_wg_device *dev)
{
	struct wm_wgnl_cursor cur = {0};
	struct wm_nl nl;
	char *msg;
	int ret, n;

	if (!dev)
		return -EINVAL;
	ret = validate(dev);
	if (ret < 0)
		return ret;
	/* Page-sized messages, as wireguard-tools sends: the kernel handles
	 * them without large allocations; big sets take several. */
	msg = malloc(WM_NL_MSGSIZE);
	if (!msg)
		return -ENOMEM;
	ret = wm_nl_open(&nl, NETLINK_GENERIC);
	if (ret < 0) {
		free(msg);
		return ret;
	}
	while ((n = wm_wgnl_build_set(dev, msg, WM_NL_MSGSIZE, family_id, 0, &cur)) > 0) {
		ret = wm_nl_talk(&nl, (struct nlmsghdr *)msg, NULL, NULL);
		if (ret < 0)
			break;
	}
	if (n < 0)
		ret = n;
	wm_wipe(msg, WM_NL_MSGSIZE);
	free(msg);
	wm_nl_close(&nl);
	return ret;
}

static int get_cb(const struct nlmsghdr *nlh, void *data)
{
	struct parse_ctx *c = data;
	int ret = wm_wgnl_parse_get(nlh, c->dev);

	if (ret < 0) {
		c->err = ret;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

int wm_wgnl_get(uint16_t family_id, const char *ifname, struct wm_wg_device **out)
{
	char buf[WM_NL_MSGSIZE];
	struct parse_ctx c = {0};
	struct wm_nl nl;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	ret = wm_wgnl_build_get(ifname, buf, sizeof(buf), family_id, 0);
	if (ret < 0)
		return ret;
	c.dev = wm_wg_device_new(ifname);
	if (!c.dev)
		return -ENOMEM;
	ret = wm_nl_open(&nl, NETLINK_GENERIC);
	if (ret == 0) {
		ret = wm_nl_talk(&nl, (struct nlmsghdr *)buf, get_cb, &c);
		if (ret < 0 && c.err)
			ret = c.err;
		wm_nl_close(&nl);
	}
	if (ret < 0) {
		wm_wg_device_free(c.dev);
		return ret;
	}
	wm_wg_device_sort(c.dev);
	*out = c.dev;
	return 0;
}
