/* The mesh state's records in etcd and the transactions that write them
 * (no I/O: tests build and inspect them without an etcd). Values are our own
 * protobuf commands: the mesh key holds the BootstrapMeshCommand, a node key
 * the JoinNodeCommand in canonical form with ipv4_request set to its lease.
 * Checks are the Raft FSM's (fsm_cmd.c), made by the same src/core functions. */
#ifndef WM_ETCD_RECORD_H
#define WM_ETCD_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mesh.h"
#include "etcd/layout.h"
#include "etcd/rpc.pb-c.h"
#include "webmesh/v1/raft.pb-c.h"

/* A BootstrapMeshCommand checked as the FSM checks it, as mesh info (with
 * the IPv4 host range). 0 or -EINVAL with why. */
int wm_etcd_mesh_from_cmd(const Webmesh__V1__BootstrapMeshCommand *c, struct wm_mesh_info *out,
			  uint32_t *first, uint32_t *last, char *why, size_t whylen);
/* The same from a stored value. */
int wm_etcd_mesh_decode(const uint8_t *v, size_t len, struct wm_mesh_info *out, uint32_t *first,
			uint32_t *last, char *why, size_t whylen);

/* A JoinNodeCommand checked as the FSM checks a join (node ID, key,
 * endpoints, routes outside the mesh networks, port, role, zone, requested
 * address a host of the network), as the node it stores: ipv6 derived from
 * the key, ipv4 the request (family 0 if none). 0 or -EINVAL with why. */
int wm_etcd_node_from_cmd(const struct wm_mesh_info *m, uint32_t first, uint32_t last,
			  const Webmesh__V1__JoinNodeCommand *c, struct wm_mesh_node *out,
			  char *why, size_t whylen);
/* What a join asked beyond the node itself, kept in the node's record so
 * that a store loading the mesh from etcd replays the join as it was: the
 * default edges of a new node (full_mesh; via, the server it joined
 * through, in a manual-topology mesh). A rejoin keeps the first join's. */
struct wm_etcd_join_flags {
	bool full_mesh;
	char via[WM_NODE_ID_MAX + 1];
};
/* A node as stored (canonical JoinNodeCommand, malloc'd into *out) and back.
 * fl may be NULL (none asked). */
int wm_etcd_node_encode(const struct wm_mesh_node *n, uint8_t **out, size_t *len);
int wm_etcd_node_encode_flags(const struct wm_mesh_node *n, const struct wm_etcd_join_flags *fl,
			      uint8_t **out, size_t *len);
/* The flags of a stored node (all clear for a value that is not one). */
void wm_etcd_join_flags_decode(const uint8_t *v, size_t len, struct wm_etcd_join_flags *out);
int wm_etcd_node_decode(const struct wm_mesh_info *m, const uint8_t *v, size_t len,
			struct wm_mesh_node *out);

/* The lowest free host in [first, last] given the leased addresses (sorted
 * ascending, no duplicates), preferring want when it is free (0 = none). 0,
 * or -WM_EEXHAUSTED. */
int wm_etcd_lease_pick(uint32_t first, uint32_t last, const uint32_t *leased, size_t n,
		       uint32_t want, uint32_t *out);

/* One transaction and the storage it points into; fill with one of the
 * builders, send t->req, then wm_etcd_txn_free. */
#define WM_ETCD_TXN_OPS 5
struct wm_etcd_txn {
	Etcdserverpb__TxnRequest req;
	Etcdserverpb__Compare cmp[WM_ETCD_TXN_OPS], *cmpp[WM_ETCD_TXN_OPS];
	Etcdserverpb__RequestOp op[2 * WM_ETCD_TXN_OPS], *succ[WM_ETCD_TXN_OPS],
		*fail[WM_ETCD_TXN_OPS];
	Etcdserverpb__PutRequest put[WM_ETCD_TXN_OPS];
	Etcdserverpb__DeleteRangeRequest del[WM_ETCD_TXN_OPS];
	Etcdserverpb__RangeRequest rng[WM_ETCD_TXN_OPS];
	char key[WM_ETCD_TXN_OPS][WM_ETCD_KEY_MAX];
	uint8_t *value[WM_ETCD_TXN_OPS]; /* malloc'd */
	size_t n_op;
};

/* Creates the mesh key if there is none; otherwise reads it (resume). */
int wm_etcd_txn_bootstrap(struct wm_etcd_txn *t, const char *mesh,
			  const Webmesh__V1__BootstrapMeshCommand *c);
/* Whether the mesh key that bootstrap transaction t found and read back (r,
 * not succeeded) is this call's own bootstrap, applied by an attempt whose
 * answer was lost and then sent again (client.h): it holds the very record
 * t writes (another server's differs: each picks a random ULA /48 and
 * stamps its own created_at), written after since_rev, the revision the
 * caller's state reflected when it sent t (a mesh it had seen already is an
 * earlier bootstrap, even with the same command). *mod_revision is then the
 * key's. */
bool wm_etcd_bootstrap_ours(const struct wm_etcd_txn *t, const Etcdserverpb__TxnResponse *r,
			    int64_t since_rev, int64_t *mod_revision);
/* A new node: if none of its node key, IPv4 lease key, IPv6 key and denied
 * key exists, creates the first three; otherwise reads the four (the
 * failure responses, in that order, say which one exists). n->ipv4 must be
 * set. */
int wm_etcd_txn_join(struct wm_etcd_txn *t, const char *mesh, const struct wm_mesh_node *n);
int wm_etcd_txn_join_flags(struct wm_etcd_txn *t, const char *mesh, const struct wm_mesh_node *n,
			   const struct wm_etcd_join_flags *fl);
/* An existing node refreshed (same ID and key; the lease kept): writes the
 * node key only if it is unchanged since mod_revision and the node is not
 * denied; else reads the node key and the denied key. */
int wm_etcd_txn_rejoin(struct wm_etcd_txn *t, const char *mesh, const struct wm_mesh_node *n,
		       int64_t mod_revision);
int wm_etcd_txn_rejoin_flags(struct wm_etcd_txn *t, const char *mesh, const struct wm_mesh_node *n,
			     int64_t mod_revision, const struct wm_etcd_join_flags *fl);
/* Removes the node and its two lease keys if the node key is unchanged since
 * mod_revision; else reads it. */
int wm_etcd_txn_remove(struct wm_etcd_txn *t, const char *mesh, const struct wm_mesh_node *n,
		       int64_t mod_revision);
/* Records a denied node (replacing an earlier record). */
int wm_etcd_txn_deny(struct wm_etcd_txn *t, const char *mesh,
		     const Webmesh__V1__DenyNodeCommand *c);
/* Forgets a denied node if it is denied; else reads its (absent) key. */
int wm_etcd_txn_allow(struct wm_etcd_txn *t, const char *mesh, const char *node_id);
/* Adds to a join or rejoin built above: the guard key (record_state.h) must
 * still have mod revision guard_rev, and is bumped; on failure it is read
 * (the last failure response). A join that advertises routes takes it, as
 * the commands that check routes against each other do (layout.h). */
int wm_etcd_txn_guard(struct wm_etcd_txn *t, const char *mesh, int64_t guard_rev);
void wm_etcd_txn_free(struct wm_etcd_txn *t);

/* A deep copy of a protobuf message that its holder owns (a command kept
 * past the caller's call), or NULL (out of memory). Free it with the
 * message type's free_unpacked. */
ProtobufCMessage *wm_etcd_msg_copy(const ProtobufCMessage *m);

#endif
