/* The records of the mesh state beyond nodes, leases and the deny list
 * (edges, routes, DNS records, RBAC objects), their keys, and the
 * transactions the commands that change them become (no I/O). Layout in
 * layout.h. */
#ifndef WM_ETCD_RECORD_STATE_H
#define WM_ETCD_RECORD_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd/rpc.pb-c.h"
#include "etcd/staterec.pb-c.h"
#include "webmesh/v1/raft.pb-c.h"

/* Keys are at most this long: the mesh prefix (at most 73 bytes), a kind
 * directory and two 32-digit hashes. */
#define WM_ETCD_SKEY_MAX 224

enum wm_etcd_skind {
	WM_ETCD_S_GUARD,    /* guard: bumped by every command with mesh-wide checks */
	WM_ETCD_S_CMD,	    /* cmd: the last such command, for the change feed */
	WM_ETCD_S_EDGE,	    /* edges/<h(a,b)> */
	WM_ETCD_S_ROUTES,   /* routes/<node-id> */
	WM_ETCD_S_DNS,	    /* dns/<h(name,type)>/<h(value)> */
	WM_ETCD_S_AUTHZ,    /* authz/<kind>/<h(name)> */
	WM_ETCD_S_AUTHZ_SET /* authz-settings: the BootstrapAuthzCommand */
};

/* The key of one record; parts as the comment of each kind says (a, b: the
 * edge's node IDs in any order; routes: a = node ID; dns: a = name, b =
 * type, c = value, or c NULL for the prefix of every value of a name and
 * type; authz: a = kind (role, binding, group, acl), b = name). 0, -EINVAL
 * or -ENAMETOOLONG. */
int wm_etcd_skey(const char *mesh, enum wm_etcd_skind kind, const char *a, const char *b,
		 const char *c, char *out, size_t len);
/* Which of the kinds a key (without the mesh prefix) is; -EINVAL for none. */
int wm_etcd_skey_kind(const uint8_t *rest, size_t len, enum wm_etcd_skind *kind);

/* A record: the command that recreates it (packed RaftCommand) with the
 * create revisions of its nodes. encode: *out malloc'd. */
int wm_etcd_srec_encode(const Webmesh__V1__RaftCommand *cmd, int64_t source_rev, int64_t target_rev,
			uint8_t **out, size_t *len);
/* decode: the command (free with webmesh__v1__raft_command__free_unpacked)
 * and the revisions; -EINVAL for bytes that are not a record of a kind that
 * belongs in kind's keys (an edge holds PutEdge or DeleteEdge, routes
 * PutRoutes, dns PutDnsRecord, authz a Put of an RBAC object, authz-settings
 * BootstrapAuthz, cmd any command). */
int wm_etcd_srec_decode(enum wm_etcd_skind kind, const uint8_t *v, size_t len,
			Webmesh__V1__RaftCommand **cmd, int64_t *source_rev, int64_t *target_rev);

/* A transaction of any shape up to WM_ETCD_GTXN_MAX operations: compares on
 * mod revisions, puts and deletes on success, reads on failure. etcd takes
 * at most 128 operations per transaction (--max-txn-ops); the largest
 * command here needs 8, whatever the size of the mesh. */
#define WM_ETCD_GTXN_MAX 16
struct wm_etcd_gtxn {
	Etcdserverpb__TxnRequest req;
	Etcdserverpb__Compare cmp[WM_ETCD_GTXN_MAX], *cmpp[WM_ETCD_GTXN_MAX];
	Etcdserverpb__RequestOp op[WM_ETCD_GTXN_MAX], *succ[WM_ETCD_GTXN_MAX],
		*fail[WM_ETCD_GTXN_MAX];
	Etcdserverpb__PutRequest put[WM_ETCD_GTXN_MAX];
	Etcdserverpb__DeleteRangeRequest del[WM_ETCD_GTXN_MAX];
	Etcdserverpb__RangeRequest rng[WM_ETCD_GTXN_MAX];
	uint8_t *mem[2 * WM_ETCD_GTXN_MAX]; /* keys and values, malloc'd */
	size_t n_mem;
	size_t n_ops; /* compares + success + failure operations */
};
void wm_etcd_gtxn_init(struct wm_etcd_gtxn *t);
/* key's mod_revision must equal rev (0: the key must not exist). */
int wm_etcd_gtxn_cmp(struct wm_etcd_gtxn *t, const char *key, int64_t rev);
/* Success: put key = value (copied); delete key, or every key under it. */
int wm_etcd_gtxn_put(struct wm_etcd_gtxn *t, const char *key, const uint8_t *value, size_t len);
int wm_etcd_gtxn_del(struct wm_etcd_gtxn *t, const char *key, bool prefix);
/* Failure: read key. */
int wm_etcd_gtxn_get(struct wm_etcd_gtxn *t, const char *key);
/* Success: read key (a transaction of reads only: one consistent view). */
int wm_etcd_gtxn_read(struct wm_etcd_gtxn *t, const char *key);
void wm_etcd_gtxn_free(struct wm_etcd_gtxn *t);

/* The records a command writes, as a transaction: compares on the guard key
 * (guard_rev, the guard's mod revision the checks saw) and on the node keys
 * the command names (their mod revisions as seen), then the command's puts
 * and deletes, the guard and the cmd key; on failure the guard is read.
 * What the command changes is given by the caller (the FSM decided it):
 * struct wm_etcd_change. */
struct wm_etcd_change {
	const char *node_a, *node_b;		/* compared, when not NULL */
	int64_t rev_a, rev_b;			/* their mod revisions */
	int64_t create_a, create_b;		/* their create revisions (the records') */
	bool put;				/* put the record (else delete it) */
	bool del_prefix;			/* the delete is of every key under it */
	const Webmesh__V1__RaftCommand *record; /* put: what the record holds */
	char key[WM_ETCD_SKEY_MAX];		/* "" for none (Liveness) */
};
int wm_etcd_txn_change(struct wm_etcd_gtxn *t, const char *mesh, int64_t guard_rev,
		       const struct wm_etcd_change *ch, const Webmesh__V1__RaftCommand *cmd);

#endif
