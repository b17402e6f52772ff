/* WireGuard device descriptions: allocation, ordering and the desired-vs-actual diff. */
#include "core/wgconf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/sort.h"

struct wm_wg_device *wm_wg_device_new(const char *name)
{
	struct wm_wg_device *dev = calloc(1, sizeof(*dev));

	if (!dev)
		return NULL;
	if (name) {
		size_t n = strnlen(name, WM_IFNAMSIZ - 1);

		memcpy(dev->name, name, n);
		dev->name[n] = '\0';
	}
	return dev;
}

/* Grows *arr (of *cap entries of size sz) to hold at least need entries. A cap
 * below n (a caller built the array by hand) is treated as exact. */
static int grow(void **arr, size_t *cap, size_t n, size_t need, size_t sz)
{
	size_t ncap;
	void *p;

	if (*cap >= need && *cap >= n)
		return 0;
	ncap = *cap > n ? *cap : n;
	if (ncap < 4)
		ncap = 4;
	while (ncap < need) {
		if (ncap > ((size_t)-1) / 2 / sz)
			return -ENOMEM;
		ncap *= 2;
	}
	p = realloc(*arr, ncap * sz);
	if (!p)
		return -ENOMEM;
	memset((char *)p + n * sz, 0, (ncap - n) * sz);
	*arr = p;
	*cap = ncap;
	return 0;
}

struct wm_wg_peer *wm_wg_device_add_peer(struct wm_wg_device *dev, const wm_key key)
{
	struct wm_wg_peer *peer;

	if (!dev)
		return NULL;
	if (grow((void **)&dev->peers, &dev->cap_peers, dev->n_peers, dev->n_peers + 1,
		 sizeof(*dev->peers)) < 0)
		return NULL;
	peer = &dev->peers[dev->n_peers++];
	memset(peer, 0, sizeof(*peer));
	if (key)
		memcpy(peer->public_key, key, WM_KEY_LEN);
	return peer;
}

int wm_wg_peer_add_allowed_ip(struct wm_wg_peer *peer, const struct wm_prefix *p)
{
	int ret;

	if (!peer || !p)
		return -EINVAL;
	if (!wm_prefix_valid(p))
		return -EINVAL;
	ret = grow((void **)&peer->allowed_ips, &peer->cap_allowed_ips, peer->n_allowed_ips,
		   peer->n_allowed_ips + 1, sizeof(*peer->allowed_ips));
	if (ret < 0)
		return ret;
	peer->allowed_ips[peer->n_allowed_ips++] = *p;
	return 0;
}

int wm_wg_peer_add_accept_ip(struct wm_wg_peer *peer, const struct wm_prefix *p)
{
	int ret;

	if (!peer || !p)
		return -EINVAL;
	if (!wm_prefix_valid(p))
		return -EINVAL;
	ret = grow((void **)&peer->accept_ips, &peer->cap_accept_ips, peer->n_accept_ips,
		   peer->n_accept_ips + 1, sizeof(*peer->accept_ips));
	if (ret < 0)
		return ret;
	peer->accept_ips[peer->n_accept_ips++] = *p;
	return 0;
}

void wm_wg_device_free(struct wm_wg_device *dev)
{
	if (!dev)
		return;
	for (size_t i = 0; i < dev->n_peers; i++) {
		free(dev->peers[i].allowed_ips);
		free(dev->peers[i].accept_ips);
	}
	free(dev->peers);
	wm_wipe(dev->private_key, sizeof(dev->private_key));
	free(dev);
}

static int peer_cmp(const void *a, const void *b)
{
	const struct wm_wg_peer *pa = a, *pb = b;

	return memcmp(pa->public_key, pb->public_key, WM_KEY_LEN);
}

static int prefix_qcmp(const void *a, const void *b)
{
	return wm_prefix_cmp(a, b);
}

void wm_wg_device_sort(struct wm_wg_device *dev)
{
	if (!dev)
		return;
	wm_sort(dev->peers, dev->n_peers, sizeof(*dev->peers), peer_cmp);
	for (size_t i = 0; i < dev->n_peers; i++) {
		struct wm_wg_peer *p = &dev->peers[i];

		wm_sort(p->allowed_ips, p->n_allowed_ips, sizeof(*p->allowed_ips), prefix_qcmp);
		wm_sort(p->accept_ips, p->n_accept_ips, sizeof(*p->accept_ips), prefix_qcmp);
	}
}

struct wm_wg_peer *wm_wg_device_find_peer(const struct wm_wg_device *dev, const wm_key key)
{
	size_t lo = 0, hi;

	if (!dev || !key)
		return NULL;
	hi = dev->n_peers;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(dev->peers[mid].public_key, key, WM_KEY_LEN);

		if (c == 0)
			return &dev->peers[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Copies src's scalar fields and allowed IPs into a freshly added peer. */
static int peer_copy_ips(struct wm_wg_peer *dst, const struct wm_wg_peer *src)
{
	for (size_t i = 0; i < src->n_allowed_ips; i++) {
		int ret = wm_wg_peer_add_allowed_ip(dst, &src->allowed_ips[i]);

		if (ret < 0)
			return ret;
	}
	for (size_t i = 0; i < src->n_accept_ips; i++) {
		int ret = wm_wg_peer_add_accept_ip(dst, &src->accept_ips[i]);

		if (ret < 0)
			return ret;
	}
	return 0;
}

struct wm_wg_device *wm_wg_device_dup(const struct wm_wg_device *dev)
{
	struct wm_wg_device *out;

	if (!dev)
		return NULL;
	out = wm_wg_device_new(dev->name);
	if (!out)
		return NULL;
	out->flags = dev->flags;
	memcpy(out->private_key, dev->private_key, WM_KEY_LEN);
	memcpy(out->public_key, dev->public_key, WM_KEY_LEN);
	out->listen_port = dev->listen_port;
	out->fwmark = dev->fwmark;
	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct wm_wg_peer *s = &dev->peers[i];
		struct wm_wg_peer *d = wm_wg_device_add_peer(out, s->public_key);

		if (!d)
			goto fail;
		d->flags = s->flags;
		d->endpoint = s->endpoint;
		d->keepalive_interval = s->keepalive_interval;
		d->rx_bytes = s->rx_bytes;
		d->tx_bytes = s->tx_bytes;
		d->last_handshake_sec = s->last_handshake_sec;
		d->last_handshake_nsec = s->last_handshake_nsec;
		d->protocol_version = s->protocol_version;
		if (peer_copy_ips(d, s) < 0)
			goto fail;
	}
	return out;
fail:
	wm_wg_device_free(out);
	return NULL;
}

/* WireGuard stores allowed IPs with host bits cleared, so compare them that way
 * or a desired "10.1.2.3/24" would differ from what the device reports forever. */
static bool prefixes_equal(const struct wm_prefix *a, size_t na, const struct wm_prefix *b,
			   size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		struct wm_prefix x = wm_prefix_network(&a[i]);
		struct wm_prefix y = wm_prefix_network(&b[i]);

		if (wm_prefix_cmp(&x, &y) != 0)
			return false;
	}
	return true;
}

static bool allowed_ips_equal(const struct wm_wg_peer *a, const struct wm_wg_peer *b)
{
	return prefixes_equal(a->allowed_ips, a->n_allowed_ips, b->allowed_ips, b->n_allowed_ips) &&
	       prefixes_equal(a->accept_ips, a->n_accept_ips, b->accept_ips, b->n_accept_ips);
}

/* Both WireGuard implementations clamp a private key (RFC 7748) when it is set
 * and report it clamped: compare clamped forms, or an unclamped key would
 * differ from the device forever. */
static bool private_keys_equal(const wm_key a, const wm_key b)
{
	wm_key x, y;
	bool eq;

	memcpy(x, a, WM_KEY_LEN);
	memcpy(y, b, WM_KEY_LEN);
	x[0] &= 248;
	x[31] = (uint8_t)((x[31] & 127) | 64);
	y[0] &= 248;
	y[31] = (uint8_t)((y[31] & 127) | 64);
	eq = wm_key_equal(x, y);
	wm_wipe(x, sizeof(x));
	wm_wipe(y, sizeof(y));
	return eq;
}

static int emit_remove(struct wm_wg_device *upd, const struct wm_wg_peer *a)
{
	struct wm_wg_peer *p = wm_wg_device_add_peer(upd, a->public_key);

	if (!p)
		return -ENOMEM;
	p->flags = WM_WGPEER_REMOVE_ME;
	return 0;
}

static int emit_add(struct wm_wg_device *upd, const struct wm_wg_peer *d)
{
	struct wm_wg_peer *p = wm_wg_device_add_peer(upd, d->public_key);

	if (!p)
		return -ENOMEM;
	p->flags = WM_WGPEER_REPLACE_ALLOWEDIPS;
	if (d->endpoint.ip.family) {
		p->flags |= WM_WGPEER_HAS_ENDPOINT;
		p->endpoint = d->endpoint;
	}
	if (d->keepalive_interval) {
		p->flags |= WM_WGPEER_HAS_KEEPALIVE;
		p->keepalive_interval = d->keepalive_interval;
	}
	p->flags |= d->flags & WM_WGPEER_PROMOTE;
	return peer_copy_ips(p, d);
}

static int emit_change(struct wm_wg_device *upd, const struct wm_wg_peer *a,
		       const struct wm_wg_peer *d)
{
	uint32_t flags = 0;
	struct wm_wg_peer *p;

	if (d->endpoint.ip.family && !wm_endpoint_equal(&a->endpoint, &d->endpoint))
		flags |= WM_WGPEER_HAS_ENDPOINT;
	if (a->keepalive_interval != d->keepalive_interval)
		flags |= WM_WGPEER_HAS_KEEPALIVE;
	/* The promote mark travels with the lists it is about. */
	if (!allowed_ips_equal(a, d) ||
	    (a->flags & WM_WGPEER_PROMOTE) != (d->flags & WM_WGPEER_PROMOTE))
		flags |= WM_WGPEER_REPLACE_ALLOWEDIPS | (d->flags & WM_WGPEER_PROMOTE);
	if (!flags)
		return 0;
	p = wm_wg_device_add_peer(upd, d->public_key);
	if (!p)
		return -ENOMEM;
	p->flags = flags;
	if (flags & WM_WGPEER_HAS_ENDPOINT)
		p->endpoint = d->endpoint;
	if (flags & WM_WGPEER_HAS_KEEPALIVE)
		p->keepalive_interval = d->keepalive_interval;
	if (flags & WM_WGPEER_REPLACE_ALLOWEDIPS)
		return peer_copy_ips(p, d);
	return 0;
}

int wm_wg_diff(const struct wm_wg_device *actual, const struct wm_wg_device *desired,
	       struct wm_wg_device **update)
{
	struct wm_wg_device *upd;
	size_t i, j;
	int ret = 0;

	if (!actual || !desired || !update)
		return -EINVAL;
	*update = NULL;
	upd = wm_wg_device_new(desired->name[0] ? desired->name : actual->name);
	if (!upd)
		return -ENOMEM;

	if (!wm_key_is_zero(desired->private_key) &&
	    !private_keys_equal(desired->private_key, actual->private_key)) {
		upd->flags |= WM_WGDEV_HAS_PRIVATE_KEY;
		memcpy(upd->private_key, desired->private_key, WM_KEY_LEN);
	}
	if (desired->listen_port && desired->listen_port != actual->listen_port) {
		upd->flags |= WM_WGDEV_HAS_LISTEN_PORT;
		upd->listen_port = desired->listen_port;
	}
	if (((desired->flags & WM_WGDEV_HAS_FWMARK) || desired->fwmark) &&
	    desired->fwmark != actual->fwmark) {
		upd->flags |= WM_WGDEV_HAS_FWMARK;
		upd->fwmark = desired->fwmark;
	}

	/* Removals go first: a new peer may take over an allowed IP (or the
	 * kernel's peer budget) that a departing one still holds. */
	for (i = 0, j = 0; i < actual->n_peers && ret == 0;) {
		int c = j < desired->n_peers ? memcmp(actual->peers[i].public_key,
						      desired->peers[j].public_key, WM_KEY_LEN)
					     : -1;

		if (c < 0)
			ret = emit_remove(upd, &actual->peers[i++]);
		else if (c > 0)
			j++;
		else
			i++, j++;
	}
	for (i = 0, j = 0; j < desired->n_peers && ret == 0;) {
		int c = i < actual->n_peers ? memcmp(actual->peers[i].public_key,
						     desired->peers[j].public_key, WM_KEY_LEN)
					    : 1;

		if (c < 0)
			i++;
		else if (c > 0)
			ret = emit_add(upd, &desired->peers[j++]);
		else
			ret = emit_change(upd, &actual->peers[i++], &desired->peers[j++]);
	}
	if (ret < 0) {
		wm_wg_device_free(upd);
		return ret;
	}
	if (!upd->flags && !upd->n_peers) {
		wm_wg_device_free(upd);
		return 0;
	}
	*update = upd;
	return 0;
}

/* Internal mark for a peer removed during an apply; compacted away at its end. */
#define PEER_DEAD (1u << 31)

static int upd_cmp(const void *a, const void *b)
{
	const struct wm_wg_peer *pa = *(const struct wm_wg_peer *const *)a;
	const struct wm_wg_peer *pb = *(const struct wm_wg_peer *const *)b;
	int c = memcmp(pa->public_key, pb->public_key, WM_KEY_LEN);

	/* Same key: keep the update's order (the peers lie in one array). */
	if (c)
		return c;
	return pa < pb ? -1 : pa > pb;
}

static int peer_apply(struct wm_wg_device *dev, size_t *slot, const struct wm_wg_peer *u)
{
	struct wm_wg_peer *p = *slot != SIZE_MAX ? &dev->peers[*slot] : NULL;

	if (p && (p->flags & PEER_DEAD))
		p = NULL;
	if (u->flags & WM_WGPEER_REMOVE_ME) {
		if (p) {
			p->flags = PEER_DEAD;
			p->n_allowed_ips = 0;
			p->n_accept_ips = 0;
		}
		return 0;
	}
	if (!p) {
		if (u->flags & WM_WGPEER_UPDATE_ONLY)
			return 0;
		if (*slot != SIZE_MAX) {
			/* Removed earlier in this update: revive the slot. */
			p = &dev->peers[*slot];
			p->flags = 0;
			memset(&p->endpoint, 0, sizeof(p->endpoint));
			p->keepalive_interval = 0;
			p->rx_bytes = p->tx_bytes = 0;
			p->last_handshake_sec = p->last_handshake_nsec = 0;
		} else {
			p = wm_wg_device_add_peer(dev, u->public_key);
			if (!p)
				return -ENOMEM;
			*slot = dev->n_peers - 1;
		}
	}
	if (u->flags & WM_WGPEER_HAS_ENDPOINT) {
		if (u->endpoint.ip.family != AF_INET && u->endpoint.ip.family != AF_INET6)
			return -EINVAL;
		p->endpoint = u->endpoint;
		p->flags |= WM_WGPEER_HAS_ENDPOINT;
	}
	if (u->flags & WM_WGPEER_HAS_KEEPALIVE)
		p->keepalive_interval = u->keepalive_interval;
	if (u->flags & WM_WGPEER_REPLACE_ALLOWEDIPS) {
		p->n_allowed_ips = 0;
		p->n_accept_ips = 0;
		p->flags = (p->flags & ~WM_WGPEER_PROMOTE) | (u->flags & WM_WGPEER_PROMOTE);
	}
	for (size_t i = 0; i < u->n_accept_ips; i++) {
		struct wm_prefix net;
		bool dup = false;
		int ret;

		if (u->accept_ips[i].family != AF_INET && u->accept_ips[i].family != AF_INET6)
			return -EINVAL;
		net = wm_prefix_network(&u->accept_ips[i]);
		for (size_t j = 0; j < p->n_accept_ips && !dup; j++)
			dup = wm_prefix_cmp(&p->accept_ips[j], &net) == 0;
		if (dup)
			continue;
		ret = wm_wg_peer_add_accept_ip(p, &net);
		if (ret < 0)
			return ret;
	}
	for (size_t i = 0; i < u->n_allowed_ips; i++) {
		struct wm_prefix net;
		bool dup = false;
		int ret;

		if (u->allowed_ips[i].family != AF_INET && u->allowed_ips[i].family != AF_INET6)
			return -EINVAL;
		net = wm_prefix_network(&u->allowed_ips[i]);
		for (size_t j = 0; j < p->n_allowed_ips && !dup; j++)
			dup = wm_prefix_cmp(&p->allowed_ips[j], &net) == 0;
		if (dup)
			continue;
		ret = wm_wg_peer_add_allowed_ip(p, &net);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void compact(struct wm_wg_device *dev)
{
	size_t out = 0;

	for (size_t i = 0; i < dev->n_peers; i++) {
		if (dev->peers[i].flags & PEER_DEAD) {
			free(dev->peers[i].allowed_ips);
			free(dev->peers[i].accept_ips);
			continue;
		}
		if (out != i)
			dev->peers[out] = dev->peers[i];
		out++;
	}
	dev->n_peers = out;
}

/* Runs in O((n + m) log m): update peers are visited in key order (stable
 * for repeated keys) alongside the sorted device, new peers are appended and
 * removed ones marked, then the device is compacted and sorted once. */
int wm_wg_device_apply(struct wm_wg_device *dev, const struct wm_wg_device *update)
{
	const struct wm_wg_peer **order = NULL;
	size_t nsorted, cur = 0, slot = SIZE_MAX;
	int ret = 0;

	if (!dev || !update)
		return -EINVAL;
	if (update->flags & WM_WGDEV_HAS_PRIVATE_KEY) {
		memcpy(dev->private_key, update->private_key, WM_KEY_LEN);
		dev->flags |= WM_WGDEV_HAS_PRIVATE_KEY;
	}
	if (update->flags & WM_WGDEV_HAS_LISTEN_PORT) {
		dev->listen_port = update->listen_port;
		dev->flags |= WM_WGDEV_HAS_LISTEN_PORT;
	}
	if (update->flags & WM_WGDEV_HAS_FWMARK) {
		dev->fwmark = update->fwmark;
		dev->flags |= WM_WGDEV_HAS_FWMARK;
	}
	if (update->flags & WM_WGDEV_REPLACE_PEERS) {
		for (size_t i = 0; i < dev->n_peers; i++) {
			free(dev->peers[i].allowed_ips);
			free(dev->peers[i].accept_ips);
		}
		dev->n_peers = 0;
	}
	if (!update->n_peers)
		return 0;
	order = malloc(update->n_peers * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < update->n_peers; i++)
		order[i] = &update->peers[i];
	wm_sort(order, update->n_peers, sizeof(*order), upd_cmp);
	wm_wg_device_sort(dev);
	nsorted = dev->n_peers;
	for (size_t i = 0; i < update->n_peers && !ret; i++) {
		const struct wm_wg_peer *u = order[i];

		if (i == 0 || memcmp(order[i - 1]->public_key, u->public_key, WM_KEY_LEN) != 0) {
			while (cur < nsorted &&
			       memcmp(dev->peers[cur].public_key, u->public_key, WM_KEY_LEN) < 0)
				cur++;
			slot = cur < nsorted && memcmp(dev->peers[cur].public_key, u->public_key,
						       WM_KEY_LEN) == 0
				       ? cur
				       : SIZE_MAX;
		}
		ret = peer_apply(dev, &slot, u);
	}
	free(order);
	compact(dev);
	wm_wg_device_sort(dev);
	return ret;
}
