/* Internals shared by the files of src/services. */
#ifndef WM_SERVICES_INT_H
#define WM_SERVICES_INT_H

#include <protobuf-c/protobuf-c.h>

#include "services/services.h"

struct subscriber;

struct wm_services {
	struct wm_services_config cfg;
	char node_id[WM_NODE_ID_MAX + 1];
	struct subscriber *subscribers; /* doubly linked */
	uv_timer_t notify_timer;        /* coalesces bursts of changes */
	bool notify_pending;
	bool stopped;
};

/* Packs msg, sends it as the only message and finishes the call with OK. */
void wm_services_reply(struct wm_rpc_call *call, const ProtobufCMessage *msg);
/* Finishes with the status for err and the message (or wm_strerror). */
void wm_services_fail(struct wm_rpc_call *call, int err, const char *msg);
/* Forwards the call's raw request to the upstream server and relays the answer. */
void wm_services_proxy(struct wm_services *s, struct wm_rpc_call *call, const uint8_t *req,
		       size_t len);

/* Handlers, by file. */
void wm_membership_join(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_membership_leave(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_subscriptions_subscribe(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				void *data);
void wm_mesh_get_node(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_mesh_list_nodes(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_mesh_get_graph(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_node_get_status(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_node_leave_mesh(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);

/* Subscriptions: start listening to the store, end every stream. */
void wm_subscriptions_init(struct wm_services *s);
void wm_subscriptions_close_all(struct wm_services *s, int grpc_status, const char *msg);

#endif
