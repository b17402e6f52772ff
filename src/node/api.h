/* The node's API as a component (docs/ARCHITECTURE.md, "The module
 * pattern"): the authenticator chain and the gate, the services, the local
 * unix socket (every node) and the TLS API (servers), and the credentials
 * this node presents to others. What the services answer from the rest of
 * the daemon (Status, LeaveMesh, Ping, the store) comes through the
 * callbacks given at init. */
#ifndef WM_NODE_API_H
#define WM_NODE_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "auth/auth.h"
#include "core/config.h"
#include "core/net.h"
#include "rpc/rpc.h"
#include "rpc/tls.h"
#include "services/gate.h"
#include "services/services.h"
#include "store/store.h"

struct wm_api_config {
	uv_loop_t *loop;
	const struct wm_config *cfg; /* borrowed, outlives the component */
	const char *node_id;
	const uint8_t *private_key; /* WM_KEY_LEN bytes, borrowed */
	uint16_t api_port;	    /* of api-listen, parsed once */
	/* The node's endpoints (owned by the caller): the self-signed
	 * certificate names their addresses. */
	const struct wm_endpoint *endpoints;
	const size_t *n_endpoints;
	/* The bootstrap node serves the TLS API at once (other bootstrap
	 * servers fetch its key before any store exists); others call
	 * wm_api_serve_public once they have a replica or serve. */
	bool serve_public;
	/* For the services (services.h, each with data): */
	struct wm_store *(*store)(void *data); /* the replica, or NULL */
	struct wm_rpc_client *(*upstream)(void *data);
	void (*fill_status)(void *data, Webmesh__V1__Status *st, struct wm_arena *a);
	void (*leave_mesh)(void *data, wm_services_done_cb done, void *cd);
	void (*fill_bootstrap_info)(void *data, Webmesh__V1__BootstrapInfo *info,
				    struct wm_arena *a);
	void (*ping)(void *data, const Webmesh__V1__PingRequest *req, wm_services_send_cb send,
		     wm_services_reply_cb done, void *cd);
	void (*netcheck)(void *data, const Webmesh__V1__NetCheckRequest *req,
			 wm_services_reply_cb done, void *cd);
	size_t (*call_metadata)(void *data, const char *path, const char *server_fp,
				struct wm_rpc_metadata *md, size_t max);
	int (*console_url)(void *data, char *url, size_t len); /* Node.ConsoleToken */
	/* every call answered by either listener (metrics), NULL = none */
	void (*call_done)(void *data, const char *path, int grpc_status);
	void *data;
};

struct wm_api {
	struct wm_api_config c;
	struct wm_services *services;
	struct wm_rpc_server *api;   /* TLS API (servers) */
	struct wm_rpc_server *local; /* unix socket */
	SSL_CTX *server_tls;
	char fingerprint[WM_FINGERPRINT_LEN];
	struct wm_auth *auth;	      /* server side: who calls us */
	struct wm_gate *gate;	      /* in front of every method */
	struct wm_auth_client *creds; /* what we present to other nodes */
	struct wm_plugins *plugins;   /* --plugin (src/plugin/plugin.h), or NULL */
};

/* The auth chain, the gate, the services and the local socket (and the TLS
 * API with serve_public); 0, or -errno with err filled. Close it even on
 * failure. */
int wm_api_init(struct wm_api *api, const struct wm_api_config *c, char *err, size_t errlen);
/* Starts the TLS API listener if it is not running yet. */
int wm_api_serve_public(struct wm_api *api, char *err, size_t errlen);
/* The services (NULL before init), for the events and calls of the rows
 * above. */
struct wm_services *wm_api_services(const struct wm_api *api);
/* The authenticator chain (NULL before init or after free): its methods
 * and whether the mesh is open, for Status. */
const struct wm_auth *wm_api_auth(const struct wm_api *api);
/* The TLS API's certificate fingerprint ("" until it serves). */
const char *wm_api_fingerprint(const struct wm_api *api);
/* The certificate this node presents: --tls-cert, else the self-signed one. */
void wm_api_cert_path(const struct wm_config *cfg, char *out, size_t len);
/* Our credentials for a call to another node (rpc client call_metadata);
 * node proofs are added by whoever knows the server called. */
size_t wm_api_call_metadata(const struct wm_api *api, const char *path, const char *server_fp,
			    struct wm_rpc_metadata *md, size_t max);
/* Drains both listeners at once, each within the grace; done_cb once both
 * have stopped. */
void wm_api_close(struct wm_api *api, void (*done_cb)(void *data), void *data);
/* After the loop ended: frees the services, then the authenticators (calls
 * still waiting for one end, CANCELLED, in a last run of loop), the
 * listeners, the gate and the TLS context. */
void wm_api_free(struct wm_api *api, uv_loop_t *loop);

#endif
