/* NAT traversal decisions (pure): stun:/turn: server URIs, when a pair of
 * nodes moves from direct WireGuard to ICE, which side leads the ICE
 * exchange, how long to wait before trying again, what STUN answers say about
 * the NAT, and which endpoints a node advertises. Time comes in as arguments. */
#ifndef WM_CORE_NAT_H
#define WM_CORE_NAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/net.h"

#define WM_STUN_DEFAULT_PORT 3478

/* ---- stun: and turn: URIs (RFC 7064, RFC 7065) ---- */

enum wm_ice_uri_scheme {
	WM_URI_NONE = 0, /* as default_scheme: a scheme is required */
	WM_URI_STUN = 1,
	WM_URI_TURN = 2,
};

struct wm_ice_uri {
	int scheme;	/* enum wm_ice_uri_scheme */
	char host[254]; /* a DNS name or a numeric address (IPv6 without brackets) */
	uint16_t port;	/* WM_STUN_DEFAULT_PORT when the URI has none */
};

/* Parses "stun:HOST[:PORT]" or "turn:HOST[:PORT][?transport=udp]"; IPv6
 * addresses in brackets. Without a scheme, default_scheme applies (WM_URI_NONE:
 * refused). Only plain UDP is supported: stuns:, turns: and transport=tcp are
 * refused. Returns 0 or -EINVAL with a static reason in *why (may be NULL). */
int wm_ice_uri_parse(const char *s, int default_scheme, struct wm_ice_uri *out, const char **why);
/* "turn:HOST:PORT" (brackets around IPv6); -ENOSPC when it does not fit. */
int wm_ice_uri_format(const struct wm_ice_uri *u, char *buf, size_t len);

/* ---- ICE parameters as they travel between nodes ---- */

#define WM_ICE_UFRAG_MAX 256
#define WM_ICE_PWD_MAX 256
#define WM_ICE_CANDIDATE_MAX 256 /* one "a=candidate:..." line */
#define WM_ICE_MAX_CANDIDATES 16

/* Checks what a peer sent before it reaches libnice: ufrag 4..256 and pwd
 * 22..256 ice-chars (RFC 8445 section 5.3: ALPHA / DIGIT / "+" / "/"), 1..16
 * candidates, each a printable-ASCII "a=candidate:" or "candidate:" line of at
 * most 256 characters. 0 or -EINVAL with a static reason in *why. */
int wm_ice_params_check(const char *ufrag, const char *pwd, char *const *cands, size_t n_cands,
			const char **why);

/* ---- when a pair uses ICE ---- */

/* Why a pair goes over ICE; WM_ICE_NOT_NEEDED means direct WireGuard. */
enum wm_ice_reason {
	WM_ICE_NOT_NEEDED = 0,
	WM_ICE_EDGE,	     /* the edge between the two is marked ice=true */
	WM_ICE_NO_PUBLIC,    /* neither side has a public endpoint */
	WM_ICE_TIMEOUT,	     /* no handshake at the direct endpoints in time */
	WM_ICE_PEER_STARTED, /* the peer started ICE with us */
	WM_ICE_STICKY,	     /* already on ICE: stays until the peer goes */
};

struct wm_ice_inputs {
	bool ice_edge;	    /* edge attribute ice=true */
	bool self_public;   /* this node advertises an endpoint with a public address */
	bool peer_public;   /* the peer advertises one */
	bool peer_started;  /* an offer from the peer arrived */
	bool on_ice;	    /* the pair already goes over ICE */
	bool ice_available; /* this node can do ICE now (module up, a server to signal
			       through); false: always direct */
	bool traversal;	    /* this node has STUN or TURN servers: ICE can get it
			       through a NAT (without, only edges and offers lead to ICE) */
	/* Wall-clock milliseconds, as WireGuard reports handshakes. */
	int64_t now_ms;
	int64_t direct_since_ms;       /* the peer was configured at its direct endpoints */
	int64_t last_handshake_ms;     /* 0 = never */
	uint32_t handshake_timeout_ms; /* 0 = never move to ICE on a timeout */
};

/* The decision for one pair, in this order: unavailable -> direct; on ICE
 * already -> sticky; peer started -> ICE; edge ice -> ICE; no STUN or TURN
 * server (no traversal) -> direct. Otherwise the pair is tried direct first,
 * and moves to ICE only when no handshake newer than direct_since_ms came
 * once the timeout passed: as "timeout" when the peer has a public endpoint,
 * as "no public endpoint" when neither side has one (two nodes on one LAN
 * reach each other directly, and stay so). The timeout does not count against
 * a peer with private endpoints alone when we are public: it is expected to
 * reach us, and its own decision, which sees us as the public side, covers
 * the pair. */
enum wm_ice_reason wm_ice_decide(const struct wm_ice_inputs *in);
const char *wm_ice_reason_name(enum wm_ice_reason r);

/* True when self leads the pair (ICE controlling agent, its offer wins a
 * glare): the byte-wise smaller node ID. Both sides compute the same. */
bool wm_ice_controlling(const char *self_id, const char *peer_id);
/* An offer from peer arrives while self may have an offer of its own out
 * (offer_pending): true if self should answer it, false if self should keep
 * waiting for the answer to its own offer. */
bool wm_ice_accept_offer(const char *self_id, const char *peer_id, bool offer_pending);
/* Delay before ICE attempt number attempt (0 = the first retry): 1 s doubling
 * up to 30 s, plus up to a quarter more from jitter (0..65535, random). */
uint32_t wm_ice_backoff_ms(unsigned attempt, uint16_t jitter);

/* ---- what STUN answers say ---- */

enum wm_nat_mapping {
	WM_NAT_UNKNOWN = 0, /* no answer, or one server only: behaviour unknown */
	WM_NAT_NONE,	    /* the mapped address is our own: no NAT */
	WM_NAT_EIM,	    /* endpoint-independent mapping ("cone") */
	WM_NAT_EDM,	    /* mapping depends on the destination ("symmetric") */
};

struct wm_nat_info {
	int mapping;		   /* enum wm_nat_mapping */
	bool port_preserved;	   /* the NAT kept our source port */
	struct wm_endpoint mapped; /* the first answer; ip.family 0 when none */
};

/* Classifies the mapped addresses that STUN servers reported for one local
 * socket (local_port; host_addrs are this host's addresses). Answers with
 * family 0 are skipped. */
void wm_nat_classify(uint16_t local_port, const struct wm_prefix *host_addrs, size_t n_host,
		     const struct wm_endpoint *mapped, size_t n_mapped, struct wm_nat_info *out);
const char *wm_nat_mapping_name(int mapping);

/* The endpoints a node advertises, best first, without duplicates, at most
 * max: addresses with a public IP, then the server-reflexive address with the
 * WireGuard port, then private addresses. The reflexive address goes in only
 * when two STUN servers saw the same mapping (WM_NAT_EIM) and the NAT kept the
 * source port: then the WireGuard socket's mapping very likely has its port
 * too. A guess on less evidence would make peers try a dead endpoint first
 * and reach ICE only after ice-handshake-timeout. addrs are host addresses
 * (any length), nat may be NULL. Returns the count. */
size_t wm_nat_endpoints(const struct wm_prefix *addrs, size_t n_addrs, uint16_t wg_port,
			const struct wm_nat_info *nat, struct wm_endpoint *out, size_t max);
/* True if any endpoint has a public address (not wm_addr_is_private). */
bool wm_endpoints_have_public(const struct wm_endpoint *eps, size_t n);

#endif
