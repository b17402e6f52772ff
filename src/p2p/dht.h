/* The Kademlia DHT (/ipfs/kad/1.0.0) on the libp2p host: the server side
 * (FIND_NODE, GET_PROVIDERS, ADD_PROVIDER, PING) with a bounded provider
 * store, and iterative lookups (alpha queries at a time, each and the whole
 * lookup bounded in time) to find providers of a key and to announce
 * ourselves as one. Peers enter the routing table when identify shows they
 * speak the protocol, and when they answer us; the bootstrap peers are the
 * host's --libp2p-peers. Runs on the host's loop. The pure parts are
 * src/core/kad.c. */
#ifndef WM_P2P_DHT_H
#define WM_P2P_DHT_H

#include <stddef.h>
#include <stdint.h>

#include "core/kad.h"
#include "p2p/host.h"

struct wm_dht_config {
	uint32_t providers_max;	      /* records kept over all keys; 0: 1024 */
	uint32_t providers_per_key;   /* records kept per key; 0: 20 */
	uint32_t provider_ttl_s;      /* a record's life (ours renewed within it); 0: 24 h */
	uint32_t query_timeout_ms;    /* one request to one peer; 0: 5000 */
	uint32_t lookup_timeout_ms;   /* a whole lookup; 0: 30000 */
	uint32_t requests_per_s;      /* served to all peers together; 0: 200 */
	uint32_t requests_per_stream; /* served on one inbound stream; 0: 16 */
	uint32_t max_requests;	      /* ours in flight, over all lookups; 0: 64 */
	uint32_t max_lookups;	      /* ours at once, more are refused; 0: 16 */
};

struct wm_dht;

/* Registers the protocol on the host. 0, -ENOMEM, -ENOSPC. */
int wm_dht_new(struct wm_p2p *host, const struct wm_dht_config *cfg, struct wm_dht **out);
/* Stops every lookup (their callbacks get -ECANCELED) and starts no new
 * stream; call before freeing the host, and free the DHT after the host's
 * done callback (its streams' last callbacks reach the DHT). */
void wm_dht_stop(struct wm_dht *d);
void wm_dht_free(struct wm_dht *d, void (*done_cb)(void *data), void *data);

/* A provider found (peer with its addresses), or, with p NULL, the end of
 * the lookup: err 0 (done), -ETIMEDOUT, -ENOENT (no peer to ask), -ECANCELED. */
typedef void (*wm_dht_providers_cb)(void *ud, const struct wm_kad_peer *p, int err);

/* Announces us as a provider of key (a multihash, up to WM_KAD_KEY_MAX
 * bytes) to the k peers nearest to it, as soon as the table has a peer and
 * then every 10 minutes (or provider_ttl_s / 2 if shorter).
 * 0, -EINVAL, -ENOSPC (at most 8 keys). */
int wm_dht_provide(struct wm_dht *d, const uint8_t *key, size_t len);
/* Looks up providers of key: cb once per distinct provider (at most max),
 * then once with NULL. 0, or -EINVAL, -ENOMEM, -ESHUTDOWN with no call. */
int wm_dht_find_providers(struct wm_dht *d, const uint8_t *key, size_t len, size_t max,
			  wm_dht_providers_cb cb, void *ud);
/* Peers in the routing table; provider records stored (ours included). */
size_t wm_dht_table_size(const struct wm_dht *d);
size_t wm_dht_records(const struct wm_dht *d);

#endif
