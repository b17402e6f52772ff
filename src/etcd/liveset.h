/* The liveness marks of the servers of a mesh on etcd (pure: no I/O).
 *
 * On Raft the leader hears every heartbeat, alone judges liveness, and its
 * LivenessCommand reaches every server through the log. On etcd every
 * server hears only the members that heartbeat to it. So each writes, under
 * /webmesh/<mesh>/liveness/<server-id> and on its server lease (they go when
 * the server dies), every node it has not heard from for unreachable-after,
 * and a node is unreachable when every server that wrote marks says so: the
 * intersection. A member heard by any server is reachable, whichever server
 * it moved to; a dead one is marked by all, also when the server it
 * heartbeated to died with it; every server computes the same set from the
 * same records, and the change feed hands it to the services as one
 * LivenessCommand, as the Raft log would. */
#ifndef WM_ETCD_LIVESET_H
#define WM_ETCD_LIVESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ids.h"

/* Marks one server may write: the mesh's nodes at most, and a bound on what
 * a record of someone else's makes us hold. */
#define WM_ETCD_LIVE_MAX_MARKS 65536
/* Servers whose records are held (more are refused, and logged). */
#define WM_ETCD_LIVE_MAX_SERVERS 1024

struct wm_etcd_live_rec {
	char server[WM_NODE_ID_MAX + 1];
	char (*ids)[WM_NODE_ID_MAX + 1]; /* sorted, no duplicates */
	size_t n;
};

struct wm_etcd_liveset {
	struct wm_etcd_live_rec *recs; /* sorted by server */
	size_t n;
};

void wm_etcd_liveset_init(struct wm_etcd_liveset *l);
void wm_etcd_liveset_free(struct wm_etcd_liveset *l);
/* Forgets every record (a reload reads them all again). */
void wm_etcd_liveset_clear(struct wm_etcd_liveset *l);

/* Replaces server's record with ids (any order; duplicates kept once).
 * Every ID must be a node ID and the server's too: otherwise -EINVAL and
 * nothing changes (a record we did not write). -E2BIG past
 * WM_ETCD_LIVE_MAX_MARKS, -ENOSPC past WM_ETCD_LIVE_MAX_SERVERS, -ENOMEM.
 * *changed (may be NULL) says whether the marks in force may have changed. */
int wm_etcd_liveset_put(struct wm_etcd_liveset *l, const char *server, char *const *ids, size_t n,
			bool *changed);
/* Drops server's record (its key was deleted or its lease ended); true if
 * there was one. */
bool wm_etcd_liveset_del(struct wm_etcd_liveset *l, const char *server);

/* The marks in force: the IDs every record holds (none when there is no
 * record), sorted: *out is one malloc'd block (the array and the strings),
 * NULL when n is 0. 0 or -ENOMEM. */
int wm_etcd_liveset_marks(const struct wm_etcd_liveset *l, char ***out, size_t *n);

#endif
