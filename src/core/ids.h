/* Node IDs and other names: what is allowed and why (pure). */
#ifndef WM_CORE_IDS_H
#define WM_CORE_IDS_H

#include <stdbool.h>

/* Node IDs become DNS labels under the mesh domain, so they follow RFC 1123
 * host-name rules: 1..63 chars of [a-z0-9-] (upper case is refused rather than
 * folded, so IDs compare byte-wise), not starting or ending with '-'. */
#define WM_NODE_ID_MAX 63

/* 0 if valid; -EINVAL with a reason in *why (static string) otherwise.
 * Reserved IDs (see ids.c: "localhost", "self", "all", "leader", names starting
 * with "wm-") are refused too. why may be NULL. */
int wm_node_id_check(const char *id, const char **why);
/* A peer named by its node ID and base64 WireGuard key (a subscriber's held
 * peers): true, or false with *why saying which is bad. The member names only
 * such peers (one bad entry would refuse its whole subscription), the server
 * refuses any other. */
bool wm_peer_named_ok(const char *id, const char *key_b64, const char **why);

/* Zones (zone-awareness-id, JoinRequest.zone): the label syntax of node IDs
 * (1..63 of a-z, 0-9, '-', not starting or ending with '-'), without the
 * reserved names: a zone only groups nodes, it is never looked up as a name
 * in DNS or the CLI. The empty string is refused; callers for which a zone is
 * optional test for "" first. 0, or -EINVAL with *why (why may be NULL). */
int wm_zone_check(const char *zone, const char **why);

/* Edge attribute keys: 1..63 of A-Z, a-z, 0-9, '-', '_', '.', '/' (values
 * are at most WM_EDGE_ATTR_VALUE_MAX bytes of anything). */
#define WM_EDGE_ATTR_MAX 32 /* attributes per edge */
#define WM_EDGE_ATTR_KEY_MAX 63
#define WM_EDGE_ATTR_VALUE_MAX 256
int wm_edge_attr_key_check(const char *key, const char **why);

/* Network interface names: 1..15 of A-Z, a-z, 0-9, '_', '.', '-', and not
 * "." or "..": what the kernel accepts (dev_valid_name), minus characters
 * that would need quoting in an nft rule or a shell. */
#define WM_IFNAME_MAX 15
int wm_ifname_check(const char *name, const char **why);

/* Turns a host name into a valid node ID where possible (lower-cases, cuts at the
 * first '.', replaces other characters with '-'). Returns 0 or -EINVAL when
 * nothing valid is left. out must hold WM_NODE_ID_MAX + 1 bytes. */
int wm_node_id_from_hostname(const char *hostname, char *out);

#endif
