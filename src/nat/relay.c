/* The loopback relay between WireGuard and one peer's ICE path. Both ways go
 * in batches: recvmmsg from WireGuard and one call of the send callback per
 * batch; datagrams from the path are queued and leave with one sendmmsg once
 * the path's burst is read (a high-priority idle source) or the queue is full.
 * Every syscall saved is CPU the tunnel gets back. */
#include "nat/relay.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include "nat/relay_int.h"

#define BATCHES_PER_WAKEUP 4
#define SOCKET_BUFFER (4 * 1024 * 1024)

/* CLOCK_MONOTONIC in microseconds: what g_get_monotonic_time returns on
 * Linux, without GLib, so that the libp2p module (no GLib) shares this. */
static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The length of the run that starts pkts: datagrams of one size, a shorter
 * one may end it, 64 and 64 KiB at most (what one UDP GSO send takes). */
static unsigned run_length(const struct iovec *pkts, unsigned n)
{
	size_t seg = pkts[0].iov_len, total = seg;
	unsigned k = 1;

	if (seg == 0)
		return 1;
	while (k < n && k < 64 && pkts[k].iov_len <= seg && pkts[k].iov_len > 0 &&
	       total + pkts[k].iov_len <= 65000) {
		total += pkts[k].iov_len;
		if (pkts[k++].iov_len < seg)
			break;
	}
	return k;
}

/* Runs per system call: each run crosses the stack once, segmented by the
 * kernel (UDP GSO, Linux 4.18), and one sendmmsg takes several runs (a
 * decrypted Noise frame holds two or three: a burst's shorter last datagram
 * ends each). A sendmsg per run was a third of the receiving loop's calls. */
#define RUNS_PER_CALL 16

int wm_udp_send_batch(int fd, const struct sockaddr *to, socklen_t tolen, const struct iovec *pkts,
		      unsigned n, bool *gso)
{
	struct mmsghdr msgs[64];
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl[RUNS_PER_CALL];
	unsigned len[RUNS_PER_CALL];
	unsigned done = 0;

	while (*gso && done < n) {
		unsigned m = 0;

		memset(msgs, 0, sizeof(msgs[0]) * RUNS_PER_CALL);
		for (unsigned at = done; m < RUNS_PER_CALL && at < n; m++) {
			struct msghdr *mh = &msgs[m].msg_hdr;
			unsigned k = run_length(&pkts[at], n - at);

			mh->msg_name = (void *)to;
			mh->msg_namelen = tolen;
			mh->msg_iov = (struct iovec *)&pkts[at];
			mh->msg_iovlen = k;
			if (k > 1) {
				uint16_t seg = (uint16_t)pkts[at].iov_len;
				memset(&ctl[m], 0, sizeof(ctl[m]));
				mh->msg_control = ctl[m].buf;
				mh->msg_controllen = sizeof(ctl[m].buf);
				struct cmsghdr *cm = CMSG_FIRSTHDR(mh);
				cm->cmsg_level = SOL_UDP;
				cm->cmsg_type = UDP_SEGMENT;
				cm->cmsg_len = CMSG_LEN(sizeof(seg));
				memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
			}
			len[m] = k;
			at += k;
		}
		/* sendmmsg stops at the first run that fails: an error on the
		 * first is returned, one on a later run comes back next time */
		int sent = sendmmsg(fd, msgs, m, MSG_DONTWAIT);
		if (sent < 0) {
			int err = -errno;
			if (err == -EAGAIN || err == -ENOBUFS)
				return (int)done;
			if (len[0] > 1 && (err == -EINVAL || err == -EOPNOTSUPP || err == -EIO)) {
				*gso = false; /* no GSO here: per datagram from now on */
				break;
			}
			sent = 1; /* a datagram the network refused is lost, as on a wire */
		}
		for (int i = 0; i < sent; i++)
			done += len[i];
	}
	while (done < n) {
		unsigned m = n - done > 64 ? 64 : n - done;

		memset(msgs, 0, sizeof(msgs[0]) * m);
		for (unsigned i = 0; i < m; i++) {
			msgs[i].msg_hdr.msg_iov = (struct iovec *)&pkts[done + i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = (void *)to;
			msgs[i].msg_hdr.msg_namelen = tolen;
		}
		int r = sendmmsg(fd, msgs, m, MSG_DONTWAIT);
		if (r <= 0)
			break;
		done += (unsigned)r;
	}
	return (int)done;
}

void wm_relay_grow_buffers(int fd)
{
	int size = SOCKET_BUFFER;

	/* WireGuard sends in bursts faster than one thread can pass them on for
	 * a moment; a datagram dropped here is a TCP retransmission inside the
	 * tunnel. The FORCE variants pass net.core.[rw]mem_max (root only). */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

int wm_relay_new(uint16_t wg_port, struct wm_relay **out)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	struct wm_relay *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return -ENOMEM;
	r->queue = malloc(sizeof(*r->queue) * QUEUE);
	if (!r->queue) {
		free(r);
		return -ENOMEM;
	}
	r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->fd < 0 || bind(r->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(r->fd, (struct sockaddr *)&sin, &sl) < 0) {
		err = -errno;
		if (r->fd >= 0)
			close(r->fd);
		free(r->queue);
		free(r);
		return err;
	}
	wm_relay_grow_buffers(r->fd);
	int one = 1;
	/* WireGuard (ours, wireguard-go) sends runs of datagrams with UDP GSO:
	 * with GRO on, loopback hands such a run to this socket whole, one
	 * queue entry and one copy instead of one per datagram (Linux 5.0). */
	r->gro = setsockopt(r->fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
	r->gso = true;
	r->port = ntohs(sin.sin_port);
	r->wg.sin_family = AF_INET;
	r->wg.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->wg.sin_port = htons(wg_port);
	*out = r;
	return 0;
}

uint16_t wm_relay_port(const struct wm_relay *r)
{
	return r->port;
}

static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

int wm_relay_fd(const struct wm_relay *r)
{
	return r->fd;
}

/* The read buffers, made when first needed. */
static bool bufs_ready(struct wm_relay *r)
{
	if (r->bufs)
		return true;
	r->nbufs = r->gro ? GRO_BATCH : BATCH;
	r->buflen = r->gro ? GRO_BUF : MAX_DGRAM;
	r->bufs = malloc((size_t)r->nbufs * r->buflen);
	if (r->bufs && r->schedule_trim)
		r->schedule_trim(r);
	return r->bufs != NULL;
}

void wm_relay_trim(struct wm_relay *r)
{
	if (!r->read_recently) {
		free(r->bufs);
		r->bufs = NULL;
	}
	r->read_recently = false;
}

/* The segment size of a read with UDP_GRO (0: one datagram). */
static size_t gro_size(const struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR((struct msghdr *)mh, c)) {
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int v;
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			return v > 0 ? (size_t)v : 0;
		}
	}
	return 0;
}

/* A WireGuard data message with no payload (header 16, tag 16): the one
 * thing WireGuard sends that its peer never answers. */
#define WG_KEEPALIVE_LEN 32

/* Something came from the path: WireGuard heard its peer. */
static void heard(struct wm_relay *r)
{
	atomic_store_explicit(&r->last_rx_us, mono_us(), memory_order_relaxed);
	atomic_store_explicit(&r->unanswered_since_us, 0, memory_order_relaxed);
}

/* Hands n datagrams to the path; counts what went and what did not. */
static void pass(struct wm_relay *r, const struct iovec *pkts, unsigned n)
{
	uint64_t bytes = 0;
	bool asks = false;
	int sent = n && r->send_cb ? r->send_cb(r->send_data, pkts, n) : 0;

	if (sent < 0)
		sent = 0;
	if ((unsigned)sent > n)
		sent = (int)n;
	for (int i = 0; i < sent; i++) {
		bytes += pkts[i].iov_len;
		asks = asks || pkts[i].iov_len > WG_KEEPALIVE_LEN;
	}
	/* Only this thread writes it: no lost update between load and store. */
	if (asks && !atomic_load_explicit(&r->unanswered_since_us, memory_order_relaxed))
		atomic_store_explicit(&r->unanswered_since_us, mono_us(), memory_order_relaxed);
	count(&r->tx_packets, (uint64_t)sent);
	count(&r->tx_bytes, bytes);
	count(&r->dropped, (uint64_t)(n - (unsigned)sent));
}

void wm_relay_read(struct wm_relay *r)
{
	int fd = r->fd;
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH], pkts[GRO_BATCH * GRO_SEGS];
	struct sockaddr_in from[BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl[BATCH];

	if (!bufs_ready(r)) {
		/* No memory to read into: drain one, so that poll does not spin. */
		uint8_t b[1];
		if (recv(fd, b, sizeof(b), MSG_DONTWAIT | MSG_TRUNC) >= 0)
			count(&r->dropped, 1);
		return;
	}
	r->read_recently = true;
	for (int round = 0; round < BATCHES_PER_WAKEUP; round++) {
		unsigned n_pkts = 0;

		memset(msgs, 0, sizeof(msgs[0]) * r->nbufs);
		for (unsigned i = 0; i < r->nbufs; i++) {
			iov[i].iov_base = r->bufs + (size_t)i * r->buflen;
			iov[i].iov_len = r->buflen;
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &from[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
			if (r->gro) {
				msgs[i].msg_hdr.msg_control = ctl[i].buf;
				msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
			}
		}
		int n = recvmmsg(fd, msgs, r->nbufs, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			const struct sockaddr_in *f = &from[i];
			size_t len = msgs[i].msg_len;
			size_t seg = r->gro ? gro_size(&msgs[i].msg_hdr) : 0;
			size_t k = seg && len > seg ? (len + seg - 1) / seg : 1;

			/* Only WireGuard's own port may send into the path. */
			if ((msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ||
			    msgs[i].msg_hdr.msg_namelen != sizeof(*f) || f->sin_family != AF_INET ||
			    f->sin_port != r->wg.sin_port ||
			    f->sin_addr.s_addr != r->wg.sin_addr.s_addr || seg > MAX_DGRAM ||
			    (k == 1 && len > MAX_DGRAM)) {
				count(&r->dropped, k);
				continue;
			}
			/* A run: datagrams of seg bytes, the last one may be
			 * shorter; the path gets them in batches of what fits. */
			uint8_t *b = iov[i].iov_base;
			for (size_t j = 0; j < k; j++) {
				size_t off = j * seg, l = k == 1 ? len : len - off;
				if (k > 1 && l > seg)
					l = seg;
				if (n_pkts == sizeof(pkts) / sizeof(pkts[0])) {
					pass(r, pkts, n_pkts);
					n_pkts = 0;
				}
				pkts[n_pkts].iov_base = b + off;
				pkts[n_pkts].iov_len = l;
				n_pkts++;
			}
		}
		pass(r, pkts, n_pkts);
		if ((unsigned)n < r->nbufs)
			break;
	}
}

void wm_relay_set_send(struct wm_relay *r, wm_relay_send_cb cb, void *data)
{
	r->send_cb = cb;
	r->send_data = data;
}

int wm_relay_deliver(struct wm_relay *r, const uint8_t *buf, size_t len)
{
	ssize_t n = sendto(r->fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&r->wg, sizeof(r->wg));

	if (n < 0 || (size_t)n != len) {
		count(&r->dropped, 1);
		return n < 0 ? -errno : -EMSGSIZE;
	}
	count(&r->rx_packets, 1);
	count(&r->rx_bytes, len);
	heard(r);
	return 0;
}

/* Sends n datagrams to WireGuard and counts them; what does not fit in
 * WireGuard's buffer is lost, as on a wire. Returns how many left. */
static unsigned send_counted(struct wm_relay *r, const struct iovec *pkts, unsigned n)
{
	uint64_t bytes = 0;
	unsigned done = (unsigned)wm_udp_send_batch(r->fd, (struct sockaddr *)&r->wg, sizeof(r->wg),
						    pkts, n, &r->gso);

	for (unsigned i = 0; i < done; i++)
		bytes += pkts[i].iov_len;
	count(&r->rx_packets, done);
	count(&r->rx_bytes, bytes);
	count(&r->dropped, n - done);
	if (done)
		heard(r);
	return done;
}

/* The queued datagrams into iov (QUEUE entries); empties the queue. */
static unsigned take_queue(struct wm_relay *r, struct iovec *iov)
{
	unsigned n = r->queued;

	for (unsigned i = 0; i < n; i++) {
		iov[i].iov_base = r->queue[i];
		iov[i].iov_len = r->queue_len[i];
	}
	r->queued = 0;
	return n;
}

void wm_relay_flush(struct wm_relay *r)
{
	struct iovec iov[QUEUE];
	unsigned n = take_queue(r, iov);

	if (n)
		send_counted(r, iov, n);
}

/* Up to this many datagrams from the path leave in one call with what is
 * queued before them (a datagram a Noise frame's end cut, gathered). */
#define SEND_WITH_QUEUE 64

unsigned wm_relay_send(struct wm_relay *r, const struct iovec *pkts, unsigned n)
{
	if (r->queued && n && n <= SEND_WITH_QUEUE) {
		struct iovec all[QUEUE + SEND_WITH_QUEUE];
		unsigned q = take_queue(r, all);

		memcpy(all + q, pkts, sizeof(*pkts) * n);
		unsigned done = send_counted(r, all, q + n);
		return done > q ? done - q : 0;
	}
	wm_relay_flush(r);
	return n ? send_counted(r, pkts, n) : 0;
}

void wm_relay_hold(struct wm_relay *r)
{
	r->manual = true;
}

int wm_relay_queue(struct wm_relay *r, const uint8_t *buf, size_t len)
{
	if (len > QUEUE_DGRAM || (!r->schedule_flush && !r->manual)) {
		wm_relay_flush(r); /* keep the order */
		return wm_relay_deliver(r, buf, len);
	}
	memcpy(r->queue[r->queued], buf, len);
	r->queue_len[r->queued++] = len;
	if (r->queued == QUEUE)
		wm_relay_flush(r);
	else if (r->schedule_flush)
		r->schedule_flush(r);
	return 0;
}

void wm_relay_get_stats(const struct wm_relay *r, struct wm_relay_stats *out)
{
	out->tx_packets = atomic_load_explicit(&r->tx_packets, memory_order_relaxed);
	out->tx_bytes = atomic_load_explicit(&r->tx_bytes, memory_order_relaxed);
	out->rx_packets = atomic_load_explicit(&r->rx_packets, memory_order_relaxed);
	out->rx_bytes = atomic_load_explicit(&r->rx_bytes, memory_order_relaxed);
	out->dropped = atomic_load_explicit(&r->dropped, memory_order_relaxed);
	out->last_rx_us = atomic_load_explicit(&r->last_rx_us, memory_order_relaxed);
	out->unanswered_since_us =
		atomic_load_explicit(&r->unanswered_since_us, memory_order_relaxed);
}

void wm_relay_free(struct wm_relay *r)
{
	if (!r)
		return;
	if (r->detach)
		r->detach(r);
	close(r->fd);
	free(r->bufs);
	free(r->queue);
	free(r);
}
