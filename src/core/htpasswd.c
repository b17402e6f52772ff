/* htpasswd parsing: only salted, slow hashes are accepted. */
#include "core/htpasswd.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/key.h"
#include "core/sort.h"

/* crypt(3)'s base64 alphabet. */
static bool b64c(char c)
{
	return c == '.' || c == '/' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	       (c >= 'a' && c <= 'z');
}

static bool all_b64c(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!b64c(s[i]))
			return false;
	return true;
}

static int bcrypt_ok(const char *h, const char **why)
{
	/* $2b$NN$ + 22 salt + 31 hash characters */
	if (strlen(h) != 60 || h[6] != '$' || h[4] < '0' || h[4] > '3' || h[5] < '0' ||
	    h[5] > '9' || !all_b64c(h + 7, 53)) {
		*why = "a malformed bcrypt hash";
		return -EINVAL;
	}
	int cost = (h[4] - '0') * 10 + (h[5] - '0');
	if (cost < 4 || cost > 31) {
		*why = "a bcrypt hash with a cost outside 4..31";
		return -EINVAL;
	}
	return 0;
}

static int sha_ok(const char *h, size_t hash_len, const char **why)
{
	const char *p = h + 3, *d;

	if (strncmp(p, "rounds=", 7) == 0) {
		unsigned long r = 0;
		p += 7;
		if (*p < '1' || *p > '9') {
			*why = "a SHA-crypt hash with malformed rounds=";
			return -EINVAL;
		}
		while (*p >= '0' && *p <= '9' && r < 1000000000UL)
			r = r * 10 + (unsigned long)(*p++ - '0');
		if (*p++ != '$' || r < 1000) {
			*why = "a SHA-crypt hash with malformed or too few rounds";
			return -EINVAL;
		}
	}
	d = strchr(p, '$');
	if (!d || d == p || d - p > 16 || !all_b64c(p, (size_t)(d - p)) ||
	    strlen(d + 1) != hash_len || !all_b64c(d + 1, hash_len)) {
		*why = "a malformed SHA-crypt hash";
		return -EINVAL;
	}
	return 0;
}

static int yescrypt_ok(const char *h, const char **why)
{
	/* $y$PARAMS$SALT$HASH, all in crypt's alphabet; HASH is 43 characters. */
	const char *p = h + 3, *a = strchr(p, '$'), *b = a ? strchr(a + 1, '$') : NULL;

	if (!a || !b || a == p || b == a + 1 || !all_b64c(p, (size_t)(a - p)) ||
	    !all_b64c(a + 1, (size_t)(b - a - 1)) || strlen(b + 1) != 43 || !all_b64c(b + 1, 43)) {
		*why = "a malformed yescrypt hash";
		return -EINVAL;
	}
	return 0;
}

int wm_hash_classify(const char *h, enum wm_hash_kind *kind, const char **why)
{
	const char *dummy;

	if (!why)
		why = &dummy;
	if (!h || !*h) {
		*why = "an empty password hash";
		return -EINVAL;
	}
	if (strncmp(h, "$2b$", 4) == 0 || strncmp(h, "$2y$", 4) == 0) {
		*kind = WM_HASH_BCRYPT;
		return bcrypt_ok(h, why);
	}
	if (strncmp(h, "$y$", 3) == 0) {
		*kind = WM_HASH_YESCRYPT;
		return yescrypt_ok(h, why);
	}
	if (strncmp(h, "$5$", 3) == 0) {
		*kind = WM_HASH_SHA256;
		return sha_ok(h, 43, why);
	}
	if (strncmp(h, "$6$", 3) == 0) {
		*kind = WM_HASH_SHA512;
		return sha_ok(h, 86, why);
	}
	if (strncmp(h, "$2a$", 4) == 0 || strncmp(h, "$2x$", 4) == 0)
		*why = "a bcrypt hash of an old, flawed variant ($2a$/$2x$)";
	else if (strncmp(h, "$1$", 3) == 0)
		*why = "an MD5-crypt ($1$) hash, which is too weak";
	else if (strncmp(h, "$apr1$", 6) == 0)
		*why = "an Apache MD5 ($apr1$) hash, which is too weak";
	else if (strncmp(h, "{SHA}", 5) == 0)
		*why = "an unsalted SHA-1 ({SHA}) hash";
	else if (strncmp(h, "{SSHA}", 6) == 0)
		*why = "a salted SHA-1 ({SSHA}) hash, which is too fast to resist guessing";
	else if (h[0] == '$')
		*why = "a hash of an unknown or unsupported scheme";
	else if (strlen(h) == 13 && all_b64c(h, 13))
		*why = "a DES-crypt hash (or a 13-character plaintext password), which is too weak";
	else
		*why = "not a hash (a plaintext password?)";
	return -EINVAL;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct wm_htpasswd_entry *)a)->user,
		      ((const struct wm_htpasswd_entry *)b)->user);
}

/* A user name for an error message: printable ASCII only, cut at 64. */
static void show_user(const char *u, size_t n, char *out, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < n && i < 64 && o + 2 < len; i++)
		out[o++] = (u[i] >= 0x20 && u[i] < 0x7f) ? u[i] : '?';
	out[o] = '\0';
}

int wm_htpasswd_parse(const char *text, size_t len, struct wm_htpasswd *out, char *err,
		      size_t errlen)
{
	struct wm_htpasswd h = {0};
	size_t cap = 0, line = 0, pos = 0;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (!text && len)
		return -EINVAL;
	if (len > WM_HTPASSWD_MAX_BYTES) {
		snprintf(err, errlen, "the file is larger than %u bytes", WM_HTPASSWD_MAX_BYTES);
		return -E2BIG;
	}
	while (pos < len) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		char who[80];

		pos += n + (nl ? 1 : 0);
		line++;
		if (n && s[n - 1] == '\r')
			n--;
		if (n == 0 || s[0] == '#')
			continue;
		for (size_t i = 0; i < n; i++) {
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
				snprintf(err, errlen, "line %zu: contains a control character",
					 line);
				r = -EINVAL;
				goto fail;
			}
		}
		const char *colon = memchr(s, ':', n);
		if (!colon) {
			snprintf(err, errlen, "line %zu: not \"user:hash\" (no ':')", line);
			r = -EINVAL;
			goto fail;
		}
		size_t ulen = (size_t)(colon - s);
		show_user(s, ulen, who, sizeof(who));
		if (ulen == 0 || ulen > WM_HTPASSWD_USER_MAX) {
			snprintf(err, errlen, "line %zu: the user name is empty or longer than %d",
				 line, WM_HTPASSWD_USER_MAX);
			r = -EINVAL;
			goto fail;
		}
		if (h.n >= WM_HTPASSWD_MAX_USERS) {
			snprintf(err, errlen, "line %zu: more than %d users", line,
				 WM_HTPASSWD_MAX_USERS);
			r = -E2BIG;
			goto fail;
		}
		if (h.n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			void *p = realloc(h.entries, nc * sizeof(*h.entries));
			if (!p) {
				r = -ENOMEM;
				goto fail;
			}
			h.entries = p;
			cap = nc;
		}
		struct wm_htpasswd_entry *e = &h.entries[h.n];
		e->user = strndup(s, ulen);
		e->hash = strndup(colon + 1, n - ulen - 1);
		h.n++;
		if (!e->user || !e->hash) {
			r = -ENOMEM;
			goto fail;
		}
		const char *why = NULL;
		if (wm_hash_classify(e->hash, &e->kind, &why) < 0) {
			snprintf(err, errlen,
				 "line %zu (user \"%s\"): %s; accepted are bcrypt ($2y$, $2b$), "
				 "yescrypt ($y$) and SHA-crypt ($5$, $6$), e.g. htpasswd -B",
				 line, who, why);
			r = -EINVAL;
			goto fail;
		}
	}
	wm_sort(h.entries, h.n, sizeof(*h.entries), entry_cmp);
	for (size_t i = 1; i < h.n; i++) {
		if (strcmp(h.entries[i - 1].user, h.entries[i].user) == 0) {
			char who[80];
			show_user(h.entries[i].user, strlen(h.entries[i].user), who, sizeof(who));
			snprintf(err, errlen, "user \"%s\" is listed twice", who);
			r = -EINVAL;
			goto fail;
		}
	}
	*out = h;
	return 0;
fail:
	wm_htpasswd_free(&h);
	return r;
}

const struct wm_htpasswd_entry *wm_htpasswd_find(const struct wm_htpasswd *h, const char *user)
{
	struct wm_htpasswd_entry key = {.user = (char *)user};

	if (!h || !user || !h->n)
		return NULL;
	return bsearch(&key, h->entries, h->n, sizeof(key), entry_cmp);
}

void wm_htpasswd_free(struct wm_htpasswd *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++) {
		free(h->entries[i].user);
		if (h->entries[i].hash)
			wm_wipe(h->entries[i].hash, strlen(h->entries[i].hash));
		free(h->entries[i].hash);
	}
	free(h->entries);
	h->entries = NULL;
	h->n = 0;
}
