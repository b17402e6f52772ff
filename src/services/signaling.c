/* Signaling: relays ICE signals between nodes through this server (one
 * ReceiveSignals stream per node, a bounded mailbox while it has none) and
 * hands out short-lived TURN credentials. */
#include "services/signaling.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/ids.h"
#include "core/key.h"
#include "core/mailbox.h"
#include "core/nat.h"
#include "nat/turncred.h"
#include "services/gate.h"
#include "services/services_int.h"
#include "services/signal_fanout.h"
#include "webmesh/v1/signaling.pb-c.h"

#define MAX_SIGNAL_BYTES (16 * 1024)
#define MAX_TURN_URLS 8

struct receiver {
	struct receiver *next;
	struct wm_signaling *sig;
	struct wm_rpc_call *call;
	char id[WM_NODE_ID_MAX + 1];
};

struct wm_signaling {
	struct wm_mailboxes *boxes;
	struct receiver *receivers;
	char *turn_secret;
	char *turn_urls[MAX_TURN_URLS];
	size_t n_turn_urls;
	uint32_t turn_ttl_s;
};

static struct wm_signaling *state(struct wm_services *s)
{
	struct wm_signaling *sig = s->signaling;

	if (sig)
		return sig;
	sig = calloc(1, sizeof(*sig));
	if (!sig)
		return NULL;
	if (wm_mailboxes_new(NULL, &sig->boxes) < 0) {
		free(sig);
		return NULL;
	}
	s->signaling = sig;
	return sig;
}

static void clear_turn(struct wm_signaling *sig)
{
	if (sig->turn_secret) {
		wm_wipe(sig->turn_secret, strlen(sig->turn_secret));
		free(sig->turn_secret);
		sig->turn_secret = NULL;
	}
	for (size_t i = 0; i < sig->n_turn_urls; i++)
		free(sig->turn_urls[i]);
	sig->n_turn_urls = 0;
}

int wm_signaling_configure(struct wm_services *s, const struct wm_signaling_config *c)
{
	struct wm_signaling *sig = state(s);

	if (!sig)
		return -ENOMEM;
	if (c->n_turn_urls > MAX_TURN_URLS ||
	    (c->turn_secret && (c->turn_ttl_s < 60 || c->turn_ttl_s > 30u * 24 * 3600)))
		return -EINVAL;
	clear_turn(sig);
	sig->turn_ttl_s = c->turn_ttl_s;
	if (c->turn_secret && !(sig->turn_secret = strdup(c->turn_secret)))
		return -ENOMEM;
	for (size_t i = 0; i < c->n_turn_urls; i++) {
		sig->turn_urls[i] = strdup(c->turn_urls[i]);
		if (!sig->turn_urls[i]) {
			clear_turn(sig);
			return -ENOMEM;
		}
		sig->n_turn_urls++;
	}
	return 0;
}

int wm_signaling_set_limits(struct wm_services *s, size_t max_messages, size_t max_bytes)
{
	struct wm_signaling *sig = state(s);

	if (!sig)
		return -ENOMEM;
	wm_mailboxes_set_limits(sig->boxes,
				&(struct wm_mailbox_limits){.max_total_messages = max_messages,
							    .max_total_bytes = max_bytes});
	return 0;
}

/* ---- receivers ---- */

static void receiver_unlink(struct receiver *r)
{
	for (struct receiver **pp = &r->sig->receivers; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			return;
		}
	}
}

static void receiver_end(struct receiver *r, int status, const char *msg)
{
	receiver_unlink(r);
	wm_rpc_call_finish(r->call, status, msg);
	free(r);
}

static struct receiver *find_receiver(struct wm_signaling *sig, const char *id)
{
	for (struct receiver *r = sig->receivers; r; r = r->next)
		if (strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

static void receiver_cancel_cb(struct wm_rpc_call *call, void *data)
{
	struct receiver *r = data;

	(void)call;
	receiver_end(r, WM_GRPC_CANCELLED, "the receiver went away");
}

/* Sends one packed Signal on r's stream; a stream that cannot take it ends
 * (the node reconnects and the sender retries). Returns 0 or -errno. */
static int receiver_send(struct receiver *r, const uint8_t *msg, size_t len)
{
	int err = wm_rpc_call_send(r->call, msg, len);

	if (err)
		receiver_end(r, err == -ENOBUFS ? WM_GRPC_RESOURCE_EXHAUSTED : WM_GRPC_UNAVAILABLE,
			     "cannot deliver signals on this stream");
	return err;
}

/* ---- checks ---- */

static int check_node(struct wm_services *s, const char *id, const char *what, char *msg,
		      size_t msglen)
{
	struct wm_mesh_node n;
	const char *why = NULL;

	if (!id || wm_node_id_check(id, &why) < 0) {
		snprintf(msg, msglen, "%s is not a valid node ID%s%s", what, why ? ": it " : "",
			 why ? why : "");
		return -EINVAL;
	}
	if (wm_store_get_node(s->cfg.store, id, &n) < 0) {
		snprintf(msg, msglen, "%s %s is not a node of this mesh", what, id);
		return -ENOENT;
	}
	return 0;
}

static bool relays(struct wm_services *s, struct wm_rpc_call *call)
{
	if (s->cfg.store)
		return true;
	wm_rpc_call_finish(call, WM_GRPC_FAILED_PRECONDITION,
			   "this node is not a server: signals go through a server node");
	return false;
}

/* Keeps a signal nobody listens for until its node opens a stream here. */
static int queue(struct wm_services *s, struct wm_signaling *sig, const char *to,
		 const uint8_t *req, size_t len, char *msg, size_t msglen)
{
	int err = wm_mailbox_put(sig->boxes, to, req, len, (int64_t)uv_now(s->cfg.loop));
	if (err < 0)
		snprintf(msg, msglen, "cannot queue a signal for %s: %s", to,
			 err == -EUSERS	   ? "too many nodes have signals waiting"
			 : err == -ENOBUFS ? "too many signals are waiting on this server"
					   : wm_strerror(err));
	return err < 0 ? err : 0;
}

/* A signal offered to the other servers while its sender waits. */
struct pending_signal {
	struct wm_services *s;
	struct wm_rpc_call *call;
	uint8_t *req;
	size_t len;
	char to[WM_NODE_ID_MAX + 1];
};

static void fanned_out_cb(void *data, bool delivered)
{
	struct pending_signal *ps = data;
	Webmesh__V1__SendSignalResponse resp = WEBMESH__V1__SEND_SIGNAL_RESPONSE__INIT;
	struct wm_signaling *sig = state(ps->s);
	struct receiver *r;
	char msg[256];

	resp.delivered = delivered;
	/* The node may have opened its stream here meanwhile. */
	if (!delivered && sig && (r = find_receiver(sig, ps->to)) &&
	    receiver_send(r, ps->req, ps->len) == 0)
		resp.delivered = true;
	if (!resp.delivered &&
	    (!sig || queue(ps->s, sig, ps->to, ps->req, ps->len, msg, sizeof(msg)) < 0))
		wm_rpc_call_finish(ps->call, WM_GRPC_RESOURCE_EXHAUSTED,
				   sig ? msg : "out of memory");
	else
		wm_services_reply(ps->call, &resp.base);
	free(ps->req);
	free(ps);
}

/* ---- handlers ---- */

void wm_signaling_send(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	struct wm_signaling *sig;
	Webmesh__V1__Signal *m;
	Webmesh__V1__SendSignalResponse resp = WEBMESH__V1__SEND_SIGNAL_RESPONSE__INIT;
	struct receiver *r;
	char msg[256];
	const char *why = NULL;
	int err;

	if (!relays(s, call))
		return;
	if (len > MAX_SIGNAL_BYTES) {
		wm_rpc_call_finish(call, WM_GRPC_INVALID_ARGUMENT,
				   "signal too large (at most 16 KiB)");
		return;
	}
	m = webmesh__v1__signal__unpack(NULL, len, req);
	if (!m) {
		wm_rpc_call_finish(call, WM_GRPC_INVALID_ARGUMENT, "malformed Signal");
		return;
	}
	err = check_node(s, m->from, "from", msg, sizeof(msg));
	if (!err)
		err = check_node(s, m->to, "to", msg, sizeof(msg));
	if (!err && strcmp(m->from, m->to) == 0) {
		snprintf(msg, sizeof(msg), "a node cannot signal itself");
		err = -EINVAL;
	}
	if (!err && (m->kind < WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_OFFER ||
		     m->kind > WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_BYE)) {
		snprintf(msg, sizeof(msg), "unknown signal kind %d", (int)m->kind);
		err = -EINVAL;
	}
	if (!err && m->session == 0) {
		snprintf(msg, sizeof(msg), "the session must not be 0");
		err = -EINVAL;
	}
	if (!err && m->kind != WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_BYE &&
	    (!m->ice || wm_ice_params_check(m->ice->ufrag, m->ice->pwd, m->ice->candidates,
					    m->ice->n_candidates, &why) < 0)) {
		snprintf(msg, sizeof(msg), "the signal %s", why ? why : "has no ICE parameters");
		err = -EINVAL;
	}
	if (err) {
		webmesh__v1__signal__free_unpacked(m, NULL);
		wm_services_fail(call, err, msg);
		return;
	}
	sig = state(s);
	if (!sig) {
		webmesh__v1__signal__free_unpacked(m, NULL);
		wm_rpc_call_finish(call, WM_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	/* The request bytes are the signal as the receiver gets it. */
	r = find_receiver(sig, m->to);
	if (r && receiver_send(r, req, len) == 0) {
		resp.delivered = true;
	} else if (wm_rpc_call_metadata(call, WM_HDR_PROXIED_FROM)) {
		/* Offered by another server: only a stream here counts; that
		 * server queues what nobody took. */
	} else {
		struct pending_signal *ps = calloc(1, sizeof(*ps));
		if (ps && (ps->req = malloc(len ? len : 1))) {
			ps->s = s;
			ps->call = call;
			memcpy(ps->req, req, len);
			ps->len = len;
			snprintf(ps->to, sizeof(ps->to), "%s", m->to);
			if (wm_signal_fanout(s, wm_gate_caller(call), m->to, req, len,
					     fanned_out_cb, ps) == 0) {
				webmesh__v1__signal__free_unpacked(m, NULL);
				return; /* answered from fanned_out_cb */
			}
			free(ps->req);
		}
		free(ps);
		err = queue(s, sig, m->to, req, len, msg, sizeof(msg));
		if (err) {
			webmesh__v1__signal__free_unpacked(m, NULL);
			wm_rpc_call_finish(call, WM_GRPC_RESOURCE_EXHAUSTED, msg);
			return;
		}
	}
	webmesh__v1__signal__free_unpacked(m, NULL);
	wm_services_reply(call, &resp.base);
}

void wm_signaling_receive(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	struct wm_signaling *sig;
	Webmesh__V1__ReceiveSignalsRequest *m;
	struct receiver *r, *old;
	char msg[256];
	uint8_t *queued;
	size_t qlen;
	int err;

	if (!relays(s, call))
		return;
	m = webmesh__v1__receive_signals_request__unpack(NULL, len, req);
	if (!m) {
		wm_rpc_call_finish(call, WM_GRPC_INVALID_ARGUMENT,
				   "malformed ReceiveSignalsRequest");
		return;
	}
	err = check_node(s, m->id, "id", msg, sizeof(msg));
	sig = err ? NULL : state(s);
	r = sig ? calloc(1, sizeof(*r)) : NULL;
	if (err || !r) {
		webmesh__v1__receive_signals_request__free_unpacked(m, NULL);
		if (err)
			wm_services_fail(call, err, msg);
		else
			wm_rpc_call_finish(call, WM_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	r->sig = sig;
	r->call = call;
	snprintf(r->id, sizeof(r->id), "%s", m->id);
	webmesh__v1__receive_signals_request__free_unpacked(m, NULL);
	/* One stream per node: a node that reconnects replaces its old stream,
	 * which may be half-dead without anyone having noticed yet. */
	old = find_receiver(sig, r->id);
	if (old)
		receiver_end(old, WM_GRPC_ABORTED, "replaced by a newer ReceiveSignals stream");
	r->next = sig->receivers;
	sig->receivers = r;
	wm_rpc_call_set_cancel_cb(call, receiver_cancel_cb, r);
	while (wm_mailbox_take(sig->boxes, r->id, (int64_t)uv_now(s->cfg.loop), &queued, &qlen) ==
	       0) {
		err = receiver_send(r, queued, qlen);
		free(queued);
		if (err)
			break;
	}
}

void wm_signaling_turn_credentials(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				   void *data)
{
	struct wm_services *s = data;
	struct wm_signaling *sig = s->signaling;
	Webmesh__V1__TurnCredentialsRequest *m;
	Webmesh__V1__TurnCredentials resp = WEBMESH__V1__TURN_CREDENTIALS__INIT;
	struct wm_turn_credentials tc;
	char msg[256];
	int err;

	if (!relays(s, call))
		return;
	if (!sig || !sig->turn_secret) {
		wm_rpc_call_finish(call, WM_GRPC_FAILED_PRECONDITION,
				   "this server hands out no TURN credentials (it has no "
				   "turn-secret)");
		return;
	}
	m = webmesh__v1__turn_credentials_request__unpack(NULL, len, req);
	if (!m) {
		wm_rpc_call_finish(call, WM_GRPC_INVALID_ARGUMENT,
				   "malformed TurnCredentialsRequest");
		return;
	}
	err = check_node(s, m->id, "id", msg, sizeof(msg));
	if (!err && wm_turn_rest_credentials(sig->turn_secret, m->id, (int64_t)time(NULL),
					     sig->turn_ttl_s, &tc) < 0) {
		snprintf(msg, sizeof(msg), "cannot make TURN credentials for %s", m->id);
		err = -EIO;
	}
	webmesh__v1__turn_credentials_request__free_unpacked(m, NULL);
	if (err) {
		wm_services_fail(call, err, msg);
		return;
	}
	resp.urls = sig->turn_urls;
	resp.n_urls = sig->n_turn_urls;
	resp.username = tc.username;
	resp.password = tc.password;
	resp.expires_at = tc.expires_at;
	wm_services_reply(call, &resp.base);
	wm_wipe(&tc, sizeof(tc));
}

void wm_signaling_stop(struct wm_services *s)
{
	struct wm_signaling *sig = s->signaling;

	while (sig && sig->receivers)
		receiver_end(sig->receivers, WM_GRPC_UNAVAILABLE, "server is shutting down");
}

void wm_signaling_free(struct wm_services *s)
{
	struct wm_signaling *sig = s->signaling;

	if (!sig)
		return;
	wm_signaling_stop(s);
	wm_mailboxes_free(sig->boxes);
	clear_turn(sig);
	free(sig);
	s->signaling = NULL;
}
