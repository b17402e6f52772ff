/* The managed block of resolv.conf, as text (see resolver.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdbool.h>

#include "dns/resolver.h"

int wm_resolvconf_without_block(const char *text, char **out)
{
	size_t n = strlen(text), o = 0;
	bool inside = false;
	char *s = malloc(n + 1);

	if (!s)
		return -ENOMEM;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
		size_t body = nl ? len - 1 : len;

		if (!inside && body == strlen(WM_RESOLVCONF_BEGIN) &&
		    strncmp(p, WM_RESOLVCONF_BEGIN, body) == 0) {
			inside = true;
		} else if (inside && body == strlen(WM_RESOLVCONF_END) &&
			   strncmp(p, WM_RESOLVCONF_END, body) == 0) {
			inside = false;
		} else if (!inside) {
			memcpy(s + o, p, len);
			o += len;
		}
		p += len;
	}
	s[o] = '\0';
	*out = s;
	return 0;
}

int wm_resolvconf_with_block(const char *text, const char *addr, char **out)
{
	char *rest = NULL;
	int err = wm_resolvconf_without_block(text, &rest);

	if (err)
		return err;
	size_t n = strlen(rest) + strlen(addr) + 256;
	char *s = malloc(n);
	if (!s) {
		free(rest);
		return -ENOMEM;
	}
	/* First: the C library asks nameservers in order and moves on only
	 * on REFUSED or silence, so ours must come before any that would
	 * answer NXDOMAIN for the mesh domain. */
	snprintf(s, n, "%s\nnameserver %s\n%s\n%s", WM_RESOLVCONF_BEGIN, addr, WM_RESOLVCONF_END,
		 rest);
	free(rest);
	*out = s;
	return 0;
}
