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

/* Turns a host name into a valid node ID where possible (lower-cases, cuts at the
 * first '.', replaces other characters with '-'). Returns 0 or -EINVAL when
 * nothing valid is left. out must hold WM_NODE_ID_MAX + 1 bytes. */
int wm_node_id_from_hostname(const char *hostname, char *out);

#endif
