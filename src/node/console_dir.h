/* The web console's files, one rule for both listeners that serve them
 * (httpd.c on --http-listen, the TLS API port in api.c). */
#ifndef WM_NODE_CONSOLE_DIR_H
#define WM_NODE_CONSOLE_DIR_H

#include <stddef.h>

#include "core/config.h"

/* console-dir, else build/console when webmeshd runs from the build tree
 * (build/src/node/webmeshd), else the installed share/webmesh/console. */
void wm_node_console_dir(const struct wm_config *cfg, char *out, size_t len);

#endif
