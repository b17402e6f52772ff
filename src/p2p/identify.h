/* The identify message (/ipfs/id/1.0.0, libp2p identify/README.md), encode
 * and decode. No I/O. */
#ifndef WM_P2P_IDENTIFY_H
#define WM_P2P_IDENTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/p2pwire.h"

#define WM_IDENTIFY_PROTOCOL "/ipfs/id/1.0.0"
#define WM_PING_PROTOCOL "/ipfs/ping/1.0.0"
#define WM_IDENTIFY_MAX 8192 /* js-libp2p's bound on a message, too */
#define WM_IDENTIFY_ADDRS 8
#define WM_IDENTIFY_PROTOS 24
#define WM_IDENTIFY_STR 128

struct wm_identify {
	char protocol_version[WM_IDENTIFY_STR];
	char agent_version[WM_IDENTIFY_STR];
	bool has_pubkey; /* an Ed25519 key; other key types are left out */
	uint8_t pubkey[32];
	size_t nlisten;
	uint8_t listen[WM_IDENTIFY_ADDRS][WM_MADDR_MAX];
	size_t listen_len[WM_IDENTIFY_ADDRS];
	size_t observed_len; /* 0: none */
	uint8_t observed[WM_MADDR_MAX];
	size_t nprotocols;
	char protocols[WM_IDENTIFY_PROTOS][WM_IDENTIFY_STR];
};

/* Bytes written, or -ENOSPC. */
int wm_identify_encode(const struct wm_identify *m, uint8_t *out, size_t cap);
/* 0 or -EBADMSG (malformed protobuf, a string field with bytes outside
 * printable ASCII). Beyond the table's bounds, addresses and protocols are
 * left out, and so are over-long ones: a peer can advertise much, we keep a
 * bounded part. */
int wm_identify_decode(const uint8_t *buf, size_t len, struct wm_identify *m);

#endif
