/* yamux session (see yamux.h). Streams live in a fixed table of
 * max_streams slots, looked up by ID on every call, so that callbacks may
 * open and close streams while a frame is being processed. */
#include "p2p/yamux.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The smallest buffer for data held back (one WireGuard-over-libp2p write). */
#define PENDING_MIN (4u * 1024u)

struct wm_yamux_stream {
	uint32_t id; /* 0: free slot */
	uint32_t send_window;
	uint32_t recv_window;
	uint32_t recv_consumed; /* since our last window update */
	uint32_t window;	/* what we grant in all: WM_YAMUX_WINDOW or more */
	bool local_fin, remote_fin, fin_pending;
	bool hold; /* wm_yamux_hold: grant no more window for now */
	uint8_t *pending;
	size_t npending;
	size_t cappending; /* pending's size: kept when drained, wm_yamux_trim frees it */
};

int wm_yamux_hdr_decode(const uint8_t b[WM_YAMUX_HDR_LEN], struct wm_yamux_hdr *h)
{
	h->version = b[0];
	h->type = b[1];
	h->flags = (uint16_t)(b[2] << 8 | b[3]);
	h->stream = (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];
	h->length = (uint32_t)b[8] << 24 | (uint32_t)b[9] << 16 | (uint32_t)b[10] << 8 | b[11];
	if (h->version != 0 || h->type > WM_YAMUX_GO_AWAY || (h->flags & ~0xfu))
		return -EBADMSG;
	return 0;
}

void wm_yamux_hdr_encode(const struct wm_yamux_hdr *h, uint8_t b[WM_YAMUX_HDR_LEN])
{
	b[0] = h->version;
	b[1] = h->type;
	b[2] = (uint8_t)(h->flags >> 8);
	b[3] = (uint8_t)h->flags;
	for (int i = 0; i < 4; i++) {
		b[4 + i] = (uint8_t)(h->stream >> (24 - 8 * i));
		b[8 + i] = (uint8_t)(h->length >> (24 - 8 * i));
	}
}

int wm_yamux_init(struct wm_yamux *y, bool client, size_t max_streams, const struct wm_yamux_cb *cb,
		  void *ud)
{
	memset(y, 0, sizeof(*y));
	y->streams = calloc(max_streams ? max_streams : 1, sizeof(*y->streams));
	if (!y->streams)
		return -ENOMEM;
	y->client = client;
	y->next_id = client ? 1 : 2;
	y->max_streams = max_streams;
	y->max_data = 65536;
	y->pending_max = WM_YAMUX_PENDING_MAX;
	y->session_pending_max = WM_YAMUX_SESSION_PENDING_MAX;
	y->cb = cb;
	y->ud = ud;
	return 0;
}

void wm_yamux_free(struct wm_yamux *y)
{
	if (!y->streams)
		return;
	for (size_t i = 0; i < y->max_streams; i++)
		free(y->streams[i].pending);
	free(y->streams);
	y->streams = NULL;
}

static struct wm_yamux_stream *find(struct wm_yamux *y, uint32_t id)
{
	for (size_t i = 0; id && i < y->max_streams; i++)
		if (y->streams[i].id == id)
			return &y->streams[i];
	return NULL;
}

static struct wm_yamux_stream *add(struct wm_yamux *y, uint32_t id)
{
	struct wm_yamux_stream *s = NULL;

	for (size_t i = 0; i < y->max_streams && !s; i++)
		if (y->streams[i].id == 0)
			s = &y->streams[i];
	if (!s)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->id = id;
	s->send_window = WM_YAMUX_WINDOW;
	s->recv_window = WM_YAMUX_WINDOW;
	s->window = WM_YAMUX_WINDOW;
	return s;
}

static void drop(struct wm_yamux *y, struct wm_yamux_stream *s)
{
	y->npending -= s->npending;
	free(s->pending);
	memset(s, 0, sizeof(*s));
}

static void send_hdr(struct wm_yamux *y, uint8_t type, uint16_t flags, uint32_t id, uint32_t len)
{
	struct wm_yamux_hdr h = {0, type, flags, id, len};
	uint8_t b[WM_YAMUX_HDR_LEN];

	wm_yamux_hdr_encode(&h, b);
	y->cb->send(y->ud, b, sizeof(b));
}

size_t wm_yamux_count(const struct wm_yamux *y)
{
	size_t n = 0;

	for (size_t i = 0; i < y->max_streams; i++)
		n += y->streams[i].id != 0;
	return n;
}

/* Both sides done: the stream is gone. Returns true when it was dropped. */
static bool maybe_done(struct wm_yamux *y, struct wm_yamux_stream *s)
{
	if (!s->local_fin || !s->remote_fin)
		return false;
	uint32_t id = s->id;
	drop(y, s);
	if (y->cb->stream_gone)
		y->cb->stream_gone(y->ud, id);
	return true;
}

/* Sends what the window allows from buf; returns bytes sent. */
static size_t send_data(struct wm_yamux *y, struct wm_yamux_stream *s, const uint8_t *buf,
			size_t len)
{
	size_t sent = 0;

	while (sent < len && s->send_window > 0) {
		size_t n = len - sent;
		if (n > s->send_window)
			n = s->send_window;
		if (y->max_data && n > y->max_data)
			n = y->max_data;
		uint8_t b[WM_YAMUX_HDR_LEN];
		struct wm_yamux_hdr h = {0, WM_YAMUX_DATA, 0, s->id, (uint32_t)n};
		wm_yamux_hdr_encode(&h, b);
		if (y->cb->send2) {
			y->cb->send2(y->ud, b, sizeof(b), buf + sent, n);
		} else {
			/* Header and payload in one call: the owner may
			 * encrypt each call into its own frame. */
			uint8_t *frame = malloc(sizeof(b) + n);
			if (!frame)
				break;
			memcpy(frame, b, sizeof(b));
			memcpy(frame + sizeof(b), buf + sent, n);
			y->cb->send(y->ud, frame, sizeof(b) + n);
			free(frame);
		}
		s->send_window -= (uint32_t)n;
		sent += n;
	}
	return sent;
}

static void flush(struct wm_yamux *y, struct wm_yamux_stream *s)
{
	if (s->npending) {
		size_t n = send_data(y, s, s->pending, s->npending);
		memmove(s->pending, s->pending + n, s->npending - n);
		s->npending -= n;
		y->npending -= n;
	}
	if (s->npending == 0 && s->fin_pending && !s->local_fin) {
		s->local_fin = true;
		s->fin_pending = false;
		send_hdr(y, WM_YAMUX_WINDOW_UPDATE, WM_YAMUX_FIN, s->id, 0);
		maybe_done(y, s);
	}
}

int wm_yamux_open(struct wm_yamux *y, uint32_t *id)
{
	struct wm_yamux_stream *s;

	if (y->closed || y->next_id > UINT32_MAX - 2)
		return -EPIPE;
	s = add(y, y->next_id);
	if (!s)
		return -EMFILE;
	*id = y->next_id;
	y->next_id += 2;
	send_hdr(y, WM_YAMUX_WINDOW_UPDATE, WM_YAMUX_SYN, *id, 0);
	return 0;
}

int wm_yamux_write(struct wm_yamux *y, uint32_t id, const void *buf, size_t len)
{
	struct wm_yamux_stream *s = find(y, id);
	size_t n = 0;

	if (!s)
		return -ENOENT;
	if (s->local_fin || s->fin_pending)
		return -EPIPE;
	if (s->npending == 0)
		n = send_data(y, s, buf, len);
	if (n == len)
		return 0;
	/* per stream and per session: a peer that opens every stream and
	 * grants no window holds the session's bound, not streams times it */
	if (s->npending + (len - n) > y->pending_max ||
	    y->npending + (len - n) > y->session_pending_max)
		return -ENOBUFS;
	size_t need = s->npending + (len - n);
	if (need > s->cappending) {
		/* Doubling, and kept when drained: a stream that backs up
		 * now and then (WireGuard over libp2p at full speed) grew
		 * this by realloc on every write and had it faulted in
		 * anew, pages the sweep's wm_yamux_trim now returns once
		 * a period. */
		size_t cap = s->cappending ? s->cappending : PENDING_MIN;
		while (cap < need)
			cap *= 2;
		if (cap > y->pending_max)
			cap = y->pending_max;
		uint8_t *p = realloc(s->pending, cap);
		if (!p)
			return -ENOMEM;
		s->pending = p;
		s->cappending = cap;
	}
	memcpy(s->pending + s->npending, (const uint8_t *)buf + n, len - n);
	s->npending += len - n;
	y->npending += len - n;
	return 0;
}

int wm_yamux_close(struct wm_yamux *y, uint32_t id)
{
	struct wm_yamux_stream *s = find(y, id);

	if (!s)
		return -ENOENT;
	if (s->local_fin || s->fin_pending)
		return 0;
	s->fin_pending = true;
	flush(y, s);
	return 0;
}

void wm_yamux_reset(struct wm_yamux *y, uint32_t id)
{
	struct wm_yamux_stream *s = find(y, id);

	if (!s)
		return;
	drop(y, s);
	send_hdr(y, WM_YAMUX_WINDOW_UPDATE, WM_YAMUX_RST, id, 0);
}

void wm_yamux_ping(struct wm_yamux *y, uint32_t opaque)
{
	send_hdr(y, WM_YAMUX_PING, WM_YAMUX_SYN, 0, opaque);
}

void wm_yamux_go_away(struct wm_yamux *y, uint32_t code)
{
	if (y->closed)
		return;
	y->closed = true;
	send_hdr(y, WM_YAMUX_GO_AWAY, 0, 0, code);
}

/* The flags of a frame for stream h->stream; returns the stream (NULL when
 * it is unknown or gone after these flags) or -EPROTO through *err. */
static struct wm_yamux_stream *on_flags(struct wm_yamux *y, const struct wm_yamux_hdr *h, int *err)
{
	struct wm_yamux_stream *s = find(y, h->stream);
	uint32_t id = h->stream;

	*err = 0;
	if (h->flags & WM_YAMUX_SYN) {
		/* The peer's IDs have the other parity; 0 is the session. */
		if (s || id == 0 || (id & 1) == (y->client ? 1u : 0u)) {
			*err = -EPROTO;
			return NULL;
		}
		s = y->closed ? NULL : add(y, id);
		if (!s || y->cb->stream_open(y->ud, id) != 0) {
			if (s)
				drop(y, s);
			send_hdr(y, WM_YAMUX_WINDOW_UPDATE, WM_YAMUX_RST, id, 0);
			return NULL;
		}
		s = find(y, id); /* the callback may have written: look again */
		if (!s)
			return NULL;
		send_hdr(y, WM_YAMUX_WINDOW_UPDATE, WM_YAMUX_ACK, id, 0);
	}
	if (!s)
		return NULL; /* late frames of a stream we reset: ignored */
	if (h->flags & WM_YAMUX_RST) {
		drop(y, s);
		if (y->cb->stream_gone)
			y->cb->stream_gone(y->ud, id);
		return NULL;
	}
	return s;
}

static void on_fin(struct wm_yamux *y, uint32_t id)
{
	struct wm_yamux_stream *s = find(y, id);

	if (!s || s->remote_fin)
		return;
	s->remote_fin = true;
	if (y->cb->stream_fin)
		y->cb->stream_fin(y->ud, id);
	s = find(y, id);
	if (s)
		maybe_done(y, s);
}

/* A complete non-data header. */
static int on_control(struct wm_yamux *y, const struct wm_yamux_hdr *h)
{
	int err;
	struct wm_yamux_stream *s;

	switch (h->type) {
	case WM_YAMUX_PING:
		if (h->stream != 0)
			return -EPROTO;
		if (h->flags & WM_YAMUX_SYN)
			send_hdr(y, WM_YAMUX_PING, WM_YAMUX_ACK, 0, h->length);
		else if ((h->flags & WM_YAMUX_ACK) && y->cb->pong)
			y->cb->pong(y->ud, h->length);
		return 0;
	case WM_YAMUX_GO_AWAY:
		if (h->stream != 0)
			return -EPROTO;
		y->closed = true;
		if (y->cb->go_away)
			y->cb->go_away(y->ud, h->length);
		return 0;
	default: /* window update */
		s = on_flags(y, h, &err);
		if (err)
			return err;
		if (!s)
			return 0;
		if (h->length > UINT32_MAX - s->send_window)
			return -EPROTO;
		s->send_window += h->length;
		uint32_t id = s->id;
		flush(y, s);
		if (h->flags & WM_YAMUX_FIN)
			on_fin(y, id);
		return 0;
	}
}

/* After a data frame's last byte: the FIN flag, and more window. */
static void data_done(struct wm_yamux *y)
{
	struct wm_yamux_stream *s = find(y, y->cur.stream);

	if (s && !s->hold && s->recv_consumed >= s->window / 2 && !s->remote_fin) {
		uint32_t n = s->recv_consumed;
		s->recv_consumed = 0;
		s->recv_window += n;
		send_hdr(y, WM_YAMUX_WINDOW_UPDATE, 0, s->id, n);
	}
	if (y->cur.flags & WM_YAMUX_FIN)
		on_fin(y, y->cur.stream);
}

int wm_yamux_feed(struct wm_yamux *y, const uint8_t *buf, size_t len)
{
	while (len) {
		if (y->data_left) {
			size_t n = len < y->data_left ? len : y->data_left;
			struct wm_yamux_stream *s = find(y, y->cur.stream);
			if (s && !s->remote_fin) {
				s->recv_consumed += (uint32_t)n;
				y->cb->stream_data(y->ud, s->id, buf, n);
			}
			buf += n;
			len -= n;
			y->data_left -= (uint32_t)n;
			if (y->data_left == 0)
				data_done(y);
			continue;
		}
		size_t n = WM_YAMUX_HDR_LEN - y->hdr_have;
		if (n > len)
			n = len;
		memcpy(y->hdr + y->hdr_have, buf, n);
		y->hdr_have += n;
		buf += n;
		len -= n;
		if (y->hdr_have < WM_YAMUX_HDR_LEN)
			break;
		y->hdr_have = 0;
		if (wm_yamux_hdr_decode(y->hdr, &y->cur))
			return -EPROTO;
		if (y->cur.type != WM_YAMUX_DATA) {
			int rc = on_control(y, &y->cur);
			if (rc)
				return rc;
			continue;
		}
		int err;
		struct wm_yamux_stream *s = on_flags(y, &y->cur, &err);
		if (err)
			return err;
		if (s) {
			if (y->cur.length > s->recv_window)
				return -EPROTO; /* the peer ignored our window */
			s->recv_window -= y->cur.length;
		}
		y->data_left = y->cur.length;
		if (y->data_left == 0)
			data_done(y);
	}
	return 0;
}

/* Backpressure for an owner that forwards a stream's data elsewhere (the
 * relay): while held, what it consumed is not granted back, so the peer
 * stops at its window; released, the grant goes out at once. */
void wm_yamux_hold(struct wm_yamux *y, uint32_t id, bool hold)
{
	struct wm_yamux_stream *s = find(y, id);

	if (!s || s->hold == hold)
		return;
	s->hold = hold;
	if (!hold && s->recv_consumed && !s->remote_fin) {
		uint32_t n = s->recv_consumed;
		s->recv_consumed = 0;
		s->recv_window += n;
		send_hdr(y, WM_YAMUX_WINDOW_UPDATE, 0, s->id, n);
	}
}

int wm_yamux_set_window(struct wm_yamux *y, uint32_t id, uint32_t bytes)
{
	struct wm_yamux_stream *s = find(y, id);

	if (!s)
		return -ENOENT;
	if (bytes > WM_YAMUX_WINDOW_MAX)
		return -EINVAL;
	if (bytes <= s->window || s->remote_fin)
		return 0;
	uint32_t more = bytes - s->window;
	s->window = bytes;
	s->recv_window += more;
	send_hdr(y, WM_YAMUX_WINDOW_UPDATE, 0, s->id, more);
	return 0;
}

size_t wm_yamux_trim(struct wm_yamux *y)
{
	size_t kept = 0;

	for (size_t i = 0; i < y->max_streams; i++) {
		struct wm_yamux_stream *s = &y->streams[i];
		if (s->id && s->npending == 0 && s->pending) {
			free(s->pending);
			s->pending = NULL;
			s->cappending = 0;
		}
		kept += s->cappending;
	}
	return kept;
}

size_t wm_yamux_pending(struct wm_yamux *y, uint32_t id)
{
	struct wm_yamux_stream *s = find(y, id);

	return s ? s->npending : 0;
}
