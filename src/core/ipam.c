/* IPv4 lease arithmetic and key-derived IPv6 prefixes (RFC 4193 ULA). */
#include <errno.h>
#include <string.h>

#include "core/error.h"
#include "core/ipam.h"

int wm_ipam_v4_range(const struct wm_prefix *net, uint32_t *first, uint32_t *last)
{
	uint32_t base, size_minus_1;

	if (!net || net->family != AF_INET || net->len > 32)
		return -EINVAL;
	base = wm_prefix_ipv4_u32(net);
	size_minus_1 = net->len == 0 ? UINT32_MAX : (uint32_t)((1ull << (32 - net->len)) - 1);
	base &= ~size_minus_1;
	if (net->len >= 31) {
		/* RFC 3021: both addresses of a /31 are hosts; a /32 is one host. */
		*first = base;
		*last = base + size_minus_1;
	} else {
		*first = base + 1;
		*last = base + size_minus_1 - 1;
	}
	return 0;
}

int wm_ipam_v4_next(const struct wm_prefix *net, const uint32_t *leased, size_t n, uint32_t *out)
{
	uint32_t first, last, cand;
	size_t i = 0;
	int r;

	r = wm_ipam_v4_range(net, &first, &last);
	if (r < 0)
		return r;
	/* Walk the candidates and the sorted leases together: the first candidate
	 * the leases skip over is free. Leases outside the range are ignored. */
	cand = first;
	while (i < n && leased[i] < cand)
		i++;
	for (;;) {
		if (i < n && leased[i] == cand) {
			if (cand == last)
				return -WM_EEXHAUSTED;
			cand++;
			i++;
			continue;
		}
		*out = cand;
		return 0;
	}
}

struct wm_prefix wm_ipam_ula48(const uint8_t random40[5])
{
	struct wm_prefix p;

	memset(&p, 0, sizeof(p));
	p.family = AF_INET6;
	p.len = WM_MESH_IPV6_LEN;
	/* fd00::/8: the ULA prefix fc00::/7 with the L (locally assigned) bit set. */
	p.addr[0] = 0xfd;
	memcpy(p.addr + 1, random40, 5);
	return p;
}

struct wm_prefix wm_ipam_v6_node_prefix(const struct wm_prefix *mesh48, const uint8_t digest[32])
{
	struct wm_prefix p;

	memset(&p, 0, sizeof(p));
	p.family = AF_INET6;
	p.len = WM_NODE_IPV6_LEN;
	memcpy(p.addr, mesh48->addr, 6);
	memcpy(p.addr + 6, digest, 8);
	return p;
}

struct wm_prefix wm_ipam_v6_node_address(const struct wm_prefix *node112)
{
	struct wm_prefix p = wm_prefix_network(node112);

	p.len = 128;
	p.addr[14] = 0;
	p.addr[15] = 1;
	return p;
}
