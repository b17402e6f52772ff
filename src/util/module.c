/* Finds and loads optional modules (see module.h). */
#include "util/module.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef WM_MODULE_DIR
#define WM_MODULE_DIR "/usr/local/lib/webmesh"
#endif

/* The directory of the running executable, or "" when /proc is missing. */
static void exe_dir(char *out, size_t len)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	out[0] = '\0';
	if (n <= 0)
		return;
	path[n] = '\0';
	char *slash = strrchr(path, '/');
	if (!slash)
		return;
	*slash = '\0';
	snprintf(out, len, "%s", path);
}

static void *open_in(const char *dir, const char *name, char *tried, size_t tried_len)
{
	char path[PATH_MAX];
	if (!dir || !*dir)
		return NULL;
	if (snprintf(path, sizeof(path), "%s/%s.so", dir, name) >= (int)sizeof(path))
		return NULL;
	if (access(path, R_OK) != 0)
		return NULL;
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		snprintf(tried, tried_len, "%s", dlerror());
	return h;
}

const void *wm_module_load(const char *name, const char *sym, uint32_t abi, size_t size, char *err,
			   size_t errlen)
{
	char here[PATH_MAX], failed[512] = "";
	exe_dir(here, sizeof(here));
	const char *dirs[] = {getenv("WEBMESHD_MODULE_DIR"), here, WM_MODULE_DIR};
	void *h = NULL;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && !h; i++)
		h = open_in(dirs[i], name, failed, sizeof(failed));
	if (!h) {
		if (failed[0])
			snprintf(err, errlen, "module %s: %s", name, failed);
		else
			snprintf(err, errlen,
				 "module %s.so not found (looked in $WEBMESHD_MODULE_DIR, %s, %s)",
				 name, here[0] ? here : "(executable's directory unknown)",
				 WM_MODULE_DIR);
		return NULL;
	}
	const struct wm_module_header *hd = dlsym(h, sym);
	if (!hd) {
		snprintf(err, errlen, "module %s: no symbol %s", name, sym);
		dlclose(h);
		return NULL;
	}
	if (hd->abi != abi || hd->size != size) {
		snprintf(err, errlen,
			 "module %s: built for another webmeshd (ABI %u size %u, want %u size %zu)",
			 name, hd->abi, hd->size, abi, size);
		dlclose(h);
		return NULL;
	}
	/* dlopen counts references: a second load returns the same handle and
	 * table, and the module is never unloaded (its threads may outlive a
	 * caller's free). */
	return hd;
}

int wm_library_bind(const char *what, const char *soname, const char *package,
		    const struct wm_library_sym *syms, size_t n, char *err, size_t errlen)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errlen, "%s: cannot load %s (the %s package): %s", what, soname,
			 package, dlerror());
		return -ENOENT;
	}
	for (size_t i = 0; i < n; i++) {
		*syms[i].slot = dlsym(h, syms[i].name);
		if (*syms[i].slot)
			continue;
		snprintf(err, errlen, "%s: %s has no %s", what, soname, syms[i].name);
		for (size_t j = 0; j < n; j++)
			*syms[j].slot = NULL;
		dlclose(h);
		return -ENOENT;
	}
	return 0;
}
