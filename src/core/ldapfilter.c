/* RFC 4515 escaping for LDAP search filters: user input never becomes filter syntax. */
#include "core/ldapfilter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int wm_ldap_filter_escape(const char *value, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (!value || !out)
		return -EINVAL;
	if (outlen == 0)
		return -ENOSPC;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		unsigned char c = *p;
		/* RFC 4515 section 3: these must be escaped; control bytes are
		 * escaped too so that logs and servers never see them raw. */
		if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c == 0x7f) {
			if (o + 3 >= outlen)
				goto nospc;
			out[o++] = '\\';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		} else {
			if (o + 1 >= outlen)
				goto nospc;
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return (int)o;
nospc:
	out[0] = '\0';
	return -ENOSPC;
}

bool wm_ldap_attr_ok(const char *a)
{
	size_t n = a ? strnlen(a, WM_LDAP_ATTR_MAX + 1) : 0;

	if (n == 0 || n > WM_LDAP_ATTR_MAX ||
	    !((a[0] >= 'a' && a[0] <= 'z') || (a[0] >= 'A' && a[0] <= 'Z')))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = a[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
	}
	return true;
}

int wm_ldap_user_filter(const char *attr, const char *value, const char *extra, char *out,
			size_t outlen)
{
	char esc[3 * 256 + 1];
	int n;

	if (!wm_ldap_attr_ok(attr) || !value || !out)
		return -EINVAL;
	if (strlen(value) > 256)
		return -EINVAL;
	n = wm_ldap_filter_escape(value, esc, sizeof(esc));
	if (n < 0)
		return n;
	if (extra && *extra)
		n = snprintf(out, outlen, "(&(%s=%s)%s)", attr, esc, extra);
	else
		n = snprintf(out, outlen, "(%s=%s)", attr, esc);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen)
			out[0] = '\0';
		return -ENOSPC;
	}
	return n;
}

/* 127.0.0.0/8 as a dotted quad of four decimal parts, nothing else. */
static bool ipv4_loopback(const char *h, size_t n)
{
	char buf[16];
	unsigned char a[4];

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, h, n);
	buf[n] = '\0';
	/* inet_pton takes only full dotted quads for AF_INET ("127.1" is no IP). */
	return inet_pton(AF_INET, buf, a) == 1 && a[0] == 127;
}

static bool ipv6_loopback(const char *h, size_t n)
{
	static const unsigned char one[16] = {[15] = 1};
	char buf[48];
	unsigned char a[16];

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, h, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, a) == 1 && memcmp(a, one, sizeof(one)) == 0;
}

bool wm_ldap_url_is_loopback(const char *url)
{
	const char *h, *end;
	bool ok;

	if (!url || strncasecmp(url, "ldap://", 7) != 0)
		return false;
	h = url + 7;
	if (*h == '[') {
		const char *close = strchr(h, ']');
		if (!close)
			return false;
		ok = ipv6_loopback(h + 1, (size_t)(close - h - 1));
		end = close + 1;
	} else {
		end = h + strcspn(h, ":/?");
		size_t n = (size_t)(end - h);
		ok = (n == 9 && strncasecmp(h, "localhost", 9) == 0) || ipv4_loopback(h, n);
	}
	if (!ok)
		return false;
	if (*end == ':') {
		size_t digits = strspn(end + 1, "0123456789");
		if (digits == 0 || digits > 5)
			return false;
		end += 1 + digits;
	}
	if (*end != '\0' && *end != '/' && *end != '?')
		return false;
	/* The rest is DN and options: it names no host, but a space would
	 * start another URL of a list. */
	return strpbrk(end, " \t\r\n") == NULL;
}
