/* The daemon's side of NAT traversal: the NAT layer (nat.c) started on the
 * WireGuard device, the server it signals through, and this node's endpoints,
 * discovered at start (interfaces, public first, and STUN's server-reflexive
 * address) and again every endpoint-refresh seconds, so that a node that moves
 * (a laptop changing networks) tells the mesh where it is now. */
#include "node/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "util/log.h"

/* Members signal through the server they joined; servers through their own
 * Signaling service, on a client of their local socket. */
static struct wm_rpc_client *signaling_client(void *data)
{
	struct wm_daemon *d = data;

	if (d->phase == WM_PHASE_STOPPING)
		return NULL;
	if (!d->store)
		return d->joined ? d->upstream : NULL;
	if (!d->local_client) {
		struct wm_rpc_client_config cc = {.unix_path = d->cfg->socket};

		if (wm_rpc_client_new(d->loop, &cc, &d->local_client) < 0)
			return NULL;
	}
	return d->local_client;
}

int wm_traversal_start(struct wm_daemon *d, char *err, size_t errlen)
{
	if (strcmp(wm_wg_backend_name(d->wg), "null") == 0)
		return 0;
	struct wm_node_nat_config c = {
		.loop = d->loop,
		.cfg = d->cfg,
		.node_id = d->node_id,
		.wg = d->wg,
		.signaling_client = signaling_client,
		.changed_cb = wm_netconf_nat_changed,
		.data = d,
	};
	int rc = wm_node_nat_init(&c, &d->nat, err, errlen);
	if (rc)
		return rc;
	if (d->cfg->n_stun_servers || d->cfg->n_turn_servers)
		wm_info("NAT traversal: %zu STUN and %zu TURN servers; peers without a handshake "
			"after %u s move to ICE",
			d->cfg->n_stun_servers, d->cfg->n_turn_servers,
			d->cfg->ice_handshake_timeout);
	return 0;
}

static bool same_endpoints(const struct wm_daemon *d, const struct wm_nat_discovery *r)
{
	if (r->n_endpoints != d->n_endpoints)
		return false;
	for (size_t i = 0; i < r->n_endpoints; i++)
		if (!wm_endpoint_equal(&r->endpoints[i], &d->endpoints[i]))
			return false;
	return true;
}

static void log_endpoints(const struct wm_daemon *d, const char *what)
{
	char list[WM_MAX_ENDPOINTS * WM_ENDPOINT_STRLEN] = "", one[WM_ENDPOINT_STRLEN];
	size_t used = 0;

	for (size_t i = 0; i < d->n_endpoints && used < sizeof(list); i++) {
		wm_endpoint_format(&d->endpoints[i], one, sizeof(one));
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
					 one);
	}
	wm_info("%s: %s", what, d->n_endpoints ? list : "none");
}

static void refresh_cb(uv_timer_t *t);

static void schedule_refresh(struct wm_daemon *d)
{
	if (d->cfg->endpoint_refresh)
		uv_timer_start(&d->endpoint_timer, refresh_cb, d->cfg->endpoint_refresh * 1000ull,
			       0);
}

static void discovered_cb(void *data, int err, const struct wm_nat_discovery *r)
{
	struct wm_daemon *d = data;
	void (*first)(struct wm_daemon *) = d->discovered;

	d->discovery = NULL;
	if (err == -ECANCELED || d->phase == WM_PHASE_STOPPING)
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
	bool changed = !same_endpoints(d, r) && (r->n_endpoints || !err);
	if (changed) {
		memcpy(d->endpoints, r->endpoints, sizeof(r->endpoints[0]) * r->n_endpoints);
		d->n_endpoints = r->n_endpoints;
		log_endpoints(d, first ? "advertising endpoints" : "this node's endpoints changed");
	}
	schedule_refresh(d);
	if (first) {
		d->discovered = NULL;
		first(d);
		return;
	}
	if (changed)
		d->endpoints_gen++;
	if (d->announced_gen == d->endpoints_gen)
		return;
	/* The mesh learns the new endpoints from a Join (same key, same lease);
	 * peers get them with their next peer set. Until a Join with them is
	 * answered, every round tries again (the change may have cut the
	 * connection it went out on). */
	if (!d->store)
		wm_member_announce(d);
	else if (changed)
		wm_warn("a server's endpoints changed: restart it to announce them");
}

static void discover(struct wm_daemon *d)
{
	if (d->discovery || d->phase == WM_PHASE_STOPPING)
		return;
	int rc = wm_node_nat_discover(d->nat, discovered_cb, d, &d->discovery);
	if (rc) {
		wm_warn("cannot discover endpoints: %s", wm_strerror(rc));
		schedule_refresh(d);
		if (d->discovered) {
			void (*first)(struct wm_daemon *) = d->discovered;
			d->discovered = NULL;
			first(d);
		}
	}
}

static void refresh_cb(uv_timer_t *t)
{
	discover(t->data);
}

void wm_traversal_discover(struct wm_daemon *d, void (*done)(struct wm_daemon *d))
{
	/* --endpoints are advertised as given; the null backend has no NAT
	 * layer and keeps the interface addresses listed at start. */
	if (!d->nat || d->cfg->n_endpoints) {
		done(d);
		return;
	}
	d->discovered = done;
	discover(d);
}

void wm_traversal_close(struct wm_daemon *d, void (*done_cb)(void *data), void *data)
{
	uv_timer_stop(&d->endpoint_timer);
	if (d->discovery) {
		struct wm_nat_discover_req *r = d->discovery;
		d->discovery = NULL;
		wm_nat_discover_cancel(r);
	}
	struct wm_node_nat *n = d->nat;
	d->nat = NULL;
	wm_node_nat_close(n, done_cb, data);
}
