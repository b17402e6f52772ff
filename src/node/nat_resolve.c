/* STUN and TURN servers of the NAT layer: their URIs checked at start, their
 * names looked up on libuv's threadpool (uv_getaddrinfo), never on the loop,
 * and looked up again when a lookup failed. */
#include "node/nat_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/error.h"
#include "util/log.h"

struct wm_nat_resolve {
	uv_getaddrinfo_t req;
	uint16_t port;
	wm_nat_resolve_cb cb;
	void *data;
	bool cancelled;
};

static void resolved_cb(uv_getaddrinfo_t *r, int status, struct addrinfo *res)
{
	struct wm_nat_resolve *q = r->data;
	struct addrinfo *pick = NULL;
	struct wm_endpoint ep = {0};

	for (struct addrinfo *a = status == 0 ? res : NULL; a; a = a->ai_next) {
		if (a->ai_family == AF_INET) {
			pick = a;
			break;
		}
		if (a->ai_family == AF_INET6 && !pick)
			pick = a;
	}
	if (pick && pick->ai_family == AF_INET) {
		ep.ip.family = AF_INET;
		ep.ip.len = 32;
		memcpy(ep.ip.addr, &((struct sockaddr_in *)pick->ai_addr)->sin_addr, 4);
	} else if (pick) {
		ep.ip.family = AF_INET6;
		ep.ip.len = 128;
		memcpy(ep.ip.addr, &((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr, 16);
	}
	ep.port = q->port;
	if (res)
		uv_freeaddrinfo(res);
	if (q->cancelled)
		q->cb(q->data, -ECANCELED, NULL);
	else
		q->cb(q->data, pick ? 0 : -EHOSTUNREACH, pick ? &ep : NULL);
	free(q);
}

int wm_nat_resolve(uv_loop_t *loop, const char *host, uint16_t port, struct wm_endpoint *out,
		   wm_nat_resolve_cb cb, void *data, struct wm_nat_resolve **req)
{
	/* AI_ADDRCONFIG: a family this host has no address of is not
	 * answered, so a name with A and AAAA records gives an IPv6-only host
	 * the AAAA one instead of an IPv4 address it cannot reach. */
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_ADDRCONFIG};
	struct wm_nat_resolve *q;
	int rc;

	*req = NULL;
	if (wm_prefix_parse(host, &out->ip) == 0 && !strchr(host, '/')) {
		out->port = port;
		return 0;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->port = port;
	q->cb = cb;
	q->data = data;
	q->req.data = q;
	rc = uv_getaddrinfo(loop, &q->req, resolved_cb, host, NULL, &hints);
	if (rc < 0) {
		free(q);
		return rc;
	}
	*req = q;
	return 1;
}

void wm_nat_resolve_cancel(struct wm_nat_resolve *req)
{
	if (!req)
		return;
	/* The request frees itself in resolved_cb, cancelled or not (uv_cancel
	 * fails once the lookup runs: the flag covers that). */
	req->cancelled = true;
	uv_cancel((uv_req_t *)&req->req);
}

/* ---- the servers ---- */

static void stun_done(struct wm_node_nat *n)
{
	if (!wm_nat_servers_pending(n))
		wm_nat_servers_ready(n);
}

struct server_req {
	struct wm_node_nat *n;
	size_t slot;
	unsigned gen; /* TURN: the list it was started for */
};

static void stun_cb(void *data, int status, const struct wm_endpoint *ep)
{
	struct server_req *r = data;
	struct wm_node_nat *n = r->n;
	struct stun_slot *s = &n->stun[r->slot];

	free(r);
	if (status == -ECANCELED)
		return; /* n may be gone */
	s->req = NULL;
	if (status == 0) {
		s->addr = *ep;
		s->ok = true;
	} else {
		wm_warn("cannot resolve the STUN server %s; trying again in %d s",
			n->c.cfg->stun_servers[s - n->stun], WM_NAT_RETRY_RESOLVE_MS / 1000);
		s->retry_at = (int64_t)uv_now(n->c.loop) + WM_NAT_RETRY_RESOLVE_MS;
	}
	stun_done(n);
}

static int stun_lookup(struct wm_node_nat *n, size_t i)
{
	struct stun_slot *s = &n->stun[i];
	struct server_req *r;
	struct wm_ice_uri u;
	int rc;

	if (wm_ice_uri_parse(n->c.cfg->stun_servers[i], WM_URI_STUN, &u, NULL) < 0)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->n = n;
	r->slot = i;
	s->retry_at = 0;
	rc = wm_nat_resolve(n->c.loop, u.host, u.port, &s->addr, stun_cb, r, &s->req);
	if (rc != 1)
		free(r);
	if (rc == 0)
		s->ok = true;
	else if (rc < 0)
		s->retry_at = (int64_t)uv_now(n->c.loop) + WM_NAT_RETRY_RESOLVE_MS;
	return rc < 0 ? rc : 0;
}

static void turn_cb(void *data, int status, const struct wm_endpoint *ep)
{
	struct server_req *t = data;
	struct wm_node_nat *n = t->n;
	struct turn_slot *s;

	if (status == -ECANCELED) {
		free(t); /* n may be gone */
		return;
	}
	s = &n->turn[t->slot];
	if (t->gen == n->turn_gen) {
		s->req = NULL;
		if (status == 0) {
			s->t.addr = *ep;
			s->ok = true;
		} else {
			wm_warn("cannot resolve TURN server %zu: it is left out", t->slot + 1);
		}
	}
	free(t);
}

static int turn_add(struct wm_node_nat *n, const char *url, char *err, size_t errlen)
{
	struct turn_slot *s;
	struct wm_ice_uri u;
	struct server_req *t;
	const char *why = NULL;
	int rc;

	if (n->n_turn_cfg >= WM_ICE_MAX_TURN)
		return 0; /* more relays than libnice needs: the first ones serve */
	if (wm_ice_uri_parse(url, WM_URI_TURN, &u, &why) < 0 || u.scheme != WM_URI_TURN) {
		snprintf(err, errlen, "TURN server \"%s\" %s", url, why ? why : "is not turn:");
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s = &n->turn[n->n_turn_cfg];
	memset(s, 0, sizeof(*s));
	t->n = n;
	t->slot = n->n_turn_cfg++;
	t->gen = n->turn_gen;
	rc = wm_nat_resolve(n->c.loop, u.host, u.port, &s->t.addr, turn_cb, t, &s->req);
	if (rc != 1)
		free(t);
	if (rc == 0)
		s->ok = true;
	else if (rc < 0)
		wm_warn("cannot resolve the TURN server %s: %s", u.host, wm_strerror(rc));
	return 0;
}

static void turn_cancel_all(struct wm_node_nat *n)
{
	n->turn_gen++;
	for (size_t i = 0; i < n->n_turn_cfg; i++) {
		wm_nat_resolve_cancel(n->turn[i].req);
		n->turn[i].req = NULL;
	}
	wm_wipe(n->turn, sizeof(n->turn));
	n->n_turn_cfg = 0;
}

int wm_nat_servers_init(struct wm_node_nat *n, char *err, size_t errlen)
{
	const struct wm_config *cfg = n->c.cfg;
	int rc = 0;

	/* Every URI is checked before any lookup starts: a typo is an error
	 * at start, a name that does not resolve (yet) is not. */
	for (size_t i = 0; i < cfg->n_stun_servers; i++) {
		struct wm_ice_uri u;
		const char *why = NULL;

		if (wm_ice_uri_parse(cfg->stun_servers[i], WM_URI_STUN, &u, &why) < 0) {
			snprintf(err, errlen, "STUN server \"%s\" %s", cfg->stun_servers[i], why);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < cfg->n_turn_servers; i++) {
		struct wm_ice_uri u;
		const char *why = NULL;

		if (wm_ice_uri_parse(cfg->turn_servers[i], WM_URI_TURN, &u, &why) < 0 ||
		    u.scheme != WM_URI_TURN) {
			snprintf(err, errlen, "TURN server \"%s\" %s", cfg->turn_servers[i],
				 why ? why : "is not turn:");
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < cfg->n_turn_servers && !rc; i++)
		rc = turn_add(n, cfg->turn_servers[i], err, errlen);
	if (rc)
		return rc;
	n->n_stun_cfg =
		cfg->n_stun_servers < WM_NAT_MAX_STUN ? cfg->n_stun_servers : WM_NAT_MAX_STUN;
	for (size_t i = 0; i < n->n_stun_cfg; i++)
		if (stun_lookup(n, i) == -ENOMEM) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	return 0;
}

bool wm_nat_servers_pending(const struct wm_node_nat *n)
{
	for (size_t i = 0; i < n->n_stun_cfg; i++)
		if (n->stun[i].req)
			return true;
	return false;
}

void wm_nat_servers_tick(struct wm_node_nat *n)
{
	int64_t now = (int64_t)uv_now(n->c.loop);

	for (size_t i = 0; i < n->n_stun_cfg; i++) {
		struct stun_slot *s = &n->stun[i];

		if (!s->ok && !s->req && s->retry_at && now >= s->retry_at)
			stun_lookup(n, i);
	}
}

size_t wm_nat_stun_list(const struct wm_node_nat *n, struct wm_endpoint *out, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; n && i < n->n_stun_cfg && k < max; i++)
		if (n->stun[i].ok)
			out[k++] = n->stun[i].addr;
	return k;
}

size_t wm_nat_turn_list(const struct wm_node_nat *n, struct wm_ice_turn *out, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; n && i < n->n_turn_cfg && k < max; i++)
		if (n->turn[i].ok) {
			out[k] = n->turn[i].t;
			snprintf(out[k].username, sizeof(out[k].username), "%s", n->turn_user);
			snprintf(out[k].password, sizeof(out[k].password), "%s", n->turn_pass);
			k++;
		}
	return k;
}

void wm_nat_turn_set_urls(struct wm_node_nat *n, char *const *urls, size_t n_urls)
{
	char err[256];

	turn_cancel_all(n);
	for (size_t i = 0; i < n_urls; i++)
		if (urls[i] && turn_add(n, urls[i], err, sizeof(err)) < 0)
			wm_warn("ignoring a TURN server from the server: %s", err);
}

void wm_nat_servers_close(struct wm_node_nat *n)
{
	for (size_t i = 0; i < n->n_stun_cfg; i++) {
		wm_nat_resolve_cancel(n->stun[i].req);
		n->stun[i].req = NULL;
	}
	turn_cancel_all(n);
}
