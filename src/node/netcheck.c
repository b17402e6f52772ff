/* Node.NetCheck: what this node sees of the network. Every probe runs at once
 * on the loop, under one deadline: endpoint discovery (this host's addresses,
 * STUN from one socket to every server, hence the NAT's mapping kind), a TURN
 * Allocate to every TURN server (any answer, a 401 included, shows the server
 * is there), and a TCP connection to every webmesh server this node knows. */
#include "node/daemon.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hostport.h"
#include "core/nat.h"
#include "core/netcheck.h"
#include "nat/discover.h"
#include "nat/ice.h"
#include "nat/stun.h"
#include "services/convert.h"
#include "util/arena.h"

#define TICK_MS 50
#define TURN_RTO_MS 250
#define MAX_PROBES (WM_MAX_SERVERS + 16)
#define ADDR_LEN (WM_PREFIX_STRLEN + 272)

struct netcheck_op;

struct tcp_probe {
	struct netcheck_op *op;
	char address[ADDR_LEN];
	uv_getaddrinfo_t gai;
	bool gai_pending;
	uv_tcp_t tcp;
	uv_connect_t conn;
	bool tcp_init;
	uint64_t started_ms;
	bool done, reachable;
	uint32_t rtt_ms;
	char error[96];
};

struct netcheck_op {
	struct wm_daemon *d;
	wm_services_reply_cb done;
	void *cd;
	uint64_t deadline_ms;
	int refs; /* open handles and pending requests; freed at 0 */
	bool finished;
	uv_timer_t timer;
	/* discovery */
	struct wm_nat_discover_req *disc;
	bool disc_done;
	int disc_err;
	struct wm_nat_discovery dres;
	struct wm_endpoint
		stun4[WM_NAT_MAX_STUN]; /* all of them (IPv4 and IPv6), as discovery asks */
	size_t n_stun4;
	size_t n_stun; /* configured and resolved */
	/* TURN */
	uv_udp_t udp;
	bool udp_init;
	bool udp_v6; /* the TURN probe socket is dual-stack */
	struct wm_endpoint turn[WM_ICE_MAX_TURN];
	size_t n_turn;
	uint8_t txid[WM_ICE_MAX_TURN][WM_STUN_TXID_LEN];
	bool turn_ok[WM_ICE_MAX_TURN];
	uint32_t turn_rtt[WM_ICE_MAX_TURN];
	uint64_t turn_last_send_ms, turn_next_send_ms;
	uint32_t turn_rto_ms;
	char turn_error[96];
	uint8_t buf[1500];
	/* webmesh servers */
	struct tcp_probe *probes[MAX_PROBES];
	size_t n_probes;
};

static void unref(struct netcheck_op *op)
{
	if (--op->refs > 0)
		return;
	for (size_t i = 0; i < op->n_probes; i++)
		free(op->probes[i]);
	free(op);
}

static void op_closed_cb(uv_handle_t *h)
{
	unref(h->data);
}

static void probe_closed_cb(uv_handle_t *h)
{
	struct tcp_probe *p = h->data;

	unref(p->op);
}

static bool all_done(const struct netcheck_op *op)
{
	if (!op->disc_done)
		return false;
	for (size_t i = 0; i < op->n_turn; i++)
		if (!op->turn_ok[i])
			return false;
	for (size_t i = 0; i < op->n_probes; i++)
		if (!op->probes[i]->done)
			return false;
	return true;
}

static Webmesh__V1__ServerCheck *check(struct wm_arena *a, const char *kind, const char *address,
				       bool reachable, uint32_t rtt_ms, const char *error)
{
	Webmesh__V1__ServerCheck *c = wm_arena_alloc(a, sizeof(*c));

	if (!c)
		return NULL;
	webmesh__v1__server_check__init(c);
	c->kind = (char *)kind;
	c->address = wm_arena_strdup(a, address);
	c->reachable = reachable;
	c->rtt_ms = rtt_ms;
	c->mapped = "";
	c->error = wm_arena_strdup(a, reachable ? "" : error);
	return c;
}

static void reply(struct netcheck_op *op)
{
	struct wm_daemon *d = op->d;
	const struct wm_nat_discovery *r = &op->dres;
	Webmesh__V1__NetCheckResponse resp = WEBMESH__V1__NET_CHECK_RESPONSE__INIT;
	struct wm_netcheck_facts f = {
		.endpoint_public = wm_endpoints_have_public(d->endpoints, d->n_endpoints),
		.mapping = r->nat.mapping,
		.n_stun = op->n_stun,
		.n_turn = op->n_turn,
	};
	struct wm_path_check pc[WM_NETCHECK_PATHS];
	size_t max_checks = op->n_stun4 + op->n_turn + op->n_probes + 1;
	char buf[ADDR_LEN];
	struct wm_arena a;

	wm_arena_init(&a);
	resp.addresses = wm_arena_alloc(&a, sizeof(char *) * (r->n_addrs + 1));
	for (size_t i = 0; resp.addresses && i < r->n_addrs; i++) {
		wm_prefix_format_addr(&r->addrs[i], buf, sizeof(buf));
		resp.addresses[resp.n_addresses++] = wm_arena_strdup(&a, buf);
	}
	resp.endpoints = wm_arena_alloc(&a, sizeof(char *) * (d->n_endpoints + 1));
	for (size_t i = 0; resp.endpoints && i < d->n_endpoints; i++)
		resp.endpoints[resp.n_endpoints++] = wm_pb_endpoint(&a, &d->endpoints[i]);
	resp.mapped = r->nat.mapped.ip.family ? wm_pb_endpoint(&a, &r->nat.mapped) : "";
	resp.nat_mapping = (char *)wm_nat_mapping_name(r->nat.mapping);
	resp.port_preserved = r->nat.mapped.ip.family && r->nat.port_preserved;
	resp.checks = wm_arena_alloc(&a, sizeof(*resp.checks) * max_checks);
	for (size_t i = 0; resp.checks && i < op->n_stun4; i++) {
		bool ok = i < r->n_mapped && r->mapped[i].ip.family;

		wm_endpoint_format(&op->stun4[i], buf, sizeof(buf));
		Webmesh__V1__ServerCheck *c =
			check(&a, "stun", buf, ok, ok ? r->rtt_ms[i] : 0, "no answer");
		if (c && ok)
			c->mapped = wm_pb_endpoint(&a, &r->mapped[i]);
		if (c)
			resp.checks[resp.n_checks++] = c;
		f.n_stun_reached += ok;
	}
	for (size_t i = 0; resp.checks && i < op->n_turn; i++) {
		wm_endpoint_format(&op->turn[i], buf, sizeof(buf));
		Webmesh__V1__ServerCheck *c =
			check(&a, "turn", buf, op->turn_ok[i], op->turn_rtt[i],
			      op->turn_error[0] ? op->turn_error : "no answer");
		if (c)
			resp.checks[resp.n_checks++] = c;
		f.n_turn_reached += op->turn_ok[i];
	}
	for (size_t i = 0; resp.checks && i < op->n_probes; i++) {
		struct tcp_probe *p = op->probes[i];
		Webmesh__V1__ServerCheck *c =
			check(&a, "server", p->address, p->reachable, p->rtt_ms,
			      p->error[0] ? p->error : "no answer");
		if (c)
			resp.checks[resp.n_checks++] = c;
	}
	wm_netcheck_paths(&f, pc);
	resp.paths = wm_arena_alloc(&a, sizeof(*resp.paths) * WM_NETCHECK_PATHS);
	for (size_t i = 0; resp.paths && i < WM_NETCHECK_PATHS; i++) {
		Webmesh__V1__PathCheck *p = wm_arena_alloc(&a, sizeof(*p));

		if (!p)
			break;
		webmesh__v1__path_check__init(p);
		p->path = (Webmesh__V1__PeerPath)pc[i].path;
		p->possible = pc[i].possible;
		p->why = (char *)pc[i].why;
		resp.paths[resp.n_paths++] = p;
	}
	if (a.failed)
		op->done(op->cd, -ENOMEM, NULL, NULL);
	else
		op->done(op->cd, 0, NULL, &resp.base);
	wm_arena_free(&a);
}

static void finish(struct netcheck_op *op)
{
	if (op->finished)
		return;
	op->finished = true;
	/* Whatever discovery has by now (its callback runs before this returns). */
	if (!op->disc_done && op->disc)
		wm_nat_discover_cancel(op->disc);
	reply(op);
	uv_timer_stop(&op->timer);
	uv_close((uv_handle_t *)&op->timer, op_closed_cb);
	if (op->udp_init) {
		uv_udp_recv_stop(&op->udp);
		uv_close((uv_handle_t *)&op->udp, op_closed_cb);
	}
	for (size_t i = 0; i < op->n_probes; i++) {
		struct tcp_probe *p = op->probes[i];

		if (p->gai_pending)
			uv_cancel((uv_req_t *)&p->gai); /* its callback drops its ref */
		if (p->tcp_init) {
			p->tcp_init = false;
			uv_close((uv_handle_t *)&p->tcp, probe_closed_cb);
		}
	}
}

static void maybe_finish(struct netcheck_op *op)
{
	if (!op->finished && all_done(op))
		finish(op);
}

static void disc_cb(void *data, int err, const struct wm_nat_discovery *r)
{
	struct netcheck_op *op = data;

	op->dres = *r;
	op->disc_err = err;
	op->disc_done = true;
	op->disc = NULL;
	/* From within finish (a cancel) there is nothing more to do. */
	if (err != -ECANCELED)
		maybe_finish(op);
}

/* ---- TURN ---- */

static void turn_send(struct netcheck_op *op)
{
	for (size_t i = 0; i < op->n_turn; i++) {
		struct sockaddr_storage ss;
		uint8_t msg[WM_STUN_ALLOCATE_REQUEST_MAX];
		int n;

		/* Both families from one socket, as endpoint discovery asks. */
		if (op->turn_ok[i] || !wm_nat_sockaddr(&op->turn[i], op->udp_v6, &ss))
			continue;
		n = wm_stun_allocate_request(op->txid[i], msg, sizeof(msg));
		uv_buf_t b = uv_buf_init((char *)msg, (unsigned)n);
		int rc = uv_udp_try_send(&op->udp, &b, 1, (const struct sockaddr *)&ss);
		if (rc < 0)
			snprintf(op->turn_error, sizeof(op->turn_error), "cannot send: %s",
				 uv_strerror(rc));
	}
}

static void turn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct netcheck_op *op = h->data;

	(void)suggested;
	*buf = uv_buf_init((char *)op->buf, sizeof(op->buf));
}

static void turn_recv_cb(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
			 const struct sockaddr *addr, unsigned flags)
{
	struct netcheck_op *op = u->data;
	struct wm_endpoint from;

	if (nread <= 0 || !addr || (flags & UV_UDP_PARTIAL) || op->finished ||
	    !wm_nat_endpoint_of(addr, &from))
		return;
	for (size_t i = 0; i < op->n_turn; i++) {
		/* Only the server we asked, with our transaction ID, may answer. */
		if (op->turn_ok[i] || !wm_endpoint_equal(&from, &op->turn[i]))
			continue;
		if (wm_stun_response_type((const uint8_t *)buf->base, (size_t)nread, op->txid[i]) <
		    0)
			continue;
		op->turn_ok[i] = true;
		op->turn_rtt[i] = (uint32_t)(uv_now(op->d->loop) - op->turn_last_send_ms);
	}
	maybe_finish(op);
}

static int turn_start(struct netcheck_op *op)
{
	int rc, fd;

	if (!op->n_turn)
		return 0;
	fd = wm_nat_udp_socket(&op->udp_v6);
	if (fd < 0)
		return fd;
	rc = uv_udp_init(op->d->loop, &op->udp);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	op->udp.data = op;
	op->udp_init = true;
	op->refs++;
	rc = uv_udp_open(&op->udp, fd);
	if (rc < 0)
		close(fd);
	if (!rc)
		rc = uv_udp_recv_start(&op->udp, turn_alloc_cb, turn_recv_cb);
	for (size_t i = 0; i < op->n_turn; i++)
		uv_random(NULL, NULL, op->txid[i], WM_STUN_TXID_LEN, 0, NULL);
	op->turn_rto_ms = TURN_RTO_MS;
	op->turn_next_send_ms = uv_now(op->d->loop); /* the first tick sends */
	return rc;
}

/* ---- webmesh servers: a TCP connection to the API port ---- */

static void conn_cb(uv_connect_t *c, int status)
{
	struct tcp_probe *p = c->data;
	struct netcheck_op *op = p->op;

	if (op->finished || p->done)
		return;
	p->done = true;
	p->reachable = status == 0;
	p->rtt_ms = (uint32_t)(uv_now(op->d->loop) - p->started_ms);
	if (status < 0)
		snprintf(p->error, sizeof(p->error), "%s", uv_strerror(status));
	p->tcp_init = false;
	uv_close((uv_handle_t *)&p->tcp, probe_closed_cb);
	maybe_finish(op);
}

static void gai_cb(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
	struct tcp_probe *p = g->data;
	struct netcheck_op *op = p->op;
	int rc = status;

	p->gai_pending = false;
	if (op->finished || status == UV_ECANCELED) {
		uv_freeaddrinfo(res);
		unref(op);
		return;
	}
	if (!rc && !res)
		rc = UV_EAI_NONAME;
	if (!rc)
		rc = uv_tcp_init(op->d->loop, &p->tcp);
	if (!rc) {
		p->tcp.data = p;
		p->tcp_init = true;
		op->refs++;
		p->conn.data = p;
		p->started_ms = uv_now(op->d->loop);
		rc = uv_tcp_connect(&p->conn, &p->tcp, res->ai_addr, conn_cb);
	}
	uv_freeaddrinfo(res);
	if (rc < 0) {
		p->done = true;
		snprintf(p->error, sizeof(p->error), "%s", uv_strerror(rc));
		if (p->tcp_init) {
			p->tcp_init = false;
			uv_close((uv_handle_t *)&p->tcp, probe_closed_cb);
		}
	}
	unref(op); /* the lookup's */
	maybe_finish(op);
}

static void add_server(struct netcheck_op *op, const char *address)
{
	char host[256], port[8];
	uint16_t pn;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	struct tcp_probe *p;

	for (size_t i = 0; i < op->n_probes; i++)
		if (strcmp(op->probes[i]->address, address) == 0)
			return;
	if (op->n_probes == MAX_PROBES || !(p = calloc(1, sizeof(*p))))
		return;
	p->op = op;
	snprintf(p->address, sizeof(p->address), "%s", address);
	op->probes[op->n_probes++] = p;
	if (wm_hostport_split(address, host, sizeof(host), &pn) < 0) {
		p->done = true;
		snprintf(p->error, sizeof(p->error), "not HOST:PORT");
		return;
	}
	snprintf(port, sizeof(port), "%u", pn);
	p->gai.data = p;
	/* Names resolve on libuv's threadpool: the loop never blocks. */
	int rc = uv_getaddrinfo(op->d->loop, &p->gai, gai_cb, host, port, &hints);
	if (rc < 0) {
		p->done = true;
		snprintf(p->error, sizeof(p->error), "%s", uv_strerror(rc));
		return;
	}
	p->gai_pending = true;
	op->refs++;
}

static void servers_start(struct netcheck_op *op)
{
	struct wm_daemon *d = op->d;

	const char *servers[WM_MAX_SERVERS];
	size_t n_servers = wm_member_servers(&d->member, servers, WM_MAX_SERVERS);

	for (size_t i = 0; i < n_servers; i++)
		add_server(op, servers[i]);
	if (wm_server_store(&d->server)) {
		struct wm_store_status rs;
		char addr[ADDR_LEN], host[256];
		uint16_t port;

		wm_store_status(wm_server_store(&d->server), &rs);
		/* Raft members listen at MESH-IPv4:raft-port; their API is on
		 * the API port of every server. */
		for (size_t i = 0; i < rs.n_members; i++) {
			if (strcmp(rs.members[i].node_id, d->node_id) == 0 ||
			    wm_hostport_split(rs.members[i].address, host, sizeof(host), &port) < 0)
				continue;
			snprintf(addr, sizeof(addr), "%s:%u", host, d->api_port);
			add_server(op, addr);
		}
	}
}

static void tick_cb(uv_timer_t *t)
{
	struct netcheck_op *op = t->data;
	uint64_t now = uv_now(op->d->loop);

	if (now >= op->deadline_ms || op->d->phase == WM_PHASE_STOPPING) {
		finish(op);
		return;
	}
	if (op->udp_init && now >= op->turn_next_send_ms) {
		turn_send(op);
		op->turn_last_send_ms = now;
		op->turn_rto_ms *= 2;
		op->turn_next_send_ms = now + op->turn_rto_ms;
	}
	maybe_finish(op);
}

void wm_netcheck_start(void *data, const Webmesh__V1__NetCheckRequest *req,
		       wm_services_reply_cb done, void *cd)
{
	struct wm_daemon *d = data;
	struct netcheck_op *op = calloc(1, sizeof(*op));
	struct wm_endpoint stun[WM_NAT_MAX_STUN];
	char why[160];
	int rc;

	if (!op) {
		done(cd, -ENOMEM, NULL, NULL);
		return;
	}
	op->d = d;
	op->done = done;
	op->cd = cd;
	op->refs = 1; /* the timer */
	uv_timer_init(d->loop, &op->timer);
	op->timer.data = op;
	op->deadline_ms = uv_now(d->loop) + req->timeout_ms;
	op->n_stun = wm_node_nat_stun_servers(d->nat, stun, WM_NAT_MAX_STUN);
	for (size_t i = 0; i < op->n_stun; i++) /* discovery asks IPv4 and IPv6 ones */
		op->stun4[op->n_stun4++] = stun[i];
	op->n_turn = wm_node_nat_turn_servers(d->nat, op->turn, WM_ICE_MAX_TURN);
	if (d->nat) {
		rc = wm_node_nat_discover(d->nat, disc_cb, op, &op->disc);
	} else {
		/* No NAT layer (the null backend): this host's addresses only. */
		struct wm_nat_discover_opts o = {.skip_ifname = d->cfg->interface,
						 .wg_port = d->cfg->wireguard_port};
		rc = wm_nat_discover(d->loop, &o, disc_cb, op, &op->disc);
	}
	if (!rc)
		rc = turn_start(op);
	if (rc < 0) {
		snprintf(why, sizeof(why), "cannot start the probes: %s", uv_strerror(rc));
		op->finished = true;
		if (op->disc)
			wm_nat_discover_cancel(op->disc);
		done(cd, rc, why, NULL);
		uv_close((uv_handle_t *)&op->timer, op_closed_cb);
		if (op->udp_init)
			uv_close((uv_handle_t *)&op->udp, op_closed_cb);
		return;
	}
	servers_start(op);
	uv_timer_start(&op->timer, tick_cb, 0, TICK_MS);
}
