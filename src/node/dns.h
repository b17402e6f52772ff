/* The daemon's DNS as a component (docs/ARCHITECTURE.md, "The module
 * pattern"): MeshDNS on servers, fed from the store once it opens, and the
 * host resolver of --use-meshdns. What it reads of the node is borrowed at
 * init; the store and the servers a member learnt arrive with daemon.c's
 * events. */
#ifndef WM_NODE_DNS_H
#define WM_NODE_DNS_H

#include <stddef.h>

#include <uv.h>

#include "core/config.h"
#include "core/mesh.h"
#include "store/store.h"

struct wm_meshdns;
struct wm_resolver;

struct wm_node_dns_config {
	uv_loop_t *loop;
	const struct wm_config *cfg; /* borrowed, outlives the component */
	const char *node_id;
	/* the mesh (its domain and networks), owned by the caller and read
	 * at every use: it is known once the node joined or bootstrapped */
	const struct wm_mesh_info *mesh;
};

struct wm_node_dns {
	struct wm_node_dns_config c;
	struct wm_store *store; /* borrowed from the store's opening on */
	struct wm_meshdns *meshdns;
	struct wm_resolver *resolver;
};

/* Checks the DNS flags and sets up the resolver (--use-meshdns, and
 * --meshdns-server); 0, or -errno with err filled. Close it even on failure. */
int wm_node_dns_init(struct wm_node_dns *dns, const struct wm_node_dns_config *c, char *err,
		     size_t errlen);
/* The local replica opened (it outlives the component): MeshDNS starts when
 * configured. 0, or -errno with err filled. */
int wm_node_dns_store_opened(struct wm_node_dns *dns, struct wm_store *store, char *err,
			     size_t errlen);
/* A member learnt its servers (HOST:PORT each): without --meshdns-server,
 * the resolver is pointed at the first one's MeshDNS. */
void wm_node_dns_servers_changed(struct wm_node_dns *dns, const char *const *servers, size_t n);
/* Restores the host resolver and closes MeshDNS; done_cb once, after the
 * last handle. */
void wm_node_dns_close(struct wm_node_dns *dns, void (*done_cb)(void *data), void *data);

#endif
