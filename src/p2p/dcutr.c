/* DCUtR in the libp2p module (see dcutr.h). */
#include "p2p/dcutr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "util/log.h"

#define MAX_ATTEMPTS 8
#define MSG_BUF (WM_DCUTR_MSG_MAX + WM_VARINT_MAX)
#define RTT_MAX_MS 5000 /* a longer half-RTT wait is not worth waiting */

enum role { D_FREE, D_B, D_A }; /* B starts (accepted the relayed conn), A answers */
enum step { S_CONNECT, S_SYNC, S_WAIT, S_DONE };

struct attempt {
	struct wm_dcutr *d;
	enum role role;
	enum step step;
	struct wm_peer_id peer;
	struct wm_p2p_stream *s;
	uint8_t buf[MSG_BUF];
	size_t n;
	uint64_t sent_ms;  /* B: when its CONNECT went */
	uint64_t punch_ms; /* B: when to connect (half the RTT after SYNC) */
	size_t ntargets;
	struct wm_maddr_tcp targets[4];
};

struct wm_dcutr {
	struct wm_p2p *p;
	uv_loop_t *loop;
	uv_timer_t timer; /* B's half-RTT waits */
	/* Made when first needed and kept for reuse (NULL: never used): an idle
	 * node has none, where eight inline took 35 KiB of its heap. */
	struct attempt *a[MAX_ATTEMPTS];
	void (*closed)(void *data);
	void *closed_data;
};

static void attempt_end(struct attempt *t, const char *why)
{
	char peer[WM_PEERID_TEXT_MAX];
	struct wm_p2p_stream *s = t->s;

	wm_peer_id_print(&t->peer, peer);
	if (why)
		wm_info("libp2p: DCUtR with %s: %s", peer, why);
	t->s = NULL;
	t->role = D_FREE;
	if (s)
		wm_p2p_reset(s);
}

static int send_msg(struct attempt *t, uint32_t type)
{
	struct wm_dcutr_msg *m = calloc(1, sizeof(*m));
	uint8_t *b = malloc(MSG_BUF);
	struct wm_maddr_tcp pub[WM_DCUTR_ADDRS];
	int rc = -ENOMEM;

	if (!m || !b)
		goto out;
	m->type = type;
	if (type == WM_DCUTR_CONNECT) {
		size_t n = wm_p2p_public_addrs(t->d->p, pub, WM_DCUTR_ADDRS);
		for (size_t i = 0; i < n; i++) {
			int l = wm_maddr_from_tcp(&pub[i], m->addrs[m->naddrs], WM_MADDR_MAX);
			if (l > 0)
				m->len[m->naddrs++] = (size_t)l;
		}
		if (m->naddrs == 0) {
			rc = -EADDRNOTAVAIL; /* nothing to offer: no punch */
			goto out;
		}
	}
	int n = wm_dcutr_write(m, b, MSG_BUF);
	rc = n < 0 ? n : wm_p2p_write(t->s, b, (size_t)n);
out:
	free(m);
	free(b);
	return rc;
}

static void punch(struct attempt *t)
{
	char peer[WM_PEERID_TEXT_MAX];

	wm_peer_id_print(&t->peer, peer);
	wm_info("libp2p: DCUtR with %s: connecting to %zu address(es)", peer, t->ntargets);
	int rc = wm_p2p_punch(t->d->p, &t->peer, t->targets, t->ntargets, t->role == D_A);
	if (rc) {
		/* the reason tells a 4-tuple still held (EADDRNOTAVAIL) from a
		 * missing listener */
		char why[96];
		snprintf(why, sizeof(why), "no connection could be started (%s)", strerror(-rc));
		attempt_end(t, why);
	} else {
		attempt_end(t, NULL);
	}
}

static void on_timer(uv_timer_t *h);

static void arm_timer(struct wm_dcutr *d)
{
	uint64_t now = uv_now(d->loop), next = UINT64_MAX;

	for (size_t i = 0; i < MAX_ATTEMPTS; i++)
		if (d->a[i] && d->a[i]->role == D_B && d->a[i]->step == S_WAIT &&
		    d->a[i]->punch_ms < next)
			next = d->a[i]->punch_ms;
	if (next == UINT64_MAX)
		uv_timer_stop(&d->timer);
	else
		uv_timer_start(&d->timer, on_timer, next > now ? next - now : 0, 0);
}

static void on_timer(uv_timer_t *h)
{
	struct wm_dcutr *d = h->data;
	uint64_t now = uv_now(d->loop);

	for (size_t i = 0; i < MAX_ATTEMPTS; i++) {
		struct attempt *t = d->a[i];
		if (t && t->role == D_B && t->step == S_WAIT && t->punch_ms <= now)
			punch(t);
	}
	arm_timer(d);
}

static void on_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	struct attempt *t = ud;
	struct wm_dcutr_msg *m;
	size_t used = 0;

	(void)s;
	if (t->step == S_WAIT || t->step == S_DONE)
		return; /* nothing more is read */
	if (len > sizeof(t->buf) - t->n) {
		attempt_end(t, "the peer sent more than a message");
		return;
	}
	memcpy(t->buf + t->n, buf, len);
	t->n += len;
	if (!(m = malloc(sizeof(*m))))
		return;
	int rc = wm_dcutr_read(t->buf, t->n, m, &used);
	if (rc == 0) {
		free(m);
		return;
	}
	if (rc < 0) {
		free(m);
		attempt_end(t, "a malformed message");
		return;
	}
	memmove(t->buf, t->buf + used, t->n - used);
	t->n -= used;
	if (t->step == S_CONNECT && m->type == WM_DCUTR_CONNECT) {
		t->ntargets = wm_dcutr_targets(m, &t->peer, t->targets, 4);
		if (t->ntargets == 0) {
			for (size_t i = 0; i < m->naddrs; i++) {
				char text[WM_MADDR_TEXT_MAX];
				if (wm_maddr_print(m->addrs[i], m->len[i], text, sizeof(text)) == 0)
					wm_debug("libp2p: DCUtR: the peer offered %s", text);
				else
					wm_debug("libp2p: DCUtR: the peer offered an address we "
						 "cannot read (%zu bytes)",
						 m->len[i]);
			}
			free(m);
			attempt_end(t, "the peer offered no address to connect to");
			return;
		}
		if (t->role == D_A) {
			t->step = S_SYNC;
			if (send_msg(t, WM_DCUTR_CONNECT))
				attempt_end(t, "we know no address of ours to offer");
		} else {
			uint64_t rtt = uv_now(t->d->loop) - t->sent_ms;
			rtt = rtt > RTT_MAX_MS ? RTT_MAX_MS : rtt;
			if (send_msg(t, WM_DCUTR_SYNC)) {
				attempt_end(t, "cannot send SYNC");
			} else {
				t->step = S_WAIT;
				t->punch_ms = uv_now(t->d->loop) + rtt / 2;
				wm_p2p_close(t->s);
				arm_timer(t->d);
			}
		}
	} else if (t->step == S_SYNC && t->role == D_A && m->type == WM_DCUTR_SYNC) {
		t->step = S_DONE;
		punch(t);
	} else {
		attempt_end(t, "an unexpected message");
	}
	free(m);
}

static void on_fin(void *ud, struct wm_p2p_stream *s)
{
	struct attempt *t = ud;

	(void)s;
	if (t->step != S_WAIT)
		attempt_end(t, "the peer closed the stream early");
}

static void on_gone(void *ud, struct wm_p2p_stream *s)
{
	struct attempt *t = ud;

	(void)s;
	t->s = NULL;
	if (t->step != S_WAIT && t->role != D_FREE)
		attempt_end(t, "the stream went");
}

static const struct wm_p2p_stream_cb cb = {.data = on_data, .fin = on_fin, .gone = on_gone};

static struct attempt *attempt_new(struct wm_dcutr *d, const struct wm_peer_id *peer, enum role r)
{
	for (size_t i = 0; i < MAX_ATTEMPTS; i++) {
		if (d->a[i] && d->a[i]->role != D_FREE && wm_peer_id_equal(&d->a[i]->peer, peer))
			return NULL; /* one at a time per peer */
	}
	for (size_t i = 0; i < MAX_ATTEMPTS; i++) {
		if (!d->a[i])
			d->a[i] = calloc(1, sizeof(*d->a[i]));
		if (d->a[i] && d->a[i]->role == D_FREE) {
			struct attempt *t = d->a[i];
			memset(t, 0, sizeof(*t));
			t->d = d;
			t->role = r;
			t->step = S_CONNECT;
			t->peer = *peer;
			return t;
		}
	}
	return NULL;
}

/* A: the peer that accepted our relayed connection asks. */
static int on_accept(void *arg, struct wm_p2p_stream *s, const struct wm_p2p_stream_cb **out,
		     void **ud)
{
	struct wm_peer_id peer;
	struct attempt *t;

	if (!wm_p2p_stream_relayed(s))
		return -EPERM; /* direct already: nothing to upgrade */
	wm_p2p_stream_peer(s, &peer);
	if (!(t = attempt_new(arg, &peer, D_A)))
		return -EBUSY;
	t->s = s;
	*out = &cb;
	*ud = t;
	return 0;
}

void wm_dcutr_relayed_up(struct wm_dcutr *d, const struct wm_peer_id *peer)
{
	struct attempt *t;

	if (wm_p2p_connected(d->p, peer) != 2 || !(t = attempt_new(d, peer, D_B)))
		return;
	if (wm_p2p_open(d->p, peer, WM_DCUTR_PROTOCOL, NULL, &cb, t, &t->s)) {
		t->s = NULL;
		attempt_end(t, "cannot open a stream");
		return;
	}
	t->sent_ms = uv_now(d->loop);
	if (send_msg(t, WM_DCUTR_CONNECT))
		attempt_end(t, "we know no address of ours to offer");
}

int wm_dcutr_new(struct wm_p2p *p, uv_loop_t *loop, struct wm_dcutr **out, char *err, size_t errlen)
{
	struct wm_dcutr *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return -ENOMEM;
	d->p = p;
	d->loop = loop;
	if ((rc = wm_p2p_handle(p, WM_DCUTR_PROTOCOL, on_accept, d))) {
		wm_seterr(err, errlen, "libp2p: cannot register DCUtR: %s", strerror(-rc));
		free(d);
		return rc;
	}
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	*out = d;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	struct wm_dcutr *d = h->data;
	void (*closed)(void *) = d->closed;
	void *data = d->closed_data;

	for (size_t i = 0; i < MAX_ATTEMPTS; i++)
		free(d->a[i]);
	free(d);
	if (closed)
		closed(data);
}

void wm_dcutr_free(struct wm_dcutr *d, void (*closed)(void *data), void *data)
{
	for (size_t i = 0; i < MAX_ATTEMPTS; i++)
		if (d->a[i] && d->a[i]->role != D_FREE)
			attempt_end(d->a[i], NULL);
	d->closed = closed;
	d->closed_data = data;
	uv_close((uv_handle_t *)&d->timer, on_closed);
}
