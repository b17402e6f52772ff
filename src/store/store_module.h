/* The table the store module (webmesh-store.so: libraft, SQLite) exports and
 * through which webmeshd's loader (store_loader.c) calls it: one entry per
 * function of store_api.def, in its order, each the store.h function of the
 * same name. Only nodes that keep a replica (voters, observers) load it: a
 * plain member never maps libraft, SQLite or libm. */
#ifndef WM_STORE_STORE_MODULE_H
#define WM_STORE_STORE_MODULE_H

#include <stddef.h>

#include "store/authz.h"
#include "store/store.h"
#include "util/module.h"

#define WM_STORE_MODULE_NAME "webmesh-store"
#define WM_STORE_MODULE_SYMBOL "wm_store_module_v1"
/* Bumped whenever store_api.def or a type its functions take changes: a
 * module of another build is refused rather than called. 5: the table is
 * generated from store_api.def (rbac_check left it for authz_view.c). */
#define WM_STORE_MODULE_ABI 7 /* 7: storage fields in config and status */

struct wm_store_module {
	struct wm_module_header header;
#define WM_STORE_FN(ret, name, params, args) ret(*name) params;
#include "store/store_api.def"
};

/* Loads the module (webmesh-store.so, see util/module.h for where it is looked
 * for) and returns its table: of this ABI, of this size, and with every
 * function present. NULL with err naming the module and what was wrong. Not
 * thread-safe; the module stays loaded. webmeshd's wm_store_open calls it once. */
const struct wm_store_module *wm_store_module_load(char *err, size_t errlen);
/* 0 if every function of the table is there; -ENOTSUP with err naming the
 * first one missing. */
int wm_store_module_check(const struct wm_store_module *m, char *err, size_t errlen);

#endif
