/* htpasswd authenticator: "Authorization: Basic" checked with crypt_r(3).
 * libcrypt is opened when an htpasswd file is configured, not linked: most
 * nodes never check a password, and loading it costs every process about
 * 80 KiB of RSS. */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth/auth_int.h"
#include "core/htpasswd.h"
#include "core/key.h"
#include "util/module.h"

/* The soname of the ABI the header above describes. */
#define CRYPT_LIBRARY "libcrypt.so.1"

/* Process-wide by nature: a library is mapped once per process, and its
 * entry point, once bound, never changes (the lock orders the first binding
 * between the threadpool's authentications). */
static __typeof__(crypt_r) *crypt_fn;
static pthread_mutex_t crypt_lock = PTHREAD_MUTEX_INITIALIZER;

/* Opens the library once; a failure is retried on the next authenticator, so
 * that installing it does not need a restart. Never closed. */
static int crypt_open(char *err, size_t errlen)
{
	int rc = 0;

	pthread_mutex_lock(&crypt_lock);
	if (crypt_fn)
		goto out;
	const struct wm_library_sym sym = {(void **)&crypt_fn, "crypt_r"};
	rc = wm_library_bind("htpasswd", CRYPT_LIBRARY, "libcrypt1", &sym, 1, err, errlen);
out:
	pthread_mutex_unlock(&crypt_lock);
	return rc;
}

struct basic {
	char *path;
	pthread_mutex_t lock; /* the table and the file identity below */
	struct wm_htpasswd table;
	bool valid; /* false after a reload found the file broken */
	struct wm_file_id file;
};

/* Re-reads the file when it changed; under b->lock. */
static int refresh(struct basic *b, char *err, size_t errlen)
{
	struct wm_file_id now;
	struct wm_htpasswd t;
	char *text = NULL;
	size_t len = 0;
	int r;

	r = wm_auth_file_id(b->path, &now);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s: %s", b->path, strerror(-r));
		b->valid = false;
		return r;
	}
	if (b->valid && wm_auth_file_id_equal(&now, &b->file))
		return 0;
	r = wm_auth_read_file(b->path, WM_HTPASSWD_MAX_BYTES, &text, &len);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s: %s", b->path,
			 r == -E2BIG ? "too large" : strerror(-r));
		b->valid = false;
		return r;
	}
	char e[256] = "";
	r = wm_htpasswd_parse(text, len, &t, e, sizeof(e));
	wm_wipe(text, len);
	free(text);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", b->path, e);
		b->valid = false;
		b->file = now;
		return r;
	}
	wm_htpasswd_free(&b->table);
	b->table = t;
	b->valid = true;
	b->file = now;
	return 0;
}

static int basic_authenticate(void *self, const struct wm_auth_request *req,
			      struct wm_identity *out, char *why, size_t whylen)
{
	/* A valid bcrypt hash of nothing anyone knows: unknown users cost as
	 * much as known ones, so timing does not tell which names exist. */
	static const char dummy[] = "$2b$10$C6UzMDM.H6dfI/f/IKcEeOWjlUeRkcZqc378l7OT5HeNr9WR2BiY6";
	struct basic *b = self;
	char user[WM_HTPASSWD_USER_MAX + 1], *pass = NULL, *hash = NULL;
	struct crypt_data *cd;
	int r;

	r = wm_auth_parse_basic(req->authorization, user, sizeof(user), &pass);
	if (r == -ENOENT)
		return -ENOENT;
	if (r < 0) {
		snprintf(why, whylen, "malformed authorization header");
		return -EACCES;
	}
	pthread_mutex_lock(&b->lock);
	char e[256];
	refresh(b, e, sizeof(e));
	const struct wm_htpasswd_entry *ent = b->valid ? wm_htpasswd_find(&b->table, user) : NULL;
	bool valid = b->valid;
	if (ent)
		hash = strdup(ent->hash);
	pthread_mutex_unlock(&b->lock);
	cd = calloc(1, sizeof(*cd));
	if (!cd || (ent && !hash)) {
		free(cd);
		free(hash);
		wm_auth_wipe_free(pass);
		snprintf(why, whylen, "out of memory");
		return -EIO;
	}
	/* Set before any authenticator exists (wm_auth_basic_new), never reset. */
	const char *got = crypt_fn(pass, hash ? hash : dummy, cd);
	bool ok = hash && got && got[0] != '*' && strlen(got) == strlen(hash) &&
		  CRYPTO_memcmp(got, hash, strlen(hash)) == 0;
	wm_wipe(cd, sizeof(*cd));
	free(cd);
	if (hash) {
		wm_wipe(hash, strlen(hash));
		free(hash);
	}
	wm_auth_wipe_free(pass);
	if (!valid) {
		snprintf(why, whylen, "the htpasswd file is invalid or unreadable; fix it");
		return -EIO;
	}
	if (!ok) {
		snprintf(why, whylen, "unknown user or wrong password");
		return -EACCES;
	}
	if (strlen(user) >= sizeof(out->id) || wm_rbac_name_check(user, NULL) < 0) {
		snprintf(why, whylen, "the user name is not a valid ID");
		return -EACCES;
	}
	memcpy(out->id, user, strlen(user) + 1);
	out->kind = WM_ID_USER;
	snprintf(out->method, sizeof(out->method), "basic");
	return 0;
}

static void basic_free(void *self)
{
	struct basic *b = self;
	if (!b)
		return;
	wm_htpasswd_free(&b->table);
	pthread_mutex_destroy(&b->lock);
	free(b->path);
	free(b);
}

static const struct wm_authenticator_ops basic_ops = {
	.name = "basic",
	.authenticate = basic_authenticate,
	.free = basic_free,
};

int wm_auth_basic_new(const char *path, struct wm_authenticator *out, char *err, size_t errlen)
{
	struct basic *b;
	int r;

	r = crypt_open(err, errlen);
	if (r < 0)
		return r;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	b->path = strdup(path);
	if (!b->path) {
		basic_free(b);
		return -ENOMEM;
	}
	r = refresh(b, err, errlen);
	if (r < 0) {
		basic_free(b);
		return r;
	}
	out->ops = &basic_ops;
	out->self = b;
	return 0;
}
