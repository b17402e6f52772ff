/* Where the web console's files are: see console_dir.h. */
#include "node/console_dir.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef WM_CONSOLE_DIR
#define WM_CONSOLE_DIR "/usr/local/share/webmesh/console"
#endif

void wm_node_console_dir(const struct wm_config *cfg, char *out, size_t len)
{
	static const char tail[] = "/src/node/webmeshd";
	if (cfg->console_dir && cfg->console_dir[0]) {
		snprintf(out, len, "%s", cfg->console_dir);
		return;
	}
	char exe[PATH_MAX - 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t tl = sizeof(tail) - 1;
	if (n > 0)
		exe[n] = '\0';
	if (n > (ssize_t)tl && strcmp(exe + n - tl, tail) == 0) {
		exe[n - tl] = '\0';
		snprintf(out, len, "%s/console", exe);
		return;
	}
	snprintf(out, len, "%s", WM_CONSOLE_DIR);
}
