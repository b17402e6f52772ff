/* Liveness heartbeats: every node but the leader tells the leader it is alive,
 * members through their server, servers directly over the overlay. */
#include "node/heartbeat.h"

#include "core/cmdver.h"
#include "util/log.h"
#include "webmesh/v1/mesh.pb-c.h"
#include "services/paths.h"

static void done_cb(void *data, int status, const char *message, const uint8_t *resp, size_t len)
{
	(void)resp;
	(void)len;
	struct wm_heartbeat *h = data;
	if (status == WM_GRPC_OK || !h->running)
		return;
	wm_debug("heartbeat not delivered: %s: %s", wm_grpc_status_name(status),
		 message ? message : "");
	if (status == WM_GRPC_UNAVAILABLE || status == WM_GRPC_DEADLINE_EXCEEDED)
		h->c.upstream_failed_cb(h->c.data);
}

static void tick_cb(uv_timer_t *t)
{
	struct wm_heartbeat *h = t->data;
	Webmesh__V1__HeartbeatRequest req = WEBMESH__V1__HEARTBEAT_REQUEST__INIT;
	req.id = (char *)h->c.node_id;
	req.command_version = WM_CMD_VERSION;
	uint8_t buf[128];
	size_t len = webmesh__v1__heartbeat_request__pack(&req, buf);
	/* nobody to send to now (we lead, or are between servers): next tick */
	h->c.send(h->c.data, WM_METHOD_MEMBERSHIP_HEARTBEAT, buf, len, h->c.interval_ms, done_cb,
		  h);
}

void wm_heartbeat_init(struct wm_heartbeat *h, const struct wm_heartbeat_config *c)
{
	*h = (struct wm_heartbeat){.c = *c};
	uv_timer_init(c->loop, &h->timer);
	h->timer.data = h;
}

void wm_heartbeat_start(struct wm_heartbeat *h)
{
	if (h->running || h->closed)
		return;
	h->running = true;
	uv_timer_start(&h->timer, tick_cb, h->c.interval_ms, h->c.interval_ms);
}

static void closed_cb(uv_handle_t *handle)
{
	struct wm_heartbeat *h = handle->data;
	if (h->close_cb)
		h->close_cb(h->close_data);
}

void wm_heartbeat_close(struct wm_heartbeat *h, void (*done)(void *data), void *data)
{
	h->running = false;
	if (h->closed) {
		if (done)
			done(data);
		return;
	}
	h->closed = true;
	h->close_cb = done;
	h->close_data = data;
	uv_close((uv_handle_t *)&h->timer, closed_cb);
}
