/* The loopback relay between WireGuard and one peer's ICE path. */
#include "nat/relay.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Big enough for WireGuard at the largest MTU we accept (9000) plus its
 * 32 bytes of overhead; a batch per wakeup keeps the syscalls per packet low. */
#define MAX_DGRAM 9216
#define BATCH 8
#define BATCHES_PER_WAKEUP 4

struct wm_relay {
	int fd;
	uint16_t port;
	struct sockaddr_in wg; /* 127.0.0.1:wg_port */
	GSource *source;
	wm_relay_send_cb send_cb;
	void *send_data;
	_Atomic uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes, dropped;
	_Atomic int64_t last_rx_us;
	uint8_t (*bufs)[MAX_DGRAM];
};

int wm_relay_new(uint16_t wg_port, struct wm_relay **out)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	struct wm_relay *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return -ENOMEM;
	r->bufs = malloc(sizeof(*r->bufs) * BATCH);
	if (!r->bufs) {
		free(r);
		return -ENOMEM;
	}
	r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->fd < 0 || bind(r->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(r->fd, (struct sockaddr *)&sin, &sl) < 0) {
		err = -errno;
		if (r->fd >= 0)
			close(r->fd);
		free(r->bufs);
		free(r);
		return err;
	}
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

static gboolean readable_cb(gint fd, GIOCondition cond, gpointer data)
{
	struct wm_relay *r = data;
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in from[BATCH];

	(void)cond;
	for (int round = 0; round < BATCHES_PER_WAKEUP; round++) {
		memset(msgs, 0, sizeof(msgs));
		for (int i = 0; i < BATCH; i++) {
			iov[i].iov_base = r->bufs[i];
			iov[i].iov_len = MAX_DGRAM;
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &from[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			size_t len = msgs[i].msg_len;
			const struct sockaddr_in *f = &from[i];

			if ((msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ||
			    msgs[i].msg_hdr.msg_namelen != sizeof(*f) || f->sin_family != AF_INET ||
			    f->sin_port != r->wg.sin_port ||
			    f->sin_addr.s_addr != r->wg.sin_addr.s_addr || !r->send_cb ||
			    r->send_cb(r->send_data, r->bufs[i], len) < 0) {
				atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
				continue;
			}
			atomic_fetch_add_explicit(&r->tx_packets, 1, memory_order_relaxed);
			atomic_fetch_add_explicit(&r->tx_bytes, len, memory_order_relaxed);
		}
		if (n < BATCH)
			break;
	}
	return G_SOURCE_CONTINUE;
}

int wm_relay_attach(struct wm_relay *r, GMainContext *ctx)
{
	if (r->source)
		return -EALREADY;
	r->source = g_unix_fd_source_new(r->fd, G_IO_IN);
	if (!r->source)
		return -ENOMEM;
	g_source_set_callback(r->source, G_SOURCE_FUNC(readable_cb), r, NULL);
	g_source_attach(r->source, ctx);
	return 0;
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
		atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
		return n < 0 ? -errno : -EMSGSIZE;
	}
	atomic_fetch_add_explicit(&r->rx_packets, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->rx_bytes, len, memory_order_relaxed);
	atomic_store_explicit(&r->last_rx_us, g_get_monotonic_time(), memory_order_relaxed);
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
}

void wm_relay_free(struct wm_relay *r)
{
	if (!r)
		return;
	if (r->source) {
		g_source_destroy(r->source);
		g_source_unref(r->source);
	}
	close(r->fd);
	free(r->bufs);
	free(r);
}
