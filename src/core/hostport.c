/* "HOST:PORT" as users write server addresses: the one owner of that syntax
 * (config keys, wmctl --server, the daemon's own targets). */
#include "core/hostport.h"

#include <errno.h>
#include <string.h>

#include "core/dnsname.h"
#include "core/net.h"

int wm_hostport_split(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	char h[WM_DNS_NAME_MAX + 1];
	uint16_t p;

	if (!s)
		return -EINVAL;
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || wm_port_parse(colon + 1, &p) < 0)
		return -EINVAL;
	size_t n = (size_t)(colon - s);
	const char *start = s;
	bool bracketed = s[0] == '[';
	if (bracketed) {
		if (n < 3 || s[n - 1] != ']')
			return -EINVAL;
		start++;
		n -= 2;
	}
	if (n >= sizeof(h))
		return -EINVAL;
	memcpy(h, start, n);
	h[n] = '\0';
	if (bracketed) {
		struct wm_prefix a;

		/* Brackets hold an IPv6 address and nothing else. */
		if (wm_addr_parse(h, &a) < 0 || a.family != AF_INET6)
			return -EINVAL;
	} else if (wm_dns_name_check(h, WM_DNS_NAME_UPPER, NULL) < 0) {
		/* A host name, or a dotted IPv4 address (all-digit labels are
		 * valid host names, RFC 1123 2.1); a bare IPv6 address lands
		 * here too and is refused: its last group would read as the port. */
		return -EINVAL;
	}
	if (n >= hostlen)
		return -ENAMETOOLONG;
	memcpy(host, h, n + 1);
	*port = p;
	return 0;
}
