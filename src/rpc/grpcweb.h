/* gRPC-web (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md):
 * the wire pieces (content types, frames, the trailer frame, base64 text
 * mode) and a transport-independent adapter that runs a request through the
 * same method table, gate and handlers a gRPC server has, answering through
 * a sink of callbacks.
 *
 * Wire format. Request: POST <method path>, content-type
 * application/grpc-web[+proto] (binary) or application/grpc-web-text[+proto]
 * (the body base64-encoded, possibly as several padded chunks); the body is
 * one message framed as in gRPC (flag byte 0x00, 4-byte big-endian length,
 * payload). Response: content-type application/grpc-web+proto (or
 * -text+proto), message frames (flag 0x00), then one trailer frame (flag
 * 0x80) whose payload is "grpc-status:N\r\ngrpc-message:<percent-encoded>\r\n".
 * In text mode every chunk the sink receives is base64 of whole frames, so
 * a browser can decode each one as it arrives.
 *
 * The HTTP/2 server (server_call.c) uses the wire pieces for gRPC-web on the
 * TLS API port; an HTTP/1.1 listener uses wm_grpcweb_call_start below.
 */
#ifndef WM_RPC_GRPCWEB_H
#define WM_RPC_GRPCWEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc/rpc.h"

enum wm_grpcweb_mode {
	WM_GRPCWEB_NONE = 0, /* not gRPC-web */
	WM_GRPCWEB_BINARY,   /* application/grpc-web, application/grpc-web+proto */
	WM_GRPCWEB_TEXT,     /* application/grpc-web-text, application/grpc-web-text+proto */
};

#define WM_GRPCWEB_FLAG_TRAILER 0x80

/* The mode a content-type value asks for ("+proto" or no suffix, optional
 * ";params"; other suffixes such as +json are NONE: we speak protobuf only). */
enum wm_grpcweb_mode wm_grpcweb_mode_of(const char *ctype, size_t len);
/* The response content type of a mode (never NULL for BINARY and TEXT). */
const char *wm_grpcweb_content_type(enum wm_grpcweb_mode mode);

/* The trailer frame of a status: 0x80, length, "grpc-status:N\r\n" and, if
 * message is non-empty, "grpc-message:<percent-encoded, at most 1 KiB of
 * text>\r\n". Returns a malloc'd frame (*len bytes) or NULL on ENOMEM. */
uint8_t *wm_grpcweb_trailer(int status, const char *message, size_t *len);

/* Incremental decoder of grpc-web-text bodies: base64 in groups of four
 * characters, where a padded group may be followed by more groups (a client
 * may encode each chunk on its own). Whitespace is not allowed. */
struct wm_grpcweb_b64 {
	char q[4];
	size_t n;
};
/* Decodes in[0..len) into out (room for at least (len + 3) / 4 * 3 bytes),
 * storing the count in *outlen. -EBADMSG on a character outside the
 * alphabet or padding in the wrong place. */
int wm_grpcweb_b64_feed(struct wm_grpcweb_b64 *d, const uint8_t *in, size_t len, uint8_t *out,
			size_t *outlen);
/* True when no partial group is pending (the body may end here). */
bool wm_grpcweb_b64_idle(const struct wm_grpcweb_b64 *d);

/* Decodes a whole request body of mode (BINARY or TEXT) holding exactly one
 * uncompressed message of at most max bytes: *msg is malloc'd (the caller
 * frees; one byte allocated for an empty message), *msg_len its length.
 * Errors, each a gRPC status for the reply: -EBADMSG (bad base64 or
 * framing, a body that ends inside a message; INTERNAL), -EMSGSIZE (over
 * max; RESOURCE_EXHAUSTED), -EPROTONOSUPPORT (compressed; UNIMPLEMENTED),
 * -E2BIG (more than one message or none; UNIMPLEMENTED), -ENOMEM. */
int wm_grpcweb_request_decode(enum wm_grpcweb_mode mode, const uint8_t *body, size_t len,
			      size_t max, uint8_t **msg, size_t *msg_len);
/* The gRPC status and a message for an error of wm_grpcweb_request_decode. */
int wm_grpcweb_decode_status(int err, const char **why);

/* Whether a browser's Origin header (NULL: none sent, as by non-browser
 * clients) names the very server the request reached: scheme ("https",
 * "http") and authority (the request's Host or :authority, NULL: unknown)
 * exactly. CORS is same-origin only: a page of another site may not use
 * the credentials a browser holds for this one. */
bool wm_grpcweb_same_origin(const char *origin, const char *scheme, const char *authority);

/* ------------------------------------------------ the adapter for other transports */

/* Where the response goes. Every callback runs on the loop's thread, maybe
 * before wm_grpcweb_call_start returns (a handler that answers at once), and
 * never after end or after the transport called wm_grpcweb_call_detach.
 *
 * headers: the response starts (HTTP status, always 200: gRPC errors travel
 *   in the trailer frame; the content type to send). Once, before any data.
 * data: body bytes, already framed (and base64'd in text mode): send them as
 *   they are, in order, each as soon as possible (one chunk of a chunked
 *   HTTP/1.1 response; a server stream sends many over a long time). A
 *   negative return says the client is gone: the call is then cancelled
 *   and no other callback follows but end.
 * end: the body is complete (the trailer frame was the last data); the
 *   transport ends the response. Once per call, unless the transport
 *   detached first. *out of wm_grpcweb_call_start is set before any
 *   callback runs, so a transport may look its handle up in them, and may
 *   detach from inside end (the usual place). */
struct wm_grpcweb_sink {
	int (*headers)(void *data, int http_status, const char *content_type);
	int (*data)(void *data, const uint8_t *bytes, size_t len);
	void (*end)(void *data);
};

/* One request as the transport received it. The strings and the body are
 * borrowed for the duration of wm_grpcweb_call_start (copied as needed). */
struct wm_grpcweb_request {
	const char *path;	  /* "/webmesh.v1.Node/GetStatus" */
	const char *content_type; /* the request's content-type header */
	/* The request headers the handlers and the gate may read as gRPC
	 * metadata (lower-case keys): "authorization" for basic/LDAP
	 * credentials, key-auth and node-proof headers. grpc-* and
	 * x-webmesh-proxied-* are dropped: a browser never forwards calls. */
	const struct wm_rpc_metadata *md;
	size_t n_md;
	const char *peer; /* "1.2.3.4:5678", for logs */
	/* The identity the transport established: local = the caller is the
	 * local administrator (as on the local unix socket, e.g. a loopback
	 * session opened with the one-time token); otherwise the gate
	 * authenticates the metadata (and peer_cert, NOT verified here: the
	 * gate's mTLS authenticator verifies it) as for any remote call. */
	bool local;
	X509 *peer_cert; /* up-ref'd by the call; NULL for none */
	/* With local only: the TLS API's certificate fingerprint
	 * ("sha256:<hex>") for handlers that report it (Status.tls_fingerprint,
	 * the console's join command). Ignored for other callers: signatures
	 * bound to a TLS server (key auth) must not be honoured off it. */
	const char *server_fp;
	const uint8_t *body;
	size_t len;
};

struct wm_grpcweb_call;

/* Runs rq through the method of srv registered at rq->path (the gate and
 * handler the gRPC server itself would run), with srv's message size limit.
 * A request that is not gRPC-web, not decodable or of an unknown method is
 * answered through the sink (headers, trailer frame, end) like any call.
 * Returns 0 with *out set: the transport owns that handle and must call
 * wm_grpcweb_call_detach on it exactly once (after end, or when the client
 * goes away first); -EINVAL (no path, sink or srv) or -ENOMEM with no
 * callback run. */
int wm_grpcweb_call_start(struct wm_rpc_server *srv, uv_loop_t *loop,
			  const struct wm_grpcweb_request *rq, const struct wm_grpcweb_sink *sink,
			  void *sink_data, struct wm_grpcweb_call **out);
/* The transport is done with the call: no callback follows. If the response
 * had not ended (the client went away) the handler sees its call cancelled
 * (a server stream stops). */
void wm_grpcweb_call_detach(struct wm_grpcweb_call *c);

#endif
