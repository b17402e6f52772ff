/* Join by rendezvous (issue 11): a server started with
 * --announce-rendezvous SECRET announces itself in the DHT under a key
 * derived from the secret; a node started with --join-rendezvous SECRET
 * finds it there and reaches the server's own TLS API through a libp2p
 * stream (/webmesh/api/1.0.0) that is a plain byte pipe, so that TLS, mTLS,
 * node proofs and every authenticator are exactly the TCP path's. The
 * joiner's gRPC client talks to a loopback listener of ours; each
 * connection it makes becomes one stream.
 *
 * Before a pipe carries a byte both sides prove they know the secret:
 *   joiner -> server  Nj (32 random bytes)
 *   server -> joiner  HMAC(K, "server" Nj S J) || Ns
 *   joiner -> server  HMAC(K, "joiner" Ns S J)
 * with K = SHA-256("webmesh rendezvous hmac v1" 0x00 SECRET), S and J the
 * server's and joiner's peer ID bytes (bound by the Noise handshake). A
 * peer that only saw the DHT key, SHA-256("webmesh rendezvous dht v1"
 * 0x00 SECRET) as a sha2-256 multihash, can neither pose as the mesh nor
 * reach its API through the pipe. */
#ifndef WM_P2P_RENDEZVOUS_H
#define WM_P2P_RENDEZVOUS_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/dht.h"
#include "p2p/host.h"

#define WM_RDV_PROTOCOL "/webmesh/api/1.0.0"
#define WM_RDV_KEY_LEN 34 /* 0x12 0x20 and the SHA-256 value */
#define WM_RDV_SECRET_MIN 16
#define WM_RDV_SECRET_MAX 256

/* The DHT key of a secret. */
void wm_rdv_dht_key(const char *secret, uint8_t out[WM_RDV_KEY_LEN]);
/* K of the handshake. */
void wm_rdv_hmac_key(const char *secret, uint8_t out[32]);
/* One proof: role "server" or "joiner". 0 or -EIO. */
int wm_rdv_proof(const uint8_t key[32], const char *role, const uint8_t nonce[32],
		 const struct wm_peer_id *server, const struct wm_peer_id *joiner, uint8_t out[32]);

struct wm_rdv_config {
	struct wm_p2p *host;
	struct wm_dht *dht;
	const char *announce_secret;  /* serve and announce; NULL: not a server */
	const char *api_addr;	      /* HOST:PORT of our TLS API (the server's pipe end) */
	uint32_t max_pipes;	      /* open at once, both roles; 0: 256 */
	uint32_t handshake_ms;	      /* a pipe's proofs, both ways; 0: 10000 */
	uint32_t handshakes_per_peer; /* a server's pipes of one peer in their handshake; 0: 4 */
};

struct wm_rdv;

/* 0, or -EINVAL with err (a secret out of bounds, a bad api_addr). */
int wm_rdv_new(const struct wm_rdv_config *cfg, struct wm_rdv **out, char *err, size_t errlen);

/* Finds a server of secret (the DHT lookup again every 2 s until one
 * proves it knows the secret), then listens on a loopback port: cb gets
 * "127.0.0.1:PORT" for the joiner's gRPC client, once. -EINVAL, -EBUSY
 * (already joining). */
typedef void (*wm_rdv_join_cb)(void *ud, const char *hostport);
int wm_rdv_join(struct wm_rdv *r, const char *secret, wm_rdv_join_cb cb, void *ud);

/* Closes the listener and every pipe; call before the host is freed. The
 * struct is freed by done_cb's time; its streams' last callbacks come from
 * the host's free, so free the host after this and the rdv last. */
void wm_rdv_stop(struct wm_rdv *r);
/* The peer ID of the server joined through, or "" (not yet, or no join). */
void wm_rdv_server(const struct wm_rdv *r, char *out, size_t len);
void wm_rdv_free(struct wm_rdv *r, void (*done_cb)(void *data), void *data);

#endif
