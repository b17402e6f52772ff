/* Several bootstrap servers (--bootstrap-servers id1=h1:8443,id2=h2:8443,...)
 * form one mesh whatever order they start in. Everything that must agree is
 * derived from the list itself: server i gets the i-th host of the IPv4
 * network, the ULA comes from a hash of the list, and every server bootstraps
 * Raft with the same set of voters, so no second cluster can form. The only
 * thing that must be exchanged is each server's WireGuard key, which they
 * fetch from each other's API (GetBootstrapInfo) before Raft can talk over
 * the overlay. */
#include "node/server.h"
#include "rpc/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "core/error.h"
#include "core/hostport.h"
#include "core/ipam.h"
#include "services/convert.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "services/paths.h"

#define DISCOVERY_MS 500
#define INFO_TIMEOUT_MS 2000

struct wm_bootpeer {
	struct wm_server *s;
	char id[WM_NODE_ID_MAX + 1];
	char target[300];
	unsigned index; /* position in the list: the IPv4 host it gets */
	struct wm_rpc_client *client;
	bool pending, known;
	Webmesh__V1__BootstrapInfo *info;
};

/* Splits "id=host:port" (already validated by the config). */
static void split_entry(const char *entry, char *id, size_t idlen, char *target, size_t tlen)
{
	const char *eq = strchr(entry, '=');
	snprintf(id, idlen, "%.*s", (int)(eq - entry), entry);
	snprintf(target, tlen, "%s", eq + 1);
}

static struct wm_prefix host_at(const struct wm_server *s, unsigned index)
{
	uint32_t first, last;
	wm_ipam_v4_range(&s->c.cfg->ipv4_network, &first, &last);
	return wm_prefix_from_ipv4_u32(first + index, 32);
}

int wm_multiboot_plan(struct wm_server *s, char *err, size_t errlen)
{
	const struct wm_config *cfg = s->c.cfg;
	uint32_t first, last;
	if (wm_ipam_v4_range(&cfg->ipv4_network, &first, &last) < 0 ||
	    last - first + 1 < cfg->n_bootstrap_servers) {
		snprintf(err, errlen, "ipv4-network is too small for %zu bootstrap servers",
			 cfg->n_bootstrap_servers);
		return -EINVAL;
	}
	/* The ULA's 40 random bits come from the list, the network and the
	 * domain: every server computes the same, and another mesh bootstrapped
	 * from another list gets another one. */
	struct wm_strbuf in;
	wm_strbuf_init(&in);
	wm_strbuf_add(&in, "webmesh bootstrap-servers", 26);
	for (size_t i = 0; i < cfg->n_bootstrap_servers; i++)
		wm_strbuf_add(&in, cfg->bootstrap_servers[i],
			      strlen(cfg->bootstrap_servers[i]) + 1);
	char net[WM_PREFIX_STRLEN];
	wm_prefix_format(&cfg->ipv4_network, net, sizeof(net));
	wm_strbuf_add(&in, net, strlen(net) + 1);
	wm_strbuf_add(&in, cfg->domain, strlen(cfg->domain) + 1);
	if (in.failed) {
		wm_strbuf_free(&in);
		return -ENOMEM;
	}
	uint8_t digest[32];
	SHA256((const uint8_t *)in.s, in.len, digest);
	wm_strbuf_free(&in);

	int self = -1;
	free(s->bootpeers);
	s->bootpeers = calloc(cfg->n_bootstrap_servers, sizeof(*s->bootpeers));
	s->n_bootpeers = 0;
	if (!s->bootpeers)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_bootstrap_servers; i++) {
		char id[WM_NODE_ID_MAX + 1], target[300];
		split_entry(cfg->bootstrap_servers[i], id, sizeof(id), target, sizeof(target));
		for (size_t j = 0; j < s->n_bootpeers; j++)
			if (strcmp(s->bootpeers[j].id, id) == 0) {
				snprintf(err, errlen, "bootstrap-servers lists %s twice", id);
				return -EINVAL;
			}
		if (strcmp(id, s->c.node_id) == 0) {
			self = (int)i;
			continue;
		}
		struct wm_bootpeer *p = &s->bootpeers[s->n_bootpeers++];
		snprintf(p->id, sizeof(p->id), "%s", id);
		snprintf(p->target, sizeof(p->target), "%s", target);
		p->index = (unsigned)i;
		p->s = s;
	}
	if (self < 0) {
		snprintf(err, errlen,
			 "bootstrap-servers does not list this node (%s): list every initial "
			 "voter, this one included",
			 s->c.node_id);
		return -EINVAL;
	}
	memset(s->c.mesh, 0, sizeof(*s->c.mesh));
	s->c.mesh->ipv4_network = wm_prefix_network(&cfg->ipv4_network);
	s->c.mesh->ipv6_network = wm_ipam_ula48(digest);
	snprintf(s->c.mesh->domain, sizeof(s->c.mesh->domain), "%s", cfg->domain);
	*s->c.ipv4 = host_at(s, (unsigned)self);
	uint8_t kd[32];
	SHA256(s->c.public_key, WM_KEY_LEN, kd);
	*s->c.ipv6 = wm_ipam_v6_node_prefix(&s->c.mesh->ipv6_network, kd);
	return 0;
}

void wm_multiboot_initial_voters(struct wm_server *s, const char **ids, char (*addrs)[64],
				 size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < s->n_bootpeers; i++) {
		char host[WM_PREFIX_STRLEN];
		struct wm_prefix p = host_at(s, s->bootpeers[i].index);
		wm_prefix_format_addr(&p, host, sizeof(host));
		snprintf(addrs[*n], 64, "%s:%u", host, s->c.cfg->raft_port);
		ids[*n] = s->bootpeers[i].id;
		(*n)++;
	}
}

/* The other servers as WireGuard peers: their host address and key-derived
 * /112 at the endpoints they announced. */
static int configure_peers(struct wm_server *s)
{
	struct wm_arena a;
	wm_arena_init(&a);
	Webmesh__V1__WireGuardPeer **peers =
		wm_arena_alloc(&a, sizeof(*peers) * (s->n_bootpeers + 1));
	for (size_t i = 0; peers && i < s->n_bootpeers; i++) {
		const struct wm_bootpeer *bp = &s->bootpeers[i];
		struct wm_mesh_node node = {0};
		snprintf(node.id, sizeof(node.id), "%s", bp->id);
		wm_key_from_base64(bp->info->public_key, node.public_key);
		node.ipv4 = host_at(s, bp->index);
		uint8_t kd[32];
		SHA256(node.public_key, WM_KEY_LEN, kd);
		node.ipv6 = wm_ipam_v6_node_prefix(&s->c.mesh->ipv6_network, kd);
		node.raft_role = WM_ROLE_VOTER;
		for (size_t j = 0; j < bp->info->n_endpoints && node.n_endpoints < WM_MAX_ENDPOINTS;
		     j++)
			if (wm_endpoint_parse(bp->info->endpoints[j],
					      &node.endpoints[node.n_endpoints]) == 0)
				node.n_endpoints++;
		struct wm_prefix ips[2] = {node.ipv4, node.ipv6};
		struct wm_peer ps = {.node = 0, .allowed_ips = ips, .n_allowed_ips = 2};
		struct wm_peer_set set = {.peers = &ps, .n_peers = 1};
		Webmesh__V1__WireGuardPeer **one;
		size_t n1;
		if (wm_pb_peers_new(&a, &node, &set, &one, &n1) < 0)
			break;
		peers[i] = one[0];
	}
	int err = a.failed || !peers ? -ENOMEM
				     : wm_netconf_apply_peers(s->c.netconf, peers, s->n_bootpeers);
	wm_arena_free(&a);
	return err;
}

static void finish_discovery(struct wm_server *s)
{
	uv_timer_stop(&s->multiboot_timer);
	for (size_t i = 0; i < s->n_bootpeers; i++)
		if (s->bootpeers[i].client) {
			wm_rpc_client_free(s->bootpeers[i].client);
			s->bootpeers[i].client = NULL;
		}
	char err[512] = "";
	int rc = configure_peers(s);
	if (!rc)
		rc = wm_server_resume(s, err, sizeof(err));
	if (rc) {
		wm_error("%s", err[0] ? err : wm_strerror(rc));
		s->c.stop_cb(s->c.data, 1);
	}
}

static void info_cb(void *data, int status, const char *message, const uint8_t *resp, size_t len)
{
	struct wm_bootpeer *bp = data;
	struct wm_server *s = bp->s;
	bp->pending = false;
	if (s->c.stopping(s->c.data) || bp->known)
		return;
	if (status != WM_GRPC_OK) {
		wm_debug("bootstrap server %s (%s) not ready: %s: %s", bp->id, bp->target,
			 wm_grpc_status_name(status), message ? message : "");
		return;
	}
	Webmesh__V1__BootstrapInfo *info = webmesh__v1__bootstrap_info__unpack(NULL, len, resp);
	wm_key key;
	if (!info || strcmp(info->id, bp->id) != 0 ||
	    wm_key_from_base64(info->public_key, key) < 0) {
		wm_error("%s answered as %s, not as bootstrap server %s", bp->target,
			 info ? info->id : "(garbage)", bp->id);
		if (info)
			webmesh__v1__bootstrap_info__free_unpacked(info, NULL);
		s->c.stop_cb(s->c.data, 1);
		return;
	}
	bool same = info->n_bootstrap_servers == s->c.cfg->n_bootstrap_servers &&
		    strcmp(info->domain, s->c.cfg->domain) == 0;
	char net[WM_PREFIX_STRLEN];
	wm_prefix_format(&s->c.cfg->ipv4_network, net, sizeof(net));
	same = same && strcmp(info->network_ipv4, net) == 0;
	for (size_t i = 0; same && i < info->n_bootstrap_servers; i++)
		same = strcmp(info->bootstrap_servers[i], s->c.cfg->bootstrap_servers[i]) == 0;
	if (!same) {
		wm_error("bootstrap server %s was started with another bootstrap-servers list, "
			 "ipv4-network or domain: every initial voter needs the same ones",
			 bp->id);
		webmesh__v1__bootstrap_info__free_unpacked(info, NULL);
		s->c.stop_cb(s->c.data, 1);
		return;
	}
	bp->info = info;
	bp->known = true;
	wm_info("bootstrap server %s is up (key %s)", bp->id, info->public_key);
	for (size_t i = 0; i < s->n_bootpeers; i++)
		if (!s->bootpeers[i].known)
			return;
	finish_discovery(s);
}

static void discovery_cb(uv_timer_t *t)
{
	struct wm_server *s = t->data;
	if (s->c.stopping(s->c.data))
		return;
	Webmesh__V1__GetBootstrapInfoRequest req = WEBMESH__V1__GET_BOOTSTRAP_INFO_REQUEST__INIT;
	uint8_t buf[16];
	size_t len = webmesh__v1__get_bootstrap_info_request__pack(&req, buf);
	for (size_t i = 0; i < s->n_bootpeers; i++) {
		struct wm_bootpeer *bp = &s->bootpeers[i];
		if (bp->known || bp->pending)
			continue;
		if (!bp->client) {
			char host[256];
			uint16_t port;
			wm_hostport_split(bp->target, host, sizeof(host), &port);
			struct wm_rpc_client_config cc = {.host = host,
							  .port = port,
							  .tls = s->boot_tls,
							  .server_name = s->c.cfg->server_name};
			if (wm_rpc_client_new(s->c.loop, &cc, &bp->client) < 0)
				continue;
		}
		if (wm_rpc_client_unary(bp->client, WM_METHOD_NODE_GET_BOOTSTRAP_INFO, buf, len,
					INFO_TIMEOUT_MS, NULL, 0, info_cb, bp) == 0)
			bp->pending = true;
	}
}

int wm_multiboot_start(struct wm_server *s, char *err, size_t errlen)
{
	if (!s->c.cfg->ca_file && !s->c.cfg->insecure_skip_verify) {
		snprintf(err, errlen,
			 "bootstrap-servers: the servers verify each other's API certificates: "
			 "pass --ca-file FILE (or --insecure-skip-verify on a trusted network)");
		return -EINVAL;
	}
	struct wm_tls_client_opts o = {
		.ca_file = s->c.cfg->ca_file,
		.insecure_skip_verify = s->c.cfg->insecure_skip_verify,
		.verify_name = s->c.cfg->server_name,
	};
	s->boot_tls = wm_tls_client_ctx_new(&o, err, errlen);
	if (!s->boot_tls)
		return -EINVAL;
	int rc = wm_netconf_set_addresses(s->c.netconf);
	if (rc) {
		snprintf(err, errlen, "cannot configure %s: %s", s->c.cfg->interface,
			 wm_strerror(rc));
		return rc;
	}
	wm_info("waiting for the other %zu bootstrap servers", s->n_bootpeers);
	uv_timer_start(&s->multiboot_timer, discovery_cb, 0, DISCOVERY_MS);
	return 0;
}

void wm_multiboot_fill_info(const struct wm_server *s, Webmesh__V1__BootstrapInfo *info,
			    struct wm_arena *a)
{
	char key[WM_KEY_B64_LEN + 1], net[WM_PREFIX_STRLEN];
	wm_key_to_base64(s->c.public_key, key);
	wm_prefix_format(&s->c.cfg->ipv4_network, net, sizeof(net));
	info->id = (char *)s->c.node_id;
	info->public_key = wm_arena_strdup(a, key);
	info->listen_port = s->c.cfg->wireguard_port;
	info->network_ipv4 = wm_arena_strdup(a, net);
	info->domain = (char *)s->c.cfg->domain;
	info->endpoints = wm_arena_alloc(a, sizeof(char *) * (*s->c.n_endpoints + 1));
	for (size_t i = 0; info->endpoints && i < *s->c.n_endpoints; i++)
		info->endpoints[info->n_endpoints++] = wm_pb_endpoint(a, &s->c.endpoints[i]);
	info->bootstrap_servers = (char **)s->c.cfg->bootstrap_servers;
	info->n_bootstrap_servers = s->c.cfg->n_bootstrap_servers;
}

/* Called by the leader once the mesh exists: every other initial voter is
 * registered with the address its position in the list gives it. */
void wm_multiboot_register_peers(struct wm_server *s, wm_store_apply_cb cb)
{
	for (size_t i = 0; i < s->n_bootpeers; i++) {
		const struct wm_bootpeer *bp = &s->bootpeers[i];
		if (!bp->info)
			continue; /* resumed: they registered when the mesh was made */
		struct wm_prefix lease = host_at(s, bp->index);
		wm_server_register(s, bp->id, bp->info->public_key, bp->info->endpoints,
				   bp->info->n_endpoints, bp->info->listen_port, &lease, cb);
	}
}

void wm_server_free(struct wm_server *s)
{
	for (size_t i = 0; i < s->n_bootpeers; i++) {
		if (s->bootpeers[i].client)
			wm_rpc_client_free(s->bootpeers[i].client);
		if (s->bootpeers[i].info)
			webmesh__v1__bootstrap_info__free_unpacked(s->bootpeers[i].info, NULL);
	}
	free(s->bootpeers);
	s->bootpeers = NULL;
	s->n_bootpeers = 0;
	SSL_CTX_free(s->boot_tls);
	s->boot_tls = NULL;
	wm_sent_peers_free(&s->own_sent);
}
