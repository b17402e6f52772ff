/* MeshDNS: UDP and TCP listeners, the zone swap, forwarding.
 *
 * Queries are answered on a thread of MeshDNS's own with a loop of its own:
 * on the daemon's loop an answer waited behind whatever else ran there (Raft,
 * the API, a zone rebuild), which set the tail latency. The daemon's loop
 * only builds zones: each is sealed (never written again) and handed over
 * through one atomic pointer; the DNS thread takes it before its next query
 * and frees the zone it replaces, so no zone is freed while it is read and
 * no lock is taken per query. */
#include "dns/meshdns.h"

#include <arpa/inet.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/source.h"
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
#define FWD_TCP_MAX 32 /* TCP queries forwarded at once */
/* ... of them from one source (IPv4 address or IPv6 /64, core/source.h),
 * open connection or not: one client pipelining queries for slow names must
 * not take every slot and leave the others REFUSED. */
#define FWD_TCP_PER_SOURCE 8
#define THREAD_STACK (256 * 1024) /* answers need a few KiB; RSS is what is touched */

struct fwd_tcp;

struct tcp_conn {
	uv_tcp_t tcp;
	uv_timer_t idle;
	struct wm_meshdns *m;
	struct tcp_conn *prev, *next;
	struct fwd_tcp *fwds;	     /* its queries at a forwarder (fwd_tcp.cnext) */
	char src[WM_SOURCE_KEY_MAX]; /* where it comes from, as limits count */
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

/* A TCP query for a name outside the mesh, asked of the first forwarder over
 * a TCP connection of its own (RFC 7766: the answer may be any size, so no
 * UDP and truncation in between). The client may go first: client is then
 * NULL and the answer is dropped. */
struct fwd_tcp {
	uv_tcp_t up;
	uv_timer_t timer;
	uv_connect_t connect;
	uv_write_t write;
	struct wm_meshdns *m;
	struct tcp_conn *client;
	struct fwd_tcp *prev, *next; /* m->fwds */
	struct fwd_tcp *cnext;	     /* client->fwds */
	int open;
	bool closing, done;
	size_t q_len, in_len, fail_len;
	uint8_t *in;   /* 2 + the answer's length, once known */
	uint8_t *fail; /* our REFUSED answer, sent as SERVFAIL if the forwarder fails */
	char src[WM_SOURCE_KEY_MAX]; /* the client's source (tcp_conn.src) */
	uint8_t q[2 + QUERY_MAX];
};

struct counters {
	_Atomic uint64_t queries, answered, refused, forwarded, dropped, truncated;
};

#define BUMP(m, f) atomic_fetch_add_explicit(&(m)->count.f, 1, memory_order_relaxed)

struct wm_meshdns {
	struct wm_meshdns_config cfg;
	/* the daemon's loop: zone builds */
	uv_timer_t reload, poll;
	int open; /* handles of m on the daemon's loop not yet closed */
	bool started, closing;
	void (*done_cb)(void *data);
	void *done_data;
	uint64_t version, reloads;
	/* handed from the daemon's loop to the DNS thread */
	_Atomic(struct wm_dns_zone *) pending;
	/* the DNS thread: its loop and everything on it */
	uv_loop_t dloop;
	uv_thread_t thread;
	bool dloop_ready, thread_running, dclosing, fwd_open, trim_due;
	uv_async_t stop, swap;
	uv_udp_t udp, fwd;
	uv_tcp_t tcp;
	uv_timer_t expire;
	struct wm_dns_zone *zone;
	struct tcp_conn *conns;
	size_t n_conns;
	struct fwd_tcp *fwds;
	size_t n_fwds;
	struct fwd_slot fwd_slots[FWD_SLOTS];
	struct counters count;
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

static void trim(void)
{
#ifdef __GLIBC__
	/* A rebuild reads the whole state and holds two zones for a moment;
	 * glibc keeps such freed blocks resident (its mmap threshold grows
	 * with each large free). Give them back, or an idle server keeps the
	 * peak of its last rebuild. */
	malloc_trim(0);
#endif
}

/* On the DNS thread: the newest zone, if one is waiting. */
static void take_zone(struct wm_meshdns *m)
{
	struct wm_dns_zone *z;

	/* A plain load first: per query, the common case costs no locked
	 * instruction. */
	if (!atomic_load_explicit(&m->pending, memory_order_relaxed))
		return;
	z = atomic_exchange_explicit(&m->pending, NULL, memory_order_acquire);

	if (z) {
		wm_dns_zone_free(m->zone);
		m->zone = z;
		m->trim_due = true;
	}
}

static void swap_cb(uv_async_t *a)
{
	struct wm_meshdns *m = a->data;

	take_zone(m);
	if (m->trim_due) {
		m->trim_due = false;
		trim();
	}
}

/* On the daemon's loop. */
static void reload(struct wm_meshdns *m)
{
	struct wm_dns_zone *z = NULL;

	if (m->cfg.version)
		m->version = m->cfg.version(m->cfg.data);
	if (m->cfg.load(m->cfg.data, &z) == 0) {
		/* A zone the DNS thread has not taken yet was never read by it:
		 * ours to free. */
		struct wm_dns_zone *old =
			atomic_exchange_explicit(&m->pending, z, memory_order_acq_rel);
		wm_dns_zone_free(old);
		m->reloads++;
		if (m->thread_running)
			uv_async_send(&m->swap);
		else
			trim();
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

	if (m->cfg.version && m->cfg.version(m->cfg.data) != m->version)
		reload(m);
}

static void expire_cb(uv_timer_t *t)
{
	struct wm_meshdns *m = t->data;
	uint64_t now = uv_now(&m->dloop);

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
	struct counters *c = (struct counters *)&m->count;

	*out = (struct wm_meshdns_stats){
		.queries = atomic_load_explicit(&c->queries, memory_order_relaxed),
		.answered = atomic_load_explicit(&c->answered, memory_order_relaxed),
		.refused = atomic_load_explicit(&c->refused, memory_order_relaxed),
		.forwarded = atomic_load_explicit(&c->forwarded, memory_order_relaxed),
		.dropped = atomic_load_explicit(&c->dropped, memory_order_relaxed),
		.truncated = atomic_load_explicit(&c->truncated, memory_order_relaxed),
		.reloads = m->reloads};
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
	slot->deadline = uv_now(&m->dloop) + FWD_TIMEOUT_MS;
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
	BUMP(m, forwarded);
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

/* ---- TCP connections: sending, closing ---- */

static void write_cb(uv_write_t *w, int status)
{
	(void)status;
	free(w);
}

static void handle_closed_cb(uv_handle_t *h);

static void conn_close(struct tcp_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	/* Answers still on their way from a forwarder have nowhere to go. */
	for (struct fwd_tcp *f = c->fwds; f; f = f->cnext)
		f->client = NULL;
	c->fwds = NULL;
	uv_close((uv_handle_t *)&c->tcp, handle_closed_cb);
	uv_close((uv_handle_t *)&c->idle, handle_closed_cb);
}

/* One DNS message (len bytes) with its length in front. */
static void conn_send(struct tcp_conn *c, const uint8_t *msg, size_t len)
{
	uv_write_t *w = malloc(sizeof(*w) + 2 + len);

	if (!w) {
		conn_close(c);
		return;
	}
	uint8_t *p = (uint8_t *)(w + 1);
	p[0] = (uint8_t)(len >> 8);
	p[1] = (uint8_t)len;
	memcpy(p + 2, msg, len);
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)(2 + len));
	if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, write_cb) < 0) {
		free(w);
		conn_close(c);
	}
}

/* ---- forwarding (TCP) ---- */

static void fwd_tcp_closed_cb(uv_handle_t *h)
{
	struct fwd_tcp *f = h->data;
	struct wm_meshdns *m = f->m;

	if (--f->open > 0)
		return;
	if (f->prev)
		f->prev->next = f->next;
	else
		m->fwds = f->next;
	if (f->next)
		f->next->prev = f->prev;
	m->n_fwds--;
	free(f->in);
	free(f->fail);
	free(f);
}

static void fwd_tcp_close(struct fwd_tcp *f)
{
	if (f->closing)
		return;
	f->closing = true;
	if (f->client) {
		struct fwd_tcp **pp = &f->client->fwds;
		while (*pp && *pp != f)
			pp = &(*pp)->cnext;
		if (*pp)
			*pp = f->cnext;
		f->client = NULL;
	}
	uv_close((uv_handle_t *)&f->up, fwd_tcp_closed_cb);
	uv_close((uv_handle_t *)&f->timer, fwd_tcp_closed_cb);
}

/* The forwarder's answer to the client, or, when it gave none, SERVFAIL
 * (our REFUSED answer with the other code: the same question and OPT). */
static void fwd_tcp_finish(struct fwd_tcp *f, bool ok)
{
	if (f->done)
		return;
	f->done = true;
	if (f->client && !f->client->closing) {
		if (ok) {
			conn_send(f->client, f->in + 2, f->in_len - 2);
		} else if (f->fail_len >= 4) {
			f->fail[3] = (uint8_t)((f->fail[3] & 0xF0) | WM_DNS_SERVFAIL);
			conn_send(f->client, f->fail, f->fail_len);
		}
	}
	fwd_tcp_close(f);
}

static void fwd_tcp_timeout_cb(uv_timer_t *t)
{
	fwd_tcp_finish(t->data, false);
}

static void fwd_tcp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct fwd_tcp *f = h->data;
	(void)suggested;

	if (!f->in) /* the largest message: 2 + 65535, taken only while it lasts */
		f->in = malloc(2 + WM_DNS_TCP_MAX);
	if (!f->in) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init((char *)f->in + f->in_len, (unsigned)(2 + WM_DNS_TCP_MAX - f->in_len));
}

static void fwd_tcp_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct fwd_tcp *f = s->data;
	(void)buf;

	if (n < 0) {
		fwd_tcp_finish(f, false);
		return;
	}
	f->in_len += (size_t)n;
	if (f->in_len < 2)
		return;
	size_t want = (size_t)f->in[0] << 8 | f->in[1];
	if (want < WM_DNS_HEADER) {
		fwd_tcp_finish(f, false);
		return;
	}
	if (f->in_len >= 2 + want) {
		f->in_len = 2 + want; /* anything after the one answer is not ours */
		fwd_tcp_finish(f, true);
	}
}

static void fwd_tcp_write_cb(uv_write_t *w, int status)
{
	if (status < 0 && status != UV_ECANCELED)
		fwd_tcp_finish(w->data, false);
}

static void fwd_tcp_connect_cb(uv_connect_t *c, int status)
{
	struct fwd_tcp *f = c->data;

	if (f->closing)
		return;
	if (status < 0) {
		fwd_tcp_finish(f, false);
		return;
	}
	uv_buf_t b = uv_buf_init((char *)f->q, (unsigned)(2 + f->q_len));
	f->write.data = f;
	if (uv_write(&f->write, (uv_stream_t *)&f->up, &b, 1, fwd_tcp_write_cb) < 0 ||
	    uv_read_start((uv_stream_t *)&f->up, fwd_tcp_alloc_cb, fwd_tcp_read_cb) < 0)
		fwd_tcp_finish(f, false);
}

/* Asks the forwarder for client's query q; refused (len bytes) is the
 * answer we would give instead. false: not forwarded (answer refused). */
static bool forward_tcp(struct wm_meshdns *m, struct tcp_conn *client, const uint8_t *q, size_t len,
			const uint8_t *refused, size_t refused_len)
{
	struct sockaddr_storage to;
	struct fwd_tcp *f;

	if (m->n_fwds >= FWD_TCP_MAX || len > QUERY_MAX || m->dclosing)
		return false;
	size_t same = 0; /* a closed client's forwards still hold their slots */
	for (struct fwd_tcp *o = m->fwds; o; o = o->next)
		if (!o->closing && strcmp(o->src, client->src) == 0)
			same++;
	if (same >= FWD_TCP_PER_SOURCE)
		return false;
	f = calloc(1, sizeof(*f));
	if (!f)
		return false;
	f->fail = malloc(refused_len ? refused_len : 1);
	if (!f->fail) {
		free(f);
		return false;
	}
	memcpy(f->fail, refused, refused_len);
	f->fail_len = refused_len;
	f->m = m;
	memcpy(f->src, client->src, sizeof(f->src));
	f->q[0] = (uint8_t)(len >> 8);
	f->q[1] = (uint8_t)len;
	memcpy(f->q + 2, q, len);
	f->q_len = len;
	uv_tcp_init(&m->dloop, &f->up);
	uv_timer_init(&m->dloop, &f->timer);
	f->up.data = f->timer.data = f->connect.data = f;
	f->open = 2;
	f->next = m->fwds;
	if (m->fwds)
		m->fwds->prev = f;
	m->fwds = f;
	m->n_fwds++;
	f->client = client;
	f->cnext = client->fwds;
	client->fwds = f;
	endpoint_sockaddr(&m->cfg.forwarders[0], &to);
	if (uv_tcp_connect(&f->connect, &f->up, (const struct sockaddr *)&to, fwd_tcp_connect_cb) <
	    0) {
		f->done = true;
		fwd_tcp_close(f);
		return false;
	}
	uv_timer_start(&f->timer, fwd_tcp_timeout_cb, FWD_TIMEOUT_MS, 0);
	BUMP(m, forwarded);
	return true;
}

/* ---- answering (on the DNS thread) ---- */

/* The answer to q in m->tx + 2 (room for the TCP length); its length or 0
 * (nothing to send now). from: the UDP requester; conn: the TCP one. */
static size_t answer(struct wm_meshdns *m, const uint8_t *q, size_t len,
		     const struct sockaddr *from, struct tcp_conn *conn)
{
	size_t out = 0;
	bool tcp = conn != NULL;
	bool ra = m->cfg.n_forwarders > 0;

	take_zone(m);
	enum wm_dns_outcome how =
		wm_dns_answer(m->zone, q, len, tcp, ra, m->tx + 2, sizeof(m->tx) - 2, &out);

	BUMP(m, queries);
	switch (how) {
	case WM_DNS_DROP:
		BUMP(m, dropped);
		return 0;
	case WM_DNS_OUTSIDE:
		if (!tcp && from && forward(m, q, len, from))
			return 0;
		if (tcp && m->cfg.n_forwarders && forward_tcp(m, conn, q, len, m->tx + 2, out))
			return 0;
		BUMP(m, refused);
		break;
	case WM_DNS_ANSWERED:
		BUMP(m, answered);
		if (out >= 4 && (m->tx[4] & 0x02))
			BUMP(m, truncated);
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
		BUMP(m, dropped);
		return;
	}
	size_t len = answer(m, (const uint8_t *)buf->base, (size_t)n, addr, NULL);
	if (len) {
		uv_buf_t b = uv_buf_init((char *)m->tx + 2, (unsigned)len);
		/* A full socket buffer drops the answer, as the network might:
		 * the requester asks again. */
		(void)uv_udp_try_send(&m->udp, &b, 1, addr);
	}
}

/* ---- TCP (RFC 7766): length-prefixed queries, pipelined ---- */

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
}

static void handle_closed_cb(uv_handle_t *h)
{
	conn_closed_cb(h);
}

static void idle_cb(uv_timer_t *t)
{
	conn_close(t->data);
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
	while (c->in_len >= 2 && !c->closing) {
		size_t qlen = (size_t)c->in[0] << 8 | c->in[1];
		if (qlen > QUERY_MAX) {
			conn_close(c);
			return;
		}
		if (c->in_len < 2 + qlen)
			return;
		size_t len = answer(m, c->in + 2, qlen, NULL, c);
		memmove(c->in, c->in + 2 + qlen, c->in_len - 2 - qlen);
		c->in_len -= 2 + qlen;
		if (len)
			conn_send(c, m->tx + 2, len);
	}
}

/* c->src: the peer's IPv4 address or IPv6 /64 ("?" if unknown: all such
 * share one count). */
static void conn_source(struct tcp_conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char ip[INET6_ADDRSTRLEN] = "", peer[INET6_ADDRSTRLEN + 10];

	snprintf(c->src, sizeof(c->src), "?");
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
		snprintf(peer, sizeof(peer), "%s:1", ip);
	} else if (ss.ss_family == AF_INET6) {
		uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
		snprintf(peer, sizeof(peer), "[%s]:1", ip);
	} else {
		return;
	}
	if (wm_source_key(peer, c->src) < 0)
		snprintf(c->src, sizeof(c->src), "?");
}

static void accept_cb(uv_stream_t *srv, int status)
{
	struct wm_meshdns *m = srv->data;
	struct tcp_conn *c;

	if (status < 0 || m->dclosing)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->m = m;
	uv_tcp_init(&m->dloop, &c->tcp);
	uv_timer_init(&m->dloop, &c->idle);
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
	conn_source(c);
	uv_timer_start(&c->idle, idle_cb, TCP_IDLE_MS, TCP_IDLE_MS);
	if (uv_read_start((uv_stream_t *)&c->tcp, tcp_alloc_cb, tcp_read_cb) < 0)
		conn_close(c);
}

/* ---- the DNS thread ---- */

/* The DNS loop's own handles live in m, freed after the thread is joined;
 * uv_run returns once the last one is closed. */
static void dhandle_closed_cb(uv_handle_t *h)
{
	(void)h;
}

/* On the DNS thread (or, before it runs, on the caller's): closes every
 * handle of the DNS loop, whose uv_run then returns. */
static void dloop_close_all(struct wm_meshdns *m)
{
	if (m->dclosing)
		return;
	m->dclosing = true;
	for (struct tcp_conn *c = m->conns; c; c = c->next)
		conn_close(c);
	for (struct fwd_tcp *f = m->fwds; f; f = f->next)
		fwd_tcp_close(f);
	uv_close((uv_handle_t *)&m->udp, dhandle_closed_cb);
	uv_close((uv_handle_t *)&m->fwd, dhandle_closed_cb);
	uv_close((uv_handle_t *)&m->tcp, dhandle_closed_cb);
	uv_close((uv_handle_t *)&m->expire, dhandle_closed_cb);
	uv_close((uv_handle_t *)&m->stop, dhandle_closed_cb);
	uv_close((uv_handle_t *)&m->swap, dhandle_closed_cb);
}

static void stop_cb(uv_async_t *a)
{
	dloop_close_all(a->data);
}

static void dns_thread(void *arg)
{
	struct wm_meshdns *m = arg;

	uv_run(&m->dloop, UV_RUN_DEFAULT);
}

/* ---- lifecycle (the daemon's loop) ---- */

static void finish(struct wm_meshdns *m)
{
	void (*cb)(void *) = m->done_cb;
	void *data = m->done_data;

	wm_dns_zone_free(m->zone);
	wm_dns_zone_free(atomic_load(&m->pending));
	free(m->batch);
	free(m);
	if (cb)
		cb(data);
}

static void own_closed_cb(uv_handle_t *h)
{
	struct wm_meshdns *m = h->data;
	if (--m->open == 0)
		finish(m);
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
	uv_timer_init(m->cfg.loop, &m->reload);
	uv_timer_init(m->cfg.loop, &m->poll);
	m->reload.data = m->poll.data = m;
	m->open = 2;
	m->started = true;
	rc = uv_loop_init(&m->dloop);
	if (rc) {
		snprintf(err, errlen, "MeshDNS cannot make its loop: %s", uv_strerror(rc));
		return rc;
	}
	m->dloop_ready = true;
	/* Made here, run by the DNS thread once started: until then only this
	 * thread touches the loop (uv_thread_create orders the two). */
	uv_udp_init_ex(&m->dloop, &m->udp, UV_UDP_RECVMMSG);
	uv_udp_init(&m->dloop, &m->fwd);
	uv_tcp_init(&m->dloop, &m->tcp);
	uv_timer_init(&m->dloop, &m->expire);
	uv_async_init(&m->dloop, &m->stop, stop_cb);
	uv_async_init(&m->dloop, &m->swap, swap_cb);
	m->udp.data = m->fwd.data = m->tcp.data = m->expire.data = m->stop.data = m->swap.data = m;
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
		uv_timer_start(&m->expire, expire_cb, 1000, 1000);
	}
	reload(m);
	uv_thread_options_t to = {.flags = UV_THREAD_HAS_STACK_SIZE, .stack_size = THREAD_STACK};
	rc = uv_thread_create_ex(&m->thread, &to, dns_thread, m);
	if (rc) {
		snprintf(err, errlen, "MeshDNS cannot start its thread: %s", uv_strerror(rc));
		return rc;
	}
	m->thread_running = true;
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
	if (m->thread_running) {
		/* The DNS thread closes its handles and returns in one turn of
		 * its loop: a short wait, once, at shutdown. */
		uv_async_send(&m->stop);
		uv_thread_join(&m->thread);
		m->thread_running = false;
	} else if (m->dloop_ready) {
		dloop_close_all(m);
		uv_run(&m->dloop, UV_RUN_DEFAULT);
	}
	if (m->dloop_ready)
		(void)uv_loop_close(&m->dloop);
	if (!m->started) {
		finish(m);
		return;
	}
	uv_close((uv_handle_t *)&m->reload, own_closed_cb);
	uv_close((uv_handle_t *)&m->poll, own_closed_cb);
}
