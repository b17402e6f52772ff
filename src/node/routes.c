/* Kernel routes, endpoint pins, IP forwarding and masquerading for the mesh
 * traffic a node routes (see routes.h). */
#include "node/routes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/routeplan.h"
#include "sys/nft.h"
#include "sys/route.h"
#include "sys/sys.h"
#include "util/log.h"
#include "util/strbuf.h"

#define NAT_TABLE "webmesh-nat"

/* What sync installed, and what it needs to know. */
struct wm_routes {
	struct wm_routes_config c;
	const struct wm_wg_device *desired; /* of the sync running now */
	const struct wm_mesh_info *mesh;    /* of the sync running now */
	bool self_known;		    /* the servers told us (wm_routes_set_self) */
	bool forwarding;
	struct wm_prefix own[WM_MAX_ROUTES];
	size_t n_own;
	bool swept;		    /* the routing table was read once */
	struct wm_route *installed; /* tunnel routes and pins, as installed */
	size_t n_installed;
	bool forwarding_set; /* we switched forwarding on */
	char *nat;	     /* the NAT ruleset applied last, NULL: none */
	bool exit_logged;
	bool unpinned_logged;
};

int wm_routes_new(const struct wm_routes_config *c, struct wm_routes **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	(*out)->c = *c;
	return 0;
}

static bool is_null_backend(const struct wm_routes *st)
{
	return !st->c.wg || strcmp(wm_wg_backend_name(st->c.wg), "null") == 0;
}

void wm_routes_set_self(struct wm_routes *st, bool forwarding, char *const *own_routes,
			size_t n_own_routes)
{
	if (!st)
		return;
	st->self_known = true;
	st->forwarding = forwarding;
	st->n_own = 0;
	for (size_t i = 0; i < n_own_routes && st->n_own < WM_MAX_ROUTES; i++) {
		struct wm_prefix p;
		if (wm_prefix_parse(own_routes[i], &p) == 0)
			st->own[st->n_own++] = wm_prefix_network(&p);
		else
			wm_warn("ignoring an invalid route \"%.64s\" from the server",
				own_routes[i]);
	}
}

/* Self as the servers see it. A server computes it from its own replica
 * (self_from_replica) until someone calls set_self. */
static void self_info(struct wm_routes *st, bool *forwarding, struct wm_prefix *own, size_t *n_own)
{
	*forwarding = st->forwarding;
	*n_own = 0;
	if (!st->self_known && st->c.self_from_replica) {
		st->c.self_from_replica(st->c.data, forwarding, own, n_own);
	} else {
		memcpy(own, st->own, st->n_own * sizeof(*own));
		*n_own = st->n_own;
	}
	/* The node's own setting counts even before any server confirmed it. */
	for (size_t i = 0; i < st->c.cfg->n_routes && *n_own < WM_MAX_ROUTES; i++) {
		struct wm_prefix p;
		bool dup = false;
		if (wm_prefix_parse(st->c.cfg->routes[i], &p) < 0)
			continue;
		p = wm_prefix_network(&p);
		for (size_t k = 0; k < *n_own && !dup; k++)
			dup = wm_prefix_equal(&own[k], &p);
		if (!dup)
			own[(*n_own)++] = p;
	}
}

static int sync_forwarding(struct wm_routes *st, bool needed)
{
	if (!needed || st->forwarding_set)
		return 0;
	int err = wm_sys_set_forwarding(AF_INET, 1);
	int err6 = wm_sys_set_forwarding(AF_INET6, 1);
	if (err || err6) {
		wm_warn("cannot enable IP forwarding: %s; traffic through this node will be "
			"dropped",
			wm_strerror(err ? err : err6));
		return err ? err : err6;
	}
	wm_info("this node carries traffic for others: IP forwarding enabled");
	st->forwarding_set = true;
	return 0;
}

/* One table per family, replaced as a whole in one transaction: creating it
 * first makes the delete valid whether it existed or not. */
static void nat_family(struct wm_strbuf *b, const char *family, const char *saddr_kw,
		       const struct wm_prefix *mesh, const struct wm_prefix *own, size_t n_own,
		       uint8_t af, const char *ifname)
{
	char m[WM_PREFIX_STRLEN], p[WM_PREFIX_STRLEN];
	size_t rules = 0;

	wm_strbuf_printf(b, "table %s " NAT_TABLE "\ndelete table %s " NAT_TABLE "\n", family,
			 family);
	if (mesh->family != af)
		return;
	wm_prefix_format(mesh, m, sizeof(m));
	for (size_t i = 0; i < n_own; i++) {
		if (own[i].family != af)
			continue;
		if (rules++ == 0)
			wm_strbuf_printf(
				b,
				"table %s " NAT_TABLE " {\n chain postrouting {\n"
				"  type nat hook postrouting priority srcnat; policy accept;\n",
				family);
		wm_prefix_format(&own[i], p, sizeof(p));
		/* One rule per network: a set would refuse overlapping ones. */
		if (own[i].len == 0)
			wm_strbuf_printf(b, "  %s saddr %s oifname != \"%s\" masquerade\n",
					 saddr_kw, m, ifname);
		else
			wm_strbuf_printf(b,
					 "  %s saddr %s %s daddr %s oifname != \"%s\" masquerade\n",
					 saddr_kw, m, saddr_kw, p, ifname);
	}
	if (rules)
		wm_strbuf_printf(b, " }\n}\n");
}

/* Mesh traffic leaving this node towards the networks it advertises comes
 * from mesh addresses the hosts there have no route back to: masquerade it. */
static int sync_nat(struct wm_routes *st, const struct wm_prefix *own, size_t n_own)
{
	char err[512], *want = NULL;
	if (n_own) {
		struct wm_strbuf b;
		wm_strbuf_init(&b);
		nat_family(&b, "ip", "ip", &st->mesh->ipv4_network, own, n_own, AF_INET,
			   st->c.cfg->interface);
		nat_family(&b, "ip6", "ip6", &st->mesh->ipv6_network, own, n_own, AF_INET6,
			   st->c.cfg->interface);
		want = wm_strbuf_take(&b);
		if (!want)
			return -ENOMEM;
	}
	if ((!want && !st->nat) || (want && st->nat && strcmp(want, st->nat) == 0)) {
		free(want);
		return 0;
	}
	const char *cmds = want ? want
				: "table ip " NAT_TABLE "\ndelete table ip " NAT_TABLE "\n"
				  "table ip6 " NAT_TABLE "\ndelete table ip6 " NAT_TABLE "\n";
	int rc = wm_nft_run(cmds, err, sizeof(err));
	if (rc) {
		wm_warn("cannot set up masquerading for the advertised routes: %s", err);
		free(want);
		return rc;
	}
	if (want)
		wm_info("masquerading mesh traffic towards %zu advertised network%s", n_own,
			n_own == 1 ? "" : "s");
	free(st->nat);
	st->nat = want;
	return 0;
}

static bool route_same(const struct wm_route *a, const struct wm_route *b)
{
	return wm_prefix_equal(&a->dst, &b->dst) && a->ifindex == b->ifindex &&
	       a->metric == b->metric && a->gateway.family == b->gateway.family &&
	       (!a->gateway.family || wm_prefix_equal(&a->gateway, &b->gateway));
}

static bool has_route(const struct wm_route *v, size_t n, const struct wm_route *r)
{
	for (size_t i = 0; i < n; i++) {
		if (route_same(&v[i], r))
			return true;
	}
	return false;
}

/* The main table of both families, split into webmesh's own routes and the
 * underlay (everything else not on the tunnel). */
static int read_table(int wg_index, struct wm_route **under, size_t *n_under,
		      struct wm_route **ours, size_t *n_ours)
{
	static const int families[] = {AF_INET, AF_INET6};
	*under = *ours = NULL;
	*n_under = *n_ours = 0;
	for (size_t f = 0; f < 2; f++) {
		struct wm_route *v = NULL;
		size_t n = 0;
		int err = wm_sys_route_list(families[f], &v, &n);
		if (err == -EAFNOSUPPORT)
			continue;
		if (err)
			return err;
		struct wm_route *u = realloc(*under, (*n_under + n + 1) * sizeof(*u));
		struct wm_route *o = realloc(*ours, (*n_ours + n + 1) * sizeof(*o));
		if (u)
			*under = u;
		if (o)
			*ours = o;
		if (!u || !o) {
			free(v);
			return -ENOMEM;
		}
		for (size_t i = 0; i < n; i++) {
			if (v[i].protocol == WM_RTPROT_WEBMESH)
				(*ours)[(*n_ours)++] = v[i];
			else if (v[i].ifindex != wg_index)
				(*under)[(*n_under)++] = v[i];
		}
		free(v);
	}
	return 0;
}

/* The routes the plan wants, as they are installed: pins first (so that
 * endpoints never go through the tunnel), then the tunnel routes. A tunnel
 * route equal to one the host has already is left to the host. */
static int wanted_routes(const struct wm_route_plan *plan, int wg_index,
			 const struct wm_route *under, size_t n_under, struct wm_route **out,
			 size_t *n_out)
{
	struct wm_route *v = calloc(plan->n_pins + plan->n_tunnel + 1, sizeof(*v));
	size_t n = 0;
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < plan->n_pins; i++) {
		v[n] = plan->pins[i];
		v[n].protocol = WM_RTPROT_WEBMESH;
		n++;
	}
	for (size_t i = 0; i < plan->n_tunnel; i++) {
		bool hosts = false;
		for (size_t k = 0; k < n_under && !hosts; k++)
			hosts = wm_prefix_equal(&under[k].dst, &plan->tunnel[i]);
		if (hosts)
			continue;
		/* IPv6 routes get metric 1024 when none is given: say it, so
		 * that the route read back compares equal. */
		v[n] = (struct wm_route){.dst = plan->tunnel[i],
					 .ifindex = wg_index,
					 .metric = plan->tunnel[i].family == AF_INET6 ? 1024 : 0,
					 .protocol = WM_RTPROT_WEBMESH};
		n++;
	}
	*out = v;
	*n_out = n;
	return 0;
}

static void log_route(const char *what, const struct wm_route *r, int err)
{
	char dst[WM_PREFIX_STRLEN], gw[WM_PREFIX_STRLEN] = "";
	wm_prefix_format(&r->dst, dst, sizeof(dst));
	if (r->gateway.family)
		wm_prefix_format_addr(&r->gateway, gw, sizeof(gw));
	if (err)
		wm_warn("cannot %s the route to %s%s%s: %s", what, dst, gw[0] ? " via " : "", gw,
			wm_strerror(err));
	else
		wm_debug("%s route %s%s%s dev #%d", what, dst, gw[0] ? " via " : "", gw,
			 r->ifindex);
}

static int sync_kernel_routes(struct wm_routes *st)
{
	struct wm_prefix mesh[2];
	size_t n_mesh = 0;
	if (st->mesh->ipv4_network.family)
		mesh[n_mesh++] = st->mesh->ipv4_network;
	if (st->mesh->ipv6_network.family)
		mesh[n_mesh++] = st->mesh->ipv6_network;
	struct wm_route_plan_in in = {
		.desired = st->desired,
		.mesh = mesh,
		.n_mesh = n_mesh,
		.use_exit = st->c.cfg->use_exit_node != NULL,
	};
	struct wm_route_plan plan;
	/* A first plan without the host's state: most nodes route nothing
	 * beyond the mesh and need not read the routing table at all. */
	int err = wm_route_plan(&in, &plan);
	if (err)
		return err;
	bool nothing = plan.n_tunnel == 0;
	wm_route_plan_free(&plan);
	if (nothing && st->n_installed == 0 && st->swept)
		return 0;

	int wg_index = wm_sys_link_index(st->c.cfg->interface);
	if (wg_index < 0)
		return wg_index;
	struct wm_route *under = NULL, *ours = NULL, *want = NULL;
	struct wm_prefix *local = NULL;
	size_t n_under = 0, n_ours = 0, n_want = 0, n_local = 0;
	err = read_table(wg_index, &under, &n_under, &ours, &n_ours);
	if (!err && !nothing)
		err = wm_sys_list_addresses(st->c.cfg->interface, &local, &n_local);
	if (!err) {
		in.local = local;
		in.n_local = n_local;
		in.underlay = under;
		in.n_underlay = n_under;
		err = wm_route_plan(&in, &plan);
	}
	if (err) {
		free(under);
		free(ours);
		free(local);
		return err;
	}
	/* What is installed is what the kernel has, not what we remember: a
	 * restarted wireguard-go took its routes with it, and routes a crashed
	 * earlier run left are ours to keep or drop. */
	free(st->installed);
	st->installed = ours;
	st->n_installed = n_ours;
	ours = NULL;
	st->swept = true;
	err = wanted_routes(&plan, wg_index, under, n_under, &want, &n_want);
	if (err)
		goto out;
	if ((plan.exit_v4 || plan.exit_v6) && !st->exit_logged) {
		wm_info("default traffic goes through the mesh (use-exit-node %s); %zu endpoint%s "
			"pinned to the underlay",
			st->c.cfg->use_exit_node, plan.n_pins, plan.n_pins == 1 ? "" : "s");
		st->exit_logged = true;
	} else if (!plan.exit_v4 && !plan.exit_v6 && st->c.cfg->use_exit_node && !st->exit_logged) {
		wm_warn("use-exit-node %s: no peer carries a default route yet",
			st->c.cfg->use_exit_node);
	}
	if (plan.n_unpinned && !st->unpinned_logged) {
		wm_warn("%zu peer endpoint%s inside routes through the mesh have no underlay "
			"route to pin: their tunnels may loop",
			plan.n_unpinned, plan.n_unpinned == 1 ? "" : "s");
		st->unpinned_logged = true;
	}
	/* Removals of tunnel routes before pins, additions of pins before
	 * tunnel routes (want lists pins first). */
	for (size_t pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < st->n_installed; i++) {
			struct wm_route *r = &st->installed[i];
			bool is_pin = r->ifindex != wg_index;
			if (is_pin != (pass == 1) || has_route(want, n_want, r))
				continue;
			int rc = wm_sys_route_remove(r);
			log_route("remove", r, rc == -ESRCH ? 0 : rc);
		}
	}
	for (size_t i = 0; i < n_want; i++) {
		if (has_route(st->installed, st->n_installed, &want[i]))
			continue;
		int rc = wm_sys_route_set(&want[i]);
		log_route("add", &want[i], rc);
		if (rc && !err)
			err = rc;
	}
	free(st->installed);
	st->installed = want;
	st->n_installed = n_want;
	want = NULL;
out:
	wm_route_plan_free(&plan);
	free(want);
	free(under);
	free(ours);
	free(local);
	return err;
}

int wm_routes_sync(struct wm_routes *st, const struct wm_wg_device *desired,
		   const struct wm_mesh_info *mesh)
{
	if (!st || is_null_backend(st) || !desired)
		return 0;
	st->desired = desired;
	st->mesh = mesh;
	bool forwarding;
	struct wm_prefix own[WM_MAX_ROUTES];
	size_t n_own;
	self_info(st, &forwarding, own, &n_own);
	int err = sync_forwarding(st, forwarding || n_own > 0);
	int rc = sync_nat(st, own, n_own);
	if (!err)
		err = rc;
	rc = sync_kernel_routes(st);
	if (rc)
		wm_warn("cannot bring the routes of %s up to date: %s", st->c.cfg->interface,
			wm_strerror(rc));
	return err ? err : rc;
}

void wm_routes_free(struct wm_routes *st)
{
	if (!st)
		return;
	int wg_index = wm_sys_link_index(st->c.cfg->interface);
	/* Tunnel routes first: until they are gone the pins keep the
	 * endpoints reachable. */
	for (size_t pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < st->n_installed; i++) {
			struct wm_route *r = &st->installed[i];
			if ((r->ifindex != wg_index) != (pass == 1))
				continue;
			int rc = wm_sys_route_remove(r);
			log_route("remove", r, rc == -ESRCH || rc == -ENODEV ? 0 : rc);
		}
	}
	if (st->n_installed)
		wm_info("removed %zu route%s of this node", st->n_installed,
			st->n_installed == 1 ? "" : "s");
	if (st->nat) {
		char err[512];
		if (wm_nft_run("table ip " NAT_TABLE "\ndelete table ip " NAT_TABLE "\n"
			       "table ip6 " NAT_TABLE "\ndelete table ip6 " NAT_TABLE "\n",
			       err, sizeof(err)))
			wm_warn("cannot remove the NAT tables: %s", err);
	}
	free(st->installed);
	free(st->nat);
	free(st);
}
