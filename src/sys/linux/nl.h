/* A small synchronous netlink channel over libmnl: one socket, sequence
 * numbers, and the ack/dump handling every request shares. Used by src/sys and
 * by the kernel WireGuard backend (generic netlink). */
#ifndef WM_SYS_LINUX_NL_H
#define WM_SYS_LINUX_NL_H

#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

/* Big enough for any single message the kernel sends to a dump reader: the
 * kernel sizes dump skbs from the largest buffer we have read with (capped at
 * 32 KiB), so a reader with a smaller buffer would see truncated messages. */
#define WM_NL_BUFSIZE (64u * 1024u)

/* Room for one request we build: libmnl's MNL_SOCKET_BUFFER_SIZE is computed at
 * run time (a page, at most 8 KiB), which would make stack buffers VLAs. */
#define WM_NL_MSGSIZE 8192u

struct wm_nl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	char *buf; /* WM_NL_BUFSIZE bytes, for receiving */
};

/* Opens and binds a socket on bus (NETLINK_ROUTE, NETLINK_GENERIC). */
int wm_nl_open(struct wm_nl *nl, int bus);
void wm_nl_close(struct wm_nl *nl);
/* Stamps nlh with the next sequence number and NLM_F_ACK, sends it, and runs
 * cb (may be NULL) over every reply until the ack or the end of the dump.
 * Returns 0 or the kernel's negative errno (or a callback's failure). */
int wm_nl_talk(struct wm_nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data);
/* One-shot: open a NETLINK_ROUTE channel, talk, close. */
int wm_nl_route_talk(struct nlmsghdr *nlh, mnl_cb_t cb, void *data);

#endif
