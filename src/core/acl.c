/* Network ACLs: first match by priority, peering decisions and nftables rules. */
#include "core/acl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/rbac.h"

/* Iterates the items of a comma list: *item/len for each; false at the end. */
struct iter {
	const char *s;
};

static bool next_item(struct iter *it, const char **item, size_t *len)
{
	const char *c;

	if (!it->s || !*it->s)
		return false;
	c = strchr(it->s, ',');
	*item = it->s;
	*len = c ? (size_t)(c - it->s) : strlen(it->s);
	it->s = c ? c + 1 : NULL;
	return true;
}

static bool empty(const char *s)
{
	return !s || !*s;
}

static void copy_item(const char *item, size_t len, char *out, size_t outlen)
{
	if (len >= outlen)
		len = outlen - 1;
	memcpy(out, item, len);
	out[len] = '\0';
}

static int parse_port_item(const char *item, size_t len, uint16_t *lo, uint16_t *hi)
{
	char buf[16];
	char *dash, *end;
	unsigned long a, b;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	copy_item(item, len, buf, sizeof(buf));
	if (buf[0] < '0' || buf[0] > '9')
		return -EINVAL;
	dash = strchr(buf, '-');
	a = strtoul(buf, &end, 10);
	if (dash) {
		if (end != dash || dash[1] < '0' || dash[1] > '9')
			return -EINVAL;
		b = strtoul(dash + 1, &end, 10);
	} else {
		b = a;
	}
	if (*end || a < 1 || b > 65535 || a > b)
		return -EINVAL;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

static int protocols_mask(const char *s, int *mask)
{
	struct iter it = {s};
	const char *item;
	size_t len;

	*mask = 0;
	while (next_item(&it, &item, &len)) {
		if (len == 3 && strncmp(item, "tcp", 3) == 0)
			*mask |= WM_ACL_TCP;
		else if (len == 3 && strncmp(item, "udp", 3) == 0)
			*mask |= WM_ACL_UDP;
		else if (len == 4 && strncmp(item, "icmp", 4) == 0)
			*mask |= WM_ACL_ICMP;
		else
			return -EINVAL;
	}
	return 0;
}

static int vset(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int vset(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int count_check(const char *field, const char *s, char *err, size_t errlen)
{
	struct iter it = {s};
	const char *item;
	size_t len, n = 0;

	if (s && strlen(s) > 64 * 64)
		return vset(err, errlen, "%s is too long", field);
	while (next_item(&it, &item, &len)) {
		if (len == 0)
			return vset(err, errlen, "%s has an empty item", field);
		if (++n > WM_ACL_LIST_MAX)
			return vset(err, errlen, "%s has more than %d items", field,
				    WM_ACL_LIST_MAX);
	}
	if (s && *s && s[strlen(s) - 1] == ',')
		return vset(err, errlen, "%s has an empty item", field);
	return 0;
}

static int nodes_check(const char *field, const char *s, char *err, size_t errlen)
{
	struct iter it = {s};
	const char *item, *why = NULL;
	size_t len;
	char buf[WM_RBAC_NAME_MAX + 8];

	if (count_check(field, s, err, errlen))
		return -EINVAL;
	while (next_item(&it, &item, &len)) {
		if (len >= sizeof(buf))
			return vset(err, errlen, "%s has an over-long item", field);
		copy_item(item, len, buf, sizeof(buf));
		if (strcmp(buf, "*") == 0)
			continue;
		if (strncmp(buf, "group:", 6) == 0) {
			if (wm_rbac_name_check(buf + 6, &why) < 0)
				return vset(err, errlen, "%s: group \"%.64s\" %s", field, buf + 6,
					    why);
			continue;
		}
		if (wm_node_id_check(buf, &why) < 0)
			return vset(err, errlen,
				    "%s: \"%.64s\" is not a node ID, \"*\" or group:NAME (it %s)",
				    field, buf, why);
	}
	return 0;
}

static int cidrs_check(const char *field, const char *s, char *err, size_t errlen)
{
	struct iter it = {s};
	const char *item;
	size_t len;
	char buf[WM_PREFIX_STRLEN];
	struct wm_prefix p;

	if (count_check(field, s, err, errlen))
		return -EINVAL;
	while (next_item(&it, &item, &len)) {
		if (len >= sizeof(buf))
			return vset(err, errlen, "%s has an over-long item", field);
		copy_item(item, len, buf, sizeof(buf));
		if (wm_prefix_parse(buf, &p) < 0)
			return vset(err, errlen, "%s: \"%s\" is not an IP prefix", field, buf);
	}
	return 0;
}

int wm_acl_validate(const struct wm_acl *a, char *err, size_t errlen)
{
	const char *why = NULL;
	struct iter it;
	const char *item;
	size_t len;
	int mask;

	if (!a)
		return -EINVAL;
	if (wm_rbac_name_check(a->name, &why) < 0)
		return vset(err, errlen, "ACL name \"%.64s\" %s", a->name ? a->name : "", why);
	if (nodes_check("source nodes", a->src_nodes, err, errlen) ||
	    nodes_check("destination nodes", a->dst_nodes, err, errlen) ||
	    cidrs_check("source CIDRs", a->src_cidrs, err, errlen) ||
	    cidrs_check("destination CIDRs", a->dst_cidrs, err, errlen) ||
	    count_check("protocols", a->protocols, err, errlen) ||
	    count_check("ports", a->ports, err, errlen))
		return -EINVAL;
	if (protocols_mask(a->protocols, &mask) < 0)
		return vset(err, errlen, "protocols \"%.64s\": each must be tcp, udp or icmp",
			    a->protocols);
	it.s = a->ports;
	while (next_item(&it, &item, &len)) {
		uint16_t lo, hi;
		char buf[32];
		if (parse_port_item(item, len, &lo, &hi) < 0) {
			copy_item(item, len, buf, sizeof(buf));
			return vset(err, errlen,
				    "port \"%s\" is not a port (1-65535) or a range LOW-HIGH", buf);
		}
	}
	if (!empty(a->ports) && (mask & WM_ACL_ICMP))
		return vset(err, errlen, "ports apply to tcp and udp only, not to icmp");
	return 0;
}

/* ---- evaluation ---- */

static bool node_selected(const struct wm_acl_set *s, const char *list, const char *id)
{
	struct iter it = {list};
	const char *item;
	size_t len, idn = id ? strlen(id) : 0;
	char group[WM_RBAC_NAME_MAX + 1];

	if (empty(list))
		return true;
	while (next_item(&it, &item, &len)) {
		if (len == 1 && item[0] == '*')
			return true;
		if (!idn)
			continue;
		if (len > 6 && strncmp(item, "group:", 6) == 0) {
			copy_item(item + 6, len - 6, group, sizeof(group));
			if (s->in_group && s->in_group(s->ctx, group, id))
				return true;
		} else if (len == idn && memcmp(item, id, len) == 0) {
			return true;
		}
	}
	return false;
}

static bool cidr_selected(const char *list, const struct wm_prefix *addr)
{
	struct iter it = {list};
	const char *item;
	size_t len;
	char buf[WM_PREFIX_STRLEN];
	struct wm_prefix p;

	if (empty(list))
		return true;
	while (next_item(&it, &item, &len)) {
		if (len >= sizeof(buf))
			continue;
		copy_item(item, len, buf, sizeof(buf));
		if (wm_prefix_parse(buf, &p) == 0 && addr->family == p.family &&
		    wm_prefix_contains(&p, addr))
			return true;
	}
	return false;
}

static int effective_mask(const struct wm_acl *a)
{
	int mask = 0;
	protocols_mask(a->protocols, &mask);
	if (!mask && !empty(a->ports))
		mask = WM_ACL_TCP | WM_ACL_UDP;
	return mask;
}

static bool port_selected(const char *list, uint16_t port)
{
	struct iter it = {list};
	const char *item;
	size_t len;
	uint16_t lo, hi;

	if (empty(list))
		return true;
	while (next_item(&it, &item, &len))
		if (parse_port_item(item, len, &lo, &hi) == 0 && port >= lo && port <= hi)
			return true;
	return false;
}

void wm_acl_order(const struct wm_acl_set *s, size_t *idx)
{
	/* Insertion sort keeps this re-entrant without qsort_r: ACL lists are
	 * short, and the comparison is a total order so the result is unique. */
	for (size_t i = 0; i < s->n; i++)
		idx[i] = i;
	for (size_t i = 1; i < s->n; i++) {
		size_t v = idx[i], j = i;
		for (; j > 0; j--) {
			const struct wm_acl *a = &s->acls[idx[j - 1]], *b = &s->acls[v];
			int c = a->priority != b->priority
					? (a->priority > b->priority ? -1 : 1)
					: strcmp(a->name ? a->name : "", b->name ? b->name : "");
			if (c <= 0)
				break;
			idx[j] = idx[j - 1];
		}
		idx[j] = v;
	}
}

bool wm_acl_allows(const struct wm_acl_set *s, const struct wm_acl_packet *p, const char **which)
{
	size_t stack[64], *idx = s->n <= 64 ? stack : malloc(s->n * sizeof(*idx));
	bool verdict = s->default_accept;

	if (which)
		*which = NULL;
	if (!idx)
		return false; /* out of memory: fail closed */
	wm_acl_order(s, idx);
	for (size_t k = 0; k < s->n; k++) {
		const struct wm_acl *a = &s->acls[idx[k]];
		int mask = effective_mask(a);
		if (!node_selected(s, a->src_nodes, p->src_node) ||
		    !node_selected(s, a->dst_nodes, p->dst_node) ||
		    !cidr_selected(a->src_cidrs, &p->src) || !cidr_selected(a->dst_cidrs, &p->dst))
			continue;
		if (mask && !(mask & p->protocol))
			continue;
		if (!empty(a->ports) && (!(p->protocol & (WM_ACL_TCP | WM_ACL_UDP)) ||
					 !port_selected(a->ports, p->dport)))
			continue;
		verdict = a->accept;
		if (which)
			*which = a->name;
		break;
	}
	if (idx != stack)
		free(idx);
	return verdict;
}

static bool direction_allows(const struct wm_acl_set *s, const size_t *idx, const char *from,
			     const char *to)
{
	for (size_t k = 0; k < s->n; k++) {
		const struct wm_acl *a = &s->acls[idx[k]];
		bool limited = !empty(a->src_cidrs) || !empty(a->dst_cidrs) ||
			       !empty(a->protocols) || !empty(a->ports);
		if (!node_selected(s, a->src_nodes, from) || !node_selected(s, a->dst_nodes, to))
			continue;
		if (!limited)
			return a->accept;
		if (a->accept)
			return true;
	}
	return s->default_accept;
}

bool wm_acl_allows_peering(const struct wm_acl_set *s, const char *a, const char *b)
{
	size_t stack[64], *idx;
	bool ok;

	if (!s || !a || !b)
		return false;
	idx = s->n <= 64 ? stack : malloc(s->n * sizeof(*idx));
	if (!idx)
		return false;
	wm_acl_order(s, idx);
	ok = direction_allows(s, idx, a, b) || direction_allows(s, idx, b, a);
	if (idx != stack)
		free(idx);
	return ok;
}

/* ---- nftables ---- */

struct out {
	char *p;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->p ? o->p + o->len : NULL, o->p ? o->cap - o->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = true;
			return;
		}
		if (o->p && (size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = (o->cap + (size_t)n + 1) * 2;
		char *p = realloc(o->p, cap);
		if (!p) {
			o->oom = true;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
}

#define CHAINS                                                                                     \
	"add table inet webmesh\n"                                                                 \
	"add chain inet webmesh acl\n"                                                             \
	"add chain inet webmesh acl-input { type filter hook input priority 0; policy accept; }\n" \
	"add chain inet webmesh acl-forward { type filter hook forward priority 0; policy "        \
	"accept; }\n"                                                                              \
	"flush chain inet webmesh acl-input\n"                                                     \
	"flush chain inet webmesh acl-forward\n"                                                   \
	"flush chain inet webmesh acl\n"

/* One element of an address match " FAM DIR { a, b }": the i-th (from 0)
 * opens the set. */
static void put_set_item(struct out *o, size_t i, const char *fam, const char *dir,
			 const char *item)
{
	if (i == 0)
		put(o, " %s %s { %s", fam, dir, item);
	else
		put(o, ", %s", item);
}

/* Closes a set of n elements; false when it has none (nothing to match). */
static bool put_set_end(struct out *o, size_t n)
{
	if (!n)
		return false;
	put(o, " }");
	return true;
}

/* Writes " FAM DIR { a, b }" for the nodes a selector picks, plus the CIDRs
 * of the family. Returns false when the selector is limited but nothing of
 * the family is left (the rule can match nothing). */
static bool put_addrs(struct out *o, const struct wm_acl_set *s, const struct wm_mesh_node *nodes,
		      size_t n_nodes, const char *sel, const char *cidrs, int family,
		      const char *dir)
{
	const char *fam = family == AF_INET ? "ip" : "ip6";
	char buf[WM_PREFIX_STRLEN];
	bool any_node = empty(sel);
	struct iter it = {sel};
	const char *item;
	size_t len, count = 0;

	while (!any_node && next_item(&it, &item, &len))
		if (len == 1 && item[0] == '*')
			any_node = true;
	if (!any_node) {
		for (size_t i = 0; i < n_nodes; i++) {
			const struct wm_prefix *a =
				family == AF_INET ? &nodes[i].ipv4 : &nodes[i].ipv6;
			if (a->family != family || !node_selected(s, sel, nodes[i].id))
				continue;
			struct wm_prefix net = wm_prefix_network(a);
			if (wm_prefix_format(&net, buf, sizeof(buf)) < 0)
				continue;
			put_set_item(o, count++, fam, dir, buf);
		}
		if (!put_set_end(o, count))
			return false;
	}
	if (!empty(cidrs)) {
		size_t c = 0;
		it.s = cidrs;
		while (next_item(&it, &item, &len)) {
			struct wm_prefix p;
			copy_item(item, len, buf, sizeof(buf));
			if (wm_prefix_parse(buf, &p) < 0 || p.family != family)
				continue;
			p = wm_prefix_network(&p);
			wm_prefix_format(&p, buf, sizeof(buf));
			put_set_item(o, c++, fam, dir, buf);
		}
		if (!put_set_end(o, c))
			return false;
	}
	return true;
}

static void put_proto_ports(struct out *o, const struct wm_acl *a, int family)
{
	int mask = effective_mask(a);
	const char *icmp = family == AF_INET ? "icmp" : family == AF_INET6 ? "ipv6-icmp" : NULL;
	const char *names[4];
	size_t n = 0;

	if (mask & WM_ACL_TCP)
		names[n++] = "tcp";
	if (mask & WM_ACL_UDP)
		names[n++] = "udp";
	if (mask & WM_ACL_ICMP) {
		if (icmp) {
			names[n++] = icmp;
		} else {
			names[n++] = "icmp";
			names[n++] = "ipv6-icmp";
		}
	}
	if (n == 1)
		put(o, " meta l4proto %s", names[0]);
	else if (n > 1) {
		put(o, " meta l4proto {");
		for (size_t i = 0; i < n; i++)
			put(o, "%s %s", i ? "," : "", names[i]);
		put(o, " }");
	}
	if (!empty(a->ports)) {
		struct iter it = {a->ports};
		const char *item;
		size_t len, i = 0;
		put(o, " th dport {");
		while (next_item(&it, &item, &len)) {
			uint16_t lo, hi;
			if (parse_port_item(item, len, &lo, &hi) < 0)
				continue;
			if (lo == hi)
				put(o, "%s %u", i++ ? "," : "", lo);
			else
				put(o, "%s %u-%u", i++ ? "," : "", lo, hi);
		}
		put(o, " }");
	}
}

static bool selector_limited(const char *sel)
{
	struct iter it = {sel};
	const char *item;
	size_t len;

	if (empty(sel))
		return false;
	while (next_item(&it, &item, &len))
		if (len == 1 && item[0] == '*')
			return false;
	return true;
}

static void put_rule(struct out *o, const struct wm_acl_set *s, const struct wm_acl *a,
		     const struct wm_mesh_node *nodes, size_t n_nodes)
{
	bool by_family = selector_limited(a->src_nodes) || selector_limited(a->dst_nodes) ||
			 !empty(a->src_cidrs) || !empty(a->dst_cidrs);
	static const int families[] = {AF_INET, AF_INET6};

	if (!by_family) {
		put(o, "add rule inet webmesh acl");
		put_proto_ports(o, a, 0);
		put(o, " counter %s comment \"%s\"\n", a->accept ? "accept" : "drop", a->name);
		return;
	}
	for (size_t f = 0; f < 2; f++) {
		struct out r = {0};
		put(&r, "add rule inet webmesh acl");
		if (!put_addrs(&r, s, nodes, n_nodes, a->src_nodes, a->src_cidrs, families[f],
			       "saddr") ||
		    !put_addrs(&r, s, nodes, n_nodes, a->dst_nodes, a->dst_cidrs, families[f],
			       "daddr")) {
			free(r.p);
			continue;
		}
		put_proto_ports(&r, a, families[f]);
		put(&r, " counter %s comment \"%s\"\n", a->accept ? "accept" : "drop", a->name);
		if (r.oom)
			o->oom = true;
		else
			put(o, "%s", r.p);
		free(r.p);
	}
}

int wm_acl_nft_render(const struct wm_acl_set *s, const struct wm_mesh_node *nodes, size_t n_nodes,
		      const char *ifname, char **out)
{
	struct out o = {0};
	size_t *idx;

	*out = NULL;
	if (!s || wm_ifname_check(ifname, NULL) < 0)
		return -EINVAL;
	for (size_t i = 0; i < s->n; i++)
		if (wm_acl_validate(&s->acls[i], NULL, 0) < 0)
			return -EINVAL;
	idx = malloc((s->n ? s->n : 1) * sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	wm_acl_order(s, idx);
	put(&o, CHAINS);
	put(&o, "add rule inet webmesh acl-input iifname \"%s\" jump acl\n", ifname);
	put(&o, "add rule inet webmesh acl-forward iifname \"%s\" jump acl\n", ifname);
	/* Replies to connections this side opened pass: an ACL says who may
	 * open a connection to whom. */
	put(&o, "add rule inet webmesh acl ct state established,related accept\n");
	for (size_t k = 0; k < s->n; k++)
		put_rule(&o, s, &s->acls[idx[k]], nodes, n_nodes);
	put(&o, "add rule inet webmesh acl counter %s comment \"default policy\"\n",
	    s->default_accept ? "accept" : "drop");
	free(idx);
	if (o.oom) {
		free(o.p);
		return -ENOMEM;
	}
	*out = o.p;
	return 0;
}

int wm_acl_nft_remove(char **out)
{
	*out = strdup(CHAINS "delete chain inet webmesh acl-input\n"
			     "delete chain inet webmesh acl-forward\n"
			     "delete chain inet webmesh acl\n");
	return *out ? 0 : -ENOMEM;
}
