/* Authentication: who is calling. A chain of authenticators (mTLS, htpasswd,
 * LDAP, Ed25519 key), the first that accepts wins; a refusal lets the next
 * one try, a backend failure (-EIO, -ETIMEDOUT) ends the chain with that
 * error (no later method decides for a method that could not check); no
 * authenticator at all means an open mesh.
 *
 * Authenticators may block (LDAP talks to a server, bcrypt burns CPU on
 * purpose), so the chain runs on the libuv threadpool (uv_queue_work) and
 * answers on the loop. Each authenticator must therefore be thread-safe.
 * Nothing here logs; reasons never contain a password, a hash or a key.
 *
 * Request headers (lower case, as HTTP/2 sends them):
 *   authorization:        "Basic base64(user:password)"  (htpasswd and LDAP)
 *   x-webmesh-key-id, x-webmesh-key-window, x-webmesh-key-audience,
 *   x-webmesh-key-sig  (see core/keyauth.h)
 */
#ifndef WM_AUTH_AUTH_H
#define WM_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>
#include <uv.h>

#include "core/config.h"
#include "core/keyauth.h"
#include "core/rbac.h"
#include "rpc/rpc.h"

#define WM_AUTH_ID_MAX WM_RBAC_NAME_MAX
#define WM_AUTH_REASON_MAX 160

/* Who a call comes from. */
struct wm_identity {
	char id[WM_AUTH_ID_MAX + 1]; /* node or user ID; "" when anonymous or local */
	enum wm_identity_kind kind;
	char method[16]; /* "mtls", "basic", "ldap", "key", "local", "anonymous" */
	bool local;	 /* the unix socket: the local administrator, allowed everything */
	bool anonymous;	 /* open mesh: nobody was asked for credentials */
	/* kind WM_ID_NODE and id proven by a node proof (its WireGuard key), not
	 * by a name: what a "proven server" needs (services/gate.h) */
	bool proven;
};

/* What the RPC layer knows about a call. Strings and the certificate are
 * borrowed for the duration of wm_auth_authenticate (it copies them). */
struct wm_auth_request {
	X509 *peer_cert;	   /* the client certificate (wm_rpc_call_peer_cert), or NULL */
	const char *authorization; /* the authorization header, or NULL */
	const char *key_id, *key_window, *key_sig; /* key-auth headers, or NULL */
	const char *key_audience;		   /* key-auth audience header, or NULL */
	/* The fingerprint of the TLS certificate this server presented on the
	 * call's connection ("" on the unix socket): key-auth signatures must
	 * be for it. */
	char server_fp[WM_KEYAUTH_AUDIENCE_LEN + 1];
	bool local;	  /* came in on the unix socket */
	int64_t now;	  /* unix seconds; 0 = time(NULL) */
	const char *peer; /* the caller's address (wm_rpc_call_peer) for the per-source
			     limits, or NULL: not limited per source */
	/* Plugin authenticators (issue 12) see every metadata entry: the call
	 * they are copied from by wm_auth_authenticate (NULL: none), and the
	 * copy the authenticators get (at most WM_AUTH_MD_MAX entries). */
	const struct wm_rpc_call *call;
	const struct wm_rpc_metadata *md;
	size_t n_md;
};
#define WM_AUTH_MD_MAX 64

/* Fills req from a server call: peer certificate, headers, local or not,
 * peer address; now = 0. The strings stay the call's. */
void wm_auth_request_from_call(const struct wm_rpc_call *call, struct wm_auth_request *req);

/* ---- authenticators (pluggable) ---- */

struct wm_authenticator_ops {
	const char *name; /* "mtls", ... */
	/* Runs on a threadpool thread; may block. Returns 0 and fills *out when
	 * it accepts; -ENOENT when the request carries no credentials of its
	 * kind; -EACCES when it refuses them (why says why, for the server log);
	 * -EIO / -ETIMEDOUT when its backend failed. */
	int (*authenticate)(void *self, const struct wm_auth_request *req, struct wm_identity *out,
			    char *why, size_t whylen);
	void (*free)(void *self);
};

struct wm_authenticator {
	const struct wm_authenticator_ops *ops;
	void *self;
};

/* mTLS: the certificate is verified again here (chain to ca_file, validity at
 * req->now, usable for TLS client authentication: keyUsage digitalSignature
 * and extendedKeyUsage clientAuth when present), whatever the TLS layer did.
 * The ID is the Subject CN (exactly one), or with san "dns", "email" or "uri"
 * the first subjectAltName of that type. */
int wm_auth_mtls_new(const char *ca_file, const char *san, struct wm_authenticator *out, char *err,
		     size_t errlen);
/* htpasswd (bcrypt, yescrypt, SHA-crypt; weaker hashes refused at load with
 * the line). The file is checked (inode, size, mtime) on every use and
 * re-read when it changed; a file that became invalid refuses everyone until
 * it is fixed (fail closed: a typo must not keep a removed user in). */
int wm_auth_basic_new(const char *path, struct wm_authenticator *out, char *err, size_t errlen);

struct wm_auth_ldap_config {
	const char *url;     /* ldap://host[:port] or ldaps://host[:port] */
	const char *bind_dn; /* service account, NULL = anonymous search */
	const char *bind_password;
	const char *base_dn;
	const char *user_attr;	 /* "uid" */
	const char *user_filter; /* extra filter, e.g. "(objectClass=person)", or NULL */
	const char *id_attr;	 /* the node ID, "uid" */
	const char *disabled_attr, *disabled_value; /* or NULL */
	const char *ca_file; /* for ldaps:// and StartTLS, NULL = system CAs */
	bool starttls;
	unsigned timeout_seconds; /* network and operation timeout, 0 = 5 */
};
/* LDAP: service bind, search for exactly one user by the RFC 4515-escaped
 * name, disabled users refused, then a bind as the user with the password
 * (empty passwords refused: they would be unauthenticated binds), ID from
 * id_attr. Every request opens its own connection. */
int wm_auth_ldap_new(const struct wm_auth_ldap_config *c, struct wm_authenticator *out, char *err,
		     size_t errlen);
/* Ed25519 key auth with "NODE-ID BASE64-PUBLIC-KEY" lines in path (re-read
 * when it changes, like htpasswd), skew as in wm_keyauth_window_ok. */
int wm_auth_key_new(const char *path, uint32_t skew, struct wm_authenticator *out, char *err,
		    size_t errlen);

/* ---- the chain ---- */

struct wm_auth;

/* An empty chain (an open mesh). */
int wm_auth_new(uv_loop_t *loop, struct wm_auth **out);
/* Appends an authenticator; the chain owns it from now on (also on error). */
int wm_auth_add(struct wm_auth *a, struct wm_authenticator *au);
/* The chain the configuration asks for, in the order mtls, key auth,
 * basic-auth-file, LDAP. err names the key and the problem. */
int wm_auth_from_config(uv_loop_t *loop, const struct wm_config *cfg, struct wm_auth **out,
			char *err, size_t errlen);
/* True when no authenticator is configured. */
bool wm_auth_is_open(const struct wm_auth *a);
/* "mtls,basic" for status; "none" when open. */
const char *wm_auth_methods(const struct wm_auth *a);

/* err 0: id is the caller; else -EACCES (refused or no credentials),
 * -EIO/-ETIMEDOUT (a backend failed), -ECANCELED (the chain is being freed),
 * with why for the server log. id and why are valid during the callback. */
typedef void (*wm_auth_cb)(void *data, int err, const struct wm_identity *id, const char *why);
/* Authenticates req. Local requests are the local administrator and an open
 * chain makes everyone anonymous: both answer without a thread, but still
 * from a later loop turn. Returns 0 (cb runs exactly once, never before this
 * returns), -ENOMEM, -EBUSY when max_pending requests wait, and, for a
 * request with a peer (core/authlimit.h): -EAGAIN when its source or its user
 * name is waiting after failed attempts, -EUSERS when its source has
 * max_pending_per_source requests being checked. */
#define WM_AUTH_MAX_PENDING 256
int wm_auth_authenticate(struct wm_auth *a, const struct wm_auth_request *req, wm_auth_cb cb,
			 void *data);

/* The limits of wm_auth_authenticate; 0 = the default (WM_AUTH_MAX_PENDING,
 * and core/authlimit.h's). Call before the first request. */
struct wm_auth_limits {
	uint32_t max_pending;
	uint32_t max_pending_per_source;
	uint32_t backoff_max_ms;
};
int wm_auth_set_limits(struct wm_auth *a, const struct wm_auth_limits *l);
/* The reasons a caller gets for -EAGAIN and -EUSERS (RESOURCE_EXHAUSTED). */
#define WM_AUTH_WHY_BACKOFF                                                                        \
	"too many failed authentication attempts from this address or for this user; wait "        \
	"and try again"
#define WM_AUTH_WHY_SOURCE_BUSY "too many authentication attempts in progress from this address"
/* True when a refusal by these limits for peer should be logged: once per
 * source (core/source.h) and minute. */
bool wm_auth_log_due(struct wm_auth *a, const char *peer);
/* The synchronous chain (for tests and tools): blocks. */
int wm_auth_authenticate_sync(struct wm_auth *a, const struct wm_auth_request *req,
			      struct wm_identity *out, char *why, size_t whylen);
/* Frees the chain; pending requests complete with -ECANCELED first (from
 * a later loop turn: run the loop). NULL is fine. */
void wm_auth_free(struct wm_auth *a);

/* ---- client side ---- */

/* Credentials a joiner or wmctl sends. Secrets are wiped on free. */
struct wm_auth_client {
	char *authorization;  /* "Basic ...", or NULL */
	unsigned char sk[64]; /* Ed25519 secret key */
	bool has_key;
	char key_id[WM_AUTH_ID_MAX + 1];
	char window[24];
	char audience[WM_KEYAUTH_AUDIENCE_LEN + 1];
	char sig[96];
};
/* user/password may be NULL (no basic auth); key_file may be NULL (no key
 * auth): a file holding the base64 32-byte Ed25519 seed, which must not be
 * readable by group or others. */
int wm_auth_client_init(struct wm_auth_client *c, const char *user, const char *password,
			const char *key_file, char *err, size_t errlen);
/* Fills up to 5 metadata entries (key, value pointing into c) for a call by
 * node_id at unix time now to the server whose TLS certificate has the
 * fingerprint audience (as seen in the handshake); returns how many. With
 * key auth node_id is signed for that server; without an audience (no TLS)
 * no key-auth headers are sent. */
#define WM_AUTH_CLIENT_MD_MAX 5
size_t wm_auth_client_metadata(struct wm_auth_client *c, const char *node_id, const char *audience,
			       int64_t now, struct wm_rpc_metadata *md, size_t max);
void wm_auth_client_free(struct wm_auth_client *c);
/* Writes a new Ed25519 seed to path (mode 0600, refuses to overwrite) and
 * the base64 public key to pub (45 bytes). */
int wm_auth_key_generate(const char *path, char pub[45], char *err, size_t errlen);

/* ---- node proofs (core/nodeproof.h) ---- */

/* The three header values of one proof. */
struct wm_node_proof {
	char id[WM_AUTH_ID_MAX + 1];
	char window[24];
	char proof[48];
};
/* The proof that node_id, holding the WireGuard private key priv, calls path
 * on server audience (whose WireGuard public key is audience_pub) at unix
 * time now. 0, -EINVAL (an invalid ID, audience or path; a small-order key)
 * or -EIO; out is zeroed on error. */
int wm_node_proof_make(const uint8_t priv[32], const char *node_id, const char *audience,
		       const uint8_t audience_pub[32], const char *path, int64_t now,
		       struct wm_node_proof *out);
/* Fills 3 metadata entries pointing into p and returns 3 (0 when max < 3 or p
 * holds no proof). */
size_t wm_node_proof_metadata(const struct wm_node_proof *p, struct wm_rpc_metadata *md,
			      size_t max);
/* Checks a proof's header values (id, window, proof) received by server
 * self_id, holding priv, for a call of path, against the caller's registered
 * WireGuard public key caller_pub, at unix time now with the key-auth skew
 * rules. 0 when it holds; -EACCES (malformed, outside the window, no match)
 * or -EIO, with the reason in why. Runs on the loop: one X25519 and two
 * SHA-256 passes. */
int wm_node_proof_verify(const uint8_t priv[32], const char *self_id, const uint8_t caller_pub[32],
			 const char *id, const char *window, const char *proof, const char *path,
			 int64_t now, uint32_t skew, char *why, size_t whylen);

#endif
