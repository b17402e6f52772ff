/* Reaching the Raft leader from any server: writes a follower cannot apply are
 * forwarded to the leader over the overlay and its answer relayed, so clients
 * never need to know who leads. */
#include "services/services_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/hostport.h"
#include "rpc/tls.h"
#include "services/gate.h"
#include "services/paths.h"
#include "util/log.h"

#define FORWARD_TIMEOUT_MS 10000
#define OVERLAY_KEEPALIVE_MS 1000
#define OVERLAY_CONNECT_MS 1500

int wm_services_overlay_client(struct wm_services *s, const char *host, struct wm_rpc_client **out)
{
	/* Over the overlay a server's address is bound to its WireGuard key: only
	 * the peer holding that key can send from or receive for it. That, not a
	 * certificate, is what identifies the leader we forward to. The context
	 * is made at the first forward, not at start: a member seldom forwards,
	 * and a TLS context is 16 KiB of heap. */
	if (!s->overlay_tls) {
		char err[256];
		struct wm_tls_client_opts o = {.insecure_skip_verify = true,
					       .cert_file = s->cfg.client_cert,
					       .key_file = s->cfg.client_cert ? s->cfg.client_key
									      : NULL};
		s->overlay_tls = wm_tls_client_ctx_new(&o, err, sizeof(err));
		if (!s->overlay_tls) {
			wm_warn("cannot reach %s over the overlay: %s", host, err);
			return -EINVAL;
		}
	}
	struct wm_rpc_client_config cc = {
		.host = host,
		.port = s->cfg.api_port ? s->cfg.api_port : 8443,
		.tls = s->overlay_tls,
		.call_metadata = s->cfg.call_metadata,
		.call_metadata_data = s->cfg.data,
		/* The other server is a hop away on the overlay: one that answers
		 * neither a SYN nor a PING within a second or two is dead or cut
		 * off (a killed leader, typically), and the forward moves on to
		 * the next leader instead of waiting for the attempt's deadline. */
		.keepalive_ms = OVERLAY_KEEPALIVE_MS,
		.keepalive_timeout_ms = OVERLAY_KEEPALIVE_MS,
		.connect_timeout_ms = OVERLAY_CONNECT_MS,
	};
	return wm_rpc_client_new(s->cfg.loop, &cc, out);
}

/* The client for the current leader, made anew when leadership moves. */
static int leader_client(struct wm_services *s, struct wm_rpc_client **out)
{
	struct wm_store_status st;
	wm_store_status(s->cfg.store, &st);
	if (st.is_leader)
		return -WM_ENOTLEADER; /* we lead: apply locally */
	if (!st.leader_id[0] || !st.leader_address[0])
		return -EAGAIN;
	if (s->leader_client && strcmp(s->leader_client_id, st.leader_id) == 0) {
		*out = s->leader_client;
		return 0;
	}
	if (s->leader_client) {
		wm_rpc_client_free(s->leader_client);
		s->leader_client = NULL;
	}
	/* The raft address is the leader's mesh IPv4 and raft port; its API
	 * listens on the same address at the API port. */
	char host[64];
	uint16_t raft_port;
	if (wm_hostport_split(st.leader_address, host, sizeof(host), &raft_port) < 0)
		return -EINVAL;
	int err = wm_services_overlay_client(s, host, &s->leader_client);
	if (err)
		return err;
	snprintf(s->leader_client_id, sizeof(s->leader_client_id), "%s", st.leader_id);
	wm_debug("forwarding writes to leader %s at %s", st.leader_id, host);
	*out = s->leader_client;
	return 0;
}

void wm_services_leader_changed(struct wm_services *s)
{
	struct wm_store_status st;
	if (!s || !s->cfg.store || !s->leader_client)
		return;
	wm_store_status(s->cfg.store, &st);
	if (!st.is_leader && strcmp(s->leader_client_id, st.leader_id) == 0)
		return;
	/* Its pending forwards fail with CANCELLED and are retried. */
	struct wm_rpc_client *c = s->leader_client;
	s->leader_client = NULL;
	s->leader_client_id[0] = '\0';
	wm_rpc_client_free(c);
}

size_t wm_services_proof(struct wm_services *s, const char *target_id, const uint8_t *target_pub,
			 const char *path, struct wm_node_proof *p, struct wm_rpc_metadata *md,
			 size_t max)
{
	struct wm_mesh_node n;

	memset(p, 0, sizeof(*p));
	if (!s->cfg.wg_private_key)
		return 0;
	if (!target_pub) {
		if (!s->cfg.store || wm_store_get_node(s->cfg.store, target_id, &n) < 0)
			return 0;
		target_pub = n.public_key;
	}
	if (wm_node_proof_make(s->cfg.wg_private_key, s->node_id, target_id, target_pub, path,
			       (int64_t)time(NULL), p) < 0)
		return 0;
	return wm_node_proof_metadata(p, md, max);
}

/* Metadata of a call this server sends to the leader: the hop marker, whom
 * it is for (or nothing: our own call) and our node proof for the leader. */
static size_t leader_md(struct wm_services *s, const char *path, const char *proxied_for,
			struct wm_node_proof *p, struct wm_rpc_metadata md[5])
{
	size_t n = 0;

	md[n].key = WM_HDR_PROXIED_FROM;
	md[n++].value = s->node_id;
	if (proxied_for && proxied_for[0]) {
		md[n].key = WM_HDR_PROXIED_FOR;
		md[n++].value = proxied_for;
	}
	return n + wm_services_proof(s, s->leader_client_id, NULL, path, p, md + n, 3);
}

int wm_services_call_leader(struct wm_services *s, const char *path, const uint8_t *req, size_t len,
			    const char *proxied_for, wm_rpc_unary_cb cb, void *data)
{
	if (!s->cfg.store || s->stopped)
		return -WM_ENOTLEADER;
	struct wm_rpc_client *c;
	int err = leader_client(s, &c);
	if (err)
		return err;
	struct wm_node_proof p;
	struct wm_rpc_metadata md[5];
	size_t n = leader_md(s, path, proxied_for, &p, md);
	return wm_rpc_client_unary(c, path, req, len, FORWARD_TIMEOUT_MS, md, n, cb, data);
}

/* A forwarded call gets a short deadline per attempt and is retried against
 * the leader of the moment while the caller's own deadline allows: a call
 * that met a dead leader (connect hangs until its deadline) or a leader
 * change should wait for the election, not for the caller's whole timeout.
 * Retrying is safe because every forwarded write is idempotent (a Join with
 * the same key gets the same lease; a Leave of a removed node is NOT_FOUND). */
#define ATTEMPT_MS 3000
#define RETRY_DELAY_MS 250
#define MAX_ATTEMPTS 8
/* A Join the leader took is answered once this replica lists the node (or
 * after JOIN_VISIBLE_MAX_MS): the joiner's next call, its SubscribePeers,
 * comes here, and would otherwise be NOT_FOUND while the entry is on its
 * way, sending the joiner round again (most joins through a follower in a
 * join storm, seen with bench/scale --sim). */
#define JOIN_VISIBLE_POLL_MS 10
#define JOIN_VISIBLE_MAX_MS 3000

struct forward_ctx {
	struct wm_services *s;
	struct wm_rpc_call *call;
	uint8_t *req;
	size_t len;
	unsigned attempts;
	uv_timer_t timer;
	/* whom the leader must authorize: the original caller, not us */
	char proxied_for[WM_AUTH_ID_MAX + 8];
	/* a successful Join's answer, held until the node is in our replica */
	uint8_t *resp;
	size_t resp_len;
	char join_id[WM_NODE_ID_MAX + 1];
	uint64_t visible_by;
};

static void forward_ctx_closed_cb(uv_handle_t *h)
{
	struct forward_ctx *f = h->data;
	free(f->req);
	free(f->resp);
	free(f);
}

static void forward_done(struct forward_ctx *f, int status, const char *message,
			 const uint8_t *resp, size_t len)
{
	wm_services_relay(f->call, status, message, resp, len);
	uv_close((uv_handle_t *)&f->timer, forward_ctx_closed_cb);
}

static void attempt(struct forward_ctx *f);

static void retry_cb(uv_timer_t *t)
{
	attempt(t->data);
}

static bool may_retry(struct forward_ctx *f)
{
	if (f->attempts >= MAX_ATTEMPTS || f->s->stopped || wm_rpc_call_cancelled(f->call))
		return false;
	int64_t left = wm_rpc_call_remaining_ms(f->call);
	return left < 0 || left > RETRY_DELAY_MS + 500;
}

static bool join_visible(struct forward_ctx *f)
{
	struct wm_mesh_node n;
	return !f->s->cfg.store || f->s->stopped || wm_rpc_call_cancelled(f->call) ||
	       uv_now(f->s->cfg.loop) >= f->visible_by ||
	       wm_store_get_node(f->s->cfg.store, f->join_id, &n) == 0;
}

static void join_visible_cb(uv_timer_t *t)
{
	struct forward_ctx *f = t->data;
	if (join_visible(f))
		forward_done(f, WM_GRPC_OK, NULL, f->resp, f->resp_len);
	else
		uv_timer_start(&f->timer, join_visible_cb, JOIN_VISIBLE_POLL_MS, 0);
}

/* True when f now waits for its Join to reach this replica (it owns a copy
 * of the answer and finishes the call later). */
static bool hold_join(struct forward_ctx *f, const uint8_t *resp, size_t len)
{
	if (strcmp(wm_rpc_call_path(f->call), WM_METHOD_MEMBERSHIP_JOIN) != 0)
		return false;
	Webmesh__V1__JoinRequest *r = webmesh__v1__join_request__unpack(NULL, f->len, f->req);
	if (!r)
		return false;
	snprintf(f->join_id, sizeof(f->join_id), "%s", r->id);
	webmesh__v1__join_request__free_unpacked(r, NULL);
	f->visible_by = uv_now(f->s->cfg.loop) + JOIN_VISIBLE_MAX_MS;
	if (join_visible(f) || !(f->resp = malloc(len ? len : 1)))
		return false;
	memcpy(f->resp, resp, len);
	f->resp_len = len;
	uv_timer_start(&f->timer, join_visible_cb, JOIN_VISIBLE_POLL_MS, 0);
	return true;
}

static void forwarded_cb(void *data, int status, const char *message, const uint8_t *resp,
			 size_t len)
{
	struct forward_ctx *f = data;
	if (status == WM_GRPC_OK && hold_join(f, resp, len))
		return;
	/* CANCELLED too: replacing the client of a dead leader cancels what was
	 * pending on it, and may_retry checks that our own caller is still here. */
	if ((status == WM_GRPC_UNAVAILABLE || status == WM_GRPC_DEADLINE_EXCEEDED ||
	     status == WM_GRPC_CANCELLED) &&
	    may_retry(f)) {
		uv_timer_start(&f->timer, retry_cb, RETRY_DELAY_MS, 0);
		return;
	}
	forward_done(f, status, message, resp, len);
}

static void attempt(struct forward_ctx *f)
{
	f->attempts++;
	struct wm_rpc_client *c;
	int err = f->s->stopped ? -ECANCELED : leader_client(f->s, &c);
	if (err == -WM_ENOTLEADER && f->attempts == 1) {
		/* The handler's write was just refused as not leader, yet we
		 * lead: libraft refuses writes while it hands leadership over.
		 * Dispatching again would come straight back here, a frame
		 * deeper each time, until the stack ran out. */
		forward_done(f, WM_GRPC_UNAVAILABLE,
			     "leadership is being handed to another server; retry", NULL, 0);
		return;
	}
	if (err == -WM_ENOTLEADER) {
		/* We lead now: apply it here, as if it had come after the
		 * election (a caller would only retry and land here). A write
		 * refused again comes back here with attempts == 1. */
		if (wm_services_dispatch_again(f->s, f->call, f->req, f->len)) {
			uv_close((uv_handle_t *)&f->timer, forward_ctx_closed_cb);
			return;
		}
		forward_done(f, WM_GRPC_UNAVAILABLE, "leadership moved to this server; retry", NULL,
			     0);
		return;
	}
	if (!err) {
		uint64_t timeout = ATTEMPT_MS;
		int64_t left = wm_rpc_call_remaining_ms(f->call);
		if (left > 0 && (uint64_t)left < timeout)
			timeout = (uint64_t)left;
		struct wm_node_proof p;
		struct wm_rpc_metadata md[5];
		const char *path = wm_rpc_call_path(f->call);
		size_t n = leader_md(f->s, path, f->proxied_for, &p, md);
		err = wm_rpc_client_unary(c, path, f->req, f->len, timeout, md, n, forwarded_cb, f);
		if (!err)
			return;
	}
	if (may_retry(f)) {
		uv_timer_start(&f->timer, retry_cb, RETRY_DELAY_MS, 0);
		return;
	}
	forward_done(f, WM_GRPC_UNAVAILABLE,
		     err == -EAGAIN ? "no leader is elected right now; retry"
				    : "cannot reach the leader; retry",
		     NULL, 0);
}

void wm_services_forward(struct wm_services *s, struct wm_rpc_call *call, const uint8_t *req,
			 size_t len)
{
	/* One hop only: if the server that forwarded to us thought we lead and
	 * we do not, leadership is moving; the caller retries (Join and Leave
	 * are idempotent) rather than chasing the leader around. */
	if (wm_rpc_call_metadata(call, WM_HDR_PROXIED_FROM)) {
		wm_rpc_call_finish(call, WM_GRPC_UNAVAILABLE,
				   "leadership is changing; retry the call");
		return;
	}
	if (!s->cfg.store) {
		wm_services_proxy(s, call, req, len);
		return;
	}
	/* The leader must authorize the original caller, never us in its
	 * place: the gate tells us who called. Our local socket's calls go as
	 * this server itself; an anonymous caller (an open mesh) as anonymous. */
	static const struct wm_identity nobody = {.kind = WM_ID_ANY, .anonymous = true};
	const struct wm_identity *who = wm_gate_caller(call);
	char pf[WM_AUTH_ID_MAX + 8];
	if (wm_gate_proxied_for(who ? who : &nobody, s->node_id, pf, sizeof(pf)) < 0) {
		wm_rpc_call_finish(call, WM_GRPC_PERMISSION_DENIED,
				   "a call without a caller identity is not forwarded");
		return;
	}
	struct forward_ctx *f = calloc(1, sizeof(*f));
	uint8_t *copy = malloc(len ? len : 1);
	if (!f || !copy) {
		free(f);
		free(copy);
		wm_services_fail(call, -ENOMEM, NULL);
		return;
	}
	memcpy(copy, req, len);
	f->s = s;
	f->call = call;
	f->req = copy;
	f->len = len;
	snprintf(f->proxied_for, sizeof(f->proxied_for), "%s", pf);
	uv_timer_init(s->cfg.loop, &f->timer);
	f->timer.data = f;
	attempt(f);
}
