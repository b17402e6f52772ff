/* The Admin service's handlers (admin_edges.c): edges and routes. */
#ifndef WM_SERVICES_ADMIN_H
#define WM_SERVICES_ADMIN_H

#include "services/services_int.h"
#include "webmesh/v1/raft.pb-c.h"

void wm_admin_put_edge(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_delete_edge(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_list_edges(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_put_route(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_delete_route(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_list_routes(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);

/* admin_dns.c: MeshDNS user records */
void wm_admin_put_dns_record(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_delete_dns_record(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				void *data);
void wm_admin_list_dns_records(struct wm_rpc_call *call, const uint8_t *req, size_t len,
			       void *data);

/* Applies cmd on the leader, or forwards the original request (req) to it;
 * answers the call with AdminWriteResponse or the refusal. */
void wm_admin_apply(struct wm_services *s, struct wm_rpc_call *call, const uint8_t *req, size_t len,
		    const Webmesh__V1__RaftCommand *cmd);

#endif
