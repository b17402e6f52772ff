/* Node.Ping: ICMP echo requests to a peer's mesh address, sent by the daemon
 * so that each answer is matched with the path the NAT layer has for the peer
 * at that moment (the same view `wmctl status` shows). */
#include "node/daemon.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/netcheck.h"
#include "services/convert.h"
#include "util/arena.h"

#define TICK_MS 10
#define COOKIE_LEN 8

struct ping_op {
	struct wm_daemon *d;
	wm_services_send_cb send;
	wm_services_reply_cb done;
	void *cd;
	wm_key key; /* the peer's */
	char id[WM_NODE_ID_MAX + 1];
	struct sockaddr_in to;
	int fd;
	bool raw; /* SOCK_RAW: replies carry the IP header, and every echo reply */
	uv_poll_t poll;
	bool poll_init;
	uv_timer_t timer;
	int handles;
	uint32_t count, interval_ms, timeout_ms;
	uint32_t sent;
	uint32_t emitted, emitted_received; /* pings on the stream, in order */
	uint64_t started_ms;
	uint8_t cookie[COOKIE_LEN];
	uint64_t *sent_ns;
	Webmesh__V1__PingReply *replies;
	struct wm_arena a;
	bool finished;
};

static uint16_t icmp_checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The path of the peer now, into reply r. */
static void note_path(struct ping_op *op, Webmesh__V1__PingReply *r)
{
	Webmesh__V1__PeerStatus ps = WEBMESH__V1__PEER_STATUS__INIT;
	struct wm_wg_device *dev = NULL;

	wm_node_nat_fill_peer_status(op->d->nat, op->key, &ps, &op->a);
	r->path = (Webmesh__V1__PeerPath)wm_peer_path_of(ps.path, ps.local_candidate,
							 ps.remote_candidate);
	r->local_candidate = ps.local_candidate ? ps.local_candidate : "";
	r->remote_candidate = ps.remote_candidate ? ps.remote_candidate : "";
	r->via = op->id;
	r->endpoint = "";
	struct wm_wg *wg = wm_netconf_wg(&op->d->netconf);
	if (wg && wm_wg_get(wg, &dev) == 0) {
		for (size_t i = 0; i < dev->n_peers; i++)
			if (wm_key_equal(dev->peers[i].public_key, op->key))
				r->endpoint = wm_pb_endpoint(&op->a, &dev->peers[i].endpoint);
		wm_wg_device_free(dev);
	}
}

static void closed_cb(uv_handle_t *h)
{
	struct ping_op *op = h->data;

	if (--op->handles > 0)
		return;
	if (op->fd >= 0)
		close(op->fd);
	wm_arena_free(&op->a);
	free(op->sent_ns);
	free(op->replies);
	free(op);
}

static void finish(struct ping_op *op, int err, const char *msg)
{
	if (op->finished)
		return;
	op->finished = true;
	op->done(op->cd, err, msg, NULL);
	uv_timer_stop(&op->timer);
	uv_close((uv_handle_t *)&op->timer, closed_cb);
	if (op->poll_init) {
		uv_poll_stop(&op->poll);
		uv_close((uv_handle_t *)&op->poll, closed_cb);
	}
}

/* Streams every ping that is settled (answered, or past its wait), in the
 * order sent: waits are equal, so a ping settles no later than the next. */
static void emit(struct ping_op *op)
{
	char addr[WM_PREFIX_STRLEN];
	struct wm_prefix p = {.family = AF_INET, .len = 32};
	uint64_t now = uv_hrtime();

	memcpy(p.addr, &op->to.sin_addr, 4);
	wm_prefix_format_addr(&p, addr, sizeof(addr));
	while (!op->finished && op->emitted < op->sent) {
		Webmesh__V1__PingReply *r = &op->replies[op->emitted];
		Webmesh__V1__PingResponse resp = WEBMESH__V1__PING_RESPONSE__INIT;

		if (!r->received && now < op->sent_ns[op->emitted] + op->timeout_ms * 1000000ull)
			return;
		op->emitted_received += r->received;
		resp.node_id = op->id;
		resp.address = addr;
		resp.replies = &r;
		resp.n_replies = 1;
		resp.sent = ++op->emitted;
		resp.received = op->emitted_received;
		int rc = op->a.failed ? -ENOMEM : op->send(op->cd, &resp.base);
		if (rc < 0)
			finish(op, rc, rc == -ECANCELED ? "the caller went away" : NULL);
	}
}

static void send_one(struct ping_op *op)
{
	uint8_t pkt[sizeof(struct icmphdr) + COOKIE_LEN];
	struct icmphdr *h = (struct icmphdr *)pkt;
	uint32_t seq = op->sent;

	memset(pkt, 0, sizeof(pkt));
	h->type = ICMP_ECHO;
	/* Ping sockets (SOCK_DGRAM) set the ID themselves; the cookie tells
	 * our answers from others' on a raw socket. */
	h->un.echo.id = htons((uint16_t)(op->cookie[0] << 8 | op->cookie[1]));
	h->un.echo.sequence = htons((uint16_t)seq);
	memcpy(pkt + sizeof(*h), op->cookie, COOKIE_LEN);
	h->checksum = htons(icmp_checksum(pkt, sizeof(pkt)));
	op->replies[seq].seq = seq;
	note_path(op, &op->replies[seq]);
	op->sent_ns[seq] = uv_hrtime();
	op->sent++;
	/* A failed send (no route yet) is a lost ping, as for ping(8). */
	(void)sendto(op->fd, pkt, sizeof(pkt), 0, (const struct sockaddr *)&op->to, sizeof(op->to));
}

static void poll_cb(uv_poll_t *p, int status, int events)
{
	struct ping_op *op = p->data;
	uint8_t buf[1500];
	struct sockaddr_in from;
	socklen_t flen;
	ssize_t n;

	(void)events;
	/* Stopping: the NAT layer may be gone; the next tick answers. */
	if (status < 0 || op->finished || op->d->phase == WM_PHASE_STOPPING)
		return;
	for (int k = 0; k < 64; k++) {
		flen = sizeof(from);
		n = recvfrom(op->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
		if (n < 0)
			return;
		const uint8_t *icmp = buf;
		size_t len = (size_t)n;
		if (op->raw) {
			size_t ihl = (size_t)(buf[0] & 0x0f) * 4;
			if (len < ihl)
				continue;
			icmp += ihl;
			len -= ihl;
		}
		if (len < sizeof(struct icmphdr) + COOKIE_LEN ||
		    from.sin_addr.s_addr != op->to.sin_addr.s_addr)
			continue;
		const struct icmphdr *h = (const struct icmphdr *)icmp;
		uint32_t seq = ntohs(h->un.echo.sequence);
		if (h->type != ICMP_ECHOREPLY || seq >= op->sent ||
		    memcmp(icmp + sizeof(*h), op->cookie, COOKIE_LEN) != 0 ||
		    op->replies[seq].received)
			continue;
		uint64_t rtt_us = (uv_hrtime() - op->sent_ns[seq]) / 1000;
		if (rtt_us > (uint64_t)op->timeout_ms * 1000)
			continue; /* late: counted as lost, as ping(8) with -W */
		op->replies[seq].received = true;
		op->replies[seq].rtt_us = rtt_us;
		note_path(op, &op->replies[seq]);
	}
	emit(op);
}

static void tick_cb(uv_timer_t *t)
{
	struct ping_op *op = t->data;
	uint64_t now = uv_now(op->d->loop);

	if (op->d->phase == WM_PHASE_STOPPING) {
		finish(op, -ECANCELED, "the node is stopping");
		return;
	}
	if (op->sent < op->count && now >= op->started_ms + (uint64_t)op->sent * op->interval_ms)
		send_one(op);
	emit(op);
	if (op->emitted == op->count)
		finish(op, 0, NULL);
}

static int open_socket(bool *raw)
{
	/* An unprivileged ping socket where net.ipv4.ping_group_range allows
	 * it, else a raw one (CAP_NET_RAW). */
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);

	*raw = false;
	if (fd >= 0)
		return fd;
	fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
	*raw = true;
	return fd < 0 ? -errno : fd;
}

void wm_ping_start(void *data, const Webmesh__V1__PingRequest *req, wm_services_send_cb send,
		   wm_services_reply_cb done, void *cd)
{
	struct wm_daemon *d = data;
	const struct wm_peer_name *peer = NULL;
	struct ping_op *op;
	char why[160];
	int rc;

	size_t n_peers;
	const struct wm_peer_name *peers = wm_netconf_peers(&d->netconf, &n_peers);
	for (size_t i = 0; i < n_peers && !peer; i++)
		if (strcmp(peers[i].id, req->node_id) == 0)
			peer = &peers[i];
	if (!peer || peer->ipv4.family != AF_INET) {
		snprintf(why, sizeof(why),
			 "%s is not a peer of this node (wmctl status lists them)", req->node_id);
		done(cd, -ENOENT, why, NULL);
		return;
	}
	op = calloc(1, sizeof(*op));
	if (op) {
		op->sent_ns = calloc(req->count, sizeof(*op->sent_ns));
		op->replies = calloc(req->count, sizeof(*op->replies));
	}
	if (!op || !op->sent_ns || !op->replies) {
		if (op) {
			free(op->sent_ns);
			free(op->replies);
		}
		free(op);
		done(cd, -ENOMEM, NULL, NULL);
		return;
	}
	for (uint32_t i = 0; i < req->count; i++)
		webmesh__v1__ping_reply__init(&op->replies[i]);
	op->d = d;
	op->send = send;
	op->done = done;
	op->cd = cd;
	memcpy(op->key, peer->key, sizeof(wm_key));
	snprintf(op->id, sizeof(op->id), "%s", peer->id);
	op->to.sin_family = AF_INET;
	memcpy(&op->to.sin_addr, peer->ipv4.addr, 4);
	op->count = req->count;
	op->interval_ms = req->interval_ms;
	op->timeout_ms = req->timeout_ms;
	uv_random(NULL, NULL, op->cookie, COOKIE_LEN, 0, NULL);
	wm_arena_init(&op->a);
	op->fd = open_socket(&op->raw);
	uv_timer_init(d->loop, &op->timer);
	op->timer.data = op;
	op->handles = 1;
	if (op->fd < 0) {
		rc = op->fd;
		snprintf(why, sizeof(why),
			 "cannot open an ICMP socket: %s (webmeshd needs "
			 "CAP_NET_RAW, or a net.ipv4.ping_group_range with its group)",
			 strerror(-rc));
		op->finished = true;
		done(cd, rc, why, NULL);
		uv_close((uv_handle_t *)&op->timer, closed_cb);
		return;
	}
	rc = uv_poll_init(d->loop, &op->poll, op->fd);
	if (rc == 0) {
		op->poll_init = true;
		op->poll.data = op;
		op->handles++;
		rc = uv_poll_start(&op->poll, UV_READABLE, poll_cb);
	}
	if (rc < 0) {
		snprintf(why, sizeof(why), "cannot watch the ICMP socket: %s", uv_strerror(rc));
		finish(op, rc, why);
		return;
	}
	op->started_ms = uv_now(d->loop);
	uv_timer_start(&op->timer, tick_cb, 0, TICK_MS);
}
