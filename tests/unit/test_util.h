/* Small helpers shared by unit tests (include after cmocka.h). */
#ifndef WM_TEST_UTIL_H
#define WM_TEST_UTIL_H

#include <stdio.h>

#include "core/net.h"

/* The prefix s, which the test expects to parse. */
static inline struct wm_prefix test_pfx(const char *s)
{
	struct wm_prefix p;

	assert_int_equal(wm_prefix_parse(s, &p), 0);
	return p;
}

/* Runs cmd with the shell and returns its first 8 KiB of output (a static
 * buffer, valid until the next call). */
static inline const char *test_output(const char *cmd)
{
	static char out[8192];
	FILE *f = popen(cmd, "r");
	size_t n;

	assert_non_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	pclose(f);
	return out;
}

#endif
