/* The Admin service's handlers (admin_edges.c): edges and routes. */
#ifndef WM_SERVICES_ADMIN_H
#define WM_SERVICES_ADMIN_H

#include "services/services_int.h"

void wm_admin_put_edge(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_delete_edge(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_list_edges(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_put_route(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_delete_route(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_admin_list_routes(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);

#endif
