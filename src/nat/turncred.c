/* coturn shared-secret TURN credentials: HMAC-SHA1 over "EXPIRY:USER". */
#include "nat/turncred.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/key.h"

#define MAX_TTL_S (30u * 24 * 3600)

int wm_turn_rest_credentials(const char *secret, const char *user, int64_t now, uint32_t ttl_s,
			     struct wm_turn_credentials *out)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	size_t ulen, slen;
	int n;

	memset(out, 0, sizeof(*out));
	if (!secret || !user || ttl_s == 0 || ttl_s > MAX_TTL_S || now < 0)
		return -EINVAL;
	slen = strlen(secret);
	ulen = strlen(user);
	if (slen == 0 || slen > 4096 || ulen == 0 || ulen > WM_TURN_USER_MAX)
		return -EINVAL;
	for (size_t i = 0; i < ulen; i++)
		if (user[i] <= 0x20 || user[i] >= 0x7f || user[i] == ':')
			return -EINVAL;
	out->expires_at = now + (int64_t)ttl_s;
	n = snprintf(out->username, sizeof(out->username), "%" PRId64 ":%s", out->expires_at, user);
	if (n < 0 || (size_t)n >= sizeof(out->username))
		return -EINVAL;
	if (!HMAC(EVP_sha1(), secret, (int)slen, (const unsigned char *)out->username, (size_t)n,
		  mac, &mac_len) ||
	    mac_len != 20) {
		memset(out, 0, sizeof(*out));
		return -EIO;
	}
	EVP_EncodeBlock((unsigned char *)out->password, mac, (int)mac_len);
	wm_wipe(mac, sizeof(mac));
	return 0;
}
