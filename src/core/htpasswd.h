/* htpasswd files: parsing and hash policy (pure; verification is in src/auth). */
#ifndef WM_CORE_HTPASSWD_H
#define WM_CORE_HTPASSWD_H

#include <stddef.h>

#define WM_HTPASSWD_USER_MAX 255
#define WM_HTPASSWD_MAX_BYTES (1u << 20)
#define WM_HTPASSWD_MAX_USERS 10000

enum wm_hash_kind {
	WM_HASH_BCRYPT,	  /* $2b$ / $2y$ */
	WM_HASH_YESCRYPT, /* $y$ */
	WM_HASH_SHA256,	  /* $5$ */
	WM_HASH_SHA512,	  /* $6$ */
};

struct wm_htpasswd_entry {
	char *user; /* owned */
	char *hash; /* owned; a crypt(3) setting string */
	enum wm_hash_kind kind;
};

struct wm_htpasswd {
	struct wm_htpasswd_entry *entries; /* owned, sorted by user */
	size_t n;
};

/* What kind of hash text is: 0 and *kind for an accepted one, else -EINVAL
 * with *why saying what it is and why it is refused (static text that never
 * contains the hash), e.g. "an MD5-crypt ($1$) hash, which is too weak". */
int wm_hash_classify(const char *hash, enum wm_hash_kind *kind, const char **why);

/* Parses "user:hash" lines (blank lines and lines starting with '#' are
 * skipped; CRLF is accepted). Refuses the whole file - so that a typo never
 * silently locks a user out or lets one in - when a line has no ':', an empty
 * or over-long user, a control character, a duplicate user, or a hash that
 * wm_hash_classify refuses (plaintext, DES, MD5, $apr1$, {SHA}, ...). err
 * names the line number and the user, never the hash. -EINVAL, -E2BIG (over
 * WM_HTPASSWD_MAX_BYTES or WM_HTPASSWD_MAX_USERS), -ENOMEM. */
int wm_htpasswd_parse(const char *text, size_t len, struct wm_htpasswd *out, char *err,
		      size_t errlen);
/* The entry of user, or NULL. */
const struct wm_htpasswd_entry *wm_htpasswd_find(const struct wm_htpasswd *h, const char *user);
/* Frees and wipes the hashes; NULL is fine. */
void wm_htpasswd_free(struct wm_htpasswd *h);

#endif
