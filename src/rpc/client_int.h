/* Client internals shared by client.c (connections, lifetime) and
 * client_call.c (calls as HTTP/2 streams). */
#ifndef WM_RPC_CLIENT_INT_H
#define WM_RPC_CLIENT_INT_H

#include "rpc/conn.h"
#include "rpc/frame.h"
#include "rpc/rpc.h"
#include "rpc/tls.h"

struct gai {
	uv_getaddrinfo_t req;
	struct cconn *cc; /* NULL once the connection gave up on the lookup */
};

struct cconn {
	struct wm_conn conn;
	struct wm_rpc_client *cl;
	struct cconn *prev, *next;
	struct wm_rpc_stream *calls; /* waiting for the connection or in flight */
	uv_connect_t connect_req;
	struct gai *gai;
	struct sockaddr_storage *addrs; /* a resolved name's addresses, tried in turn */
	size_t n_addrs, next_addr;
	char server_fp[WM_FINGERPRINT_LEN]; /* the server's certificate, "" before TLS / on unix */
	bool connected; /* the transport connected (later failures are not retried) */
	bool draining;	/* GOAWAY received: no new calls */
	bool h2_up;	/* the server sent its first frame */
	bool ping_out;	/* a keepalive PING is unanswered */
	/* its timeout came once: one more loop turn to read the answer */
	bool ping_grace;
};

struct wm_rpc_client {
	uv_loop_t *loop;
	char *host;
	uint16_t port;
	char *unix_path;
	SSL_CTX *tls;
	char *server_name;
	size_t max_message;
	uint32_t keepalive_ms, keepalive_timeout_ms, connect_timeout_ms;
	struct sockaddr_storage source; /* ss_family AF_UNSPEC: none */
	char authority[300];
	char target[300]; /* for messages: "host:port" or "unix:path" */
	struct cconn *active;
	struct cconn *conns;
	int n_conns;
	bool freeing;
	size_t (*call_metadata)(void *data, const char *path, const char *server_fp,
				struct wm_rpc_metadata *md, size_t max);
	void *call_metadata_data;
};

struct wm_rpc_stream {
	struct wm_rpc_client *cl;
	struct cconn *cc; /* NULL once completed */
	struct wm_rpc_stream *prev, *next;
	int refs;
	int32_t stream_id; /* 0 until submitted */
	char *path;
	struct wm_rpc_metadata *md; /* owned copies */
	size_t n_md;
	uint8_t *req; /* framed */
	size_t req_len, req_off;
	uint64_t timeout_ms, deadline;
	uv_timer_t *timer;
	bool in_slack; /* the deadline passed; waiting a little for the server's status */
	bool retried;  /* refused once by a server going away, sent again */
	struct wm_grpc_decoder dec;
	bool unary;
	wm_rpc_unary_cb unary_cb;
	wm_rpc_message_cb msg_cb;
	wm_rpc_close_cb close_cb;
	void *data;
	uint8_t *resp;
	size_t resp_len;
	unsigned n_msgs;
	int http_status;
	int grpc_status; /* -1 until received */
	char *grpc_message;
	bool bad_ctype, done, stream_closed;
};

/* client.c */
struct cconn *wm_cl_conn_get(struct wm_rpc_client *cl);
void wm_cl_free_now(struct wm_rpc_client *cl);

/* client_call.c */
int wm_cl_session_new(struct cconn *cc);
/* The connection's timer ran out: the connect deadline, or a keepalive
 * step (send a PING, or give up on an unanswered one). */
void wm_cl_conn_timeout(struct cconn *cc);
void wm_cl_call_submit(struct wm_rpc_stream *s);
/* Moves a call not yet submitted to another connection. */
void wm_cl_call_move(struct wm_rpc_stream *s, struct cconn *to);
/* Ends the call once: detaches it, resets its stream if still open, runs the
 * user's callback and drops the call's own reference. */
void wm_cl_call_complete(struct wm_rpc_stream *s, int status, const char *message);

#endif
