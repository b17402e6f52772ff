/* The HTTP listener as a component of the daemon (docs/ARCHITECTURE.md, "The
 * module pattern"): /metrics, /healthz and /readyz, the console's files and
 * its one-time tokens, on --http-listen (src/http). What it reports of the
 * node comes through the callbacks given at init; API calls and NAT events
 * are counted as daemon.c's events deliver them. */
#ifndef WM_NODE_HTTPD_H
#define WM_NODE_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/config.h"
#include "core/key.h"
#include "http/http.h"
#include "http/metrics.h"
#include "store/store.h"
#include "wg/wg.h"

struct wm_peer_name;

struct wm_node_httpd_config {
	uv_loop_t *loop;
	const struct wm_config *cfg; /* borrowed, outlives the component */
	const char *node_id;
	/* the device (NULL: none), read once per scrape */
	struct wm_wg *(*wg)(void *data);
	/* the node IDs of the peers, by key (borrowed until the next loop turn) */
	const struct wm_peer_name *(*peers)(void *data, size_t *n);
	/* the path to a peer: "direct", "ice", "relay", "libp2p", or NULL */
	const char *(*path)(void *data, const wm_key key);
	struct wm_store *(*store)(void *data); /* the replica, or NULL */
	bool (*joined)(void *data);	       /* in the mesh, peers configured */
	/* gRPC-web (httpd_grpcweb.c): the local socket's server, whose method
	 * table a console session's calls run through (NULL: not serving yet),
	 * and the TLS API's certificate fingerprint for the console's join
	 * command ("" or NULL: none) */
	struct wm_rpc_server *(*local_rpc)(void *data);
	const char *(*tls_fingerprint)(void *data);
	void *data;
};

struct wm_node_httpd {
	struct wm_node_httpd_config c;
	struct wm_http *http; /* NULL when http-listen is empty */
	struct wm_http_console *console;
	struct wm_metrics_calls calls;
	uint64_t nat_events;
	/* the replica's status, kept for a second: a follower's status names
	 * the leader and the members from the replica's tables, and a scrape
	 * must not read the store each time */
	struct wm_store_status raft;
	uint64_t raft_at_ms; /* loop time it was read; 0: never */
	bool started;
	void (*done_cb)(void *data);
	void *done_data;
};

/* Listens on http-listen unless it is empty; 0, or -errno with err filled.
 * An address in use is a warning (the node runs without the listener, as
 * when several daemons share a host and its default). Close it even on
 * failure. */
int wm_node_httpd_init(struct wm_node_httpd *h, const struct wm_node_httpd_config *c, char *err,
		       size_t errlen);
/* The listener, for other features to mount their handlers on
 * (wm_http_mount, http/http.h), e.g. gRPC-web; NULL when http-listen is
 * empty or its address was in use. Valid until wm_node_httpd_close. */
struct wm_http *wm_node_httpd_server(const struct wm_node_httpd *h);
/* An API call finished with a gRPC status code (counted by method). */
void wm_node_httpd_count_call(struct wm_node_httpd *h, const char *method, int code);
/* The NAT layer changed a peer's path. */
void wm_node_httpd_nat_event(struct wm_node_httpd *h);
/* A one-time console token and the URL that spends it (out, at least 160
 * bytes): 0, or -ENOTCONN when the listener is off. */
int wm_node_httpd_console_url(struct wm_node_httpd *h, char *url, size_t len);
/* Renders /metrics into buf (one device read): 0 or -ENOMEM. */
int wm_node_httpd_metrics(struct wm_node_httpd *h, struct wm_metrics_buf *buf);
/* Ready: joined, WireGuard answers, and a server's replica is caught up;
 * why says what is missing otherwise. */
bool wm_node_httpd_ready(struct wm_node_httpd *h, const char **why);
/* Mounts gRPC-web (POST /webmesh.v1.*, console sessions only) on the
 * listener (httpd_grpcweb.c); 0 or -errno. */
int wm_node_httpd_mount_grpcweb(struct wm_node_httpd *h);
/* Closes the listener; done_cb once, after its last handle. */
void wm_node_httpd_close(struct wm_node_httpd *h, void (*done_cb)(void *data), void *data);

#endif
