/* STUN (RFC 8489, formerly RFC 5389) Binding messages: the request we send to
 * learn our server-reflexive address, and the parser of the answers. Pure: no
 * I/O; the transaction ID comes from the caller. The parser takes untrusted
 * bytes and checks every length against the buffer. */
#ifndef WM_NAT_STUN_H
#define WM_NAT_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/net.h"

#define WM_STUN_HEADER_LEN 20
#define WM_STUN_TXID_LEN 12
#define WM_STUN_MAGIC 0x2112A442u
#define WM_STUN_REQUEST_MAX 28 /* header + FINGERPRINT */

/* Message types (method Binding with its classes). */
#define WM_STUN_BINDING_REQUEST 0x0001
#define WM_STUN_BINDING_INDICATION 0x0011
#define WM_STUN_BINDING_SUCCESS 0x0101
#define WM_STUN_BINDING_ERROR 0x0111

/* Attributes we read or write. */
#define WM_STUN_ATTR_MAPPED_ADDRESS 0x0001
#define WM_STUN_ATTR_USERNAME 0x0006
#define WM_STUN_ATTR_MESSAGE_INTEGRITY 0x0008
#define WM_STUN_ATTR_ERROR_CODE 0x0009
#define WM_STUN_ATTR_UNKNOWN_ATTRIBUTES 0x000A
#define WM_STUN_ATTR_REALM 0x0014
#define WM_STUN_ATTR_NONCE 0x0015
#define WM_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 0x001C
#define WM_STUN_ATTR_PASSWORD_ALGORITHM 0x001D
#define WM_STUN_ATTR_USERHASH 0x001E
#define WM_STUN_ATTR_XOR_MAPPED_ADDRESS 0x0020
#define WM_STUN_ATTR_SOFTWARE 0x8022
#define WM_STUN_ATTR_FINGERPRINT 0x8028

struct wm_stun_response {
	uint16_t type; /* WM_STUN_BINDING_SUCCESS or _ERROR */
	uint8_t txid[WM_STUN_TXID_LEN];
	bool has_xor_mapped;	   /* XOR-MAPPED-ADDRESS was present */
	bool has_mapped;	   /* MAPPED-ADDRESS was present */
	struct wm_endpoint mapped; /* XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS */
	bool has_fingerprint;	   /* a FINGERPRINT was present (and matched) */
	int error_code;		   /* 300..699 for an error response, else 0 */
	char error_reason[128];	   /* its reason phrase, control characters replaced */
};

/* Writes a Binding request with transaction ID txid, followed by a FINGERPRINT
 * when fingerprint is true. Returns the length (20 or 28) or -ENOSPC. */
int wm_stun_binding_request(const uint8_t txid[WM_STUN_TXID_LEN], bool fingerprint, uint8_t *buf,
			    size_t len);

/* True when buf looks like a STUN message (RFC 8489 section 5: two zero bits,
 * magic cookie, a length that is a multiple of 4 and matches len). Cheap: for
 * telling STUN from other traffic on one socket. */
bool wm_stun_is_message(const uint8_t *buf, size_t len);

/* Parses a Binding response. When txid is not NULL the response must carry
 * that transaction ID. Returns 0 and fills out, or:
 *   -EINVAL  not a STUN message, or malformed (a length running past the end,
 *            an attribute value of the wrong size, a bad family or error code);
 *   -ENOMSG  a STUN message, but not a Binding response, or another transaction;
 *   -EBADMSG the FINGERPRINT does not match, or is not the last attribute;
 *   -EPROTO  an unknown comprehension-required attribute (RFC 8489 section 7.3.3:
 *            the response must then be discarded).
 * A success response without any mapped address is accepted with both has_*
 * false (the caller decides). */
int wm_stun_parse_response(const uint8_t *buf, size_t len, const uint8_t *txid,
			   struct wm_stun_response *out);

/* TURN Allocate (RFC 8656 section 7.1), for netcheck's reachability probe: a
 * request without credentials that any TURN server answers, with a 401 error
 * asking for them. Writes the request (REQUESTED-TRANSPORT UDP, FINGERPRINT);
 * returns its length (36) or -ENOSPC. */
#define WM_STUN_ALLOCATE_REQUEST 0x0003
#define WM_STUN_ALLOCATE_SUCCESS 0x0103
#define WM_STUN_ALLOCATE_ERROR 0x0113
#define WM_STUN_ALLOCATE_REQUEST_MAX 36
int wm_stun_allocate_request(const uint8_t txid[WM_STUN_TXID_LEN], uint8_t *buf, size_t len);
/* The type of a STUN response to the transaction txid: a well-formed message
 * (wm_stun_is_message) with that transaction ID. Returns the message type, or
 * -EINVAL (not STUN) / -ENOMSG (another transaction, or not a response). */
int wm_stun_response_type(const uint8_t *buf, size_t len, const uint8_t txid[WM_STUN_TXID_LEN]);

/* CRC-32 (ISO-HDLC, as zlib and RFC 8489's FINGERPRINT use it). */
uint32_t wm_stun_crc32(const uint8_t *buf, size_t len);

#endif
