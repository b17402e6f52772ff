/* "HOST:PORT" as users write server addresses. */
#include "core/hostport.h"

#include <errno.h>
#include <string.h>

int wm_hostport_split(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return -EINVAL;
	const char *h = s;
	size_t n = (size_t)(colon - s);
	if (h[0] == '[') {
		if (n < 3 || h[n - 1] != ']')
			return -EINVAL;
		h++;
		n -= 2;
	} else if (memchr(h, ':', n)) {
		return -EINVAL; /* a bare IPv6 address needs brackets */
	}
	const char *p = colon + 1;
	if (*p == '\0' || strlen(p) > 5)
		return -EINVAL;
	unsigned long v = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	if (n >= hostlen)
		return -ENAMETOOLONG;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (uint16_t)v;
	return 0;
}
