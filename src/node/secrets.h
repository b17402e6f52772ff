/* Secrets in webmeshd's configuration: the *-file forms read, and the warnings
 * for secrets anyone on the host can read (a flag in /proc/PID/cmdline, a
 * config or secret file readable by group or others). */
#ifndef WM_NODE_SECRETS_H
#define WM_NODE_SECRETS_H

#include <stddef.h>

#include "core/config.h"

/* Which secret keys (bit i for wm_cfg_secret_files[i]) cfg holds now. */
unsigned wm_secrets_set(const struct wm_config *cfg);
/* Bit of the secret key name, or 0 when name is no secret key. */
unsigned wm_secrets_bit(const char *name);

/* For every *-file key that is set: reads the secret from the first line of
 * the file (at most 4 KiB, no NUL, trailing CR/LF dropped, not empty) into
 * its key. Giving both a secret and its file is an error. Returns 0 or
 * -WM_ECONFIG with err naming the key and the file (never the secret). */
int wm_secrets_resolve(struct wm_config *cfg, char *err, size_t errlen);

#define WM_SECRETS_WARN_LEN 320
/* The startup warnings (what is exposed, and the fix), at most max; returns
 * how many. Stats the config file and the secret files. */
size_t wm_secrets_warnings(const struct wm_config *cfg, char (*out)[WM_SECRETS_WARN_LEN],
			   size_t max);

#endif
