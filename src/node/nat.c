/* The daemon's NAT traversal sessions: one core/path.h state machine per
 * peer, fed with what WireGuard, ICE and the peer's signals say, and the I/O
 * its actions ask for (relays, ICE sessions, signals, endpoints). */
#include "node/nat_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/hash.h"
#include "p2p/host.h"
#include "p2p/wglink.h"
#include "sys/sys.h"
#include "util/log.h"
#include "webmesh/v1/signaling.pb-c.h"
#include "wg/wg.h"

#define TICK_MS WM_PATH_POLL_MS

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;

	uv_random(NULL, NULL, &v, sizeof(v), 0, NULL);
	return v;
}

static int64_t now_ms(const struct wm_node_nat *n)
{
	return (int64_t)uv_now(n->c.loop);
}

static bool ice_available(const struct wm_node_nat *n)
{
	return n->ice && !n->ice_failed && !n->closing;
}

struct npeer *wm_nat_find_peer(struct wm_node_nat *n, const char *id)
{
	for (struct npeer *p = n->peers; p; p = p->next)
		if (strcmp(p->id, id) == 0)
			return p;
	return NULL;
}

/* ---- carrying out the machine's actions ---- */

static size_t local_addresses(struct wm_node_nat *n, struct wm_prefix *out, size_t max)
{
	struct wm_prefix *addrs = NULL;
	size_t count = 0, k = 0;

	/* Never the WireGuard interface: a path through the tunnel itself. */
	if (wm_sys_list_addresses(n->c.cfg->interface, &addrs, &count) < 0)
		return 0;
	for (size_t i = 0; i < count && k < max; i++)
		out[k++] = addrs[i];
	free(addrs);
	return k;
}

static int start_session(struct npeer *p, bool controlling, const struct wm_ice_params *remote,
			 uint64_t session)
{
	struct wm_node_nat *n = p->n;
	struct wm_prefix addrs[WM_ICE_MAX_LOCAL_ADDRS];
	struct wm_ice_turn turn[WM_ICE_MAX_TURN];
	struct wm_ice_session_config sc = {
		.session = session,
		.controlling = controlling,
		.local_addrs = addrs,
		.remote = remote,
	};
	int err;

	sc.n_local_addrs = local_addresses(n, addrs, WM_ICE_MAX_LOCAL_ADDRS);
	/* Without credentials a relay would only answer 401: leave it out. */
	if (n->turn_user[0]) {
		sc.n_turn = wm_nat_turn_list(n, turn, WM_ICE_MAX_TURN);
		sc.turn = turn;
	}
	err = wm_ice_peer_start(p->ice, &sc);
	wm_wipe(turn, sizeof(turn));
	return err;
}

static bool carry_out(struct npeer *p, const struct wm_path_actions *a,
		      const struct wm_ice_params *params, int64_t now);

static bool step(struct npeer *p, int type, uint64_t session, const struct wm_path_obs *obs,
		 const struct wm_path_attrs *attrs, const struct wm_ice_params *params, int64_t now)
{
	struct wm_path_event ev = {.type = type, .session = session, .obs = obs, .attrs = attrs};
	struct wm_path_actions a;
	int was = p->path.state;
	bool was_p2p = p->path.p2p;

	wm_path_step(&p->path, &ev, now, random_u64(), &a);
	if (a.why && p->path.p2p != was_p2p && p->path.state == was)
		wm_info("path to %s: %s libp2p (%s)", p->id, p->path.p2p ? "over" : "leaves",
			a.why);
	else if (a.why && p->path.state == was)
		wm_debug("path to %s: %s", p->id, a.why); /* a probe starts or fails */
	if (a.why && p->path.state != was) {
		if (a.delay_ms)
			wm_info("path to %s: %s -> %s (%s; next try in %u ms)", p->id,
				wm_path_state_name(was), wm_path_state_name(p->path.state), a.why,
				a.delay_ms);
		else
			wm_info("path to %s: %s -> %s (%s)", p->id, wm_path_state_name(was),
				wm_path_state_name(p->path.state), a.why);
	}
	return carry_out(p, &a, params, now);
}

/* Returns whether WireGuard's endpoint for the peer must change. */
static bool carry_out(struct npeer *p, const struct wm_path_actions *a,
		      const struct wm_ice_params *params, int64_t now)
{
	struct wm_node_nat *n = p->n;
	bool endpoint = (a->flags & WM_PATH_DO_ENDPOINT) != 0;
	int err;

	if (a->flags & WM_PATH_DO_OPEN_RELAY && !p->ice) {
		/* The relay comes first, so that WireGuard can be pointed at it
		 * before any path exists (packets meanwhile are dropped, as at
		 * an unreachable endpoint). */
		err = wm_ice_peer_open(n->ice, p->id, p, &p->ice, &p->relay_port);
		if (err) {
			if (err == -ENOTSUP)
				n->ice_failed = true; /* the loader said why, once */
			else
				wm_warn("cannot open an ICE relay for %s: %s", p->id,
					wm_strerror(err));
			p->ice = NULL;
			step(p, WM_PATH_EV_RELAY_FAILED, 0, NULL, NULL, NULL, now);
			return false;
		}
		p->learned.ip.family = 0;
		wm_info("peer %s goes over ICE (%s); WireGuard reaches it at 127.0.0.1:%u", p->id,
			wm_ice_reason_name(p->path.reason), p->relay_port);
	}
	if (a->flags & WM_PATH_DO_CLOSE_P2P && p->p2p) {
		wm_p2p_wg_close(p->p2p);
		p->p2p = NULL;
		/* Back from libp2p: keep the endpoint WireGuard found working. */
		if (p->path.returned && p->wg_endpoint.ip.family &&
		    !(p->wg_endpoint.ip.family == AF_INET && p->wg_endpoint.ip.addr[0] == 127))
			p->learned = p->wg_endpoint;
	}
	if (a->flags & WM_PATH_DO_OPEN_P2P && !p->p2p) {
		char *addrs[WM_P2P_PUB_ADDRS], why[256];

		for (size_t i = 0; i < p->n_p2p_addrs; i++)
			addrs[i] = p->p2p_addrs[i];
		err = n->c.p2p ? wm_p2p_wg_open(n->c.p2p, p->p2p_id, addrs, p->n_p2p_addrs,
						n->c.cfg->wireguard_port, &p->p2p, &p->p2p_port,
						why, sizeof(why))
			       : -ENOTSUP;
		if (err) {
			wm_warn("cannot carry %s over libp2p: %s", p->id,
				n->c.p2p ? why : "libp2p is not configured");
			p->p2p = NULL;
			return step(p, WM_PATH_EV_P2P_FAILED, 0, NULL, NULL, NULL, now) || endpoint;
		}
		wm_info("peer %s goes over libp2p (%s); WireGuard reaches it at 127.0.0.1:%u",
			p->id, a->why ? a->why : "", p->p2p_port);
	}
	if (a->flags & WM_PATH_DO_SEND_BYE)
		wm_nat_signal_send(p, WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_BYE, a->session, NULL);
	if (a->flags & WM_PATH_DO_STOP_ICE && p->ice)
		wm_ice_peer_stop(p->ice);
	if (a->flags & WM_PATH_DO_START_ICE && p->ice) {
		err = start_session(p, a->controlling, a->controlling ? NULL : params, a->session);
		if (err) {
			wm_warn("cannot start ICE with %s: %s", p->id, wm_strerror(err));
			endpoint |= step(p, WM_PATH_EV_FAILED, a->session, NULL, NULL, NULL, now);
		}
	}
	if (a->flags & WM_PATH_DO_SET_REMOTE && p->ice && params)
		wm_ice_peer_set_remote(p->ice, a->session, params);
	if (a->flags & (WM_PATH_DO_SEND_OFFER | WM_PATH_DO_SEND_ANSWER) && params)
		wm_nat_signal_send(p,
				   a->flags & WM_PATH_DO_SEND_OFFER
					   ? WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_OFFER
					   : WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_ANSWER,
				   a->session, params);
	if (a->flags & WM_PATH_DO_CLOSE_RELAY && p->ice) {
		wm_ice_peer_close(p->ice);
		p->ice = NULL;
		/* Back from ICE: keep the endpoint WireGuard found working (for
		 * the side that did not probe, the peer's NAT mapping rather
		 * than the address it advertises). */
		if (p->path.returned)
			p->learned = p->wg_endpoint;
	}
	/* After the endpoint change is applied (see changed()): a kick sent
	 * before would still go over the relay, and the peer's answer to it
	 * would roam WireGuard straight back there. */
	if (a->flags & WM_PATH_DO_KICK)
		p->kick_due = true;
	return endpoint;
}

static void peer_free(struct npeer *p)
{
	wm_p2p_wg_close(p->p2p);
	if (p->ice) {
		if (p->path.session)
			wm_nat_signal_send(p, WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_BYE,
					   p->path.session, NULL);
		wm_ice_peer_close(p->ice);
	}
	free(p);
}

/* Applies endpoint changes (ep) through the daemon, then sends the kicks
 * that were waiting for them. */
static void changed(struct wm_node_nat *n, bool ep)
{
	if (ep && n->c.changed_cb)
		n->c.changed_cb(n->c.data);
	for (struct npeer *p = n->peers; p; p = p->next) {
		if (!p->kick_due)
			continue;
		p->kick_due = false;
		wm_sys_handshake_kick(&p->kick_addr);
	}
}

/* ---- events from the ICE thread ---- */

static void ice_event_cb(void *data, const struct wm_ice_event *ev)
{
	struct wm_node_nat *n = data;
	struct npeer *p = ev->peer_data;
	struct wm_ice_status st;
	bool ep = false;

	if (ev->type == WM_ICE_EV_LOCAL_PARAMS) {
		for (size_t i = 0; i < ev->params->n_cand; i++)
			wm_debug("ICE with %s: local %s", p->id, ev->params->cand[i]);
		ep = step(p, WM_PATH_EV_LOCAL_PARAMS, ev->session, NULL, NULL, ev->params,
			  now_ms(n));
	} else if (ev->state == WM_ICE_CONNECTED) {
		if (p->path.session == ev->session && p->path.state != WM_PATH_CONNECTED &&
		    p->path.state != WM_PATH_PROBING) {
			wm_ice_peer_status(p->ice, &st);
			wm_info("ICE with %s connected: %s %s <-> %s %s", p->id, st.local_type,
				st.local_addr, st.remote_type, st.remote_addr);
		}
		ep = step(p, WM_PATH_EV_CONNECTED, ev->session, NULL, NULL, NULL, now_ms(n));
	} else if (ev->state == WM_ICE_FAILED) {
		if (ev->error && p->path.session == ev->session)
			wm_info("ICE with %s: %s", p->id, ev->error);
		ep = step(p, WM_PATH_EV_FAILED, ev->session, NULL, NULL, NULL, now_ms(n));
	}
	changed(n, ep);
}

/* ---- signals in (nat_signal.c checked them) ---- */

void wm_nat_on_signal(struct npeer *p, int kind, uint64_t session,
		      const struct wm_ice_params *params)
{
	int type = kind == WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_OFFER	  ? WM_PATH_EV_OFFER
		   : kind == WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_ANSWER ? WM_PATH_EV_ANSWER
									  : WM_PATH_EV_BYE;

	changed(p->n, step(p, type, session, NULL, NULL, params, now_ms(p->n)));
}

/* ---- time passing ---- */

static const struct wm_wg_peer *device_peer(const struct wm_wg_device *dev, const wm_key key)
{
	for (size_t i = 0; dev && i < dev->n_peers; i++)
		if (wm_key_equal(dev->peers[i].public_key, key))
			return &dev->peers[i];
	return NULL;
}

static void observe(struct npeer *p, const struct wm_wg_device *dev, bool have_wg, bool can_signal,
		    int64_t now, int64_t wall, struct wm_path_obs *obs)
{
	const struct wm_wg_peer *wp = have_wg ? device_peer(dev, p->key) : NULL;
	struct wm_ice_status st;

	memset(obs, 0, sizeof(*obs));
	obs->ice_rx_idle_ms = -1;
	obs->ice_unanswered_ms = -1;
	obs->can_signal = can_signal;
	obs->have_wg = have_wg;
	if (wp) {
		int64_t hs = (int64_t)wp->last_handshake_sec * 1000 +
			     (int64_t)(wp->last_handshake_nsec / 1000000);

		obs->on_device = true;
		/* WireGuard reports wall-clock handshakes; the machine runs on
		 * the loop's monotonic clock: carry the age over. */
		obs->last_handshake_ms = hs ? now - (wall - hs) : 0;
		if (hs && obs->last_handshake_ms <= 0)
			obs->last_handshake_ms = 1;
		obs->rx_bytes = wp->rx_bytes;
		p->wg_endpoint = wp->endpoint;
		obs->endpoint_relay = p->ice && wp->endpoint.port == p->relay_port &&
				      wp->endpoint.ip.family == AF_INET &&
				      wp->endpoint.ip.addr[0] == 127;
		/* Any other loopback endpoint is a libp2p relay's, this link's or
		 * the one just closed (WireGuard roamed there): never direct. */
		obs->endpoint_p2p = !obs->endpoint_relay && wp->endpoint.ip.family == AF_INET &&
				    wp->endpoint.ip.addr[0] == 127;
	}
	if (p->ice) {
		wm_ice_peer_status(p->ice, &st);
		obs->ice_rx_idle_ms = st.rx_idle_ms;
		obs->ice_unanswered_ms = st.unanswered_ms;
	}
}

static void tick_cb(uv_timer_t *t)
{
	struct wm_node_nat *n = t->data;
	int64_t now = now_ms(n), wall = wall_ms();
	struct wm_wg_device *dev = NULL;
	bool want_wg = false, ep = false, undecided = false;

	wm_nat_servers_tick(n);
	wm_nat_signal_subscribe(n);
	wm_nat_turn_tick(n);
	for (struct npeer *p = n->peers; p; p = p->next) {
		want_wg |= wm_path_wants_wg(&p->path, now);
		undecided |= p->path.state != WM_PATH_DIRECT;
	}
	/* Asked once per tick, and only when a pair may need to signal. */
	bool can_signal = undecided && n->c.signaling_client(n->c.data) != NULL;
	/* One read of the device per tick, and only while a pair waits for
	 * news from it. */
	if (want_wg && wm_wg_get(n->c.wg, &dev) < 0) {
		dev = NULL;
		want_wg = false;
	}
	for (struct npeer *p = n->peers; p; p = p->next) {
		struct wm_path_obs obs;

		if (p->path.attrs.ice_available != ice_available(n) ||
		    p->path.attrs.traversal != (n->n_stun_cfg || n->n_turn_cfg)) {
			/* ICE came up (names resolved) or the server's relays
			 * arrived since the peer set did. */
			struct wm_path_attrs at = p->path.attrs;

			at.ice_available = ice_available(n);
			at.traversal = n->n_stun_cfg || n->n_turn_cfg;
			ep |= step(p, WM_PATH_EV_ATTRS, 0, NULL, &at, NULL, now);
		}
		observe(p, dev, want_wg, can_signal, now, wall, &obs);
		ep |= step(p, WM_PATH_EV_TICK, 0, &obs, NULL, NULL, now);
	}
	wm_wg_device_free(dev);
	changed(n, ep);
}

/* ---- servers ---- */

void wm_nat_servers_ready(struct wm_node_nat *n)
{
	struct wm_ice_config ic = {0};
	struct wm_endpoint stun[1];
	char err[256];

	if (n->ice || n->ice_failed || n->closing)
		return;
	ic.loop = n->c.loop;
	ic.wg_port = n->c.cfg->wireguard_port;
	if (wm_nat_stun_list(n, stun, 1))
		ic.stun = stun[0]; /* libnice asks one STUN server */
	ic.force_relay = n->c.force_relay;
	ic.event_cb = ice_event_cb;
	ic.data = n;
	if (wm_ice_new(&ic, &n->ice, err, sizeof(err)) < 0) {
		wm_warn("ICE is not available: %s", err);
		n->ice = NULL;
		n->ice_failed = true;
	}
}

/* A WireGuard stream from a libp2p peer with no link here: if the mesh says
 * a peer of ours holds that peer ID, its path follows onto libp2p (which
 * opens the link, from within this call). */
static int p2p_incoming(void *data, const char *peer_id)
{
	struct wm_node_nat *n = data;

	if (n->closing)
		return -ESHUTDOWN;
	for (struct npeer *p = n->peers; p; p = p->next) {
		if (!p->p2p_id[0] || strcmp(p->p2p_id, peer_id) != 0)
			continue;
		changed(n, step(p, WM_PATH_EV_P2P_PEER, 0, NULL, NULL, NULL, now_ms(n)));
		return p->p2p ? 0 : -EPERM;
	}
	return -EPERM;
}

/* ---- the daemon's calls ---- */

int wm_node_nat_init(const struct wm_node_nat_config *c, struct wm_node_nat **out, char *err,
		     size_t errlen)
{
	struct wm_node_nat *n;
	const struct wm_config *cfg = c->cfg;
	int rc;

	if (!c->loop || !cfg || !c->node_id || !c->signaling_client) {
		snprintf(err, errlen,
			 "NAT traversal needs a loop, the config, the node ID and a "
			 "signaling client");
		return -EINVAL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n->c = *c;
	snprintf(n->node_id, sizeof(n->node_id), "%s", c->node_id);
	rc = wm_nat_servers_init(n, err, errlen);
	if (!rc && cfg->turn_username && cfg->turn_password) {
		n->turn_static = true;
		snprintf(n->turn_user, sizeof(n->turn_user), "%s", cfg->turn_username);
		snprintf(n->turn_pass, sizeof(n->turn_pass), "%s", cfg->turn_password);
	}
	/* Numeric servers (or none): ICE starts now, and an error is the
	 * start's. Names: once their lookups are done. */
	if (!rc && !wm_nat_servers_pending(n)) {
		struct wm_ice_config ic = {0};
		struct wm_endpoint stun[1];

		ic.loop = c->loop;
		ic.wg_port = cfg->wireguard_port;
		if (wm_nat_stun_list(n, stun, 1))
			ic.stun = stun[0]; /* libnice asks one STUN server */
		ic.force_relay = c->force_relay;
		ic.event_cb = ice_event_cb;
		ic.data = n;
		rc = wm_ice_new(&ic, &n->ice, err, errlen);
	}
	if (rc) {
		wm_nat_servers_close(n);
		wm_wipe(n->turn_pass, sizeof(n->turn_pass));
		free(n);
		return rc;
	}
	if (c->p2p)
		wm_p2p_wg_listen(c->p2p, p2p_incoming, n);
	uv_timer_init(c->loop, &n->tick);
	n->tick.data = n;
	uv_timer_start(&n->tick, tick_cb, TICK_MS, TICK_MS);
	wm_nat_signal_subscribe(n);
	wm_nat_turn_tick(n);
	*out = n;
	return 0;
}

/* Over the endpoint texts: only compared with itself. */
static uint64_t endpoints_hash(const Webmesh__V1__MeshNode *node)
{
	uint64_t h = WM_HASH_FNV1A_INIT;

	for (size_t i = 0; i < node->n_endpoints; i++) {
		const char *e = node->endpoints[i] ? node->endpoints[i] : "";
		h = wm_hash_fnv1a_more(h, e, strlen(e));
		h = wm_hash_fnv1a_more(h, ",", 1);
	}
	return h;
}

static bool peer_has_public(const Webmesh__V1__MeshNode *node)
{
	for (size_t i = 0; i < node->n_endpoints; i++) {
		struct wm_endpoint e;

		if (wm_endpoint_parse(node->endpoints[i], &e) == 0 && !wm_addr_is_private(&e.ip))
			return true;
	}
	return false;
}

/* The peer's published libp2p side; a link open to another peer ID than
 * the one published now is closed (the machine opens the new one). */
static void p2p_learn(struct npeer *p, const Webmesh__V1__MeshNode *node, bool available)
{
	const char *id = available ? node->libp2p_peer_id : "";

	if (p->p2p && strcmp(p->p2p_id, id) != 0) {
		wm_p2p_wg_close(p->p2p);
		p->p2p = NULL;
		p->path.p2p = false; /* the next tick opens it again, if still wanted */
		p->path.p2p_probing = false;
	}
	snprintf(p->p2p_id, sizeof(p->p2p_id), "%s", id);
	p->n_p2p_addrs = 0;
	for (size_t i = 0; available && i < node->n_libp2p_addrs && i < WM_P2P_PUB_ADDRS; i++)
		if (node->libp2p_addrs[i] && strlen(node->libp2p_addrs[i]) < WM_P2P_PUB_ADDR_MAX)
			snprintf(p->p2p_addrs[p->n_p2p_addrs++], WM_P2P_PUB_ADDR_MAX, "%s",
				 node->libp2p_addrs[i]);
}

int wm_node_nat_apply(struct wm_node_nat *n, Webmesh__V1__WireGuardPeer *const *peers,
		      size_t n_peers, const struct wm_endpoint *self, size_t n_self,
		      struct wm_wg_device *desired)
{
	int64_t now;

	if (!n)
		return 0; /* no NAT layer: every peer direct */
	now = now_ms(n);
	n->self_public = wm_endpoints_have_public(self, n_self);
	for (struct npeer *p = n->peers; p; p = p->next)
		p->seen = false;
	for (size_t i = 0; i < n_peers; i++) {
		const Webmesh__V1__WireGuardPeer *w = peers[i];
		struct wm_path_attrs at = {0};
		struct npeer *p;
		wm_key key;

		if (!w || !w->node || !w->node->id || wm_node_id_check(w->node->id, NULL) < 0 ||
		    strcmp(w->node->id, n->node_id) == 0 ||
		    wm_key_from_base64(w->node->public_key, key) < 0)
			continue;
		at.ice_edge = w->ice || n->c.force_ice;
		at.self_public = n->self_public;
		at.peer_public = peer_has_public(w->node);
		at.ice_available = ice_available(n);
		at.traversal = n->n_stun_cfg || n->n_turn_cfg;
		at.handshake_timeout_ms = n->c.cfg->ice_handshake_timeout * 1000u;
		at.endpoints_hash = endpoints_hash(w->node);
		/* WireGuard over libp2p: both sides speak it (the peer published
		 * a peer ID the store checked), or the edge asks for it. */
		at.p2p_available = n->c.p2p && w->node->libp2p_peer_id &&
				   *w->node->libp2p_peer_id &&
				   strlen(w->node->libp2p_peer_id) < WM_P2P_PUB_ID_MAX;
		at.p2p_edge = w->libp2p;
		at.peer_direct = w->node->n_endpoints > 0;
		p = wm_nat_find_peer(n, w->node->id);
		if (p && !wm_key_equal(p->key, key)) {
			/* Same ID, new key: a new node as far as WireGuard goes. */
			struct npeer **pp = &n->peers;
			while (*pp != p)
				pp = &(*pp)->next;
			*pp = p->next;
			peer_free(p);
			p = NULL;
		}
		if (!p) {
			p = calloc(1, sizeof(*p));
			if (!p)
				return -ENOMEM;
			p->n = n;
			snprintf(p->id, sizeof(p->id), "%s", w->node->id);
			memcpy(p->key, key, sizeof(wm_key));
			wm_path_init(&p->path, wm_ice_controlling(n->node_id, p->id), &at, now);
			p->next = n->peers;
			n->peers = p;
		}
		p->seen = true;
		p2p_learn(p, w->node, at.p2p_available);
		if (at.endpoints_hash != p->path.attrs.endpoints_hash)
			p->learned.ip.family = 0;
		/* Its own address, not its allowed IPs: a hub's may be the whole
		 * mesh network. */
		p->kick_addr.family = 0;
		if (w->node->private_ipv4 &&
		    wm_prefix_parse(w->node->private_ipv4, &p->kick_addr) < 0)
			p->kick_addr.family = 0;
		/* The rewrite below sets the endpoint; changed_cb is not called
		 * from here (the caller applies desired next). */
		step(p, WM_PATH_EV_ATTRS, 0, NULL, &at, NULL, now);
	}
	for (struct npeer **pp = &n->peers; *pp;) {
		struct npeer *p = *pp;

		if (p->seen) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		peer_free(p);
	}
	/* What the peer set says, before any rewrite: the endpoint a probe of
	 * the direct path (or a pair leaving ICE) goes back to. */
	for (size_t i = 0; desired && i < desired->n_peers; i++)
		for (struct npeer *p = n->peers; p; p = p->next)
			if (wm_key_equal(p->key, desired->peers[i].public_key)) {
				const struct wm_wg_peer *dp = &desired->peers[i];

				p->advertised = dp->flags & WM_WGPEER_HAS_ENDPOINT
							? dp->endpoint
							: (struct wm_endpoint){0};
				p->advertised_keepalive = dp->flags & WM_WGPEER_HAS_KEEPALIVE
								  ? dp->keepalive_interval
								  : 0;
			}
	wm_node_nat_rewrite(n, desired);
	return 0;
}

void wm_node_nat_rewrite(struct wm_node_nat *n, struct wm_wg_device *desired)
{
	for (size_t i = 0; n && desired && i < desired->n_peers; i++) {
		struct wm_wg_peer *wp = &desired->peers[i];

		for (struct npeer *p = n->peers; p; p = p->next) {
			if (!wm_key_equal(p->key, wp->public_key))
				continue;
			if (p->p2p && wm_path_uses_p2p(&p->path)) {
				wm_endpoint_parse("127.0.0.1:1", &wp->endpoint);
				wp->endpoint.port = p->p2p_port;
				wp->flags |= WM_WGPEER_HAS_ENDPOINT | WM_WGPEER_HAS_KEEPALIVE;
				wp->keepalive_interval = wm_path_keepalive_s(&p->path);
			} else if (p->ice && wm_path_uses_relay(&p->path)) {
				wm_endpoint_parse("127.0.0.1:1", &wp->endpoint);
				wp->endpoint.port = p->relay_port;
				wp->flags |= WM_WGPEER_HAS_ENDPOINT | WM_WGPEER_HAS_KEEPALIVE;
				wp->keepalive_interval = wm_path_keepalive_s(&p->path);
			} else {
				/* desired may still hold the relay from an earlier
				 * rewrite (a probe, a pair leaving ICE): back to what
				 * the peer set says, or to the endpoint that worked */
				if (p->learned.ip.family && !wm_path_on_ice(&p->path) &&
				    !p->path.p2p) {
					wp->endpoint = p->learned;
					wp->flags |= WM_WGPEER_HAS_ENDPOINT;
				} else if (p->advertised.ip.family) {
					wp->endpoint = p->advertised;
					wp->flags |= WM_WGPEER_HAS_ENDPOINT;
				}
				if (wp->flags & WM_WGPEER_HAS_KEEPALIVE ||
				    p->advertised_keepalive) {
					wp->flags |= WM_WGPEER_HAS_KEEPALIVE;
					wp->keepalive_interval = p->advertised_keepalive;
				}
			}
		}
	}
}

static const char *path_of(const struct npeer *p, const struct wm_ice_status *st)
{
	/* Not uses_p2p: during a probe of the direct path WireGuard points at
	 * the direct endpoint, yet the pair is on libp2p until the probe works
	 * (status said "direct" for the probe's window). */
	if (p && p->p2p && wm_path_on_p2p(&p->path)) {
		struct wm_p2p_wg_status ws;
		wm_p2p_wg_status(p->p2p, &ws);
		return !ws.connected ? "libp2p-connecting"
		       : ws.relayed  ? "libp2p-relay"
				     : "libp2p-direct";
	}
	if (!p || !p->ice)
		return "direct";
	if (st->state != WM_ICE_CONNECTED)
		return "ice-connecting";
	return st->relayed ? "ice-relay" : "ice-direct";
}

void wm_node_nat_fill_peer_status(struct wm_node_nat *n, const wm_key key,
				  Webmesh__V1__PeerStatus *ps, struct wm_arena *a)
{
	struct npeer *p = NULL;
	struct wm_ice_status st = {0};
	char buf[WM_ENDPOINT_STRLEN + 16];

	for (struct npeer *q = n ? n->peers : NULL; q && !p; q = q->next)
		if (wm_key_equal(q->key, key))
			p = q;
	if (p && p->ice)
		wm_ice_peer_status(p->ice, &st);
	ps->path = wm_arena_strdup(a, path_of(p, &st));
	if (p && p->p2p) {
		struct wm_p2p_wg_status ws;
		wm_p2p_wg_status(p->p2p, &ws);
		ps->libp2p_relay_peer_id = wm_arena_strdup(a, ws.relay_peer_id);
		ps->libp2p_remote = wm_arena_strdup(a, ws.remote);
		ps->libp2p_rx_bytes = ws.rx_bytes;
		ps->libp2p_tx_bytes = ws.tx_bytes;
	}
	if (!p || !p->ice)
		return;
	snprintf(buf, sizeof(buf), "%s %s", st.local_type, st.local_addr);
	ps->local_candidate = wm_arena_strdup(a, st.local_type[0] ? buf : "");
	snprintf(buf, sizeof(buf), "%s %s", st.remote_type, st.remote_addr);
	ps->remote_candidate = wm_arena_strdup(a, st.remote_type[0] ? buf : "");
	ps->ice_state = wm_arena_strdup(a, wm_ice_state_name(st.state));
	ps->ice_rx_bytes = st.rx_bytes;
	ps->ice_tx_bytes = st.tx_bytes;
	ps->ice_sessions = st.sessions;
	ps->ice_reason = wm_arena_strdup(a, wm_ice_reason_name(p->path.reason));
	ps->ice_local_candidates = wm_arena_alloc(a, sizeof(char *) * WM_ICE_STATUS_MAX_CAND);
	ps->ice_remote_candidates = wm_arena_alloc(a, sizeof(char *) * WM_ICE_STATUS_MAX_CAND);
	if (!ps->ice_local_candidates || !ps->ice_remote_candidates)
		return; /* the counts stay 0: the rest of the status still goes out */
	for (size_t i = 0; i < st.n_local_cands && i < WM_ICE_STATUS_MAX_CAND; i++) {
		snprintf(buf, sizeof(buf), "%s %s", st.local_cands[i].type, st.local_cands[i].addr);
		if ((ps->ice_local_candidates[ps->n_ice_local_candidates] =
			     wm_arena_strdup(a, buf)))
			ps->n_ice_local_candidates++;
	}
	for (size_t i = 0; i < st.n_remote_cands && i < WM_ICE_STATUS_MAX_CAND; i++) {
		snprintf(buf, sizeof(buf), "%s %s", st.remote_cands[i].type,
			 st.remote_cands[i].addr);
		if ((ps->ice_remote_candidates[ps->n_ice_remote_candidates] =
			     wm_arena_strdup(a, buf)))
			ps->n_ice_remote_candidates++;
	}
}

int wm_node_nat_discover(struct wm_node_nat *n, wm_nat_discover_cb cb, void *data,
			 struct wm_nat_discover_req **req)
{
	const struct wm_config *cfg = n->c.cfg;
	struct wm_endpoint ovr[WM_MAX_ENDPOINTS], stun[WM_NAT_MAX_STUN];
	size_t n_ovr = 0;
	struct wm_nat_discover_opts o = {
		.skip_ifname = cfg->interface,
		.wg_port = cfg->wireguard_port,
		.stun = stun,
		.n_stun = wm_nat_stun_list(n, stun, WM_NAT_MAX_STUN),
		.overrides = ovr,
	};

	for (size_t i = 0; i < cfg->n_endpoints && n_ovr < WM_MAX_ENDPOINTS; i++)
		if (wm_endpoint_parse(cfg->endpoints[i], &ovr[n_ovr]) == 0)
			n_ovr++;
	o.n_overrides = n_ovr;
	return wm_nat_discover(n->c.loop, &o, cb, data, req);
}

size_t wm_node_nat_stun_servers(const struct wm_node_nat *n, struct wm_endpoint *out, size_t max)
{
	return wm_nat_stun_list(n, out, max);
}

size_t wm_node_nat_turn_servers(const struct wm_node_nat *n, struct wm_endpoint *out, size_t max)
{
	size_t k = 0;

	/* Addresses only: the credentials stay here. */
	for (size_t i = 0; n && i < n->n_turn_cfg && k < max; i++)
		if (n->turn[i].ok)
			out[k++] = n->turn[i].t.addr;
	return k;
}

void wm_nat_part_done(struct wm_node_nat *n)
{
	if (--n->closing_count > 0)
		return;
	void (*done)(void *) = n->done_cb;
	void *dd = n->done_data;

	wm_wipe(n->turn_pass, sizeof(n->turn_pass));
	free(n);
	if (done)
		done(dd);
}

static void tick_closed_cb(uv_handle_t *h)
{
	wm_nat_part_done(h->data);
}

static void ice_done_cb(void *data)
{
	wm_nat_part_done(data);
}

void wm_node_nat_close(struct wm_node_nat *n, void (*done_cb)(void *data), void *data)
{
	if (!n) {
		if (done_cb)
			done_cb(data);
		return;
	}
	if (n->closing)
		return;
	n->closing = true;
	n->done_cb = done_cb;
	n->done_data = data;
	if (n->c.p2p)
		wm_p2p_wg_listen(n->c.p2p, NULL, NULL);
	while (n->peers) {
		struct npeer *p = n->peers;

		n->peers = p->next;
		peer_free(p);
	}
	wm_nat_signal_close(n);
	wm_nat_servers_close(n);
	/* The tick, the ICE thread and an outstanding TURN call each end once. */
	n->closing_count = 2 + (n->ice ? 1 : 0) + (n->turn_pending ? 1 : 0);
	uv_timer_stop(&n->tick);
	uv_close((uv_handle_t *)&n->tick, tick_closed_cb);
	if (n->ice)
		wm_ice_free(n->ice, ice_done_cb, n);
	wm_nat_part_done(n);
}
