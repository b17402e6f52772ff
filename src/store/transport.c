/* Socket options on every Raft connection. libraft's TCP transport never reads
 * from the connections it opens, so it does not notice a peer that died: the
 * leader kept writing into a connection to a crashed voter until TCP gave up
 * (about 50 s of retransmissions), and the restarted voter could not get back
 * into the cluster until then. TCP_USER_TIMEOUT closes a connection whose
 * data stays unacknowledged that long, keepalive probes idle ones; libraft
 * then reconnects by itself. Installed by wrapping the transport's connect
 * and listen. */
#include "store/store_int.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/socket.h>

#define KEEPALIVE_S 2

/* libraft's client passes one and the same callback to every connect, and
 * the timeout is the daemon's: one of each per process is enough. */
static raft_uv_connect_cb connect_cb_of_raft;
static unsigned user_timeout_ms = 5000;

static struct wm_store *store_of(struct raft_uv_transport *t)
{
	return (struct wm_store *)((char *)t - offsetof(struct wm_store, transport));
}

static void tune(struct uv_stream_s *stream)
{
	uv_os_fd_t fd;
	if (!stream || uv_fileno((uv_handle_t *)stream, &fd) != 0)
		return;
	unsigned ms = user_timeout_ms;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
	(void)uv_tcp_keepalive((uv_tcp_t *)stream, 1, KEEPALIVE_S);
}

static void connected_cb(struct raft_uv_connect *req, struct uv_stream_s *stream, int status)
{
	if (status == 0)
		tune(stream);
	connect_cb_of_raft(req, stream, status);
}

static int wrapped_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
			   const char *address, raft_uv_connect_cb cb)
{
	struct wm_store *s = store_of(t);
	connect_cb_of_raft = cb;
	return s->tcp_connect(t, req, id, address, connected_cb);
}

static void accepted_cb(struct raft_uv_transport *t, raft_id id, const char *address,
			struct uv_stream_s *stream)
{
	tune(stream);
	store_of(t)->raft_accept_cb(t, id, address, stream);
}

static int wrapped_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	struct wm_store *s = store_of(t);
	s->raft_accept_cb = cb;
	return s->tcp_listen(t, accepted_cb);
}

void wm_store_transport_tune(struct wm_store *s, unsigned timeout_ms)
{
	if (timeout_ms)
		user_timeout_ms = timeout_ms;
	s->tcp_connect = s->transport.connect;
	s->tcp_listen = s->transport.listen;
	s->transport.connect = wrapped_connect;
	s->transport.listen = wrapped_listen;
}
