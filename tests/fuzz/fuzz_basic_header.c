/* libFuzzer harness for the Basic authorization header (src/auth/util.c,
 * wm_auth_parse_basic), the first thing htpasswd and LDAP read of every
 * call, and what the user name then goes through: the ID check and the LDAP
 * search filter. The input is the header's value, as HTTP/2 would give it.
 * Properties: a parsed header gives a non-empty user without ':' or control
 * bytes that fits its buffer, a password without control bytes; the filter
 * built from any user name has balanced parentheses and no unescaped
 * special byte of the name.
 *
 * Built by `make fuzz` (tests/fuzz/CMakeLists.txt), with the seed corpus
 * tests/fuzz/corpus/fuzz_basic_header/. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "core/ldapfilter.h"
#include "core/rbac.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char user[WM_AUTH_ID_MAX + 1], filter[1024], *pass = NULL;
	char *hdr;

	if (size > 4096)
		return 0;
	hdr = malloc(size + 1);
	if (!hdr)
		return 0;
	memcpy(hdr, data, size);
	hdr[size] = '\0';
	memset(user, 'x', sizeof(user));
	int r = wm_auth_parse_basic(hdr, user, sizeof(user), &pass);
	if (r != 0 && r != -ENOENT && r != -EINVAL && r != -ENOMEM)
		abort();
	if (r != 0 && pass)
		abort();
	if (r == 0) {
		size_t ul = strnlen(user, sizeof(user));
		if (ul == 0 || ul == sizeof(user) || strchr(user, ':') || !pass)
			abort();
		for (size_t i = 0; i < ul; i++)
			if ((unsigned char)user[i] < 0x20 || user[i] == 0x7f)
				abort();
		for (const char *p = pass; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				abort();
		(void)wm_rbac_name_check(user, NULL);
		int n = wm_ldap_user_filter("uid", user, "(objectClass=person)", filter,
					    sizeof(filter));
		if (n >= 0) {
			int depth = 0;
			for (const char *p = filter; *p; p++) {
				depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
				if (depth < 0)
					abort();
			}
			if (depth != 0)
				abort();
		} else if (n != -ENOSPC && n != -EINVAL) {
			abort();
		}
		wm_auth_wipe_free(pass);
	}
	free(hdr);
	return 0;
}
