/* Service registration and the reply helpers every handler uses. */
#include "services/services_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/ids.h"
#include "rpc/tls.h"
#include "services/admin.h"
#include "services/admin_rbac.h"
#include "services/convert.h"
#include "services/deny.h"
#include "services/gate.h"
#include "services/methods.h"
#include "services/peercache.h"
#include "services/signaling.h"
#include "services/signal_fanout.h"

int wm_services_new(const struct wm_services_config *cfg, struct wm_services **out)
{
	struct wm_services *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	if (!s->cfg.proxy_timeout_ms)
		s->cfg.proxy_timeout_ms = 10000;
	snprintf(s->node_id, sizeof(s->node_id), "%s", cfg->node_id);
	s->cfg.node_id = s->node_id;
	wm_subscriptions_init(s);
	wm_membership_init(s);
	wm_liveness_init(s);
	*out = s;
	return 0;
}

void wm_services_set_store(struct wm_services *s, struct wm_store *store)
{
	if (s->cfg.store)
		return;
	s->cfg.store = store;
	wm_subscriptions_attach(s);
	wm_liveness_start(s);
}

bool wm_services_dispatch_again(struct wm_services *s, struct wm_rpc_call *call, const uint8_t *req,
				size_t len)
{
	const char *path = wm_rpc_call_path(call);
	const struct wm_method_def *m = wm_method_find(path);
	if (!m || m->streaming)
		return false;
	m->handler(call, req, len, s);
	return true;
}

static int register_methods(struct wm_services *s, struct wm_rpc_server *srv, bool local)
{
	for (size_t i = 0; i < wm_n_methods; i++) {
		if (wm_methods[i].local_only && !local)
			continue;
		struct wm_rpc_method m = {
			.path = wm_methods[i].path,
			.server_streaming = wm_methods[i].streaming,
			.handler = wm_methods[i].handler,
			.data = s,
		};
		int err = s->cfg.gate ? wm_gate_register(s->cfg.gate, srv, &m)
				      : wm_rpc_server_register(srv, &m);
		if (err)
			return err;
	}
	return 0;
}

int wm_services_register_public(struct wm_services *s, struct wm_rpc_server *srv)
{
	return register_methods(s, srv, false);
}

int wm_services_register_local(struct wm_services *s, struct wm_rpc_server *srv)
{
	return register_methods(s, srv, true);
}

void wm_services_stop(struct wm_services *s)
{
	if (!s || s->stopped)
		return;
	s->stopped = true;
	uv_timer_stop(&s->live_timer);
	wm_membership_stop(s);
	wm_subscriptions_close_all(s, WM_GRPC_UNAVAILABLE, "server is shutting down");
	wm_node_status_streams_close_all(s);
	wm_signaling_stop(s);
	wm_signal_fanout_free(s);
	if (s->leader_client) {
		wm_rpc_client_free(s->leader_client);
		s->leader_client = NULL;
	}
}

static void free_cb(uv_handle_t *h)
{
	struct wm_services *s = h->data;
	SSL_CTX_free(s->overlay_tls);
	/* the store is closed by now (see wm_services_free) */
	wm_peercache_free(s->peercache, false);
	wm_signaling_free(s);
	wm_live_table_free(&s->live);
	free(s->marks);
	free(s);
}

static void join_timer_closed_cb(uv_handle_t *h)
{
	struct wm_services *s = h->data;
	/* The notify timer closes last and frees s. */
	uv_close((uv_handle_t *)&s->notify_timer, free_cb);
}

static void live_timer_closed_cb(uv_handle_t *h)
{
	struct wm_services *s = h->data;
	uv_close((uv_handle_t *)&s->join_timer, join_timer_closed_cb);
}

void wm_services_free(struct wm_services *s)
{
	if (!s)
		return;
	wm_services_stop(s);
	/* The timers are embedded: free the struct only in the last close callback. */
	s->notify_timer.data = s;
	s->join_timer.data = s;
	s->live_timer.data = s;
	uv_close((uv_handle_t *)&s->live_timer, live_timer_closed_cb);
}

void wm_services_reply(struct wm_rpc_call *call, const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf) {
		wm_rpc_call_finish(call, WM_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	protobuf_c_message_pack(msg, buf);
	int err = wm_rpc_call_send(call, buf, len);
	free(buf);
	if (err && err != -ECANCELED)
		wm_rpc_call_finish(call, WM_GRPC_INTERNAL, "could not send the response");
	else
		wm_rpc_call_finish(call, WM_GRPC_OK, NULL);
}

void wm_services_fail(struct wm_rpc_call *call, int err, const char *msg)
{
	wm_rpc_call_finish(call, wm_grpc_status_from_err(err),
			   msg && *msg ? msg : wm_strerror(err));
}

bool wm_services_refuse_behind(struct wm_services *s, struct wm_rpc_call *call)
{
	const struct wm_identity *who = wm_gate_caller(call);
	struct wm_store_status st;
	if (!s->cfg.store || (who && who->local))
		return false;
	wm_store_status(s->cfg.store, &st);
	if (st.caught_up)
		return false;
	char why[200];
	snprintf(why, sizeof(why), "%s (applied %llu of %llu); try another server",
		 st.behind ? st.behind : "this server is behind",
		 (unsigned long long)st.applied_index, (unsigned long long)st.commit_index);
	wm_rpc_call_finish(call, WM_GRPC_UNAVAILABLE, why);
	return true;
}

ProtobufCMessage *wm_services_decode_id(struct wm_rpc_call *call,
					const ProtobufCMessageDescriptor *desc, const uint8_t *req,
					size_t len)
{
	char why[160];
	const char *reason = NULL;
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, req);
	const ProtobufCFieldDescriptor *f =
		m ? protobuf_c_message_descriptor_get_field_by_name(desc, "id") : NULL;
	if (!f || f->type != PROTOBUF_C_TYPE_STRING) {
		snprintf(why, sizeof(why), "malformed %s", desc->short_name);
		if (m)
			protobuf_c_message_free_unpacked(m, NULL);
		wm_services_fail(call, -EINVAL, why);
		return NULL;
	}
	const char *id = *(char *const *)((const char *)m + f->offset);
	if (wm_node_id_check(id, &reason) < 0) {
		snprintf(why, sizeof(why), "invalid node ID \"%.64s\": %s", id, reason);
		protobuf_c_message_free_unpacked(m, NULL);
		wm_services_fail(call, -EINVAL, why);
		return NULL;
	}
	return m;
}

void wm_services_relay(struct wm_rpc_call *call, int status, const char *message,
		       const uint8_t *resp, size_t len)
{
	if (status == WM_GRPC_OK) {
		int err = wm_rpc_call_send(call, resp, len);
		wm_rpc_call_finish(call, err && err != -ECANCELED ? WM_GRPC_INTERNAL : WM_GRPC_OK,
				   NULL);
	} else {
		wm_rpc_call_finish(call, status, message);
	}
}

struct proxy_ctx {
	struct wm_rpc_call *call;
};

static void proxy_done_cb(void *data, int status, const char *message, const uint8_t *resp,
			  size_t len)
{
	struct proxy_ctx *p = data;
	wm_services_relay(p->call, status, message, resp, len);
	free(p);
}

static bool caller_free(const char *path)
{
	const struct wm_method_def *m = wm_method_find(path);
	return m && m->caller_free;
}

void wm_services_proxy(struct wm_services *s, struct wm_rpc_call *call, const uint8_t *req,
		       size_t len)
{
	/* Not being a Raft member, this node is no proven server: its server
	 * sees every proxied call as this node's own. So it passes on only
	 * what does not depend on who asks, its own local socket's calls, and
	 * in an open mesh (where everyone may do everything) all; anything else
	 * would lend this node's rights to its callers. */
	const struct wm_identity *who = wm_gate_caller(call);
	if (who && !who->local && !who->anonymous && !caller_free(wm_rpc_call_path(call))) {
		char why[200];
		snprintf(why, sizeof(why),
			 "this node holds no replica and cannot call for others: send %s to a "
			 "Raft voter or observer",
			 wm_rpc_call_path(call));
		wm_rpc_call_finish(call, WM_GRPC_FAILED_PRECONDITION, why);
		return;
	}
	struct wm_rpc_client *up = s->cfg.upstream ? s->cfg.upstream(s->cfg.data) : NULL;
	if (!up) {
		wm_rpc_call_finish(call, WM_GRPC_UNAVAILABLE,
				   "this node has no connection to a mesh server right now");
		return;
	}
	struct proxy_ctx *p = malloc(sizeof(*p));
	if (!p) {
		wm_rpc_call_finish(call, WM_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	p->call = call;
	int err = wm_rpc_client_unary(up, wm_rpc_call_path(call), req, len, s->cfg.proxy_timeout_ms,
				      NULL, 0, proxy_done_cb, p);
	if (err) {
		free(p);
		wm_rpc_call_finish(call, WM_GRPC_UNAVAILABLE, wm_strerror(err));
	}
}
