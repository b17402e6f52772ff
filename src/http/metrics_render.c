/* Prometheus text exposition of the node's metrics (pure): see metrics.h. */
#include "http/metrics.h"

#include "core/grpccode.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const wm_metrics_paths[] = {"direct", "ice", "relay", "libp2p", NULL};

/* The Join and the two refusals are read from the call table: one counter,
 * no second bookkeeping that could disagree with it. */
#define JOIN_METHOD "/webmesh.v1.Membership/Join"
#define CODE_PERMISSION_DENIED 7
#define CODE_UNAUTHENTICATED 16

void wm_metrics_calls_add(struct wm_metrics_calls *t, const char *method, int code)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->row[i].code == code && strcmp(t->row[i].method, method) == 0) {
			t->row[i].count++;
			return;
		}
	}
	if (t->n == WM_METRICS_MAX_CALLS || strlen(method) >= sizeof(t->row[0].method)) {
		t->dropped++;
		return;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		if (cap > WM_METRICS_MAX_CALLS)
			cap = WM_METRICS_MAX_CALLS;
		struct wm_metrics_call *row = realloc(t->row, cap * sizeof(*row));
		if (!row) {
			t->dropped++;
			return;
		}
		t->row = row;
		t->cap = cap;
	}
	snprintf(t->row[t->n].method, sizeof(t->row[0].method), "%s", method);
	t->row[t->n].code = code;
	t->row[t->n].count = 1;
	t->n++;
}

void wm_metrics_calls_free(struct wm_metrics_calls *t)
{
	if (!t)
		return;
	free(t->row);
	*t = (struct wm_metrics_calls){0};
}

static int grow(struct wm_metrics_buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int put(struct wm_metrics_buf *b, const char *fmt, ...)
{
	va_list ap;
	for (int tries = 0; tries < 2; tries++) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = b->p ? vsnprintf(b->p + b->len, room, fmt, ap) : -1;
		va_end(ap);
		if (n >= 0 && (size_t)n < room) {
			b->len += (size_t)n;
			return 0;
		}
		va_start(ap, fmt);
		n = vsnprintf(NULL, 0, fmt, ap);
		va_end(ap);
		if (n < 0 || grow(b, (size_t)n))
			return -ENOMEM;
	}
	return -ENOMEM;
}

/* A label value as the format wants it: \\, \" and \n escaped. */
static int put_label(struct wm_metrics_buf *b, const char *v)
{
	size_t n = strlen(v ? v : "");
	if (grow(b, 2 * n))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (c == '\\' || c == '"') {
			b->p[b->len++] = '\\';
			b->p[b->len++] = c;
		} else if (c == '\n') {
			b->p[b->len++] = '\\';
			b->p[b->len++] = 'n';
		} else {
			b->p[b->len++] = c;
		}
	}
	b->p[b->len] = '\0';
	return 0;
}

static int family(struct wm_metrics_buf *b, const char *name, const char *type, const char *help)
{
	return put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{node="..",public_key=".."} */
static int peer_series(struct wm_metrics_buf *b, const char *name, const struct wm_metrics_peer *p)
{
	int rc = put(b, "%s{node_id=\"", name);
	rc = rc ? rc : put_label(b, p->node_id);
	rc = rc ? rc : put(b, "\",public_key=\"");
	rc = rc ? rc : put_label(b, p->public_key);
	return rc ? rc : put(b, "\"");
}

static int render_peers(const struct wm_metrics_snapshot *s, struct wm_metrics_buf *b)
{
	int rc = family(b, "wireguard_peer_receive_bytes_total", "counter",
			"Bytes received from the peer, as the WireGuard device counts them.");
	for (size_t i = 0; !rc && i < s->n_peers; i++) {
		rc = peer_series(b, "wireguard_peer_receive_bytes_total", &s->peers[i]);
		rc = rc ? rc : put(b, "} %" PRIu64 "\n", s->peers[i].rx_bytes);
	}
	rc = rc ? rc
		: family(b, "wireguard_peer_transmit_bytes_total", "counter",
			 "Bytes sent to the peer, as the WireGuard device counts them.");
	for (size_t i = 0; !rc && i < s->n_peers; i++) {
		rc = peer_series(b, "wireguard_peer_transmit_bytes_total", &s->peers[i]);
		rc = rc ? rc : put(b, "} %" PRIu64 "\n", s->peers[i].tx_bytes);
	}
	rc = rc ? rc
		: family(b, "wireguard_peer_last_handshake_seconds", "gauge",
			 "Seconds since the epoch of the last handshake with the peer (0: never).");
	for (size_t i = 0; !rc && i < s->n_peers; i++) {
		rc = peer_series(b, "wireguard_peer_last_handshake_seconds", &s->peers[i]);
		rc = rc ? rc : put(b, "} %" PRId64 "\n", s->peers[i].last_handshake);
	}
	rc = rc ? rc
		: family(b, "webmesh_peer_path", "gauge",
			 "The path to the peer: 1 on the current one (direct, ice, relay, "
			 "libp2p).");
	for (size_t i = 0; !rc && i < s->n_peers; i++) {
		for (size_t k = 0; !rc && wm_metrics_paths[k]; k++) {
			const char *cur = s->peers[i].path;
			rc = peer_series(b, "webmesh_peer_path", &s->peers[i]);
			rc = rc ? rc
				: put(b, ",path=\"%s\"} %d\n", wm_metrics_paths[k],
				      cur && strcmp(cur, wm_metrics_paths[k]) == 0);
		}
	}
	return rc;
}

static int render_raft(const struct wm_metrics_snapshot *s, struct wm_metrics_buf *b)
{
	static const char *const roles[] = {"leader", "follower", "candidate", "unavailable", NULL};
	int rc = family(b, "webmesh_raft_term", "gauge", "The Raft term of this replica.");
	rc = rc ? rc : put(b, "webmesh_raft_term %" PRIu64 "\n", s->raft_term);
	rc = rc ? rc : family(b, "webmesh_raft_commit_index", "gauge", "The Raft commit index.");
	rc = rc ? rc : put(b, "webmesh_raft_commit_index %" PRIu64 "\n", s->raft_commit_index);
	rc = rc ? rc
		: family(b, "webmesh_raft_applied_index", "gauge",
			 "The last Raft entry applied to this replica.");
	rc = rc ? rc : put(b, "webmesh_raft_applied_index %" PRIu64 "\n", s->raft_applied_index);
	rc = rc ? rc
		: family(b, "webmesh_raft_role", "gauge",
			 "This replica's Raft role: 1 on the current one.");
	for (size_t k = 0; !rc && roles[k]; k++)
		rc = put(b, "webmesh_raft_role{role=\"%s\"} %d\n", roles[k],
			 s->raft_role && strcmp(s->raft_role, roles[k]) == 0);
	rc = rc ? rc
		: family(b, "webmesh_raft_leader", "gauge",
			 "The leader this replica knows (the series with value 1).");
	if (!rc && s->raft_leader && s->raft_leader[0]) {
		rc = put(b, "webmesh_raft_leader{leader_id=\"");
		rc = rc ? rc : put_label(b, s->raft_leader);
		rc = rc ? rc : put(b, "\"} 1\n");
	}
	rc = rc ? rc
		: family(b, "webmesh_raft_caught_up", "gauge",
			 "1 when the replica applied an entry of its leader's term.");
	return rc ? rc : put(b, "webmesh_raft_caught_up %d\n", s->raft_caught_up);
}

static int render_calls(const struct wm_metrics_snapshot *s, struct wm_metrics_buf *b)
{
	uint64_t joins = 0, unauthenticated = 0, denied = 0;
	int rc = family(b, "webmesh_api_calls_total", "counter",
			"API calls this node answered, by method and gRPC status code.");
	for (size_t i = 0; s->calls && !rc && i < s->calls->n; i++) {
		int code = s->calls->row[i].code;
		const char *method = s->calls->row[i].method;
		uint64_t count = s->calls->row[i].count;
		rc = put(b, "webmesh_api_calls_total{method=\"");
		rc = rc ? rc : put_label(b, method);
		const char *name = wm_grpc_code_name(code);
		if (name)
			rc = rc ? rc : put(b, "\",code=\"%s\"} %" PRIu64 "\n", name, count);
		else
			rc = rc ? rc : put(b, "\",code=\"%d\"} %" PRIu64 "\n", code, count);
		if (code == 0 && strcmp(method, JOIN_METHOD) == 0)
			joins += count;
		if (code == CODE_UNAUTHENTICATED)
			unauthenticated += count;
		if (code == CODE_PERMISSION_DENIED)
			denied += count;
	}
	rc = rc ? rc
		: family(b, "webmesh_api_calls_uncounted_total", "counter",
			 "API calls not in webmesh_api_calls_total: its table was full.");
	rc = rc ? rc
		: put(b, "webmesh_api_calls_uncounted_total %" PRIu64 "\n",
		      s->calls ? s->calls->dropped : 0);
	rc = rc ? rc
		: family(b, "webmesh_joins_total", "counter",
			 "Join calls this node answered OK (a forwarded Join counts on the "
			 "server that took it and on the leader).");
	rc = rc ? rc : put(b, "webmesh_joins_total %" PRIu64 "\n", joins);
	rc = rc ? rc
		: family(b, "webmesh_auth_refusals_total", "counter",
			 "API calls refused: no valid credential, or RBAC said no.");
	rc = rc ? rc
		: put(b,
		      "webmesh_auth_refusals_total{reason=\"unauthenticated\"} %" PRIu64 "\n"
		      "webmesh_auth_refusals_total{reason=\"permission_denied\"} %" PRIu64 "\n",
		      unauthenticated, denied);
	return rc;
}

int wm_metrics_render(const struct wm_metrics_snapshot *s, struct wm_metrics_buf *b)
{
	int rc = grow(b, 4096 + s->n_peers * 900);
	rc = rc ? rc : render_peers(s, b);
	if (!rc && s->raft)
		rc = render_raft(s, b);
	rc = rc ? rc : render_calls(s, b);
	rc = rc ? rc
		: family(b, "webmesh_nat_events_total", "counter",
			 "Path changes of the NAT layer (direct, ICE, relay and back).");
	rc = rc ? rc : put(b, "webmesh_nat_events_total %" PRIu64 "\n", s->nat_events);
	rc = rc ? rc
		: family(b, "webmesh_node_info", "gauge", "This node: 1, with its ID as a label.");
	rc = rc ? rc : put(b, "webmesh_node_info{node_id=\"");
	rc = rc ? rc : put_label(b, s->node_id);
	rc = rc ? rc : put(b, "\"} 1\n");
	rc = rc ? rc : family(b, "webmesh_node_joined", "gauge", "1 once the node is in its mesh.");
	rc = rc ? rc : put(b, "webmesh_node_joined %d\n", s->joined);
	rc = rc ? rc
		: family(b, "webmesh_wireguard_up", "gauge",
			 "1 while the WireGuard interface answers.");
	rc = rc ? rc : put(b, "webmesh_wireguard_up %d\n", s->wireguard_up);
	rc = rc ? rc
		: family(b, "process_resident_memory_bytes", "gauge",
			 "Resident memory size in bytes.");
	rc = rc ? rc : put(b, "process_resident_memory_bytes %" PRIu64 "\n", s->rss_bytes);
	return rc;
}

void wm_metrics_buf_free(struct wm_metrics_buf *buf)
{
	free(buf->p);
	buf->p = NULL;
	buf->len = buf->cap = 0;
}
