/* The client side of authentication: headers a joiner or wmctl sends. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth_int.h"
#include "core/base64.h"
#include "core/key.h"
#include "core/keyauth.h"
#include "util/crypto.h"

static int load_seed(const char *path, unsigned char sk[64], char *err, size_t errlen)
{
	unsigned char seed[32];
	struct stat st;
	char *text = NULL;
	size_t len = 0, bin = 0;
	int r;

	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -errno;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "%s is readable by others: chmod 600 it", path);
		return -EPERM;
	}
	r = wm_auth_read_file(path, 1024, &text, &len);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
		return r;
	}
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
		text[--len] = '\0';
	r = wm_base64_decode(text, len, seed, sizeof(seed), &bin);
	wm_wipe(text, len);
	free(text);
	if (r != 0 || bin != sizeof(seed)) {
		snprintf(err, errlen, "%s is not a base64 Ed25519 seed (32 bytes)", path);
		wm_wipe(seed, sizeof(seed));
		return -EINVAL;
	}
	/* sk is seed || public key, the layout libsodium gave it. */
	memcpy(sk, seed, 32);
	wm_wipe(seed, sizeof(seed));
	if (wm_ed25519_public(sk, sk + 32) < 0) {
		snprintf(err, errlen, "cannot derive the public key of %s", path);
		wm_wipe(sk, 64);
		return -EIO;
	}
	return 0;
}

int wm_auth_client_init(struct wm_auth_client *c, const char *user, const char *password,
			const char *key_file, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	if (user || password) {
		if (!user || !password || !*user || strchr(user, ':')) {
			snprintf(err, errlen,
				 "basic auth needs a user (without ':') and a password");
			return -EINVAL;
		}
		size_t raw_len = strlen(user) + 1 + strlen(password);
		char *raw = malloc(raw_len + 1);
		size_t b64_len = WM_BASE64_ENCODED_LEN(raw_len);
		c->authorization = malloc(6 + b64_len);
		if (!raw || !c->authorization) {
			free(raw);
			free(c->authorization);
			c->authorization = NULL;
			return -ENOMEM;
		}
		snprintf(raw, raw_len + 1, "%s:%s", user, password);
		memcpy(c->authorization, "Basic ", 6);
		wm_base64_encode(raw, raw_len, c->authorization + 6);
		wm_wipe(raw, raw_len);
		free(raw);
	}
	if (key_file) {
		int r = load_seed(key_file, c->sk, err, errlen);
		if (r < 0) {
			wm_auth_client_free(c);
			return r;
		}
		c->has_key = true;
	}
	return 0;
}

size_t wm_auth_client_metadata(struct wm_auth_client *c, const char *node_id, const char *audience,
			       int64_t now, struct wm_rpc_metadata *md, size_t max)
{
	size_t n = 0;

	if (c->authorization && n < max) {
		md[n].key = "authorization";
		md[n++].value = c->authorization;
	}
	if (c->has_key && node_id && audience && n + 4 <= max) {
		char msg[WM_KEYAUTH_MSG_MAX];
		unsigned char sig[64];
		int64_t w = wm_keyauth_window(now);
		int len = wm_keyauth_message(node_id, audience, w, msg, sizeof(msg));
		if (len < 0)
			return n;
		if (wm_ed25519_sign(c->sk, msg, (size_t)len, sig) < 0)
			return n;
		snprintf(c->key_id, sizeof(c->key_id), "%s", node_id);
		snprintf(c->window, sizeof(c->window), "%" PRId64, w);
		snprintf(c->audience, sizeof(c->audience), "%s", audience);
		_Static_assert(sizeof(c->sig) >= WM_BASE64_ENCODED_LEN(64), "sig holds 64 bytes");
		wm_base64_encode(sig, sizeof(sig), c->sig);
		md[n].key = WM_KEYAUTH_HDR_ID;
		md[n++].value = c->key_id;
		md[n].key = WM_KEYAUTH_HDR_WINDOW;
		md[n++].value = c->window;
		md[n].key = WM_KEYAUTH_HDR_AUDIENCE;
		md[n++].value = c->audience;
		md[n].key = WM_KEYAUTH_HDR_SIG;
		md[n++].value = c->sig;
	}
	return n;
}

void wm_auth_client_free(struct wm_auth_client *c)
{
	if (!c)
		return;
	wm_auth_wipe_free(c->authorization);
	wm_wipe(c, sizeof(*c));
}

int wm_auth_key_generate(const char *path, char pub[45], char *err, size_t errlen)
{
	unsigned char seed[32], pk[32];
	char b64[64];
	int fd, r = 0;

	if (wm_random(seed, sizeof(seed)) < 0) {
		snprintf(err, errlen, "cannot get random bytes for a key");
		return -EIO;
	}
	if (wm_ed25519_public(seed, pk) < 0) {
		wm_wipe(seed, sizeof(seed));
		snprintf(err, errlen, "cannot derive an Ed25519 public key");
		return -EIO;
	}
	wm_base64_encode(seed, sizeof(seed), b64);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		goto out;
	}
	size_t len = strlen(b64);
	b64[len++] = '\n';
	if (write(fd, b64, len) != (ssize_t)len || fsync(fd) != 0) {
		r = -EIO;
		snprintf(err, errlen, "cannot write %s", path);
		unlink(path);
	}
	close(fd);
	wm_base64_encode(pk, sizeof(pk), pub);
out:
	wm_wipe(seed, sizeof(seed));
	wm_wipe(b64, sizeof(b64));
	return r;
}
