/* The WireGuard interface of the node: creation, addresses, and peers applied
 * as a difference against what the device has now. */
#include "node/netconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include "core/error.h"
#include "core/hash.h"
#include "core/ipam.h"
#include "core/kick.h"
#include "sys/sys.h"
#include "util/fsutil.h"
#include "util/log.h"

/* A peer we just added may still hold a session with our previous incarnation
 * (after a restart) and keep sending with keys we no longer have until its
 * rekey timer fires, up to 15 s later; a newcomer's first initiation may
 * have reached us before we had it as a peer, and WireGuard tries again only
 * 5 s later. One datagram from us makes our side start a handshake now. It
 * goes to the peer's own mesh address (its allowed IPs may be the whole mesh
 * network, on a spoke). Port 9 is "discard": nothing answers it. When to
 * send it, so that the two sides' initiations do not cross and cancel each
 * other, is core/kick.h's rule: a node that had no peers kicks at once, one
 * that had peers only if no handshake happened a little later. */
static void kick(const struct wm_netconf *nc, const wm_key key)
{
	for (size_t j = 0; j < nc->n_peer_names; j++)
		if (wm_key_equal(nc->peer_names[j].key, key)) {
			if (nc->peer_names[j].ipv4.family)
				wm_sys_handshake_kick(&nc->peer_names[j].ipv4);
			return;
		}
}

static void kick_timer_cb(uv_timer_t *t);

#define KICK_SLACK_MS 10

static void arm_kick_timer(struct wm_netconf *nc)
{
	if (!nc->n_kicks || !nc->kick_timer_open)
		return;
	uint64_t due = nc->kicks[0].due_ms;
	for (size_t i = 1; i < nc->n_kicks; i++)
		if (nc->kicks[i].due_ms < due)
			due = nc->kicks[i].due_ms;
	uint64_t now = uv_now(nc->c.loop);
	uv_timer_start(&nc->kick_timer, kick_timer_cb, due > now ? due - now : 0, 0);
}

/* Two initiations that crossed left both sides with a session neither can
 * use, and WireGuard sends no other initiation for 5 s: a peer added again
 * starts afresh (it has no session and no traffic to lose yet). */
static int apply_desired(struct wm_netconf *nc, const struct wm_wg_device *prev);

static void readd_peer(struct wm_netconf *nc, const struct wm_wg_peer *on_device)
{
	const uint8_t *key = on_device->public_key;
	const struct wm_wg_peer *want = wm_wg_device_find_peer(nc->desired, key);
	if (!want)
		return;
	struct wm_wg_device *rm = wm_wg_device_new(nc->c.cfg->interface);
	struct wm_wg_device *add = wm_wg_device_new(nc->c.cfg->interface);
	struct wm_wg_peer *r = rm ? wm_wg_device_add_peer(rm, key) : NULL;
	struct wm_wg_peer *a = add ? wm_wg_device_add_peer(add, key) : NULL;
	int err = r && a ? 0 : -ENOMEM;
	if (!err) {
		r->flags = WM_WGPEER_REMOVE_ME;
		/* the roamed endpoint, not the advertised one: see kick.h */
		const struct wm_endpoint *ep = wm_kick_readd_endpoint(want, on_device);
		a->flags = (want->flags & ~WM_WGPEER_HAS_ENDPOINT) | WM_WGPEER_REPLACE_ALLOWEDIPS;
		if (ep) {
			a->flags |= WM_WGPEER_HAS_ENDPOINT;
			a->endpoint = *ep;
		}
		a->keepalive_interval = want->keepalive_interval;
	}
	for (size_t i = 0; !err && i < want->n_allowed_ips; i++)
		err = wm_wg_peer_add_allowed_ip(a, &want->allowed_ips[i]);
	for (size_t i = 0; !err && i < want->n_accept_ips; i++)
		err = wm_wg_peer_add_accept_ip(a, &want->accept_ips[i]);
	bool removed = false;
	if (!err)
		removed = (err = wm_wg_set(nc->wg, rm)) == 0;
	if (!err)
		err = wm_wg_set(nc->wg, add);
	if (err)
		wm_warn("%s: cannot add a peer without a handshake again: %s", nc->c.cfg->interface,
			wm_strerror(err));
	wm_wg_device_free(rm);
	wm_wg_device_free(add);
	/* Removed but not added back: the device must not stay without the
	 * peer until the next peer set, so make it match what is desired. */
	if (removed && err)
		apply_desired(nc, NULL);
}

static void kick_timer_cb(uv_timer_t *t)
{
	struct wm_netconf *nc = t->data;
	struct wm_wg_device *dev = NULL;
	if (!nc->wg || !nc->desired || wm_wg_get(nc->wg, &dev) < 0) {
		nc->n_kicks = 0; /* the device is gone or failing: nothing to kick */
		return;
	}
	wm_wg_device_sort(dev);
	uint64_t now = uv_now(nc->c.loop);
	size_t kept = 0;
	for (size_t i = 0; i < nc->n_kicks; i++) {
		struct wm_pending_kick k = nc->kicks[i];
		/* kicks due a little later are done now: one device read serves
		 * a burst of joins */
		if (k.due_ms <= now + KICK_SLACK_MS) {
			const struct wm_wg_peer *p = wm_wg_device_find_peer(dev, k.key);
			if (!wm_kick_wanted(p) || (k.kicked && !wm_kick_crossed(p)))
				continue;
			if (k.kicked) {
				wm_debug("%s: our first handshake with a new peer crossed "
					 "its own; adding it again",
					 nc->c.cfg->interface);
				readd_peer(nc, p);
				kick(nc, k.key);
				continue;
			}
			wm_debug("%s: no handshake with a new peer yet; starting one",
				 nc->c.cfg->interface);
			kick(nc, k.key);
			k.kicked = true;
			k.due_ms = now + WM_KICK_RECHECK_MS;
		}
		nc->kicks[kept++] = k;
	}
	nc->n_kicks = kept;
	wm_wg_device_free(dev);
	arm_kick_timer(nc);
}

/* A kick for key at now + delay_ms: replaces one pending for the same peer. */
static void schedule_kick(struct wm_netconf *nc, const wm_key key, uint64_t delay_ms)
{
	struct wm_pending_kick *k = NULL;
	for (size_t i = 0; i < nc->n_kicks && !k; i++)
		if (wm_key_equal(nc->kicks[i].key, key))
			k = &nc->kicks[i];
	if (!k) {
		if (nc->n_kicks == nc->cap_kicks) {
			size_t cap = nc->cap_kicks ? 2 * nc->cap_kicks : 8;
			struct wm_pending_kick *m = realloc(nc->kicks, cap * sizeof(*m));
			if (!m) {
				kick(nc, key); /* out of memory: at once, as before */
				return;
			}
			nc->kicks = m;
			nc->cap_kicks = cap;
		}
		k = &nc->kicks[nc->n_kicks++];
		memcpy(k->key, key, sizeof(wm_key));
	}
	k->kicked = false;
	k->due_ms = uv_now(nc->c.loop) + delay_ms;
}

static void kick_new_peers(struct wm_netconf *nc, const struct wm_wg_device *before,
			   const struct wm_wg_device *update)
{
	bool had_peers = before->n_peers > 0;
	for (size_t i = 0; i < update->n_peers; i++) {
		const struct wm_wg_peer *p = &update->peers[i];
		if ((p->flags & WM_WGPEER_REMOVE_ME) ||
		    wm_wg_device_find_peer(before, p->public_key))
			continue;
		uint64_t delay = wm_kick_delay_ms(had_peers, nc->c.public_key, p->public_key);
		if (delay == 0 || !nc->kick_timer_open)
			kick(nc, p->public_key);
		else
			schedule_kick(nc, p->public_key, delay);
	}
	arm_kick_timer(nc);
}

/* A peer behind NAT advertises an address we cannot reach; WireGuard learns
 * the one that works from the peer's packets (roaming). Setting the advertised
 * endpoint again with every other change would undo that until the peer sends
 * again, so an endpoint goes to the device only when the one we want differs
 * from the one we wanted last time (prev; NULL: set them all), or for a new
 * peer. */
static void keep_roamed(struct wm_wg_device *update, const struct wm_wg_device *prev,
			const struct wm_wg_device *actual)
{
	for (size_t i = 0; prev && i < update->n_peers; i++) {
		struct wm_wg_peer *u = &update->peers[i];
		if (!(u->flags & WM_WGPEER_HAS_ENDPOINT) ||
		    !wm_wg_device_find_peer(actual, u->public_key))
			continue;
		const struct wm_wg_peer *was = wm_wg_device_find_peer(prev, u->public_key);
		if (was && wm_endpoint_equal(&was->endpoint, &u->endpoint))
			u->flags &= ~WM_WGPEER_HAS_ENDPOINT;
	}
}

/* Makes the device match nc->desired (prev: what was desired before). */
static int apply_desired(struct wm_netconf *nc, const struct wm_wg_device *prev)
{
	struct wm_wg_device *actual = NULL, *update = NULL;
	int err = wm_wg_get(nc->wg, &actual);
	if (!err) {
		wm_wg_device_sort(actual);
		err = wm_wg_diff(actual, nc->desired, &update);
	}
	/* After a failed apply, what was desired last is not on the device:
	 * write every endpoint once more. */
	if (!err && update)
		keep_roamed(update, nc->apply_failed ? NULL : prev, actual);
	if (!err && update) {
		err = wm_wg_set(nc->wg, update);
		if (!err) {
			wm_debug("%s: applied a peer update (%zu peers changed)",
				 nc->c.cfg->interface, update->n_peers);
			kick_new_peers(nc, actual, update);
		}
	}
	if (err)
		wm_error("cannot configure the peers of %s: %s", nc->c.cfg->interface,
			 wm_strerror(err));
	nc->apply_failed = err != 0;
	wm_wg_device_free(update);
	wm_wg_device_free(actual);
	return err;
}

static struct wm_node_nat *nat_of(const struct wm_netconf *nc)
{
	return nc->c.nat ? nc->c.nat(nc->c.data) : NULL;
}

static void mbb_timer_cb(uv_timer_t *t);

/* Sets nc->desired from nc->target: the target itself, or the make-before-
 * break plan towards it (target_changed: the peer set or an endpoint just
 * changed; gone: peers of the last set whose node left the mesh, with it).
 * The previous nc->desired is the caller's to free. */
static void plan_desired(struct wm_netconf *nc, bool target_changed, const wm_key *gone,
			 size_t n_gone)
{
	struct wm_wg_device *plan = NULL, *actual = NULL;
	uint64_t next = 0, now = uv_now(nc->c.loop);
	int err = 0;

	if (nc->mbb_on) {
		struct timespec wall;

		clock_gettime(CLOCK_REALTIME, &wall);
		if (nc->c.mesh)
			wm_mbb_set_networks(&nc->mbb, &nc->c.mesh->ipv4_network,
					    &nc->c.mesh->ipv6_network);
		if (target_changed)
			err = wm_mbb_target(&nc->mbb, nc->target, now,
					    (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec);
		if (!err && target_changed)
			wm_mbb_drop_gone(&nc->mbb, gone, n_gone);
		/* Handshake times, only while a new peer's is awaited (a server
		 * with thousands of peers reads its device once per change, in
		 * apply_desired); a failed read only delays confirmations. */
		if (!err && nc->mbb.n_fresh && wm_wg_get(nc->wg, &actual) == 0)
			wm_wg_device_sort(actual);
		if (!err)
			err = wm_mbb_plan(&nc->mbb, nc->target, actual, now, &plan, &next);
		wm_wg_device_free(actual);
		if (err) {
			/* the plan is lost, the target still stands: switch at once
			 * as without make before break */
			wm_warn("%s: cannot plan a hitless path change (%s); switching at once",
				nc->c.cfg->interface, wm_strerror(err));
			wm_mbb_free(&nc->mbb);
			wm_mbb_init(&nc->mbb, nc->c.public_key, NULL);
			next = 0;
		}
	}
	nc->desired = plan ? plan : wm_wg_device_dup(nc->target);
	if (nc->mbb_on && (nc->mbb.n_lingers || nc->mbb.n_fresh))
		wm_debug("%s: path change under way: %zu addresses leaving their peer, %zu new "
			 "peers awaiting a handshake",
			 nc->c.cfg->interface, nc->mbb.n_lingers, nc->mbb.n_fresh);
	if (nc->mbb_timer_open) {
		if (next)
			uv_timer_start(&nc->mbb_timer, mbb_timer_cb, next > now ? next - now : 0,
				       0);
		else
			uv_timer_stop(&nc->mbb_timer);
	}
}

/* Plans again and applies what changed. */
static void replan(struct wm_netconf *nc, bool target_changed)
{
	struct wm_wg_device *prev = nc->desired;
	plan_desired(nc, target_changed, NULL, 0);
	if (nc->desired)
		apply_desired(nc, prev);
	else
		nc->desired = prev; /* out of memory: keep the last one */
	if (nc->desired != prev)
		wm_wg_device_free(prev);
}

static void mbb_timer_cb(uv_timer_t *t)
{
	struct wm_netconf *nc = t->data;
	if (nc->wg && nc->target && nc->c.running(nc->c.data))
		replan(nc, false);
}

void wm_netconf_nat_changed(struct wm_netconf *nc)
{
	if (!nc->target || !nc->c.running(nc->c.data))
		return;
	/* An endpoint moves with the target (WireGuard holds one per peer;
	 * docs/PATHS.md says how a move stays hitless). */
	wm_node_nat_rewrite(nat_of(nc), nc->target);
	replan(nc, true);
}

static void wg_restarted_cb(void *data)
{
	struct wm_netconf *nc = data;
	/* wireguard-go came back empty: the next apply must rebuild the device,
	 * and the diff against an empty device does exactly that. */
	wm_warn("wireguard-go was restarted; configuring %s again", nc->c.cfg->interface);
	wm_netconf_set_addresses(nc);
	apply_desired(nc, NULL);
}

int wm_netconf_init(struct wm_netconf *nc, const struct wm_netconf_config *c, char *err,
		    size_t errlen)
{
	*nc = (struct wm_netconf){.c = *c};
	enum wm_wg_backend backend;
	if (wm_wg_backend_parse(nc->c.cfg->wireguard_backend, &backend) < 0) {
		snprintf(err, errlen, "unknown wireguard-backend \"%s\"",
			 nc->c.cfg->wireguard_backend);
		return -EINVAL;
	}
	struct wm_wg_config wc = {
		.ifname = nc->c.cfg->interface,
		.backend = backend,
		.wireguard_go = nc->c.cfg->wireguard_go,
		.workers = nc->c.cfg->wireguard_workers,
		.restarted_cb = wg_restarted_cb,
		.null_record_path = nc->c.cfg->wireguard_record,
		.data = nc,
	};
	int rc = wm_wg_open(nc->c.loop, &wc, &nc->wg, err, errlen);
	if (rc)
		return rc;
	/* only with a device: closing one without stays synchronous */
	uv_timer_init(nc->c.loop, &nc->kick_timer);
	nc->kick_timer.data = nc;
	nc->kick_timer_open = true;
	/* Accept-only addresses exist in our own WireGuard only: elsewhere a
	 * path changes at once, as WireGuard allows. */
	nc->mbb_on = strcmp(wm_wg_backend_name(nc->wg), "embedded") == 0;
	wm_mbb_init(&nc->mbb, nc->c.public_key, NULL);
	uv_timer_init(nc->c.loop, &nc->mbb_timer);
	nc->mbb_timer.data = nc;
	nc->mbb_timer_open = true;
	wm_info("WireGuard interface %s is up (%s backend)", nc->c.cfg->interface,
		wm_wg_backend_name(nc->wg));
	/* The device starts with our key and port and no peers. */
	return wm_netconf_apply_peers(nc, NULL, 0);
}

int wm_netconf_set_addresses(struct wm_netconf *nc)
{
	if (nc->c.ipv4->family == 0 || !nc->wg || strcmp(wm_wg_backend_name(nc->wg), "null") == 0)
		return 0;
	const char *ifname = nc->c.cfg->interface;
	int err = wm_sys_link_up(ifname, nc->c.cfg->mtu);
	struct wm_prefix a4 = *nc->c.ipv4;
	a4.len = nc->c.mesh->ipv4_network.len;
	if (!err)
		err = wm_sys_addr_add(ifname, &a4);
	if (!err && nc->c.ipv6->family) {
		struct wm_prefix a6 = wm_ipam_v6_node_address(nc->c.ipv6);
		a6.len = nc->c.mesh->ipv6_network.len;
		err = wm_sys_addr_add(ifname, &a6);
	}
	if (err) {
		wm_error("cannot configure the addresses of %s: %s", ifname, wm_strerror(err));
		return err;
	}
	if (!nc->addresses_set) {
		char b4[WM_PREFIX_STRLEN], b6[WM_PREFIX_STRLEN];
		struct wm_prefix a6 = wm_ipam_v6_node_address(nc->c.ipv6);
		a6.len = nc->c.mesh->ipv6_network.len;
		wm_prefix_format(&a4, b4, sizeof(b4));
		wm_prefix_format(&a6, b6, sizeof(b6));
		wm_info("%s has addresses %s and %s", ifname, b4, b6);
	}
	nc->addresses_set = true;
	return 0;
}

static int add_peer(struct wm_netconf *nc, struct wm_wg_device *dev,
		    const Webmesh__V1__WireGuardPeer *p, struct wm_peer_name *name)
{
	wm_key key;
	if (!p->node || wm_key_from_base64(p->node->public_key, key) < 0)
		return -EINVAL;
	if (wm_key_equal(key, nc->c.public_key))
		return 0; /* never peer with ourselves, whatever a server says */
	struct wm_wg_peer *peer = wm_wg_device_add_peer(dev, key);
	if (!peer)
		return -ENOMEM;
	peer->flags = WM_WGPEER_REPLACE_ALLOWEDIPS;
	if (p->endpoint && p->endpoint[0] && wm_endpoint_parse(p->endpoint, &peer->endpoint) == 0)
		peer->flags |= WM_WGPEER_HAS_ENDPOINT;
	if (nc->c.cfg->persistent_keepalive) {
		peer->flags |= WM_WGPEER_HAS_KEEPALIVE;
		peer->keepalive_interval = (uint16_t)nc->c.cfg->persistent_keepalive;
	}
	for (size_t i = 0; i < p->n_allowed_ips; i++) {
		struct wm_prefix pfx;
		if (wm_prefix_parse(p->allowed_ips[i], &pfx) < 0)
			return -EINVAL;
		int err = wm_wg_peer_add_allowed_ip(peer, &pfx);
		if (err)
			return err;
	}
	memcpy(name->key, key, sizeof(wm_key));
	snprintf(name->id, sizeof(name->id), "%s", p->node->id);
	name->raft_role = (int)p->node->raft_role;
	if (!p->node->private_ipv4 || wm_prefix_parse(p->node->private_ipv4, &name->ipv4) < 0 ||
	    name->ipv4.family != AF_INET)
		name->ipv4.family = 0;
	return 1;
}

/* The last applied peer set, kept so that a restarted node (a member whose
 * servers are down, or voters restarting together, which can only talk over
 * the overlay) brings its tunnels back before any server answers. */
static void save_peers(struct wm_netconf *nc, Webmesh__V1__WireGuardPeer *const *peers, size_t n)
{
	Webmesh__V1__PeerConfigurations pc = WEBMESH__V1__PEER_CONFIGURATIONS__INIT;
	pc.peers = (Webmesh__V1__WireGuardPeer **)peers;
	pc.n_peers = n;
	size_t len = webmesh__v1__peer_configurations__get_packed_size(&pc);
	uint8_t *buf = malloc(len + 1);
	if (!buf)
		return;
	webmesh__v1__peer_configurations__pack(&pc, buf);
	uint64_t h = wm_hash_fnv1a(buf, len);
	if (h != nc->peers_saved_hash) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/peers.state", nc->c.cfg->state_dir);
		int err = wm_write_file_atomic(path, buf, len, 0600);
		if (err)
			wm_warn("cannot save %s: %s", path, wm_strerror(err));
		else
			nc->peers_saved_hash = h;
	}
	free(buf);
}

int wm_netconf_restore_peers(struct wm_netconf *nc)
{
	char path[PATH_MAX];
	char *buf = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/peers.state", nc->c.cfg->state_dir);
	int err = wm_read_file(path, 64u << 20, &buf, &len);
	if (err)
		return err == -ENOENT ? 0 : err;
	Webmesh__V1__PeerConfigurations *pc =
		webmesh__v1__peer_configurations__unpack(NULL, len, (const uint8_t *)buf);
	free(buf);
	if (!pc) {
		wm_warn("%s is damaged; ignoring it", path);
		return -EINVAL;
	}
	wm_info("restoring %zu peers from %s", pc->n_peers, path);
	err = wm_netconf_apply_peers(nc, pc->peers, pc->n_peers);
	webmesh__v1__peer_configurations__free_unpacked(pc, NULL);
	return err;
}

/* The server's gone keys, decoded; a malformed one is left out (its peer,
 * if it lingers, ends after the hold as without the list). NULL when there
 * are none or memory ran out (the same fallback). */
static wm_key *decode_gone(char *const *keys, size_t n, size_t *n_out)
{
	wm_key *v = n ? calloc(n, sizeof(*v)) : NULL;

	*n_out = 0;
	for (size_t i = 0; v && i < n; i++) {
		if (!keys[i] || wm_key_from_base64(keys[i], v[*n_out]) < 0) {
			wm_warn("ignoring a malformed key of a peer that left the mesh from the "
				"server");
			continue;
		}
		(*n_out)++;
	}
	return v;
}

int wm_netconf_apply_peers(struct wm_netconf *nc, Webmesh__V1__WireGuardPeer *const *peers,
			   size_t n)
{
	return wm_netconf_apply_peers_gone(nc, peers, n, NULL, 0);
}

int wm_netconf_apply_peers_gone(struct wm_netconf *nc, Webmesh__V1__WireGuardPeer *const *peers,
				size_t n, char *const *gone_keys, size_t n_gone_keys)
{
	struct wm_wg_device *target = wm_wg_device_new(nc->c.cfg->interface);
	struct wm_peer_name *names = calloc(n + 1, sizeof(*names));
	size_t n_names = 0;
	int err = target && names ? 0 : -ENOMEM;
	if (!err) {
		target->flags = WM_WGDEV_HAS_PRIVATE_KEY | WM_WGDEV_HAS_LISTEN_PORT;
		memcpy(target->private_key, nc->c.private_key, sizeof(wm_key));
		target->listen_port = nc->c.cfg->wireguard_port;
	}
	for (size_t i = 0; !err && i < n; i++) {
		int rc = add_peer(nc, target, peers[i], &names[n_names]);
		if (rc < 0) {
			wm_warn("ignoring an invalid peer %s from the server",
				peers[i]->node ? peers[i]->node->id : "(unnamed)");
			continue;
		}
		n_names += (size_t)rc;
	}
	if (err) {
		free(names);
		wm_wg_device_free(target);
		return err;
	}
	wm_wg_device_sort(target);
	/* Peers over ICE are reached at their loopback relay instead. */
	if (wm_node_nat_apply(nat_of(nc), peers, n, nc->c.endpoints, *nc->c.n_endpoints, target) <
	    0)
		wm_warn("NAT traversal: out of memory; peers stay at their endpoints");
	wm_wg_device_free(nc->target);
	nc->target = target;
	if (nc->addresses_set)
		save_peers(nc, peers, n);
	free(nc->peer_names);
	nc->peer_names = names;
	nc->n_peer_names = n_names;
	struct wm_wg_device *prev = nc->desired;
	size_t n_gone = 0;
	wm_key *gone = decode_gone(gone_keys, n_gone_keys, &n_gone);
	plan_desired(nc, true, gone, n_gone);
	free(gone);
	if (!nc->desired) {
		nc->desired = prev;
		prev = NULL;
		err = -ENOMEM;
	} else {
		err = apply_desired(nc, prev);
	}
	wm_wg_device_free(prev);
	/* routes beyond the mesh, forwarding, NAT: they follow the target */
	if (nc->addresses_set && nc->c.synced_cb)
		nc->c.synced_cb(nc->c.data, nc->target);
	return err;
}

int wm_netconf_detect_endpoints(const struct wm_config *cfg, struct wm_endpoint *endpoints,
				size_t *n_endpoints)
{
	*n_endpoints = 0;
	if (cfg->n_endpoints) {
		for (size_t i = 0; i < cfg->n_endpoints && *n_endpoints < WM_MAX_ENDPOINTS; i++)
			if (wm_endpoint_parse(cfg->endpoints[i], &endpoints[*n_endpoints]) == 0)
				(*n_endpoints)++;
		return 0;
	}
	struct wm_prefix *addrs = NULL;
	size_t n = 0;
	int err = wm_sys_list_addresses(cfg->interface, &addrs, &n);
	if (err)
		return err;
	for (size_t i = 0; i < n && *n_endpoints < WM_MAX_ENDPOINTS; i++) {
		struct wm_endpoint *e = &endpoints[(*n_endpoints)++];
		e->ip = addrs[i];
		e->ip.len = addrs[i].family == AF_INET ? 32 : 128;
		e->port = cfg->wireguard_port;
	}
	free(addrs);
	return 0;
}

struct wm_wg *wm_netconf_wg(const struct wm_netconf *nc)
{
	return nc->wg;
}

const struct wm_peer_name *wm_netconf_peers(const struct wm_netconf *nc, size_t *n)
{
	*n = nc->n_peer_names;
	return nc->peer_names;
}

static void close_device(struct wm_netconf *nc)
{
	struct wm_wg *wg = nc->wg;
	nc->wg = NULL;
	if (wg)
		wm_wg_close(wg, nc->close_cb, nc->close_data);
	else
		nc->close_cb(nc->close_data);
}

static void kick_timer_closed(uv_handle_t *h)
{
	close_device(h->data);
}

static void mbb_timer_closed(uv_handle_t *h)
{
	struct wm_netconf *nc = h->data;
	if (nc->kick_timer_open) {
		nc->kick_timer_open = false;
		uv_close((uv_handle_t *)&nc->kick_timer, kick_timer_closed);
		return;
	}
	close_device(nc);
}

void wm_netconf_close(struct wm_netconf *nc, void (*done_cb)(void *data), void *data)
{
	/* every row above closed first: nothing reads the peer set any more */
	wm_wg_device_free(nc->desired);
	nc->desired = NULL;
	wm_wg_device_free(nc->target);
	nc->target = NULL;
	wm_mbb_free(&nc->mbb);
	free(nc->peer_names);
	nc->peer_names = NULL;
	nc->n_peer_names = 0;
	free(nc->kicks);
	nc->kicks = NULL;
	nc->n_kicks = nc->cap_kicks = 0;
	nc->close_cb = done_cb;
	nc->close_data = data;
	if (nc->mbb_timer_open) {
		/* then the kick timer, then the device */
		nc->mbb_timer_open = false;
		uv_close((uv_handle_t *)&nc->mbb_timer, mbb_timer_closed);
		return;
	}
	if (nc->kick_timer_open) {
		/* the device closes once the timer cannot fire any more */
		nc->kick_timer_open = false;
		uv_close((uv_handle_t *)&nc->kick_timer, kick_timer_closed);
		return;
	}
	close_device(nc);
}
