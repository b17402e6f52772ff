/* DNS name syntax and reverse names (see dnsname.h). */
#include "core/dnsname.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int wm_dns_name_check(const char *name, unsigned flags, const char **why)
{
	const char *dummy;
	size_t n = name ? strnlen(name, WM_DNS_NAME_MAX + 1) : 0, label = 0;

	if (!why)
		why = &dummy;
	if (n == 0) {
		*why = "is empty";
		return -EINVAL;
	}
	if (n > WM_DNS_NAME_MAX) {
		*why = "is longer than 253 characters";
		return -EINVAL;
	}
	if ((flags & WM_DNS_NAME_WILDCARD) && name[0] == '*') {
		if (name[1] != '.') {
			*why = "may have '*' only as a whole first label (*.example)";
			return -EINVAL;
		}
		name += 2;
		n -= 2;
		if (n == 0) {
			*why = "is a bare '*'";
			return -EINVAL;
		}
	}
	for (size_t i = 0; i <= n; i++) {
		char c = name[i];

		if (c == '.' || c == '\0') {
			if (label == 0) {
				*why = "has an empty label";
				return -EINVAL;
			}
			if (name[i - 1] == '-') {
				*why = "has a label ending in '-'";
				return -EINVAL;
			}
			label = 0;
			continue;
		}
		if (label == 0 && c == '-') {
			*why = "has a label starting with '-'";
			return -EINVAL;
		}
		if (label == 0 && c == '_' && (flags & WM_DNS_NAME_UNDERSCORE)) {
			label++;
			continue;
		}
		if (!(is_lower_alnum(c) || c == '-' ||
		      ((flags & WM_DNS_NAME_UPPER) && c >= 'A' && c <= 'Z'))) {
			*why = (flags & WM_DNS_NAME_UPPER)
				       ? "may only contain letters, digits, '-' and '.'"
				       : "may only contain a-z, 0-9, '-' and '.'";
			return -EINVAL;
		}
		if (++label > WM_DNS_LABEL_MAX) {
			*why = "has a label longer than 63 characters";
			return -EINVAL;
		}
	}
	return 0;
}

bool wm_dns_name_in(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);

	if (n < d || strcasecmp(name + n - d, domain) != 0)
		return false;
	return n == d || name[n - d - 1] == '.';
}

static const char hexd[] = "0123456789abcdef";

/* The reverse labels of the first bits of addr (whole octets or nibbles). */
static int reverse(const struct wm_prefix *a, unsigned bits, char *out, size_t len)
{
	size_t pos = 0;
	int w;

	if (a->family == AF_INET) {
		for (int i = (int)bits / 8 - 1; i >= 0; i--) {
			w = snprintf(out + pos, len - pos, "%u.", a->addr[i]);
			if (w < 0 || (size_t)w >= len - pos)
				return -ENOSPC;
			pos += (size_t)w;
		}
		w = snprintf(out + pos, len - pos, "in-addr.arpa");
	} else if (a->family == AF_INET6) {
		for (int i = (int)bits / 4 - 1; i >= 0; i--) {
			uint8_t b = a->addr[i / 2];
			char c = hexd[i % 2 ? b & 15 : b >> 4];

			if (len - pos < 3)
				return -ENOSPC;
			out[pos++] = c;
			out[pos++] = '.';
		}
		w = snprintf(out + pos, len - pos, "ip6.arpa");
	} else {
		return -EINVAL;
	}
	return w < 0 || (size_t)w >= len - pos ? -ENOSPC : 0;
}

int wm_dns_reverse_name(const struct wm_prefix *addr, char *out, size_t len)
{
	return reverse(addr, addr->family == AF_INET ? 32 : 128, out, len);
}

int wm_dns_reverse_zone(const struct wm_prefix *net, char *out, size_t len)
{
	return reverse(net, net->family == AF_INET ? net->len / 8 * 8 : net->len / 4 * 4, out, len);
}

int wm_dns_reverse_prefix(const char *name, struct wm_prefix *out)
{
	size_t n = strlen(name);
	struct wm_prefix p = {0};
	uint8_t labels[32];
	size_t k = 0;
	const char *end;

	if (n >= 12 && strcasecmp(name + n - 12, "in-addr.arpa") == 0) {
		p.family = AF_INET;
		end = name + n - 12;
	} else if (n >= 8 && strcasecmp(name + n - 8, "ip6.arpa") == 0) {
		p.family = AF_INET6;
		end = name + n - 8;
	} else {
		return -EINVAL;
	}
	if (end != name && end[-1] != '.')
		return -EINVAL;
	/* the labels before the suffix, most specific first */
	for (const char *q = name; q < end;) {
		unsigned v = 0, digits = 0;
		const char *h;

		if (k == (p.family == AF_INET ? 4u : 32u))
			return -EINVAL;
		if (p.family == AF_INET) {
			while (*q >= '0' && *q <= '9' && digits < 4) {
				v = v * 10 + (unsigned)(*q++ - '0');
				digits++;
			}
			if (!digits || v > 255 || (digits > 1 && q[-(int)digits] == '0'))
				return -EINVAL;
		} else {
			char c = *q >= 'A' && *q <= 'F' ? (char)(*q + 32) : *q;
			h = c ? strchr(hexd, c) : NULL;
			if (!h)
				return -EINVAL;
			v = (unsigned)(h - hexd);
			q++;
		}
		if (*q != '.')
			return -EINVAL;
		q++;
		labels[k++] = (uint8_t)v;
	}
	/* labels[k-1] is the most significant */
	for (size_t i = 0; i < k; i++) {
		uint8_t v = labels[k - 1 - i];
		if (p.family == AF_INET)
			p.addr[i] = v;
		else
			p.addr[i / 2] |= (uint8_t)(i % 2 ? v : v << 4);
	}
	p.len = (uint8_t)(k * (p.family == AF_INET ? 8 : 4));
	*out = p;
	return 0;
}

int wm_dns_reverse_parse(const char *name, struct wm_prefix *out)
{
	int err = wm_dns_reverse_prefix(name, out);

	if (!err && out->len != (out->family == AF_INET ? 32 : 128))
		err = -EINVAL;
	if (err)
		memset(out, 0, sizeof(*out));
	return err;
}

static const struct {
	const char *name;
	int type;
} rr_types[] = {{"A", 1}, {"AAAA", 28}, {"CNAME", 5}, {"TXT", 16}, {"SRV", 33}};

int wm_dns_record_type(const char *s)
{
	for (size_t i = 0; s && i < sizeof(rr_types) / sizeof(rr_types[0]); i++)
		if (strcasecmp(s, rr_types[i].name) == 0)
			return rr_types[i].type;
	return -EINVAL;
}

const char *wm_dns_record_type_name(int type)
{
	for (size_t i = 0; i < sizeof(rr_types) / sizeof(rr_types[0]); i++)
		if (rr_types[i].type == type)
			return rr_types[i].name;
	return NULL;
}

static void lower_copy(char *out, const char *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = in[i] >= 'A' && in[i] <= 'Z' ? (char)(in[i] + 32) : in[i];
	out[n] = '\0';
}

int wm_dns_record_name(const char *name, const char *domain, char *out, size_t len,
		       const char **why)
{
	char tmp[WM_DNS_NAME_MAX + 2];
	size_t n = name ? strnlen(name, sizeof(tmp)) : 0;
	static const char *const reserved[] = {"leader", "voters", "observers"};

	if (n && name[n - 1] == '.')
		n--;
	if (n == 0 || n >= sizeof(tmp) - 1) {
		*why = n ? "is longer than 253 characters" : "is empty";
		return -EINVAL;
	}
	lower_copy(tmp, name, n);
	if (!wm_dns_name_in(tmp, domain)) {
		if (n + 1 + strlen(domain) > WM_DNS_NAME_MAX) {
			*why = "is longer than 253 characters with the mesh domain";
			return -EINVAL;
		}
		tmp[n] = '.';
		snprintf(tmp + n + 1, sizeof(tmp) - n - 1, "%s", domain);
	}
	if (wm_dns_name_check(tmp, WM_DNS_NAME_WILDCARD | WM_DNS_NAME_UNDERSCORE, why) < 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		size_t r = strlen(reserved[i]), d = strlen(domain);
		if (strlen(tmp) == r + 1 + d && strncmp(tmp, reserved[i], r) == 0 &&
		    tmp[r] == '.') {
			*why = "is a name MeshDNS answers itself (leader, voters, observers)";
			return -EINVAL;
		}
	}
	if (strlen(tmp) >= len)
		return -ENOSPC;
	memcpy(out, tmp, strlen(tmp) + 1);
	return 0;
}

/* A decimal 0..65535 without sign or leading zeros; the end in *end. */
static int parse_u16(const char *s, const char **end, unsigned *out)
{
	unsigned v = 0, digits = 0;

	while (*s >= '0' && *s <= '9' && digits < 6) {
		v = v * 10 + (unsigned)(*s++ - '0');
		digits++;
	}
	if (!digits || v > 65535 || (digits > 1 && s[-(int)digits] == '0'))
		return -EINVAL;
	*end = s;
	*out = v;
	return 0;
}

int wm_dns_record_value(int type, const char *value, char *out, size_t len, const char **why)
{
	struct wm_prefix p;
	size_t n = value ? strnlen(value, WM_DNS_VALUE_MAX + 1) : 0;

	if (n == 0) {
		*why = "is empty";
		return -EINVAL;
	}
	if (n > WM_DNS_VALUE_MAX) {
		*why = "is longer than 512 characters";
		return -EINVAL;
	}
	switch (type) {
	case 1:
	case 28:
		if (wm_addr_parse(value, &p) < 0 || p.family != (type == 1 ? AF_INET : AF_INET6)) {
			*why = type == 1 ? "is not an IPv4 address" : "is not an IPv6 address";
			return -EINVAL;
		}
		return wm_prefix_format_addr(&p, out, len) < 0 ? -ENOSPC : 0;
	case 5: {
		char tmp[WM_DNS_NAME_MAX + 2];
		if (value[n - 1] == '.')
			n--;
		if (n == 0 || n > WM_DNS_NAME_MAX) {
			*why = "is not a DNS name";
			return -EINVAL;
		}
		lower_copy(tmp, value, n);
		if (wm_dns_name_check(tmp, WM_DNS_NAME_UNDERSCORE, why) < 0)
			return -EINVAL;
		return snprintf(out, len, "%s", tmp) >= (int)len ? -ENOSPC : 0;
	}
	case 16:
		for (size_t i = 0; i < n; i++)
			if (value[i] < 32 || value[i] > 126) {
				*why = "may only contain printable ASCII";
				return -EINVAL;
			}
		return snprintf(out, len, "%s", value) >= (int)len ? -ENOSPC : 0;
	case 33: {
		unsigned v[3];
		const char *s = value;
		char tmp[WM_DNS_NAME_MAX + 2];

		for (int i = 0; i < 3; i++) {
			if (parse_u16(s, &s, &v[i]) < 0 || *s != ' ') {
				*why = "is not PRIORITY WEIGHT PORT TARGET (numbers 0..65535 and a "
				       "DNS name)";
				return -EINVAL;
			}
			s++;
		}
		n = strlen(s);
		if (n && s[n - 1] == '.')
			n--;
		if (n == 0 || n > WM_DNS_NAME_MAX) {
			*why = "has no target name";
			return -EINVAL;
		}
		lower_copy(tmp, s, n);
		if (wm_dns_name_check(tmp, WM_DNS_NAME_UNDERSCORE, why) < 0)
			return -EINVAL;
		return snprintf(out, len, "%u %u %u %s", v[0], v[1], v[2], tmp) >= (int)len
			       ? -ENOSPC
			       : 0;
	}
	default:
		*why = "has an unknown type (A, AAAA, CNAME, TXT, SRV)";
		return -EINVAL;
	}
}
