/* Make before break: the plan of peers, allowed IPs and accept-only IPs while a
 * mesh address moves between peers (see mbb.h). */
#include "core/mbb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/kick.h"
#include "core/sort.h"

static const struct wm_mbb_params defaults = {
	.hold_ms = WM_MBB_HOLD_MS,
	.overlap_ms = WM_MBB_OVERLAP_MS,
	.confirm_max_ms = WM_MBB_CONFIRM_MAX_MS,
	.poll_ms = WM_MBB_POLL_MS,
};

void wm_mbb_init(struct wm_mbb *m, const wm_key self, const struct wm_mbb_params *params)
{
	memset(m, 0, sizeof(*m));
	m->p = params ? *params : defaults;
	memcpy(m->self, self, sizeof(wm_key));
}

void wm_mbb_free(struct wm_mbb *m)
{
	if (!m)
		return;
	free(m->lingers);
	free(m->fresh);
	wm_wg_device_free(m->programmed);
	m->lingers = NULL;
	m->fresh = NULL;
	m->programmed = NULL;
	m->n_lingers = m->cap_lingers = m->n_fresh = m->cap_fresh = 0;
}

void wm_mbb_set_networks(struct wm_mbb *m, const struct wm_prefix *ipv4,
			 const struct wm_prefix *ipv6)
{
	memset(m->networks, 0, sizeof(m->networks));
	if (ipv4)
		m->networks[0] = *ipv4;
	if (ipv6)
		m->networks[1] = *ipv6;
}

/* Whether p is made of mesh addresses: inside a mesh network (the network
 * itself included, as a hub carries it), or the networks are not known. A
 * default route around the network is a route: the mesh addresses in it go
 * to their own, longer prefixes. */
static bool in_mesh(const struct wm_mbb *m, const struct wm_prefix *p)
{
	bool known = false;

	for (size_t i = 0; i < 2; i++) {
		const struct wm_prefix *n = &m->networks[i];

		if (!n->family)
			continue;
		known = true;
		if (wm_prefix_contains(n, p))
			return true;
	}
	return !known;
}

static bool has_prefix(const struct wm_prefix *v, size_t n, const struct wm_prefix *p)
{
	for (size_t i = 0; i < n; i++)
		if (wm_prefix_equal(&v[i], p))
			return true;
	return false;
}

static struct wm_mbb_linger *find_linger(struct wm_mbb *m, const wm_key key,
					 const struct wm_prefix *p)
{
	for (size_t i = 0; i < m->n_lingers; i++)
		if (wm_key_equal(m->lingers[i].key, key) && wm_prefix_equal(&m->lingers[i].pfx, p))
			return &m->lingers[i];
	return NULL;
}

static int add_linger(struct wm_mbb *m, const wm_key key, const struct wm_prefix *p, uint64_t now,
		      bool sending)
{
	if (find_linger(m, key, p))
		return 0;
	if (m->n_lingers == m->cap_lingers) {
		size_t cap = m->cap_lingers ? 2 * m->cap_lingers : 8;
		struct wm_mbb_linger *n = realloc(m->lingers, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		m->lingers = n;
		m->cap_lingers = cap;
	}
	/* Two peers cannot both send one prefix: an older hold of the same
	 * prefix becomes accept-only. */
	for (size_t i = 0; sending && i < m->n_lingers; i++)
		if (!m->lingers[i].accept_since_ms && wm_prefix_equal(&m->lingers[i].pfx, p))
			m->lingers[i].accept_since_ms = now ? now : 1;
	struct wm_mbb_linger *l = &m->lingers[m->n_lingers++];

	memset(l, 0, sizeof(*l));
	memcpy(l->key, key, sizeof(wm_key));
	l->pfx = *p;
	l->since_ms = now;
	/* 0 means "sending": a clock at 0 is moved to 1 */
	l->accept_since_ms = sending ? 0 : (now ? now : 1);
	return 0;
}

static struct wm_mbb_fresh *find_fresh(struct wm_mbb *m, const wm_key key)
{
	for (size_t i = 0; i < m->n_fresh; i++)
		if (wm_key_equal(m->fresh[i].key, key))
			return &m->fresh[i];
	return NULL;
}

/* The last plan's sent prefixes, sorted, with the lengths that occur: a
 * server adding a thousand members to ten thousand asks once per new peer
 * whether it takes an address over, and must not compare every pair. */
struct sent_index {
	struct wm_prefix *v;
	size_t n;
	bool has_len[2][129]; /* [0]: IPv4, [1]: IPv6 */
};

static int prefix_qcmp(const void *a, const void *b)
{
	return wm_prefix_cmp(a, b);
}

static int index_build(struct sent_index *x, const struct wm_wg_device *prog)
{
	size_t n = 0;

	memset(x, 0, sizeof(*x));
	for (size_t i = 0; i < prog->n_peers; i++)
		n += prog->peers[i].n_allowed_ips;
	if (!n)
		return 0;
	x->v = malloc(n * sizeof(*x->v));
	if (!x->v)
		return -ENOMEM;
	for (size_t i = 0; i < prog->n_peers; i++)
		for (size_t j = 0; j < prog->peers[i].n_allowed_ips; j++) {
			struct wm_prefix p = wm_prefix_network(&prog->peers[i].allowed_ips[j]);

			x->v[x->n++] = p;
			x->has_len[p.family == AF_INET6][p.len <= 128 ? p.len : 128] = true;
		}
	wm_sort(x->v, x->n, sizeof(*x->v), prefix_qcmp);
	return 0;
}

/* The first entry not below p. */
static size_t lower_bound(const struct sent_index *x, const struct wm_prefix *p)
{
	size_t lo = 0, hi = x->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (wm_prefix_cmp(&x->v[mid], p) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Whether q overlaps a sent prefix: one of the lengths that occur holds q
 * (looked up exactly), or one lies inside q (they sort right after q's
 * network address). */
static bool index_overlaps(const struct sent_index *x, const struct wm_prefix *q)
{
	struct wm_prefix net = wm_prefix_network(q);
	int fam = net.family == AF_INET6;

	for (unsigned len = 0; len <= net.len && len <= 128; len++) {
		struct wm_prefix t = net;
		size_t at;

		if (!x->has_len[fam][len])
			continue;
		t.len = (uint8_t)len;
		t = wm_prefix_network(&t);
		at = lower_bound(x, &t);
		if (at < x->n && wm_prefix_equal(&x->v[at], &t))
			return true;
	}
	net.len = 0;
	for (size_t at = lower_bound(x, &net); at < x->n; at++) {
		const struct wm_prefix *p = &x->v[at];
		struct wm_prefix addr = *p;

		addr.len = q->len;
		if (!wm_prefix_contains(q, &addr) || p->family != q->family)
			break; /* past q's addresses */
		if (wm_prefix_contains(q, p))
			return true;
	}
	return false;
}

/* Whether one of a new peer's target prefixes overlaps a prefix the last
 * plan sends to another peer. */
static bool takes_over(const struct sent_index *x, const struct wm_wg_peer *peer)
{
	for (size_t k = 0; k < peer->n_allowed_ips; k++)
		if (index_overlaps(x, &peer->allowed_ips[k]))
			return true;
	return false;
}

/* Whether the peer's target still sends the prefix, itself or within a
 * wider one. */
static bool covers(const struct wm_wg_peer *t, const struct wm_prefix *p)
{
	for (size_t i = 0; i < t->n_allowed_ips; i++)
		if (wm_prefix_contains(&t->allowed_ips[i], p))
			return true;
	return false;
}

/* Drops the lingers of addresses no peer of the target carries any more: the
 * node left the mesh or was denied (or a route was withdrawn), and no path
 * moved, so nothing is made before the break and its old peer must not be
 * heard from it. Only a carrier (a hub's network, the node behind another
 * peer) keeps a linger. A carrier inside the address itself (the same peer
 * keeping a part of a route) counts too: that errs towards the hold. */
static int drop_uncarried(struct wm_mbb *m, const struct wm_wg_device *target)
{
	struct sent_index carried;
	size_t kept = 0;

	if (!m->n_lingers)
		return 0;
	if (index_build(&carried, target) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_lingers; i++)
		if (index_overlaps(&carried, &m->lingers[i].pfx))
			m->lingers[kept++] = m->lingers[i];
	m->n_lingers = kept;
	free(carried.v);
	return 0;
}

int wm_mbb_target(struct wm_mbb *m, const struct wm_wg_device *target, uint64_t now_ms,
		  int64_t now_wall_ns)
{
	const struct wm_wg_device *prog = m->programmed;
	int ret = 0;

	if (!target)
		return -EINVAL;
	if (!prog)
		return 0; /* nothing was programmed: nothing to move away from */
	for (size_t i = 0; i < prog->n_peers && !ret; i++) {
		const struct wm_wg_peer *o = &prog->peers[i];
		const struct wm_wg_peer *t = wm_wg_device_find_peer(target, o->public_key);

		for (size_t j = 0; j < o->n_allowed_ips && !ret; j++)
			if (!t || !covers(t, &o->allowed_ips[j]))
				ret = add_linger(m, o->public_key, &o->allowed_ips[j], now_ms,
						 true);
		/* Accepted from it until now: the far end may already send that
		 * way, so it stays accepted for a while. */
		for (size_t j = 0; j < o->n_accept_ips && !ret; j++)
			if (!t || !has_prefix(t->allowed_ips, t->n_allowed_ips, &o->accept_ips[j]))
				ret = add_linger(m, o->public_key, &o->accept_ips[j], now_ms,
						 false);
	}
	if (!ret)
		ret = drop_uncarried(m, target);
	struct sent_index sent = {0};
	bool indexed = false;

	for (size_t i = 0; i < target->n_peers && !ret; i++) {
		const struct wm_wg_peer *t = &target->peers[i];

		if (wm_wg_device_find_peer(prog, t->public_key) || find_fresh(m, t->public_key))
			continue;
		if (!indexed) {
			ret = index_build(&sent, prog);
			indexed = true;
			if (ret)
				break;
		}
		if (!takes_over(&sent, t))
			continue;
		if (m->n_fresh == m->cap_fresh) {
			size_t cap = m->cap_fresh ? 2 * m->cap_fresh : 4;
			struct wm_mbb_fresh *n = realloc(m->fresh, cap * sizeof(*n));

			if (!n) {
				ret = -ENOMEM;
				break;
			}
			m->fresh = n;
			m->cap_fresh = cap;
		}
		struct wm_mbb_fresh *f = &m->fresh[m->n_fresh++];

		memcpy(f->key, t->public_key, sizeof(wm_key));
		f->added_ms = now_ms;
		f->added_wall_ns = now_wall_ns;
		/* Both ends had peers (the old path): core/kick.h's order. */
		f->pulse_ms = now_ms + wm_kick_delay_ms(true, m->self, t->public_key);
	}
	free(sent.v);
	return ret;
}

void wm_mbb_drop_gone(struct wm_mbb *m, const wm_key *keys, size_t n)
{
	size_t kept = 0;

	for (size_t i = 0; i < m->n_lingers; i++) {
		bool gone = false;

		for (size_t k = 0; k < n && !gone; k++)
			gone = wm_key_equal(m->lingers[i].key, keys[k]);
		if (!gone)
			m->lingers[kept++] = m->lingers[i];
	}
	m->n_lingers = kept;
}

static bool fresh_overlaps(const struct wm_mbb_fresh *f, const struct wm_wg_device *target,
			   const struct wm_prefix *p)
{
	const struct wm_wg_peer *t = wm_wg_device_find_peer(target, f->key);

	for (size_t k = 0; t && k < t->n_allowed_ips; k++)
		if (wm_prefix_overlaps(&t->allowed_ips[k], p))
			return true;
	return false;
}

static void next_at(uint64_t *next, uint64_t at)
{
	if (!*next || at < *next)
		*next = at;
}

/* Updates awaited peers (confirmed by a handshake, or given up) and lingers
 * (taken back by the target, hold over, overlap over). */
static void advance(struct wm_mbb *m, const struct wm_wg_device *target,
		    const struct wm_wg_device *actual, uint64_t now, uint64_t *next)
{
	size_t kept = 0;

	for (size_t i = 0; i < m->n_fresh; i++) {
		struct wm_mbb_fresh f = m->fresh[i];
		const struct wm_wg_peer *a = actual ? wm_wg_device_find_peer(actual, f.key) : NULL;
		int64_t hs = a ? a->last_handshake_sec * 1000000000 + a->last_handshake_nsec : 0;

		if (!wm_wg_device_find_peer(target, f.key))
			continue;
		if ((a && (a->last_handshake_sec || a->last_handshake_nsec) &&
		     hs >= f.added_wall_ns) ||
		    now >= f.added_ms + m->p.confirm_max_ms)
			continue;
		m->fresh[kept++] = f;
		next_at(next, f.pulse_ms > now ? f.pulse_ms : now + m->p.poll_ms);
		next_at(next, f.added_ms + m->p.confirm_max_ms);
	}
	m->n_fresh = kept;

	kept = 0;
	for (size_t i = 0; i < m->n_lingers; i++) {
		struct wm_mbb_linger l = m->lingers[i];
		const struct wm_wg_peer *t = wm_wg_device_find_peer(target, l.key);

		if (t && covers(t, &l.pfx))
			continue; /* the target gives it back */
		if (!l.accept_since_ms) {
			bool awaited = false;

			for (size_t j = 0; j < m->n_fresh && !awaited; j++)
				awaited = fresh_overlaps(&m->fresh[j], target, &l.pfx);
			/* A confirmed handshake proves the far end has the new
			 * path (it took the address over already, in the
			 * device); a time only stands for the far end having
			 * heard of the change. */
			l.awaited |= awaited;
			/* from when it was due, however late this runs */
			if (!awaited && (l.awaited || !in_mesh(m, &l.pfx)))
				l.accept_since_ms = now ? now : 1;
			else if (!awaited && now >= l.since_ms + m->p.hold_ms)
				l.accept_since_ms = l.since_ms + m->p.hold_ms;
			else if (!awaited)
				next_at(next, l.since_ms + m->p.hold_ms);
		}
		if (l.accept_since_ms) {
			if (now >= l.accept_since_ms + m->p.overlap_ms)
				continue;
			next_at(next, l.accept_since_ms + m->p.overlap_ms);
		}
		m->lingers[kept++] = l;
	}
	m->n_lingers = kept;
}

/* The peer with key in out, copied (without addresses) from the last plan
 * when the target has none; NULL when neither has it, or on ENOMEM (*err). */
static struct wm_wg_peer *out_peer(struct wm_wg_device *out, const struct wm_wg_device *prog,
				   const wm_key key, int *err)
{
	struct wm_wg_peer *p = wm_wg_device_find_peer(out, key);
	const struct wm_wg_peer *was = prog ? wm_wg_device_find_peer(prog, key) : NULL;

	if (p || !was)
		return p;
	p = wm_wg_device_add_peer(out, key);
	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	p->flags = was->flags & (WM_WGPEER_HAS_ENDPOINT | WM_WGPEER_HAS_KEEPALIVE |
				 WM_WGPEER_REPLACE_ALLOWEDIPS);
	p->endpoint = was->endpoint;
	p->keepalive_interval = was->keepalive_interval;
	wm_wg_device_sort(out);
	return wm_wg_device_find_peer(out, key);
}

static int add_accept(struct wm_wg_peer *p, const struct wm_prefix *pfx)
{
	if (has_prefix(p->accept_ips, p->n_accept_ips, pfx) ||
	    has_prefix(p->allowed_ips, p->n_allowed_ips, pfx))
		return 0;
	return wm_wg_peer_add_accept_ip(p, pfx);
}

/* Moves allowed IP i of p to its accept-only list. */
static int hold(struct wm_wg_peer *p, size_t i)
{
	struct wm_prefix pfx = p->allowed_ips[i];

	memmove(&p->allowed_ips[i], &p->allowed_ips[i + 1],
		(p->n_allowed_ips - i - 1) * sizeof(*p->allowed_ips));
	p->n_allowed_ips--;
	return add_accept(p, &pfx);
}

/* Whether the device may make every accept-only address of p its own at p's
 * first handshake: only those the target gives p. An address p merely
 * lingers on (taken from it while it awaited its handshake) would otherwise
 * become p's at a moment p's owner chooses, taken from the peer that
 * carries it now, and p would receive that address's traffic. */
static bool may_promote(const struct wm_wg_peer *p, const struct wm_wg_device *target)
{
	const struct wm_wg_peer *t = wm_wg_device_find_peer(target, p->public_key);

	for (size_t i = 0; i < p->n_accept_ips; i++)
		if (!t || !covers(t, &p->accept_ips[i]))
			return false;
	return p->n_accept_ips > 0;
}

static int build(struct wm_mbb *m, const struct wm_wg_device *target,
		 const struct wm_wg_device *actual, uint64_t now, struct wm_wg_device *out)
{
	const struct wm_wg_device *prog = m->programmed;
	int err = 0;

	/* Peers appear first (out_peer re-sorts, which moves peers around),
	 * then addresses are placed. */
	for (size_t i = 0; i < m->n_lingers && !err; i++)
		out_peer(out, prog, m->lingers[i].key, &err);
	/* Held: a target address inside one another peer still sends (its
	 * packets keep going the old way; the far end is heard). */
	for (size_t i = 0; i < m->n_lingers && !err; i++) {
		const struct wm_mbb_linger *l = &m->lingers[i];

		if (l->accept_since_ms)
			continue;
		for (size_t k = 0; k < out->n_peers && !err; k++) {
			struct wm_wg_peer *x = &out->peers[k];

			if (wm_key_equal(x->public_key, l->key))
				continue;
			const struct wm_wg_peer *xwas =
				prog ? wm_wg_device_find_peer(prog, x->public_key) : NULL;

			for (size_t j = 0; j < x->n_allowed_ips && !err;) {
				/* x sent it already: it stays (a change undone
				 * before its hold ended). */
				if (wm_prefix_contains(&l->pfx, &x->allowed_ips[j]) &&
				    !(xwas && has_prefix(xwas->allowed_ips, xwas->n_allowed_ips,
							 &x->allowed_ips[j]))) {
					struct wm_prefix t = x->allowed_ips[j];
					struct wm_wg_peer *o = wm_wg_device_find_peer(out, l->key);

					err = hold(x, j);
					/* A new x takes it over on its own (a promoted
					 * handshake): the far end's packets still
					 * coming the old way are heard. */
					if (!err && o && find_fresh(m, x->public_key))
						err = add_accept(o, &t);
					continue;
				}
				/* x has a wider prefix around the held one:
				 * packets from l's addresses come from x too. */
				if (wm_prefix_contains(&x->allowed_ips[j], &l->pfx))
					err = add_accept(x, &l->pfx);
				j++;
			}
		}
	}
	for (size_t i = 0; i < m->n_lingers && !err; i++) {
		const struct wm_mbb_linger *l = &m->lingers[i];
		struct wm_wg_peer *p = wm_wg_device_find_peer(out, l->key);

		if (!p)
			continue; /* neither the target nor the last plan has it */
		if (l->accept_since_ms)
			err = add_accept(p, &l->pfx);
		else if (!has_prefix(p->allowed_ips, p->n_allowed_ips, &l->pfx))
			err = wm_wg_peer_add_allowed_ip(p, &l->pfx);
	}
	/* A new peer with no handshake yet takes its held addresses over at
	 * its first handshake (the device does it, WM_WGPEER_PROMOTE: no
	 * polling delay), and switching its keepalive on makes WireGuard
	 * initiate it now (with all its addresses held, no packet of ours goes
	 * to it). */
	for (size_t i = 0; i < m->n_fresh && !err; i++) {
		const struct wm_mbb_fresh *f = &m->fresh[i];
		struct wm_wg_peer *p = wm_wg_device_find_peer(out, f->key);
		const struct wm_wg_peer *a = actual ? wm_wg_device_find_peer(actual, f->key) : NULL;
		const struct wm_wg_peer *was = prog ? wm_wg_device_find_peer(prog, f->key) : NULL;
		bool pulsing = was && was->keepalive_interval && p && !p->keepalive_interval;

		if (p && may_promote(p, target))
			p->flags |= WM_WGPEER_PROMOTE;
		if (!p || p->keepalive_interval)
			continue;
		if (pulsing || (now >= f->pulse_ms && !(a && a->last_handshake_sec))) {
			p->keepalive_interval = 1;
			p->flags |= WM_WGPEER_HAS_KEEPALIVE;
		}
	}
	if (!err)
		wm_wg_device_sort(out);
	return err;
}

int wm_mbb_plan(struct wm_mbb *m, const struct wm_wg_device *target,
		const struct wm_wg_device *actual, uint64_t now_ms, struct wm_wg_device **out,
		uint64_t *next_ms)
{
	struct wm_wg_device *plan, *copy;
	int err;

	if (!m || !target || !out || !next_ms)
		return -EINVAL;
	*out = NULL;
	*next_ms = 0;
	advance(m, target, actual, now_ms, next_ms);
	plan = wm_wg_device_dup(target);
	if (!plan)
		return -ENOMEM;
	err = build(m, target, actual, now_ms, plan);
	copy = err ? NULL : wm_wg_device_dup(plan);
	if (!err && !copy)
		err = -ENOMEM;
	if (err) {
		wm_wg_device_free(plan);
		return err;
	}
	wm_wg_device_free(m->programmed);
	m->programmed = copy;
	*out = plan;
	return 0;
}
