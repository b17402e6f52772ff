/* The node's metrics in Prometheus text format (version 0.0.4), rendered
 * from a snapshot the caller fills (pure: no I/O; src/node/http.c gathers
 * the snapshot, tests/unit/test_http_metrics.c checks the text). */
#ifndef WM_HTTP_METRICS_H
#define WM_HTTP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WM_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The paths a peer can take (one gauge per path, 1 on the current one). */
extern const char *const wm_metrics_paths[]; /* NULL-terminated */

struct wm_metrics_peer {
	const char *node_id;	/* "" when unknown */
	const char *public_key; /* base64 */
	uint64_t rx_bytes, tx_bytes;
	int64_t last_handshake; /* seconds since the epoch, 0 = never */
	const char *path;	/* one of wm_metrics_paths, or NULL = unknown */
};

/* API calls counted per method and gRPC status code. The rows grow as
 * (method, code) pairs appear, up to WM_METRICS_MAX_CALLS: a member answers a
 * handful, and a table of them all made up 56 KiB of its idle RSS. A zeroed
 * struct is an empty table; wm_metrics_calls_free releases its rows. */
#define WM_METRICS_MAX_CALLS 512
struct wm_metrics_call {
	char method[96]; /* the gRPC path, "/webmesh.v1.Membership/Join" */
	int code;
	uint64_t count;
};
struct wm_metrics_calls {
	struct wm_metrics_call *row;
	size_t n, cap;
	uint64_t dropped; /* calls of a (method, code) that found the table full
			     (or no memory to grow it) */
};

/* Counts one call; a full table counts it in dropped. */
void wm_metrics_calls_add(struct wm_metrics_calls *t, const char *method, int code);
/* Frees the rows and empties the table (NULL ok). */
void wm_metrics_calls_free(struct wm_metrics_calls *t);

struct wm_metrics_snapshot {
	const char *node_id;
	const struct wm_metrics_peer *peers;
	size_t n_peers;
	bool raft; /* the node holds a replica: the raft_* metrics below apply */
	uint64_t raft_term, raft_commit_index, raft_applied_index;
	const char *raft_role;	 /* "leader", "follower", "candidate", "unavailable" */
	const char *raft_leader; /* node ID, "" = unknown */
	bool raft_caught_up;
	const struct wm_metrics_calls *calls;
	uint64_t nat_events; /* path changes of the NAT layer */
	uint64_t rss_bytes;
	bool joined, wireguard_up;
};

/* A growing text buffer; rendering fails with -ENOMEM only. */
struct wm_metrics_buf {
	char *p;
	size_t len, cap;
};

/* Appends the whole exposition to buf (reset it first with len = 0);
 * 0 or -ENOMEM. Label values are escaped (backslash, quote, newline). */
int wm_metrics_render(const struct wm_metrics_snapshot *s, struct wm_metrics_buf *buf);
void wm_metrics_buf_free(struct wm_metrics_buf *buf);

#endif
