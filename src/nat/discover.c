/* Endpoint discovery: host addresses, and STUN Binding requests from a socket
 * of our own to every configured server, retransmitted as RFC 8489 asks. */
#include "nat/discover.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nat/stun.h"
#include "sys/sys.h"

#define DEFAULT_TIMEOUT_MS 1500
#define RTO_MS 250 /* the first retransmission; doubles after each */
#define TICK_MS 50

struct wm_nat_discover_req {
	uv_loop_t *loop;
	uv_udp_t udp;
	uv_timer_t timer;
	bool udp_open;
	int handles; /* open handles; the request is freed when the last closes */
	bool done;
	wm_nat_discover_cb cb;
	void *data;
	uint16_t wg_port;
	struct wm_endpoint overrides[WM_MAX_ENDPOINTS];
	size_t n_overrides;
	struct wm_endpoint stun[WM_NAT_MAX_STUN];
	uint8_t txid[WM_NAT_MAX_STUN][WM_STUN_TXID_LEN];
	size_t n_stun;
	uint64_t started_ms, next_send_ms, deadline_ms, last_send_ms;
	uint32_t rto_ms;
	int list_err;
	struct wm_nat_discovery d;
	uint8_t buf[1500];
};

static void handle_closed_cb(uv_handle_t *h)
{
	struct wm_nat_discover_req *r = h->data;

	if (--r->handles == 0)
		free(r);
}

static void finish(struct wm_nat_discover_req *r, int err)
{
	struct wm_nat_discovery *d = &r->d;

	if (r->done)
		return;
	r->done = true;
	if (!err)
		err = r->list_err;
	if (r->n_overrides) {
		memcpy(d->endpoints, r->overrides, sizeof(r->overrides[0]) * r->n_overrides);
		d->n_endpoints = r->n_overrides;
	}
	wm_nat_classify(d->stun_local_port, d->addrs, d->n_addrs, d->mapped, d->n_mapped, &d->nat);
	if (!r->n_overrides)
		d->n_endpoints = wm_nat_endpoints(d->addrs, d->n_addrs, r->wg_port, &d->nat,
						  d->endpoints, WM_MAX_ENDPOINTS);
	r->cb(r->data, err, d);
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, handle_closed_cb);
	if (r->udp_open) {
		uv_udp_recv_stop(&r->udp);
		uv_close((uv_handle_t *)&r->udp, handle_closed_cb);
	}
}

static bool all_answered(const struct wm_nat_discover_req *r)
{
	for (size_t i = 0; i < r->n_stun; i++)
		if (!r->d.mapped[i].ip.family)
			return false;
	return true;
}

static void send_requests(struct wm_nat_discover_req *r)
{
	for (size_t i = 0; i < r->n_stun; i++) {
		struct sockaddr_in sin = {.sin_family = AF_INET,
					  .sin_port = htons(r->stun[i].port)};
		uint8_t msg[WM_STUN_REQUEST_MAX];
		int n;

		if (r->d.mapped[i].ip.family)
			continue;
		memcpy(&sin.sin_addr, r->stun[i].ip.addr, 4);
		n = wm_stun_binding_request(r->txid[i], true, msg, sizeof(msg));
		uv_buf_t b = uv_buf_init((char *)msg, (unsigned)n);
		/* A send that fails now (no route yet) is retried at the next
		 * retransmission like a lost datagram. */
		(void)uv_udp_try_send(&r->udp, &b, 1, (const struct sockaddr *)&sin);
	}
}

static void timer_cb(uv_timer_t *t)
{
	struct wm_nat_discover_req *r = t->data;
	uint64_t now = uv_now(r->loop);

	if (now >= r->deadline_ms || !r->udp_open) {
		finish(r, 0);
		return;
	}
	if (now >= r->next_send_ms) {
		send_requests(r);
		r->last_send_ms = now;
		r->rto_ms *= 2;
		r->next_send_ms = now + r->rto_ms;
	}
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct wm_nat_discover_req *r = h->data;

	(void)suggested;
	*buf = uv_buf_init((char *)r->buf, sizeof(r->buf));
}

static void recv_cb(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
		    unsigned flags)
{
	struct wm_nat_discover_req *r = u->data;
	struct wm_stun_response resp;

	if (nread <= 0 || !addr || (flags & UV_UDP_PARTIAL) || r->done)
		return;
	for (size_t i = 0; i < r->n_stun; i++) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;

		/* Only the server we asked, with our transaction ID, may answer. */
		if (addr->sa_family != AF_INET || sin->sin_port != htons(r->stun[i].port) ||
		    memcmp(&sin->sin_addr, r->stun[i].ip.addr, 4) != 0)
			continue;
		if (wm_stun_parse_response((const uint8_t *)buf->base, (size_t)nread, r->txid[i],
					   &resp) < 0)
			continue;
		if (resp.type == WM_STUN_BINDING_SUCCESS &&
		    (resp.has_xor_mapped || resp.has_mapped) && !r->d.mapped[i].ip.family) {
			r->d.mapped[i] = resp.mapped;
			r->d.rtt_ms[i] = (uint32_t)(uv_now(r->loop) - r->last_send_ms);
		}
	}
	if (all_answered(r))
		finish(r, 0);
}

static int open_socket(struct wm_nat_discover_req *r)
{
	struct sockaddr_in any = {.sin_family = AF_INET};
	struct sockaddr_in self;
	int len = sizeof(self);
	int rc = uv_udp_init(r->loop, &r->udp);

	if (rc < 0)
		return rc;
	r->udp.data = r;
	r->udp_open = true;
	r->handles++;
	rc = uv_udp_bind(&r->udp, (const struct sockaddr *)&any, 0);
	if (!rc)
		rc = uv_udp_getsockname(&r->udp, (struct sockaddr *)&self, &len);
	if (!rc)
		rc = uv_udp_recv_start(&r->udp, alloc_cb, recv_cb);
	if (!rc)
		r->d.stun_local_port = ntohs(self.sin_port);
	return rc;
}

int wm_nat_discover(uv_loop_t *loop, const struct wm_nat_discover_opts *o, wm_nat_discover_cb cb,
		    void *data, struct wm_nat_discover_req **req)
{
	struct wm_nat_discover_req *r;
	struct wm_prefix *addrs = NULL;
	size_t n = 0;
	int rc;

	if (o->n_stun > WM_NAT_MAX_STUN || o->n_overrides > WM_MAX_ENDPOINTS || !cb)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->loop = loop;
	r->cb = cb;
	r->data = data;
	r->wg_port = o->wg_port;
	if (o->n_overrides)
		memcpy(r->overrides, o->overrides, sizeof(r->overrides[0]) * o->n_overrides);
	r->n_overrides = o->n_overrides;
	for (size_t i = 0; i < o->n_stun; i++) {
		if (o->stun[i].ip.family != AF_INET)
			continue;
		r->stun[r->n_stun] = o->stun[i];
		uv_random(NULL, NULL, r->txid[r->n_stun], WM_STUN_TXID_LEN, 0, NULL);
		r->n_stun++;
	}
	r->d.n_mapped = r->n_stun;
	r->list_err = wm_sys_list_addresses(o->skip_ifname, &addrs, &n);
	for (size_t i = 0; i < n && r->d.n_addrs < WM_NAT_MAX_ADDRS; i++)
		r->d.addrs[r->d.n_addrs++] = addrs[i];
	free(addrs);

	rc = uv_timer_init(loop, &r->timer);
	if (rc < 0) {
		free(r);
		return rc;
	}
	r->timer.data = r;
	r->handles = 1;
	if (r->n_stun) {
		rc = open_socket(r);
		if (rc < 0) {
			r->done = true;
			uv_close((uv_handle_t *)&r->timer, handle_closed_cb);
			if (r->udp_open)
				uv_close((uv_handle_t *)&r->udp, handle_closed_cb);
			return rc;
		}
		r->started_ms = uv_now(loop);
		r->deadline_ms =
			r->started_ms + (o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS);
		r->rto_ms = RTO_MS;
		r->next_send_ms = r->started_ms; /* the first tick sends */
		uv_timer_start(&r->timer, timer_cb, 0, TICK_MS);
	} else {
		/* Nothing to ask: answer on the next loop turn (never from
		 * within this call). */
		uv_timer_start(&r->timer, timer_cb, 0, 0);
	}
	if (req)
		*req = r;
	return 0;
}

void wm_nat_discover_cancel(struct wm_nat_discover_req *req)
{
	if (req)
		finish(req, -ECANCELED);
}
