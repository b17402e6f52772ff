/* The embedded WireGuard device: TUN, UDP and UAPI served by two threads
 * (see device.h). The protocol is in noise.c, cookie.c, replay.c,
 * allowedips.c and timers.c; this file moves packets and keeps peers. */
#include "wg/embedded/device.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/net.h"
#include "core/wgconf.h"
#include "util/pages.h"
#include "util/strbuf.h"
#include "wg/embedded/allowedips.h"
#include "wg/embedded/cookie.h"
#include "wg/embedded/noise.h"
#include "wg/embedded/offload.h"
#include "wg/embedded/ratelimit.h"
#include "wg/embedded/replay.h"
#include "wg/embedded/timers.h"
#include "wg/embedded/uapi_srv.h"
#include "wg/uapi.h"

#define BATCH 32
#define BUF_SIZE 4096 /* an MTU up to BUF_SIZE - 64 */
/* With TUN offloads a read returns up to 64 KiB (a TSO super-packet) behind
 * the virtio header: fewer, larger read buffers, the same memory. */
#define TUN_BIG_SLOT (65536 + 64)
#define TUN_BIG_BATCH 8
#define TUN_MEM ((size_t)TUN_BIG_BATCH * TUN_BIG_SLOT)
#define STAGED_POOL 256
#define STAGED_PER_PEER 64
#define INDEX_BUCKETS 4096
#define TICK_NS (50 * 1000000LL)
/* More handshake messages than this per second and the device is "under
 * load": it answers those without a valid MAC2 with a cookie reply. */
#define UNDER_LOAD_PER_SEC 128
#define UAPI_MAX_REQUEST (16u << 20)
#define UAPI_IO_TIMEOUT_MS 2000
#define UAPI_IDLE_MS 100

struct wge_peer;

enum { IDX_HANDSHAKE = 1, IDX_KEYPAIR = 2 };

/* An entry of the index table: the 32-bit indices of handshakes and sessions
 * we handed out, by which incoming responses, cookies and data find us. */
struct wge_index {
	uint32_t id;
	int kind;
	struct wge_peer *peer;
	struct wge_keypair *kp;
	struct wge_index *next;
	bool linked;
};

struct wge_keypair {
	/* Raw keys: every thread seals and opens with its own keyless
	 * context (a lane), so one session's packets spread over the pool. */
	uint8_t send_key[WGP_KEY_LEN], recv_key[WGP_KEY_LEN];
	uint64_t send_counter;
	struct wgr_window replay;
	uint32_t remote_index;
	int64_t birth;
	bool initiator;
	struct wge_index idx;
};

struct staged {
	struct staged *next;
	size_t len;
	uint8_t *buf;
};

struct wge_peer {
	struct wge_peer *next; /* the device's list */
	uint8_t pub[32];
	uint8_t psk[32];
	struct wgn_handshake hs;
	struct wgc_maker cookie;
	struct wgt_peer timers;
	struct wge_index hs_idx;
	struct wge_keypair *prev, *cur, *next_kp;
	struct sockaddr_storage ep;
	bool has_ep;
	uint64_t rx_bytes, tx_bytes;
	int64_t last_handshake_sec, last_handshake_nsec;
	int64_t last_initiation_sent;
	bool lastminute_sent; /* the initiator's rekey near expiry was sent */
	struct staged *staged_head, *staged_tail;
	unsigned n_staged;
	/* Accept-only prefixes (wm_wg_peer.accept_ips): a handful, and only
	 * while a path changes, so a list; under mu like the trie. */
	struct wm_prefix *accept;
	size_t n_accept;
	bool promote; /* WM_WGPEER_PROMOTE: accept becomes allowed at a handshake */
};

/* A data packet's AEAD, done in place after the packet logic queued it and
 * before the batch it is in goes out: sealing a plaintext of len bytes
 * (the tag is written after it) or opening len bytes (tag included). The
 * key lies in a keypair, which is not freed while jobs on it are pending
 * (keypair_free runs them first, or voids them). */
struct job {
	uint8_t *buf;
	size_t len;
	uint64_t counter;
	const uint8_t *key; /* NULL: nothing to do (a handshake message) */
	bool seal;
	int ret;
	/* Opening: what the packet logic needs after it. */
	struct wge_keypair *kp; /* NULL: voided */
	struct sockaddr_storage *from;
	size_t dlen;
};

/* The crypto pool: worker threads that take jobs of the batch at hand
 * alongside the thread that posted it, which holds the device lock
 * throughout, so there is one batch at a time and the keys stay alive.
 * Jobs are claimed by an atomic counter tagged with the batch's generation,
 * so a worker that wakes late cannot take a job of the next batch. */
#define MAX_WORKERS 64
#define PAR_MIN 4 /* smaller batches are not worth waking a worker */
struct pool;
struct worker {
	struct pool *pool;
	unsigned lane;
};
struct pool {
	pthread_mutex_t mu; /* gen, jobs, n, stop; the two condition variables */
	pthread_cond_t work, done_cv;
	bool mu_init;
	struct job *jobs;
	unsigned n;
	uint32_t gen;
	bool stop;
	_Atomic uint64_t claim; /* gen << 32 | next job */
	atomic_uint done;
	unsigned n_threads;
	pthread_t threads[MAX_WORKERS];
	struct worker workers[MAX_WORKERS];
	/* [0] the lane of whichever device thread holds the device lock;
	 * [1 + i] worker i's. */
	struct wgp_aead_ctx *lanes[MAX_WORKERS + 1];
};

/* A batch of datagrams to send: each thread has its own, filled under the
 * device lock and sent after it is released. */
#define TXQ_LEN (2 * BATCH)
/* UDP GRO: the kernel hands over up to 64 KiB of coalesced datagrams per
 * message, so fewer, larger receive buffers. */
#define RX_MSGS 8
#define RX_BUF 65536
#define RX_MAX_DGRAMS (RX_MSGS * 64)
struct txq {
	uint8_t *bufs;		  /* TXQ_LEN x BUF_SIZE */
	struct job jobs[TXQ_LEN]; /* slot i's sealing */
	unsigned sealed;	  /* slots before this one are sealed */
	struct mmsghdr msgs[TXQ_LEN];
	struct iovec iov[TXQ_LEN];
	struct sockaddr_storage addrs[TXQ_LEN];
	unsigned n;
	/* UDP GSO: runs of equal-sized datagrams to one peer go out as one
	 * message the kernel segments (the last may be shorter). */
	struct mmsghdr gso[TXQ_LEN];
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctrl[TXQ_LEN];
	bool gso_off; /* the kernel refused it once: plain datagrams from then on */
};

struct wge_dev {
	char ifname[IFNAMSIZ];
	char sock_path[108];
	uint32_t max_peers, mtu;
	int tun_fd, udp_fd, udp_family, uapi_fd, wake_fd;
	/* Two threads: "rx" serves the UDP socket, the UAPI socket and the
	 * timers; "tun" reads the TUN device. Every field below is under mu;
	 * only system calls (reads, sendmmsg, TUN writes) run outside it, so
	 * the two threads' kernel work overlaps. */
	pthread_t thread, tun_thread;
	bool thread_started, tun_thread_started, mu_init;
	pthread_mutex_t mu;
	struct txq txq[2];  /* [0] rx thread's, [1] tun thread's */
	struct txq *tx;	    /* the queue of the thread holding mu */
	int retired_fds[8]; /* sockets replaced by a rebind, closed at the end:
			       the tun thread may still be sending on one */
	unsigned n_retired;

	struct wgn_static s;
	struct wgc_checker checker;
	struct wgl_table *ratelimit; /* handshakes per source, under load */
	struct wgt_params params;
	uint16_t listen_port; /* as configured (0 = any) */
	uint16_t bound_port;
	uint32_t fwmark;
	struct wge_peer *peers;
	uint32_t n_peers;
	struct wga_table aips;
	struct wge_index *buckets[INDEX_BUCKETS];

	int64_t load_window_start;
	unsigned load_count;
	int64_t next_tick;

	/* Buffers, allocated once. */
	uint8_t *rx_bufs; /* RX_MSGS x RX_BUF: datagrams in, then plaintext in place */
	struct mmsghdr rx_msgs[RX_MSGS];
	struct iovec rx_iov[RX_MSGS];
	struct sockaddr_storage rx_addrs[RX_MSGS];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} rx_ctrl[RX_MSGS];
	struct pool pool;
	struct job rx_jobs[RX_MAX_DGRAMS]; /* data datagrams of the batch, in order */
	unsigned n_rx_jobs;
	bool rx_posting;		       /* rx_jobs are being handed to the packet logic */
	unsigned rx_post_at;		       /* ... this one now */
	const uint8_t *tun_out[RX_MAX_DGRAMS]; /* plaintext to write to TUN, after mu */
	size_t tun_out_len[RX_MAX_DGRAMS];
	unsigned n_tun_out;
	uint8_t *tun_bufs; /* TUN_MEM: packets read from TUN, tun_batch x tun_slot */
	size_t tun_lens[BATCH];
	size_t tun_slot;
	unsigned tun_batch;
	uint8_t *seg_buf;      /* BUF_SIZE: one segment cut from a TSO packet */
	struct wgo_gro gro;    /* decrypted TCP segments merged for one TUN write */
	bool vnet;	       /* TUN packets carry a virtio header (IFF_VNET_HDR) */
	bool tun_tso;	       /* ... and the kernel hands us TSO and partial checksums */
	bool udp_gso, udp_gro; /* what the kernel took when probed at bind */
	uint8_t *staged_mem;
	struct staged staged_nodes[STAGED_POOL];
	struct staged *staged_free;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * WGT_NS + ts.tv_nsec;
}

static uint32_t rand32(void)
{
	uint32_t r = 0;

	(void)wgp_random(&r, sizeof(r));
	return r;
}

/* ---- index table ---- */

static struct wge_index *index_find(struct wge_dev *d, uint32_t id)
{
	for (struct wge_index *e = d->buckets[id % INDEX_BUCKETS]; e; e = e->next)
		if (e->id == id)
			return e;
	return NULL;
}

static void index_del(struct wge_dev *d, struct wge_index *e)
{
	struct wge_index **pp;

	if (!e->linked)
		return;
	for (pp = &d->buckets[e->id % INDEX_BUCKETS]; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	e->linked = false;
	e->next = NULL;
}

static void index_link(struct wge_dev *d, struct wge_index *e, uint32_t id)
{
	index_del(d, e);
	e->id = id;
	e->next = d->buckets[id % INDEX_BUCKETS];
	d->buckets[id % INDEX_BUCKETS] = e;
	e->linked = true;
}

/* A fresh random index, unique among those we hold. */
static void index_add(struct wge_dev *d, struct wge_index *e)
{
	uint32_t id;

	index_del(d, e);
	do
		id = rand32();
	while (!id || index_find(d, id));
	index_link(d, e, id);
}

/* ---- keypairs ---- */

static void txq_seal(struct wge_dev *d, struct txq *q);

static void keypair_free(struct wge_dev *d, struct wge_keypair *kp)
{
	if (!kp)
		return;
	/* Packets queued under this key are sealed before it goes; those
	 * received under it and not yet handed on are dropped. */
	txq_seal(d, d->tx);
	if (d->rx_posting)
		for (unsigned i = d->rx_post_at + 1; i < d->n_rx_jobs; i++)
			if (d->rx_jobs[i].kp == kp)
				d->rx_jobs[i].kp = NULL;
	index_del(d, &kp->idx);
	wgp_wipe(kp, sizeof(*kp));
	free(kp);
}

static void peer_zero_keys(struct wge_dev *d, struct wge_peer *p)
{
	keypair_free(d, p->prev);
	keypair_free(d, p->cur);
	keypair_free(d, p->next_kp);
	p->prev = p->cur = p->next_kp = NULL;
	index_del(d, &p->hs_idx);
	wgn_handshake_reset(&p->hs);
}

/* Turns a completed handshake into a session. The initiator uses it at once;
 * the responder keeps it as "next" until the initiator's first data packet
 * confirms it (whitepaper 5.4.6), so it never sends under keys the other side
 * may not have. */
static int peer_new_session(struct wge_dev *d, struct wge_peer *p, int64_t now)
{
	struct wgn_keys keys;
	struct wge_keypair *kp;
	int ret = wgn_derive_keys(&p->hs, &keys);

	index_del(d, &p->hs_idx);
	if (ret < 0)
		return ret;
	kp = calloc(1, sizeof(*kp));
	if (!kp) {
		wgp_wipe(&keys, sizeof(keys));
		return -ENOMEM;
	}
	memcpy(kp->send_key, keys.send, WGP_KEY_LEN);
	memcpy(kp->recv_key, keys.recv, WGP_KEY_LEN);
	kp->remote_index = keys.remote_index;
	kp->initiator = keys.initiator;
	uint32_t local_index = keys.local_index;
	kp->birth = now;
	wgr_init(&kp->replay);
	wgp_wipe(&keys, sizeof(keys));
	kp->idx.kind = IDX_KEYPAIR;
	kp->idx.peer = p;
	kp->idx.kp = kp;
	/* Data to us carries the index our handshake message announced. */
	index_link(d, &kp->idx, local_index);
	if (kp->initiator) {
		keypair_free(d, p->next_kp);
		p->next_kp = NULL;
		keypair_free(d, p->prev);
		p->prev = p->cur;
		p->cur = kp;
	} else {
		keypair_free(d, p->next_kp);
		p->next_kp = kp;
	}
	p->lastminute_sent = false;
	wgt_session_derived(&p->timers, &d->params, now);
	return 0;
}

/* ---- endpoints ---- */

static bool sa_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

/* A received address in its natural family (v4-mapped becomes v4). */
static void sa_normalize(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s6 = (void *)ss;
	struct sockaddr_in s4 = {.sin_family = AF_INET};

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
}

/* The bytes a cookie is bound to: address then port. */
static size_t sa_bytes(const struct sockaddr_storage *ss, uint8_t out[18])
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;
		memcpy(out, &s->sin_addr, 4);
		memcpy(out + 4, &s->sin_port, 2);
		return 6;
	}
	const struct sockaddr_in6 *s = (const void *)ss;
	memcpy(out, &s->sin6_addr, 16);
	memcpy(out + 16, &s->sin6_port, 2);
	return 18;
}

/* The destination as the socket's family wants it; false if unreachable
 * (a v6 endpoint on a v4-only socket). */
static bool sa_for_socket(const struct wge_dev *d, const struct sockaddr_storage *ep,
			  struct sockaddr_storage *out, socklen_t *len)
{
	memset(out, 0, sizeof(*out));
	if (d->udp_family == AF_INET) {
		if (ep->ss_family != AF_INET)
			return false;
		memcpy(out, ep, sizeof(struct sockaddr_in));
		*len = sizeof(struct sockaddr_in);
		return true;
	}
	if (ep->ss_family == AF_INET6) {
		memcpy(out, ep, sizeof(struct sockaddr_in6));
	} else {
		const struct sockaddr_in *s4 = (const void *)ep;
		struct sockaddr_in6 *s6 = (void *)out;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = s4->sin_port;
		s6->sin6_addr.s6_addr[10] = 0xff;
		s6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&s6->sin6_addr.s6_addr[12], &s4->sin_addr, 4);
	}
	*len = sizeof(struct sockaddr_in6);
	return true;
}

static void endpoint_to_sa(const struct wm_endpoint *e, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (e->ip.family == AF_INET) {
		struct sockaddr_in *s = (void *)ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(e->port);
		memcpy(&s->sin_addr, e->ip.addr, 4);
	} else {
		struct sockaddr_in6 *s = (void *)ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(e->port);
		memcpy(&s->sin6_addr, e->ip.addr, 16);
	}
}

/* ---- sending ---- */

static bool same_dest(const struct msghdr *a, const struct msghdr *b)
{
	return a->msg_namelen == b->msg_namelen &&
	       !memcmp(a->msg_name, b->msg_name, a->msg_namelen);
}

/* Groups the queue into GSO messages; false if no run is longer than one. */
static bool txq_group(struct txq *q, unsigned *count)
{
	unsigned i = 0, m = 0;
	bool any = false;

	while (i < q->n) {
		size_t seg = q->iov[i].iov_len, total = seg;
		unsigned j = i + 1;
		struct msghdr *h = &q->gso[m].msg_hdr;

		/* At most 64 segments and 64 KiB per message; a shorter
		 * datagram ends the run. */
		while (j < q->n && j - i < 64 && total + q->iov[j].iov_len <= 65000 &&
		       q->iov[j].iov_len <= seg &&
		       same_dest(&q->msgs[i].msg_hdr, &q->msgs[j].msg_hdr)) {
			total += q->iov[j].iov_len;
			j++;
			if (q->iov[j - 1].iov_len < seg)
				break;
		}
		memset(h, 0, sizeof(*h));
		h->msg_name = q->msgs[i].msg_hdr.msg_name;
		h->msg_namelen = q->msgs[i].msg_hdr.msg_namelen;
		h->msg_iov = &q->iov[i];
		h->msg_iovlen = j - i;
		if (j - i > 1) {
			struct cmsghdr *c;
			uint16_t v = (uint16_t)seg;

			h->msg_control = q->ctrl[m].buf;
			h->msg_controllen = sizeof(q->ctrl[m].buf);
			c = CMSG_FIRSTHDR(h);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(v));
			memcpy(CMSG_DATA(c), &v, sizeof(v));
			any = true;
		}
		m++;
		i = j;
	}
	*count = m;
	return any;
}

/* ---- the crypto pool ---- */

static void job_do(struct job *j, struct wgp_aead_ctx *lane)
{
	if (!j->key)
		return;
	if (j->seal) {
		j->ret = wgp_aead_lane_seal(lane, j->key, j->counter, j->buf, j->buf, j->len);
		/* Never a plaintext on the wire: a failed seal sends zeros,
		 * which the peer drops. */
		if (j->ret < 0)
			wgp_wipe(j->buf, j->len + WGP_TAG_LEN);
	} else {
		j->ret = wgp_aead_lane_open(lane, j->key, j->counter, j->buf, j->buf, j->len);
	}
}

static bool job_claim(struct pool *p, uint32_t gen, unsigned n, unsigned *idx)
{
	uint64_t v = atomic_load(&p->claim);

	for (;;) {
		if ((uint32_t)(v >> 32) != gen || (uint32_t)v >= n)
			return false;
		if (atomic_compare_exchange_weak(&p->claim, &v, v + 1)) {
			*idx = (uint32_t)v;
			return true;
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;
	uint32_t seen = 0;

	for (;;) {
		struct job *jobs;
		unsigned n, i;

		pthread_mutex_lock(&p->mu);
		while (!p->stop && p->gen == seen)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		seen = p->gen;
		jobs = p->jobs;
		n = p->n;
		pthread_mutex_unlock(&p->mu);
		while (job_claim(p, seen, n, &i)) {
			job_do(&jobs[i], p->lanes[w->lane]);
			if (atomic_fetch_add(&p->done, 1) + 1 == n) {
				pthread_mutex_lock(&p->mu);
				pthread_cond_signal(&p->done_cv);
				pthread_mutex_unlock(&p->mu);
			}
		}
	}
}

/* Runs n jobs over the pool and the calling thread, which holds the device
 * lock; returns when all are done. */
static void jobs_run(struct wge_dev *d, struct job *jobs, unsigned n)
{
	struct pool *p = &d->pool;
	uint32_t gen;
	unsigned i;

	if (!n)
		return;
	if (!p->n_threads || n < PAR_MIN) {
		for (i = 0; i < n; i++)
			job_do(&jobs[i], p->lanes[0]);
		return;
	}
	pthread_mutex_lock(&p->mu);
	gen = ++p->gen;
	p->jobs = jobs;
	p->n = n;
	atomic_store(&p->done, 0);
	atomic_store(&p->claim, (uint64_t)gen << 32);
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	while (job_claim(p, gen, n, &i)) {
		job_do(&jobs[i], p->lanes[0]);
		atomic_fetch_add(&p->done, 1);
	}
	pthread_mutex_lock(&p->mu);
	while (atomic_load(&p->done) < n)
		pthread_cond_wait(&p->done_cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

/* Seals what q holds and has not sealed yet (under the device lock). */
static void txq_seal(struct wge_dev *d, struct txq *q)
{
	if (!q || q->sealed >= q->n)
		return;
	jobs_run(d, q->jobs + q->sealed, q->n - q->sealed);
	q->sealed = q->n;
}

static int pool_start(struct wge_dev *d, int workers)
{
	struct pool *p = &d->pool;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n;

	/* By default one worker per core beyond the first: a bulk flow keeps
	 * one device thread busy with its crypto (the TUN thread sealing, or
	 * the UDP thread opening), while the other has little to do, so a
	 * second core is free for a worker. Measured on two shared cores: one
	 * worker 611-697 Mbit/s single stream, none 335-486
	 * (docs/BENCHMARKS.md). */
	if (workers < 0)
		n = 0;
	else if (workers > 0)
		n = (unsigned)workers;
	else
		n = cpus > 1 ? (unsigned)(cpus - 1) : 0;
	if (n > 16 && !workers)
		n = 16;
	if (n > MAX_WORKERS)
		return -EINVAL;
	if (pthread_mutex_init(&p->mu, NULL))
		return -ENOMEM;
	if (pthread_cond_init(&p->work, NULL)) {
		pthread_mutex_destroy(&p->mu);
		return -ENOMEM;
	}
	if (pthread_cond_init(&p->done_cv, NULL)) {
		pthread_cond_destroy(&p->work);
		pthread_mutex_destroy(&p->mu);
		return -ENOMEM;
	}
	p->mu_init = true;
	for (unsigned i = 0; i <= n; i++) {
		p->lanes[i] = wgp_aead_lane_new();
		if (!p->lanes[i])
			return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		p->workers[i].pool = p;
		p->workers[i].lane = i + 1;
		int ret = -pthread_create(&p->threads[i], NULL, worker_main, &p->workers[i]);
		char name[16];

		if (ret < 0)
			return ret;
		p->n_threads++;
		snprintf(name, sizeof(name), "wg-crypto%u", i + 1);
		pthread_setname_np(p->threads[i], name);
	}
	return 0;
}

static void pool_stop(struct pool *p)
{
	if (!p->mu_init)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	for (unsigned i = 0; i <= MAX_WORKERS; i++)
		wgp_aead_ctx_free(p->lanes[i]);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done_cv);
	pthread_mutex_destroy(&p->mu);
	p->mu_init = false;
}

static void txq_flush(int fd, struct txq *q, bool gso)
{
	unsigned off = 0, m;

	if (gso && !q->gso_off && q->n > 1 && txq_group(q, &m)) {
		while (off < m) {
			int n = sendmmsg(fd, q->gso + off, m - off, MSG_DONTWAIT);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EINVAL || errno == EOPNOTSUPP || errno == EIO ||
				    errno == ENOPROTOOPT) {
					/* No GSO here: resend plainly from this point. */
					q->gso_off = true;
					break;
				}
				off++;
				continue;
			}
			off += (unsigned)n;
		}
		if (off >= m) {
			q->n = q->sealed = 0;
			return;
		}
		/* Find the first datagram of the unsent message. */
		off = (unsigned)(q->gso[off].msg_hdr.msg_iov - q->iov);
	} else {
		off = 0;
	}
	while (off < q->n) {
		int n = sendmmsg(fd, q->msgs + off, q->n - off, MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* A full socket buffer or an unreachable peer: drop the
			 * datagram at hand, as a router would, and go on. */
			off++;
			continue;
		}
		off += (unsigned)n;
	}
	q->n = q->sealed = 0;
}

static void lock(struct wge_dev *d, struct txq *q)
{
	pthread_mutex_lock(&d->mu);
	d->tx = q;
}

/* Releases mu, then sends what the thread queued meanwhile. */
static void unlock_flush(struct wge_dev *d)
{
	struct txq *q = d->tx;
	int fd = d->udp_fd;
	bool gso = d->udp_gso;

	txq_seal(d, q);
	pthread_mutex_unlock(&d->mu);
	txq_flush(fd, q, gso);
}

/* A slot of the send batch for a datagram to ep, or NULL (no endpoint). */
static uint8_t *tx_slot(struct wge_dev *d, const struct sockaddr_storage *ep)
{
	struct txq *q = d->tx;
	unsigned i;
	socklen_t alen;

	if (q->n == TXQ_LEN) {
		txq_seal(d, q);
		txq_flush(d->udp_fd, q, d->udp_gso);
	}
	i = q->n;
	q->jobs[i].key = NULL;
	if (!sa_for_socket(d, ep, &q->addrs[i], &alen))
		return NULL;
	q->msgs[i].msg_hdr.msg_name = &q->addrs[i];
	q->msgs[i].msg_hdr.msg_namelen = alen;
	return q->bufs + (size_t)i * BUF_SIZE;
}

static void tx_commit(struct wge_dev *d, size_t len)
{
	d->tx->iov[d->tx->n].iov_len = len;
	d->tx->n++;
}

static void send_raw(struct wge_dev *d, const struct sockaddr_storage *ep, const void *buf,
		     size_t len)
{
	uint8_t *slot = tx_slot(d, ep);

	if (!slot)
		return;
	memcpy(slot, buf, len);
	tx_commit(d, len);
}

static void send_initiation(struct wge_dev *d, struct wge_peer *p, bool retry, int64_t now)
{
	struct wgm_initiation msg;
	struct timespec wall;

	if (!retry)
		p->timers.attempts = 0;
	if (!p->has_ep || !d->s.has_key || !p->hs.ss_ok)
		return;
	if (!retry && !wgt_may_initiate(&d->params, p->last_initiation_sent, now))
		return;
	clock_gettime(CLOCK_REALTIME, &wall);
	p->hs_idx.kind = IDX_HANDSHAKE;
	p->hs_idx.peer = p;
	index_add(d, &p->hs_idx);
	if (wgn_create_initiation(&p->hs, &d->s, p->hs_idx.id, wall.tv_sec, wall.tv_nsec, NULL,
				  &msg) < 0 ||
	    wgc_add_macs(&p->cookie, p->hs.remote_mac1_key, (uint8_t *)&msg, sizeof(msg), now) <
		    0) {
		index_del(d, &p->hs_idx);
		return;
	}
	send_raw(d, &p->ep, &msg, sizeof(msg));
	p->last_initiation_sent = now;
	p->tx_bytes += sizeof(msg);
	wgt_handshake_initiated(&p->timers, &d->params, now, wgt_jitter(rand32()));
	wgt_authenticated_traversal(&p->timers, now);
	wgt_authenticated_sent(&p->timers);
	wgp_wipe(&msg, sizeof(msg));
}

/* Encrypts one packet (len 0: a keepalive) to p under its current session.
 * false when there is no usable session (the caller stages or drops). */
static bool send_data(struct wge_dev *d, struct wge_peer *p, const uint8_t *pkt, size_t len,
		      int64_t now)
{
	struct wge_keypair *kp = p->cur;
	size_t padded = (len + 15) & ~(size_t)15;
	struct wgm_data *hdr;
	uint8_t *slot;

	if (!kp || !p->has_ep || !wgt_keys_usable(&d->params, kp->birth, kp->send_counter, now))
		return false;
	/* Padded to 16 but never past the MTU; a packet that the rounding
	 * would take past it is padded to the MTU exactly (as the kernel and
	 * wireguard-go do), not left at its own length, which would give away
	 * the exact size of near-MTU packets. */
	if (padded > d->mtu && len <= d->mtu)
		padded = d->mtu;
	if (padded + sizeof(*hdr) + WGP_TAG_LEN > BUF_SIZE)
		return true; /* larger than any MTU we allow: dropped */
	slot = tx_slot(d, &p->ep);
	if (!slot)
		return true;
	hdr = (struct wgm_data *)slot;
	memset(hdr, 0, sizeof(*hdr));
	hdr->type[0] = WGM_DATA;
	wgm_put32(hdr->receiver, kp->remote_index);
	wgm_put64(hdr->counter, kp->send_counter);
	if (len)
		memcpy(slot + sizeof(*hdr), pkt, len);
	memset(slot + sizeof(*hdr) + len, 0, padded - len);
	/* Sealed with the rest of the batch, before it goes out. */
	d->tx->jobs[d->tx->n] = (struct job){.buf = slot + sizeof(*hdr),
					     .len = padded,
					     .counter = kp->send_counter,
					     .key = kp->send_key,
					     .seal = true};
	kp->send_counter++;
	tx_commit(d, sizeof(*hdr) + padded + WGP_TAG_LEN);
	p->tx_bytes += sizeof(*hdr) + padded + WGP_TAG_LEN;
	/* The jitter is drawn only when the timer is armed: not per packet. */
	if (len && !p->timers.new_handshake_at)
		wgt_data_sent(&p->timers, &d->params, now, wgt_jitter(rand32()));
	wgt_authenticated_sent(&p->timers);
	wgt_authenticated_traversal(&p->timers, now);
	if (wgt_rekey_on_send(&d->params, kp->initiator, kp->birth, kp->send_counter, now))
		send_initiation(d, p, false, now);
	return true;
}

static void send_keepalive(struct wge_dev *d, struct wge_peer *p, int64_t now)
{
	if (!send_data(d, p, NULL, 0, now))
		send_initiation(d, p, false, now);
}

static void staged_drop(struct wge_dev *d, struct wge_peer *p)
{
	while (p->staged_head) {
		struct staged *s = p->staged_head;

		p->staged_head = s->next;
		s->next = d->staged_free;
		d->staged_free = s;
	}
	p->staged_tail = NULL;
	p->n_staged = 0;
}

/* Packets wait here while a handshake is under way. The oldest is dropped
 * when the peer's share or the pool is full. */
static void stage(struct wge_dev *d, struct wge_peer *p, const uint8_t *pkt, size_t len)
{
	struct staged *s;

	if (len > BUF_SIZE)
		return;
	if ((p->n_staged >= STAGED_PER_PEER || !d->staged_free) && p->staged_head) {
		s = p->staged_head;
		p->staged_head = s->next;
		if (!p->staged_head)
			p->staged_tail = NULL;
		p->n_staged--;
	} else if (d->staged_free) {
		s = d->staged_free;
		d->staged_free = s->next;
	} else {
		return;
	}
	memcpy(s->buf, pkt, len);
	s->len = len;
	s->next = NULL;
	if (p->staged_tail)
		p->staged_tail->next = s;
	else
		p->staged_head = s;
	p->staged_tail = s;
	p->n_staged++;
}

/* Sends what was staged; true if anything was. */
static bool staged_send(struct wge_dev *d, struct wge_peer *p, int64_t now)
{
	bool any = false;

	while (p->staged_head && p->cur) {
		struct staged *s = p->staged_head;

		if (!send_data(d, p, s->buf, s->len, now))
			break;
		any = true;
		p->staged_head = s->next;
		if (!p->staged_head)
			p->staged_tail = NULL;
		p->n_staged--;
		s->next = d->staged_free;
		d->staged_free = s;
	}
	return any;
}

/* ---- receiving ---- */

static bool under_load(struct wge_dev *d, int64_t now)
{
	if (now - d->load_window_start >= WGT_NS) {
		d->load_window_start = now;
		d->load_count = 0;
	}
	return ++d->load_count > UNDER_LOAD_PER_SEC;
}

static struct wgn_handshake *lookup_peer_hs(void *ctx, const uint8_t key[32])
{
	struct wge_dev *d = ctx;

	for (struct wge_peer *p = d->peers; p; p = p->next)
		if (wgp_equal(p->pub, key, 32))
			return &p->hs;
	return NULL;
}

static struct wge_peer *peer_of_hs(struct wgn_handshake *hs)
{
	return (struct wge_peer *)((char *)hs - offsetof(struct wge_peer, hs));
}

static void set_endpoint(struct wge_peer *p, const struct sockaddr_storage *from)
{
	if (!p->has_ep || !sa_equal(&p->ep, from)) {
		p->ep = *from;
		p->has_ep = true;
	}
}

/* MAC checks common to initiations and responses: true to go on. Under load,
 * a message without a valid MAC2 gets a cookie reply instead. */
static bool handshake_macs_ok(struct wge_dev *d, const uint8_t *buf, size_t len, uint32_t sender,
			      const struct sockaddr_storage *from, int64_t now)
{
	uint8_t addr[18];
	size_t alen = sa_bytes(from, addr);
	enum wgc_result r = wgc_check(&d->checker, d->s.mac1_key, buf, len, addr, alen, now);
	struct wgm_cookie reply;

	if (r == WGC_INVALID)
		return false;
	if (!under_load(d, now))
		return true;
	if (r != WGC_VALID_MAC1_MAC2) {
		if (wgc_make_reply(&d->checker, d->s.cookie_key, buf, len, sender, addr, alen, now,
				   &reply) == 0)
			send_raw(d, from, &reply, sizeof(reply));
		return false;
	}
	/* The address is proven: hold it to its share (the port is not part of
	 * it, so one host cannot multiply its share by its ports). */
	return wgl_allow(d->ratelimit, addr, alen - 2, now);
}

static void rx_initiation(struct wge_dev *d, const uint8_t *buf, size_t len,
			  const struct sockaddr_storage *from, int64_t now)
{
	const struct wgm_initiation *msg = (const void *)buf;
	struct wgn_handshake *hs;
	struct wge_peer *p;
	struct wgm_response resp;

	if (!d->s.has_key || !handshake_macs_ok(d, buf, len, wgm_get32(msg->sender), from, now))
		return;
	if (wgn_consume_initiation(&d->s, msg, lookup_peer_hs, d, now, &hs) < 0)
		return;
	p = peer_of_hs(hs);
	set_endpoint(p, from);
	p->rx_bytes += len;
	p->hs_idx.kind = IDX_HANDSHAKE;
	p->hs_idx.peer = p;
	index_add(d, &p->hs_idx);
	if (wgn_create_response(&p->hs, &d->s, p->hs_idx.id, NULL, &resp) < 0 ||
	    wgc_add_macs(&p->cookie, p->hs.remote_mac1_key, (uint8_t *)&resp, sizeof(resp), now) <
		    0) {
		index_del(d, &p->hs_idx);
		return;
	}
	(void)peer_new_session(d, p, now);
	send_raw(d, from, &resp, sizeof(resp));
	p->tx_bytes += sizeof(resp);
	wgt_authenticated_traversal(&p->timers, now);
	wgt_authenticated_sent(&p->timers);
	wgt_authenticated_received(&p->timers);
	wgp_wipe(&resp, sizeof(resp));
}

/* The path through p is confirmed by a handshake: the addresses it was
 * given to take over (core/mbb.h) are its own from now on, so the switch
 * happens with the first packet the path can carry, not at the next
 * configuration. */
static void aip_bytes(const struct wm_prefix *pfx, int *fam, const uint8_t **addr);

static void promote(struct wge_dev *d, struct wge_peer *p)
{
	size_t kept = 0;

	if (!p->promote)
		return;
	p->promote = false;
	for (size_t i = 0; i < p->n_accept; i++) {
		int fam;
		const uint8_t *addr;

		aip_bytes(&p->accept[i], &fam, &addr);
		/* out of memory: it stays accept-only, as before */
		if (wga_insert(&d->aips, fam, addr, p->accept[i].len, p) < 0)
			p->accept[kept++] = p->accept[i];
	}
	p->n_accept = kept;
}

static void rx_response(struct wge_dev *d, const uint8_t *buf, size_t len,
			const struct sockaddr_storage *from, int64_t now)
{
	const struct wgm_response *msg = (const void *)buf;
	struct wge_index *e;
	struct wge_peer *p;
	struct timespec wall;

	if (!d->s.has_key || !handshake_macs_ok(d, buf, len, wgm_get32(msg->sender), from, now))
		return;
	e = index_find(d, wgm_get32(msg->receiver));
	if (!e || e->kind != IDX_HANDSHAKE)
		return;
	p = e->peer;
	if (wgn_consume_response(&p->hs, &d->s, msg) < 0)
		return;
	if (peer_new_session(d, p, now) < 0)
		return;
	set_endpoint(p, from);
	p->rx_bytes += len;
	clock_gettime(CLOCK_REALTIME, &wall);
	p->last_handshake_sec = wall.tv_sec;
	p->last_handshake_nsec = wall.tv_nsec;
	wgt_handshake_complete(&p->timers);
	promote(d, p);
	wgt_authenticated_received(&p->timers);
	wgt_authenticated_traversal(&p->timers, now);
	/* Confirm the session at once, with staged data or a keepalive. */
	if (!staged_send(d, p, now))
		send_keepalive(d, p, now);
}

static void rx_cookie(struct wge_dev *d, const uint8_t *buf, int64_t now)
{
	const struct wgm_cookie *msg = (const void *)buf;
	struct wge_index *e = index_find(d, wgm_get32(msg->receiver));

	if (!e)
		return;
	(void)wgc_consume_reply(&e->peer->cookie, e->peer->hs.remote_cookie_key, msg, now);
}

/* The source address of an IP packet: its family (4/6) and bytes, or 0 when
 * the packet is not a plausible IP packet of at most len bytes. *iplen gets
 * the packet's own length (the rest is padding). */
static int ip_src_dst(const uint8_t *pkt, size_t len, const uint8_t **src, const uint8_t **dst,
		      size_t *iplen)
{
	if (len >= 20 && (pkt[0] >> 4) == 4) {
		*iplen = (size_t)pkt[2] << 8 | pkt[3];
		*src = pkt + 12;
		*dst = pkt + 16;
		return *iplen >= 20 && *iplen <= len ? 4 : 0;
	}
	if (len >= 40 && (pkt[0] >> 4) == 6) {
		*iplen = ((size_t)pkt[4] << 8 | pkt[5]) + 40;
		*src = pkt + 8;
		*dst = pkt + 24;
		return *iplen <= len ? 6 : 0;
	}
	return 0;
}

/* Whether src (4 or 16 bytes by fam, 4 or 6) lies in one of p's accept-only
 * prefixes. */
static bool peer_accepts(const struct wge_peer *p, int fam, const uint8_t *src)
{
	for (size_t i = 0; i < p->n_accept; i++) {
		const struct wm_prefix *a = &p->accept[i];
		unsigned bits = a->len, full = bits / 8, rest = bits % 8;

		if ((a->family == AF_INET ? 4 : 6) != fam)
			continue;
		if (memcmp(a->addr, src, full))
			continue;
		if (rest && ((a->addr[full] ^ src[full]) & (uint8_t)(0xff00u >> rest)))
			continue;
		return true;
	}
	return false;
}

/* A data message: checked against its session, then queued for opening
 * with the rest of the batch (rx_data_finish). */
static void rx_data(struct wge_dev *d, uint8_t *buf, size_t len, struct sockaddr_storage *from,
		    int64_t now)
{
	const struct wgm_data *hdr = (const void *)buf;
	struct wge_index *e = index_find(d, wgm_get32(hdr->receiver));
	uint64_t counter = wgm_get64(hdr->counter);
	struct wge_keypair *kp;

	if (!e || e->kind != IDX_KEYPAIR || d->n_rx_jobs == RX_MAX_DGRAMS)
		return;
	kp = e->kp;
	if (!wgt_keys_usable(&d->params, kp->birth, 0, now) ||
	    counter >= d->params.reject_after_messages)
		return;
	d->rx_jobs[d->n_rx_jobs++] = (struct job){.buf = buf + sizeof(*hdr),
						  .len = len - sizeof(*hdr),
						  .counter = counter,
						  .key = kp->recv_key,
						  .kp = kp,
						  .from = from,
						  .dlen = len};
}

/* An opened data message: the replay window (only now, so a forgery cannot
 * move it), session confirmation, timers, and cryptokey routing. */
static void rx_data_opened(struct wge_dev *d, struct job *j, int64_t now)
{
	struct wge_keypair *kp = j->kp;
	struct wge_peer *p = kp->idx.peer;
	size_t plen = j->len - WGP_TAG_LEN, iplen;
	uint8_t *plain = j->buf;
	const uint8_t *src, *dst;
	int fam;

	if (!wgr_check_and_set(&kp->replay, j->counter))
		return;
	if (kp == p->next_kp) {
		/* The initiator used the new session: it is confirmed. */
		keypair_free(d, p->prev);
		p->prev = p->cur;
		p->cur = kp;
		p->next_kp = NULL;
		struct timespec wall;
		clock_gettime(CLOCK_REALTIME, &wall);
		p->last_handshake_sec = wall.tv_sec;
		p->last_handshake_nsec = wall.tv_nsec;
		wgt_handshake_complete(&p->timers);
		promote(d, p);
		staged_send(d, p, now);
	}
	set_endpoint(p, j->from);
	p->rx_bytes += j->dlen;
	wgt_authenticated_received(&p->timers);
	wgt_authenticated_traversal(&p->timers, now);
	if (kp == p->cur && !p->lastminute_sent &&
	    wgt_rekey_on_receive(&d->params, kp->initiator, kp->birth, now)) {
		p->lastminute_sent = true;
		send_initiation(d, p, false, now);
	}
	if (!plen)
		return; /* a keepalive */
	wgt_data_received(&p->timers, &d->params, now);
	fam = ip_src_dst(plain, plen, &src, &dst, &iplen);
	/* Cryptokey routing: the inner source must be one of the peer's, by
	 * its allowed IPs or, while a path changes, its accept-only ones. */
	if (!fam || (wga_lookup(&d->aips, fam, src) != p && !peer_accepts(p, fam, src)))
		return;
	if (d->n_tun_out == RX_MAX_DGRAMS)
		return;
	d->tun_out[d->n_tun_out] = plain;
	d->tun_out_len[d->n_tun_out++] = iplen;
}

/* Opens the queued data messages over the pool, then hands them on in the
 * order they came. Runs before any other message of the batch, which could
 * free a session they were queued under. */
static void rx_data_finish(struct wge_dev *d, int64_t now)
{
	jobs_run(d, d->rx_jobs, d->n_rx_jobs);
	d->rx_posting = true;
	for (unsigned i = 0; i < d->n_rx_jobs; i++) {
		struct job *j = &d->rx_jobs[i];

		d->rx_post_at = i;
		if (j->kp && j->ret == 0)
			rx_data_opened(d, j, now);
	}
	d->rx_posting = false;
	d->n_rx_jobs = 0;
}

/* Receives a batch of datagrams (outside mu). */
static int rx_recv(struct wge_dev *d)
{
	for (unsigned i = 0; i < RX_MSGS; i++) {
		d->rx_iov[i].iov_base = d->rx_bufs + (size_t)i * RX_BUF;
		d->rx_iov[i].iov_len = RX_BUF;
		d->rx_msgs[i].msg_hdr.msg_iov = &d->rx_iov[i];
		d->rx_msgs[i].msg_hdr.msg_iovlen = 1;
		d->rx_msgs[i].msg_hdr.msg_name = &d->rx_addrs[i];
		d->rx_msgs[i].msg_hdr.msg_namelen = sizeof(d->rx_addrs[i]);
		d->rx_msgs[i].msg_hdr.msg_control = d->rx_ctrl[i].buf;
		d->rx_msgs[i].msg_hdr.msg_controllen = sizeof(d->rx_ctrl[i].buf);
	}
	return recvmmsg(d->udp_fd, d->rx_msgs, RX_MSGS, MSG_DONTWAIT, NULL);
}

static void rx_one(struct wge_dev *d, uint8_t *buf, size_t len, struct sockaddr_storage *from,
		   int64_t now);

/* Handles n received messages (under mu); plaintext for the TUN device is
 * queued in tun_out. */
static void rx_process(struct wge_dev *d, int n)
{
	int64_t now = mono_ns();

	d->n_tun_out = 0;
	for (int i = 0; i < n; i++) {
		struct msghdr *h = &d->rx_msgs[i].msg_hdr;
		size_t total = d->rx_msgs[i].msg_len, seg = total;
		struct sockaddr_storage *from = &d->rx_addrs[i];

		if (h->msg_flags & MSG_TRUNC)
			continue;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
			int v;

			if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
			    c->cmsg_len >= CMSG_LEN(sizeof(v))) {
				memcpy(&v, CMSG_DATA(c), sizeof(v));
				if (v > 0)
					seg = (size_t)v;
			}
		}
		sa_normalize(from);
		for (size_t off = 0; off < total; off += seg)
			rx_one(d, d->rx_bufs + (size_t)i * RX_BUF + off,
			       total - off < seg ? total - off : seg, from, now);
	}
	rx_data_finish(d, now);
}

/* One datagram (a GRO message holds several). */
static void rx_one(struct wge_dev *d, uint8_t *buf, size_t len, struct sockaddr_storage *from,
		   int64_t now)
{
	int type = wgm_type(buf, len);

	if (type == WGM_DATA) {
		rx_data(d, buf, len, from, now);
		return;
	}
	rx_data_finish(d, now);
	switch (type) {
	case WGM_INITIATION:
		rx_initiation(d, buf, len, from, now);
		break;
	case WGM_RESPONSE:
		rx_response(d, buf, len, from, now);
		break;
	case WGM_COOKIE:
		rx_cookie(d, buf, now);
		break;
	default:
		break;
	}
}

/* Reads up to a batch of packets from TUN (outside mu). */
static int tun_read(struct wge_dev *d)
{
	int i;

	for (i = 0; i < (int)d->tun_batch; i++) {
		ssize_t n = read(d->tun_fd, d->tun_bufs + (size_t)i * d->tun_slot, d->tun_slot);

		if (n <= 0)
			break;
		d->tun_lens[i] = (size_t)n;
	}
	return i;
}

/* One IP packet from TUN, to the peer its destination routes to. */
static void tun_one(struct wge_dev *d, const uint8_t *pkt, size_t len, int64_t now)
{
	const uint8_t *src, *dst;
	size_t iplen;
	struct wge_peer *p;
	int fam = ip_src_dst(pkt, len, &src, &dst, &iplen);

	if (!fam)
		return;
	p = wga_lookup(&d->aips, fam, dst);
	if (!p)
		return;
	if (!send_data(d, p, pkt, len, now)) {
		stage(d, p, pkt, len);
		send_initiation(d, p, false, now);
	}
}

/* Encrypts and queues n packets read from TUN (under mu). With offloads a
 * read may be a TSO super-packet: it is cut into segments here, each
 * encrypted on its own, as the kernel would have sent them. */
static void tun_process(struct wge_dev *d, int n)
{
	int64_t now = mono_ns();

	for (int i = 0; i < n; i++) {
		const uint8_t *buf = d->tun_bufs + (size_t)i * d->tun_slot;
		struct wgo_iter it;
		long len;

		if (!d->vnet) {
			tun_one(d, buf, d->tun_lens[i], now);
			continue;
		}
		if (wgo_begin(&it, buf, d->tun_lens[i]) < 0)
			continue;
		/* A whole packet with its checksum done goes as it is. */
		if (!it.tso && !(it.h.flags & WGO_F_NEEDS_CSUM)) {
			tun_one(d, it.pkt, it.len, now);
			continue;
		}
		while ((len = wgo_next(&it, d->seg_buf, BUF_SIZE - 64)) > 0)
			tun_one(d, d->seg_buf, (size_t)len, now);
	}
}

/* ---- timers ---- */

static void run_timers(struct wge_dev *d, int64_t now)
{
	for (struct wge_peer *p = d->peers; p; p = p->next) {
		unsigned f = wgt_due(&p->timers, &d->params, now);

		if (!f)
			continue;
		if (f & WGT_RETRANSMIT_HANDSHAKE)
			send_initiation(d, p, true, now);
		if (f & WGT_GIVE_UP)
			staged_drop(d, p);
		if (f & WGT_NEW_HANDSHAKE)
			send_initiation(d, p, false, now);
		if (f & (WGT_SEND_KEEPALIVE | WGT_PERSISTENT_KEEPALIVE))
			send_keepalive(d, p, now);
		if (f & WGT_ZERO_KEYS)
			peer_zero_keys(d, p);
	}
}

/* ---- configuration ---- */

static struct wge_peer *peer_find(struct wge_dev *d, const uint8_t key[32])
{
	for (struct wge_peer *p = d->peers; p; p = p->next)
		if (!memcmp(p->pub, key, 32))
			return p;
	return NULL;
}

static void peer_free(struct wge_dev *d, struct wge_peer *p)
{
	peer_zero_keys(d, p);
	staged_drop(d, p);
	wga_remove_value(&d->aips, p);
	free(p->accept);
	wgn_handshake_clear(&p->hs);
	wgc_maker_clear(&p->cookie);
	wgp_wipe(p, sizeof(*p));
	free(p);
}

static void peer_remove(struct wge_dev *d, struct wge_peer *p)
{
	for (struct wge_peer **pp = &d->peers; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			d->n_peers--;
			break;
		}
	}
	peer_free(d, p);
}

static int bind_udp(struct wge_dev *d, uint16_t port)
{
	int fd, fam = AF_INET6, zero = 0, ret;
	struct sockaddr_storage ss = {0};
	socklen_t len;

	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		fam = AF_INET;
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -errno;
	}
	if (fam == AF_INET6) {
		struct sockaddr_in6 *s6 = (void *)&ss;

		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (void *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		len = sizeof(*s4);
	}
	if (d->fwmark && setsockopt(fd, SOL_SOCKET, SO_MARK, &d->fwmark, sizeof(d->fwmark)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	/* GRO where the kernel has it; without, datagrams come one by one.
	 * GSO is probed by setting a segment size of 0 (none by default):
	 * a kernel without it refuses the option, and every send is plain. */
	int one = 1, zero_seg = 0, buf = 4 * 1024 * 1024;
	/* A path that hands us bursts (a libp2p link delivers 64 KiB frames
	 * at once; measured: 1617 receive-buffer drops at the default 208 KiB
	 * in 5 s of bench/libp2p-wg) loses datagrams at the default buffer,
	 * which the tunnel's TCP reads as congestion. wireguard-go asks for
	 * 7 MiB. The FORCE variants pass net.core.rmem_max (root only). */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	d->udp_gro = setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
	d->udp_gso = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &zero_seg, sizeof(zero_seg)) == 0;

	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (d->udp_fd >= 0) {
		if (d->n_retired == sizeof(d->retired_fds) / sizeof(d->retired_fds[0])) {
			/* Eight rebinds ago: long out of any send. */
			close(d->retired_fds[0]);
			memmove(d->retired_fds, d->retired_fds + 1,
				sizeof(d->retired_fds) - sizeof(d->retired_fds[0]));
			d->n_retired--;
		}
		d->retired_fds[d->n_retired++] = d->udp_fd;
	}
	d->udp_fd = fd;
	d->udp_family = fam;
	d->bound_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

static void aip_bytes(const struct wm_prefix *pfx, int *fam, const uint8_t **addr)
{
	*fam = pfx->family == AF_INET ? 4 : 6;
	*addr = pfx->addr;
}

static int apply_peer(struct wge_dev *d, const struct wm_wg_peer *u, const struct wgu_psk *psk,
		      int64_t now)
{
	struct wge_peer *p = peer_find(d, u->public_key);
	int ret;

	if (u->flags & WM_WGPEER_REMOVE_ME) {
		if (p)
			peer_remove(d, p);
		return 0;
	}
	if (!p) {
		if (u->flags & WM_WGPEER_UPDATE_ONLY)
			return 0;
		/* Our own key as a peer is ignored, as in wireguard-go. */
		if (d->s.has_key && !memcmp(u->public_key, d->s.pub, 32))
			return 0;
		if (d->n_peers >= d->max_peers)
			return -ENOSPC;
		p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		memcpy(p->pub, u->public_key, 32);
		ret = wgn_handshake_init(&p->hs, &d->s, p->pub, NULL);
		if (ret < 0) {
			free(p);
			return ret;
		}
		p->next = d->peers;
		d->peers = p;
		d->n_peers++;
	}
	if (psk->set && memcmp(p->psk, psk->key, 32)) {
		memcpy(p->psk, psk->key, 32);
		memcpy(p->hs.psk, psk->key, 32);
	}
	if (u->flags & WM_WGPEER_HAS_ENDPOINT) {
		endpoint_to_sa(&u->endpoint, &p->ep);
		p->has_ep = true;
	}
	if (u->flags & WM_WGPEER_HAS_KEEPALIVE) {
		wgt_set_persistent(&p->timers, u->keepalive_interval, now);
	}
	if (u->flags & WM_WGPEER_REPLACE_ALLOWEDIPS) {
		wga_remove_value(&d->aips, p);
		p->n_accept = 0;
		p->promote = (u->flags & WM_WGPEER_PROMOTE) != 0;
	}
	if (u->n_accept_ips) {
		struct wm_prefix *m =
			realloc(p->accept, (p->n_accept + u->n_accept_ips) * sizeof(*m));

		if (!m)
			return -ENOMEM;
		p->accept = m;
		for (size_t i = 0; i < u->n_accept_ips; i++)
			m[p->n_accept++] = wm_prefix_network(&u->accept_ips[i]);
	}
	for (size_t i = 0; i < u->n_allowed_ips; i++) {
		int fam;
		const uint8_t *addr;

		aip_bytes(&u->allowed_ips[i], &fam, &addr);
		ret = wga_insert(&d->aips, fam, addr, u->allowed_ips[i].len, p);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int apply_set(struct wge_dev *d, const struct wm_wg_device *u, const struct wgu_psk *psks)
{
	int64_t now = mono_ns();
	int ret;

	if (u->flags & WM_WGDEV_HAS_FWMARK && u->fwmark != d->fwmark) {
		d->fwmark = u->fwmark;
		if (d->udp_fd >= 0 &&
		    setsockopt(d->udp_fd, SOL_SOCKET, SO_MARK, &d->fwmark, sizeof(d->fwmark)) < 0)
			return -errno;
	}
	if (u->flags & WM_WGDEV_HAS_LISTEN_PORT && u->listen_port != d->bound_port) {
		ret = bind_udp(d, u->listen_port);
		if (ret < 0)
			return ret;
		d->listen_port = u->listen_port;
	}
	if (u->flags & WM_WGDEV_HAS_PRIVATE_KEY) {
		static const uint8_t zero[32];
		struct wgn_static s = {0};

		if (memcmp(u->private_key, zero, 32)) {
			ret = wgn_static_set(&s, u->private_key);
			if (ret < 0)
				return ret;
		}
		if (!wgp_equal(s.priv, d->s.priv, 32) || s.has_key != d->s.has_key) {
			d->s = s;
			/* New identity: every session and handshake is void; a peer
			 * with our own public key is dropped (wireguard-go). */
			for (struct wge_peer *p = d->peers, *nx; p; p = nx) {
				nx = p->next;
				if (d->s.has_key && !memcmp(p->pub, d->s.pub, 32)) {
					peer_remove(d, p);
					continue;
				}
				peer_zero_keys(d, p);
				ret = wgn_handshake_init(&p->hs, &d->s, p->pub, p->psk);
				if (ret < 0)
					return ret;
			}
		}
		wgn_static_clear(&s);
	}
	if (u->flags & WM_WGDEV_REPLACE_PEERS) {
		while (d->peers)
			peer_remove(d, d->peers);
	}
	for (size_t i = 0; i < u->n_peers; i++) {
		ret = apply_peer(d, &u->peers[i], &psks[i], now);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ---- UAPI ---- */

struct get_ctx {
	struct wm_strbuf *b;
};

static void get_aip_cb(void *ctx, int family, const uint8_t *addr, unsigned cidr, void *value)
{
	struct get_ctx *g = ctx;
	struct wm_prefix pfx = {.family = family == 4 ? AF_INET : AF_INET6, .len = (uint8_t)cidr};
	char buf[64];

	(void)value;
	memcpy(pfx.addr, addr, family == 4 ? 4 : 16);
	if (wm_prefix_format(&pfx, buf, sizeof(buf)) == 0)
		wm_strbuf_printf(g->b, "allowed_ip=%s\n", buf);
}

static void hex(char out[65], const uint8_t k[32])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		out[2 * i] = digits[k[i] >> 4];
		out[2 * i + 1] = digits[k[i] & 15];
	}
	out[64] = '\0';
}

static void uapi_get(struct wge_dev *d, struct wm_strbuf *b)
{
	char h[65], ep[80];
	static const uint8_t zero[32];

	if (d->s.has_key) {
		hex(h, d->s.priv);
		wm_strbuf_printf(b, "private_key=%s\n", h);
		wgp_wipe(h, sizeof(h));
	}
	wm_strbuf_printf(b, "listen_port=%u\n", d->bound_port);
	if (d->fwmark)
		wm_strbuf_printf(b, "fwmark=%u\n", d->fwmark);
	for (struct wge_peer *p = d->peers; p; p = p->next) {
		struct get_ctx g = {b};

		hex(h, p->pub);
		wm_strbuf_printf(b, "public_key=%s\n", h);
		if (memcmp(p->psk, zero, 32)) {
			hex(h, p->psk);
			wm_strbuf_printf(b, "preshared_key=%s\n", h);
			wgp_wipe(h, sizeof(h));
		}
		wm_strbuf_puts(b, "protocol_version=1\n");
		if (p->has_ep) {
			struct wm_endpoint e = {0};

			if (p->ep.ss_family == AF_INET) {
				const struct sockaddr_in *s = (const void *)&p->ep;
				e.ip.family = AF_INET;
				e.ip.len = 32;
				memcpy(e.ip.addr, &s->sin_addr, 4);
				e.port = ntohs(s->sin_port);
			} else {
				const struct sockaddr_in6 *s = (const void *)&p->ep;
				e.ip.family = AF_INET6;
				e.ip.len = 128;
				memcpy(e.ip.addr, &s->sin6_addr, 16);
				e.port = ntohs(s->sin6_port);
			}
			if (wm_endpoint_format(&e, ep, sizeof(ep)) == 0)
				wm_strbuf_printf(b, "endpoint=%s\n", ep);
		}
		wm_strbuf_printf(b, "last_handshake_time_sec=%lld\nlast_handshake_time_nsec=%lld\n",
				 (long long)p->last_handshake_sec,
				 (long long)p->last_handshake_nsec);
		wm_strbuf_printf(b, "tx_bytes=%llu\nrx_bytes=%llu\n",
				 (unsigned long long)p->tx_bytes, (unsigned long long)p->rx_bytes);
		wm_strbuf_printf(b, "persistent_keepalive_interval=%u\n",
				 p->timers.persistent_interval);
		wga_walk(&d->aips, p, get_aip_cb, &g);
		if (p->promote)
			wm_strbuf_puts(b, "promote_on_handshake=true\n");
		for (size_t i = 0; i < p->n_accept; i++) {
			char buf[64];

			if (wm_prefix_format(&p->accept[i], buf, sizeof(buf)) == 0)
				wm_strbuf_printf(b, "accept_ip=%s\n", buf);
		}
	}
	wm_strbuf_puts(b, "errno=0\n\n");
}

/* Reads one request (up to its blank line). The thread that serves this
 * socket also serves the UDP socket and the timers, so the whole request has
 * to arrive within UAPI_IO_TIMEOUT_MS, and a further request on the same
 * connection has to start within UAPI_IDLE_MS: otherwise a client that
 * trickles bytes, or idles with its connection open, holds the data path. */
static int uapi_read(int fd, struct wm_strbuf *req, bool first)
{
	char buf[4096];
	int64_t start = mono_ns();

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = (start - mono_ns()) / 1000000 + UAPI_IO_TIMEOUT_MS;
		ssize_t n;
		const char *s = req->s;

		if (s && req->len >= 2) {
			/* "get=1\n\n" or a set body ending in a blank line. */
			if (req->len >= 2 && s[req->len - 1] == '\n' && s[req->len - 2] == '\n')
				return 0;
		}
		if (req->len > UAPI_MAX_REQUEST)
			return -E2BIG;
		if (!first && !req->len && left > UAPI_IDLE_MS)
			left = UAPI_IDLE_MS;
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -ETIMEDOUT;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		wm_strbuf_add(req, buf, (size_t)n);
		wgp_wipe(buf, (size_t)n);
	}
}

static void uapi_serve(struct wge_dev *d)
{
	int fd = accept4(d->uapi_fd, NULL, NULL, SOCK_CLOEXEC);
	struct wm_strbuf req, resp;
	int ret;

	if (fd < 0)
		return;
	wm_strbuf_init(&req);
	wm_strbuf_init(&resp);
	/* One connection may carry several requests, as with wireguard-go. */
	for (bool first = true; (ret = uapi_read(fd, &req, first)) == 0; first = false) {
		if (req.len >= 7 && !memcmp(req.s, "get=1\n\n", 7) && req.len == 7) {
			lock(d, &d->txq[0]);
			uapi_get(d, &resp);
			unlock_flush(d);
		} else if (req.len >= 6 && !memcmp(req.s, "set=1\n", 6)) {
			struct wm_wg_device *u = NULL;
			struct wgu_psk *psks = NULL;
			char err[128];

			ret = wgu_parse_set(req.s + 6, req.len - 6, &u, &psks, err, sizeof(err));
			if (ret == 0) {
				lock(d, &d->txq[0]);
				ret = apply_set(d, u, psks);
				unlock_flush(d);
			}
			if (u) {
				wgu_psks_free(psks, u->n_peers);
				wm_wg_device_free(u);
			}
			wm_strbuf_printf(&resp, "errno=%d\n\n", ret < 0 ? -ret : 0);
		} else {
			wm_strbuf_puts(&resp, "errno=22\n\n");
		}
		if (wm_uapi_write_all(fd, resp.s, resp.len) < 0)
			break;
		wgp_wipe(resp.s, resp.len);
		wgp_wipe(req.s, req.len);
		resp.len = 0;
		req.len = 0;
	}
	if (resp.s)
		wgp_wipe(resp.s, resp.len);
	if (req.s)
		wgp_wipe(req.s, req.len);
	wm_strbuf_free(&req);
	wm_strbuf_free(&resp);
	close(fd);
}

/* ---- the threads ---- */

/* Writes one decrypted packet to TUN as it is. With IFF_VNET_HDR it needs a
 * virtio header in front: written over the data message's own header, which
 * lies just before the plaintext and is no longer needed. */
static void tun_write_one(struct wge_dev *d, const uint8_t *plain, size_t len)
{
	uint8_t *pkt = (uint8_t *)plain;

	if (d->vnet) {
		pkt -= WGO_VNET_HDR_LEN;
		len += WGO_VNET_HDR_LEN;
		wgo_hdr_put_none(pkt);
	}
	(void)!write(d->tun_fd, pkt, len);
}

/* Writes the batch's decrypted packets to TUN (rx thread, outside mu). With
 * offloads, consecutive segments of one TCP flow go as one super-packet
 * (offload.c's GRO): one write and one pass through the stack instead of
 * one per segment. Order is kept: a packet that cannot join is written
 * after what was merged before it. */
static void tun_write_batch(struct wge_dev *d)
{
	size_t n;

	for (unsigned i = 0; i < d->n_tun_out; i++) {
		const uint8_t *pkt = d->tun_out[i];
		size_t len = d->tun_out_len[i];

		if (!d->tun_tso) {
			tun_write_one(d, pkt, len);
			continue;
		}
		if (wgo_gro_add(&d->gro, pkt, len))
			continue;
		if ((n = wgo_gro_finish(&d->gro)))
			(void)!write(d->tun_fd, d->gro.buf, n);
		if (!wgo_gro_add(&d->gro, pkt, len))
			tun_write_one(d, pkt, len);
	}
	if ((n = wgo_gro_finish(&d->gro)))
		(void)!write(d->tun_fd, d->gro.buf, n);
}

static void *device_thread(void *arg)
{
	struct wge_dev *d = arg;

	for (;;) {
		struct pollfd pfd[3] = {
			{.fd = d->wake_fd, .events = POLLIN},
			{.fd = d->udp_fd, .events = POLLIN},
			{.fd = d->uapi_fd, .events = POLLIN},
		};
		int64_t now = mono_ns();
		int timeout = (int)((d->next_tick - now) / 1000000);

		if (timeout < 0)
			timeout = 0;
		if (poll(pfd, 3, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		if (pfd[1].revents & POLLIN) {
			int n = rx_recv(d);

			if (n > 0) {
				lock(d, &d->txq[0]);
				rx_process(d, n);
				unlock_flush(d);
				/* tun_out points into rx_bufs, untouched until the
				 * next rx_recv of this thread. */
				tun_write_batch(d);
			}
		}
		if (pfd[2].revents & POLLIN)
			uapi_serve(d);
		now = mono_ns();
		if (now >= d->next_tick) {
			lock(d, &d->txq[0]);
			run_timers(d, now);
			unlock_flush(d);
			d->next_tick = now + TICK_NS;
		}
	}
	return NULL;
}

static void *tun_thread(void *arg)
{
	struct wge_dev *d = arg;

	for (;;) {
		struct pollfd pfd[2] = {
			{.fd = d->wake_fd, .events = POLLIN},
			{.fd = d->tun_fd, .events = POLLIN},
		};
		int n;

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		if (!(pfd[1].revents & POLLIN))
			continue;
		n = tun_read(d);
		if (n > 0) {
			lock(d, &d->txq[1]);
			tun_process(d, n);
			unlock_flush(d);
		}
	}
	return NULL;
}

/* Opens the TUN device, with offloads when the kernel has them and the
 * caller did not turn them off: IFF_VNET_HDR, then TSO for IPv4 and IPv6 and
 * partial checksums. The virtio header is in the host's order for a legacy
 * TUN device and offload.c reads little-endian, so only there. */
static int open_tun(struct wge_dev *d, const char *ifname, uint32_t mtu, bool offload, int *out)
{
	struct ifreq ifr = {0};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK), s, ret;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	d->vnet = d->tun_tso = false;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
	if (offload && ioctl(fd, TUNSETIFF, &ifr) == 0) {
		d->vnet = true;
		d->tun_tso = ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0;
	}
#else
	(void)offload;
#endif
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	if (!d->vnet && ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	d->tun_slot = d->vnet ? TUN_BIG_SLOT : BUF_SIZE;
	d->tun_batch = d->vnet ? TUN_BIG_BATCH : BATCH;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s >= 0) {
		ifr.ifr_mtu = (int)mtu;
		(void)ioctl(s, SIOCSIFMTU, &ifr);
		close(s);
	}
	*out = fd;
	return 0;
}

static int open_uapi(struct wge_dev *d, const char *dir, char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, ret;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		ret = -errno;
		wm_seterr(err, errlen, "creating %s: %s", dir, strerror(-ret));
		return ret;
	}
	ret = wm_uapi_sock_path(dir, d->ifname, d->sock_path, sizeof(d->sock_path));
	if (ret < 0) {
		wm_seterr(err, errlen, "UAPI socket path under %s is too long", dir);
		return ret;
	}
	fd = wm_uapi_connect(dir, d->ifname);
	if (fd >= 0) {
		close(fd);
		d->sock_path[0] = '\0'; /* not ours: never unlink it */
		wm_seterr(err, errlen, "another WireGuard daemon serves %s/%s.sock", dir,
			  d->ifname);
		return -EEXIST;
	}
	(void)unlink(d->sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	strcpy(sun.sun_path, d->sock_path);
	/* The socket hands out private keys: root only. */
	mode_t old = umask(0077);
	ret = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (ret < 0 || listen(fd, 16) < 0) {
		ret = -errno;
		close(fd);
		d->sock_path[0] = '\0';
		wm_seterr(err, errlen, "listening on the UAPI socket: %s", strerror(-ret));
		return ret;
	}
	d->uapi_fd = fd;
	return 0;
}

static int env_limit(const char *name, uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long u;

	if (!v || !*v)
		return 0;
	errno = 0;
	u = strtoull(v, &end, 10);
	if (errno || *end || !u || u > max || v[0] == '-') {
		wm_seterr(err, errlen, "%s=\"%s\" is not a positive integer up to %llu", name, v,
			  (unsigned long long)max);
		return -EINVAL;
	}
	*out = u;
	return 1;
}

/* The device itself, the packet pools and the rate-limit table come from
 * wm_pages_new: their pages stay unbacked until traffic first uses them, so an
 * idle device costs no RSS for them (malloc'd, each cost its header page, the
 * 160 KiB table its clearing, and the 128 KiB device, mostly the data path's
 * batch arrays, was all resident once calloc cleared it). Unmapping returns
 * the pages to the kernel, which clears them before any reuse: no wipe needed
 * for the plaintext they held. */
int wge_open(const struct wge_config *cfg, struct wge_dev **out, char *err, size_t errlen)
{
	struct wge_dev *d;
	uint64_t v;
	int ret;

	*out = NULL;
	if (!cfg || !cfg->ifname || !*cfg->ifname || strlen(cfg->ifname) >= IFNAMSIZ)
		return -EINVAL;
	d = wm_pages_new(sizeof(*d)); /* zeroed by the kernel */
	if (!d)
		return -ENOMEM;
	d->tun_fd = d->udp_fd = d->uapi_fd = d->wake_fd = -1;
	snprintf(d->ifname, sizeof(d->ifname), "%s", cfg->ifname);
	d->max_peers = cfg->max_peers ? cfg->max_peers : 65536;
	d->mtu = cfg->mtu ? cfg->mtu : 1420;
	if (d->mtu > BUF_SIZE - 64) {
		wm_seterr(err, errlen, "MTU %u is above the embedded backend's %u", d->mtu,
			  BUF_SIZE - 64);
		wm_pages_free(d, sizeof(*d));
		return -EINVAL;
	}
	if (cfg->workers < -1 || cfg->workers > MAX_WORKERS) {
		wm_seterr(err, errlen, "crypto workers %d: not -1 (none), 0 (auto) or 1 to %d",
			  cfg->workers, MAX_WORKERS);
		wm_pages_free(d, sizeof(*d));
		return -EINVAL;
	}
	wgt_params_default(&d->params);
	ret = env_limit("WEBMESH_WG_TEST_REKEY_AFTER_TIME", 100000, &v, err, errlen);
	if (ret > 0)
		d->params.rekey_after_time = (int64_t)v * WGT_NS;
	if (ret >= 0)
		ret = env_limit("WEBMESH_WG_TEST_REKEY_AFTER_MESSAGES", 1ULL << 60, &v, err,
				errlen);
	if (ret > 0)
		d->params.rekey_after_messages = v;
	if (ret < 0) {
		wm_pages_free(d, sizeof(*d));
		return ret;
	}
	d->rx_bufs = wm_pages_new((size_t)RX_MSGS * RX_BUF);
	d->tun_bufs = wm_pages_new(TUN_MEM);
	d->seg_buf = malloc(BUF_SIZE);
	d->gro.cap = WGO_VNET_HDR_LEN + 65536;
	d->gro.buf = malloc(d->gro.cap);
	d->txq[0].bufs = wm_pages_new((size_t)TXQ_LEN * BUF_SIZE);
	d->txq[1].bufs = wm_pages_new((size_t)TXQ_LEN * BUF_SIZE);
	d->staged_mem = wm_pages_new((size_t)STAGED_POOL * BUF_SIZE);
	d->ratelimit = wm_pages_new(sizeof(*d->ratelimit));
	if (!d->rx_bufs || !d->tun_bufs || !d->seg_buf || !d->gro.buf || !d->txq[0].bufs ||
	    !d->txq[1].bufs || !d->staged_mem || !d->ratelimit) {
		ret = -ENOMEM;
		goto fail;
	}
	if (pthread_mutex_init(&d->mu, NULL)) {
		ret = -ENOMEM;
		goto fail;
	}
	d->mu_init = true;
	uint64_t seed;
	(void)wgp_random(&seed, sizeof(seed));
	wgl_init(d->ratelimit, seed);
	d->tx = &d->txq[0];
	for (unsigned i = 0; i < STAGED_POOL; i++) {
		d->staged_nodes[i].buf = d->staged_mem + (size_t)i * BUF_SIZE;
		d->staged_nodes[i].next = d->staged_free;
		d->staged_free = &d->staged_nodes[i];
	}
	for (unsigned q = 0; q < 2; q++) {
		for (unsigned i = 0; i < TXQ_LEN; i++) {
			d->txq[q].iov[i].iov_base = d->txq[q].bufs + (size_t)i * BUF_SIZE;
			d->txq[q].msgs[i].msg_hdr.msg_iov = &d->txq[q].iov[i];
			d->txq[q].msgs[i].msg_hdr.msg_iovlen = 1;
		}
	}
	ret = open_tun(d, d->ifname, d->mtu, !cfg->no_offload, &d->tun_fd);
	if (ret < 0) {
		wm_seterr(err, errlen, "creating TUN device %s: %s", d->ifname, strerror(-ret));
		goto fail;
	}
	ret = bind_udp(d, 0);
	if (ret < 0) {
		wm_seterr(err, errlen, "binding the UDP socket: %s", strerror(-ret));
		goto fail;
	}
	ret = open_uapi(d, cfg->uapi_dir && *cfg->uapi_dir ? cfg->uapi_dir : "/run/wireguard", err,
			errlen);
	if (ret < 0)
		goto fail;
	d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->wake_fd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = pool_start(d, cfg->workers);
	if (ret < 0) {
		wm_seterr(err, errlen, "starting %d crypto workers: %s", cfg->workers,
			  strerror(-ret));
		goto fail;
	}
	d->next_tick = mono_ns() + TICK_NS;
	ret = -pthread_create(&d->thread, NULL, device_thread, d);
	if (ret < 0) {
		wm_seterr(err, errlen, "starting the WireGuard thread: %s", strerror(-ret));
		goto fail;
	}
	d->thread_started = true;
	/* Named, so that top -H and perf tell the device's threads apart. */
	pthread_setname_np(d->thread, "wg-udp");
	ret = -pthread_create(&d->tun_thread, NULL, tun_thread, d);
	if (ret < 0) {
		wm_seterr(err, errlen, "starting the WireGuard thread: %s", strerror(-ret));
		goto fail;
	}
	d->tun_thread_started = true;
	pthread_setname_np(d->tun_thread, "wg-tun");
	*out = d;
	return 0;
fail:
	wge_close(d);
	return ret;
}

void wge_close(struct wge_dev *d)
{
	if (!d)
		return;
	if (d->thread_started) {
		uint64_t one = 1;

		/* Never read, the eventfd stays readable: both threads see it. */
		(void)!write(d->wake_fd, &one, sizeof(one));
		pthread_join(d->thread, NULL);
	}
	if (d->tun_thread_started)
		pthread_join(d->tun_thread, NULL);
	pool_stop(&d->pool);
	for (unsigned i = 0; i < d->n_retired; i++)
		close(d->retired_fds[i]);
	if (d->mu_init)
		pthread_mutex_destroy(&d->mu);
	while (d->peers)
		peer_remove(d, d->peers);
	wga_free(&d->aips);
	if (d->uapi_fd >= 0)
		close(d->uapi_fd);
	if (d->sock_path[0])
		(void)unlink(d->sock_path);
	if (d->udp_fd >= 0)
		close(d->udp_fd);
	if (d->tun_fd >= 0)
		close(d->tun_fd);
	if (d->wake_fd >= 0)
		close(d->wake_fd);
	wgn_static_clear(&d->s);
	wgc_checker_clear(&d->checker);
	wm_pages_free(d->staged_mem, (size_t)STAGED_POOL * BUF_SIZE);
	wm_pages_free(d->rx_bufs, (size_t)RX_MSGS * RX_BUF);
	wm_pages_free(d->tun_bufs, TUN_MEM);
	if (d->seg_buf)
		wgp_wipe(d->seg_buf, BUF_SIZE);
	free(d->seg_buf);
	if (d->gro.buf)
		wgp_wipe(d->gro.buf, d->gro.cap);
	free(d->gro.buf);
	wm_pages_free(d->ratelimit, sizeof(*d->ratelimit));
	for (unsigned q = 0; q < 2; q++)
		wm_pages_free(d->txq[q].bufs, (size_t)TXQ_LEN * BUF_SIZE);
	wm_pages_free(d, sizeof(*d));
}

void wge_describe(struct wge_dev *d, char *buf, size_t len)
{
	pthread_mutex_lock(&d->mu);
	snprintf(buf, len, "TUN offloads %s, UDP GSO %s, UDP GRO %s, crypto workers %u",
		 d->tun_tso ? "on (TSO4/6, checksums)"
		 : d->vnet  ? "off (the kernel refused TUNSETOFFLOAD)"
			    : "off",
		 d->udp_gso ? "on" : "off (not in this kernel)",
		 d->udp_gro ? "on" : "off (not in this kernel)", d->pool.n_threads);
	pthread_mutex_unlock(&d->mu);
}
