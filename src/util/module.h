/* Optional parts of webmeshd that pull in heavy libraries (libnice and GLib
 * for ICE, libldap and its GnuTLS chain for LDAP) live in shared modules
 * loaded the first time they are needed, so that a node that never uses them
 * does not carry their pages (several MiB of RSS each: see docs/BENCHMARKS.md).
 *
 * A module is NAME.so exporting one symbol, a table of functions whose first
 * two fields are its ABI version and size (struct wm_module_header): a module
 * from another build is refused rather than called.
 *
 * Where modules are looked for, first hit wins:
 *   1. $WEBMESHD_MODULE_DIR (tests of an install, packagers; not WEBMESH_:
 *      that prefix is for configuration keys, and unknown ones are refused);
 *   2. the directory of the running executable (the build tree);
 *   3. WM_MODULE_DIR, the install directory (lib/webmesh).
 */
#ifndef WM_UTIL_MODULE_H
#define WM_UTIL_MODULE_H

#include <stddef.h>
#include <stdint.h>

struct wm_module_header {
	uint32_t abi;  /* the module's WM_*_MODULE_ABI */
	uint32_t size; /* sizeof its table */
};

/* Loads NAME.so (once: later calls return the same table) and returns its
 * symbol SYM, checked against abi and size. NULL with err naming the file and
 * what was wrong (not found, dlerror, ABI mismatch). Not thread-safe: call it
 * from the loop's thread. Modules stay loaded until exit. */
const void *wm_module_load(const char *name, const char *sym, uint32_t abi, size_t size, char *err,
			   size_t errlen);

/* A symbol of a system library opened on first use, and where it goes. */
struct wm_library_sym {
	void **slot;
	const char *name;
};

/* Opens the system library soname (package: the Debian package that has it)
 * and fills every slot, for features that need a few calls of a library most
 * nodes never use. All slots are set, or none (a missing symbol closes the
 * library again). 0, or -ENOENT with err "WHAT: cannot load ..." or "WHAT:
 * SONAME has no SYMBOL". Callers serialise calls and remember success. */
int wm_library_bind(const char *what, const char *soname, const char *package,
		    const struct wm_library_sym *syms, size_t n, char *err, size_t errlen);

#endif
