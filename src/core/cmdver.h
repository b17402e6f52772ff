/* Command versions (issue 16, upgrades without downtime): which Raft command
 * kinds a build understands, what an entry needs to be applied, and whether
 * the leader may write a kind in a mesh of mixed versions. Pure.
 *
 * A kind is the field number of RaftCommand's oneof (proto/webmesh/v1/
 * raft.proto). Every kind has the command version that introduced it; a
 * build's version, WM_CMD_VERSION, is the highest it knows. To add a kind:
 * give it the next version in wm_cmd_kinds (cmdver.c) and raise
 * WM_CMD_VERSION to it (docs/ARCHITECTURE.md, "Command versions"). */
#ifndef WM_CORE_CMDVER_H
#define WM_CORE_CMDVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* This build's command version. 3: JoinNode stores the libp2p peer ID and
 * addresses (WireGuard over libp2p), which a build of 2 would drop. */
#define WM_CMD_VERSION 3
#define WM_CMD_VERSION_LIBP2P 3
/* What every build before command versions understood (commit 30926c0 and
 * older): the kinds of version 1. Such builds advertise no version; they
 * count as this one. */
#define WM_CMD_VERSION_BASE 1

struct wm_cmd_kind {
	int kind; /* RaftCommand oneof field number */
	uint32_t version;
	const char *name;
};

/* The kinds this build knows, ordered by kind. */
extern const struct wm_cmd_kind wm_cmd_kinds[];
extern const size_t wm_cmd_n_kinds;

/* The version that introduced kind; 0 for a kind this build does not know. */
uint32_t wm_cmd_kind_version(int kind);

/* Whether a build of version own can apply an entry: 0 if it can, otherwise
 * the version it needs (always > own). kind is the case the entry decoded
 * as: any case this build's proto has is known. kind 0 is "no kind set": an
 * empty command, which every build refuses alike (applies as a refusal: 0),
 * unless the entry carries fields this build does not know (has_unknown),
 * which means a kind of a newer build. min_version is what the entry states
 * (0: written before command versions). */
uint32_t wm_cmd_apply_needs(uint32_t own, int kind, uint32_t min_version, bool has_unknown);

/* The mesh's effective command version: the lowest of the voters'. A voter
 * whose version is not known (0: not heard from, or a build from before
 * command versions) counts as WM_CMD_VERSION_BASE. No voters: own. */
uint32_t wm_cmd_mesh_version(const uint32_t *voters, size_t n, uint32_t own);

/* Whether the leader may write an entry of kind in a mesh at mesh_version.
 * It needs the kind's version, or stated if higher: what the writer asks
 * for when the command uses a field of a later version that changes what
 * the kind does (old builds would ignore the field and diverge). 0, with
 * *needs the version to state in the entry; -WM_EVERSION with why "mesh
 * runs command version N, this write (NAME) needs M"; -EINVAL for no kind
 * (<= 0). A kind missing from wm_cmd_kinds needs WM_CMD_VERSION, so a kind
 * added without a version is held back rather than let through (test_cmdver
 * fails on it too). why may be NULL. */
int wm_cmd_admit(int kind, uint32_t stated, uint32_t mesh_version, uint32_t *needs, char *why,
		 size_t len);

#endif
