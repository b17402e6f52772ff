/* Synchronous netlink request/ack over libmnl, shared by every netlink user. */
#include "sys/linux/nl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int wm_nl_open(struct wm_nl *nl, int bus)
{
	int ret;

	memset(nl, 0, sizeof(*nl));
	nl->buf = malloc(WM_NL_BUFSIZE);
	if (!nl->buf)
		return -ENOMEM;
	nl->sock = mnl_socket_open2(bus, SOCK_CLOEXEC);
	if (!nl->sock) {
		ret = -errno;
		goto fail;
	}
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto fail;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	/* Any start value works; time() keeps replies to an earlier process
	 * that had the same port id from matching. */
	nl->seq = (uint32_t)time(NULL);
	return 0;
fail:
	wm_nl_close(nl);
	return ret;
}

void wm_nl_close(struct wm_nl *nl)
{
	if (nl->sock)
		mnl_socket_close(nl->sock);
	free(nl->buf);
	memset(nl, 0, sizeof(*nl));
}

int wm_nl_talk(struct wm_nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	uint32_t seq = ++nl->seq;
	int ret;

	nlh->nlmsg_seq = seq;
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf, WM_NL_BUFSIZE);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		errno = 0;
		ret = mnl_cb_run(nl->buf, (size_t)n, seq, nl->portid, cb, data);
		if (ret == MNL_CB_ERROR)
			return errno ? -errno : -EPROTO;
		if (ret == MNL_CB_STOP)
			return 0;
	}
}

int wm_nl_route_talk(struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	struct wm_nl nl;
	int ret = wm_nl_open(&nl, NETLINK_ROUTE);

	if (ret < 0)
		return ret;
	ret = wm_nl_talk(&nl, nlh, cb, data);
	wm_nl_close(&nl);
	return ret;
}
