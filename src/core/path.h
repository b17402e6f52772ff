/* The per-peer path state machine (pure): whether WireGuard reaches a peer at
 * its direct endpoints or over ICE (whose selected pair may be a TURN relay),
 * when ICE sessions start, fail, are retried with backoff, and when a pair on
 * ICE probes the direct path and returns to it.
 *
 * The node feeds it events (what WireGuard and ICE were seen to do, signals
 * from the peer, attribute changes, time passing) and carries out the actions
 * it returns (open or close the ICE relay, start or stop a session, send a
 * signal, re-point WireGuard, kick a handshake). Time (a monotonic clock in
 * milliseconds) and randomness come in with every event; nothing here reads
 * a clock, a socket or a device. The rule that moves a direct pair to ICE is
 * wm_ice_decide's (core/nat.h), called from here.
 *
 * States:
 *   TRYING     at the direct endpoints, waiting for a handshake there
 *   DIRECT     a handshake (or authenticated traffic) came at the direct
 *              endpoints: stays until the peer's endpoints change or an
 *              offer or an ice edge asks for ICE
 *   ICE_WAIT   on ICE (WireGuard points at the loopback relay), no session:
 *              the retry timer runs
 *   OFFERING   our offer is out (we are controlling), waiting for the answer
 *   CHECKING   both sides' parameters known, connectivity checks running
 *   CONNECTED  a candidate pair works (direct or through a TURN relay)
 *   PROBING    connected, with WireGuard pointed at the direct endpoints for
 *              a short window to see whether the direct path works again
 *
 * Return to direct. The probe is WireGuard's own traffic: for the window,
 * WireGuard sends to the peer's direct endpoint instead of the relay (the ICE
 * session stays up underneath). WireGuard roams: every authenticated packet
 * moves a peer's endpoint to where it came from. If the direct path works,
 * the peer's WireGuard roams to our direct address and its packets then come
 * from there, so our device still shows the direct endpoint with the receive
 * counter grown: the pair is direct. If it does not, the peer keeps sending
 * over ICE and our WireGuard roams back to the relay by itself (or the
 * window ends and we point it back): a failed probe costs at most the window
 * (or the peer's keepalive interval, if shorter) of packets in one direction.
 * The peer, on its side, sees its WireGuard endpoint for us leave the relay
 * with traffic coming in, and follows (RETURNED). Only one side probes: the
 * one that sees a public endpoint on the other (both public: the controlling
 * side), never on an edge marked ice. Probes back off from
 * WM_PATH_PROBE_FIRST_MS doubling to WM_PATH_PROBE_MAX_MS, plus up to a
 * quarter of jitter.
 *
 * WireGuard over libp2p (issue 11) rides on top of these states, as a flag
 * rather than a state of its own, because ICE keeps retrying underneath: a
 * pair carries WireGuard over a libp2p stream (/webmesh/wg/1.0.0, through a
 * loopback relay as for ICE) when both sides speak libp2p and either its
 * edge is marked libp2p=true, or its direct path timed out with no ICE to
 * try, or ICE failed at least once. It leaves libp2p when ICE connects, when
 * the peer's packets come over the direct path again (the peer returned),
 * or when a probe of the direct path works: as with ICE, one side (the one
 * that can send to a public endpoint of the other; both or neither: the
 * controlling side) points WireGuard at the direct endpoint for
 * WM_PATH_PROBE_WINDOW_MS, first WM_PATH_P2P_PROBE_FIRST_MS after libp2p
 * began, doubling up to WM_PATH_P2P_PROBE_MAX_MS (shorter than ICE's: a
 * pair on libp2p pays TCP and a userspace hop, so the way back matters
 * more). An edge marked libp2p is never probed away from it. The side whose
 * timeout has not fired yet follows a peer that opens a WireGuard stream to
 * it (EV_P2P_PEER), as it follows an ICE offer. */
#ifndef WM_CORE_PATH_H
#define WM_CORE_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/nat.h"

#define WM_PATH_KICK_FIRST_MS 1000	 /* first handshake kick at new endpoints */
#define WM_PATH_OFFER_TIMEOUT_MS 15000	 /* an offer without an answer */
#define WM_PATH_CONNECT_TIMEOUT_MS 30000 /* a session without a working pair */
/* Connected, no packet from the path this long: it is dead. Only the
 * controlled side can judge so soon: it hears the controlling side's
 * keepalive every WM_PATH_KEEPALIVE_LEAD_S, but WireGuard restarts a
 * persistent keepalive's timer at every packet it sends or receives, so the
 * controlling side's keepalives keep the other's from ever firing and an
 * idle pair's controlling side hears nothing (an idle ICE pair was torn down
 * and set up again every 17-20 s). The controlled side's bye tells it; on
 * its own, idle, it is only sure to hear WireGuard's handshake, which its
 * keepalive forces once the session is REJECT_AFTER_TIME (180 s) old... */
#define WM_PATH_SILENT_MS 16000
#define WM_PATH_SILENT_LEAD_MS 200000
/* ... but what it sends that asks for an answer (data: the peer's
 * WireGuard answers within 10 s even with nothing to say; a handshake
 * message) must be answered: unanswered this long, the path is dead there
 * too. Beyond WireGuard's own 15 s, after which it starts a handshake when
 * data went unanswered (a peer that lost its session answers that). */
#define WM_PATH_UNANSWERED_MS 25000
/* WireGuard's persistent keepalive on a pair over ICE or libp2p, so that a
 * dead path shows as silence. The two sides use different intervals:
 * keepalives are not jittered, and two timers started together would make
 * both sides start their handshakes at the same moment, every time - each
 * then drops the other's response (its own handshake state was replaced by
 * answering the other's initiation) and no session ever forms. */
#define WM_PATH_KEEPALIVE_LEAD_S 5 /* the controlling side */
#define WM_PATH_KEEPALIVE_OTHER_S 7
#define WM_PATH_SIGNAL_WAIT_MS 1000  /* no server to signal through: again */
#define WM_PATH_PROBE_FIRST_MS 15000 /* first probe after ICE connected */
#define WM_PATH_PROBE_MAX_MS 480000
#define WM_PATH_PROBE_WINDOW_MS 4000	 /* how long WireGuard tries direct */
#define WM_PATH_POLL_MS 1000		 /* observations while they matter */
#define WM_PATH_P2P_PROBE_FIRST_MS 10000 /* first probe of direct after libp2p began */
#define WM_PATH_P2P_PROBE_MAX_MS 60000
#define WM_PATH_P2P_RETRY_MS 5000 /* libp2p could not be opened: again after */
/* Back on direct from libp2p: the peer's streams are not followed for this
 * long, while it sees the direct path work and returns too (no flapping). */
#define WM_PATH_P2P_FOLLOW_HOLD_MS 10000

enum wm_path_state {
	WM_PATH_TRYING = 0,
	WM_PATH_DIRECT,
	WM_PATH_ICE_WAIT,
	WM_PATH_OFFERING,
	WM_PATH_CHECKING,
	WM_PATH_CONNECTED,
	WM_PATH_PROBING,
	WM_PATH_N_STATES,
};
const char *wm_path_state_name(int state);

/* What the node knows about the pair from its configuration and the peer
 * set (EV_ATTRS). */
struct wm_path_attrs {
	bool ice_edge;		       /* the edge is marked ice=true (or ICE is forced) */
	bool self_public;	       /* this node advertises a public endpoint */
	bool peer_public;	       /* the peer advertises one */
	bool ice_available;	       /* the ICE module is up */
	bool traversal;		       /* this node has STUN or TURN servers */
	uint32_t handshake_timeout_ms; /* 0: never leave direct on a timeout */
	uint64_t endpoints_hash;       /* of the peer's advertised endpoints */
	bool p2p_edge;		       /* the edge is marked libp2p=true */
	bool p2p_available;	       /* our libp2p host is up and the peer published a peer ID */
	bool peer_direct;	       /* the peer advertises an endpoint (a probe has a target) */
};

/* What the node saw on the WireGuard device and the ICE session (EV_TICK).
 * Times on the same monotonic clock as now. */
struct wm_path_obs {
	bool have_wg;		   /* the device was read: the fields below are valid */
	bool on_device;		   /* the peer is on the device */
	int64_t last_handshake_ms; /* 0: never */
	uint64_t rx_bytes;
	bool endpoint_relay;	/* WireGuard's endpoint for the peer is our relay */
	int64_t ice_rx_idle_ms; /* since a packet came over the ICE path; -1: never */
	/* since WireGuard sent over it what its peer answers (not a
	 * keepalive) and nothing came back; -1: all answered */
	int64_t ice_unanswered_ms;
	bool can_signal;   /* a server to signal through exists now */
	bool endpoint_p2p; /* WireGuard's endpoint for the peer is our libp2p relay */
};

enum wm_path_event_type {
	WM_PATH_EV_ATTRS = 1,	 /* attrs: the peer set or our endpoints changed */
	WM_PATH_EV_TICK,	 /* obs: time passed; what the node sees now */
	WM_PATH_EV_OFFER,	 /* session: an offer from the peer (valid params) */
	WM_PATH_EV_ANSWER,	 /* session: the answer to an offer */
	WM_PATH_EV_BYE,		 /* session: the peer ended a session */
	WM_PATH_EV_LOCAL_PARAMS, /* session: our candidates are gathered */
	WM_PATH_EV_CONNECTED,	 /* session: ICE found a working pair */
	WM_PATH_EV_FAILED,	 /* session: ICE failed, or the session did not start */
	WM_PATH_EV_RELAY_FAILED, /* the relay could not be opened: stay direct */
	WM_PATH_EV_P2P_FAILED,	 /* the libp2p relay could not be opened */
	WM_PATH_EV_P2P_PEER,	 /* the peer opened a WireGuard stream to us */
};

struct wm_path_event {
	int type; /* enum wm_path_event_type */
	uint64_t session;
	const struct wm_path_attrs *attrs; /* EV_ATTRS */
	const struct wm_path_obs *obs;	   /* EV_TICK */
};

/* What the node must do, in this order. */
enum wm_path_do {
	WM_PATH_DO_OPEN_RELAY = 1u << 0,  /* open the peer's ICE relay */
	WM_PATH_DO_STOP_ICE = 1u << 1,	  /* end the running session */
	WM_PATH_DO_START_ICE = 1u << 2,	  /* session, controlling; controlled:
					     with the offer's parameters */
	WM_PATH_DO_SET_REMOTE = 1u << 3,  /* give the answer's parameters */
	WM_PATH_DO_SEND_OFFER = 1u << 4,  /* the local parameters, for session */
	WM_PATH_DO_SEND_ANSWER = 1u << 5, /* the local parameters, for session */
	WM_PATH_DO_SEND_BYE = 1u << 6,	  /* for session */
	WM_PATH_DO_CLOSE_RELAY = 1u << 7, /* the pair is direct again */
	WM_PATH_DO_KICK = 1u << 8,	  /* make WireGuard send to the peer now */
	WM_PATH_DO_ENDPOINT = 1u << 9,	  /* where WireGuard sends changed: rewrite
					     the peer (wm_path_uses_p2p, then
					     wm_path_uses_relay) and apply */
	WM_PATH_DO_OPEN_P2P = 1u << 10,	  /* open the peer's libp2p relay and stream */
	WM_PATH_DO_CLOSE_P2P = 1u << 11,  /* WireGuard leaves libp2p */
};

struct wm_path_actions {
	unsigned flags; /* enum wm_path_do */
	uint64_t session;
	bool controlling;
	const char *why;   /* a state change's reason, for the log; NULL: none */
	uint32_t delay_ms; /* a retry or probe was scheduled this far ahead */
};

struct wm_path {
	int state;	  /* enum wm_path_state */
	bool controlling; /* this side leads the pair (smaller node ID) */
	struct wm_path_attrs attrs;
	int reason;	       /* enum wm_ice_reason: why the pair went to ICE */
	int64_t since_ms;      /* TRYING: at these endpoints since */
	unsigned kicks;	       /* TRYING: handshake kicks done */
	uint64_t session;      /* 0: none */
	int64_t session_ms;    /* when it started */
	unsigned attempt;      /* ICE retries since the last success */
	unsigned probes;       /* failed probes since ICE connected */
	int64_t wake_ms;       /* the timer: retry, probe; 0 none */
	int64_t probe_ms;      /* PROBING: started at */
	bool sess_controlling; /* the running session is ours (we offered) */
	bool relay_seen;       /* WireGuard was seen at the relay since ICE began */
	uint64_t probe_rx;     /* PROBING: rx bytes then */
	uint64_t rx_seen;      /* rx bytes at the last observation */
	bool rx_known;
	bool returned;		/* DIRECT after ICE: WireGuard's roamed endpoint is the one
				   to keep (the advertised one may be unreachable) */
	bool direct_failed;	/* TRYING: the handshake timeout passed without one */
	bool p2p;		/* WireGuard goes over libp2p (the libp2p relay is open) */
	bool p2p_probing;	/* and is pointed at the direct endpoint for a probe */
	bool p2p_seen;		/* WireGuard was seen at the libp2p relay */
	unsigned p2p_probes;	/* failed probes since libp2p began */
	int64_t p2p_wake_ms;	/* the next probe; 0: none */
	int64_t p2p_probe_ms;	/* the running probe started at */
	uint64_t p2p_probe_rx;	/* rx bytes then */
	int64_t p2p_blocked_ms; /* libp2p failed to open: not before this */
	bool p2p_peer;		/* the peer put the pair on libp2p (EV_P2P_PEER) */
	int64_t p2p_direct_ms;	/* libp2p was left for the direct path then */
};

/* WireGuard's persistent keepalive interval for this side of a pair that
 * goes over ICE or libp2p, in seconds. */
uint16_t wm_path_keepalive_s(const struct wm_path *p);

/* A new pair, at its direct endpoints since now. controlling: this side has
 * the smaller node ID (wm_ice_controlling). */
void wm_path_init(struct wm_path *p, bool controlling, const struct wm_path_attrs *attrs,
		  int64_t now_ms);

/* Feeds one event. rnd is fresh randomness (session IDs, jitter). Fills out
 * (zeroed first). */
void wm_path_step(struct wm_path *p, const struct wm_path_event *ev, int64_t now_ms, uint64_t rnd,
		  struct wm_path_actions *out);

/* The relay is open (any ICE state and PROBING). */
bool wm_path_on_ice(const struct wm_path *p);
/* WireGuard should send to the relay (with the ICE keepalive): on ICE and
 * not probing. */
bool wm_path_uses_relay(const struct wm_path *p);
/* The pair is carried over libp2p (the libp2p relay is open), probing or
 * not: what status reports, since a probe of the direct path is a trial
 * and not the path. */
bool wm_path_on_p2p(const struct wm_path *p);
/* WireGuard should send to the libp2p relay: carried over libp2p and not
 * probing. Comes before wm_path_uses_relay (ICE may be retrying underneath,
 * with its relay open). */
bool wm_path_uses_p2p(const struct wm_path *p);
/* When the machine wants its next EV_TICK: the armed timer (a retry, a
 * probe, a timeout), or now + WM_PATH_POLL_MS while observations matter
 * (trying, on ICE). 0: nothing to wait for (direct). */
int64_t wm_path_next_ms(const struct wm_path *p, int64_t now_ms);
/* The machine will look at the WireGuard fields of the next observation. */
bool wm_path_wants_wg(const struct wm_path *p, int64_t now_ms);

/* Delay before probe number n (0 = the first) of the direct path: 15 s
 * doubling up to 480 s, plus up to a quarter more from jitter (0..65535). */
uint32_t wm_path_probe_backoff_ms(unsigned n, uint16_t jitter);
/* The same for probes from libp2p: 10 s doubling up to 60 s, plus jitter. */
uint32_t wm_path_p2p_probe_backoff_ms(unsigned n, uint16_t jitter);

#endif
