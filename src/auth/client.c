/* The client side of authentication: headers a joiner or wmctl sends. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "auth/auth_int.h"
#include "core/keyauth.h"

static int load_seed(const char *path, unsigned char sk[64], char *err, size_t errlen)
{
	unsigned char seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES];
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
	r = sodium_base642bin(seed, sizeof(seed), text, len, NULL, &bin, NULL,
			      sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(text, len);
	free(text);
	if (r != 0 || bin != sizeof(seed)) {
		snprintf(err, errlen, "%s is not a base64 Ed25519 seed (32 bytes)", path);
		sodium_memzero(seed, sizeof(seed));
		return -EINVAL;
	}
	crypto_sign_seed_keypair(pk, sk, seed);
	sodium_memzero(seed, sizeof(seed));
	return 0;
}

int wm_auth_client_init(struct wm_auth_client *c, const char *user, const char *password,
			const char *key_file, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	if (sodium_init() < 0)
		return -EIO;
	if (user || password) {
		if (!user || !password || !*user || strchr(user, ':')) {
			snprintf(err, errlen,
				 "basic auth needs a user (without ':') and a password");
			return -EINVAL;
		}
		size_t raw_len = strlen(user) + 1 + strlen(password);
		char *raw = malloc(raw_len + 1);
		size_t b64_len = sodium_base64_ENCODED_LEN(raw_len, sodium_base64_VARIANT_ORIGINAL);
		c->authorization = malloc(6 + b64_len);
		if (!raw || !c->authorization) {
			free(raw);
			free(c->authorization);
			c->authorization = NULL;
			return -ENOMEM;
		}
		snprintf(raw, raw_len + 1, "%s:%s", user, password);
		memcpy(c->authorization, "Basic ", 6);
		sodium_bin2base64(c->authorization + 6, b64_len, (unsigned char *)raw, raw_len,
				  sodium_base64_VARIANT_ORIGINAL);
		sodium_memzero(raw, raw_len);
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

size_t wm_auth_client_metadata(struct wm_auth_client *c, const char *node_id, int64_t now,
			       struct wm_rpc_metadata *md, size_t max)
{
	size_t n = 0;

	if (c->authorization && n < max) {
		md[n].key = "authorization";
		md[n++].value = c->authorization;
	}
	if (c->has_key && node_id && n + 3 <= max) {
		char msg[WM_KEYAUTH_MSG_MAX];
		unsigned char sig[crypto_sign_BYTES];
		int64_t w = wm_keyauth_window(now);
		int len = wm_keyauth_message(node_id, w, msg, sizeof(msg));
		if (len < 0)
			return n;
		crypto_sign_detached(sig, NULL, (unsigned char *)msg, (size_t)len, c->sk);
		snprintf(c->key_id, sizeof(c->key_id), "%s", node_id);
		snprintf(c->window, sizeof(c->window), "%" PRId64, w);
		sodium_bin2base64(c->sig, sizeof(c->sig), sig, sizeof(sig),
				  sodium_base64_VARIANT_ORIGINAL);
		md[n].key = WM_KEYAUTH_HDR_ID;
		md[n++].value = c->key_id;
		md[n].key = WM_KEYAUTH_HDR_WINDOW;
		md[n++].value = c->window;
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
	sodium_memzero(c, sizeof(*c));
}

int wm_auth_key_generate(const char *path, char pub[45], char *err, size_t errlen)
{
	unsigned char seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES],
		sk[crypto_sign_SECRETKEYBYTES];
	char b64[64];
	int fd, r = 0;

	if (sodium_init() < 0)
		return -EIO;
	randombytes_buf(seed, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	sodium_bin2base64(b64, sizeof(b64), seed, sizeof(seed), sodium_base64_VARIANT_ORIGINAL);
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
	sodium_bin2base64(pub, 45, pk, sizeof(pk), sodium_base64_VARIANT_ORIGINAL);
out:
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(b64, sizeof(b64));
	return r;
}
