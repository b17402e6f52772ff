/* nftables through libnftables: every firewall rule webmesh makes lives in
 * tables it owns ("inet webmesh" and "ip webmesh-nat"), so flushing them never
 * touches the host's own rules. */
#ifndef WM_SYS_NFT_H
#define WM_SYS_NFT_H

#include <stddef.h>

#define WM_NFT_TABLE "webmesh"

/* Runs a batch of nft commands (the nft(8) language, one command per line) as
 * one transaction: all of it applies or none. err receives nft's message. */
int wm_nft_run(const char *cmds, char *err, size_t errlen);

#endif
