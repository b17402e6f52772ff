/* webmeshd's side of the plugin ABI (include/webmesh/plugin.h): loading and
 * checking a plugin, and the host that runs the loaded ones' capabilities:
 * auth as an authenticator of the chain (auth/auth.h), ipam before a join is
 * proposed, watch fed from the store's change feed on a thread per plugin. */
#ifndef WM_PLUGIN_PLUGIN_H
#define WM_PLUGIN_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "webmesh/plugin.h"

struct wm_config;
struct wm_auth;
struct wm_store;
struct Webmesh__V1__RaftCommand;

/* Checks a plugin's table against this build's ABI: 0, or -EPROTO (ABI,
 * size), -EINVAL (a field missing or wrong) with err "plugin NAME: ..."
 * naming what is wrong. Pure. */
int wm_plugin_table_check(const struct webmesh_plugin *t, const char *name, char *err,
			  size_t errlen);

/* The table's storage ops, NULL when it has none or is too short to hold
 * the field (a table from before storage was appended to ABI 1). */
const struct webmesh_storage_ops *wm_plugin_storage_ops(const struct webmesh_plugin *t);

/* dlopens path and returns its checked table in *out (the .so stays loaded
 * until exit). -ENOENT (cannot open, no symbol) or the check's errors, with
 * err naming NAME, the path and the problem. */
int wm_plugin_open(const char *name, const char *path, const struct webmesh_plugin **out, char *err,
		   size_t errlen);

struct wm_plugins;

/* Loads, checks and initialises every plugin the configuration names
 * (plugin, plugin-config). plugin-config entries for a NAME that is not
 * loaded are refused. *out is NULL-free: an empty host when none. */
int wm_plugins_new(uv_loop_t *loop, const struct wm_config *cfg, struct wm_plugins **out, char *err,
		   size_t errlen);
/* PATH "exec:/path/to/prog" in --plugin is an out-of-process plugin (auth
 * only, today): its socket goes in STATE-DIR/plugins. */
/* True when the configuration loads an auth plugin (exec: ones are auth;
 * a .so is opened to read its capabilities, not initialised): the mesh's
 * replicated auth settings then name "plugin" (core/meshauth.h). */
bool wm_plugins_config_has_auth(const struct wm_config *cfg);
/* Stops out-of-process plugins (SIGTERM, pending calls fail); run the loop
 * afterwards, then free. NULL is fine. */
void wm_plugins_close(struct wm_plugins *h);
/* Stops the watch threads (events still queued are dropped), calls every
 * plugin's fini. Call after the auth chain and every ipam request are done.
 * NULL is fine. */
void wm_plugins_free(struct wm_plugins *h);
/* "ipam-static(ipam),watch-log(watch)" for status and the log, "" if none. */
const char *wm_plugins_describe(const struct wm_plugins *h);

/* Appends an authenticator per auth plugin to the chain (which owns them;
 * they borrow the host: free the chain first). */
int wm_plugins_auth_add(struct wm_plugins *h, struct wm_auth *a, char *err, size_t errlen);

/* ---- ipam ---- */

bool wm_plugins_has_ipam(const struct wm_plugins *h);
/* err 0: addr is "A.B.C.D", a host of network; else -EIO/-ENOSPC/... with why. */
typedef void (*wm_plugins_ipam_cb)(void *data, int err, const char *addr, const char *why);
/* Asks the ipam plugin, on a worker thread, for node_id's address in network
 * ("10.0.0.0/16"). cb runs exactly once on the loop, never before this
 * returns. 0, -ENOENT (no ipam plugin), -ENOMEM. */
int wm_plugins_ipam_allocate(struct wm_plugins *h, const char *node_id, const char *public_key,
			     const char *network, wm_plugins_ipam_cb cb, void *data);

/* Answers every allocation still waiting for the plugin with -ECANCELED
 * now, before whoever waits for them goes away (the pool threads finish in
 * the background). */
void wm_plugins_ipam_abandon(struct wm_plugins *h);

/* ---- watch and release, from the change feed ---- */

/* The replica the feed will come from (a server, or a member that became
 * one): its nodes are the ones already known, not events. */
void wm_plugins_attach(struct wm_plugins *h, struct wm_store *store);
/* Follows one applied change (cmd NULL: a snapshot was installed) of store,
 * as seen by this server: queues watch events for every watch plugin, and on
 * the leader releases a removed node's address to the ipam plugin. Never
 * blocks. */
void wm_plugins_feed(struct wm_plugins *h, struct wm_store *store, uint64_t index,
		     const struct Webmesh__V1__RaftCommand *cmd);
/* Events dropped (queue full) over all watch plugins since start. */
uint64_t wm_plugins_watch_dropped(const struct wm_plugins *h);

/* Queue bound per watch plugin. */
#define WM_PLUGIN_WATCH_QUEUE 4096

#endif
