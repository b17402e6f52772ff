/* What a node accepts of a server's ACL batch (see aclbatch.h). */
#include "core/aclbatch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acl.h"

/* nft reads ';' as the end of a command, also on one line: a line that
 * starts as one of ours could go on with any command ("... accept; flush
 * ruleset"). A ';' may stand only inside braces (a chain's "{ type filter
 * hook input priority 0; policy accept; }"), where no command can follow;
 * quoted text is skipped, and a backslash (an escape inside quotes, which
 * would make our idea of where a string ends differ from nft's) and
 * unbalanced quotes or braces are refused. */
static bool one_command(const char *l, size_t n)
{
	bool quoted = false;
	unsigned depth = 0;

	for (size_t i = 0; i < n; i++) {
		char c = l[i];

		if (c == '\\')
			return false;
		if (c == '"') {
			quoted = !quoted;
			continue;
		}
		if (quoted)
			continue;
		if (c == '{') {
			depth++;
		} else if (c == '}') {
			if (depth == 0)
				return false;
			depth--;
		} else if (c == ';' && depth == 0) {
			return false;
		}
	}
	return !quoted && depth == 0;
}

static bool line_ok(const char *l, size_t n)
{
	/* After a prefix ending in a name: the line's end, a space, or (for the
	 * chain names acl-input, acl-forward) a '-'; never for the table, whose
	 * name is ours alone ("webmesh-x" is another table). */
	static const struct {
		const char *prefix;
		bool dash;
	} ok[] = {
		{"add table inet webmesh", false},
		{"add chain inet webmesh acl", true},
		{"flush chain inet webmesh acl", true},
		{"add rule inet webmesh acl ", false},
		{"add rule inet webmesh acl-input ", false},
		{"add rule inet webmesh acl-forward ", false},
	};
	if (!one_command(l, n))
		return false;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		size_t k = strlen(ok[i].prefix);
		if (n >= k && memcmp(l, ok[i].prefix, k) == 0 &&
		    (n == k || l[k - 1] == ' ' || l[k] == ' ' || (ok[i].dash && l[k] == '-')))
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
