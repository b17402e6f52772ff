/* Kademlia for libp2p (/ipfs/kad/1.0.0, libp2p specs kad-dht/README.md)
 * with no I/O: the Message protobuf, XOR distance over SHA-256 values, the
 * k-bucket routing table, the bounded provider store and the iterative
 * lookup's state. Hashing is the caller's: every "kid" here is the 32-byte
 * SHA-256 of a peer ID's multihash bytes or of a key, as the spec says.
 * Time comes in as an argument (milliseconds, any monotonic origin). */
#ifndef WM_CORE_KAD_H
#define WM_CORE_KAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/p2pwire.h"

#define WM_KAD_PROTOCOL "/ipfs/kad/1.0.0"
#define WM_KAD_K 20	      /* bucket size and replication parameter */
#define WM_KAD_ALPHA 3	      /* concurrent queries of one lookup */
#define WM_KAD_MSG_MAX 65536  /* the largest message we read or write */
#define WM_KAD_KEY_MAX 80     /* keys are multihashes: 34 bytes for SHA-256 */
#define WM_KAD_ID_MAX 64      /* a peer ID's multihash; Ed25519's is 38 bytes */
#define WM_KAD_ADDRS 4	      /* addresses kept per peer; more are left out */
#define WM_KAD_PEERS WM_KAD_K /* peers kept per list of a message */
#define WM_KAD_BUCKETS 256

enum wm_kad_type {
	WM_KAD_PUT_VALUE = 0,
	WM_KAD_GET_VALUE = 1,
	WM_KAD_ADD_PROVIDER = 2,
	WM_KAD_GET_PROVIDERS = 3,
	WM_KAD_FIND_NODE = 4,
	WM_KAD_PING = 5,
};

struct wm_kad_peer {
	uint8_t id[WM_KAD_ID_MAX]; /* the peer ID's multihash bytes */
	size_t id_len;
	size_t naddrs;
	uint8_t addrs[WM_KAD_ADDRS][WM_MADDR_MAX]; /* binary multiaddrs */
	size_t addr_len[WM_KAD_ADDRS];
	uint32_t connection; /* ConnectionType, passed through */
};

struct wm_kad_msg {
	uint32_t type; /* enum wm_kad_type */
	uint8_t key[WM_KAD_KEY_MAX];
	size_t key_len;
	bool has_record; /* PUT_VALUE/GET_VALUE's record: noted, not kept */
	size_t ncloser, nproviders;
	struct wm_kad_peer closer[WM_KAD_PEERS];
	struct wm_kad_peer providers[WM_KAD_PEERS];
};

/* Bytes written into out[cap], or -ENOSPC; -EINVAL for a field over its
 * bound (a key, ID or address longer than the limits above). */
int wm_kad_msg_encode(const struct wm_kad_msg *m, uint8_t *out, size_t cap);
/* 0, or -EBADMSG for malformed protobuf, an unknown message type, a key or
 * peer ID over its bound, an empty peer ID. Peers past WM_KAD_PEERS,
 * addresses past WM_KAD_ADDRS and over-long addresses are left out: a peer
 * may send much, we keep a bounded part. clusterLevel and unknown fields
 * are skipped. */
int wm_kad_msg_decode(const uint8_t *buf, size_t len, struct wm_kad_msg *m);

/* ---- distance ---- */

/* a XOR b. */
void wm_kad_distance(const uint8_t a[32], const uint8_t b[32], uint8_t out[32]);
/* <0, 0, >0 as a is nearer to target than b, as near, farther. */
int wm_kad_closer(const uint8_t target[32], const uint8_t a[32], const uint8_t b[32]);
/* The bucket of b in a table centred on self: 255 minus the length of the
 * common prefix, so 0 holds the one nearest value (distance 1) and 255 the
 * farther half of the space; -1 when b == self. */
int wm_kad_bucket_index(const uint8_t self[32], const uint8_t b[32]);

/* ---- routing table ---- */

struct wm_kad_entry {
	uint8_t kid[32];
	struct wm_kad_peer peer;
	uint64_t last_seen_ms;
	uint32_t failures; /* queries unanswered in a row */
};

struct wm_kad_bucket {
	size_t n;
	struct wm_kad_entry e[WM_KAD_K]; /* least recently seen first */
	bool has_pending;
	struct wm_kad_entry pending; /* the newcomer waiting for a full bucket's slot */
};

struct wm_kad_table {
	uint8_t self[32];
	uint32_t max_failures; /* unanswered queries before a peer is evicted */
	size_t size;
	struct wm_kad_bucket *b[WM_KAD_BUCKETS]; /* allocated on first use */
};

void wm_kad_table_init(struct wm_kad_table *t, const uint8_t self[32], uint32_t max_failures);
void wm_kad_table_free(struct wm_kad_table *t);

/* A peer that answered us (or connected with the protocol): refreshed and
 * moved to the bucket's tail when known; added when its bucket has room.
 * Returns 0 then. When the bucket is full the peer is kept as the bucket's
 * pending newcomer, and 1 is returned with *check set to the least
 * recently seen entry, which the caller should query: its answer
 * (wm_kad_table_seen) keeps it, its silence (wm_kad_table_failed) lets the
 * newcomer in. -EINVAL for self or an empty ID, -ENOMEM. */
int wm_kad_table_seen(struct wm_kad_table *t, const uint8_t kid[32], const struct wm_kad_peer *p,
		      uint64_t now_ms, const struct wm_kad_entry **check);
/* A query to kid went unanswered: after max_failures in a row the entry
 * goes and a pending newcomer of its bucket takes its place. True when the
 * entry was evicted. */
bool wm_kad_table_failed(struct wm_kad_table *t, const uint8_t kid[32]);
void wm_kad_table_remove(struct wm_kad_table *t, const uint8_t kid[32]);
const struct wm_kad_entry *wm_kad_table_find(const struct wm_kad_table *t, const uint8_t kid[32]);
/* Up to max entries nearest to target, nearest first; returns the count. */
size_t wm_kad_table_closest(const struct wm_kad_table *t, const uint8_t target[32], size_t max,
			    const struct wm_kad_entry **out);

/* ---- provider store ---- */

struct wm_kad_provider {
	uint8_t key_kid[32];
	uint8_t kid[32]; /* of the provider */
	struct wm_kad_peer peer;
	uint64_t expires_ms;
};

struct wm_kad_providers {
	size_t n, cap;	 /* cap: the total bound */
	size_t per_key;	 /* providers kept per key */
	uint64_t ttl_ms; /* a record's life from its last ADD_PROVIDER */
	struct wm_kad_provider *v;
};

/* 0 or -ENOMEM; per_key, total and ttl_ms must be > 0 (-EINVAL). */
int wm_kad_providers_init(struct wm_kad_providers *s, size_t per_key, size_t total,
			  uint64_t ttl_ms);
void wm_kad_providers_free(struct wm_kad_providers *s);
/* Adds or refreshes (addresses replaced, expiry renewed) provider p of the
 * key. Expired records go first. 0; -ENOSPC when the key holds per_key
 * other providers or the store is full: the record is refused (existing
 * records are never displaced by a newcomer, so a flood cannot push out
 * what was there). */
int wm_kad_providers_add(struct wm_kad_providers *s, const uint8_t key_kid[32],
			 const uint8_t kid[32], const struct wm_kad_peer *p, uint64_t now_ms);
/* Up to max unexpired providers of the key into out; the count. */
size_t wm_kad_providers_get(struct wm_kad_providers *s, const uint8_t key_kid[32], uint64_t now_ms,
			    struct wm_kad_peer *out, size_t max);
void wm_kad_providers_expire(struct wm_kad_providers *s, uint64_t now_ms);

/* ---- iterative lookup ---- */

#define WM_KAD_LOOKUP_MAX 64 /* candidates kept, nearest first */

enum wm_kad_cand_state { WM_KAD_C_NEW, WM_KAD_C_ASKED, WM_KAD_C_DONE, WM_KAD_C_FAILED };

struct wm_kad_cand {
	uint8_t kid[32];
	struct wm_kad_peer peer;
	enum wm_kad_cand_state state;
};

struct wm_kad_lookup {
	uint8_t target[32];
	uint8_t self[32]; /* never a candidate */
	size_t n, inflight, alpha, k;
	struct wm_kad_cand c[WM_KAD_LOOKUP_MAX];
};

void wm_kad_lookup_init(struct wm_kad_lookup *l, const uint8_t target[32], const uint8_t self[32],
			size_t alpha, size_t k);
/* Adds a candidate (a peer we knew, or one an answer named): kept when it
 * is among the nearest WM_KAD_LOOKUP_MAX. Known ones are left as they are. */
void wm_kad_lookup_add(struct wm_kad_lookup *l, const uint8_t kid[32], const struct wm_kad_peer *p);
/* The next candidate to ask, marked asked, or NULL when alpha queries are
 * in flight or no unasked candidate is among the k nearest live ones. */
const struct wm_kad_cand *wm_kad_lookup_next(struct wm_kad_lookup *l);
/* The answer of an asked candidate (its closer peers are added by the
 * caller with wm_kad_lookup_add), or its failure. Unknown kids: ignored. */
void wm_kad_lookup_done(struct wm_kad_lookup *l, const uint8_t kid[32], bool ok);
/* True when nothing is in flight and every one of the k nearest live
 * candidates has answered (or none is left to ask). */
bool wm_kad_lookup_finished(const struct wm_kad_lookup *l);

#endif
