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
 *   - size < sizeof(struct webmesh_plugin) as this header defines it (a table
 *     too short to hold the fields read below). A larger size is accepted:
 *     fields are only ever appended within one ABI number;
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
#define WEBMESH_PLUGIN_CAPS_KNOWN                                                                  \
	(WEBMESH_PLUGIN_CAP_AUTH | WEBMESH_PLUGIN_CAP_IPAM | WEBMESH_PLUGIN_CAP_WATCH)

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
};

#ifdef __cplusplus
}
#endif

#endif
