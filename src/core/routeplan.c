/* Kernel routes beside the WireGuard peers: routed networks, default routes
 * through an exit node, and endpoint pins (see routeplan.h). */
#include "core/routeplan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/sort.h"

struct vec {
	struct wm_prefix *v;
	size_t n, cap;
};

static int vec_add(struct vec *x, const struct wm_prefix *p)
{
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 16;
		struct wm_prefix *v = realloc(x->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		x->v = v;
		x->cap = cap;
	}
	x->v[x->n++] = *p;
	return 0;
}

static int prefix_cmp(const void *a, const void *b)
{
	return wm_prefix_cmp(a, b);
}

static int pin_cmp(const void *a, const void *b)
{
	const struct wm_route *x = a, *y = b;

	return wm_prefix_cmp(&x->dst, &y->dst);
}

/* The two halves that together cover the family's whole address space. */
static int add_halves(struct vec *t, uint8_t family)
{
	struct wm_prefix lo = {.family = family, .len = 1}, hi = lo;
	int r;

	hi.addr[0] = 0x80;
	r = vec_add(t, &lo);
	return r ? r : vec_add(t, &hi);
}

const struct wm_route *wm_route_lookup(const struct wm_route *routes, size_t n,
				       const struct wm_prefix *addr)
{
	const struct wm_route *best = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct wm_route *r = &routes[i];

		if (r->dst.family != addr->family || !wm_prefix_contains(&r->dst, addr))
			continue;
		if (!best || r->dst.len > best->dst.len ||
		    (r->dst.len == best->dst.len && r->metric < best->metric))
			best = r;
	}
	return best;
}

static int plan_tunnel(const struct wm_route_plan_in *in, struct vec *t, struct wm_route_plan *out)
{
	const struct wm_wg_device *dev = in->desired;

	for (size_t i = 0; dev && i < dev->n_peers; i++) {
		const struct wm_wg_peer *peer = &dev->peers[i];

		for (size_t k = 0; k < peer->n_allowed_ips; k++) {
			struct wm_prefix p = peer->allowed_ips[k];
			bool skip = false;
			int r;

			if (!wm_prefix_valid(&p))
				continue;
			p = wm_prefix_network(&p);
			for (size_t m = 0; m < in->n_mesh && !skip; m++)
				skip = in->mesh[m].family == p.family &&
				       wm_prefix_contains(&in->mesh[m], &p);
			if (skip)
				continue; /* the interface address's prefix route has it */
			if (p.len == 0) {
				if (!in->use_exit)
					continue;
				r = add_halves(t, p.family);
				if (r)
					return r;
				if (p.family == AF_INET)
					out->exit_v4 = true;
				else
					out->exit_v6 = true;
				continue;
			}
			/* A network this host is on stays on its own link: routing it
			 * into the tunnel would cut the host off from it. */
			for (size_t l = 0; l < in->n_local && !skip; l++)
				skip = in->local[l].family == p.family &&
				       wm_prefix_contains(&p, &in->local[l]);
			if (skip) {
				out->n_skipped++;
				continue;
			}
			r = vec_add(t, &p);
			if (r)
				return r;
		}
	}
	wm_sort(t->v, t->n, sizeof(*t->v), prefix_cmp);
	{
		size_t w = 0;

		for (size_t i = 0; i < t->n; i++) {
			if (w == 0 || !wm_prefix_equal(&t->v[w - 1], &t->v[i]))
				t->v[w++] = t->v[i];
		}
		t->n = w;
	}
	return 0;
}

static bool in_tunnel(const struct vec *t, const struct wm_prefix *a)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i].family == a->family && wm_prefix_contains(&t->v[i], a))
			return true;
	}
	return false;
}

static int plan_pins(const struct wm_route_plan_in *in, const struct vec *t,
		     struct wm_route_plan *out)
{
	const struct wm_wg_device *dev = in->desired;
	struct wm_route *pins;
	size_t n = 0;

	pins = calloc(dev && dev->n_peers ? dev->n_peers : 1, sizeof(*pins));
	if (!pins)
		return -ENOMEM;
	for (size_t i = 0; dev && i < dev->n_peers; i++) {
		struct wm_prefix e = dev->peers[i].endpoint.ip;
		const struct wm_route *via;
		bool dup = false;

		if (!wm_prefix_valid(&e))
			continue;
		e.len = e.family == AF_INET ? 32 : 128;
		if (!in_tunnel(t, &e))
			continue;
		via = wm_route_lookup(in->underlay, in->n_underlay, &e);
		if (!via) {
			out->n_unpinned++;
			continue;
		}
		/* A host route of its own already beats every tunnel route. */
		if (via->dst.len == e.len)
			continue;
		for (size_t k = 0; k < n && !dup; k++)
			dup = wm_prefix_equal(&pins[k].dst, &e);
		if (dup)
			continue;
		pins[n] = *via;
		pins[n].dst = e;
		n++;
	}
	wm_sort(pins, n, sizeof(*pins), pin_cmp);
	out->pins = pins;
	out->n_pins = n;
	return 0;
}

int wm_route_plan(const struct wm_route_plan_in *in, struct wm_route_plan *out)
{
	struct vec t = {0};
	int r;

	if (!in || !out || (in->n_mesh && !in->mesh) || (in->n_local && !in->local) ||
	    (in->n_underlay && !in->underlay))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	r = plan_tunnel(in, &t, out);
	if (r == 0 && t.n)
		r = plan_pins(in, &t, out);
	if (r) {
		free(t.v);
		wm_route_plan_free(out);
		return r;
	}
	out->tunnel = t.v;
	out->n_tunnel = t.n;
	return 0;
}

void wm_route_plan_free(struct wm_route_plan *plan)
{
	if (!plan)
		return;
	free(plan->tunnel);
	free(plan->pins);
	memset(plan, 0, sizeof(*plan));
}
