/* Unit tests for relay.c's client against hostile relays, on a real loop
 * over loopback: hosts that speak /libp2p/circuit/relay/0.2.0/hop and
 * leave RESERVE (or CONNECT) unanswered, the stream open. Found in the DHT
 * they take at most half the reservation slots, so a configured relay
 * still gets its reservation, and their pending reservations time out; a
 * relayed dial through a relay that grants reservations but never answers
 * CONNECT times out, and the next dial to that target goes through the good
 * relay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "looprun.h"
#include "p2p/host.h"
#include "p2p/relay.h"

#define NHOSTILE 4

static const struct wm_p2p_dial via_relay = {.relay = true};
static char dir[] = "/tmp/wm-p2p-hostile-XXXXXX";

static struct wm_p2p *start(uv_loop_t *loop, const char *name, char **listen, size_t nl,
			    char **peers, size_t np, bool relay)
{
	char key[256], err[512] = "";
	struct wm_p2p *p = NULL;
	struct wm_p2p_config c = {
		.loop = loop,
		.key_path = key,
		.listen = listen,
		.nlisten = nl,
		.peers = peers,
		.npeers = np,
		.agent = "webmesh/test",
		.max_conns = 8,
		.max_streams = 16,
		.log_level = 3,
		.relay = relay,
		.relay_limits = {.max_reservations = 4,
				 .max_per_source = 4,
				 .reservation_ttl_s = 60,
				 .max_circuits = 4,
				 .max_circuits_per_peer = 2},
	};

	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	if (wm_p2p_new(&c, &p, err, sizeof(err)))
		fail_msg("wm_p2p_new %s: %s", name, err);
	return p;
}

static bool run_until(uv_loop_t *loop, bool (*pred)(void *), void *arg, unsigned secs)
{
	return wm_test_loop_until(loop, pred, arg, (uint64_t)secs * 1000u);
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

/* ---- the hostile relay's side of hop ---- */

struct hostile {
	bool grant;	   /* answer RESERVE with OK (else leave it unanswered) */
	int reserves;	   /* RESERVE streams taken */
	int connects;	   /* CONNECT streams taken, never answered */
	int gone;	   /* RESERVE streams the client reset */
	int connects_gone; /* CONNECT streams the client reset */
};

struct hop_in {
	struct hostile *h;
	uint8_t buf[1024];
	size_t n;
	bool read;
	bool connect;
};

static void hop_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	struct hop_in *in = ud;
	struct wm_relay_msg m;
	size_t used = 0;

	if (in->read || len > sizeof(in->buf) - in->n)
		return;
	memcpy(in->buf + in->n, buf, len);
	in->n += len;
	if (wm_relay_msg_read(true, in->buf, in->n, &m, &used) != 1)
		return;
	in->read = true;
	if (m.type == WM_HOP_CONNECT) {
		in->connect = true;
		in->h->connects++;
		return;
	}
	in->h->reserves++;
	if (!in->h->grant)
		return;
	struct wm_relay_msg ok = {.hop = true,
				  .type = WM_HOP_STATUS,
				  .has_status = true,
				  .status = WM_RELAY_OK,
				  .has_rsvp = true,
				  .rsvp_expire = (uint64_t)time(NULL) + 3600};
	uint8_t out[WM_RELAY_MSG_MAX];
	int n = wm_relay_msg_write(&ok, out, sizeof(out));
	if (n > 0)
		wm_p2p_write(s, out, (size_t)n);
	wm_p2p_close(s);
}

static void hop_fin(void *ud, struct wm_p2p_stream *s)
{
	(void)ud;
	(void)s;
}

static void hop_gone(void *ud, struct wm_p2p_stream *s)
{
	struct hop_in *in = ud;

	(void)s;
	if (in->connect)
		in->h->connects_gone++;
	else
		in->h->gone++;
	free(in);
}

static const struct wm_p2p_stream_cb hop_cb = {hop_data, hop_fin, hop_gone};

static int hop_accept(void *arg, struct wm_p2p_stream *s, const struct wm_p2p_stream_cb **cb,
		      void **ud)
{
	struct hop_in *in = calloc(1, sizeof(*in));

	(void)s;
	if (!in)
		return -ENOMEM;
	in->h = arg;
	*cb = &hop_cb;
	*ud = in;
	return 0;
}

static void addr_of(struct wm_p2p *p, char *out, size_t len, struct wm_peer_id *id)
{
	struct wm_p2p_status s;

	wm_p2p_status(p, &s);
	snprintf(out, len, "%s/p2p/%s", s.listen[0], s.peer_id);
	assert_int_equal(wm_peer_id_parse(s.peer_id, id), 0);
}

/* R's address, R stopped: a host configured with it finds nobody there
 * until R starts again at the same port with the same key. */
static void reserve_port(uv_loop_t *loop, char *addr, size_t alen, char *listen, size_t llen,
			 struct wm_peer_id *id)
{
	char *l0[] = {"/ip4/127.0.0.1/tcp/0"};
	struct wm_p2p *r = start(loop, "r", l0, 1, NULL, 0, true);
	struct wm_p2p_status s;

	wm_p2p_status(r, &s);
	snprintf(listen, llen, "%s", s.listen[0]);
	addr_of(r, addr, alen, id);
	wm_p2p_free(r, NULL, NULL);
	run_until(loop, never, NULL, 1);
}

struct lab {
	struct wm_p2p *a, *b, *r;
	struct wm_peer_id rid, bid;
	struct hostile *h;
	size_t nh;
};

static int reserves(const struct lab *l)
{
	int n = 0;

	for (size_t i = 0; i < l->nh; i++)
		n += l->h[i].reserves;
	return n;
}

static int gone(const struct lab *l)
{
	int n = 0;

	for (size_t i = 0; i < l->nh; i++)
		n += l->h[i].gone;
	return n;
}

static bool two_pending(void *arg)
{
	return reserves(arg) >= 2;
}

static bool holds_on(struct wm_p2p *p, const struct wm_peer_id *relay)
{
	struct wm_p2p_status st;
	char rid[WM_PEERID_TEXT_MAX];

	wm_peer_id_print(relay, rid);
	wm_p2p_status(p, &st);
	for (size_t i = 0; i < st.nrsvps; i++)
		if (!strcmp(st.rsvps[i].relay_id, rid))
			return true;
	return false;
}

static bool a_holds_r(void *arg)
{
	struct lab *l = arg;

	return holds_on(l->a, &l->rid);
}

static bool pending_gone(void *arg)
{
	struct lab *l = arg;

	return gone(l) >= reserves(l) && reserves(l) > 0;
}

/* Four relays from the DHT that take RESERVE and never answer: two get a
 * slot, the configured relay one of the rest once it comes up, and the two
 * pending reservations are reset after their timeout. */
static void test_found_relays_bounded(void **state)
{
	uv_loop_t loop;
	char *l0[] = {"/ip4/127.0.0.1/tcp/0"};
	char raddr[300], rlisten[200], haddr[NHOSTILE][300], *peers[1] = {raddr};
	struct wm_p2p *hp[NHOSTILE];
	struct hostile h[NHOSTILE] = {0};
	struct lab l = {.h = h, .nh = NHOSTILE};

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	reserve_port(&loop, raddr, sizeof(raddr), rlisten, sizeof(rlisten), &l.rid);
	l.a = start(&loop, "a", NULL, 0, peers, 1, false);
	for (size_t i = 0; i < NHOSTILE; i++) {
		char name[8];
		struct wm_peer_id hid;
		uint8_t bin[WM_MADDR_MAX];
		size_t blen;
		snprintf(name, sizeof(name), "h%zu", i);
		hp[i] = start(&loop, name, l0, 1, NULL, 0, false);
		assert_int_equal(wm_p2p_handle(hp[i], WM_RELAY_HOP_PROTOCOL, hop_accept, &h[i]), 0);
		addr_of(hp[i], haddr[i], sizeof(haddr[i]), &hid);
		int n = wm_maddr_parse(haddr[i], bin, sizeof(bin), NULL, 0);
		assert_true(n > 0);
		blen = (size_t)n;
		struct wm_p2p_dial to = {
			.addrs = (const uint8_t(*)[WM_MADDR_MAX])bin, .lens = &blen, .naddrs = 1};
		assert_int_equal(wm_relay_svc_found(wm_p2p_relay_svc(l.a), &hid, &to), 0);
	}
	assert_true(run_until(&loop, two_pending, &l, 15));
	/* Two, and no more however long they wait. */
	run_until(&loop, never, NULL, 2);
	assert_int_equal(reserves(&l), 2);

	/* (a) The configured relay comes up and gets its reservation. */
	char *rl[] = {rlisten};
	l.r = start(&loop, "r", rl, 1, NULL, 0, true);
	assert_true(run_until(&loop, a_holds_r, &l, 15));

	/* (b) The unanswered RESERVEs are reset at their timeout (20 s). */
	assert_int_equal(gone(&l), 0);
	assert_true(run_until(&loop, pending_gone, &l, 25));
	assert_true(holds_on(l.a, &l.rid));

	wm_p2p_free(l.a, NULL, NULL);
	wm_p2p_free(l.r, NULL, NULL);
	for (size_t i = 0; i < NHOSTILE; i++)
		wm_p2p_free(hp[i], NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static bool a_holds_both(void *arg)
{
	struct lab *l = arg;
	struct wm_p2p_status sa, sb;

	wm_p2p_status(l->a, &sa);
	wm_p2p_status(l->b, &sb);
	return sa.nrsvps == 2 && sb.nrsvps == 1;
}

static bool a_holds_one(void *arg)
{
	struct wm_p2p_status sa;

	wm_p2p_status(((struct lab *)arg)->a, &sa);
	return sa.nrsvps == 1;
}

static bool connect_reset(void *arg)
{
	struct lab *l = arg;

	return l->h[0].connects == 1 && l->h[0].connects_gone == 1;
}

static bool a_relayed_to_b(void *arg)
{
	struct lab *l = arg;

	return wm_p2p_connected(l->a, &l->bid) == 2;
}

/* (c) G grants reservations and never answers CONNECT; it holds A's first
 * slot, so A's first relayed dial to B goes through it. That dial ends at
 * its timeout, and the next one goes through R. */
static void test_dial_through_silent_relay(void **state)
{
	uv_loop_t loop;
	char *l0[] = {"/ip4/127.0.0.1/tcp/0"};
	char raddr[300], rlisten[200], gaddr[300];
	char *apeers[2] = {gaddr, raddr}, *bpeers[1] = {raddr};
	struct hostile h[1] = {{.grant = true}};
	struct lab l = {.h = h, .nh = 1};
	struct wm_p2p *g;
	struct wm_peer_id gid;
	struct wm_p2p_status st;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	reserve_port(&loop, raddr, sizeof(raddr), rlisten, sizeof(rlisten), &l.rid);
	g = start(&loop, "g", l0, 1, NULL, 0, false);
	assert_int_equal(wm_p2p_handle(g, WM_RELAY_HOP_PROTOCOL, hop_accept, &h[0]), 0);
	addr_of(g, gaddr, sizeof(gaddr), &gid);
	l.a = start(&loop, "a", NULL, 0, apeers, 2, false);
	assert_true(run_until(&loop, a_holds_one, &l, 15));
	assert_true(holds_on(l.a, &gid));
	char *rl[] = {rlisten};
	l.r = start(&loop, "r", rl, 1, NULL, 0, true);
	l.b = start(&loop, "b", NULL, 0, bpeers, 1, false);
	wm_p2p_status(l.b, &st);
	assert_int_equal(wm_peer_id_parse(st.peer_id, &l.bid), 0);
	assert_true(run_until(&loop, a_holds_both, &l, 20));

	assert_int_equal(wm_p2p_dial(l.a, &l.bid, &via_relay), -EINPROGRESS);
	assert_true(run_until(&loop, connect_reset, &l, 20));
	assert_int_equal(wm_p2p_connected(l.a, &l.bid), 0);
	assert_int_equal(wm_p2p_dial(l.a, &l.bid, &via_relay), -EINPROGRESS);
	assert_true(run_until(&loop, a_relayed_to_b, &l, 10));
	assert_int_equal(h[0].connects, 1);

	wm_p2p_free(l.a, NULL, NULL);
	wm_p2p_free(l.b, NULL, NULL);
	wm_p2p_free(l.r, NULL, NULL);
	wm_p2p_free(g, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static int setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	const char *names[] = {"r", "a", "b", "g", "h0", "h1", "h2", "h3"};
	char path[256];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.key", dir, names[i]);
		unlink(path);
	}
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_found_relays_bounded),
		cmocka_unit_test(test_dial_through_silent_relay),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
