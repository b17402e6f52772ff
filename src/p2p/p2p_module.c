/* The entry of webmesh-p2p.so: the host (host.c, with circuit relay) with
 * the DHT (dht.c), relays found through it (relayfind.c), rendezvous
 * (rendezvous.c) and WireGuard links (wglink.c) on it, behind the table of p2p_module.h, the
 * only symbol the module exports. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"

#include "p2p/dht.h"
#include "p2p/p2p_module.h"
#include "p2p/relayfind.h"
#include "p2p/rendezvous.h"

/* What the daemon's handle stands for. */
struct node {
	struct wm_p2p *host;
	struct wm_dht *dht;
	struct wm_rdv *rdv;
	struct wm_relay_find *rf;
	void (*done_cb)(void *data);
	void *done_data;
};

static void node_free_now(struct node *n)
{
	void (*cb)(void *) = n->done_cb;
	void *data = n->done_data;

	free(n);
	if (cb)
		cb(data);
}

static void rf_freed(void *data)
{
	node_free_now(data);
}

static void dht_freed(void *data)
{
	struct node *n = data;

	wm_relay_find_free(n->rf, rf_freed, n);
}

static void rdv_freed(void *data)
{
	struct node *n = data;

	wm_dht_free(n->dht, dht_freed, n);
}

/* The streams' last callbacks reach the DHT and rendezvous while the host
 * closes: they go after it. */
static void host_freed(void *data)
{
	struct node *n = data;

	wm_rdv_free(n->rdv, rdv_freed, n);
}

static int p2p_new(const struct wm_p2p_config *cfg, void **out, char *err, size_t errlen)
{
	struct node *n = calloc(1, sizeof(*n));
	int rc;

	*out = NULL;
	if (!n)
		return -ENOMEM;
	if ((rc = wm_p2p_new(cfg, &n->host, err, errlen))) {
		free(n);
		return rc;
	}
	struct wm_dht_config dc = {
		.providers_max = cfg->dht_providers_max,
		.providers_per_key = cfg->dht_providers_per_key,
		.provider_ttl_s = cfg->dht_provider_ttl_s,
		.requests_per_s = cfg->dht_requests_per_s,
		.requests_per_stream = cfg->dht_requests_per_stream,
		.max_requests = cfg->dht_max_requests,
		.max_lookups = cfg->dht_max_lookups,
		.query_timeout_ms = cfg->dht_query_timeout_ms,
		.lookup_timeout_ms = cfg->dht_lookup_timeout_ms,
	};
	struct wm_rdv_config rc_ = {
		.announce_secret = cfg->announce_rendezvous,
		.api_addr = cfg->api_addr,
		.max_pipes = cfg->rdv_max_pipes,
		.handshake_ms = cfg->rdv_handshake_ms,
		.handshakes_per_peer = cfg->rdv_handshakes_per_peer,
	};
	if ((rc = wm_dht_new(n->host, &dc, &n->dht))) {
		snprintf(err, errlen, "libp2p: cannot start the DHT");
		goto fail;
	}
	if ((rc = wm_relay_find_new(n->host, n->dht, cfg->relay, &n->rf))) {
		snprintf(err, errlen, "libp2p: cannot announce or look up relays in the DHT: %s",
			 wm_strerror(rc));
		goto fail;
	}
	rc_.host = n->host;
	rc_.dht = n->dht;
	if ((rc = wm_rdv_new(&rc_, &n->rdv, err, errlen)))
		goto fail;
	*out = n;
	return 0;
fail:
	/* Everything closes on the loop; the caller runs it until done. */
	wm_relay_find_stop(n->rf);
	wm_dht_stop(n->dht);
	n->done_cb = NULL;
	wm_p2p_free(n->host, host_freed, n);
	return rc;
}

static void p2p_free(void *p, void (*done_cb)(void *data), void *data)
{
	struct node *n = p;

	n->done_cb = done_cb;
	n->done_data = data;
	wm_relay_find_stop(n->rf);
	wm_rdv_stop(n->rdv);
	wm_dht_stop(n->dht);
	wm_p2p_free(n->host, host_freed, n);
}

static void p2p_status(const void *p, struct wm_p2p_status *out)
{
	const struct node *n = p;

	wm_p2p_status(n->host, out);
	out->dht_peers = (uint32_t)wm_dht_table_size(n->dht);
	out->dht_records = (uint32_t)wm_dht_records(n->dht);
	wm_rdv_server(n->rdv, out->rendezvous_server, sizeof(out->rendezvous_server));
}

static int p2p_join_rendezvous(void *p, const char *secret,
			       void (*cb)(void *ud, const char *hostport), void *ud)
{
	return wm_rdv_join(((struct node *)p)->rdv, secret, cb, ud);
}

static int wg_open(void *p, const char *peer_id, char *const *addrs, size_t naddrs,
		   uint16_t wg_port, void **out, uint16_t *relay_port, char *err, size_t errlen)
{
	struct wm_p2p_wg *w = NULL;
	int rc = wm_p2p_wg_open(((struct node *)p)->host, peer_id, addrs, naddrs, wg_port, &w,
				relay_port, err, errlen);

	*out = w;
	return rc;
}

static void wg_close(void *w)
{
	wm_p2p_wg_close(w);
}

static void wg_status(const void *w, struct wm_p2p_wg_status *out)
{
	wm_p2p_wg_status(w, out);
}

static void wg_listen(void *p, int (*incoming)(void *data, const char *peer_id), void *data)
{
	wm_p2p_wg_listen(((struct node *)p)->host, incoming, data);
}

__attribute__((visibility("default"))) const struct wm_p2p_module wm_p2p_module_v1 = {
	.header = {.abi = WM_P2P_MODULE_ABI, .size = sizeof(struct wm_p2p_module)},
	.config_size = sizeof(struct wm_p2p_config),
	.status_size = sizeof(struct wm_p2p_status),
	.p2p_new = p2p_new,
	.p2p_free = p2p_free,
	.p2p_status = p2p_status,
	.p2p_join_rendezvous = p2p_join_rendezvous,
	.wg_status_size = sizeof(struct wm_p2p_wg_status),
	.wg_open = wg_open,
	.wg_close = wg_close,
	.wg_status = wg_status,
	.wg_listen = wg_listen,
};
