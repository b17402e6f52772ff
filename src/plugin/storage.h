/* webmeshd's side of a storage plugin (include/webmesh/plugin.h, "storage"):
 * the plugin behind the same table as the built-in store module
 * (store/store_module.h), so that store_loader.c calls either the same way
 * and the daemon sees one store interface (store/store_api.def). */
#ifndef WM_PLUGIN_STORAGE_H
#define WM_PLUGIN_STORAGE_H

#include <stddef.h>

#include "store/store_module.h"

/* Loads webmesh-NAME.so (util/module.h's search order), checks its table
 * (plugin ABI, the storage capability and every storage function) and
 * returns a store table whose functions forward to it. NULL with err naming
 * the plugin and what is wrong. The plugin's init runs at wm_store_open,
 * with the configuration in wm_store_config. Call once, from the loop's
 * thread. */
const struct wm_store_module *wm_storage_plugin_module(const char *name, char *err, size_t errlen);

#endif
