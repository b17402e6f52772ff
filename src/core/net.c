/* IP prefixes and endpoints: strict parsing, formatting and prefix arithmetic. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/net.h"

static unsigned family_bits(uint8_t family)
{
	return family == AF_INET ? 32 : 128;
}

static size_t family_bytes(uint8_t family)
{
	return family == AF_INET ? 4 : 16;
}

bool wm_prefix_valid(const struct wm_prefix *p)
{
	return p &&
	       ((p->family == AF_INET && p->len <= 32) || (p->family == AF_INET6 && p->len <= 128));
}

/* Parses a bare address (no prefix, no brackets) of either family. */
static int addr_parse(const char *s, size_t n, struct wm_prefix *out)
{
	char buf[INET6_ADDRSTRLEN];

	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	/* inet_pton accepts only full dotted quads for AF_INET (no "1.2.3"). */
	if (memchr(buf, ':', n)) {
		if (inet_pton(AF_INET6, buf, out->addr) != 1)
			return -EINVAL;
		out->family = AF_INET6;
		out->len = 128;
	} else {
		if (inet_pton(AF_INET, buf, out->addr) != 1)
			return -EINVAL;
		out->family = AF_INET;
		out->len = 32;
	}
	return 0;
}

/* Decimal digits only: no sign, no spaces, no leading zeros, value <= max. */
static int uint_parse(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5 || (s[0] == '0' && s[1]))
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int wm_prefix_parse(const char *s, struct wm_prefix *out)
{
	struct wm_prefix p;
	const char *slash;
	unsigned long len;
	int r;

	if (!s || !out)
		return -EINVAL;
	slash = strchr(s, '/');
	r = addr_parse(s, slash ? (size_t)(slash - s) : strlen(s), &p);
	if (r < 0)
		return r;
	if (slash) {
		if (uint_parse(slash + 1, family_bits(p.family), &len) < 0)
			return -EINVAL;
		p.len = (uint8_t)len;
	}
	*out = p;
	return 0;
}

int wm_addr_parse(const char *s, struct wm_prefix *out)
{
	if (!s || !out || strchr(s, '/'))
		return -EINVAL;
	return wm_prefix_parse(s, out);
}

int wm_route_parse(const char *s, struct wm_prefix *out)
{
	struct wm_prefix p;

	if (!s || !out || !strchr(s, '/') || wm_prefix_parse(s, &p) < 0)
		return -EINVAL;
	*out = wm_prefix_network(&p);
	return 0;
}

int wm_port_parse(const char *s, uint16_t *out)
{
	unsigned long v;

	if (!s || !out || uint_parse(s, 65535, &v) < 0 || v == 0)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int wm_prefix_format_addr(const struct wm_prefix *p, char *buf, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];

	if (p->family != AF_INET && p->family != AF_INET6)
		return -EINVAL;
	if (!inet_ntop(p->family, p->addr, tmp, sizeof(tmp)))
		return -EINVAL;
	if (strlen(tmp) + 1 > len)
		return -ENOSPC;
	memcpy(buf, tmp, strlen(tmp) + 1);
	return 0;
}

int wm_prefix_format(const struct wm_prefix *p, char *buf, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];
	int n, r;

	r = wm_prefix_format_addr(p, tmp, sizeof(tmp));
	if (r < 0)
		return r;
	n = snprintf(buf, len, "%s/%u", tmp, p->len);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return 0;
}

struct wm_prefix wm_prefix_network(const struct wm_prefix *p)
{
	struct wm_prefix n = *p;
	size_t bytes = family_bytes(p->family);
	unsigned len = p->len;

	for (size_t i = 0; i < bytes; i++) {
		if (len >= 8) {
			len -= 8;
			continue;
		}
		n.addr[i] &= (uint8_t)(0xff00u >> len);
		len = 0;
	}
	for (size_t i = bytes; i < sizeof(n.addr); i++)
		n.addr[i] = 0;
	return n;
}

/* True when the first `len` bits of a and b are equal. */
static bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned len)
{
	size_t whole = len / 8;
	unsigned rest = len % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff00u >> rest);

		return (a[whole] & mask) == (b[whole] & mask);
	}
	return true;
}

bool wm_prefix_contains(const struct wm_prefix *net, const struct wm_prefix *addr)
{
	if (net->family != addr->family || (net->family != AF_INET && net->family != AF_INET6))
		return false;
	/* A wider prefix cannot fit inside a narrower network. */
	if (addr->len < net->len)
		return false;
	return bits_equal(net->addr, addr->addr, net->len);
}

bool wm_prefix_overlaps(const struct wm_prefix *a, const struct wm_prefix *b)
{
	if (a->family != b->family || (a->family != AF_INET && a->family != AF_INET6))
		return false;
	return bits_equal(a->addr, b->addr, a->len < b->len ? a->len : b->len);
}

bool wm_prefix_equal(const struct wm_prefix *a, const struct wm_prefix *b)
{
	return wm_prefix_cmp(a, b) == 0;
}

int wm_prefix_cmp(const struct wm_prefix *a, const struct wm_prefix *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr, b->addr, family_bytes(a->family));
	if (c)
		return c < 0 ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return 0;
}

uint32_t wm_prefix_ipv4_u32(const struct wm_prefix *p)
{
	return (uint32_t)p->addr[0] << 24 | (uint32_t)p->addr[1] << 16 | (uint32_t)p->addr[2] << 8 |
	       p->addr[3];
}

struct wm_prefix wm_prefix_from_ipv4_u32(uint32_t host_order, uint8_t len)
{
	struct wm_prefix p;

	memset(&p, 0, sizeof(p));
	p.family = AF_INET;
	p.len = len > 32 ? 32 : len;
	p.addr[0] = (uint8_t)(host_order >> 24);
	p.addr[1] = (uint8_t)(host_order >> 16);
	p.addr[2] = (uint8_t)(host_order >> 8);
	p.addr[3] = (uint8_t)host_order;
	return p;
}

int wm_endpoint_parse(const char *s, struct wm_endpoint *out)
{
	struct wm_endpoint e;
	const char *host, *colon;
	size_t hlen;
	unsigned long port;

	if (!s || !out)
		return -EINVAL;
	memset(&e, 0, sizeof(e));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		host = s + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
		if (addr_parse(host, hlen, &e.ip) < 0 || e.ip.family != AF_INET6)
			return -EINVAL;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		host = s;
		hlen = (size_t)(colon - s);
		/* A bare IPv6 address needs brackets, or its last group reads as a port. */
		if (memchr(host, ':', hlen))
			return -EINVAL;
		if (addr_parse(host, hlen, &e.ip) < 0 || e.ip.family != AF_INET)
			return -EINVAL;
	}
	if (uint_parse(colon + 1, 65535, &port) < 0 || port == 0)
		return -EINVAL;
	e.port = (uint16_t)port;
	*out = e;
	return 0;
}

bool wm_prefix_unmap(struct wm_prefix *p)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	struct wm_prefix v4 = {.family = AF_INET};

	if (!p || p->family != AF_INET6 || p->len < 96 ||
	    memcmp(p->addr, mapped, sizeof(mapped)) != 0)
		return false;
	v4.len = (uint8_t)(p->len - 96);
	memcpy(v4.addr, p->addr + 12, 4);
	*p = v4;
	return true;
}

bool wm_endpoint_unmap(struct wm_endpoint *e)
{
	return e && wm_prefix_unmap(&e->ip);
}

int wm_endpoint_format(const struct wm_endpoint *e, char *buf, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];
	int n, r;

	r = wm_prefix_format_addr(&e->ip, tmp, sizeof(tmp));
	if (r < 0)
		return r;
	if (e->ip.family == AF_INET6)
		n = snprintf(buf, len, "[%s]:%u", tmp, e->port);
	else
		n = snprintf(buf, len, "%s:%u", tmp, e->port);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return 0;
}

bool wm_endpoint_equal(const struct wm_endpoint *a, const struct wm_endpoint *b)
{
	return a->port == b->port && a->ip.family == b->ip.family &&
	       memcmp(a->ip.addr, b->ip.addr, family_bytes(a->ip.family)) == 0;
}

bool wm_addr_is_private(const struct wm_prefix *p)
{
	static const struct {
		uint8_t family, len, addr[16];
	} nets[] = {
		{AF_INET, 8, {10}},
		{AF_INET, 12, {172, 16}},
		{AF_INET, 16, {192, 168}},
		{AF_INET, 10, {100, 64}},
		{AF_INET, 8, {127}},
		{AF_INET, 16, {169, 254}},
		{AF_INET6, 7, {0xfc}},
		{AF_INET6, 10, {0xfe, 0x80}},
		{AF_INET6, 128, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
	};

	for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
		if (nets[i].family == p->family && bits_equal(nets[i].addr, p->addr, nets[i].len))
			return true;
	}
	return false;
}
