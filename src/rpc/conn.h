/* One HTTP/2 connection over a libuv stream (TCP or unix socket), optionally
 * wrapped in TLS through memory BIOs. Shared by the server and the client;
 * internal to src/rpc. */
#ifndef WM_RPC_CONN_H
#define WM_RPC_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <uv.h>

struct wm_conn;

struct wm_conn_ops {
	/* The transport is up (TLS handshake done, h2 negotiated): create c->h2
	 * and submit SETTINGS. A negative return closes the connection. */
	int (*ready)(struct wm_conn *c);
	/* Every handle is closed and c->h2 is gone: the owner frees c. */
	void (*closed)(struct wm_conn *c);
	/* Optional: the deadline of wm_conn_arm passed. NULL = close with
	 * -ETIMEDOUT. */
	void (*timeout)(struct wm_conn *c);
};

struct wm_conn {
	uv_loop_t *loop;
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} io;
	uv_timer_t timer; /* connect/handshake deadline until the first h2 frame,
			     then the owner's (the server's idle timeout) */
	const struct wm_conn_ops *ops;
	void *owner;
	SSL *ssl;
	nghttp2_session *h2;
	int depth;	 /* > 0 while inside nghttp2 or a user callback it made */
	bool want_flush; /* a flush was asked for while depth > 0 */
	bool ready;
	bool closing;
	bool is_pipe;
	int open_handles;
	int err; /* why it closed: 0 for a clean end, else negative */
	char why[160];
	uint8_t *out; /* plaintext waiting to be written (coalesced frames) */
	size_t out_len, out_cap;
	size_t inflight; /* bytes handed to uv_write and not completed */
	char peer[64];	 /* "[v6addr]:port" fits */
};

/* Initializes the handles (not yet connected). The caller embeds c and frees it
 * in ops->closed. */
int wm_conn_init(uv_loop_t *loop, struct wm_conn *c, bool pipe, const struct wm_conn_ops *ops,
		 void *owner);
/* Starts (or restarts) a deadline: unless wm_conn_disarm runs first, after
 * ms ops->timeout runs, or without one the connection is closed with
 * -ETIMEDOUT. */
void wm_conn_arm(struct wm_conn *c, uint64_t ms);
void wm_conn_disarm(struct wm_conn *c);
/* Starts reading on a connected stream. ssl (taken over, may be NULL) has its
 * accept or connect state set; the handshake runs first. */
int wm_conn_start(struct wm_conn *c, SSL *ssl);
/* Writes what nghttp2 has to send, as far as the write queue allows. Safe to
 * call from anywhere: inside nghttp2 callbacks it only marks the need. */
void wm_conn_flush(struct wm_conn *c);
/* Closes the connection (idempotent); ops->closed runs from the close callback. */
void wm_conn_close(struct wm_conn *c, int err, const char *why);

/* Fills peer with "addr:port" of a connected TCP stream, or "unix". */
void wm_conn_set_peer(struct wm_conn *c);

/* nghttp2_nv from C strings (copied by nghttp2 on submit). */
#define WM_NV(n, v)                                                                                \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE     \
	}

#endif
