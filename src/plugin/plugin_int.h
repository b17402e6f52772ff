/* Internals of the plugin host shared by src/plugin's files. */
#ifndef WM_PLUGIN_INT_H
#define WM_PLUGIN_INT_H

#include "plugin/plugin.h"

#include "auth/auth.h"

#define WM_PLUGIN_ID_MAX 64

/* One queued watch event; detail malloc'd or NULL. */
struct wm_plugin_qev {
	uint32_t kind;
	uint64_t seq, index;
	int64_t time_ms;
	char node_id[WM_PLUGIN_ID_MAX], peer_id[WM_PLUGIN_ID_MAX], address[64];
	char *detail;
};

struct wm_plugin_inst {
	struct wm_plugins *host;
	char name[WM_PLUGIN_ID_MAX];
	const struct webmesh_plugin *t;
	void *state;
	bool inited;
	struct webmesh_kv *cfg; /* the plugin's keys, owned */
	size_t n_cfg;
	uint32_t auth_timeout_ms;
	struct wm_authenticator_ops auth_ops; /* named after the instance */
	struct wm_plugin_exec *exec;	      /* exec: plugins (exec.c), else NULL */
	/* exec: and grpcs: plugins: webmeshd's keys, not the plugin's */
	bool out_of_process;
	uint32_t capabilities;
	char *ca_file, *cert_file, *key_file;
	/* watch: a ring of WM_PLUGIN_WATCH_QUEUE under mu; the thread takes */
	uv_thread_t thread;
	uv_mutex_t mu;
	uv_cond_t cv;
	bool sync_init, thread_started, stop;
	struct wm_plugin_qev *q;
	size_t head, count;
	uint64_t seq, dropped_unreported;
	bool burst_logged; /* loop thread only */
};

/* A node this server has seen in the store, for joined vs changed and the
 * address a leave releases. */
struct wm_plugin_known {
	char id[WM_PLUGIN_ID_MAX];
	char address[64];
};

struct wm_plugins {
	uv_loop_t *loop;
	struct wm_plugin_inst *p;
	size_t n;
	struct wm_plugin_inst *ipam; /* the one ipam plugin, or NULL */
	char describe[512];
	size_t pending;	       /* ipam jobs on the pool */
	struct ipam_job *jobs; /* the allocations among them (host.c) */
	bool freeing;
	uint64_t dropped_total;
	/* feed.c: the nodes as of the last change, sorted by id */
	struct wm_plugin_known *known;
	size_t n_known;
	bool known_loaded;
	char leader[WM_PLUGIN_ID_MAX];
};

/* exec.c: an out-of-process plugin behind a table of our own. */
struct wm_plugin_exec;
extern const struct webmesh_plugin wm_plugin_exec_table;
struct wm_plugin_exec_opts {
	const char *name;
	const char *target;	      /* "exec:/path/to/prog" or "grpcs://host:port" */
	const char *dir;	      /* exec: where its socket goes */
	const struct webmesh_kv *cfg; /* exec: given to the child as environment */
	size_t n_cfg;
	uint32_t timeout_ms;   /* per call */
	uint32_t capabilities; /* WEBMESH_PLUGIN_CAP_* it serves */
	const char *ca_file;   /* grpcs: the plugin server's CA */
	const char *cert_file; /* grpcs: our client certificate */
	const char *key_file;
};
int wm_plugin_exec_new(uv_loop_t *loop, const struct wm_plugin_exec_opts *o,
		       struct wm_plugin_exec **out, char *err, size_t errlen);
/* The instance's table: wm_plugin_exec_table with its capabilities. */
const struct webmesh_plugin *wm_plugin_exec_get_table(const struct wm_plugin_exec *x);
/* Stops the child (SIGTERM), fails what waits; run the loop, then free. */
void wm_plugin_exec_close(struct wm_plugin_exec *x);
void wm_plugin_exec_free(struct wm_plugin_exec *x);

void wm_plugins_watch_emit(struct wm_plugins *h, uint32_t kind, uint64_t index, const char *node_id,
			   const char *peer_id, const char *address, const char *detail);
void wm_plugins_ipam_release_queue(struct wm_plugins *h, const char *node_id, const char *address);

#endif
