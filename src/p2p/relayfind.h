/* Relays found through the DHT (issue 11): a node started as a relay
 * (--libp2p-relay) announces itself as a provider of one well-known key;
 * every other libp2p node looks up that key's providers once its DHT has a
 * peer, then every 5 minutes (sooner while it holds no reservation: from
 * 10 s, backing off), and hands each provider to the relay service
 * (wm_relay_svc_found), which dials and reserves on it as on a configured
 * relay. Runs on the host's loop; p2p_module.c wires it. */
#ifndef WM_P2P_RELAYFIND_H
#define WM_P2P_RELAYFIND_H

#include <stdbool.h>
#include <stdint.h>

#include "p2p/dht.h"
#include "p2p/host.h"

#define WM_RELAY_KEY_LEN 34 /* a sha2-256 multihash: 0x12 0x20 and the value */

/* The key relays provide: SHA-256("webmesh relay dht v1") as a multihash. */
void wm_relay_dht_key(uint8_t out[WM_RELAY_KEY_LEN]);

struct wm_relay_find;

/* relay: we are one (announce, look up nothing). 0, -ENOMEM, or
 * wm_dht_provide's error. */
int wm_relay_find_new(struct wm_p2p *host, struct wm_dht *dht, bool relay,
		      struct wm_relay_find **out);
/* Looks up no more; call before the DHT is stopped (whose lookups then end
 * with -ECANCELED, ignored here). */
void wm_relay_find_stop(struct wm_relay_find *f);
/* After the DHT is freed: done_cb(data) once the timer is closed (NULL f:
 * at once). */
void wm_relay_find_free(struct wm_relay_find *f, void (*done_cb)(void *data), void *data);

#endif
