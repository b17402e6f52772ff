/* Time-limited TURN credentials in coturn's shared-secret scheme (the "TURN
 * REST API" of draft-uberti-behave-turn-rest, coturn's use-auth-secret):
 * username = "EXPIRY:USER" with EXPIRY in unix seconds, password =
 * base64(HMAC-SHA1(secret, username)). A server node that knows the secret
 * hands these out, so that no long-term TURN secret sits on clients. Pure:
 * the time comes in as an argument. */
#ifndef WM_NAT_TURNCRED_H
#define WM_NAT_TURNCRED_H

#include <stddef.h>
#include <stdint.h>

#define WM_TURN_USER_MAX 96	 /* the USER part */
#define WM_TURN_USERNAME_MAX 128 /* "EXPIRY:USER" with its NUL */
#define WM_TURN_PASSWORD_LEN 29	 /* base64 of 20 bytes (28) and a NUL */

struct wm_turn_credentials {
	char username[WM_TURN_USERNAME_MAX];
	char password[WM_TURN_PASSWORD_LEN]; /* a secret: wipe after use */
	int64_t expires_at;		     /* unix seconds */
};

/* Credentials for user (1..WM_TURN_USER_MAX printable ASCII characters, no ':'
 * - coturn splits the username at the first ':'), valid from now until
 * now + ttl_s (1 s .. 30 days). secret must not be empty. Returns 0, -EINVAL
 * (bad user, secret or ttl), or -EIO if the HMAC could not be computed. */
int wm_turn_rest_credentials(const char *secret, const char *user, int64_t now, uint32_t ttl_s,
			     struct wm_turn_credentials *out);

#endif
