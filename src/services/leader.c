/* Reaching the Raft leader from any server: writes a follower cannot apply are
 * forwarded to the leader over the overlay and its answer relayed, so clients
 * never need to know who leads. */
#include "services/services_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hostport.h"
#include "util/log.h"

#define FORWARD_TIMEOUT_MS 10000

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
	struct wm_rpc_client_config cc = {
		.host = host,
		.port = s->cfg.api_port ? s->cfg.api_port : 8443,
		.tls = s->overlay_tls,
	};
	int err = wm_rpc_client_new(s->cfg.loop, &cc, &s->leader_client);
	if (err)
		return err;
	snprintf(s->leader_client_id, sizeof(s->leader_client_id), "%s", st.leader_id);
	wm_debug("forwarding writes to leader %s at %s:%u", st.leader_id, host, cc.port);
	*out = s->leader_client;
	return 0;
}

int wm_services_call_leader(struct wm_services *s, const char *path, const uint8_t *req,
			    size_t len, wm_rpc_unary_cb cb, void *data)
{
	if (!s->cfg.store || s->stopped)
		return -WM_ENOTLEADER;
	struct wm_rpc_client *c;
	int err = leader_client(s, &c);
	if (err)
		return err;
	struct wm_rpc_metadata md[] = {{"x-webmesh-proxied-from", s->node_id}};
	return wm_rpc_client_unary(c, path, req, len, FORWARD_TIMEOUT_MS, md, 1, cb, data);
}

struct forward_ctx {
	struct wm_rpc_call *call;
};

static void forwarded_cb(void *data, int status, const char *message, const uint8_t *resp,
			 size_t len)
{
	struct forward_ctx *f = data;
	if (status == WM_GRPC_OK) {
		int err = wm_rpc_call_send(f->call, resp, len);
		wm_rpc_call_finish(f->call, err && err != -ECANCELED ? WM_GRPC_INTERNAL : WM_GRPC_OK,
				   NULL);
	} else {
		wm_rpc_call_finish(f->call, status, message);
	}
	free(f);
}

void wm_services_forward(struct wm_services *s, struct wm_rpc_call *call, const uint8_t *req,
			 size_t len)
{
	/* One hop only: if the server that forwarded to us thought we lead and
	 * we do not, leadership is moving; the caller retries (Join and Leave
	 * are idempotent) rather than chasing the leader around. */
	if (wm_rpc_call_metadata(call, "x-webmesh-proxied-from")) {
		wm_rpc_call_finish(call, WM_GRPC_UNAVAILABLE,
				   "leadership is changing; retry the call");
		return;
	}
	if (!s->cfg.store) {
		wm_services_proxy(s, call, req, len);
		return;
	}
	struct forward_ctx *f = malloc(sizeof(*f));
	if (!f) {
		wm_services_fail(call, -ENOMEM, NULL);
		return;
	}
	f->call = call;
	int err = wm_services_call_leader(s, wm_rpc_call_path(call), req, len, forwarded_cb, f);
	if (err) {
		free(f);
		wm_rpc_call_finish(call, WM_GRPC_UNAVAILABLE,
				   err == -EAGAIN ? "no leader is elected right now; retry"
						  : "cannot reach the leader; retry");
	}
}
