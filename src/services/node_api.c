/* Node.GetStatus and Node.LeaveMesh: about this node, answered by the daemon. */
#include "services/services_int.h"

#include <errno.h>
#include <stdlib.h>

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
	if (a.failed)
		wm_services_fail(call, -ENOMEM, NULL);
	else
		wm_services_reply(call, &st.base);
	wm_arena_free(&a);
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
