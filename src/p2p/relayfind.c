/* Relays found through the DHT (see relayfind.h). */
#include "p2p/relayfind.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "core/error.h"
#include "core/p2prelay.h"
#include "p2p/relay.h"
#include "util/crypto.h"
#include "util/log.h"

#define TICK_MS 1000
#define LABEL "webmesh relay dht v1"

struct wm_relay_find {
	struct wm_p2p *host;
	struct wm_dht *dht;
	uint8_t key[WM_RELAY_KEY_LEN];
	uv_timer_t timer;
	bool looking;	  /* a lookup is under way */
	bool looked;	  /* one has ended with peers to ask */
	uint64_t last_ms; /* when it ended */
	unsigned misses;  /* lookups in a row that ended with no reservation held */
	/* This lookup's providers, handed on in random order once it ends:
	 * the order an answering peer chose does not pick for us. */
	struct wm_kad_peer found[WM_RELAY_FIND_ASK];
	size_t nfound;
	bool stopped, closed;
	void (*done_cb)(void *data);
	void *done_data;
	bool freeing;
};

void wm_relay_dht_key(uint8_t out[WM_RELAY_KEY_LEN])
{
	out[0] = 0x12;
	out[1] = 0x20;
	SHA256((const uint8_t *)LABEL, strlen(LABEL), out + 2);
}

/* Keeps kp with only the addresses we may dial. */
static void keep_provider(struct wm_relay_find *f, const struct wm_kad_peer *kp)
{
	struct wm_kad_peer *o;
	struct wm_maddr_tcp t;

	if (f->nfound >= WM_RELAY_FIND_ASK)
		return;
	o = &f->found[f->nfound];
	memcpy(o->id, kp->id, sizeof(o->id));
	o->id_len = kp->id_len;
	o->naddrs = 0;
	for (size_t i = 0; i < kp->naddrs && i < WM_KAD_ADDRS; i++) {
		if (wm_maddr_to_tcp(kp->addrs[i], kp->addr_len[i], &t) || !wm_relay_addr_ok(&t))
			continue;
		memcpy(o->addrs[o->naddrs], kp->addrs[i], kp->addr_len[i]);
		o->addr_len[o->naddrs++] = kp->addr_len[i];
	}
	f->nfound++;
}

static void hand_on(struct wm_relay_find *f)
{
	size_t idx[WM_RELAY_FIND_ASK];
	uint32_t rnd[WM_RELAY_FIND_ASK];
	size_t n = f->nfound;
	struct wm_peer_id id;

	f->nfound = 0;
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	if (wm_random(rnd, sizeof(rnd)) == 0)
		wm_relay_shuffle(idx, n, rnd);
	for (size_t k = 0; k < n; k++) {
		const struct wm_kad_peer *kp = &f->found[idx[k]];
		if (wm_peer_id_from_bytes(kp->id, kp->id_len, &id, NULL))
			continue;
		struct wm_p2p_dial to = {
			.addrs = (const uint8_t(*)[WM_MADDR_MAX])kp->addrs,
			.lens = kp->addr_len,
			.naddrs = kp->naddrs,
		};
		wm_relay_svc_found(wm_p2p_relay_svc(f->host), &id, &to);
	}
}

static void on_provider(void *ud, const struct wm_kad_peer *kp, int err)
{
	struct wm_relay_find *f = ud;

	if (f->stopped)
		return;
	if (!kp) {
		f->looking = false;
		hand_on(f);
		/* -ENOENT: nobody to ask yet; again at the next tick. */
		if (err != -ENOENT) {
			f->looked = true;
			f->last_ms = uv_now(wm_p2p_loop(f->host));
			f->misses += f->misses < 64;
		}
		if (err)
			wm_debug("libp2p: relay lookup: %s", wm_strerror(err));
		return;
	}
	keep_provider(f, kp);
}

static void on_tick(uv_timer_t *t)
{
	struct wm_relay_find *f = t->data;
	uint64_t now = uv_now(t->loop);
	struct wm_relay_svc *rs = wm_p2p_relay_svc(f->host);
	size_t held = wm_relay_svc_held(rs);

	/* Only a reservation that lasted: one granted and dropped at once
	 * would otherwise keep lookups at their shortest interval. */
	if (wm_relay_svc_held_long(rs, WM_RELAY_FIND_SETTLED_MS))
		f->misses = 0;
	if (f->stopped || f->looking || wm_dht_table_size(f->dht) == 0 ||
	    (f->looked && now < wm_relay_find_next(f->last_ms, held, f->misses)))
		return;
	/* looking first: the lookup may end inside the call. */
	f->looking = true;
	f->nfound = 0;
	int rc = wm_dht_find_providers(f->dht, f->key, sizeof(f->key), WM_RELAY_FIND_ASK,
				       on_provider, f);
	if (rc) {
		f->looking = false;
		f->looked = true;
		f->last_ms = now;
		f->misses += f->misses < 64;
		wm_debug("libp2p: relay lookup not started: %s", wm_strerror(rc));
	}
}

int wm_relay_find_new(struct wm_p2p *host, struct wm_dht *dht, bool relay,
		      struct wm_relay_find **out)
{
	struct wm_relay_find *f = calloc(1, sizeof(*f));
	int rc;

	if (!f)
		return -ENOMEM;
	f->host = host;
	f->dht = dht;
	wm_relay_dht_key(f->key);
	if (relay && (rc = wm_dht_provide(dht, f->key, sizeof(f->key)))) {
		free(f);
		return rc;
	}
	uv_timer_init(wm_p2p_loop(host), &f->timer);
	f->timer.data = f;
	/* A relay reserves on no other: it only announces. */
	if (!relay) {
		uv_timer_start(&f->timer, on_tick, TICK_MS, TICK_MS);
		uv_unref((uv_handle_t *)&f->timer);
	}
	*out = f;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	struct wm_relay_find *f = h->data;

	f->closed = true;
	if (f->freeing) {
		void (*cb)(void *) = f->done_cb;
		void *data = f->done_data;
		free(f);
		if (cb)
			cb(data);
	}
}

void wm_relay_find_stop(struct wm_relay_find *f)
{
	if (!f || f->stopped)
		return;
	f->stopped = true;
	uv_close((uv_handle_t *)&f->timer, on_closed);
}

void wm_relay_find_free(struct wm_relay_find *f, void (*done_cb)(void *data), void *data)
{
	if (!f) {
		if (done_cb)
			done_cb(data);
		return;
	}
	wm_relay_find_stop(f);
	if (!f->closed) {
		f->freeing = true;
		f->done_cb = done_cb;
		f->done_data = data;
		return;
	}
	free(f);
	if (done_cb)
		done_cb(data);
}
