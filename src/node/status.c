/* What this node says about itself: the Status of wmctl status and
 * Node.GetStatus, and the BootstrapInfo a server gives joiners. It reads
 * the node's facts and each component through its getters. */
#include "node/daemon.h"

#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth/pki.h"
#include "core/cmdver.h"
#include "core/ipam.h"
#include "plugin/plugin.h"
#include "services/convert.h"
#include "store/authz.h"

/* Every server names itself and its WireGuard key: a joiner learns from this
 * answer, over the TLS it verified, whom to make its node proofs for. The
 * rest is for the other servers of a multi-server bootstrap. */
void wm_status_fill_bootstrap_info(void *data, Webmesh__V1__BootstrapInfo *info, struct wm_arena *a)
{
	struct wm_daemon *d = data;
	wm_server_fill_bootstrap_info(&d->server, info, a);
}

static const char *peer_name(const struct wm_daemon *d, const wm_key key)
{
	size_t n_peers;
	const struct wm_peer_name *peers = wm_netconf_peers(&d->netconf, &n_peers);
	for (size_t i = 0; i < n_peers; i++)
		if (wm_key_equal(peers[i].key, key))
			return peers[i].id;
	return "";
}

static void fill_peers(struct wm_daemon *d, Webmesh__V1__Status *st, struct wm_arena *a)
{
	struct wm_wg_device *dev = NULL;
	struct wm_wg *wg = wm_netconf_wg(&d->netconf);
	if (!wg || wm_wg_get(wg, &dev) < 0)
		return;
	st->peers = wm_arena_alloc(a, sizeof(*st->peers) * (dev->n_peers + 1));
	for (size_t i = 0; st->peers && i < dev->n_peers; i++) {
		const struct wm_wg_peer *p = &dev->peers[i];
		Webmesh__V1__PeerStatus *ps = wm_arena_alloc(a, sizeof(*ps));
		if (!ps)
			break;
		webmesh__v1__peer_status__init(ps);
		char key[WM_KEY_B64_LEN + 1];
		wm_key_to_base64(p->public_key, key);
		ps->id = wm_arena_strdup(a, peer_name(d, p->public_key));
		ps->public_key = wm_arena_strdup(a, key);
		ps->endpoint = wm_pb_endpoint(a, &p->endpoint);
		ps->n_allowed_ips = p->n_allowed_ips;
		ps->allowed_ips = wm_arena_alloc(a, sizeof(char *) * (p->n_allowed_ips + 1));
		for (size_t j = 0; ps->allowed_ips && j < p->n_allowed_ips; j++)
			ps->allowed_ips[j] = wm_pb_prefix(a, &p->allowed_ips[j]);
		ps->last_handshake = p->last_handshake_sec;
		ps->rx_bytes = p->rx_bytes;
		ps->tx_bytes = p->tx_bytes;
		/* the path (direct, ice-direct, ice-relay), candidates, ICE bytes */
		wm_node_nat_fill_peer_status(d->nat, p->public_key, ps, a);
		st->peers[st->n_peers++] = ps;
	}
	wm_wg_device_free(dev);
}

static void fill_raft(struct wm_daemon *d, Webmesh__V1__Status *st, struct wm_arena *a)
{
	struct wm_store *store = wm_server_store(&d->server);
	/* the build's, so members say it too */
	st->command_version = WM_CMD_VERSION;
	if (!store) {
		st->raft_state = wm_arena_strdup(a, "none");
		st->leader_id = wm_arena_strdup(a, "");
		return;
	}
	struct wm_store_status rs;
	wm_store_status(store, &rs);
	st->storage = wm_arena_strdup(a, rs.storage ? rs.storage : "raft");
	st->storage_endpoints = wm_arena_strdup(a, rs.storage_endpoints);
	st->storage_revision = rs.storage_revision;
	st->storage_detail = wm_arena_strdup(a, rs.storage_detail);
	st->raft_state = wm_arena_strdup(a, rs.state);
	st->leader_id = wm_arena_strdup(a, rs.leader_id);
	st->term = rs.term;
	st->commit_index = rs.commit_index;
	st->applied_index = rs.applied_index;
	st->mesh_command_version = rs.mesh_command_version;
	st->stalled_index = rs.stalled_index;
	st->stalled_needs_version = rs.stalled_needs;
	/* Our role is what the Raft configuration says, not what we asked for:
	 * a joiner is an observer-to-be until the leader has added it. */
	st->raft_role = WEBMESH__V1__RAFT_ROLE__RAFT_ROLE_MEMBER;
	for (size_t i = 0; i < rs.n_members; i++)
		if (strcmp(rs.members[i].node_id, d->node_id) == 0)
			st->raft_role = (Webmesh__V1__RaftRole)rs.members[i].role;
	if (rs.is_leader)
		wm_services_unreachable(wm_api_services(&d->api), a, &st->unreachable_nodes,
					&st->n_unreachable_nodes);
	st->raft_members = wm_arena_alloc(a, sizeof(*st->raft_members) * (rs.n_members + 1));
	for (size_t i = 0; st->raft_members && i < rs.n_members; i++) {
		Webmesh__V1__RaftMember *m = wm_arena_alloc(a, sizeof(*m));
		if (!m)
			break;
		webmesh__v1__raft_member__init(m);
		m->id = wm_arena_strdup(a, rs.members[i].node_id);
		m->address = wm_arena_strdup(a, rs.members[i].address);
		m->role = (Webmesh__V1__RaftRole)rs.members[i].role;
		st->raft_members[st->n_raft_members++] = m;
	}
}

/* libp2p: our peer ID, listen addresses and connections, when configured. */
static char **arena_strv(struct wm_arena *a, char (*v)[128], size_t n, size_t *count)
{
	char **out = wm_arena_alloc(a, sizeof(char *) * (n ? n : 1));

	*count = 0;
	for (size_t i = 0; out && i < n; i++)
		out[(*count)++] = wm_arena_strdup(a, v[i]);
	return out;
}

static void fill_libp2p(struct wm_daemon *d, Webmesh__V1__Status *st, struct wm_arena *a)
{
	struct wm_p2p_status *ps;

	if (!d->p2p || !(ps = malloc(sizeof(*ps))))
		return;
	wm_p2p_status(d->p2p, ps);
	st->libp2p_peer_id = wm_arena_strdup(a, ps->peer_id);
	st->libp2p_listen_addrs =
		arena_strv(a, ps->listen, ps->nlisten, &st->n_libp2p_listen_addrs);
	st->libp2p_connections = wm_arena_alloc(a, sizeof(void *) * (ps->nconns ? ps->nconns : 1));
	for (size_t i = 0; st->libp2p_connections && i < ps->nconns; i++) {
		const struct wm_p2p_conn_status *cs = &ps->conns[i];
		Webmesh__V1__Libp2pConnection *c = wm_arena_alloc(a, sizeof(*c));
		if (!c)
			break;
		webmesh__v1__libp2p_connection__init(c);
		c->peer_id = wm_arena_strdup(a, cs->peer_id);
		c->address = wm_arena_strdup(a, cs->addr);
		c->outbound = cs->outbound;
		c->agent_version = wm_arena_strdup(a, cs->agent);
		c->ping_rtt_us = cs->rtt_us;
		c->protocols =
			wm_arena_alloc(a, sizeof(char *) * (cs->nprotocols ? cs->nprotocols : 1));
		for (size_t k = 0; c->protocols && k < cs->nprotocols; k++)
			c->protocols[c->n_protocols++] = wm_arena_strdup(a, cs->protocols[k]);
		c->listen_addrs =
			arena_strv(a, (char(*)[128])cs->listen, cs->nlisten, &c->n_listen_addrs);
		c->relayed = cs->relayed;
		c->hole_punched = cs->punched;
		c->relay_peer_id = wm_arena_strdup(a, cs->relay_id);
		st->libp2p_connections[st->n_libp2p_connections++] = c;
	}
	/* circuit relay v2 */
	st->libp2p_relay = ps->relay;
	st->libp2p_relay_reservations = ps->relay_reservations;
	st->libp2p_relay_circuits = ps->relay_circuits;
	st->libp2p_reservations = wm_arena_alloc(a, sizeof(void *) * (ps->nrsvps ? ps->nrsvps : 1));
	for (size_t i = 0; st->libp2p_reservations && i < ps->nrsvps; i++) {
		const struct wm_p2p_rsvp_status *rv = &ps->rsvps[i];
		Webmesh__V1__Libp2pReservation *r = wm_arena_alloc(a, sizeof(*r));
		if (!r)
			break;
		webmesh__v1__libp2p_reservation__init(r);
		r->relay_peer_id = wm_arena_strdup(a, rv->relay_id);
		r->expire = rv->expire;
		r->addrs = wm_arena_alloc(a, sizeof(char *) * (rv->naddrs ? rv->naddrs : 1));
		for (size_t k = 0; r->addrs && k < rv->naddrs; k++)
			r->addrs[r->n_addrs++] = wm_arena_strdup(a, rv->addrs[k]);
		st->libp2p_reservations[st->n_libp2p_reservations++] = r;
	}
	st->libp2p_dht_peers = ps->dht_peers;
	st->libp2p_dht_records = ps->dht_records;
	st->rendezvous_server = wm_arena_strdup(a, ps->rendezvous_server);
	free(ps);
}

void wm_status_fill(void *data, Webmesh__V1__Status *st, struct wm_arena *a)
{
	struct wm_daemon *d = data;
	char key[WM_KEY_B64_LEN + 1];
	wm_key_to_base64(d->public_key, key);
	st->id = d->node_id;
	st->version = WM_VERSION;
	st->started_at = d->started_at;
	st->public_key = wm_arena_strdup(a, key);
	st->address_ipv4 = wm_pb_prefix(a, &d->ipv4);
	/* The node's own address within its /112: ping the host part, route the prefix. */
	struct wm_prefix a6 = d->ipv6;
	if (a6.family) {
		a6 = wm_ipam_v6_node_address(&d->ipv6);
		a6.len = d->ipv6.len;
	}
	st->address_ipv6 = wm_pb_prefix(a, &a6);
	st->network_ipv4 = wm_pb_prefix(a, &d->mesh.ipv4_network);
	st->network_ipv6 = wm_pb_prefix(a, &d->mesh.ipv6_network);
	st->mesh_domain = wm_arena_strdup(a, d->mesh.domain);
	st->interface_name = (char *)d->cfg->interface;
	st->wireguard_backend =
		(char *)(wm_netconf_wg(&d->netconf) ? wm_wg_backend_name(wm_netconf_wg(&d->netconf))
						    : "");
	st->listen_port = d->cfg->wireguard_port;
	st->endpoints = wm_arena_alloc(a, sizeof(char *) * (d->n_endpoints + 1));
	for (size_t i = 0; st->endpoints && i < d->n_endpoints; i++)
		st->endpoints[st->n_endpoints++] = wm_pb_endpoint(a, &d->endpoints[i]);
	/* The server in use now: after a failover, not the one given with --join. */
	st->join_server = (char *)wm_member_server(&d->member);
	struct wm_store *store = wm_server_store(&d->server);
	st->subscribed = store ? true : wm_member_subscribed(&d->member);
	fill_raft(d, st, a);
	fill_peers(d, st, a);
	fill_libp2p(d, st, a);
	st->auth_methods = (char *)wm_auth_methods(wm_api_auth(&d->api));
	st->plugins = (char *)wm_plugins_describe(d->api.plugins);
	st->plugin_watch_dropped = wm_plugins_watch_dropped(d->api.plugins);
	st->default_network_policy = (char *)"";
	if (store) {
		struct wm_authz_snapshot az;
		if (wm_store_authz_load(store, &az) == 0) {
			st->default_network_policy = az.default_accept ? "accept" : "deny";
			wm_authz_snapshot_free(&az);
		}
	}
	st->warnings = wm_arena_alloc(a, sizeof(char *) * 3);
	if (st->warnings && store && wm_auth_is_open(wm_api_auth(&d->api)))
		st->warnings[st->n_warnings++] =
			wm_arena_strdup(a, "no authentication configured: anyone who can reach "
					   "the API port can join this mesh");
	char cert[PATH_MAX], warn[256];
	wm_api_cert_path(d->cfg, cert, sizeof(cert));
	if (st->warnings && wm_pki_expiry_warning(cert, (int64_t)time(NULL), WM_PKI_WARN_DAYS, warn,
						  sizeof(warn)) == 1)
		st->warnings[st->n_warnings++] = wm_arena_strdup(a, warn);
}
