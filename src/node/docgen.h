/* webmeshd's documents generated from the key table (src/core/config.c), the
 * same table --help prints: the man page webmeshd(8), bash completion and a
 * commented example configuration file. Run at build time
 * (webmeshd --help-man | --help-completion | --help-example-config). */
#ifndef WM_NODE_DOCGEN_H
#define WM_NODE_DOCGEN_H

#include <stdio.h>

#include "core/config.h"

/* Each writes to f from the table keys (terminated by a NULL name). */
void wm_docgen_man(FILE *f, const struct wm_cfg_key *keys);
void wm_docgen_completion(FILE *f, const struct wm_cfg_key *keys);
void wm_docgen_example_config(FILE *f, const struct wm_cfg_key *keys);

/* Text for roff: backslashes, hyphens and a leading dot or quote escaped. */
void wm_docgen_roff(FILE *f, const char *s);

#endif
