/* The webmesh plugin ABI: the whole contract between webmeshd and an
 * in-process plugin (a shared object). Nothing else of webmeshd is public.
 *
 * A plugin is a .so exporting one object, `webmesh_plugin` (the symbol name
 * WEBMESH_PLUGIN_SYMBOL), of type struct webmesh_plugin. webmeshd loads it
 * with `webmeshd --plugin NAME=/path/to/plugin.so` (repeatable), or from the
 * YAML configuration:
 *
 *   plugins:
 *     NAME:
 *       path: /path/to/plugin.so
 *       config:            # a string map handed to init, optional
 *         key: value
 *
 * (on the command line: --plugin-config NAME.KEY=VALUE, repeatable).
 *
 * Loading refuses the plugin, and webmeshd does not start, when:
 *   - the symbol is missing;
 *   - abi != WEBMESH_PLUGIN_ABI (built against another version of this
 *     header: rebuild it);
 *   - size < WEBMESH_PLUGIN_SIZE_V1 (a table too short to hold ABI 1's
 *     first fields). A larger size is accepted: fields are only ever
 *     appended within one ABI number, and one the table is too short to
 *     hold reads as NULL (storage);
 *   - name or version is NULL or empty, init is NULL, an unknown capability
 *     bit is set, no capability is set;
 *   - a capability bit is set and its ops pointer is NULL, its ops' size is
 *     too small, or one of its functions is NULL.
 * Each refusal names the plugin and what was wrong.
 *
 * Ownership: everything webmeshd passes in (strings, arrays, the request
 * structs) is borrowed for the duration of the call and must be copied to be
 * kept. Everything the plugin hands back (its tables, name, version,
 * identity and message strings) stays the plugin's: the tables and name for
 * as long as the .so is loaded, the strings of a completion until the
 * completion function returns (webmeshd copies them). The state init makes is
 * the plugin's; webmeshd passes it back to every call and to fini, once, at
 * shutdown, after every other call has returned.
 *
 * Errors: functions return 0 or a negative errno value, and may write a
 * NUL-terminated reason (no secrets: it goes to webmeshd's log) into the
 * message buffer they are given.
 *
 * Threads (webmeshd runs one event loop; a plugin must never block it):
 *   - init and fini run on the main thread, before the daemon serves and
 *     after it stopped; they may block briefly (read files, connect).
 *   - auth.authenticate runs on a worker thread of webmeshd's pool; several
 *     run at once for different requests, so it must be thread-safe. It may
 *     block, or return at once and answer later from any thread of its own.
 *   - ipam.allocate and ipam.release run on a worker thread, may block, and
 *     may run concurrently with each other: serialise in the plugin.
 *   - watch.event and watch.dropped run on one thread per watch plugin that
 *     webmeshd makes for it, never concurrently, in the order of the events.
 *     They may block: events wait in a bounded queue meanwhile, and when it
 *     is full the newest are dropped (counted, reported by watch.dropped
 *     before the next delivered event, logged once per burst and shown in
 *     `wmctl status`). webmeshd itself never waits for a plugin.
 *   - storage: every function runs on webmeshd's event loop thread and must
 *     not block (see "storage" below).
 */
#ifndef WEBMESH_PLUGIN_H
#define WEBMESH_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Raised on any incompatible change of this header. */
#define WEBMESH_PLUGIN_ABI 1u
#define WEBMESH_PLUGIN_SYMBOL "webmesh_plugin"

/* Capability bits. */
#define WEBMESH_PLUGIN_CAP_AUTH (1u << 0)
#define WEBMESH_PLUGIN_CAP_IPAM (1u << 1)
#define WEBMESH_PLUGIN_CAP_WATCH (1u << 2)
#define WEBMESH_PLUGIN_CAP_STORAGE (1u << 3)
#define WEBMESH_PLUGIN_CAPS_KNOWN                                                                  \
	(WEBMESH_PLUGIN_CAP_AUTH | WEBMESH_PLUGIN_CAP_IPAM | WEBMESH_PLUGIN_CAP_WATCH |            \
	 WEBMESH_PLUGIN_CAP_STORAGE)

/* The size of every message buffer webmeshd hands a plugin. */
#define WEBMESH_PLUGIN_MSG_MAX 256

struct webmesh_kv {
	const char *key;
	const char *value;
};

struct webmesh_plugin_init_args {
	const char *name;		 /* the NAME this instance was loaded as */
	const struct webmesh_kv *config; /* its configuration, in the order given */
	size_t n_config;
};

/* ---- auth ---- */

/* One call to authenticate. */
struct webmesh_auth_request {
	/* The request's metadata (HTTP/2 headers, lower-case keys), as sent. */
	const struct webmesh_kv *metadata;
	size_t n_metadata;
	/* The client's certificate chain as the TLS layer saw it, DER, leaf
	 * first (today the leaf only: n_certs is 0 or 1); n_certs 0 when the
	 * client sent none. webmeshd has NOT checked it against anything
	 * unless mtls is also on. */
	const uint8_t *const *cert_der;
	const size_t *cert_len;
	size_t n_certs;
	const char *peer; /* the caller's address "IP:PORT" */
	const char *path; /* reserved: "" */
	int64_t now;	  /* unix seconds */
};

/* The answer. status: 0 = accepted, identity is the caller's node or user ID
 * (a DNS label, as node IDs are; checked again by webmeshd); -EACCES = the
 * credentials are refused; -ENOENT = the request carries no credentials of
 * this plugin's kind (the next authenticator may try); anything else = the
 * plugin could not decide (the call is refused, with UNAVAILABLE). message:
 * the reason for the log, or NULL. Call it exactly once per authenticate call
 * that returned 0, from any thread; token is opaque. */
typedef void (*webmesh_auth_done_fn)(void *token, int status, const char *identity,
				     const char *message);

struct webmesh_auth_ops {
	uint32_t size; /* sizeof(struct webmesh_auth_ops) */
	/* Starts checking req. Returns 0 when done will be called (maybe
	 * already was, from inside), or a negative errno (then done must not be
	 * called) with a reason in msg. webmeshd waits for done at most the
	 * plugin's auth-timeout-ms (config key, default 5000) and refuses the
	 * call when it passes: a late done is harmless. */
	int (*authenticate)(void *state, const struct webmesh_auth_request *req,
			    webmesh_auth_done_fn done, void *token, char *msg, size_t msglen);
};

/* ---- ipam ---- */

struct webmesh_ipam_request {
	const char *node_id;	/* the joining node */
	const char *public_key; /* its WireGuard key, base64 */
	const char *network;	/* the mesh's IPv4 network, "10.10.0.0/16" */
};

struct webmesh_ipam_ops {
	uint32_t size; /* sizeof(struct webmesh_ipam_ops) */
	/* Writes the node's IPv4 address ("10.10.0.7", no prefix length) into
	 * addr. A node that joins again (a restart) is asked again: answer the
	 * same address. webmeshd checks that it is a host of the network and
	 * the store refuses one leased to another node, so a wrong answer
	 * fails the join, never duplicates an address. Any error fails the
	 * join with UNAVAILABLE (-ENOSPC: nothing free). */
	int (*allocate)(void *state, const struct webmesh_ipam_request *req, char *addr,
			size_t addrlen, char *msg, size_t msglen);
	/* node_id left the mesh; address is the one it held, or "" when this
	 * server does not know it. Called on the leader only; errors are
	 * logged. */
	int (*release)(void *state, const char *node_id, const char *address, char *msg,
		       size_t msglen);
};

/* ---- watch ---- */

enum webmesh_watch_kind {
	WEBMESH_WATCH_NODE_JOINED = 1,	  /* node_id, address */
	WEBMESH_WATCH_NODE_CHANGED = 2,	  /* node_id, address: joined again */
	WEBMESH_WATCH_NODE_LEFT = 3,	  /* node_id, address */
	WEBMESH_WATCH_LEADER_CHANGED = 4, /* node_id: the new leader, "" unknown */
	WEBMESH_WATCH_EDGE_PUT = 5,	  /* node_id -> peer_id */
	WEBMESH_WATCH_EDGE_DELETED = 6,	  /* node_id -> peer_id */
	WEBMESH_WATCH_ROUTES_PUT = 7,	  /* node_id, detail: the routes, comma-separated */
	WEBMESH_WATCH_ROUTES_DELETED = 8, /* node_id, detail */
};

struct webmesh_watch_event {
	uint32_t kind;	 /* enum webmesh_watch_kind; ignore kinds you do not know */
	uint64_t seq;	 /* 1, 2, ... per plugin, gaps where events were dropped */
	uint64_t index;	 /* the store's log index of the change, 0 for leader changes */
	int64_t time_ms; /* unix milliseconds when webmeshd saw it */
	const char *node_id;
	const char *peer_id; /* "" unless an edge */
	const char *address; /* "" when not known */
	const char *detail;  /* "" when none */
};

struct webmesh_watch_ops {
	uint32_t size; /* sizeof(struct webmesh_watch_ops) */
	void (*event)(void *state, const struct webmesh_watch_event *ev);
	/* n events were dropped since the last call (the queue was full). */
	void (*dropped)(void *state, uint64_t n);
};

/* ---- storage ----
 *
 * The whole mesh state: a storage plugin replaces the built-in Raft + SQLite
 * store of a server (`webmeshd --storage NAME`, which loads webmesh-NAME.so
 * from webmeshd's module directory, the same search order as its own
 * modules; NAME is one of the storages webmeshd's `storage` option lists,
 * today etcd). The plugin's configuration comes from webmeshd's own flags
 * for that storage (for etcd: endpoints, ca-file, cert, key). Every server
 * of the mesh must use the same storage; members never load it.
 *
 * Added within ABI 1 as an optional table: a plugin table that ends before
 * the `storage` field (an older plugin) is still accepted and has no
 * storage. A plugin with WEBMESH_PLUGIN_CAP_STORAGE is loaded only by
 * --storage, never by --plugin.
 *
 * Threads: every storage function and every host callback runs on
 * webmeshd's event loop thread (host->loop, a libuv uv_loop_t). None may
 * block: a plugin does its I/O on that loop (libuv handles of its own) or
 * on threads of its own that hand results back through a uv_async_t.
 * Completions (done, ready, changed) are always called on the loop thread,
 * never from within the call that started them; webmeshd never calls close
 * from within one of them (it waits a turn of the loop).
 *
 * Commands are encoded webmesh.v1.RaftCommand messages
 * (proto/webmesh/v1/raft.proto), as the Raft log holds them. The plugin
 * must keep the invariants the built-in store keeps: a command is applied
 * whole or not at all; one node per ID; an IPv4 lease held by one node at a
 * time; the checks and refusals of raft.proto's commands (errors below).
 *
 * Reads are answered through a sink of callbacks webmeshd provides: the
 * plugin calls the sink's function once per item, with borrowed strings
 * that webmeshd copies during the call. Text forms: addresses and prefixes
 * as "10.1.0.7/32", "fd00::/48", endpoints "IP:PORT" ("[v6]:PORT"), keys
 * base64, as the API shows them.
 */

/* What one storage read asks for. */
enum webmesh_storage_read {
	WEBMESH_STORAGE_READ_MESH = 1,	     /* sink->mesh once; -ENOENT: no mesh yet */
	WEBMESH_STORAGE_READ_NODE = 2,	     /* sink->node once for arg (a node ID); -ENOENT */
	WEBMESH_STORAGE_READ_NODES = 3,	     /* sink->node per node, any order */
	WEBMESH_STORAGE_READ_EDGES = 4,	     /* sink->edge per edge, ordered by source, target */
	WEBMESH_STORAGE_READ_EDGE_ATTRS = 5, /* sink->edge_attr, by source, target, key */
	WEBMESH_STORAGE_READ_DNS = 6,	     /* sink->dns_record, by name, type, value */
	/* sink->authz once, then sink->role, ->binding, ->group, ->acl and
	 * ->denied per object. */
	WEBMESH_STORAGE_READ_AUTHZ = 7,
	/* sink->text once: a canonical text dump of the whole state (tests
	 * compare servers' views with it). */
	WEBMESH_STORAGE_READ_DUMP = 8,
};

struct webmesh_storage_mesh {
	const char *ipv4_network; /* "10.10.0.0/16" */
	const char *ipv6_network; /* a ULA /48 */
	const char *domain;
	int64_t created_at; /* unix seconds */
	uint32_t topology;  /* BootstrapMeshCommand.topology as stored: 0 full, 1 star... */
};

struct webmesh_storage_node {
	const char *id;
	const char *public_key;	      /* base64 */
	const char *ipv4;	      /* "/32" lease, "" if none */
	const char *ipv6;	      /* "/112" */
	const char *const *endpoints; /* "IP:PORT" in order of preference */
	size_t n_endpoints;
	uint32_t listen_port;
	uint32_t raft_role; /* webmesh.v1.RaftRole */
	const char *zone;
	int64_t joined_at;
	const char *const *routes; /* prefixes advertised behind the node */
	size_t n_routes;
	const char *exit_node; /* "" = the nearest */
};

struct webmesh_storage_edge {
	const char *source, *target;
	int32_t weight; /* >= 1 */
	int ice;	/* attribute ice=true */
};

struct webmesh_storage_authz {
	int bootstrapped;	    /* a BootstrapAuthz command was applied */
	int default_accept;	    /* the default network policy */
	int has_mesh_auth;	    /* the mesh recorded its authentication */
	const char *auth_methods;   /* "mtls,basic" ... or "open" (with has_mesh_auth) */
	const char *ca_fingerprint; /* with mtls, else "" */
	int rbac;
};

struct webmesh_storage_acl {
	const char *name;
	int32_t priority;
	int accept; /* 0: deny */
	const char *src_nodes, *dst_nodes, *src_cidrs, *dst_cidrs, *protocols, *ports;
};

/* Where a read's items go. Each function returns 0, or a negative errno
 * (-ENOMEM, -EINVAL for an item webmeshd cannot parse): the plugin then
 * stops and returns that error from read. Functions of items the read
 * does not produce may be NULL. */
struct webmesh_storage_sink {
	void *ctx;
	int (*mesh)(void *ctx, const struct webmesh_storage_mesh *m);
	int (*node)(void *ctx, const struct webmesh_storage_node *n);
	int (*edge)(void *ctx, const struct webmesh_storage_edge *e);
	int (*edge_attr)(void *ctx, const char *source, const char *target, const char *key,
			 const char *value);
	int (*dns_record)(void *ctx, const char *name, const char *type, const char *value);
	int (*authz)(void *ctx, const struct webmesh_storage_authz *a);
	int (*role)(void *ctx, const char *name, const char *rules);
	int (*binding)(void *ctx, const char *name, const char *role, const char *subjects);
	int (*group)(void *ctx, const char *name, const char *subjects);
	int (*acl)(void *ctx, const struct webmesh_storage_acl *a);
	int (*denied)(void *ctx, const char *node_id);
	int (*text)(void *ctx, const char *text);
};

/* What webmeshd gives a store at open; valid until close returns. */
struct webmesh_storage_host {
	void *ctx;	     /* passed back to the functions below */
	void *loop;	     /* webmeshd's uv_loop_t (libuv 1.x) */
	const char *node_id; /* this server's node ID */
	/* Once, after open returned 0: err 0 when the store holds the mesh's
	 * current state (reads answer from it, commands may be applied), or
	 * a negative errno and a reason (webmeshd then stops). */
	void (*ready)(void *ctx, int err, const char *msg);
	/* Every change of the state, whoever wrote it (this server, another
	 * one), in the order the store applied them, once each: index rises;
	 * cmd/len the encoded RaftCommand, or cmd NULL when the state was
	 * replaced as a whole (a reload: webmeshd reads everything again).
	 * Refused commands are not reported. */
	void (*changed)(void *ctx, uint64_t index, const uint8_t *cmd, size_t len);
	/* A line for webmeshd's log (no secrets). */
	void (*log)(void *ctx, const char *msg);
};

/* The result of one command. */
struct webmesh_storage_result {
	/* 0, or: -EEXIST, -ENOENT, -EINVAL (the command is wrong for the
	 * state, with message), -EAGAIN (the store's own conflict retries ran
	 * out), -EIO (the backend could not be reached; nothing applied) */
	int err;
	const char *message;			 /* reason when err != 0, else "" */
	uint64_t index;				 /* the change's index (its "changed" index) */
	const struct webmesh_storage_node *node; /* JoinNode: the node as stored, else NULL */
};

typedef void (*webmesh_storage_done_fn)(void *token, const struct webmesh_storage_result *res);

struct webmesh_storage_status {
	const char *state;   /* "connecting", "serving", "failed": a static string */
	int ready;	     /* the store holds the current state */
	uint64_t revision;   /* the backend's position (etcd: the revision) */
	char endpoints[256]; /* where the state lives, for status ("" if n/a) */
	char detail[256];    /* a line for status ("" if none) */
};

struct webmesh_storage_ops {
	uint32_t size; /* sizeof(struct webmesh_storage_ops) */
	/* Starts a store for the mesh and calls host->ready once later.
	 * Returns 0 and sets *store, or a negative errno (nothing to close)
	 * with a reason in msg. host is borrowed until close. */
	int (*open)(void *state, const struct webmesh_storage_host *host, void **store, char *msg,
		    size_t msglen);
	/* Ends the store: pending commands complete with -ECANCELED (from
	 * within this call), no host callback runs afterwards. Handles it made
	 * on the loop may close on the next turns. */
	void (*close)(void *store);
	/* Applies one command: 0 and done exactly once later (never from
	 * within), or a negative errno and done never called: -EINVAL (not a
	 * RaftCommand), -ENOTSUP (a command this store does not implement),
	 * -ECANCELED (closing), -ENOMEM. The bytes are borrowed for the call.
	 * A command left unanswered for 60 s fails for webmeshd's caller
	 * (-ETIMEDOUT); a done after that, a second one or one after close
	 * is ignored. */
	int (*apply)(void *store, const uint8_t *cmd, size_t len, webmesh_storage_done_fn done,
		     void *token);
	/* A synchronous read of the store's current state into sink; arg is a
	 * node ID for WEBMESH_STORAGE_READ_NODE, else NULL. 0, -ENOENT (see
	 * the kinds), -ENOTSUP (a kind this store does not keep), or a sink's
	 * error. Only after ready(0). */
	int (*read)(void *store, uint32_t what, const char *arg,
		    const struct webmesh_storage_sink *sink, char *msg, size_t msglen);
	void (*status)(void *store, struct webmesh_storage_status *out);
	/* Membership of servers: any server with access to the store serves
	 * the mesh. This one announces itself at api_address ("IP:PORT") for
	 * as long as it runs (the store removes it when the process is gone).
	 * 0, -EINVAL, -EALREADY. */
	int (*register_server)(void *store, const char *node_id, const char *api_address, char *msg,
			       size_t msglen);
};

/* ---- the table ---- */

struct webmesh_plugin {
	uint32_t abi;  /* WEBMESH_PLUGIN_ABI */
	uint32_t size; /* sizeof(struct webmesh_plugin) */
	const char *name;
	const char *version;
	uint32_t capabilities; /* WEBMESH_PLUGIN_CAP_* */
	/* Makes the plugin's state from its configuration. Unknown keys should
	 * be refused (a typo must not go unnoticed). 0 or a negative errno and
	 * a reason in msg (then fini is not called). */
	int (*init)(const struct webmesh_plugin_init_args *args, void **state, char *msg,
		    size_t msglen);
	void (*fini)(void *state);	       /* may be NULL */
	const struct webmesh_auth_ops *auth;   /* with WEBMESH_PLUGIN_CAP_AUTH */
	const struct webmesh_ipam_ops *ipam;   /* with WEBMESH_PLUGIN_CAP_IPAM */
	const struct webmesh_watch_ops *watch; /* with WEBMESH_PLUGIN_CAP_WATCH */
	/* Appended within ABI 1: a table whose size ends before this field
	 * has no storage (WEBMESH_PLUGIN_SIZE_V1 is the shortest accepted). */
	const struct webmesh_storage_ops *storage; /* with WEBMESH_PLUGIN_CAP_STORAGE */
};

/* The size of ABI 1's first table, before storage was appended. */
#define WEBMESH_PLUGIN_SIZE_V1 offsetof(struct webmesh_plugin, storage)

#ifdef __cplusplus
}
#endif

#endif
