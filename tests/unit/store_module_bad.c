/* A store module from another build, for test_store_module: built once with
 * the previous ABI number (WM_BAD_ABI) and once with a table one function
 * short (WM_BAD_SHORT), each as webmesh-store.so in a directory of its own. */
#include "store/store_module.h"

__attribute__((visibility("default"))) const struct wm_store_module wm_store_module_v1 = {
#if defined(WM_BAD_ABI)
	.header = {.abi = WM_STORE_MODULE_ABI - 1, .size = sizeof(struct wm_store_module)},
#elif defined(WM_BAD_SHORT)
	.header = {.abi = WM_STORE_MODULE_ABI,
		   .size = sizeof(struct wm_store_module) - sizeof(void (*)(void))},
#else
#error "build with WM_BAD_ABI or WM_BAD_SHORT"
#endif
};
