/* What a node accepts of a server's ACL batch (see aclbatch.h). */
#include "core/aclbatch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acl.h"

static bool line_ok(const char *l, size_t n)
{
	static const char *const ok[] = {
		"add table inet webmesh",	    "add chain inet webmesh acl",
		"flush chain inet webmesh acl",	    "add rule inet webmesh acl ",
		"add rule inet webmesh acl-input ", "add rule inet webmesh acl-forward ",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		size_t k = strlen(ok[i]);
		if (n >= k && memcmp(l, ok[i], k) == 0 &&
		    (n == k || l[k - 1] == ' ' || l[k] == ' ' || l[k] == '-'))
			return true;
	}
	return false;
}

int wm_acl_batch_localize(const char *rules, const char *ifname, char **result)
{
	const char *ph = "\"" WM_ACL_IFNAME_PLACEHOLDER "\"";
	size_t phl = strlen(ph), n = 0, count = 0;
	*result = NULL;
	for (const char *p = rules; (p = strstr(p, ph)); p += phl)
		count++;
	size_t cap = strlen(rules) + count * (strlen(ifname) + 2) + 1;
	char *out = malloc(cap);
	if (!out)
		return -ENOMEM;
	for (const char *p = rules; *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len && !line_ok(p, len)) {
			free(out);
			return -EINVAL;
		}
		for (size_t i = 0; i < len;) {
			if (len - i >= phl && memcmp(p + i, ph, phl) == 0) {
				n += (size_t)snprintf(out + n, cap - n, "\"%s\"", ifname);
				i += phl;
			} else {
				out[n++] = p[i++];
			}
		}
		if (eol)
			out[n++] = '\n';
		p += len + (eol ? 1 : 0);
	}
	out[n] = '\0';
	*result = out;
	return 0;
}
