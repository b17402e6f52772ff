/* Signals of the NAT layer: offers, answers and byes to peers through a
 * server (Signaling/SendSignal), and the stream of those sent to us
 * (Signaling/ReceiveSignals), checked before the sessions see them. */
#include "node/nat_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "services/paths.h"
#include "util/log.h"
#include "webmesh/v1/signaling.pb-c.h"

#define P_SEND WM_METHOD_SIGNALING_SEND_SIGNAL
#define P_RECEIVE WM_METHOD_SIGNALING_RECEIVE_SIGNALS
#define SIGNAL_TIMEOUT_MS 5000
#define STREAM_RETRY_MIN_MS 500
#define STREAM_RETRY_MAX_MS 10000

struct sent {
	char peer[WM_NODE_ID_MAX + 1];
	int kind;
};

static void sent_cb(void *data, int status, const char *message, const uint8_t *resp, size_t len)
{
	struct sent *s = data;

	(void)resp;
	(void)len;
	/* Only logged: an offer that does not arrive times out and is sent
	 * again; the layer may be gone by now (shutdown), so nothing else is
	 * done. */
	if (status != WM_GRPC_OK)
		wm_debug("signal %d to %s not sent: %s: %s", s->kind, s->peer,
			 wm_grpc_status_name(status), message ? message : "");
	free(s);
}

void wm_nat_signal_send(struct npeer *p, int kind, uint64_t session,
			const struct wm_ice_params *params)
{
	struct wm_node_nat *n = p->n;
	Webmesh__V1__Signal sig = WEBMESH__V1__SIGNAL__INIT;
	Webmesh__V1__IceParameters ice = WEBMESH__V1__ICE_PARAMETERS__INIT;
	char *cands[WM_ICE_MAX_CANDIDATES];
	struct wm_rpc_client *client = n->c.signaling_client(n->c.data);
	struct sent *s;
	uint8_t *buf;
	size_t len;

	if (!client)
		return;
	sig.from = n->node_id;
	sig.to = p->id;
	sig.kind = (Webmesh__V1__SignalKind)kind;
	sig.session = session;
	if (params) {
		ice.ufrag = (char *)params->ufrag;
		ice.pwd = (char *)params->pwd;
		for (size_t i = 0; i < params->n_cand; i++)
			cands[i] = (char *)params->cand[i];
		ice.candidates = cands;
		ice.n_candidates = params->n_cand;
		sig.ice = &ice;
	}
	len = webmesh__v1__signal__get_packed_size(&sig);
	buf = malloc(len ? len : 1);
	s = calloc(1, sizeof(*s));
	if (!buf || !s) {
		free(buf);
		free(s);
		return;
	}
	webmesh__v1__signal__pack(&sig, buf);
	snprintf(s->peer, sizeof(s->peer), "%s", p->id);
	s->kind = kind;
	if (wm_rpc_client_unary(client, P_SEND, buf, len, SIGNAL_TIMEOUT_MS, NULL, 0, sent_cb, s) <
	    0)
		free(s);
	free(buf);
}

static int signal_msg_cb(void *data, const uint8_t *msg, size_t len)
{
	struct wm_node_nat *n = data;
	Webmesh__V1__Signal *s = webmesh__v1__signal__unpack(NULL, len, msg);
	struct wm_ice_params *params = NULL;
	struct npeer *p;
	const char *why = NULL;

	n->stream_retry_ms = 0;
	if (!s)
		return 0;
	p = s->from ? wm_nat_find_peer(n, s->from) : NULL;
	if (!p || !s->to || strcmp(s->to, n->node_id) != 0 || s->session == 0) {
		/* Not (yet) a peer of ours: the offerer tries again later. */
		webmesh__v1__signal__free_unpacked(s, NULL);
		return 0;
	}
	if (s->kind != WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_BYE) {
		if (!s->ice ||
		    wm_ice_params_check(s->ice->ufrag, s->ice->pwd, s->ice->candidates,
					s->ice->n_candidates, &why) < 0 ||
		    !(params = calloc(1, sizeof(*params)))) {
			if (why)
				wm_warn("ignoring a signal from %s: it %s", p->id, why);
			webmesh__v1__signal__free_unpacked(s, NULL);
			return 0;
		}
		snprintf(params->ufrag, sizeof(params->ufrag), "%s", s->ice->ufrag);
		snprintf(params->pwd, sizeof(params->pwd), "%s", s->ice->pwd);
		for (size_t i = 0; i < s->ice->n_candidates; i++)
			snprintf(params->cand[i], sizeof(params->cand[i]), "%s",
				 s->ice->candidates[i]);
		params->n_cand = s->ice->n_candidates;
	}
	switch (s->kind) {
	case WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_OFFER:
	case WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_ANSWER:
	case WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_BYE:
		wm_nat_on_signal(p, s->kind, s->session, params);
		break;
	default:
		break;
	}
	free(params);
	webmesh__v1__signal__free_unpacked(s, NULL);
	return 0;
}

static void signal_close_cb(void *data, int status, const char *message)
{
	struct wm_node_nat *n = data;

	n->stream = NULL;
	if (n->closing)
		return;
	n->stream_retry_ms = n->stream_retry_ms ? n->stream_retry_ms * 2 : STREAM_RETRY_MIN_MS;
	if (n->stream_retry_ms > STREAM_RETRY_MAX_MS)
		n->stream_retry_ms = STREAM_RETRY_MAX_MS;
	n->stream_retry_at = uv_now(n->c.loop) + n->stream_retry_ms;
	if (status != WM_GRPC_OK && status != WM_GRPC_CANCELLED)
		wm_debug("signal stream ended (%s: %s); again in %u ms",
			 wm_grpc_status_name(status), message ? message : "", n->stream_retry_ms);
}

void wm_nat_signal_subscribe(struct wm_node_nat *n)
{
	Webmesh__V1__ReceiveSignalsRequest r = WEBMESH__V1__RECEIVE_SIGNALS_REQUEST__INIT;
	struct wm_rpc_client *client;
	uint8_t buf[128];
	size_t len;

	if (n->stream || n->closing || uv_now(n->c.loop) < n->stream_retry_at)
		return;
	client = n->c.signaling_client(n->c.data);
	if (!client)
		return;
	r.id = n->node_id;
	len = webmesh__v1__receive_signals_request__pack(&r, buf);
	if (wm_rpc_client_stream(client, P_RECEIVE, buf, len, 0, NULL, 0, signal_msg_cb,
				 signal_close_cb, n, &n->stream) < 0)
		n->stream_retry_at = uv_now(n->c.loop) + STREAM_RETRY_MAX_MS;
}

void wm_nat_signal_close(struct wm_node_nat *n)
{
	if (n->stream) {
		struct wm_rpc_stream *s = n->stream;

		n->stream = NULL;
		wm_rpc_stream_cancel(s);
	}
}
