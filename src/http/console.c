/* The console's static files: see console.h. Files are small (the bundle is
 * under 300 KB compressed) and read whole on the loop thread. */
#include "http/console.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/key.h"

#define MAX_FILE (16 * 1024 * 1024)

struct wm_http_console {
	char dir[PATH_MAX];
};

const char *wm_http_content_type(const char *name)
{
	static const char *const types[][2] = {
		{".html", "text/html; charset=utf-8"},
		{".js", "text/javascript; charset=utf-8"},
		{".mjs", "text/javascript; charset=utf-8"},
		{".css", "text/css; charset=utf-8"},
		{".json", "application/json"},
		{".map", "application/json"},
		{".svg", "image/svg+xml"},
		{".png", "image/png"},
		{".ico", "image/x-icon"},
		{".woff2", "font/woff2"},
		{".woff", "font/woff"},
		{".txt", "text/plain; charset=utf-8"},
		{".wasm", "application/wasm"},
	};
	const char *dot = strrchr(name, '.');
	const char *slash = strrchr(name, '/');
	if (dot && (!slash || dot > slash))
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcmp(dot, types[i][0]) == 0)
				return types[i][1];
	return "application/octet-stream";
}

int wm_http_clean_path(const char *path, char *out, size_t outlen)
{
	if (!path || path[0] != '/' || outlen == 0)
		return -EINVAL;
	size_t o = 0;
	for (const char *p = path + 1; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '%') {
			int hi = wm_hex_digit(p[1]), lo = hi < 0 ? -1 : wm_hex_digit(p[2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (unsigned char)(hi * 16 + lo);
			p += 2;
		}
		if (c < 0x20 || c == 0x7f || c == '\\')
			return -EINVAL;
		if (o + 1 >= outlen)
			return -EINVAL;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	/* segments, after decoding: %2e%2e is ".." too */
	for (const char *s = out; *s;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if ((n == 0 && e) || (n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			return -EINVAL;
		s = e ? e + 1 : s + n;
	}
	return 0;
}

static bool accepts_gzip(const struct wm_http_req *req)
{
	const char *ae = wm_http_req_header(req, "Accept-Encoding");
	if (!ae)
		return false;
	for (const char *p = strstr(ae, "gzip"); p; p = strstr(p + 4, "gzip")) {
		const char *q = p + 4;
		while (*q == ' ')
			q++;
		if (strncmp(q, ";q=0", 4) == 0 && !(q[4] == '.' && q[5] >= '1' && q[5] <= '9'))
			continue;
		return true;
	}
	return false;
}

/* Reads rel below root (its real path) if it is a regular file there:
 * 0, -ENOENT, or -EACCES for a path that leaves the root. */
static int read_below(const char *root, const char *rel, uint8_t **data, size_t *len)
{
	char full[PATH_MAX], real[PATH_MAX];
	if ((size_t)snprintf(full, sizeof(full), "%s/%s", root, rel) >= sizeof(full))
		return -ENOENT;
	if (!realpath(full, real))
		return -ENOENT;
	size_t rl = strlen(root);
	if (strncmp(real, root, rl) != 0 || (real[rl] != '/' && real[rl] != '\0'))
		return -EACCES;
	int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -ENOENT;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE) {
		close(fd);
		return -ENOENT;
	}
	uint8_t *b = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (b && got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!b || got != (size_t)st.st_size) {
		free(b);
		return -ENOENT;
	}
	*data = b;
	*len = got;
	return 0;
}

static void serve(struct wm_http_req *req, void *arg)
{
	struct wm_http_console *con = arg;
	char rel[PATH_MAX], root[PATH_MAX];
	static const char *const plain[] = {"Content-Type", "text/plain; charset=utf-8", NULL};
	if (wm_http_clean_path(wm_http_req_path(req), rel, sizeof(rel) - 16)) {
		static const char msg[] = "bad path\n";
		wm_http_respond(req, 400, plain, msg, sizeof(msg) - 1);
		return;
	}
	if (!realpath(con->dir, root)) {
		static const char msg[] = "the web console is not installed (console-dir)\n";
		wm_http_respond(req, 404, plain, msg, sizeof(msg) - 1);
		return;
	}
	size_t n = strlen(rel);
	if (n == 0 || rel[n - 1] == '/')
		snprintf(rel + n, sizeof(rel) - n, "index.html");
	uint8_t *data = NULL;
	size_t len = 0;
	bool gz = false;
	const char *last = strrchr(rel, '/');
	last = last ? last + 1 : rel;
	char name[PATH_MAX];
	snprintf(name, sizeof(name), "%s", rel);
	if (accepts_gzip(req)) {
		/* room for rel and ".gz": a name that long is no file of ours */
		char gzname[PATH_MAX + 4];
		int k = snprintf(gzname, sizeof(gzname), "%s.gz", rel);
		gz = k > 0 && (size_t)k < sizeof(gzname) &&
		     read_below(root, gzname, &data, &len) == 0;
	}
	int rc = gz ? 0 : read_below(root, rel, &data, &len);
	if (rc == -ENOENT && !strchr(last, '.')) {
		/* the page's own routes (/nodes, /graph) are the page */
		snprintf(name, sizeof(name), "index.html");
		if (accepts_gzip(req))
			gz = read_below(root, "index.html.gz", &data, &len) == 0;
		rc = gz ? 0 : read_below(root, "index.html", &data, &len);
	}
	if (rc) {
		static const char msg[] = "not found\n";
		wm_http_respond(req, 404, plain, msg, sizeof(msg) - 1);
		return;
	}
	const char *h[] = {"Content-Type",
			   wm_http_content_type(name),
			   "Cache-Control",
			   "no-cache",
			   "X-Content-Type-Options",
			   "nosniff",
			   "Vary",
			   "Accept-Encoding",
			   gz ? "Content-Encoding" : NULL,
			   "gzip",
			   NULL};
	wm_http_respond(req, 200, h, data, len);
	free(data);
}

int wm_http_console_mount(struct wm_http *srv, const char *dir, struct wm_http_console **out)
{
	struct wm_http_console *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if ((size_t)snprintf(c->dir, sizeof(c->dir), "%s", dir) >= sizeof(c->dir)) {
		free(c);
		return -ENAMETOOLONG;
	}
	int rc = wm_http_mount(srv, "GET", "/", serve, c);
	if (rc) {
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void wm_http_console_free(struct wm_http_console *c)
{
	free(c);
}
