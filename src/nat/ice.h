/* ICE (RFC 8445) with libnice for WireGuard peers that cannot reach each other
 * directly, and the loopback relay that carries each such peer's WireGuard
 * packets over the selected candidate pair.
 *
 * libnice is GLib-based and the daemon is libuv-based: a wm_ice owns a thread
 * running a GMainContext of its own, where every NiceAgent and every relay
 * socket live; the packet path (relay <-> agent) never leaves that thread.
 * The libuv side gives commands (posted to the GLib context) and receives
 * events through a thread-safe queue and a uv_async_t, on its own loop.
 *
 * One wm_ice_peer per peer that goes over ICE: it owns the relay socket, whose
 * port stays the same across ICE sessions, so WireGuard's endpoint for the
 * peer never changes. A session is one NiceAgent (one stream, one component,
 * UDP only: UPnP and ICE-TCP off), started as the controlling side (the
 * offerer) or the controlled side (with the offer's parameters).
 *
 * All functions are called from the libuv loop's thread.
 */
#ifndef WM_NAT_ICE_H
#define WM_NAT_ICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/nat.h"
#include "core/net.h"
#include "nat/turncred.h"

#define WM_ICE_MAX_TURN 4
#define WM_ICE_MAX_LOCAL_ADDRS 16

/* The parameters one side sends the other: credentials and candidates, the
 * candidates as SDP attribute lines (RFC 8839) as libnice writes them. */
struct wm_ice_params {
	char ufrag[WM_ICE_UFRAG_MAX + 1];
	char pwd[WM_ICE_PWD_MAX + 1];
	char cand[WM_ICE_MAX_CANDIDATES][WM_ICE_CANDIDATE_MAX + 1];
	size_t n_cand;
};

/* A TURN server with the credentials to use for it (wiped by the module). */
struct wm_ice_turn {
	struct wm_endpoint addr; /* numeric: resolve names before */
	char username[WM_TURN_USERNAME_MAX];
	char password[WM_TURN_USERNAME_MAX];
};

enum wm_ice_state {
	WM_ICE_IDLE = 0,  /* no session */
	WM_ICE_GATHERING, /* collecting local candidates */
	WM_ICE_CHECKING,  /* candidates exchanged, connectivity checks running */
	WM_ICE_CONNECTED, /* a pair works: packets flow */
	WM_ICE_FAILED,	  /* no pair works, or the selected one stopped working */
};
const char *wm_ice_state_name(int state);

struct wm_ice;
struct wm_ice_peer;

enum wm_ice_event_type {
	WM_ICE_EV_LOCAL_PARAMS, /* gathering is done: send params to the peer */
	WM_ICE_EV_STATE,	/* the session's state changed */
};

struct wm_ice_event {
	int type; /* enum wm_ice_event_type */
	struct wm_ice_peer *peer;
	void *peer_data; /* as given to wm_ice_peer_open */
	uint64_t session;
	int state;			    /* enum wm_ice_state */
	const struct wm_ice_params *params; /* LOCAL_PARAMS; borrowed for the callback */
	const char *error;		    /* FAILED: why, when known; may be NULL */
};

struct wm_ice_config {
	uv_loop_t *loop;
	uint16_t wg_port;	 /* WireGuard listens on it (127.0.0.1 included) */
	struct wm_endpoint stun; /* numeric STUN server; ip.family 0: none */
	bool force_relay;	 /* only relayed candidates (tests, benchmarks) */
	/* Events of every peer, on the loop; the peer may be closed from it. */
	void (*event_cb)(void *data, const struct wm_ice_event *ev);
	void *data;
};

/* Starts the GLib thread. err says why on failure. */
int wm_ice_new(const struct wm_ice_config *cfg, struct wm_ice **out, char *err, size_t errlen);
/* Closes every peer still open (no more events), deallocates TURN allocations
 * (bounded: 1 s), stops the thread and frees ice once the loop has run on;
 * done_cb (may be NULL) runs from the loop when all of it is gone. */
void wm_ice_free(struct wm_ice *ice, void (*done_cb)(void *data), void *data);

/* Creates the peer's relay socket; *relay_port is WireGuard's endpoint port
 * for the peer (127.0.0.1). peer_id (a node ID) names it in logs. -errno. */
int wm_ice_peer_open(struct wm_ice *ice, const char *peer_id, void *peer_data,
		     struct wm_ice_peer **out, uint16_t *relay_port);
/* Ends the session, closes the relay and forgets the peer: no event for it
 * is delivered after this returns. */
void wm_ice_peer_close(struct wm_ice_peer *p);

struct wm_ice_session_config {
	uint64_t session;		     /* non-zero; names the session in events */
	bool controlling;		     /* the offerer */
	const struct wm_prefix *local_addrs; /* host candidate addresses (never the
						WireGuard interface's); none: libnice's own list */
	size_t n_local_addrs;
	const struct wm_ice_turn *turn;
	size_t n_turn;
	const struct wm_ice_params *remote; /* the controlled side: the offer */
};

/* Starts a new session, ending the current one: gathers candidates, then a
 * LOCAL_PARAMS event. The controlled side (remote given) starts checking at
 * once after gathering; the controlling side when wm_ice_peer_set_remote
 * gives it the answer. -EINVAL (session 0, too many addresses or servers),
 * -ENOMEM. Failures later arrive as a FAILED state event. */
int wm_ice_peer_start(struct wm_ice_peer *p, const struct wm_ice_session_config *sc);
/* The answer for session (ignored when another session runs by then). */
int wm_ice_peer_set_remote(struct wm_ice_peer *p, uint64_t session,
			   const struct wm_ice_params *remote);
/* Ends the current session, keeping the relay (packets are dropped). */
void wm_ice_peer_stop(struct wm_ice_peer *p);

/* A candidate as status shows it: "host" and "10.0.0.2:50000". */
#define WM_ICE_STATUS_MAX_CAND 8
struct wm_ice_status_cand {
	char type[8];
	char addr[WM_ENDPOINT_STRLEN];
};

struct wm_ice_status {
	uint64_t session; /* 0: none */
	int state;	  /* enum wm_ice_state */
	bool controlling;
	unsigned sessions; /* sessions started on this peer so far */
	/* The selected pair; types "host", "srflx", "prflx", "relay" (empty: none). */
	char local_type[8], remote_type[8];
	char local_addr[WM_ENDPOINT_STRLEN], remote_addr[WM_ENDPOINT_STRLEN];
	bool relayed; /* either candidate of the pair is a TURN relay */
	uint16_t relay_port;
	uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes, dropped;
	int64_t rx_idle_ms; /* since a packet last came from the path; -1: never */
	/* since WireGuard sent something the peer answers (not a keepalive)
	 * and nothing came back; -1: all answered */
	int64_t unanswered_ms;
	/* The session's gathered candidates and those the peer sent (the first
	 * WM_ICE_STATUS_MAX_CAND of each), so that a pair that stays checking
	 * or fails shows what was tried. */
	struct wm_ice_status_cand local_cands[WM_ICE_STATUS_MAX_CAND];
	struct wm_ice_status_cand remote_cands[WM_ICE_STATUS_MAX_CAND];
	size_t n_local_cands, n_remote_cands;
};
void wm_ice_peer_status(const struct wm_ice_peer *p, struct wm_ice_status *out);

/* Parses "a=candidate:..." lines' basic shape (for signals received over the
 * network before they reach libnice): printable ASCII, at most
 * WM_ICE_CANDIDATE_MAX characters. 0 or -EINVAL. */
int wm_ice_candidate_check(const char *line);

#endif
