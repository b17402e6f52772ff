/* libp2p's wire formats with no I/O and no crypto: unsigned varints,
 * protobuf fields, multistream-select 1.0 messages, base58btc, peer IDs of
 * Ed25519 keys and multiaddrs. Every decoder takes untrusted bytes and either
 * returns a complete, checked value or an error; none keeps a pointer to its
 * input beyond what its contract says. */
#ifndef WM_CORE_P2PWIRE_H
#define WM_CORE_P2PWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- unsigned varint (multiformats: minimal, at most 9 bytes, 63 bits) ---- */

#define WM_VARINT_MAX 9

/* Bytes written (1..9), into out[WM_VARINT_MAX]; v must be < 2^63. */
size_t wm_varint_encode(uint64_t v, uint8_t *out);

/* Bytes consumed (>0) with *v set; 0 when buf holds only the start of a
 * varint; -EBADMSG when it is not minimal or longer than 9 bytes. */
int wm_varint_decode(const uint8_t *buf, size_t len, uint64_t *v);
/* The first message of buf framed by an unsigned varint length (how relay,
 * DCUtR and Kademlia messages travel on their streams): 1 with *body and
 * *blen the message and *used the bytes the frame took; 0 while incomplete;
 * -EBADMSG for a bad length prefix, -EMSGSIZE for a length over max (known
 * from the prefix alone, before the body arrives). */
int wm_varint_frame(const uint8_t *buf, size_t len, size_t max, const uint8_t **body, size_t *blen,
		    size_t *used);

/* ---- protobuf (proto2/proto3 wire format, the subset libp2p uses) ---- */

struct wm_pb_reader {
	const uint8_t *p;
	size_t len;
};

struct wm_pb_field {
	uint32_t num;
	uint32_t type;	    /* 0 varint, 2 length-delimited; others are refused */
	uint64_t v;	    /* type 0 */
	const uint8_t *buf; /* type 2: points into the reader's input */
	size_t len;
};

/* 1 with *f set, 0 at the end, -EBADMSG on a malformed or unsupported field
 * (wire types 1, 3, 4, 5 are refused: no libp2p message we read uses them). */
int wm_pb_next(struct wm_pb_reader *r, struct wm_pb_field *f);

/* Appends to out[*off..cap): a length-delimited field, a varint field.
 * -ENOSPC when it does not fit (out unchanged past *off). */
int wm_pb_put_bytes(uint8_t *out, size_t cap, size_t *off, uint32_t num, const void *buf,
		    size_t len);
int wm_pb_put_varint(uint8_t *out, size_t cap, size_t *off, uint32_t num, uint64_t v);

/* ---- multistream-select 1.0 ---- */

#define WM_MS_PROTOCOL "/multistream/1.0.0"
#define WM_MS_NA "na"
#define WM_MS_MAX 1024 /* longest message we accept, newline included */

/* Encodes one message (varint length, text, '\n'). Bytes written or -ENOSPC;
 * -EINVAL for an empty, over-long or non-printable text. */
int wm_ms_encode(const char *text, uint8_t *out, size_t cap);

/* Decodes the first message of buf: 1 with text (NUL-terminated, newline
 * removed, cap >= WM_MS_MAX) and *used set; 0 when incomplete; -EBADMSG when
 * longer than WM_MS_MAX, not ending in '\n', or holding bytes outside
 * printable ASCII. */
int wm_ms_decode(const uint8_t *buf, size_t len, char *text, size_t cap, size_t *used);

/* ---- base58btc (Bitcoin alphabet) ---- */

/* Text into out[cap] (NUL-terminated); -ENOSPC when it does not fit. */
int wm_base58_encode(const uint8_t *buf, size_t len, char *out, size_t cap);
/* Bytes written, -EINVAL for a character outside the alphabet, -ENOSPC. */
int wm_base58_decode(const char *text, uint8_t *out, size_t cap);

/* ---- peer IDs ---- */

/* The protobuf PublicKey{Type=Ed25519, Data=32 bytes}: 36 bytes; the peer ID
 * is its identity multihash (0x00, 36, key): 38 bytes. */
#define WM_PUBKEY_PB_LEN 36
#define WM_PEERID_LEN 38
#define WM_PEERID_TEXT_MAX 64

/* The protobuf encoding of an Ed25519 public key. */
void wm_p2p_pubkey_encode(const uint8_t pk[32], uint8_t out[WM_PUBKEY_PB_LEN]);
/* The Ed25519 key inside a PublicKey protobuf: 0, or -EPROTONOSUPPORT for
 * another key type, -EBADMSG when malformed (the spec's deterministic
 * encoding only: Type then Data, nothing else). */
int wm_p2p_pubkey_decode(const uint8_t *buf, size_t len, uint8_t pk[32]);

struct wm_peer_id {
	uint8_t b[WM_PEERID_LEN]; /* the multihash */
};

void wm_peer_id_from_pubkey(const uint8_t pk[32], struct wm_peer_id *id);
/* The multihash bytes of a peer ID: 0 when it is the identity hash of an
 * Ed25519 key (pk set when non-NULL); -EPROTONOSUPPORT for an SHA-256 hash
 * (RSA or other long keys: not supported); -EBADMSG otherwise. */
int wm_peer_id_from_bytes(const uint8_t *buf, size_t len, struct wm_peer_id *id, uint8_t pk[32]);
/* The base58btc text form ("12D3KooW..."), parse and print. */
int wm_peer_id_parse(const char *text, struct wm_peer_id *id);
void wm_peer_id_print(const struct wm_peer_id *id, char out[WM_PEERID_TEXT_MAX]);
bool wm_peer_id_equal(const struct wm_peer_id *a, const struct wm_peer_id *b);

/* ---- multiaddrs ---- */

#define WM_MADDR_MAX 128 /* binary bytes we keep for one address */
#define WM_MADDR_TEXT_MAX 256

/* Text to binary: bytes written, or -EINVAL with err naming the part that
 * was wrong. Known: ip4 ip6 tcp udp dns dns4 dns6 p2p p2p-circuit quic-v1
 * tls ws wss. */
int wm_maddr_parse(const char *text, uint8_t *out, size_t cap, char *err, size_t errlen);
/* Binary to text: 0, -EBADMSG for malformed bytes, -EPROTONOSUPPORT for an
 * unknown protocol code, -ENOSPC. */
int wm_maddr_print(const uint8_t *buf, size_t len, char *out, size_t cap);

/* A TCP dial target: /ip4|ip6/ADDR/tcp/PORT[/p2p/ID] and nothing else. */
struct wm_maddr_tcp {
	int family; /* 4 or 6 */
	uint8_t ip[16];
	uint16_t port;
	bool has_peer;
	struct wm_peer_id peer;
};

/* 0, or -EINVAL (not that shape), -EBADMSG, -EPROTONOSUPPORT. */
int wm_maddr_to_tcp(const uint8_t *buf, size_t len, struct wm_maddr_tcp *out);
/* Binary form of a TCP address (with /p2p when has_peer): bytes written. */
int wm_maddr_from_tcp(const struct wm_maddr_tcp *in, uint8_t *out, size_t cap);

#endif
