/* Where the mesh state lives in etcd, and the etcd endpoints' URLs (pure:
 * no I/O). Every key of a mesh is under /webmesh/<mesh>/:
 *   mesh                 the BootstrapMeshCommand that created it
 *   nodes/<id>           a node: its JoinNodeCommand, ipv4_request = its lease
 *   leases/v4/<hex8>     an IPv4 lease (8 hex digits, host order, so that
 *                        keys sort as addresses do); value: the node ID
 *   leases/v6/<prefix>   a node's derived IPv6 /112; value: the node ID
 *   denied/<id>          a node an administrator removed and denied
 *                        (DenyNodeCommand); its joins are refused
 *   servers/<id>         a server that serves the API from this mesh's state;
 *                        value: its API address "IP:port"; bound to an etcd
 *                        lease, so that it goes when the server stops
 *   guard                bumped (and compared) by every command whose checks read
 *                        more than its own keys: edges, routes, DNS, RBAC, a
 *                        join that advertises routes; empty value
 *   cmd                  the last such command, a StateRecord
 *                        (proto/etcd/staterec.proto) holding the RaftCommand:
 *                        the change feed and the replicas take it (a
 *                        server's Liveness goes to liveness/ instead)
 *   edges/<h32>          an edge an administrator put (PutEdge) or deleted
 *                        (DeleteEdge: a full mesh implies an edge between every
 *                        two nodes, stored nowhere); h32: 32 hex digits of
 *                        SHA-256 of the two IDs in order; with both nodes'
 *                        create revisions, so that a record of a node removed
 *                        and joined again is stale
 *   routes/<id>          the routes an administrator put behind a node: one
 *                        PutRoutes with all of them, with the node's create
 *                        revision
 *   dns/<h32>/<h32>      a MeshDNS record: hash of name and type / of value
 *                        (every value of a name and type: one range)
 *   authz/<kind>/<h32>   an RBAC object (roles, rolebindings, groups,
 *                        networkacls): its Put command
 *   authz-settings       the BootstrapAuthzCommand
 *   liveness/<id>        the nodes server <id> has not heard from for
 *                        unreachable-after: a LivenessCommand, on the
 *                        server's lease; a node every such record holds is
 *                        unreachable (liveset.h)
 * One key per node ID and one per address: an etcd transaction that creates
 * them only if none exists (create_revision == 0) keeps both unique. A node's
 * record keeps what its join asked for its default edges (full_mesh, via), so
 * that the full mesh's edges follow from the nodes in join (create revision)
 * order: a join stays O(1) operations, whatever the size of the mesh. The
 * whole of it: docs/ARCHITECTURE.md, "The etcd store". */
#ifndef WM_ETCD_LAYOUT_H
#define WM_ETCD_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WM_ETCD_MESH_MAX 63
#define WM_ETCD_KEY_MAX 192
#define WM_ETCD_MAX_ENDPOINTS 16
#define WM_ETCD_DEFAULT_PORT 2379

enum wm_etcd_kind {
	WM_ETCD_KEY_MESH,
	WM_ETCD_KEY_NODE,
	WM_ETCD_KEY_LEASE_V4,
	WM_ETCD_KEY_LEASE_V6,
	WM_ETCD_KEY_SERVER,
	WM_ETCD_KEY_DENIED,
	WM_ETCD_KEY_LIVENESS,
};

/* Checks a mesh name (1-63 of [a-z0-9-], not starting or ending with '-'):
 * it becomes a key component, so '/' and anything etcdctl would need to
 * quote are refused. 0 or -EINVAL with *why. */
int wm_etcd_mesh_check(const char *mesh, const char **why);

/* The key of kind for name (NULL for WM_ETCD_KEY_MESH; a node ID, an IPv4
 * address "a.b.c.d" or an IPv6 prefix "x::/112" otherwise), or with name ""
 * the prefix every key of that kind starts with. 0, -EINVAL (bad mesh or
 * name) or -ENAMETOOLONG. */
int wm_etcd_key(const char *mesh, enum wm_etcd_kind kind, const char *name, char *out, size_t len);
/* The prefix of the whole mesh: "/webmesh/<mesh>/". */
int wm_etcd_mesh_prefix(const char *mesh, char *out, size_t len);

/* The IPv4 lease key name of a host-order address and back: 8 lower-case hex
 * digits. parse: 0 or -EINVAL. */
void wm_etcd_v4_name(uint32_t addr, char out[9]);
int wm_etcd_v4_parse(const char *name, size_t len, uint32_t *addr);

/* etcd's range end for "every key starting with prefix": the prefix with its
 * last byte below 0xff incremented and what follows dropped; "\0" (one zero
 * byte: every key) when all bytes are 0xff. Returns the length written
 * (at most len of prefix, at least 1). */
size_t wm_etcd_prefix_end(const uint8_t *prefix, size_t len, uint8_t *out);

struct wm_etcd_endpoint {
	bool tls;	/* https:// */
	char host[256]; /* a name or address literal, without brackets */
	uint16_t port;	/* WM_ETCD_DEFAULT_PORT when the URL names none */
};

/* Parses "http://host[:port]" or "https://host[:port]" (an IPv6 literal in
 * brackets; nothing after the port but an optional "/"). 0 or -EINVAL with
 * *why. */
int wm_etcd_endpoint_parse(const char *url, struct wm_etcd_endpoint *out, const char **why);
/* A comma-separated list of them (1 to WM_ETCD_MAX_ENDPOINTS). 0 with *n, or
 * -EINVAL with *why and bad (which item). */
int wm_etcd_endpoints_parse(const char *list, struct wm_etcd_endpoint *out, size_t max, size_t *n,
			    const char **why, char *bad, size_t badlen);

/* Arrays of records sorted by a node ID (a char array at id_off in each
 * record of size bytes), as the store and its replica keep them. find: the
 * index of id, or where it would go (*found false). insert: room for one
 * record at i (zeroed; the array grows by doubling from 64), 0 or -ENOMEM.
 * remove: drops the record at i. */
size_t wm_etcd_sorted_find(const void *v, size_t n, size_t size, size_t id_off, const char *id,
			   bool *found);
int wm_etcd_sorted_insert(void **v, size_t *n, size_t *cap, size_t size, size_t i);
void wm_etcd_sorted_remove(void *v, size_t *n, size_t size, size_t i);

#endif
