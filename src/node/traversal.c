/* The daemon's side of NAT traversal: the NAT layer (nat.c) started on the
 * WireGuard device, and this node's endpoints discovered at start and again
 * every endpoint-refresh seconds (see traversal.h). */
#include "node/traversal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "util/log.h"

static void refresh_cb(uv_timer_t *timer);

/* The NAT layer asks for a client for every signal: none once the node
 * stops; the member's server; or, on a server, our own socket. */
static struct wm_rpc_client *signaling_client(void *data)
{
	struct wm_traversal *t = data;

	if (!t->c.running(t->c.data))
		return NULL;
	if (!t->c.serves_signaling(t->c.data))
		return t->c.signaling_client(t->c.data);
	if (!t->local_client) {
		struct wm_rpc_client_config cc = {.unix_path = t->c.cfg->socket};

		if (wm_rpc_client_new(t->c.loop, &cc, &t->local_client) < 0)
			return NULL;
	}
	return t->local_client;
}

static void nat_changed(void *data)
{
	struct wm_traversal *t = data;
	t->c.nat_changed_cb(t->c.data);
}

int wm_traversal_init(struct wm_traversal *t, const struct wm_traversal_config *c, char *err,
		      size_t errlen)
{
	*t = (struct wm_traversal){.c = *c};
	uv_timer_init(c->loop, &t->timer);
	t->timer.data = t;
	if (strcmp(wm_wg_backend_name(c->wg), "null") == 0)
		return 0;
	struct wm_node_nat_config nc = {
		.loop = c->loop,
		.cfg = c->cfg,
		.node_id = c->node_id,
		.wg = c->wg,
		.signaling_client = signaling_client,
		.changed_cb = nat_changed,
		.p2p = c->p2p,
		.data = t,
	};
	int rc = wm_node_nat_init(&nc, &t->nat, err, errlen);
	if (rc)
		return rc;
	if (c->cfg->n_stun_servers || c->cfg->n_turn_servers)
		wm_info("NAT traversal: %zu STUN and %zu TURN servers; peers without a handshake "
			"after %u s move to ICE",
			c->cfg->n_stun_servers, c->cfg->n_turn_servers,
			c->cfg->ice_handshake_timeout);
	return 0;
}

static bool same_endpoints(const struct wm_traversal *t, const struct wm_nat_discovery *r)
{
	if (r->n_endpoints != *t->c.n_endpoints)
		return false;
	for (size_t i = 0; i < r->n_endpoints; i++)
		if (!wm_endpoint_equal(&r->endpoints[i], &t->c.endpoints[i]))
			return false;
	return true;
}

static void log_endpoints(const struct wm_traversal *t, const char *what)
{
	char list[WM_MAX_ENDPOINTS * WM_ENDPOINT_STRLEN] = "", one[WM_ENDPOINT_STRLEN];
	size_t used = 0, n = *t->c.n_endpoints;

	for (size_t i = 0; i < n && used < sizeof(list); i++) {
		wm_endpoint_format(&t->c.endpoints[i], one, sizeof(one));
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
					 one);
	}
	wm_info("%s: %s", what, n ? list : "none");
}

static void schedule_refresh(struct wm_traversal *t)
{
	if (t->c.cfg->endpoint_refresh && !t->closed)
		uv_timer_start(&t->timer, refresh_cb, t->c.cfg->endpoint_refresh * 1000ull, 0);
}

static void first_done(struct wm_traversal *t)
{
	void (*first)(void *) = t->discovered;
	t->discovered = NULL;
	first(t->c.data);
}

static void discovered_cb(void *data, int err, const struct wm_nat_discovery *r)
{
	struct wm_traversal *t = data;
	bool first = t->discovered != NULL;

	t->discovery = NULL;
	if (err == -ECANCELED || t->closed || !t->c.running(t->c.data))
		return;
	if (err)
		wm_warn("cannot list this host's addresses: %s", wm_strerror(err));
	if (r->nat.mapped.ip.family && first) {
		char m[WM_ENDPOINT_STRLEN];
		wm_endpoint_format(&r->nat.mapped, m, sizeof(m));
		wm_info("STUN: this node is seen as %s (NAT mapping %s, port %s)", m,
			wm_nat_mapping_name(r->nat.mapping),
			r->nat.port_preserved ? "kept" : "changed");
	}
	bool changed = !same_endpoints(t, r) && (r->n_endpoints || !err);
	if (changed) {
		memcpy(t->c.endpoints, r->endpoints, sizeof(r->endpoints[0]) * r->n_endpoints);
		*t->c.n_endpoints = r->n_endpoints;
		log_endpoints(t, first ? "advertising endpoints" : "this node's endpoints changed");
	}
	schedule_refresh(t);
	if (first)
		first_done(t);
	else
		t->c.endpoints_cb(t->c.data, changed);
}

static void discover(struct wm_traversal *t)
{
	if (t->discovery || t->closed || !t->c.running(t->c.data))
		return;
	int rc = wm_node_nat_discover(t->nat, discovered_cb, t, &t->discovery);
	if (rc) {
		wm_warn("cannot discover endpoints: %s", wm_strerror(rc));
		schedule_refresh(t);
		if (t->discovered)
			first_done(t);
	}
}

static void refresh_cb(uv_timer_t *timer)
{
	discover(timer->data);
}

void wm_traversal_discover(struct wm_traversal *t, void (*done)(void *data))
{
	/* --endpoints are advertised as given; the null backend has no NAT
	 * layer and keeps the interface addresses listed at start. */
	if (!t->nat || t->c.cfg->n_endpoints) {
		done(t->c.data);
		return;
	}
	t->discovered = done;
	discover(t);
}

void wm_traversal_close(struct wm_traversal *t, void (*done_cb)(void *data), void *data)
{
	if (t->closed) {
		done_cb(data);
		return;
	}
	t->closed = true;
	uv_close((uv_handle_t *)&t->timer, NULL);
	if (t->discovery) {
		struct wm_nat_discover_req *r = t->discovery;
		t->discovery = NULL;
		wm_nat_discover_cancel(r);
	}
	struct wm_node_nat *n = t->nat;
	t->nat = NULL;
	/* ICE sessions end (BYE to the peers) while the clients still exist */
	wm_node_nat_close(n, done_cb, data);
	if (t->local_client) {
		wm_rpc_client_free(t->local_client);
		t->local_client = NULL;
	}
}
