/* Key authenticator: a node signs its ID, the server it calls (its certificate
 * fingerprint) and the current time window with Ed25519. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "core/base64.h"
#include "core/ids.h"
#include "core/keyauth.h"
#include "util/crypto.h"

#define KEYS_MAX_BYTES (1u << 20)

struct key_entry {
	char id[WM_NODE_ID_MAX + 1];
	unsigned char pk[32];
};

struct keyauth {
	char *path;
	uint32_t skew;
	pthread_mutex_t lock;
	struct key_entry *keys;
	size_t n;
	bool valid;
	struct wm_file_id file;
};

/* "ID BASE64KEY" lines; '#' comments and blank lines skipped. */
static int parse_keys(const char *text, struct key_entry **out, size_t *n_out, char *err,
		      size_t errlen)
{
	struct key_entry *keys = NULL;
	size_t n = 0, cap = 0, line = 0;
	const char *s = text;

	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		char buf[256], id[WM_NODE_ID_MAX + 2], key[128];
		line++;
		if (len && s[len - 1] == '\r')
			len--;
		if (len >= sizeof(buf)) {
			snprintf(err, errlen, "line %zu: too long", line);
			goto fail;
		}
		memcpy(buf, s, len);
		buf[len] = '\0';
		s = nl ? nl + 1 : s + strlen(s);
		char *p = buf;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			continue;
		char extra[2];
		if (sscanf(p, "%64s %127s %1s", id, key, extra) != 2) {
			snprintf(err, errlen, "line %zu: not \"NODE-ID PUBLIC-KEY\"", line);
			goto fail;
		}
		const char *why = NULL;
		if (wm_node_id_check(id, &why) < 0) {
			snprintf(err, errlen, "line %zu: invalid node ID: it %s", line, why);
			goto fail;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			void *q = realloc(keys, cap * sizeof(*keys));
			if (!q) {
				free(keys);
				return -ENOMEM;
			}
			keys = q;
		}
		size_t bin = 0;
		if (wm_base64_decode(key, strlen(key), keys[n].pk, sizeof(keys[n].pk), &bin) != 0 ||
		    bin != sizeof(keys[n].pk)) {
			snprintf(err, errlen,
				 "line %zu (node %s): not a base64 Ed25519 public key (32 bytes)",
				 line, id);
			goto fail;
		}
		for (size_t i = 0; i < n; i++) {
			if (strcmp(keys[i].id, id) == 0) {
				snprintf(err, errlen, "line %zu: node %s is listed twice", line,
					 id);
				goto fail;
			}
		}
		memcpy(keys[n].id, id, strlen(id) + 1); /* checked: at most 63 */
		n++;
	}
	*out = keys;
	*n_out = n;
	return 0;
fail:
	free(keys);
	return -EINVAL;
}

static int refresh(struct keyauth *k, char *err, size_t errlen)
{
	struct wm_file_id now;
	struct key_entry *keys;
	char *text;
	size_t len, n;
	int r = wm_auth_file_id(k->path, &now);

	if (r < 0) {
		snprintf(err, errlen, "cannot read %s: %s", k->path, strerror(-r));
		k->valid = false;
		return r;
	}
	if (k->valid && wm_auth_file_id_equal(&now, &k->file))
		return 0;
	r = wm_auth_read_file(k->path, KEYS_MAX_BYTES, &text, &len);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s: %s", k->path,
			 r == -E2BIG ? "too large" : strerror(-r));
		k->valid = false;
		return r;
	}
	char e[200] = "";
	r = strlen(text) != len ? -EINVAL : parse_keys(text, &keys, &n, e, sizeof(e));
	free(text);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", k->path, e[0] ? e : "contains a NUL byte");
		k->valid = false;
		k->file = now;
		return r;
	}
	free(k->keys);
	k->keys = keys;
	k->n = n;
	k->valid = true;
	k->file = now;
	return 0;
}

static int key_authenticate(void *self, const struct wm_auth_request *req, struct wm_identity *out,
			    char *why, size_t whylen)
{
	struct keyauth *k = self;
	unsigned char sig[64], pk[32];
	char msg[WM_KEYAUTH_MSG_MAX], e[256];
	size_t siglen = 0;
	int64_t window;
	bool found = false, valid;
	int n;

	if (!req->key_id && !req->key_sig && !req->key_window && !req->key_audience)
		return -ENOENT;
	if (!req->key_id || !req->key_sig || !req->key_window ||
	    wm_node_id_check(req->key_id, NULL) < 0 ||
	    wm_keyauth_parse_window(req->key_window, &window) < 0 || strlen(req->key_sig) > 128 ||
	    wm_base64_decode(req->key_sig, strlen(req->key_sig), sig, sizeof(sig), &siglen) != 0 ||
	    siglen != sizeof(sig)) {
		snprintf(why, whylen, "malformed key-auth headers");
		return -EACCES;
	}
	if (!wm_keyauth_audience_ok(req->server_fp)) {
		snprintf(why, whylen, "key auth needs a TLS connection");
		return -EACCES;
	}
	/* The header only names the audience for this message; the signature
	 * below is checked over our own fingerprint, whatever it says. */
	if (!req->key_audience || strcmp(req->key_audience, req->server_fp) != 0) {
		snprintf(why, whylen,
			 "the key-auth signature is for another server (not this server's "
			 "certificate %.71s)",
			 req->server_fp);
		return -EACCES;
	}
	if (!wm_keyauth_window_ok(window, req->now, k->skew)) {
		snprintf(why, whylen, "the signed time window is outside the allowed clock skew");
		return -EACCES;
	}
	pthread_mutex_lock(&k->lock);
	refresh(k, e, sizeof(e));
	valid = k->valid;
	for (size_t i = 0; valid && i < k->n; i++) {
		if (strcmp(k->keys[i].id, req->key_id) == 0) {
			memcpy(pk, k->keys[i].pk, sizeof(pk));
			found = true;
		}
	}
	pthread_mutex_unlock(&k->lock);
	if (!valid) {
		snprintf(why, whylen, "the key-auth keys file is invalid or unreadable; fix it");
		return -EIO;
	}
	n = wm_keyauth_message(req->key_id, req->server_fp, window, msg, sizeof(msg));
	if (!found || n < 0 || wm_ed25519_verify(pk, msg, (size_t)n, sig) != 0) {
		snprintf(why, whylen, "unknown node key or bad signature");
		return -EACCES;
	}
	snprintf(out->id, sizeof(out->id), "%s", req->key_id);
	out->kind = WM_ID_NODE;
	snprintf(out->method, sizeof(out->method), "key");
	return 0;
}

static void key_free(void *self)
{
	struct keyauth *k = self;
	if (!k)
		return;
	free(k->keys);
	free(k->path);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

static const struct wm_authenticator_ops key_ops = {
	.name = "key",
	.authenticate = key_authenticate,
	.free = key_free,
};

int wm_auth_key_new(const char *path, uint32_t skew, struct wm_authenticator *out, char *err,
		    size_t errlen)
{
	struct keyauth *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return -ENOMEM;
	pthread_mutex_init(&k->lock, NULL);
	k->skew = skew;
	k->path = strdup(path);
	if (!k->path) {
		key_free(k);
		return -ENOMEM;
	}
	r = refresh(k, err, errlen);
	if (r < 0) {
		key_free(k);
		return r;
	}
	out->ops = &key_ops;
	out->self = k;
	return 0;
}
