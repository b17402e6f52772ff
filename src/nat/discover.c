/* Endpoint discovery: host addresses, and STUN Binding requests from a socket
 * of our own to every configured server, retransmitted as RFC 8489 asks. */
#include "nat/discover.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
	bool udp_v6; /* the socket is dual-stack [::]; false: IPv4 only */
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

static void classify(struct wm_nat_discovery *d);
static void advertise(struct wm_nat_discovery *d, uint16_t wg_port);

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
	classify(d);
	if (!r->n_overrides)
		advertise(d, r->wg_port);
	r->cb(r->data, err, d);
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, handle_closed_cb);
	if (r->udp_open) {
		uv_udp_recv_stop(&r->udp);
		uv_close((uv_handle_t *)&r->udp, handle_closed_cb);
	}
}

/* Each family's answers are judged on their own: an IPv4 and an IPv6 server
 * necessarily report different addresses, which is no sign of a symmetric
 * NAT. */
static void classify(struct wm_nat_discovery *d)
{
	struct wm_endpoint by_family[2][WM_NAT_MAX_STUN];
	size_t n4 = 0, n6 = 0;

	for (size_t i = 0; i < d->n_mapped; i++) {
		if (d->mapped[i].ip.family == AF_INET)
			by_family[0][n4++] = d->mapped[i];
		else if (d->mapped[i].ip.family == AF_INET6)
			by_family[1][n6++] = d->mapped[i];
	}
	wm_nat_classify(d->stun_local_port, d->addrs, d->n_addrs, by_family[0], n4, &d->nat);
	wm_nat_classify(d->stun_local_port, d->addrs, d->n_addrs, by_family[1], n6, &d->nat6);
	if (!d->nat.mapped.ip.family)
		d->nat = d->nat6;
}

/* The endpoints as the IPv4 (or only) NAT's answers make them, and the IPv6
 * reflexive address on the same terms (endpoint-independent, port kept),
 * placed with the public ones: before the first private address. */
static void advertise(struct wm_nat_discovery *d, uint16_t wg_port)
{
	struct wm_endpoint v6;
	size_t k;

	d->n_endpoints = wm_nat_endpoints(d->addrs, d->n_addrs, wg_port, &d->nat, d->endpoints,
					  WM_MAX_ENDPOINTS);
	if (wm_nat_endpoints(NULL, 0, wg_port, &d->nat6, &v6, 1) != 1)
		return;
	for (k = 0; k < d->n_endpoints; k++) {
		if (wm_endpoint_equal(&d->endpoints[k], &v6))
			return;
		if (wm_addr_is_private(&d->endpoints[k].ip))
			break;
	}
	if (d->n_endpoints == WM_MAX_ENDPOINTS) {
		if (k == WM_MAX_ENDPOINTS)
			return;
		d->n_endpoints--; /* the last (private) one gives way */
	}
	memmove(&d->endpoints[k + 1], &d->endpoints[k],
		sizeof(d->endpoints[0]) * (d->n_endpoints - k));
	d->endpoints[k] = v6;
	d->n_endpoints++;
}

static bool all_answered(const struct wm_nat_discover_req *r)
{
	for (size_t i = 0; i < r->n_stun; i++)
		if (!r->d.mapped[i].ip.family && (r->udp_v6 || r->stun[i].ip.family == AF_INET))
			return false;
	return true;
}

static void send_requests(struct wm_nat_discover_req *r)
{
	for (size_t i = 0; i < r->n_stun; i++) {
		struct sockaddr_storage ss;
		uint8_t msg[WM_STUN_REQUEST_MAX];
		int n;

		if (r->d.mapped[i].ip.family || !wm_nat_sockaddr(&r->stun[i], r->udp_v6, &ss))
			continue; /* answered, or IPv6 on a host without it */
		n = wm_stun_binding_request(r->txid[i], true, msg, sizeof(msg));
		uv_buf_t b = uv_buf_init((char *)msg, (unsigned)n);
		/* A send that fails now (no route yet) is retried at the next
		 * retransmission like a lost datagram. */
		(void)uv_udp_try_send(&r->udp, &b, 1, (const struct sockaddr *)&ss);
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
	struct wm_endpoint from;

	if (nread <= 0 || !addr || (flags & UV_UDP_PARTIAL) || r->done ||
	    !wm_nat_endpoint_of(addr, &from))
		return;
	for (size_t i = 0; i < r->n_stun; i++) {
		/* Only the server we asked, with our transaction ID, may answer. */
		if (!wm_endpoint_equal(&from, &r->stun[i]))
			continue;
		if (wm_stun_parse_response((const uint8_t *)buf->base, (size_t)nread, r->txid[i],
					   &resp) < 0)
			continue;
		if (resp.type == WM_STUN_BINDING_SUCCESS &&
		    (resp.has_xor_mapped || resp.has_mapped) && !r->d.mapped[i].ip.family) {
			wm_endpoint_unmap(&resp.mapped);
			r->d.mapped[i] = resp.mapped;
			r->d.rtt_ms[i] = (uint32_t)(uv_now(r->loop) - r->last_send_ms);
		}
	}
	if (all_answered(r))
		finish(r, 0);
}

/* [::] with IPV6_V6ONLY off, so IPv4 and IPv6 servers see the same local
 * port (libuv leaves V6ONLY to the sysctl net.ipv6.bindv6only, hence the
 * socket of our own). */
int wm_nat_udp_socket(bool *v6)
{
	struct sockaddr_in6 any6 = {.sin6_family = AF_INET6};
	struct sockaddr_in any4 = {.sin_family = AF_INET};
	int off = 0;
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	*v6 = fd >= 0;
	if (fd >= 0) {
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == 0 &&
		    bind(fd, (const struct sockaddr *)&any6, sizeof(any6)) == 0)
			return fd;
		int e = errno;
		close(fd);
		return -e;
	}
	if (errno != EAFNOSUPPORT)
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)&any4, sizeof(any4)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

bool wm_nat_sockaddr(const struct wm_endpoint *e, bool v6, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		/* IPv4 servers as ::ffff:a.b.c.d on the dual-stack socket. */
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(e->port);
		if (e->ip.family == AF_INET) {
			a->sin6_addr.s6_addr[10] = a->sin6_addr.s6_addr[11] = 0xff;
			memcpy(&a->sin6_addr.s6_addr[12], e->ip.addr, 4);
		} else if (e->ip.family == AF_INET6) {
			memcpy(&a->sin6_addr, e->ip.addr, 16);
		} else {
			return false;
		}
		return true;
	}
	if (e->ip.family != AF_INET)
		return false;
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons(e->port);
	memcpy(&a->sin_addr, e->ip.addr, 4);
	return true;
}

bool wm_nat_endpoint_of(const struct sockaddr *addr, struct wm_endpoint *e)
{
	memset(e, 0, sizeof(*e));
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)addr;

		e->ip.family = AF_INET;
		e->ip.len = 32;
		memcpy(e->ip.addr, &a->sin_addr, 4);
		e->port = ntohs(a->sin_port);
		return true;
	}
	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;

		e->ip.family = AF_INET6;
		e->ip.len = 128;
		memcpy(e->ip.addr, &a->sin6_addr, 16);
		e->port = ntohs(a->sin6_port);
		wm_endpoint_unmap(e); /* an IPv4 peer on the dual-stack socket */
		return true;
	}
	return false;
}

static int open_socket(struct wm_nat_discover_req *r)
{
	struct sockaddr_storage self;
	int len = sizeof(self);
	int fd = wm_nat_udp_socket(&r->udp_v6);
	int rc;

	if (fd < 0)
		return fd;
	rc = uv_udp_init(r->loop, &r->udp);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	r->udp.data = r;
	r->udp_open = true;
	r->handles++;
	rc = uv_udp_open(&r->udp, fd);
	if (rc < 0)
		close(fd);
	if (!rc)
		rc = uv_udp_getsockname(&r->udp, (struct sockaddr *)&self, &len);
	if (!rc)
		rc = uv_udp_recv_start(&r->udp, alloc_cb, recv_cb);
	if (!rc)
		r->d.stun_local_port =
			ntohs(self.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&self)->sin6_port
							 : ((struct sockaddr_in *)&self)->sin_port);
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
		if (o->stun[i].ip.family != AF_INET && o->stun[i].ip.family != AF_INET6)
			continue;
		r->stun[r->n_stun] = o->stun[i];
		wm_endpoint_unmap(&r->stun[r->n_stun]); /* compared with unmapped sources */
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
