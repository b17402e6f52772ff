/* A signal for a node that listens on another server: two members that
 * joined through different servers still negotiate ICE. The server that got
 * the signal offers it, once, to every other server of the mesh (voters and
 * observers, over the overlay, as the original sender); a server delivers a
 * forwarded signal only to a stream it has and never queues it, so the
 * signal is queued at most once, where it came in, when nobody took it. */
#include "services/signal_fanout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "services/gate.h"
#include "services/services_int.h"
#include "util/log.h"
#include "webmesh/v1/signaling.pb-c.h"
#include "services/paths.h"

#define FANOUT_TIMEOUT_MS 3000
#define MAX_SERVER_CLIENTS 16

struct server_client {
	char id[WM_NODE_ID_MAX + 1];
	struct wm_prefix addr;
	struct wm_rpc_client *client;
	bool seen; /* still a server in this round */
};

struct wm_signal_fanout {
	struct server_client servers[MAX_SERVER_CLIENTS];
	size_t n_servers;
};

struct fanout_call {
	struct wm_services *s;
	uint8_t *req;
	size_t len;
	char to[WM_NODE_ID_MAX + 1];
	int pending;
	bool delivered;
	wm_signal_fanout_done_cb done;
	void *data;
};

/* The client for server n at its mesh address, kept while its address stays. */
static struct wm_rpc_client *client_for(struct wm_services *s, const struct wm_mesh_node *n)
{
	struct wm_signal_fanout *f = s->signal_fanout;
	struct server_client *sc = NULL;

	if (!f && !(f = s->signal_fanout = calloc(1, sizeof(*f))))
		return NULL;
	for (size_t i = 0; i < f->n_servers && !sc; i++)
		if (strcmp(f->servers[i].id, n->id) == 0)
			sc = &f->servers[i];
	if (sc && sc->client && wm_prefix_equal(&sc->addr, &n->ipv4))
		return sc->client;
	if (!sc) {
		if (f->n_servers == MAX_SERVER_CLIENTS)
			return NULL;
		sc = &f->servers[f->n_servers++];
		snprintf(sc->id, sizeof(sc->id), "%s", n->id);
	} else if (sc->client) {
		wm_rpc_client_free(sc->client);
		sc->client = NULL;
	}
	char host[WM_PREFIX_STRLEN];
	wm_prefix_format_addr(&n->ipv4, host, sizeof(host));
	sc->addr = n->ipv4;
	if (wm_services_overlay_client(s, host, &sc->client) < 0)
		sc->client = NULL; /* tried again next time */
	return sc->client;
}

/* Servers that left the mesh (or stopped serving) give their slot back. */
static void forget_unseen(struct wm_signal_fanout *f)
{
	size_t k = 0;

	for (size_t i = 0; i < f->n_servers; i++) {
		if (!f->servers[i].seen) {
			if (f->servers[i].client)
				wm_rpc_client_free(f->servers[i].client);
			continue;
		}
		f->servers[k] = f->servers[i];
		f->servers[k++].seen = false;
	}
	f->n_servers = k;
}

static void finish(struct fanout_call *fc)
{
	fc->done(fc->data, fc->delivered);
	free(fc->req);
	free(fc);
}

static void answered_cb(void *data, int status, const char *message, const uint8_t *resp,
			size_t len)
{
	struct fanout_call *fc = data;
	Webmesh__V1__SendSignalResponse *r = NULL;

	if (status == WM_GRPC_OK)
		r = webmesh__v1__send_signal_response__unpack(NULL, len, resp);
	if (r && r->delivered)
		fc->delivered = true;
	else if (status != WM_GRPC_OK)
		wm_debug("signal for %s not offered to a server: %s: %s", fc->to,
			 wm_grpc_status_name(status), message ? message : "");
	if (r)
		webmesh__v1__send_signal_response__free_unpacked(r, NULL);
	if (--fc->pending == 0)
		finish(fc);
}

int wm_signal_fanout(struct wm_services *s, const struct wm_identity *caller, const char *to,
		     const uint8_t *req, size_t len, wm_signal_fanout_done_cb done, void *data)
{
	struct wm_mesh_node *nodes = NULL;
	size_t n = 0;

	if (!s->cfg.store || s->stopped || wm_store_list_nodes(s->cfg.store, &nodes, &n) < 0)
		return -ENOENT;
	struct fanout_call *fc = calloc(1, sizeof(*fc));
	if (!fc || !(fc->req = malloc(len ? len : 1))) {
		free(fc);
		free(nodes);
		return -ENOMEM;
	}
	memcpy(fc->req, req, len);
	fc->len = len;
	fc->s = s;
	fc->done = done;
	fc->data = data;
	snprintf(fc->to, sizeof(fc->to), "%s", to);
	/* As the sender, vouched for by this server (see gate.c): our local
	 * socket's signals as this server, never as "@local". */
	static const struct wm_identity nobody = {.kind = WM_ID_ANY, .anonymous = true};
	const struct wm_identity *who = caller ? caller : &nobody;
	char for_whom[WM_AUTH_ID_MAX + 8];
	if (wm_gate_proxied_for(who, s->node_id, for_whom, sizeof(for_whom)) < 0) {
		free(fc->req);
		free(fc);
		free(nodes);
		return -EPERM;
	}
	fc->pending = 1; /* ours, released below: no answer can finish early */
	for (size_t i = 0; i < n; i++) {
		const struct wm_mesh_node *node = &nodes[i];
		if ((node->raft_role != WM_ROLE_VOTER && node->raft_role != WM_ROLE_OBSERVER) ||
		    strcmp(node->id, s->node_id) == 0 || node->ipv4.family != AF_INET)
			continue;
		struct wm_rpc_client *c = client_for(s, node);
		struct wm_signal_fanout *f = s->signal_fanout;
		for (size_t k = 0; f && k < f->n_servers; k++)
			if (strcmp(f->servers[k].id, node->id) == 0)
				f->servers[k].seen = true;
		/* A proof for this server: without its key, no call. */
		struct wm_node_proof p;
		struct wm_rpc_metadata md[5] = {{WM_HDR_PROXIED_FROM, s->node_id},
						{WM_HDR_PROXIED_FOR, for_whom}};
		size_t n_md = 2 + wm_services_proof(s, node->id, node->public_key,
						    WM_METHOD_SIGNALING_SEND_SIGNAL, &p, md + 2, 3);
		if (c && n_md == 5 &&
		    wm_rpc_client_unary(c, WM_METHOD_SIGNALING_SEND_SIGNAL, req, len,
					FANOUT_TIMEOUT_MS, md, n_md, answered_cb, fc) == 0)
			fc->pending++;
	}
	free(nodes);
	if (s->signal_fanout)
		forget_unseen(s->signal_fanout);
	if (--fc->pending == 0) {
		free(fc->req);
		free(fc);
		return -ENOENT; /* no other server to ask */
	}
	return 0;
}

void wm_signal_fanout_free(struct wm_services *s)
{
	struct wm_signal_fanout *f = s->signal_fanout;

	if (!f)
		return;
	for (size_t i = 0; i < f->n_servers; i++)
		if (f->servers[i].client)
			wm_rpc_client_free(f->servers[i].client);
	free(f);
	s->signal_fanout = NULL;
}
