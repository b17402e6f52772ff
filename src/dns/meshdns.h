/* MeshDNS, the daemon component: answers DNS over UDP and TCP on one address
 * from the latest zone snapshot (zone.h), rebuilt after each change of the
 * mesh. The component owns its sockets, timers and one thread: zones are
 * built on the caller's loop, queries answered on the thread (its own loop),
 * so an answer never waits for the daemon's work. What it serves comes from
 * the callbacks given at init, so it knows nothing of the store or the
 * daemon. Names outside the zone get REFUSED, or are passed to the first
 * forwarder when some are configured (a UDP query over UDP, a TCP query over
 * TCP; SERVFAIL if the forwarder does not answer in 3 s). */
#ifndef WM_DNS_MESHDNS_H
#define WM_DNS_MESHDNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/net.h"
#include "dns/zone.h"

#define WM_MESHDNS_MAX_FORWARDERS 4

struct wm_meshdns_config {
	uv_loop_t *loop;
	struct wm_endpoint listen; /* UDP and TCP */
	struct wm_endpoint forwarders[WM_MESHDNS_MAX_FORWARDERS];
	size_t n_forwarders;
	/* A new sealed zone from the current state (the component frees it,
	 * possibly on its thread: it must not be written after). Called on the
	 * loop after wm_meshdns_changed (coalesced) and when
	 * version changes. */
	int (*load)(void *data, struct wm_dns_zone **out);
	/* Cheap: something that changes when the zone would though no change
	 * was reported (the leader, which is not in the change feed). Polled
	 * every 250 ms; NULL = never. */
	uint64_t (*version)(void *data);
	void *data;
};

struct wm_meshdns_stats {
	uint64_t queries, answered, refused, forwarded, dropped, truncated, reloads;
};

struct wm_meshdns;

/* Checks cfg and allocates; no socket yet. -EINVAL (err says why), -ENOMEM. */
int wm_meshdns_init(const struct wm_meshdns_config *cfg, struct wm_meshdns **out, char *err,
		    size_t errlen);
/* Binds UDP and TCP on the listen address and loads the first zone.
 * -EADDRINUSE, -EADDRNOTAVAIL... with err naming the address. */
int wm_meshdns_start(struct wm_meshdns *m, char *err, size_t errlen);
/* The state changed: reload soon (several changes within 20 ms: once). */
void wm_meshdns_changed(struct wm_meshdns *m);
void wm_meshdns_stats(const struct wm_meshdns *m, struct wm_meshdns_stats *out);
/* Stops the DNS thread (joined here: it ends within one turn of its loop),
 * closes every handle and frees m; done_cb (may be NULL) runs after the last
 * close callback on the caller's loop (at once if m was never started).
 * NULL m: done_cb is not called. */
void wm_meshdns_close(struct wm_meshdns *m, void (*done_cb)(void *data), void *data);

#endif
