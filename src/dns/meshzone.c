/* The records of a mesh as MeshDNS serves them (see zone.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/ipam.h"
#include "core/key.h"
#include "dns/dnsmsg.h"
#include "dns/zone.h"

static const char *role_name(int role)
{
	return role == WM_ROLE_VOTER ? "voter" : role == WM_ROLE_OBSERVER ? "observer" : "member";
}

/* The addresses a node has on its interface: the IPv4 lease, and the first
 * address of its /112 (core/ipam.c), not the prefix. */
static struct wm_prefix node_v6(const struct wm_mesh_node *n)
{
	return n->ipv6.family == AF_INET6 ? wm_ipam_v6_node_address(&n->ipv6) : n->ipv6;
}

static int add_addrs(struct wm_dns_zone *z, const char *owner, const struct wm_mesh_node *n)
{
	int err = 0;
	struct wm_prefix v6 = node_v6(n);
	if (n->ipv4.family == AF_INET)
		err = wm_dns_zone_add(z, owner, WM_DNS_A, n->ipv4.addr, 4);
	if (!err && v6.family == AF_INET6)
		err = wm_dns_zone_add(z, owner, WM_DNS_AAAA, v6.addr, 16);
	return err;
}

static int add_node(struct wm_dns_zone *z, const struct wm_dns_mesh *m,
		    const struct wm_mesh_node *n)
{
	char owner[WM_DNS_NAME_MAX + 1], rev[128];
	char key[WM_KEY_B64_LEN + 1], keytxt[WM_KEY_B64_LEN + 8], role[24];
	char eps[WM_MAX_ENDPOINTS][WM_ENDPOINT_STRLEN + 16];
	const char *txt[2 + WM_MAX_ENDPOINTS];
	size_t nt = 0;
	int err;

	if (snprintf(owner, sizeof(owner), "%s.%s", n->id, m->domain) >= (int)sizeof(owner))
		return 0; /* cannot be named in this domain */
	err = add_addrs(z, owner, n);
	wm_key_to_base64(n->public_key, key);
	snprintf(keytxt, sizeof(keytxt), "key=%s", key);
	snprintf(role, sizeof(role), "role=%s", role_name(n->raft_role));
	txt[nt++] = keytxt;
	txt[nt++] = role;
	for (size_t i = 0; i < n->n_endpoints && i < WM_MAX_ENDPOINTS; i++) {
		char ep[WM_ENDPOINT_STRLEN];
		if (wm_endpoint_format(&n->endpoints[i], ep, sizeof(ep)) < 0)
			continue;
		snprintf(eps[i], sizeof(eps[i]), "endpoint=%s", ep);
		txt[nt++] = eps[i];
	}
	if (!err)
		err = wm_dns_zone_add_txt(z, owner, txt, nt);
	/* PTR for each mesh address inside a mesh network (the reverse zones). */
	struct wm_prefix v6 = node_v6(n);
	const struct wm_prefix *addrs[2] = {&n->ipv4, &v6};
	for (int i = 0; !err && i < 2; i++) {
		bool inside = false;
		for (size_t k = 0; k < m->n_networks; k++)
			inside |= addrs[i]->family && wm_prefix_contains(&m->networks[k], addrs[i]);
		if (!inside || wm_dns_reverse_name(addrs[i], rev, sizeof(rev)) < 0)
			continue;
		err = wm_dns_zone_add(z, rev, WM_DNS_PTR, owner, strlen(owner));
	}
	return err;
}

int wm_dns_zone_from_mesh(const struct wm_dns_mesh *m, struct wm_dns_zone **out)
{
	char ns[WM_DNS_NAME_MAX + 1], name[WM_DNS_NAME_MAX + 1];
	struct wm_dns_zone *z;
	int err;

	if (snprintf(ns, sizeof(ns), "%s.%s", m->self_id, m->domain) >= (int)sizeof(ns))
		return -EINVAL;
	err = wm_dns_zone_new(m->domain, ns, m->serial, m->ttl, &z);
	if (err)
		return err;
	for (size_t i = 0; !err && i < m->n_networks && i < 2; i++)
		err = wm_dns_zone_add_reverse(z, &m->networks[i]);
	for (size_t i = 0; !err && i < m->n_nodes; i++)
		err = add_node(z, m, &m->nodes[i]);
	if (!err && m->leader_id && m->leader_id[0]) {
		snprintf(ns, sizeof(ns), "%s.%s", m->leader_id, m->domain);
		snprintf(name, sizeof(name), "leader.%s", m->domain);
		err = wm_dns_zone_add(z, name, WM_DNS_CNAME, ns, strlen(ns));
	}
	static const int roles[2] = {WM_ROLE_VOTER, WM_ROLE_OBSERVER};
	static const char *const sets[2] = {"voters", "observers"};
	for (int s = 0; !err && s < 2; s++) {
		snprintf(name, sizeof(name), "%s.%s", sets[s], m->domain);
		for (size_t i = 0; !err && i < m->n_nodes; i++)
			if (m->nodes[i].raft_role == roles[s])
				err = add_addrs(z, name, &m->nodes[i]);
	}
	/* User records go where the mesh has no name of its own: a node that
	 * joins later under a user record's name takes it over. */
	bool skip = false;
	for (size_t i = 0; !err && i < m->n_records; i++) {
		if (i == 0 || strcmp(m->records[i - 1].name, m->records[i].name) != 0)
			skip = wm_dns_zone_has(z, m->records[i].name);
		if (skip)
			continue;
		err = wm_dns_zone_add_record(z, &m->records[i]);
		if (err == -EINVAL) /* stored by an older rule: skip, never fail the zone */
			err = 0;
	}
	if (!err)
		err = wm_dns_zone_seal(z);
	if (err) {
		wm_dns_zone_free(z);
		return err;
	}
	*out = z;
	return 0;
}
