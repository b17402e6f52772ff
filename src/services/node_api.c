/* Node.GetStatus, LeaveMesh, Ping, NetCheck and ConsoleToken: about this node, answered by
 * the daemon. */
#include "services/services_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/ids.h"
#include "services/convert.h"

void wm_node_get_status(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	Webmesh__V1__GetStatusRequest *r = webmesh__v1__get_status_request__unpack(NULL, len, req);
	if (!r) {
		wm_services_fail(call, -EINVAL, "malformed GetStatusRequest");
		return;
	}
	webmesh__v1__get_status_request__free_unpacked(r, NULL);
	struct wm_arena a;
	wm_arena_init(&a);
	Webmesh__V1__Status st = WEBMESH__V1__STATUS__INIT;
	s->cfg.fill_status(s->cfg.data, &st, &a);
	/* What the caller's TLS connection showed: a browser cannot read it,
	 * and the console's join command needs it. */
	const char *fp = wm_rpc_call_server_fingerprint(call);
	if (fp)
		st.tls_fingerprint = (char *)fp;
	if (a.failed)
		wm_services_fail(call, -ENOMEM, NULL);
	else
		wm_services_reply(call, &st.base);
	wm_arena_free(&a);
}

/* Node.SubscribeStatus: one per open stream, on s->status_streams. The
 * timer is the stream's; the struct is freed in its close callback. How many
 * a client may hold is the connection's stream limit, as for every stream. */
struct status_stream {
	uv_timer_t timer;
	struct wm_services *s;
	struct wm_rpc_call *call; /* NULL once finished */
	struct status_stream *prev, *next;
};

enum { STATUS_INTERVAL_MIN = 1000, STATUS_INTERVAL_MAX = 60000, STATUS_INTERVAL_DEF = 2000 };

static void status_stream_closed_cb(uv_handle_t *h)
{
	free(h->data);
}

/* Finishes the call (once), unlinks the stream and closes its timer. */
static void status_stream_end(struct status_stream *st, int code, const char *msg)
{
	if (!st->call)
		return;
	struct wm_rpc_call *call = st->call;
	st->call = NULL;
	if (st->prev)
		st->prev->next = st->next;
	else
		st->s->status_streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	uv_timer_stop(&st->timer);
	uv_close((uv_handle_t *)&st->timer, status_stream_closed_cb);
	wm_rpc_call_finish(call, code, msg);
}

/* Sends the node's Status now; false when the stream ended. */
static bool status_stream_send(struct status_stream *st)
{
	struct wm_arena a;
	wm_arena_init(&a);
	Webmesh__V1__Status m = WEBMESH__V1__STATUS__INIT;
	st->s->cfg.fill_status(st->s->cfg.data, &m, &a);
	const char *fp = wm_rpc_call_server_fingerprint(st->call);
	if (fp)
		m.tls_fingerprint = (char *)fp;
	int err = -ENOMEM;
	if (!a.failed) {
		size_t len = protobuf_c_message_get_packed_size(&m.base);
		uint8_t *buf = malloc(len ? len : 1);
		if (buf) {
			protobuf_c_message_pack(&m.base, buf);
			err = wm_rpc_call_send(st->call, buf, len);
			free(buf);
		}
	}
	wm_arena_free(&a);
	if (!err)
		return true;
	/* A client that stopped reading (the send queue is full) is let go:
	 * it asks again when it reads again. */
	if (err == -ECANCELED)
		status_stream_end(st, WM_GRPC_CANCELLED, "the client went away");
	else
		status_stream_end(st, wm_grpc_status_from_err(err), wm_strerror(err));
	return false;
}

static void status_stream_tick_cb(uv_timer_t *t)
{
	status_stream_send(t->data);
}

static void status_stream_cancel_cb(struct wm_rpc_call *call, void *data)
{
	(void)call;
	status_stream_end(data, WM_GRPC_CANCELLED, "the client went away");
}

void wm_node_subscribe_status(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	Webmesh__V1__SubscribeStatusRequest *r =
		webmesh__v1__subscribe_status_request__unpack(NULL, len, req);
	if (!r) {
		wm_services_fail(call, -EINVAL, "malformed SubscribeStatusRequest");
		return;
	}
	/* Clamped rather than refused: the bounds only keep the work per
	 * stream small, any value in between serves the caller as well. */
	uint32_t iv = r->interval_ms ? r->interval_ms : STATUS_INTERVAL_DEF;
	webmesh__v1__subscribe_status_request__free_unpacked(r, NULL);
	if (iv < STATUS_INTERVAL_MIN)
		iv = STATUS_INTERVAL_MIN;
	if (iv > STATUS_INTERVAL_MAX)
		iv = STATUS_INTERVAL_MAX;
	if (s->stopped) {
		wm_rpc_call_finish(call, WM_GRPC_UNAVAILABLE, "server is shutting down");
		return;
	}
	struct status_stream *st = calloc(1, sizeof(*st));
	if (!st) {
		wm_services_fail(call, -ENOMEM, NULL);
		return;
	}
	st->s = s;
	st->call = call;
	uv_timer_init(s->cfg.loop, &st->timer);
	st->timer.data = st;
	st->next = s->status_streams;
	if (st->next)
		st->next->prev = st;
	s->status_streams = st;
	wm_rpc_call_set_cancel_cb(call, status_stream_cancel_cb, st);
	if (status_stream_send(st))
		uv_timer_start(&st->timer, status_stream_tick_cb, iv, iv);
}

void wm_node_status_streams_close_all(struct wm_services *s)
{
	while (s->status_streams)
		status_stream_end(s->status_streams, WM_GRPC_UNAVAILABLE,
				  "server is shutting down");
}

static void leave_done_cb(void *cd, int err, const char *msg)
{
	struct wm_rpc_call *call = cd;
	if (err) {
		wm_services_fail(call, err, msg);
		return;
	}
	Webmesh__V1__LeaveMeshResponse resp = WEBMESH__V1__LEAVE_MESH_RESPONSE__INIT;
	wm_services_reply(call, &resp.base);
}

void wm_node_leave_mesh(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	Webmesh__V1__LeaveMeshRequest *r = webmesh__v1__leave_mesh_request__unpack(NULL, len, req);
	if (!r) {
		wm_services_fail(call, -EINVAL, "malformed LeaveMeshRequest");
		return;
	}
	webmesh__v1__leave_mesh_request__free_unpacked(r, NULL);
	/* Registered on the local socket only; checked again so that a mistake in
	 * registration cannot let a remote caller stop the node. */
	if (!wm_rpc_call_is_local(call)) {
		wm_rpc_call_finish(call, WM_GRPC_PERMISSION_DENIED,
				   "LeaveMesh is only accepted on the local socket");
		return;
	}
	s->cfg.leave_mesh(s->cfg.data, leave_done_cb, call);
}

void wm_node_get_bootstrap_info(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				void *data)
{
	struct wm_services *s = data;
	Webmesh__V1__GetBootstrapInfoRequest *r =
		webmesh__v1__get_bootstrap_info_request__unpack(NULL, len, req);
	if (!r) {
		wm_services_fail(call, -EINVAL, "malformed GetBootstrapInfoRequest");
		return;
	}
	webmesh__v1__get_bootstrap_info_request__free_unpacked(r, NULL);
	if (!s->cfg.fill_bootstrap_info) {
		wm_rpc_call_finish(call, WM_GRPC_UNIMPLEMENTED,
				   "this node was not started with --bootstrap-servers");
		return;
	}
	struct wm_arena a;
	wm_arena_init(&a);
	Webmesh__V1__BootstrapInfo info = WEBMESH__V1__BOOTSTRAP_INFO__INIT;
	s->cfg.fill_bootstrap_info(s->cfg.data, &info, &a);
	if (a.failed)
		wm_services_fail(call, -ENOMEM, NULL);
	else
		wm_services_reply(call, &info.base);
	wm_arena_free(&a);
}

/* The request lives until the daemon answers. */
struct diag {
	struct wm_rpc_call *call;
	ProtobufCMessage *req;
};

static void diag_done_cb(void *cd, int err, const char *msg, const ProtobufCMessage *resp)
{
	struct diag *g = cd;

	if (err)
		wm_services_fail(g->call, err, msg);
	else if (resp)
		wm_services_reply(g->call, resp);
	else
		wm_rpc_call_finish(g->call, WM_GRPC_OK, NULL);
	protobuf_c_message_free_unpacked(g->req, NULL);
	free(g);
}

static int diag_send_cb(void *cd, const ProtobufCMessage *msg)
{
	struct diag *g = cd;
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len ? len : 1);
	int err;

	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(msg, buf);
	err = wm_rpc_call_send(g->call, buf, len);
	free(buf);
	return err;
}

/* Unpacks req for a local-only diagnostic; NULL after failing the call. */
static struct diag *diag_start(struct wm_rpc_call *call, const ProtobufCMessageDescriptor *desc,
			       const uint8_t *req, size_t len, bool available)
{
	char why[96];
	struct diag *g;

	if (!wm_rpc_call_is_local(call)) {
		snprintf(why, sizeof(why), "%s is only accepted on the local socket",
			 desc->short_name);
		wm_rpc_call_finish(call, WM_GRPC_PERMISSION_DENIED, why);
		return NULL;
	}
	if (!available) {
		wm_rpc_call_finish(call, WM_GRPC_UNIMPLEMENTED, "not available on this node");
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		wm_services_fail(call, -ENOMEM, NULL);
		return NULL;
	}
	g->call = call;
	g->req = protobuf_c_message_unpack(desc, NULL, len, req);
	if (!g->req) {
		snprintf(why, sizeof(why), "malformed %s", desc->short_name);
		wm_services_fail(call, -EINVAL, why);
		free(g);
		return NULL;
	}
	return g;
}

/* A zero means the default; anything else must lie in [min, max]. */
static int check_range(uint32_t *v, uint32_t def, uint32_t min, uint32_t max, const char *name,
		       char *why, size_t len)
{
	if (*v == 0)
		*v = def;
	if (*v < min || *v > max) {
		snprintf(why, len, "%s must be %u..%u, not %u", name, min, max, *v);
		return -EINVAL;
	}
	return 0;
}

static void diag_refuse(struct diag *g, const char *why)
{
	wm_services_fail(g->call, -EINVAL, why);
	protobuf_c_message_free_unpacked(g->req, NULL);
	free(g);
}

void wm_node_ping(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	struct diag *g = diag_start(call, &webmesh__v1__ping_request__descriptor, req, len,
				    s->cfg.ping != NULL);
	Webmesh__V1__PingRequest *r;
	const char *reason = NULL;
	char why[160];

	if (!g)
		return;
	r = (Webmesh__V1__PingRequest *)g->req;
	if (wm_node_id_check(r->node_id, &reason) < 0) {
		snprintf(why, sizeof(why), "invalid node ID \"%.64s\": %s", r->node_id, reason);
		diag_refuse(g, why);
		return;
	}
	if (check_range(&r->count, 4, 1, 100, "count", why, sizeof(why)) < 0 ||
	    check_range(&r->interval_ms, 1000, 100, 10000, "interval_ms", why, sizeof(why)) < 0 ||
	    check_range(&r->timeout_ms, 2000, 100, 10000, "timeout_ms", why, sizeof(why)) < 0) {
		diag_refuse(g, why);
		return;
	}
	s->cfg.ping(s->cfg.data, r, diag_send_cb, diag_done_cb, g);
}

void wm_node_netcheck(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	struct diag *g = diag_start(call, &webmesh__v1__net_check_request__descriptor, req, len,
				    s->cfg.netcheck != NULL);
	Webmesh__V1__NetCheckRequest *r;
	char why[160];

	if (!g)
		return;
	r = (Webmesh__V1__NetCheckRequest *)g->req;
	if (check_range(&r->timeout_ms, 2000, 200, 10000, "timeout_ms", why, sizeof(why)) < 0) {
		diag_refuse(g, why);
		return;
	}
	s->cfg.netcheck(s->cfg.data, r, diag_done_cb, g);
}

void wm_node_console_token(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	Webmesh__V1__ConsoleTokenRequest *r =
		webmesh__v1__console_token_request__unpack(NULL, len, req);
	if (!r) {
		wm_services_fail(call, -EINVAL, "malformed ConsoleTokenRequest");
		return;
	}
	webmesh__v1__console_token_request__free_unpacked(r, NULL);
	/* registered on the local socket only; checked again as LeaveMesh is */
	if (!wm_rpc_call_is_local(call)) {
		wm_rpc_call_finish(call, WM_GRPC_PERMISSION_DENIED,
				   "ConsoleToken is only accepted on the local socket");
		return;
	}
	char url[256];
	int rc = s->cfg.console_url ? s->cfg.console_url(s->cfg.data, url, sizeof(url)) : -ENOSYS;
	if (rc == -ENOTCONN || rc == -ENOSYS) {
		wm_rpc_call_finish(call, WM_GRPC_FAILED_PRECONDITION,
				   "this node serves no HTTP listener (http-listen is empty, or "
				   "its address was in use: see the node's log)");
		return;
	}
	if (rc) {
		wm_services_fail(call, rc, "cannot make a console token");
		return;
	}
	Webmesh__V1__ConsoleTokenResponse resp = WEBMESH__V1__CONSOLE_TOKEN_RESPONSE__INIT;
	resp.url = url;
	wm_services_reply(call, &resp.base);
}
