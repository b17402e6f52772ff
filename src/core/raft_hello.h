/* The authentication message both ends of a Raft connection send inside TLS
 * (pure): who they are, and a MAC that binds the WireGuard keys of both nodes
 * to this one TLS session (src/store/raft_transport.c). */
#ifndef WM_CORE_RAFT_HELLO_H
#define WM_CORE_RAFT_HELLO_H

#include <stddef.h>
#include <stdint.h>

#include "core/ids.h"

#define WM_RAFT_HELLO_LABEL "webmesh-raft-v1"
#define WM_RAFT_EXPORTER_LABEL "EXPORTER-webmesh-raft"
#define WM_RAFT_EXPORTER_LEN 32
#define WM_RAFT_MAC_LEN 32
#define WM_RAFT_ADDRESS_MAX 63
/* "WMR1", a 2-byte body length, then the body: id, raft ID, address, MAC. */
#define WM_RAFT_HELLO_MAX                                                                          \
	(4 + 2 + 1 + WM_NODE_ID_MAX + 8 + 1 + WM_RAFT_ADDRESS_MAX + WM_RAFT_MAC_LEN)
/* "webmesh-raft-v1\n" ROLE "\n" EXPORTER */
#define WM_RAFT_MAC_INPUT_MAX (sizeof(WM_RAFT_HELLO_LABEL) + 8 + WM_RAFT_EXPORTER_LEN)

struct wm_raft_hello {
	char node_id[WM_NODE_ID_MAX + 1];
	uint64_t raft_id;
	char address[WM_RAFT_ADDRESS_MAX + 1]; /* the sender's Raft address, IPv4:port */
	uint8_t mac[WM_RAFT_MAC_LEN];
};

/* Writes h into buf (WM_RAFT_HELLO_MAX bytes); returns the length, or
 * -EINVAL when a field is empty or too long. */
int wm_raft_hello_encode(const struct wm_raft_hello *h, uint8_t buf[WM_RAFT_HELLO_MAX]);

/* Reads one hello from the start of buf. Returns the bytes it took (> 0),
 * -EAGAIN when buf holds only a prefix of a valid hello, or -EPROTO with the
 * reason in *why (static string) when the bytes cannot be a hello: bad magic,
 * a length out of range, a node ID that is not valid (core/ids.h), a raft ID
 * of 0, an address that is not printable text. out is untouched on error. */
int wm_raft_hello_parse(const uint8_t *buf, size_t len, struct wm_raft_hello *out,
			const char **why);

/* The bytes the MAC covers for role "client" or "server"; returns their
 * length, or -EINVAL for another role. out holds WM_RAFT_MAC_INPUT_MAX. */
int wm_raft_mac_input(const char *role, const uint8_t exporter[WM_RAFT_EXPORTER_LEN],
		      uint8_t out[WM_RAFT_MAC_INPUT_MAX]);

#endif
