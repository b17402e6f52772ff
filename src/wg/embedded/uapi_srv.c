/* Parsing UAPI set requests on the server side (see uapi_srv.h). */
#include "wg/embedded/uapi_srv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/key.h"
#include "core/error.h"
#include "core/net.h"

/* Decimal without sign, leading zeros or overflow. */
static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static int key_from_hex(const char *v, uint8_t out[32])
{
	/* wm_key_from_hex takes exactly 64 hex digits. */
	return wm_key_from_hex(v, out);
}

struct parser {
	struct wm_wg_device *dev;
	struct wgu_psk *psks;
	size_t cap_psks;
	struct wm_wg_peer *peer; /* the peer lines now apply to, or NULL */
	size_t n_aips;
};

static int add_peer(struct parser *p, const uint8_t key[32])
{
	if (p->dev->n_peers >= WGU_MAX_PEERS)
		return -E2BIG;
	if (p->dev->n_peers + 1 > p->cap_psks) {
		size_t cap = p->cap_psks ? 2 * p->cap_psks : 8;
		/* Not realloc: it would free the old array, preshared keys and
		 * all, without wiping it. */
		struct wgu_psk *n = calloc(cap, sizeof(*n));

		if (!n)
			return -ENOMEM;
		if (p->psks) {
			memcpy(n, p->psks, p->cap_psks * sizeof(*n));
			wm_wipe(p->psks, p->cap_psks * sizeof(*n));
			free(p->psks);
		}
		p->psks = n;
		p->cap_psks = cap;
	}
	p->peer = wm_wg_device_add_peer(p->dev, key);
	if (!p->peer)
		return -ENOMEM;
	memset(&p->psks[p->dev->n_peers - 1], 0, sizeof(*p->psks));
	return 0;
}

static int device_line(struct parser *p, const char *k, const char *v)
{
	uint64_t u;

	if (!strcmp(k, "private_key")) {
		if (key_from_hex(v, p->dev->private_key) < 0)
			return -EINVAL;
		p->dev->flags |= WM_WGDEV_HAS_PRIVATE_KEY;
	} else if (!strcmp(k, "listen_port")) {
		if (parse_uint(v, UINT16_MAX, &u) < 0)
			return -EINVAL;
		p->dev->listen_port = (uint16_t)u;
		p->dev->flags |= WM_WGDEV_HAS_LISTEN_PORT;
	} else if (!strcmp(k, "fwmark")) {
		if (parse_uint(v, UINT32_MAX, &u) < 0)
			return -EINVAL;
		p->dev->fwmark = (uint32_t)u;
		p->dev->flags |= WM_WGDEV_HAS_FWMARK;
	} else if (!strcmp(k, "replace_peers")) {
		if (strcmp(v, "true"))
			return -EINVAL;
		p->dev->flags |= WM_WGDEV_REPLACE_PEERS;
	} else {
		return -EINVAL;
	}
	return 0;
}

static int peer_line(struct parser *p, const char *k, const char *v)
{
	struct wm_wg_peer *peer = p->peer;
	struct wm_prefix pfx;
	uint64_t u;

	if (!strcmp(k, "remove")) {
		if (strcmp(v, "true"))
			return -EINVAL;
		peer->flags |= WM_WGPEER_REMOVE_ME;
	} else if (!strcmp(k, "update_only")) {
		if (strcmp(v, "true"))
			return -EINVAL;
		peer->flags |= WM_WGPEER_UPDATE_ONLY;
	} else if (!strcmp(k, "preshared_key")) {
		struct wgu_psk *psk = &p->psks[p->dev->n_peers - 1];

		if (key_from_hex(v, psk->key) < 0)
			return -EINVAL;
		psk->set = true;
	} else if (!strcmp(k, "endpoint")) {
		if (wm_endpoint_parse(v, &peer->endpoint) < 0)
			return -EINVAL;
		peer->flags |= WM_WGPEER_HAS_ENDPOINT;
	} else if (!strcmp(k, "persistent_keepalive_interval")) {
		if (parse_uint(v, UINT16_MAX, &u) < 0)
			return -EINVAL;
		peer->keepalive_interval = (uint16_t)u;
		peer->flags |= WM_WGPEER_HAS_KEEPALIVE;
	} else if (!strcmp(k, "replace_allowed_ips")) {
		if (strcmp(v, "true"))
			return -EINVAL;
		peer->flags |= WM_WGPEER_REPLACE_ALLOWEDIPS;
	} else if (!strcmp(k, "allowed_ip")) {
		if (p->n_aips >= WGU_MAX_ALLOWED_IPS)
			return -E2BIG;
		if (wm_prefix_parse(v, &pfx) < 0)
			return -EINVAL;
		pfx = wm_prefix_network(&pfx);
		if (wm_wg_peer_add_allowed_ip(peer, &pfx) < 0)
			return -ENOMEM;
		p->n_aips++;
	} else if (!strcmp(k, "promote_on_handshake")) {
		if (strcmp(v, "true"))
			return -EINVAL;
		peer->flags |= WM_WGPEER_PROMOTE;
	} else if (!strcmp(k, "accept_ip")) {
		/* ours, not WireGuard's: see wm_wg_peer.accept_ips */
		if (p->n_aips >= WGU_MAX_ALLOWED_IPS)
			return -E2BIG;
		if (wm_prefix_parse(v, &pfx) < 0)
			return -EINVAL;
		pfx = wm_prefix_network(&pfx);
		if (wm_wg_peer_add_accept_ip(peer, &pfx) < 0)
			return -ENOMEM;
		p->n_aips++;
	} else if (!strcmp(k, "protocol_version")) {
		if (strcmp(v, "1"))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	return 0;
}

int wgu_parse_set(const char *buf, size_t len, struct wm_wg_device **upd, struct wgu_psk **psks,
		  char *err, size_t errlen)
{
	struct parser p = {0};
	char line[256];
	size_t off = 0;
	int ret = 0;

	*upd = NULL;
	*psks = NULL;
	p.dev = wm_wg_device_new("uapi");
	if (!p.dev)
		return -ENOMEM;
	while (off < len) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (buf + off)) : len - off;
		char *eq;

		if (n >= sizeof(line)) {
			wm_seterr(err, errlen, "line too long");
			ret = -EINVAL;
			break;
		}
		memcpy(line, buf + off, n);
		line[n] = '\0';
		off += n + (nl ? 1 : 0);
		if (!n)
			continue;
		if (memchr(line, '\0', n)) {
			wm_seterr(err, errlen, "NUL byte in request");
			ret = -EINVAL;
			break;
		}
		eq = strchr(line, '=');
		if (!eq) {
			wm_seterr(err, errlen, "line without '='");
			ret = -EINVAL;
			break;
		}
		*eq = '\0';
		if (!strcmp(line, "public_key")) {
			uint8_t key[32];

			ret = key_from_hex(eq + 1, key) < 0 ? -EINVAL : add_peer(&p, key);
		} else if (p.peer) {
			ret = peer_line(&p, line, eq + 1);
		} else {
			ret = device_line(&p, line, eq + 1);
		}
		if (ret < 0) {
			wm_seterr(err, errlen, "invalid value or unknown key \"%.40s\"", line);
			break;
		}
	}
	wm_wipe(line, sizeof(line));
	if (ret < 0) {
		wm_wg_device_free(p.dev);
		wgu_psks_free(p.psks, p.cap_psks);
		return ret == -E2BIG ? -EINVAL : ret;
	}
	*upd = p.dev;
	*psks = p.psks;
	return 0;
}

void wgu_psks_free(struct wgu_psk *psks, size_t n)
{
	if (!psks)
		return;
	wm_wipe(psks, n * sizeof(*psks));
	free(psks);
}
