/* store.h for webmeshd: the same functions, calling the store module
 * (webmesh-store.so) through its table. The module, and with it libraft,
 * SQLite, liblz4 and libm (about 0.7 MB of a process's RSS), is loaded by the
 * first wm_store_open: a plain member never opens a store. Every other call
 * takes a store, so the module is loaded by then. */
#include <errno.h>
#include <stdio.h>

#include <string.h>

#include "plugin/storage.h"
#include "store/store_module.h"

static const struct wm_store_module *mod;

int wm_store_module_check(const struct wm_store_module *m, char *err, size_t errlen)
{
#define WM_STORE_FN(ret, name, params, args)                                                       \
	if (!m->name) {                                                                            \
		snprintf(err, errlen, "module %s: its table has no function %s",                   \
			 WM_STORE_MODULE_NAME, #name);                                             \
		return -ENOTSUP;                                                                   \
	}
#include "store/store_api.def"
	return 0;
}

const struct wm_store_module *wm_store_module_load(char *err, size_t errlen)
{
	const struct wm_store_module *m =
		wm_module_load(WM_STORE_MODULE_NAME, WM_STORE_MODULE_SYMBOL, WM_STORE_MODULE_ABI,
			       sizeof(struct wm_store_module), err, errlen);

	if (m && wm_store_module_check(m, err, errlen) < 0)
		return NULL;
	return m;
}

int wm_store_open(uv_loop_t *loop, const struct wm_store_config *cfg, struct wm_store **out,
		  char *err, size_t errlen)
{
	if (!mod && cfg->storage && strcmp(cfg->storage, "raft") != 0) {
		/* A storage plugin: the same table, forwarding to the plugin. */
		char why[512] = "";
		mod = wm_storage_plugin_module(cfg->storage, why, sizeof(why));
		if (!mod) {
			snprintf(err, errlen, "storage %s: %s", cfg->storage, why);
			return -ENOTSUP;
		}
	}
	if (!mod) {
		char why[512] = "";
		mod = wm_store_module_load(why, sizeof(why));
		if (!mod) {
			snprintf(err, errlen, "a server keeps a replica of the mesh state: %s",
				 why);
			return -ENOTSUP;
		}
	}
	return mod->open(loop, cfg, out, err, errlen);
}

/* The other functions forward as they are; `return` only where there is a
 * value to return (RET is int or void). */
#define RETURN_int return
#define RETURN_void
#define WM_STORE_NEW(ret, name, params, args) /* wm_store_open above */
#define WM_STORE_FN(ret, name, params, args)                                                       \
	ret wm_store_##name params                                                                 \
	{                                                                                          \
		RETURN_##ret mod->name args;                                                       \
	}
#include "store/store_api.def"
