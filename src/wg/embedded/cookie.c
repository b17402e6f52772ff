/* MAC1/MAC2 and cookie replies (see cookie.h; whitepaper 5.4.4, 5.4.7). */
#include "wg/embedded/cookie.h"

#include <errno.h>
#include <string.h>

/* MAC1 covers everything before it, MAC2 everything before it; both sit at
 * the end of the message. */
static size_t mac1_off(size_t len)
{
	return len - sizeof(struct wgm_macs);
}

static size_t mac2_off(size_t len)
{
	return len - WGP_MAC_LEN;
}

static int cookie_for(struct wgc_checker *c, const uint8_t *addr, size_t addrlen, int64_t now_ns,
		      uint8_t cookie[WGP_MAC_LEN])
{
	if (!c->has_secret || now_ns - c->secret_birth_ns >= WGC_SECRET_MAX_AGE_NS) {
		if (wgp_random(c->secret, sizeof(c->secret)) < 0)
			return -EIO;
		c->secret_birth_ns = now_ns;
		c->has_secret = true;
	}
	return wgp_mac(cookie, c->secret, sizeof(c->secret), addr, addrlen);
}

enum wgc_result wgc_check(struct wgc_checker *c, const uint8_t mac1_key[32], const uint8_t *msg,
			  size_t len, const uint8_t *addr, size_t addrlen, int64_t now_ns)
{
	uint8_t mac[WGP_MAC_LEN], cookie[WGP_MAC_LEN];
	enum wgc_result r = WGC_INVALID;

	if (len < sizeof(struct wgm_macs) + 4)
		return WGC_INVALID;
	if (wgp_mac(mac, mac1_key, 32, msg, mac1_off(len)) < 0 ||
	    !wgp_equal(mac, msg + mac1_off(len), WGP_MAC_LEN))
		return WGC_INVALID;
	r = WGC_VALID_MAC1;
	/* A secret older than its age limit answers no MAC2: the sender holds a
	 * cookie we no longer vouch for. */
	if (c->has_secret && now_ns - c->secret_birth_ns < WGC_SECRET_MAX_AGE_NS &&
	    wgp_mac(cookie, c->secret, sizeof(c->secret), addr, addrlen) == 0 &&
	    wgp_mac(mac, cookie, WGP_MAC_LEN, msg, mac2_off(len)) == 0 &&
	    wgp_equal(mac, msg + mac2_off(len), WGP_MAC_LEN))
		r = WGC_VALID_MAC1_MAC2;
	wgp_wipe(cookie, sizeof(cookie));
	return r;
}

int wgc_make_reply(struct wgc_checker *c, const uint8_t cookie_key[32], const uint8_t *msg,
		   size_t len, uint32_t receiver_index, const uint8_t *addr, size_t addrlen,
		   int64_t now_ns, struct wgm_cookie *reply)
{
	uint8_t cookie[WGP_MAC_LEN];
	int ret;

	if (len < sizeof(struct wgm_macs) + 4)
		return -EINVAL;
	memset(reply, 0, sizeof(*reply));
	reply->type[0] = WGM_COOKIE;
	wgm_put32(reply->receiver, receiver_index);
	ret = wgp_random(reply->nonce, sizeof(reply->nonce));
	if (!ret)
		ret = cookie_for(c, addr, addrlen, now_ns, cookie);
	if (!ret)
		ret = wgp_xaead_seal(reply->encrypted_cookie, cookie_key, reply->nonce, cookie,
				     sizeof(cookie), msg + mac1_off(len), WGP_MAC_LEN);
	wgp_wipe(cookie, sizeof(cookie));
	return ret;
}

int wgc_add_macs(struct wgc_maker *m, const uint8_t peer_mac1_key[32], uint8_t *msg, size_t len,
		 int64_t now_ns)
{
	int ret;

	if (len < sizeof(struct wgm_macs) + 4)
		return -EINVAL;
	ret = wgp_mac(msg + mac1_off(len), peer_mac1_key, 32, msg, mac1_off(len));
	if (ret)
		return ret;
	memcpy(m->last_mac1, msg + mac1_off(len), WGP_MAC_LEN);
	m->has_last_mac1 = true;
	if (m->has_cookie && now_ns - m->cookie_birth_ns < WGC_COOKIE_USE_NS)
		return wgp_mac(msg + mac2_off(len), m->cookie, WGP_MAC_LEN, msg, mac2_off(len));
	memset(msg + mac2_off(len), 0, WGP_MAC_LEN);
	return 0;
}

int wgc_consume_reply(struct wgc_maker *m, const uint8_t peer_cookie_key[32],
		      const struct wgm_cookie *reply, int64_t now_ns)
{
	uint8_t cookie[WGP_MAC_LEN];

	if (!m->has_last_mac1)
		return -ENOENT;
	if (wgp_xaead_open(cookie, peer_cookie_key, reply->nonce, reply->encrypted_cookie,
			   sizeof(reply->encrypted_cookie), m->last_mac1, WGP_MAC_LEN) < 0)
		return -EBADMSG;
	memcpy(m->cookie, cookie, sizeof(cookie));
	m->cookie_birth_ns = now_ns;
	m->has_cookie = true;
	/* One reply per MAC1: a second copy of it changes nothing. */
	m->has_last_mac1 = false;
	wgp_wipe(cookie, sizeof(cookie));
	return 0;
}

void wgc_checker_clear(struct wgc_checker *c)
{
	wgp_wipe(c, sizeof(*c));
}

void wgc_maker_clear(struct wgc_maker *m)
{
	wgp_wipe(m, sizeof(*m));
}
