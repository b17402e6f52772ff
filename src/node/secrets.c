/* Secrets from files, and warnings for secrets others on the host can read. */
#include "node/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/key.h"

#define SECRET_FILE_MAX 4096

static char **field(struct wm_config *cfg, const char *key)
{
	const struct wm_cfg_key *k = wm_cfg_find(key);
	return k ? (char **)((char *)cfg + k->offset) : NULL;
}

static const char *cfield(const struct wm_config *cfg, const char *key)
{
	const struct wm_cfg_key *k = wm_cfg_find(key);
	return k ? *(char *const *)((const char *)cfg + k->offset) : NULL;
}

unsigned wm_secrets_set(const struct wm_config *cfg)
{
	unsigned bits = 0;
	for (unsigned i = 0; wm_cfg_secret_files[i].key; i++)
		if (cfield(cfg, wm_cfg_secret_files[i].key))
			bits |= 1u << i;
	return bits;
}

unsigned wm_secrets_bit(const char *name)
{
	for (unsigned i = 0; wm_cfg_secret_files[i].key; i++)
		if (strcmp(wm_cfg_secret_files[i].key, name) == 0)
			return 1u << i;
	return 0;
}

/* The first line of path into *out (malloc'd); the buffer is wiped. */
static int read_secret(const char *path, char **out, const char **why)
{
	char buf[SECRET_FILE_MAX + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	ssize_t n;
	size_t len = 0;

	if (fd < 0) {
		*why = strerror(errno);
		return -errno;
	}
	while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)n;
	close(fd);
	int r = 0;
	if (len > SECRET_FILE_MAX) {
		*why = "is larger than 4 KiB";
		r = -EFBIG;
	} else if (memchr(buf, '\0', len)) {
		*why = "contains a NUL byte";
		r = -EINVAL;
	} else {
		buf[len] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		if (!buf[0]) {
			*why = "has an empty first line";
			r = -EINVAL;
		} else if (!(*out = strdup(buf))) {
			r = -ENOMEM;
		}
	}
	wm_wipe(buf, sizeof(buf));
	return r;
}

int wm_secrets_resolve(struct wm_config *cfg, char *err, size_t errlen)
{
	for (unsigned i = 0; wm_cfg_secret_files[i].key; i++) {
		const struct wm_cfg_secret_file *s = &wm_cfg_secret_files[i];
		const char *path = cfield(cfg, s->file_key);
		char **slot = field(cfg, s->key), *v = NULL;
		const char *why = "";
		if (!path || !slot)
			continue;
		if (*slot) {
			snprintf(err, errlen, "config: give %s or %s, not both", s->key,
				 s->file_key);
			return -WM_ECONFIG;
		}
		int r = read_secret(path, &v, &why);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			snprintf(err, errlen, "config: %s %s: %s", s->file_key, path, why);
			return -WM_ECONFIG;
		}
		*slot = v;
	}
	return 0;
}

static bool others_read(const char *path, mode_t *mode)
{
	struct stat st;
	if (!path || stat(path, &st) < 0)
		return false;
	*mode = st.st_mode & 07777;
	return (st.st_mode & 077) != 0;
}

size_t wm_secrets_warnings(const struct wm_config *cfg, char (*out)[WM_SECRETS_WARN_LEN],
			   size_t max)
{
	size_t n = 0;
	mode_t mode = 0;
	bool conf_open = others_read(cfg->config_file, &mode);

	for (unsigned i = 0; wm_cfg_secret_files[i].key && n < max; i++) {
		const struct wm_cfg_secret_file *s = &wm_cfg_secret_files[i];
		const char *path = cfield(cfg, s->file_key);
		mode_t m = 0;
		if (cfg->secret_from_flag & (1u << i))
			snprintf(out[n++], WM_SECRETS_WARN_LEN,
				 "the secret %s is given as a flag: every local user can read it "
				 "in /proc/PID/cmdline; use --%s FILE (mode 0600) instead",
				 s->key, s->file_key);
		else if (conf_open && (cfg->secret_from_config & (1u << i)) && n < max)
			snprintf(out[n++], WM_SECRETS_WARN_LEN,
				 "the config file %s holds the secret %s and is readable by "
				 "group or others (mode %04o): chmod 600 %s",
				 cfg->config_file, s->key, (unsigned)mode, cfg->config_file);
		if (path && others_read(path, &m) && n < max)
			snprintf(out[n++], WM_SECRETS_WARN_LEN,
				 "the secret file %s (%s) is readable by group or others (mode "
				 "%04o): chmod 600 %s",
				 path, s->file_key, (unsigned)m, path);
	}
	/* storage plugins (issue 12): the etcd client key lets its holder
	 * rewrite the whole mesh. */
	if (cfg->etcd_key && others_read(cfg->etcd_key, &mode) && n < max)
		snprintf(out[n++], WM_SECRETS_WARN_LEN,
			 "the etcd client key %s (etcd-key) is readable by group or others (mode "
			 "%04o): chmod 600 %s",
			 cfg->etcd_key, (unsigned)mode, cfg->etcd_key);
	return n;
}
