/* gRPC wire pieces without I/O: message framing, grpc-timeout, percent-encoding.
 * Internal to src/rpc (and its tests and fuzzers). */
#ifndef WM_RPC_FRAME_H
#define WM_RPC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WM_GRPC_FRAME_HDR 5

/* Incremental decoder of length-prefixed messages (1 byte flags, 4 bytes
 * big-endian length, payload). A message is buffered only as far as its bytes
 * have arrived, and one longer than max is refused from its header alone. */
struct wm_grpc_decoder {
	size_t max;
	uint8_t hdr[WM_GRPC_FRAME_HDR];
	size_t hdr_len;
	uint32_t msg_len; /* valid once hdr_len == WM_GRPC_FRAME_HDR */
	uint8_t *buf;
	size_t buf_len, buf_cap;
	uint32_t last_len; /* length of the message refused with -EMSGSIZE */
	/* Optional: told each message's announced length (at most max) before
	 * any of its bytes is kept; a non-zero return stops decoding and is
	 * returned by wm_grpc_decoder_feed. The server budgets with it. */
	int (*on_header)(void *data, uint32_t len);
	void *on_header_data;
};

/* Called per complete message; msg is borrowed until it returns. A non-zero
 * return stops decoding and is returned by wm_grpc_decoder_feed. */
typedef int (*wm_grpc_message_fn)(void *data, const uint8_t *msg, size_t len);

void wm_grpc_decoder_init(struct wm_grpc_decoder *d, size_t max);
void wm_grpc_decoder_free(struct wm_grpc_decoder *d);
/* Returns 0, the callback's non-zero value, -EMSGSIZE (a message longer than
 * max; its length is in d->last_len), -EPROTONOSUPPORT (compressed flag set),
 * -EPROTO (unknown flag bits) or -ENOMEM. After an error the decoder must not
 * be fed again. */
int wm_grpc_decoder_feed(struct wm_grpc_decoder *d, const uint8_t *p, size_t n,
			 wm_grpc_message_fn fn, void *data);
/* True when no partial message is pending (a clean end of stream). */
bool wm_grpc_decoder_idle(const struct wm_grpc_decoder *d);

/* Writes the 5-byte prefix of an uncompressed message of len bytes. */
void wm_grpc_frame_header(uint8_t out[WM_GRPC_FRAME_HDR], uint32_t len);

/* Parses a grpc-timeout value ("1-8 digits" + one of H M S m u n) into
 * milliseconds, rounding sub-millisecond values up. -EINVAL if malformed. */
int wm_grpc_timeout_parse(const char *s, size_t len, uint64_t *ms);
/* Formats ms as the shortest exact-or-longer grpc-timeout ("250m", "3600S"). */
void wm_grpc_timeout_format(uint64_t ms, char out[16]);

/* grpc-message percent-encoding: bytes outside 0x20..0x7e and '%' become %XX.
 * Both return a malloc'd NUL-terminated string or NULL on ENOMEM. Decoding
 * keeps malformed escapes as they are, as the gRPC spec asks. */
char *wm_grpc_percent_encode(const char *s);
char *wm_grpc_percent_decode(const char *s, size_t len);

/* Content-type accepted as gRPC: application/grpc, optionally followed by
 * "+proto" (or another "+suffix") or ";params". */
bool wm_grpc_content_type_ok(const char *v, size_t len);

/* The gRPC status a client derives from an HTTP status without grpc-status. */
int wm_grpc_status_from_http(int http_status);

#endif
