/* wmctl status: what this node is, its place in the mesh, and its peers. */
#include "cli/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/pbjson.h"
#include "webmesh/v1/node.pb-c.h"
#include "services/paths.h"

static void ago(int64_t when, char *buf, size_t len)
{
	if (when <= 0) {
		snprintf(buf, len, "never");
		return;
	}
	int64_t d = (int64_t)time(NULL) - when;
	if (d < 120)
		snprintf(buf, len, "%" PRId64 "s ago", d);
	else if (d < 7200)
		snprintf(buf, len, "%" PRId64 "m ago", d / 60);
	else
		snprintf(buf, len, "%" PRId64 "h ago", d / 3600);
}

/* libp2p (issue 11): this node's peer ID, where it listens, who it is
 * connected to and the last ping. Nothing when libp2p is off. */
static void print_libp2p(const Webmesh__V1__Status *st)
{
	if (!st->libp2p_peer_id || !st->libp2p_peer_id[0])
		return;
	printf("libp2p:     %s\n", st->libp2p_peer_id);
	for (size_t i = 0; i < st->n_libp2p_listen_addrs; i++)
		printf("            listening on %s\n", st->libp2p_listen_addrs[i]);
	for (size_t i = 0; i < st->n_libp2p_connections; i++) {
		const Webmesh__V1__Libp2pConnection *c = st->libp2p_connections[i];
		char rtt[32] = "no ping yet";
		if (c->ping_rtt_us >= 0)
			snprintf(rtt, sizeof(rtt), "ping %.1f ms", (double)c->ping_rtt_us / 1000.0);
		printf("            %s %s %s (%s, %s)%s\n", c->outbound ? "->" : "<-", c->peer_id,
		       c->address, c->agent_version[0] ? c->agent_version : "not identified", rtt,
		       c->relayed	 ? ", relayed"
		       : c->hole_punched ? ", hole punched (DCUtR)"
					 : "");
	}
	/* circuit relay v2: where we are reachable through relays, and what we
	 * carry as one */
	for (size_t i = 0; i < st->n_libp2p_reservations; i++) {
		const Webmesh__V1__Libp2pReservation *r = st->libp2p_reservations[i];
		printf("            reservation on relay %s until %" PRIu64 "\n", r->relay_peer_id,
		       r->expire);
		for (size_t k = 0; k < r->n_addrs; k++)
			printf("              reachable at %s\n", r->addrs[k]);
	}
	if (st->libp2p_relay)
		printf("            relay: %u reservations, %u circuits\n",
		       st->libp2p_relay_reservations, st->libp2p_relay_circuits);
	printf("            DHT: %u peers, %u provider records\n", st->libp2p_dht_peers,
	       st->libp2p_dht_records);
	if (st->rendezvous_server && st->rendezvous_server[0])
		printf("            joined by rendezvous through %s\n", st->rendezvous_server);
}

/* The peers whose WireGuard goes over libp2p (issue 11): directly, or
 * through a circuit relay, whose peer ID is shown. */
static void print_libp2p_paths(const Webmesh__V1__Status *st)
{
	static const char *const headers[] = {"  ID",	"PATH",	   "VIA",
					      "REMOTE", "PATH RX", "PATH TX"};
	struct wm_table *t = wm_table_new(6, headers);
	size_t n = 0;

	for (size_t i = 0; i < st->n_peers; i++) {
		const Webmesh__V1__PeerStatus *p = st->peers[i];
		if (strncmp(p->path, "libp2p-", 7) != 0)
			continue;
		char id[80], rx[32], tx[32];
		snprintf(id, sizeof(id), "  %s", p->id[0] ? p->id : "(unknown)");
		snprintf(rx, sizeof(rx), "%" PRIu64, p->libp2p_rx_bytes);
		snprintf(tx, sizeof(tx), "%" PRIu64, p->libp2p_tx_bytes);
		const char *via = p->libp2p_relay_peer_id[0] ? p->libp2p_relay_peer_id : "direct";
		const char *row[] = {id, p->path, via, p->libp2p_remote, rx, tx};
		wm_table_add(t, row);
		n++;
	}
	if (n) {
		printf("over libp2p:\n");
		wm_table_print(t);
	}
	wm_table_free(t);
}

static void print_table(const Webmesh__V1__Status *st)
{
	char role[32];
	const char *r = wm_pbjson_enum_name(&webmesh__v1__raft_role__descriptor, st->raft_role,
					    role, sizeof(role));
	printf("node:       %s (webmeshd %s)\n", st->id, st->version);
	printf("public key: %s\n", st->public_key);
	printf("addresses:  %s  %s\n", st->address_ipv4, st->address_ipv6);
	printf("mesh:       %s  %s  domain %s\n", st->network_ipv4, st->network_ipv6,
	       st->mesh_domain);
	printf("wireguard:  %s (%s), port %u\n", st->interface_name, st->wireguard_backend,
	       st->listen_port);
	printf("endpoints: ");
	for (size_t i = 0; i < st->n_endpoints; i++)
		printf(" %s", st->endpoints[i]);
	printf("%s\n", st->n_endpoints ? "" : " none");
	if (st->storage && st->storage[0] && strcmp(st->storage, "raft") != 0) {
		/* storage plugins (issue 12): no Raft on this server */
		printf("storage:    %s %s at %s, revision %" PRIu64 "\n", st->storage,
		       st->raft_state, st->storage_endpoints, st->storage_revision);
		if (st->storage_detail && st->storage_detail[0])
			printf("            %s\n", st->storage_detail);
	} else if (strcmp(st->raft_state, "none") == 0) {
		printf("raft:       not a member (%s); server %s, %s\n", r ? r : "member",
		       st->join_server, st->subscribed ? "subscribed" : "not connected");
	} else {
		printf("raft:       %s %s, leader %s, term %" PRIu64 ", commit %" PRIu64
		       ", applied %" PRIu64 "\n",
		       r ? r : "", st->raft_state, st->leader_id[0] ? st->leader_id : "(none)",
		       st->term, st->commit_index, st->applied_index);
		printf("versions:   command version %u", st->command_version);
		if (st->mesh_command_version)
			printf(", mesh %u", st->mesh_command_version);
		printf("\n");
		if (st->stalled_index)
			printf("stopped:    at Raft entry %" PRIu64
			       ", which needs command version %u: restart on a newer webmeshd\n",
			       st->stalled_index, st->stalled_needs_version);
		for (size_t i = 0; i < st->n_raft_members; i++) {
			const Webmesh__V1__RaftMember *m = st->raft_members[i];
			char mr[32];
			printf("            %s %s at %s\n", m->id,
			       wm_pbjson_enum_name(&webmesh__v1__raft_role__descriptor, m->role, mr,
						   sizeof(mr))
				       ?: "",
			       m->address);
		}
	}
	for (size_t i = 0; i < st->n_warnings; i++)
		printf("warning:    %s\n", st->warnings[i]);
	print_libp2p(st);
	printf("peers:      %zu\n", st->n_peers);
	if (st->n_peers == 0)
		return;
	static const char *const headers[] = {"  ID",	   "PATH", "ENDPOINT", "ALLOWED IPS",
					      "HANDSHAKE", "RX",   "TX"};
	struct wm_table *t = wm_table_new(7, headers);
	size_t over_ice = 0;
	for (size_t i = 0; i < st->n_peers; i++) {
		const Webmesh__V1__PeerStatus *p = st->peers[i];
		char id[80], ips[512] = "", hs[32], rx[32], tx[32];
		snprintf(id, sizeof(id), "  %s", p->id[0] ? p->id : "(unknown)");
		for (size_t j = 0; j < p->n_allowed_ips; j++) {
			size_t n = strlen(ips);
			snprintf(ips + n, sizeof(ips) - n, "%s%s", j ? "," : "", p->allowed_ips[j]);
		}
		ago(p->last_handshake, hs, sizeof(hs));
		snprintf(rx, sizeof(rx), "%" PRIu64, p->rx_bytes);
		snprintf(tx, sizeof(tx), "%" PRIu64, p->tx_bytes);
		const char *path = p->path[0] ? p->path : "direct";
		const char *row[] = {id, path, p->endpoint, ips, hs, rx, tx};
		wm_table_add(t, row);
		over_ice += strcmp(path, "direct") != 0;
	}
	wm_table_print(t);
	wm_table_free(t);
	print_libp2p_paths(st);
	for (size_t i = 0; i < st->n_peers; i++)
		if (strncmp(st->peers[i]->path, "libp2p-", 7) == 0 && !st->peers[i]->ice_state[0])
			over_ice--; /* in the table above, not ICE's */
	if (over_ice == 0)
		return;
	/* The peers over ICE: the pair carrying them and why they use it. */
	static const char *const ice_headers[] = {
		"  ID",	   "ICE",     "LOCAL CANDIDATE", "REMOTE CANDIDATE",
		"PATH RX", "PATH TX", "SESSIONS",	 "WHY"};
	t = wm_table_new(8, ice_headers);
	for (size_t i = 0; i < st->n_peers; i++) {
		const Webmesh__V1__PeerStatus *p = st->peers[i];
		if (!p->path[0] || strcmp(p->path, "direct") == 0 ||
		    (strncmp(p->path, "libp2p-", 7) == 0 && !p->ice_state[0]))
			continue;
		char id[80], rx[32], tx[32], n[16];
		snprintf(id, sizeof(id), "  %s", p->id[0] ? p->id : "(unknown)");
		snprintf(rx, sizeof(rx), "%" PRIu64, p->ice_rx_bytes);
		snprintf(tx, sizeof(tx), "%" PRIu64, p->ice_tx_bytes);
		snprintf(n, sizeof(n), "%u", p->ice_sessions);
		const char *row[] = {
			id, p->ice_state, p->local_candidate, p->remote_candidate, rx, tx,
			n,  p->ice_reason};
		wm_table_add(t, row);
		/* No pair selected yet (checking, failed): one more row per
		 * candidate gathered here and received from the peer, so that
		 * the user sees what the checks are trying. */
		if (p->local_candidate[0])
			continue;
		size_t nc = p->n_ice_local_candidates > p->n_ice_remote_candidates
				    ? p->n_ice_local_candidates
				    : p->n_ice_remote_candidates;
		for (size_t j = 0; j < nc; j++) {
			const char *cand[] = {
				"",
				j == 0 ? "candidates" : "",
				j < p->n_ice_local_candidates ? p->ice_local_candidates[j] : "",
				j < p->n_ice_remote_candidates ? p->ice_remote_candidates[j] : "",
				"",
				"",
				"",
				""};
			wm_table_add(t, cand);
		}
	}
	printf("over ICE:\n");
	wm_table_print(t);
	wm_table_free(t);
}

int wm_cmd_status(const struct wm_cli *c)
{
	Webmesh__V1__GetStatusRequest req = WEBMESH__V1__GET_STATUS_REQUEST__INIT;
	ProtobufCMessage *m = wm_cli_call(c, WM_METHOD_NODE_GET_STATUS, &req.base,
					  &webmesh__v1__status__descriptor);
	if (!m)
		return 1;
	if (c->output == WM_OUT_JSON)
		wm_cli_print_json(m);
	else
		print_table((const Webmesh__V1__Status *)m);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}
