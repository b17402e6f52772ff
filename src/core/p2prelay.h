/* libp2p circuit relay v2 (libp2p/specs relay/circuit-v2.md) without I/O:
 * the HopMessage and StopMessage codec, the reservation voucher (a signed
 * envelope around a ReservationVoucher record) and the relay's reservation
 * table with its limits. Every decoder takes bytes a libp2p peer chose: it
 * returns a complete, checked message or an error, and keeps no pointer to
 * its input. Time is an argument (milliseconds on any monotonic clock, or
 * Unix seconds where the wire says so). */
#ifndef WM_CORE_P2PRELAY_H
#define WM_CORE_P2PRELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/p2pwire.h"

#define WM_RELAY_HOP_PROTOCOL "/libp2p/circuit/relay/0.2.0/hop"
#define WM_RELAY_STOP_PROTOCOL "/libp2p/circuit/relay/0.2.0/stop"
/* The spec bounds a message at 4 KiB; we refuse longer ones. */
#define WM_RELAY_MSG_MAX 4096
#define WM_RELAY_ADDRS 8	 /* addresses kept per Peer or Reservation; more are dropped */
#define WM_RELAY_VOUCHER_MAX 512 /* an Ed25519 envelope is about 180 bytes */

enum { WM_HOP_RESERVE = 0, WM_HOP_CONNECT = 1, WM_HOP_STATUS = 2 };
enum { WM_STOP_CONNECT = 0, WM_STOP_STATUS = 1 };

enum wm_relay_status {
	WM_RELAY_OK = 100,
	WM_RELAY_RESERVATION_REFUSED = 200,
	WM_RELAY_RESOURCE_LIMIT_EXCEEDED = 201,
	WM_RELAY_PERMISSION_DENIED = 202,
	WM_RELAY_CONNECTION_FAILED = 203,
	WM_RELAY_NO_RESERVATION = 204,
	WM_RELAY_MALFORMED_MESSAGE = 400,
	WM_RELAY_UNEXPECTED_MESSAGE = 401,
};

struct wm_relay_addrs {
	size_t n;
	size_t len[WM_RELAY_ADDRS];
	uint8_t a[WM_RELAY_ADDRS][WM_MADDR_MAX];
};

struct wm_relay_msg {
	bool hop; /* HopMessage, else StopMessage */
	uint32_t type;
	bool has_peer;
	struct wm_peer_id peer;
	struct wm_relay_addrs peer_addrs;
	bool has_rsvp;	      /* HopMessage only */
	uint64_t rsvp_expire; /* Unix seconds */
	struct wm_relay_addrs rsvp_addrs;
	size_t voucher_len;
	uint8_t voucher[WM_RELAY_VOUCHER_MAX];
	bool has_limit;
	bool has_duration, has_data;
	uint32_t limit_duration; /* seconds */
	uint64_t limit_data;	 /* bytes, each way */
	bool has_status;
	uint32_t status;
};

/* 0 with *m set; -EBADMSG for malformed protobuf, a missing type, a type
 * outside the message's enum, a Peer without id or a Reservation without
 * expire; -EPROTONOSUPPORT for a peer ID that is not an Ed25519 identity
 * hash (the only kind this host speaks); -EMSGSIZE beyond WM_RELAY_MSG_MAX.
 * Unknown fields are skipped (protobuf's rule); addresses beyond
 * WM_RELAY_ADDRS or longer than WM_MADDR_MAX are dropped. */
int wm_relay_msg_decode(bool hop, const uint8_t *buf, size_t len, struct wm_relay_msg *m);
/* Bytes written, -ENOSPC, or -EINVAL for fields the message kind lacks. */
int wm_relay_msg_encode(const struct wm_relay_msg *m, uint8_t *out, size_t cap);

/* A message framed as on the wire (unsigned varint length, then the
 * message): 1 with *m and *used set, 0 when buf holds only part of one,
 * or a wm_relay_msg_decode error. */
int wm_relay_msg_read(bool hop, const uint8_t *buf, size_t len, struct wm_relay_msg *m,
		      size_t *used);
/* Framed: bytes written, or -ENOSPC / -EINVAL. */
int wm_relay_msg_write(const struct wm_relay_msg *m, uint8_t *out, size_t cap);

/* A circuit address, /ip4|ip6/ADDR/tcp/PORT/p2p/RELAY/p2p-circuit/p2p/TARGET:
 * 1 with the relay's part (its text, a TCP address with /p2p) and the
 * target; 0 when text names no circuit; -EINVAL with err saying what is
 * wrong (another shape, a relay without its ID, the relay as its own target). */
int wm_relay_circuit_split(const char *text, char *relay, size_t cap, struct wm_peer_id *target,
			   char *err, size_t errlen);

/* ---- the reservation voucher (RFC 0002 signed envelope, domain
 * "libp2p-relay-rsvp", payload type the multicodec 0x0302 as bytes 03 02) ---- */

#define WM_RELAY_VOUCHER_DOMAIN "libp2p-relay-rsvp"

/* The ReservationVoucher record: bytes written or -ENOSPC. */
int wm_relay_voucher_record(const struct wm_peer_id *relay, const struct wm_peer_id *peer,
			    uint64_t expire, uint8_t *out, size_t cap);
/* What the envelope's signature covers for a record. */
int wm_relay_voucher_signed_part(const uint8_t *record, size_t rlen, uint8_t *out, size_t cap);
/* The Envelope: the signer's key, payload type, record and signature. */
int wm_relay_voucher_envelope(const uint8_t pk[32], const uint8_t *record, size_t rlen,
			      const uint8_t sig[64], uint8_t *out, size_t cap);

struct wm_relay_voucher {
	uint8_t pk[32]; /* the envelope's signer */
	struct wm_peer_id relay, peer;
	uint64_t expire;
	uint8_t sig[64];
	size_t record_len;
	uint8_t record[256];
};

/* Splits an envelope: 0, -EBADMSG (malformed, another payload type, a
 * signer that is not the record's relay), -EPROTONOSUPPORT (not Ed25519).
 * The signature is not checked here (no crypto in core): the caller checks
 * it over wm_relay_voucher_signed_part(record). */
int wm_relay_voucher_decode(const uint8_t *buf, size_t len, struct wm_relay_voucher *v);

/* ---- the relay's reservations (hop side) ---- */

struct wm_relay_limits {
	uint32_t max_reservations;	/* held at once */
	uint32_t max_per_source;	/* held by one source (IPv4 address, IPv6 /64) */
	uint32_t reservation_ttl_s;	/* how long one lasts before it must be renewed */
	uint32_t max_circuits;		/* relayed connections at once, all peers */
	uint32_t max_circuits_per_peer; /* to or from one reserved peer */
	uint32_t circuit_duration_s;	/* a circuit's limit; 0: none */
	uint64_t circuit_bytes;		/* each way, per circuit; 0: none */
	uint64_t reservation_bytes;	/* both ways over all circuits of one
					 * reservation, for its life; 0: none */
};

struct wm_relay_rsvp {
	struct wm_peer_id peer;
	uint8_t src[9];
	uint64_t expire_ms; /* on the caller's clock */
	uint32_t circuits;  /* open now, to this peer */
	uint64_t bytes;	    /* relayed for it during this reservation */
};

struct wm_relay_table {
	struct wm_relay_limits lim;
	struct wm_relay_rsvp *r; /* lim.max_reservations slots */
	size_t n;
	uint32_t circuits; /* open now, all peers */
};

/* 0, -ENOMEM, or -EINVAL for a limit of 0 where one is needed. */
int wm_relay_table_init(struct wm_relay_table *t, const struct wm_relay_limits *lim);
void wm_relay_table_free(struct wm_relay_table *t);
/* Drops reservations past their expiry that carry no circuit. */
void wm_relay_table_expire(struct wm_relay_table *t, uint64_t now_ms);
/* Makes or renews peer's reservation until now + ttl: 0 with *expire_ms,
 * -EDQUOT when the table or the source's share is full (a renewal always
 * succeeds: it takes no new slot). */
int wm_relay_reserve(struct wm_relay_table *t, const struct wm_peer_id *peer, const uint8_t src[9],
		     uint64_t now_ms, uint64_t *expire_ms);
/* The live reservation of peer, or NULL. */
struct wm_relay_rsvp *wm_relay_find(struct wm_relay_table *t, const struct wm_peer_id *peer,
				    uint64_t now_ms);
/* A circuit to peer may open: 0 (counted), -ENOENT without a live
 * reservation, -EDQUOT over the circuit limits. */
int wm_relay_circuit_open(struct wm_relay_table *t, const struct wm_peer_id *peer, uint64_t now_ms);
void wm_relay_circuit_close(struct wm_relay_table *t, const struct wm_peer_id *peer);
/* Counts n bytes relayed on a circuit to peer: 0, or -EDQUOT once the
 * reservation's byte budget is spent (the circuit must end). */
int wm_relay_account(struct wm_relay_table *t, const struct wm_peer_id *peer, uint64_t n);

/* ---- relays found in the DHT (the client side, relay.c) ----
 *
 * A node that is no relay looks up the providers of a well-known DHT key
 * (relayfind.c) and reserves on what it finds as on a configured relay.
 * A found relay only forwards: the circuit's Noise handshake still
 * authenticates the far end. So the candidates are few (as many as the
 * reservation slots) and each is dialed again no sooner than its retry
 * time. */

#define WM_RELAY_FIND_EMPTY_MS 10000u	/* after a lookup that left no reservation held */
#define WM_RELAY_FIND_MS (300u * 1000u) /* between lookups once one is, and at most */

struct wm_relay_cand {
	struct wm_peer_id id;
	bool used;
	bool held;	   /* a reservation on it is held */
	bool pending;	   /* a RESERVE to it waits for its answer */
	uint64_t retry_ms; /* neither dialed nor reserved on again before */
};

/* Which of the n slots in c a provider found in the DHT goes to: its own
 * slot (once past its retry time), else a free one, else one whose relay
 * has no reservation held or pending and is past its retry time (one that
 * is pending keeps its slot: were it answered after, the reservation would
 * belong to no candidate). -EINVAL for self (we never reserve on
 * ourselves), -EALREADY when a reservation on it is held or pending,
 * -EAGAIN before its retry time, -ENOSPC with every slot taken. */
int wm_relay_cand_pick(const struct wm_relay_cand *c, size_t n, const struct wm_peer_id *self,
		       const struct wm_peer_id *found, uint64_t now_ms);
/* When the lookup after one that ended at last_ms is due, with held
 * reservations held now and misses lookups in a row that ended with none
 * held: sooner while none is, from WM_RELAY_FIND_EMPTY_MS doubling with each
 * miss up to WM_RELAY_FIND_MS, so that the members of a mesh without a
 * relay do not all ask the peers nearest the key every few seconds. */
uint64_t wm_relay_find_next(uint64_t last_ms, size_t held, unsigned misses);

/* Anyone who can reach a node's libp2p port can join its DHT and publish
 * relay records, so what follows bounds what such records can take: slots,
 * dials, and our attention. */

/* A lookup's misses are forgotten only once a reservation has lasted this
 * long: a relay that grants and drops at once would keep lookups at
 * WM_RELAY_FIND_EMPTY_MS. */
#define WM_RELAY_FIND_SETTLED_MS (3u * 60u * 1000u)
/* Providers asked of a lookup: more than the slots, so that the first few
 * records an answering peer chose do not decide alone. */
#define WM_RELAY_FIND_ASK 16

/* A reservation slot of the client, as the policy below sees it. */
struct wm_relay_slot {
	bool busy;    /* a reservation pending or held */
	bool found;   /* busy for a relay found in the DHT */
	bool waiting; /* free, but a configured relay waits in it to retry */
};

/* The slot of n a new reservation takes, or -ENOSPC. Relays found in the
 * DHT take at most n / 2 slots, and never one a configured relay waits in.
 * A configured relay takes a free slot nobody waits in, else a found
 * relay's (the caller drops that reservation first: s[i].busy), else one
 * another configured relay waits in. */
int wm_relay_slot_pick(const struct wm_relay_slot *s, size_t n, bool found);

/* A relay we hold a reservation on, as the choice of relay for a dial
 * sees it. */
struct wm_relay_via {
	bool found;	    /* from the DHT */
	bool failed_target; /* the last dial to this target through it failed */
	uint32_t fails;	    /* dials through it that failed in a row */
};
#define WM_RELAY_VIA_FAILING 2 /* fails from which a relay is tried last */

/* Writes the n relays' indexes to order, in the order a dial tries them:
 * the relay that just failed this target last, then those whose dials keep
 * failing, then found ones after configured ones; otherwise as given. A
 * relay that leaves CONNECT unanswered thus cannot hold a target's dials:
 * after its timeout the next one goes through another relay. */
void wm_relay_via_order(const struct wm_relay_via *v, size_t n, size_t *order);

/* Found relays that failed us, not dialed again from a lookup until their
 * entry expires; bounded, the entry nearest its end replaced when full. */
#define WM_RELAY_DENY_N 16
#define WM_RELAY_DENY_MS (2u * 60u * 1000u)
struct wm_relay_deny {
	struct wm_peer_id id[WM_RELAY_DENY_N];
	uint64_t until_ms[WM_RELAY_DENY_N]; /* 0: free */
};
void wm_relay_deny_add(struct wm_relay_deny *d, const struct wm_peer_id *id, uint64_t now_ms);
bool wm_relay_denied(const struct wm_relay_deny *d, const struct wm_peer_id *id, uint64_t now_ms);

/* Shuffles idx[0..n) (Fisher-Yates) with n random words: a lookup tries its
 * providers in an order none of them chose. */
void wm_relay_shuffle(size_t *idx, size_t n, const uint32_t *rnd);

/* Whether a relay record's address may be dialed: not loopback,
 * unspecified, link-local, multicast or broadcast (IPv4-mapped ones as
 * IPv4). A record from the DHT is anyone's word: those name our own host
 * or its link, not a relay. */
bool wm_relay_addr_ok(const struct wm_maddr_tcp *t);

#endif
