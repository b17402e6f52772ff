/* Loading webmeshd's configuration from its sources: defaults < YAML file < WEBMESH_* < flags. */
#ifndef WM_NODE_CONFIG_LOAD_H
#define WM_NODE_CONFIG_LOAD_H

#include <stddef.h>
#include <stdio.h>

#include "core/config.h"

/*
 * Fills cfg from every source in order: the defaults, the YAML file named by
 * --config FILE (or WEBMESH_CONFIG), the WEBMESH_* variables of envp (may be
 * NULL), then the flags in argv[1..argc-1]. With --help / -h or --version
 * nothing but the flags is read (so a broken file does not hide the help).
 *
 * Unknown keys, unknown WEBMESH_* variables and unknown flags are errors: they
 * are nearly always typos. Does not call wm_config_validate (the caller does,
 * after handling --help and --version).
 *
 * Returns 0, -WM_ECONFIG with a message in err naming the source (file and
 * line, variable or flag), the key and the value, or -ENOMEM. cfg is always
 * initialised on return: call wm_config_free() whether it failed or not.
 */
int wm_config_load(struct wm_config *cfg, int argc, char **argv, char **envp, char *err,
		   size_t errlen);

/* The steps of wm_config_load, each applied on top of what cfg holds. */

/* Reads a YAML file: a mapping of key: value, a sequence or a comma-separated
 * string for list keys; null (~, null or nothing) puts a key back to its
 * default. At most 1 MiB. Errors name path:line. */
int wm_config_load_file(struct wm_config *cfg, const char *path, char *err, size_t errlen);
/* The same from memory; name is used in errors (the fuzzer's entry point). */
int wm_config_load_yaml(struct wm_config *cfg, const char *buf, size_t len, const char *name,
			char *err, size_t errlen);
/* WEBMESH_<KEY> variables; WEBMESH_CONFIG is the file path and is skipped. */
int wm_config_load_env(struct wm_config *cfg, char **envp, char *err, size_t errlen);
/* --key value, --key=value, --flag, --no-flag, -h; a list flag given twice
 * appends. Arguments that are not flags are errors. */
int wm_config_load_args(struct wm_config *cfg, int argc, char **argv, char *err, size_t errlen);

/* The --help text, generated from wm_cfg_keys. */
void wm_config_usage(FILE *f);

#endif
