/* MeshDNS on the loop: UDP and TCP listeners, the zone swap, forwarding. */
#include "dns/meshdns.h"

#include <arpa/inet.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dnsmsg.h"

#define RELOAD_DELAY_MS 20
#define POLL_MS 250
#define TCP_MAX_CONNS 64
#define TCP_IDLE_MS 10000 /* RFC 7766 6.2.3: a few seconds of idle time */
#define QUERY_MAX 4096	  /* a query is one question and an OPT; more is not one */
#define FWD_SLOTS 256
#define FWD_TIMEOUT_MS 3000
/* recvmmsg: libuv slices the buffer into 64 KiB datagram slots; 8 of them
 * read a burst in one system call. Only the bytes received are ever touched,
 * so the unused part of each slot costs address space, not memory. */
#define UDP_SLOT (64 * 1024)
#define UDP_BATCH 8

struct tcp_conn {
	uv_tcp_t tcp;
	uv_timer_t idle;
	struct wm_meshdns *m;
	struct tcp_conn *prev, *next;
	size_t in_len;
	int open; /* handles not yet closed */
	bool closing;
	uint8_t in[2 + QUERY_MAX];
};

struct fwd_slot {
	bool used;
	uint16_t up_id, id;
	uint64_t deadline;
	struct sockaddr_storage from;
};

struct wm_meshdns {
	struct wm_meshdns_config cfg;
	uv_udp_t udp, fwd;
	uv_tcp_t tcp;
	uv_timer_t reload, poll;
	int open; /* handles of m itself not yet closed */
	bool started, closing, fwd_open;
	void (*done_cb)(void *data);
	void *done_data;
	struct wm_dns_zone *zone;
	uint64_t version;
	struct tcp_conn *conns;
	size_t n_conns;
	struct fwd_slot fwd_slots[FWD_SLOTS];
	struct wm_meshdns_stats stats;
	uint8_t *batch; /* UDP_BATCH slots for recvmmsg */
	uint8_t rx[QUERY_MAX];
	uint8_t tx[2 + WM_DNS_TCP_MAX];
};

static void endpoint_sockaddr(const struct wm_endpoint *e, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (e->ip.family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(e->port);
		memcpy(&s->sin_addr, e->ip.addr, 4);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(e->port);
		memcpy(&s->sin6_addr, e->ip.addr, 16);
	}
}

int wm_meshdns_init(const struct wm_meshdns_config *cfg, struct wm_meshdns **out, char *err,
		    size_t errlen)
{
	struct wm_meshdns *m;

	if (!cfg->loop || !cfg->load || !cfg->listen.ip.family || !cfg->listen.port ||
	    cfg->n_forwarders > WM_MESHDNS_MAX_FORWARDERS) {
		snprintf(err, errlen,
			 "MeshDNS needs a loop, a zone source and an ADDR:PORT to listen on");
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cfg = *cfg;
	*out = m;
	return 0;
}

static void reload(struct wm_meshdns *m)
{
	struct wm_dns_zone *z = NULL;

	if (m->cfg.version)
		m->version = m->cfg.version(m->cfg.data);
	if (m->cfg.load(m->cfg.data, &z) == 0) {
		wm_dns_zone_free(m->zone);
		m->zone = z;
		m->stats.reloads++;
#ifdef __GLIBC__
		/* A rebuild reads the whole state and holds two zones for a
		 * moment; glibc keeps such freed blocks resident (its mmap
		 * threshold grows with each large free). Give them back, or an
		 * idle server keeps the peak of its last rebuild. */
		malloc_trim(0);
#endif
	}
	/* On failure the last zone stays: an answer a moment old beats none. */
}

static void reload_cb(uv_timer_t *t)
{
	reload(t->data);
}

static void poll_cb(uv_timer_t *t)
{
	struct wm_meshdns *m = t->data;
	uint64_t now = uv_now(m->cfg.loop);

	if (m->cfg.version && m->cfg.version(m->cfg.data) != m->version)
		reload(m);
	for (size_t i = 0; i < FWD_SLOTS; i++)
		if (m->fwd_slots[i].used && m->fwd_slots[i].deadline < now)
			m->fwd_slots[i].used = false;
}

void wm_meshdns_changed(struct wm_meshdns *m)
{
	if (m && m->started && !m->closing && !uv_is_active((uv_handle_t *)&m->reload))
		uv_timer_start(&m->reload, reload_cb, RELOAD_DELAY_MS, 0);
}

void wm_meshdns_stats(const struct wm_meshdns *m, struct wm_meshdns_stats *out)
{
	*out = m->stats;
}

/* ---- forwarding (UDP) ---- */

static bool forward(struct wm_meshdns *m, const uint8_t *q, size_t len, const struct sockaddr *from)
{
	struct fwd_slot *slot = NULL;
	uint16_t up_id;
	uint8_t copy[QUERY_MAX];

	if (!m->fwd_open || len < WM_DNS_HEADER || len > sizeof(copy))
		return false;
	for (size_t i = 0; i < FWD_SLOTS && !slot; i++)
		if (!m->fwd_slots[i].used)
			slot = &m->fwd_slots[i];
	/* A random ID per query: the upstream answer is accepted only from the
	 * forwarder and with this ID, so spoofing it takes a guess. */
	if (!slot || uv_random(NULL, NULL, &up_id, sizeof(up_id), 0, NULL) != 0)
		return false;
	slot->used = true;
	slot->up_id = up_id;
	slot->id = (uint16_t)(q[0] << 8 | q[1]);
	slot->deadline = uv_now(m->cfg.loop) + FWD_TIMEOUT_MS;
	memset(&slot->from, 0, sizeof(slot->from));
	memcpy(&slot->from, from,
	       from->sa_family == AF_INET ? sizeof(struct sockaddr_in)
					  : sizeof(struct sockaddr_in6));
	memcpy(copy, q, len);
	copy[0] = (uint8_t)(up_id >> 8);
	copy[1] = (uint8_t)up_id;
	struct sockaddr_storage to;
	endpoint_sockaddr(&m->cfg.forwarders[0], &to);
	uv_buf_t b = uv_buf_init((char *)copy, (unsigned)len);
	if (uv_udp_try_send(&m->fwd, &b, 1, (const struct sockaddr *)&to) < 0) {
		slot->used = false;
		return false;
	}
	m->stats.forwarded++;
	return true;
}

static bool from_forwarder(const struct wm_meshdns *m, const struct sockaddr *a)
{
	for (size_t i = 0; i < m->cfg.n_forwarders; i++) {
		struct sockaddr_storage f;
		endpoint_sockaddr(&m->cfg.forwarders[i], &f);
		if (a->sa_family == AF_INET && f.ss_family == AF_INET) {
			const struct sockaddr_in *x = (const void *)a, *y = (const void *)&f;
			if (x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr)
				return true;
		} else if (a->sa_family == AF_INET6 && f.ss_family == AF_INET6) {
			const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)&f;
			if (x->sin6_port == y->sin6_port &&
			    memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0)
				return true;
		}
	}
	return false;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct wm_meshdns *m = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)m->rx, sizeof(m->rx));
}

static void batch_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct wm_meshdns *m = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)m->batch, UDP_SLOT * UDP_BATCH);
}

static void fwd_recv_cb(uv_udp_t *u, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
			unsigned flags)
{
	struct wm_meshdns *m = u->data;
	(void)buf;

	if (n < WM_DNS_HEADER || !addr || (flags & UV_UDP_PARTIAL) || !from_forwarder(m, addr))
		return;
	uint16_t up_id = (uint16_t)(m->rx[0] << 8 | m->rx[1]);
	for (size_t i = 0; i < FWD_SLOTS; i++) {
		struct fwd_slot *s = &m->fwd_slots[i];
		if (!s->used || s->up_id != up_id)
			continue;
		s->used = false;
		m->rx[0] = (uint8_t)(s->id >> 8);
		m->rx[1] = (uint8_t)s->id;
		uv_buf_t b = uv_buf_init((char *)m->rx, (unsigned)n);
		(void)uv_udp_try_send(&m->udp, &b, 1, (const struct sockaddr *)&s->from);
		return;
	}
}

/* ---- answering ---- */

/* The answer to q in m->tx + 2 (room for the TCP length); its length or 0. */
static size_t answer(struct wm_meshdns *m, const uint8_t *q, size_t len, bool tcp,
		     const struct sockaddr *from)
{
	size_t out = 0;
	bool ra = m->cfg.n_forwarders > 0;
	enum wm_dns_outcome how =
		wm_dns_answer(m->zone, q, len, tcp, ra, m->tx + 2, sizeof(m->tx) - 2, &out);

	m->stats.queries++;
	switch (how) {
	case WM_DNS_DROP:
		m->stats.dropped++;
		return 0;
	case WM_DNS_OUTSIDE:
		if (!tcp && from && forward(m, q, len, from))
			return 0;
		m->stats.refused++;
		break;
	case WM_DNS_ANSWERED:
		m->stats.answered++;
		if (out >= 4 && (m->tx[4] & 0x02))
			m->stats.truncated++;
		break;
	}
	return out;
}

static void udp_recv_cb(uv_udp_t *u, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
			unsigned flags)
{
	struct wm_meshdns *m = u->data;

	/* n == 0 without an address: the end of a recvmmsg batch (or
	 * nothing to read); the buffer is ours, nothing to free. */
	if (n <= 0 || !addr)
		return;
	if ((flags & UV_UDP_PARTIAL) || (size_t)n > QUERY_MAX) { /* bigger than any query */
		m->stats.dropped++;
		return;
	}
	size_t len = answer(m, (const uint8_t *)buf->base, (size_t)n, false, addr);
	if (len) {
		uv_buf_t b = uv_buf_init((char *)m->tx + 2, (unsigned)len);
		/* A full socket buffer drops the answer, as the network might:
		 * the requester asks again. */
		(void)uv_udp_try_send(&m->udp, &b, 1, addr);
	}
}

/* ---- TCP (RFC 7766): length-prefixed queries, pipelined ---- */

static void handle_closed_cb(uv_handle_t *h);

static void conn_close(struct tcp_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, handle_closed_cb);
	uv_close((uv_handle_t *)&c->idle, handle_closed_cb);
}

static void maybe_done(struct wm_meshdns *m)
{
	if (m->closing && m->open == 0 && m->n_conns == 0) {
		void (*cb)(void *) = m->done_cb;
		void *data = m->done_data;
		wm_dns_zone_free(m->zone);
		free(m->batch);
		free(m);
		if (cb)
			cb(data);
	}
}

static void conn_closed_cb(uv_handle_t *h)
{
	struct tcp_conn *c = h->data;
	struct wm_meshdns *m = c->m;

	if (--c->open > 0)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		m->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	m->n_conns--;
	free(c);
	maybe_done(m);
}

static void handle_closed_cb(uv_handle_t *h)
{
	conn_closed_cb(h);
}

static void idle_cb(uv_timer_t *t)
{
	conn_close(t->data);
}

static void write_cb(uv_write_t *w, int status)
{
	(void)status;
	free(w);
}

static void tcp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tcp_conn *c = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)(sizeof(c->in) - c->in_len));
}

static void tcp_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct tcp_conn *c = s->data;
	struct wm_meshdns *m = c->m;
	(void)buf;

	if (n < 0) {
		conn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	uv_timer_again(&c->idle);
	while (c->in_len >= 2) {
		size_t qlen = (size_t)c->in[0] << 8 | c->in[1];
		if (qlen > QUERY_MAX) {
			conn_close(c);
			return;
		}
		if (c->in_len < 2 + qlen)
			return;
		size_t len = answer(m, c->in + 2, qlen, true, NULL);
		memmove(c->in, c->in + 2 + qlen, c->in_len - 2 - qlen);
		c->in_len -= 2 + qlen;
		if (!len)
			continue;
		uv_write_t *w = malloc(sizeof(*w) + 2 + len);
		if (!w) {
			conn_close(c);
			return;
		}
		uint8_t *p = (uint8_t *)(w + 1);
		p[0] = (uint8_t)(len >> 8);
		p[1] = (uint8_t)len;
		memcpy(p + 2, m->tx + 2, len);
		uv_buf_t b = uv_buf_init((char *)p, (unsigned)(2 + len));
		if (uv_write(w, s, &b, 1, write_cb) < 0) {
			free(w);
			conn_close(c);
			return;
		}
	}
}

static void accept_cb(uv_stream_t *srv, int status)
{
	struct wm_meshdns *m = srv->data;
	struct tcp_conn *c;

	if (status < 0 || m->closing)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->m = m;
	uv_tcp_init(m->cfg.loop, &c->tcp);
	uv_timer_init(m->cfg.loop, &c->idle);
	c->tcp.data = c->idle.data = c;
	c->open = 2;
	c->next = m->conns;
	if (m->conns)
		m->conns->prev = c;
	m->conns = c;
	m->n_conns++;
	if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0 || m->n_conns > TCP_MAX_CONNS) {
		conn_close(c);
		return;
	}
	uv_timer_start(&c->idle, idle_cb, TCP_IDLE_MS, TCP_IDLE_MS);
	if (uv_read_start((uv_stream_t *)&c->tcp, tcp_alloc_cb, tcp_read_cb) < 0)
		conn_close(c);
}

/* ---- lifecycle ---- */

static void own_closed_cb(uv_handle_t *h)
{
	struct wm_meshdns *m = h->data;
	m->open--;
	maybe_done(m);
}

int wm_meshdns_start(struct wm_meshdns *m, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	char where[WM_ENDPOINT_STRLEN];
	int rc;

	wm_endpoint_format(&m->cfg.listen, where, sizeof(where));
	endpoint_sockaddr(&m->cfg.listen, &ss);
	m->batch = malloc(UDP_SLOT * UDP_BATCH);
	if (!m->batch) {
		snprintf(err, errlen, "MeshDNS: out of memory");
		return -ENOMEM;
	}
	uv_udp_init_ex(m->cfg.loop, &m->udp, UV_UDP_RECVMMSG);
	uv_udp_init(m->cfg.loop, &m->fwd);
	uv_tcp_init(m->cfg.loop, &m->tcp);
	uv_timer_init(m->cfg.loop, &m->reload);
	uv_timer_init(m->cfg.loop, &m->poll);
	m->udp.data = m->fwd.data = m->tcp.data = m->reload.data = m->poll.data = m;
	m->open = 5;
	m->started = true;
	rc = uv_udp_bind(&m->udp, (const struct sockaddr *)&ss, 0);
	if (!rc)
		rc = uv_udp_recv_start(&m->udp, batch_alloc_cb, udp_recv_cb);
	if (!rc)
		rc = uv_tcp_bind(&m->tcp, (const struct sockaddr *)&ss, 0);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&m->tcp, 128, accept_cb);
	if (rc) {
		snprintf(err, errlen, "MeshDNS cannot listen on %s: %s", where, uv_strerror(rc));
		return rc;
	}
	if (m->cfg.n_forwarders) {
		struct sockaddr_storage any;
		struct wm_endpoint e = {.ip = {.family = m->cfg.forwarders[0].ip.family}};
		endpoint_sockaddr(&e, &any);
		rc = uv_udp_bind(&m->fwd, (const struct sockaddr *)&any, 0);
		if (!rc)
			rc = uv_udp_recv_start(&m->fwd, alloc_cb, fwd_recv_cb);
		if (rc) {
			snprintf(err, errlen, "MeshDNS cannot open its forwarding socket: %s",
				 uv_strerror(rc));
			return rc;
		}
		m->fwd_open = true;
	}
	reload(m);
	uv_timer_start(&m->poll, poll_cb, POLL_MS, POLL_MS);
	return 0;
}

void wm_meshdns_close(struct wm_meshdns *m, void (*done_cb)(void *data), void *data)
{
	if (!m)
		return;
	m->closing = true;
	m->done_cb = done_cb;
	m->done_data = data;
	if (!m->started) {
		m->open = 0;
		maybe_done(m);
		return;
	}
	for (struct tcp_conn *c = m->conns; c; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&m->udp, own_closed_cb);
	uv_close((uv_handle_t *)&m->fwd, own_closed_cb);
	uv_close((uv_handle_t *)&m->tcp, own_closed_cb);
	uv_close((uv_handle_t *)&m->reload, own_closed_cb);
	uv_close((uv_handle_t *)&m->poll, own_closed_cb);
}
