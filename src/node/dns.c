/* The daemon's one place for DNS: MeshDNS (src/dns/meshdns.h) fed from the
 * store, and the host resolver of --use-meshdns (src/dns/resolver.h). The
 * components know nothing of the daemon; this file gives them what they
 * read (a zone built from one read of the state per change) and when. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/hostport.h"
#include "core/error.h"
#include "core/hash.h"
#include "dns/meshdns.h"
#include "dns/resolver.h"
#include "node/dns.h"
#include "util/log.h"

/* Every answer carries it, and negative answers are cached as long: a
 * change is seen by any cache within a second. */
#define MESHDNS_TTL 1

static int load_zone(void *data, struct wm_dns_zone **out)
{
	struct wm_node_dns *dns = data;
	struct wm_mesh_info info;
	struct wm_mesh_node *nodes = NULL;
	struct wm_dns_record *recs = NULL;
	size_t n_nodes = 0, n_recs = 0;
	struct wm_store_status st;
	int err;

	if (!dns->store)
		return -WM_ENOTLEADER;
	err = wm_store_mesh_info(dns->store, &info);
	if (!err)
		err = wm_store_list_nodes(dns->store, &nodes, &n_nodes);
	if (!err)
		err = wm_store_list_dns_records(dns->store, &recs, &n_recs);
	if (!err) {
		struct wm_prefix nets[2] = {info.ipv4_network, info.ipv6_network};
		wm_store_status(dns->store, &st);
		struct wm_dns_mesh m = {.domain = info.domain,
					.self_id = dns->c.node_id,
					.leader_id = st.leader_id,
					.networks = nets,
					.n_networks = 2,
					.nodes = nodes,
					.n_nodes = n_nodes,
					.records = recs,
					.n_records = n_recs,
					.serial = (uint32_t)st.applied_index,
					.ttl = MESHDNS_TTL};
		err = wm_dns_zone_from_mesh(&m, out);
	}
	free(nodes);
	free(recs);
	return err;
}

/* The leader is not in the change feed: a new one changes leader.<domain>. */
static uint64_t zone_version(void *data)
{
	struct wm_node_dns *dns = data;
	struct wm_store_status st;

	if (!dns->store)
		return 0;
	wm_store_status(dns->store, &st);
	return wm_hash_fnv1a(st.leader_id, strlen(st.leader_id));
}

static void changed_cb(void *data, uint64_t index, const Webmesh__V1__RaftCommand *cmd)
{
	struct wm_node_dns *dns = data;
	(void)index;
	(void)cmd;
	wm_meshdns_changed(dns->meshdns);
}

static bool is_loopback(const struct wm_prefix *p)
{
	static const uint8_t v6lo[16] = {[15] = 1};
	return (p->family == AF_INET && p->addr[0] == 127) ||
	       (p->family == AF_INET6 && memcmp(p->addr, v6lo, 16) == 0);
}

int wm_node_dns_init(struct wm_node_dns *dns, const struct wm_node_dns_config *cfg, char *err,
		     size_t errlen)
{
	*dns = (struct wm_node_dns){.c = *cfg};
	const struct wm_config *c = dns->c.cfg;
	/* A server on a storage plugin (--storage etcd --serve) reads the
	 * plugin's own replica of the state. */
	bool plugin = c->storage && strcmp(c->storage, "raft") != 0;
	bool server = c->bootstrap || c->voter || c->observer || c->n_bootstrap_servers || plugin;

	if (c->meshdns_listen && !server) {
		snprintf(err, errlen,
			 "--meshdns-listen needs a replica of the mesh state: only a voter or "
			 "observer serves MeshDNS (--bootstrap, --voter or --observer)");
		return -WM_ECONFIG;
	}
	if (c->n_meshdns_forwarders && !c->meshdns_listen) {
		snprintf(err, errlen, "--meshdns-forwarders without --meshdns-listen");
		return -WM_ECONFIG;
	}
	if (c->n_meshdns_forwarders > WM_MESHDNS_MAX_FORWARDERS) {
		snprintf(err, errlen, "--meshdns-forwarders takes at most %d addresses",
			 WM_MESHDNS_MAX_FORWARDERS);
		return -WM_ECONFIG;
	}
	if (c->use_meshdns) {
		struct wm_resolver_config rc = {
			.ifname = c->interface,
			.domain = dns->c.mesh->domain[0] ? dns->c.mesh->domain : c->domain,
			.resolv_conf = getenv("WEBMESH_RESOLV_CONF")};
		int rv = wm_resolver_new(&rc, &dns->resolver);
		if (rv) {
			snprintf(err, errlen, "--use-meshdns: %s%s%s", wm_strerror(rv),
				 rv == -EINVAL ? ": the mesh domain is not a DNS name: " : "",
				 rv == -EINVAL ? rc.domain : "");
			return rv;
		}
		if (c->meshdns_server) {
			struct wm_endpoint e;
			wm_endpoint_parse(c->meshdns_server, &e);
			rv = wm_resolver_set(dns->resolver, &e, err, errlen);
			if (rv)
				return rv;
			wm_info("--use-meshdns: %s answers for %s", c->meshdns_server, rc.domain);
		}
	}
	return 0;
}

int wm_node_dns_store_opened(struct wm_node_dns *dns, struct wm_store *store, char *err,
			     size_t errlen)
{
	const struct wm_config *c = dns->c.cfg;
	struct wm_meshdns_config mc = {
		.loop = dns->c.loop, .load = load_zone, .version = zone_version, .data = dns};
	int rc;

	dns->store = store;
	if (!c->meshdns_listen && dns->resolver && !c->meshdns_server)
		wm_warn("--use-meshdns on a server without --meshdns-listen: say which MeshDNS to "
			"use with --meshdns-server IP:PORT; the resolver is left as it is");
	if (!c->meshdns_listen || dns->meshdns)
		return 0;
	wm_endpoint_parse(c->meshdns_listen, &mc.listen);
	for (size_t i = 0; i < c->n_meshdns_forwarders; i++)
		wm_endpoint_parse(c->meshdns_forwarders[i], &mc.forwarders[mc.n_forwarders++]);
	/* Never an open resolver by accident: forwarding answers anyone who
	 * reaches the address, so only loopback and the mesh qualify. */
	if (mc.n_forwarders && !c->meshdns_forward_public && !is_loopback(&mc.listen.ip) &&
	    !wm_prefix_contains(&dns->c.mesh->ipv4_network, &mc.listen.ip) &&
	    !wm_prefix_contains(&dns->c.mesh->ipv6_network, &mc.listen.ip)) {
		snprintf(err, errlen,
			 "--meshdns-forwarders on %s would make an open resolver: listen on "
			 "loopback or a mesh address, or say --meshdns-forward-public",
			 c->meshdns_listen);
		return -WM_ECONFIG;
	}
	rc = wm_meshdns_init(&mc, &dns->meshdns, err, errlen);
	if (!rc)
		rc = wm_meshdns_start(dns->meshdns, err, errlen);
	if (!rc)
		rc = wm_store_on_change(dns->store, changed_cb, dns);
	if (rc)
		return rc;
	wm_info("MeshDNS answers for %s on %s (UDP and TCP)", dns->c.mesh->domain,
		c->meshdns_listen);
	if (dns->resolver && !c->meshdns_server) {
		/* A server with MeshDNS uses its own. */
		rc = wm_resolver_set(dns->resolver, &mc.listen, err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

void wm_node_dns_servers_changed(struct wm_node_dns *dns, const char *const *servers, size_t n)
{
	char why[256];

	if (!dns->resolver || dns->c.cfg->meshdns_server || dns->meshdns)
		return;
	/* The first voter or observer learnt from the peers (HOST:API_PORT
	 * on its mesh IPv4): MeshDNS on port 53 there. */
	for (size_t i = 0; i < n; i++) {
		char host[WM_PREFIX_STRLEN + 8];
		struct wm_endpoint e = {.port = 53};
		uint16_t api_port;
		if (wm_hostport_split(servers[i], host, sizeof(host), &api_port) < 0 ||
		    wm_prefix_parse(host, &e.ip) < 0 || e.ip.family != AF_INET ||
		    !wm_prefix_contains(&dns->c.mesh->ipv4_network, &e.ip))
			continue;
		if (wm_resolver_set(dns->resolver, &e, why, sizeof(why)) < 0)
			wm_warn("--use-meshdns: %s", why);
		return;
	}
}

void wm_node_dns_close(struct wm_node_dns *dns, void (*done_cb)(void *data), void *data)
{
	/* The host's resolver first: its settings must not outlive us. */
	wm_resolver_free(dns->resolver);
	dns->resolver = NULL;
	if (!dns->meshdns) {
		done_cb(data);
		return;
	}
	if (dns->store)
		wm_store_off_change(dns->store, changed_cb, dns);
	struct wm_meshdns *m = dns->meshdns;
	dns->meshdns = NULL;
	wm_meshdns_close(m, done_cb, data);
}
