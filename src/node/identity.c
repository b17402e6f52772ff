/* The node's WireGuard key: created once, kept in the state dir with mode 0600. */
#include "node/daemon.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "util/crypto.h"
#include "util/fsutil.h"

int wm_identity_load(const char *state_dir, wm_key priv, wm_key pub, char *err, size_t errlen)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/wireguard.key", state_dir);
	char *text = NULL;
	int rc = wm_read_file(path, 4096, &text, NULL);
	if (rc == 0) {
		struct stat st;
		if (stat(path, &st) == 0 && (st.st_mode & 077)) {
			free(text);
			snprintf(err, errlen,
				 "%s is readable by other users (mode %o): run chmod 600 on it",
				 path, st.st_mode & 0777);
			return -EPERM;
		}
		text[strcspn(text, "\r\n")] = '\0';
		rc = wm_key_from_base64(text, priv);
		wm_wipe(text, strlen(text));
		free(text);
		if (rc < 0) {
			snprintf(err, errlen, "%s does not hold a base64 WireGuard private key",
				 path);
			return rc;
		}
	} else if (rc == -ENOENT) {
		/* Curve25519 private key: 32 random bytes, clamped as RFC 7748 says. */
		rc = wm_random(priv, WM_KEY_LEN);
		if (rc < 0) {
			snprintf(err, errlen, "cannot get random bytes for a private key");
			return rc;
		}
		priv[0] &= 248;
		priv[31] = (priv[31] & 127) | 64;
		char b64[WM_KEY_B64_LEN + 2];
		wm_key_to_base64(priv, b64);
		strcat(b64, "\n");
		rc = wm_write_file_atomic(path, b64, strlen(b64), 0600);
		wm_wipe(b64, sizeof(b64));
		if (rc < 0) {
			snprintf(err, errlen, "cannot write %s: %s", path, wm_strerror(rc));
			return rc;
		}
	} else {
		snprintf(err, errlen, "cannot read %s: %s", path, wm_strerror(rc));
		return rc;
	}
	if (wm_x25519_public(priv, pub) < 0) {
		snprintf(err, errlen, "%s holds an invalid private key", path);
		return -EINVAL;
	}
	return 0;
}
