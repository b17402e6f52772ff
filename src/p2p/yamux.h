/* yamux (hashicorp/yamux spec.md), the libp2p stream multiplexer: the
 * 12-byte header and a session that turns received bytes into stream events
 * and stream writes into bytes to send. No I/O: the owner gives the bytes
 * read from the secure channel to wm_yamux_feed and writes what the send
 * callback hands it. Flow control: every stream starts with a 256 KiB
 * window each way; we grant the peer more once half of it is consumed, and
 * hold back (up to a bound) what our side may not send yet. */
#ifndef WM_P2P_YAMUX_H
#define WM_P2P_YAMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WM_YAMUX_HDR_LEN 12
#define WM_YAMUX_WINDOW (256u * 1024u)
#define WM_YAMUX_WINDOW_MAX (16u * 1024u * 1024u) /* go-yamux's largest */
/* Defaults of wm_yamux's pending_max and session_pending_max. */
#define WM_YAMUX_PENDING_MAX (1024u * 1024u)			/* held back per stream */
#define WM_YAMUX_SESSION_PENDING_MAX (2 * WM_YAMUX_PENDING_MAX) /* and per session */

enum { WM_YAMUX_DATA = 0, WM_YAMUX_WINDOW_UPDATE = 1, WM_YAMUX_PING = 2, WM_YAMUX_GO_AWAY = 3 };
enum { WM_YAMUX_SYN = 1, WM_YAMUX_ACK = 2, WM_YAMUX_FIN = 4, WM_YAMUX_RST = 8 };

struct wm_yamux_hdr {
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t stream;
	uint32_t length;
};

/* 0, or -EBADMSG for a version other than 0, an unknown type or flag. */
int wm_yamux_hdr_decode(const uint8_t b[WM_YAMUX_HDR_LEN], struct wm_yamux_hdr *h);
void wm_yamux_hdr_encode(const struct wm_yamux_hdr *h, uint8_t b[WM_YAMUX_HDR_LEN]);

/* Callbacks into the owner. A callback may call any wm_yamux_* function on
 * the same session except wm_yamux_free. */
struct wm_yamux_cb {
	void (*send)(void *ud, const uint8_t *buf, size_t len);
	/* The peer opened stream id: 0 accepts, anything else resets it. */
	int (*stream_open)(void *ud, uint32_t id);
	void (*stream_data)(void *ud, uint32_t id, const uint8_t *buf, size_t len);
	void (*stream_fin)(void *ud, uint32_t id);  /* the peer will send no more */
	void (*stream_gone)(void *ud, uint32_t id); /* reset, or closed both ways */
	void (*pong)(void *ud, uint32_t opaque);
	void (*go_away)(void *ud, uint32_t code);
	/* Optional: a data frame as its header and payload (the payload
	 * points into the writer's buffer), so that the owner can seal both
	 * into one message without joining them; without it, send gets the
	 * frame joined. */
	void (*send2)(void *ud, const uint8_t *hdr, size_t hlen, const uint8_t *buf, size_t len);
};

struct wm_yamux_stream;

struct wm_yamux {
	bool client; /* the dialer: odd stream IDs */
	bool closed; /* a go away was sent or received */
	uint32_t next_id;
	size_t max_streams;
	struct wm_yamux_stream *streams; /* max_streams slots */
	const struct wm_yamux_cb *cb;
	void *ud;
	/* the frame being received */
	uint8_t hdr[WM_YAMUX_HDR_LEN];
	size_t hdr_have;
	struct wm_yamux_hdr cur;
	uint32_t data_left;
	size_t npending; /* held back over all streams */
	/* The largest DATA payload we send (65536 by default; the owner may
	 * lower it so that a frame fits one message of its channel). */
	uint32_t max_data;
	/* Bytes held back for want of the peer's window, per stream and over
	 * the session (WM_YAMUX_PENDING_MAX and WM_YAMUX_SESSION_PENDING_MAX
	 * by default; the owner may set others after init, before writing). */
	size_t pending_max, session_pending_max;
};

/* 0 or -ENOMEM. max_streams bounds the streams open at once, both ways. */
int wm_yamux_init(struct wm_yamux *y, bool client, size_t max_streams, const struct wm_yamux_cb *cb,
		  void *ud);
void wm_yamux_free(struct wm_yamux *y);

/* Processes received bytes. 0, or -EPROTO when the peer broke the protocol
 * (a frame beyond the window, a bad header, a SYN for a stream in use or of
 * our parity): the owner should send a go away and close the connection. */
int wm_yamux_feed(struct wm_yamux *y, const uint8_t *buf, size_t len);

/* Opens a stream: 0 with *id, -EMFILE at the limit, -EPIPE after go away. */
int wm_yamux_open(struct wm_yamux *y, uint32_t *id);
/* Sends (or holds back, beyond the peer's window) data: 0, -ENOENT for no
 * such stream, -EPIPE after our FIN, -ENOBUFS when too much is held back. */
int wm_yamux_write(struct wm_yamux *y, uint32_t id, const void *buf, size_t len);
/* Half-closes our side (FIN, after what is held back). */
int wm_yamux_close(struct wm_yamux *y, uint32_t id);
/* Resets the stream and forgets it (no stream_gone callback). */
void wm_yamux_reset(struct wm_yamux *y, uint32_t id);
void wm_yamux_ping(struct wm_yamux *y, uint32_t opaque);
void wm_yamux_go_away(struct wm_yamux *y, uint32_t code);
/* Streams open now. */
size_t wm_yamux_count(const struct wm_yamux *y);
/* Backpressure (the relay): while held, consumed data is not granted back
 * as window, so the peer stops sending at its window; releasing grants it. */
void wm_yamux_hold(struct wm_yamux *y, uint32_t id, bool hold);
/* Raises the stream's receive window to bytes (at most
 * WM_YAMUX_WINDOW_MAX; never lowers it), granting the difference at once:
 * for a stream whose data the owner consumes as it comes (WireGuard over
 * libp2p), so that the sender is not stopped every 256 KiB to wait for an
 * update. 0, -ENOENT, -EINVAL beyond the maximum. */
int wm_yamux_set_window(struct wm_yamux *y, uint32_t id, uint32_t bytes);
/* Frees the buffers of streams with nothing held back (kept between
 * backlogs so that bulk traffic does not allocate them again and again);
 * returns the bytes of buffers still kept. For a periodic sweep. */
size_t wm_yamux_trim(struct wm_yamux *y);
/* Bytes of ours held back on the stream, waiting for the peer's window. */
size_t wm_yamux_pending(struct wm_yamux *y, uint32_t id);

#endif
