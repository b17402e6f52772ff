/* Liveness heartbeats: every node but the leader tells the leader it is alive,
 * members through their server, servers directly over the overlay. */
#include "node/daemon.h"

#include <stdio.h>

#include "util/log.h"
#include "services/paths.h"

static void heartbeat_done_cb(void *data, int status, const char *message, const uint8_t *resp,
			      size_t len)
{
	(void)resp;
	(void)len;
	struct wm_daemon *d = data;
	/* For a member, a heartbeat its server does not answer means that server
	 * is gone (a crashed server's stream may stay silent): fail over. */
	if (status == WM_GRPC_OK || d->phase != WM_PHASE_RUNNING)
		return;
	wm_debug("heartbeat not delivered: %s: %s", wm_grpc_status_name(status),
		 message ? message : "");
	if (status == WM_GRPC_UNAVAILABLE || status == WM_GRPC_DEADLINE_EXCEEDED)
		wm_member_upstream_failed(d);
}

static void heartbeat_cb(uv_timer_t *t)
{
	struct wm_daemon *d = t->data;
	if (d->phase != WM_PHASE_RUNNING)
		return;
	Webmesh__V1__HeartbeatRequest req = WEBMESH__V1__HEARTBEAT_REQUEST__INIT;
	req.id = d->node_id;
	uint8_t buf[128];
	size_t len = webmesh__v1__heartbeat_request__pack(&req, buf);
	const char *path = WM_METHOD_MEMBERSHIP_HEARTBEAT;
	if (d->store) {
		struct wm_store_status st;
		wm_store_status(d->store, &st);
		if (!st.is_leader)
			wm_services_call_leader(d->services, path, buf, len, NULL,
						heartbeat_done_cb, d);
	} else if (d->upstream && d->joined) {
		wm_rpc_client_unary(d->upstream, path, buf, len, d->cfg->heartbeat_interval_ms, NULL,
				    0, heartbeat_done_cb, d);
	}
}

void wm_heartbeat_start(struct wm_daemon *d)
{
	if (!uv_is_active((uv_handle_t *)&d->heartbeat_timer))
		uv_timer_start(&d->heartbeat_timer, heartbeat_cb, d->cfg->heartbeat_interval_ms,
			       d->cfg->heartbeat_interval_ms);
}
