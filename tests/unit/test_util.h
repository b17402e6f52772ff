/* Small helpers shared by unit tests (include after cmocka.h). */
#ifndef WM_TEST_UTIL_H
#define WM_TEST_UTIL_H

#include <stdio.h>
#include <string.h>

#include "core/base64.h"
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

/* An HTTP Basic Authorization value for user:pass (a static buffer, valid
 * until the next call). */
static inline const char *test_basic_auth(const char *user, const char *pass)
{
	static char hdr[256];
	char raw[128], b64[200];

	snprintf(raw, sizeof(raw), "%s:%s", user, pass);
	wm_base64_encode(raw, strlen(raw), b64);
	snprintf(hdr, sizeof(hdr), "Basic %s", b64);
	return hdr;
}

/* Puts text at path by renaming a new file over it: a new inode, as editors
 * and htpasswd do (what a file watcher must notice). */
static inline void test_replace_file(const char *path, const char *text)
{
	char tmp[256];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(rename(tmp, path), 0);
}

#endif
