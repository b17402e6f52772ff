/* The entry of webmesh-store.so: the store's functions in the table of
 * store_module.h, the only symbol the module exports. */
#include "store/store_module.h"

__attribute__((visibility("default"))) const struct wm_store_module wm_store_module_v1 = {
	.header = {.abi = WM_STORE_MODULE_ABI, .size = sizeof(struct wm_store_module)},
#define WM_STORE_FN(ret, name, params, args) .name = wm_store_##name,
#include "store/store_api.def"
};
