/* Join by rendezvous (see rendezvous.h): the announce, the lookup, the
 * mutual proof of the secret and the byte pipes between a libp2p stream
 * and a TCP connection (to our API on a server, from the joiner's gRPC
 * client on a joiner). */
#include "p2p/rendezvous.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "core/error.h"
#include "core/hostport.h"
#include "util/log.h"

#define RETRY_MS 2000			     /* between lookups that found no server */
#define TICK_MS 250			     /* while no peer is there to ask */
#define HELD_MAX (256u * 1024u)		     /* bytes waiting for the other side */
#define WRITE_QUEUE_MAX (4u * 1024u * 1024u) /* bytes queued to one TCP peer */
#define MAX_PROBES 4

enum pstate { P_HS, P_OPEN };

struct pipe {
	struct pipe *next;
	struct wm_rdv *r;
	bool server, probe;
	enum pstate st;
	struct wm_p2p_stream *s;
	bool attached;		/* the host holds us as a stream's (or open's) context */
	struct wm_peer_id peer; /* the server, on a joiner */
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_shutdown_t shutdown;
	bool tcp_init, tcp_closing, tcp_closed;
	bool api_up; /* a server's connection to its API is made */
	bool dead;
	uint8_t nonce[32];
	uint8_t hs[64];
	size_t nhs;
	uint8_t *held;
	size_t nheld;
	uint64_t created_ms;
	struct wm_kad_peer kpeer; /* a probe: the provider's record (addresses) */
};

struct wm_rdv {
	struct wm_p2p *host;
	struct wm_dht *dht;
	bool serving;
	uint8_t serve_key[32];
	struct sockaddr_storage api;
	struct pipe *pipes;
	size_t npipes;
	/* limits (wm_rdv_config); a joined member keeps its pipe: its upstream */
	uint32_t max_pipes, handshake_ms, handshakes_per_peer;
	/* joining */
	bool joining, looking, ready;
	uint8_t join_key[32];
	uint8_t dht_key[WM_RDV_KEY_LEN];
	wm_rdv_join_cb cb;
	void *ud;
	uv_timer_t retry;
	bool retry_init;
	uint64_t next_lookup_ms;
	uv_timer_t sweep; /* ends handshakes that take too long */
	struct wm_peer_id server;
	struct wm_kad_peer server_peer;
	uv_tcp_t listener;
	bool listener_init;
	bool stopped;
	int pending_closes;
	bool freeing;
	void (*done_cb)(void *data);
	void *done_data;
};

static void pipe_kill(struct pipe *p, const char *why);

/* ---- derivations ---- */

static void derive(const char *label, const char *secret, uint8_t out[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned len = 32;
	uint8_t zero = 0;

	if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(c, label, strlen(label)) || !EVP_DigestUpdate(c, &zero, 1) ||
	    !EVP_DigestUpdate(c, secret, strlen(secret)) || !EVP_DigestFinal_ex(c, out, &len))
		memset(out, 0, 32); /* not reached with a working libcrypto */
	EVP_MD_CTX_free(c);
}

void wm_rdv_dht_key(const char *secret, uint8_t out[WM_RDV_KEY_LEN])
{
	out[0] = 0x12;
	out[1] = 0x20;
	derive("webmesh rendezvous dht v1", secret, out + 2);
}

void wm_rdv_hmac_key(const char *secret, uint8_t out[32])
{
	derive("webmesh rendezvous hmac v1", secret, out);
}

int wm_rdv_proof(const uint8_t key[32], const char *role, const uint8_t nonce[32],
		 const struct wm_peer_id *server, const struct wm_peer_id *joiner, uint8_t out[32])
{
	uint8_t msg[16 + 32 + 2 * WM_PEERID_LEN];
	size_t rl = strlen(role);
	unsigned len = 32;

	if (rl > 16)
		return -EINVAL;
	memset(msg, 0, 16);
	memcpy(msg, role, rl);
	memcpy(msg + 16, nonce, 32);
	memcpy(msg + 48, server->b, WM_PEERID_LEN);
	memcpy(msg + 48 + WM_PEERID_LEN, joiner->b, WM_PEERID_LEN);
	return HMAC(EVP_sha256(), key, 32, msg, sizeof(msg), out, &len) ? 0 : -EIO;
}

/* ---- pipes ---- */

static void maybe_freed(struct wm_rdv *r);

static void pipe_maybe_free(struct pipe *p)
{
	struct wm_rdv *r = p->r;

	if (p->attached || (p->tcp_init && !p->tcp_closed))
		return;
	for (struct pipe **pp = &r->pipes; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			r->npipes--;
			break;
		}
	}
	free(p->held);
	free(p);
	maybe_freed(r);
}

static void on_tcp_closed(uv_handle_t *h)
{
	struct pipe *p = h->data;

	p->tcp_closed = true;
	pipe_maybe_free(p);
}

static void pipe_kill(struct pipe *p, const char *why)
{
	if (!p->dead)
		wm_debug("libp2p: rendezvous pipe closed: %s", why);
	p->dead = true;
	if (p->tcp_init && !p->tcp_closing) {
		p->tcp_closing = true;
		uv_close((uv_handle_t *)&p->tcp, on_tcp_closed);
	}
	if (p->attached && p->s) {
		struct wm_p2p_stream *s = p->s;
		p->s = NULL;
		wm_p2p_reset(s); /* no gone after our own reset: detached here */
		p->attached = false;
	}
	pipe_maybe_free(p);
}

static struct pipe *pipe_new(struct wm_rdv *r, bool server)
{
	struct pipe *p;

	if (r->npipes >= r->max_pipes || r->stopped || !(p = calloc(1, sizeof(*p))))
		return NULL;
	p->r = r;
	p->server = server;
	p->created_ms = uv_now(wm_p2p_loop(r->host));
	p->tcp.data = p;
	p->next = r->pipes;
	r->pipes = p;
	r->npipes++;
	return p;
}

static int hold(struct pipe *p, const uint8_t *buf, size_t len)
{
	if (len > HELD_MAX - p->nheld)
		return -ENOBUFS;
	uint8_t *b = realloc(p->held, p->nheld + len);
	if (!b)
		return -ENOMEM;
	memcpy(b + p->nheld, buf, len);
	p->held = b;
	p->nheld += len;
	return 0;
}

struct wreq {
	uv_write_t req;
	uint8_t data[];
};

static void on_tcp_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct pipe *p = req->data;

	free(w);
	if (status < 0 && status != UV_ECANCELED && !p->dead)
		pipe_kill(p, uv_strerror(status));
}

static void tcp_send(struct pipe *p, const uint8_t *buf, size_t len)
{
	if (p->dead || len == 0)
		return;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&p->tcp) + len > WRITE_QUEUE_MAX) {
		pipe_kill(p, "the TCP side does not read");
		return;
	}
	struct wreq *w = malloc(sizeof(*w) + len);
	if (!w) {
		pipe_kill(p, "out of memory");
		return;
	}
	memcpy(w->data, buf, len);
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
	w->req.data = p;
	if (uv_write(&w->req, (uv_stream_t *)&p->tcp, &b, 1, on_tcp_written)) {
		free(w);
		pipe_kill(p, "cannot write");
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	static char b[65536]; /* one read at a time on the loop */
	*buf = uv_buf_init(b, sizeof(b));
}

static void on_tcp_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct pipe *p = st->data;

	if (p->dead)
		return;
	if (n < 0) {
		if (n == UV_EOF && p->s && p->st == P_OPEN) {
			uv_read_stop(st);
			wm_p2p_close(p->s); /* gone follows once the peer closes too */
			return;
		}
		pipe_kill(p, n == UV_EOF ? "closed" : uv_strerror((int)n));
		return;
	}
	if (n == 0)
		return;
	if (p->st != P_OPEN || !p->s) {
		/* A joiner's client speaks before the proof is in: held. */
		if (hold(p, (const uint8_t *)buf->base, (size_t)n))
			pipe_kill(p, "too much before the handshake");
		return;
	}
	if (wm_p2p_write(p->s, buf->base, (size_t)n))
		pipe_kill(p, "the libp2p side does not read");
}

static void on_api_connected(uv_connect_t *req, int status)
{
	struct pipe *p = req->data;

	if (p->dead)
		return;
	if (status < 0) {
		wm_warn("libp2p: rendezvous: cannot reach our own API: %s", uv_strerror(status));
		pipe_kill(p, "API unreachable");
		return;
	}
	uv_tcp_nodelay(&p->tcp, 1);
	if (uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_tcp_read)) {
		pipe_kill(p, "cannot read");
		return;
	}
	p->api_up = true;
	tcp_send(p, p->held, p->nheld);
	free(p->held);
	p->held = NULL;
	p->nheld = 0;
}

/* The handshake bytes from the stream; the pipe's first bytes after it. */
static void server_hs(struct pipe *p, const uint8_t *buf, size_t len)
{
	struct wm_rdv *r = p->r;
	const struct wm_peer_id *me = wm_p2p_id(r->host);
	struct wm_peer_id joiner_id;
	const struct wm_peer_id *joiner = &joiner_id;
	uint8_t proof[32];

	wm_p2p_stream_peer(p->s, &joiner_id);

	while (len && p->st == P_HS) {
		size_t want = (p->nhs < 32 ? 32 : 64) - p->nhs;
		size_t n = len < want ? len : want;
		memcpy(p->hs + p->nhs, buf, n);
		p->nhs += n;
		buf += n;
		len -= n;
		if (p->nhs == 32) {
			/* The joiner's nonce: our proof and our nonce. */
			uint8_t out[64];
			if (wm_rdv_proof(r->serve_key, "server", p->hs, me, joiner, out) ||
			    RAND_bytes(p->nonce, 32) != 1) {
				pipe_kill(p, "crypto");
				return;
			}
			memcpy(out + 32, p->nonce, 32);
			if (wm_p2p_write(p->s, out, sizeof(out))) {
				pipe_kill(p, "cannot write");
				return;
			}
		} else if (p->nhs == 64) {
			if (wm_rdv_proof(r->serve_key, "joiner", p->nonce, me, joiner, proof) ||
			    CRYPTO_memcmp(proof, p->hs + 32, 32)) {
				char id[WM_PEERID_TEXT_MAX];
				wm_peer_id_print(joiner, id);
				wm_warn("libp2p: rendezvous: %s does not know the secret; refused",
					id);
				pipe_kill(p, "bad proof");
				return;
			}
			p->st = P_OPEN;
			if (uv_tcp_init(wm_p2p_loop(r->host), &p->tcp)) {
				pipe_kill(p, "cannot open a socket");
				return;
			}
			p->tcp_init = true;
			p->connect.data = p;
			if (uv_tcp_connect(&p->connect, &p->tcp, (struct sockaddr *)&r->api,
					   on_api_connected)) {
				pipe_kill(p, "cannot connect to our API");
				return;
			}
		}
	}
	if (len && hold(p, buf, len))
		pipe_kill(p, "too much before the API connection");
}

static void joiner_ready(struct wm_rdv *r, struct pipe *probe);

static void joiner_hs(struct pipe *p, const uint8_t *buf, size_t len)
{
	struct wm_rdv *r = p->r;
	const struct wm_peer_id *me = wm_p2p_id(r->host);
	uint8_t proof[32];

	size_t n = len < 64 - p->nhs ? len : 64 - p->nhs;
	memcpy(p->hs + p->nhs, buf, n);
	p->nhs += n;
	buf += n;
	len -= n;
	if (p->nhs < 64)
		return;
	if (len) {
		pipe_kill(p, "the server spoke before our proof");
		return;
	}
	if (wm_rdv_proof(r->join_key, "server", p->nonce, &p->peer, me, proof) ||
	    CRYPTO_memcmp(proof, p->hs, 32)) {
		char id[WM_PEERID_TEXT_MAX];
		wm_peer_id_print(&p->peer, id);
		wm_warn("libp2p: rendezvous: %s announced the key but cannot prove it knows the "
			"secret; not joining through it",
			id);
		pipe_kill(p, "bad proof");
		return;
	}
	if (wm_rdv_proof(r->join_key, "joiner", p->hs + 32, &p->peer, me, proof) ||
	    wm_p2p_write(p->s, proof, 32)) {
		pipe_kill(p, "cannot write");
		return;
	}
	p->st = P_OPEN;
	if (p->probe) {
		joiner_ready(r, p);
		pipe_kill(p, "probe done");
		return;
	}
	if (p->nheld && wm_p2p_write(p->s, p->held, p->nheld)) {
		pipe_kill(p, "cannot write");
		return;
	}
	free(p->held);
	p->held = NULL;
	p->nheld = 0;
}

/* ---- stream callbacks ---- */

static const struct wm_p2p_stream_cb stream_cb;

static int on_accept(void *arg, struct wm_p2p_stream *s, const struct wm_p2p_stream_cb **cb,
		     void **ud)
{
	struct wm_rdv *r = arg;
	struct pipe *p;

	if (!r->serving)
		return -EPERM;
	/* A peer that opens pipes and never proves anything holds at most a
	 * few, for handshake_ms each. */
	size_t n = 0;
	struct wm_peer_id from, other;

	wm_p2p_stream_peer(s, &from);
	for (struct pipe *o = r->pipes; o; o = o->next) {
		if (!o->server || o->st != P_HS || o->dead || !o->s)
			continue;
		wm_p2p_stream_peer(o->s, &other);
		n += wm_peer_id_equal(&other, &from);
	}
	if (n >= r->handshakes_per_peer || !(p = pipe_new(r, true)))
		return -EBUSY;
	p->s = s;
	p->attached = true;
	*cb = &stream_cb;
	*ud = p;
	return 0;
}

static void on_opened(void *ud, struct wm_p2p_stream *s)
{
	struct pipe *p = ud;

	p->s = s;
	if (p->dead) {
		p->s = NULL;
		wm_p2p_reset(s);
		p->attached = false;
		pipe_kill(p, "stream gone");
		return;
	}
	if (RAND_bytes(p->nonce, 32) != 1 || wm_p2p_write(s, p->nonce, 32))
		pipe_kill(p, "cannot start the handshake");
}

static void on_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	struct pipe *p = ud;

	(void)s;
	if (p->dead)
		return;
	if (p->st == P_HS) {
		if (p->server)
			server_hs(p, buf, len);
		else
			joiner_hs(p, buf, len);
		return;
	}
	if (!p->server || p->api_up)
		tcp_send(p, buf, len);
	else if (hold(p, buf, len))
		pipe_kill(p, "too much before the API connection");
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	(void)req;
	(void)status;
}

static void on_fin(void *ud, struct wm_p2p_stream *s)
{
	struct pipe *p = ud;

	(void)s;
	if (p->dead)
		return;
	if (p->st != P_OPEN || !p->tcp_init) {
		pipe_kill(p, "closed during the handshake");
		return;
	}
	p->shutdown.data = p;
	if (uv_shutdown(&p->shutdown, (uv_stream_t *)&p->tcp, on_shutdown))
		pipe_kill(p, "closed");
}

/* Also a stream that never opened: its connection could not be made, or
 * the server refused the protocol. */
static void on_gone(void *ud, struct wm_p2p_stream *s)
{
	struct pipe *p = ud;

	(void)s;
	p->s = NULL;
	p->attached = false;
	pipe_kill(p, "stream gone");
}

static const struct wm_p2p_stream_cb stream_cb = {
	.data = on_data,
	.fin = on_fin,
	.gone = on_gone,
	.opened = on_opened,
};

/* ---- joining ---- */

static void on_listener_conn(uv_stream_t *server, int status)
{
	struct wm_rdv *r = server->data;
	struct pipe *p;

	if (status < 0)
		return;
	p = pipe_new(r, false);
	if (!p) {
		uv_tcp_t *t = malloc(sizeof(*t));
		if (t && uv_tcp_init(server->loop, t) == 0) {
			uv_accept(server, (uv_stream_t *)t);
			uv_close((uv_handle_t *)t, (uv_close_cb)free);
		} else {
			free(t);
		}
		return;
	}
	uv_tcp_init(server->loop, &p->tcp);
	p->tcp_init = true;
	if (uv_accept(server, (uv_stream_t *)&p->tcp) ||
	    uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_tcp_read)) {
		pipe_kill(p, "accept failed");
		return;
	}
	uv_tcp_nodelay(&p->tcp, 1);
	p->peer = r->server;
	p->attached = true;
	struct wm_p2p_dial to = {
		.addrs = (const uint8_t(*)[WM_MADDR_MAX])r->server_peer.addrs,
		.lens = r->server_peer.addr_len,
		.naddrs = r->server_peer.naddrs,
	};
	int rc = wm_p2p_open(r->host, &r->server, WM_RDV_PROTOCOL, &to, &stream_cb, p, &p->s);
	if (rc) {
		p->attached = false;
		pipe_kill(p, wm_strerror(rc));
	}
}

static void joiner_ready(struct wm_rdv *r, struct pipe *probe)
{
	struct sockaddr_in sin;
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	char id[WM_PEERID_TEXT_MAX], hp[64];

	if (r->ready)
		return;
	r->server = probe->peer;
	r->server_peer = probe->kpeer;
	wm_peer_id_print(&r->server, id);
	uv_ip4_addr("127.0.0.1", 0, &sin);
	uv_tcp_init(wm_p2p_loop(r->host), &r->listener);
	r->listener_init = true;
	r->listener.data = r;
	if (uv_tcp_bind(&r->listener, (struct sockaddr *)&sin, 0) ||
	    uv_listen((uv_stream_t *)&r->listener, 16, on_listener_conn) ||
	    uv_tcp_getsockname(&r->listener, (struct sockaddr *)&ss, &sl)) {
		wm_error("libp2p: rendezvous: cannot listen on loopback");
		return;
	}
	r->ready = true;
	uv_timer_stop(&r->retry);
	snprintf(hp, sizeof(hp), "127.0.0.1:%u",
		 (unsigned)ntohs(((struct sockaddr_in *)&ss)->sin_port));
	wm_info("libp2p: rendezvous: %s proved it knows the secret; joining through it (%s)", id,
		hp);
	r->cb(r->ud, hp);
}

static void on_provider(void *ud, const struct wm_kad_peer *kp, int err)
{
	struct wm_rdv *r = ud;
	struct wm_peer_id id;
	struct pipe *p;

	if (!kp) {
		r->looking = false;
		/* No peer to ask yet (the bootstrap connection is on its way):
		 * again at the next tick; otherwise in RETRY_MS. */
		r->next_lookup_ms = uv_now(wm_p2p_loop(r->host)) + (err == -ENOENT ? 0 : RETRY_MS);
		if (err && !r->ready)
			wm_debug("libp2p: rendezvous lookup: %s", wm_strerror(err));
		return;
	}
	if (r->ready || r->stopped || wm_peer_id_from_bytes(kp->id, kp->id_len, &id, NULL) ||
	    wm_peer_id_equal(&id, wm_p2p_id(r->host)))
		return;
	char text[WM_PEERID_TEXT_MAX];
	wm_peer_id_print(&id, text);
	wm_debug("libp2p: rendezvous: %s announces the key; asking it to prove the secret", text);
	size_t probes = 0;
	for (struct pipe *o = r->pipes; o; o = o->next)
		probes += o->probe;
	if (probes >= MAX_PROBES || !(p = pipe_new(r, false)))
		return;
	p->probe = true;
	p->peer = id;
	p->kpeer = *kp;
	p->attached = true;
	struct wm_p2p_dial to = {
		.addrs = (const uint8_t(*)[WM_MADDR_MAX])kp->addrs,
		.lens = kp->addr_len,
		.naddrs = kp->naddrs,
	};
	int rc = wm_p2p_open(r->host, &id, WM_RDV_PROTOCOL, &to, &stream_cb, p, &p->s);
	if (rc) {
		p->attached = false;
		pipe_kill(p, wm_strerror(rc));
	}
}

static void on_retry(uv_timer_t *t)
{
	struct wm_rdv *r = t->data;

	if (r->ready || r->stopped || r->looking || uv_now(t->loop) < r->next_lookup_ms)
		return;
	for (struct pipe *o = r->pipes; o; o = o->next)
		if (o->probe)
			return; /* a probe is on its way */
	/* looking first: the lookup may end inside the call. */
	r->looking = true;
	int rc = wm_dht_find_providers(r->dht, r->dht_key, sizeof(r->dht_key), MAX_PROBES,
				       on_provider, r);
	if (rc) {
		r->looking = false;
		wm_debug("libp2p: rendezvous lookup not started: %s", wm_strerror(rc));
	}
}

static void on_sweep(uv_timer_t *t)
{
	struct wm_rdv *r = t->data;
	uint64_t now = uv_now(t->loop);

	for (struct pipe *p = r->pipes, *next; p; p = next) {
		next = p->next;
		if (!p->dead && p->st == P_HS && now - p->created_ms > r->handshake_ms) {
			pipe_kill(p, "the handshake took too long");
			break; /* the list may have changed: the next sweep goes on */
		}
	}
}

/* ---- public ---- */

static int check_secret(const char *s, const char *what, char *err, size_t errlen)
{
	size_t n = s ? strlen(s) : 0;

	if (n < WM_RDV_SECRET_MIN || n > WM_RDV_SECRET_MAX) {
		wm_seterr(err, errlen,
			  "%s: the secret must have %d to %d characters (it is the mesh's only "
			  "protection against a stranger posing as it)",
			  what, WM_RDV_SECRET_MIN, WM_RDV_SECRET_MAX);
		return -EINVAL;
	}
	return 0;
}

int wm_rdv_new(const struct wm_rdv_config *cfg, struct wm_rdv **out, char *err, size_t errlen)
{
	struct wm_rdv *r;
	int rc;

	if (cfg->announce_secret &&
	    (rc = check_secret(cfg->announce_secret, "announce-rendezvous", err, errlen)))
		return rc;
	if (!(r = calloc(1, sizeof(*r))))
		return -ENOMEM;
	r->host = cfg->host;
	r->dht = cfg->dht;
	r->max_pipes = cfg->max_pipes ? cfg->max_pipes : 256;
	r->handshake_ms = cfg->handshake_ms ? cfg->handshake_ms : 10000;
	r->handshakes_per_peer = cfg->handshakes_per_peer ? cfg->handshakes_per_peer : 4;
	if (cfg->announce_secret) {
		char host[256];
		uint16_t port;
		struct sockaddr_in *in = (struct sockaddr_in *)&r->api;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&r->api;
		if (!cfg->api_addr || wm_hostport_split(cfg->api_addr, host, sizeof(host), &port) ||
		    (uv_ip4_addr(host, port, in) && uv_ip6_addr(host, port, in6))) {
			wm_seterr(err, errlen,
				  "announce-rendezvous: our API address \"%s\" is not "
				  "IP:PORT",
				  cfg->api_addr ? cfg->api_addr : "");
			free(r);
			return -EINVAL;
		}
		/* The pipe ends at our own listener: an unspecified bind address
		 * is reached on loopback. */
		static const uint8_t zero[16];
		if (r->api.ss_family == AF_INET && in->sin_addr.s_addr == 0)
			in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (r->api.ss_family == AF_INET6 && !memcmp(&in6->sin6_addr, zero, 16))
			in6->sin6_addr = in6addr_loopback;
		wm_rdv_hmac_key(cfg->announce_secret, r->serve_key);
		r->serving = true;
	}
	if (cfg->announce_secret) {
		uint8_t key[WM_RDV_KEY_LEN];
		wm_rdv_dht_key(cfg->announce_secret, key);
		if ((rc = wm_dht_provide(r->dht, key, sizeof(key)))) {
			wm_seterr(err, errlen, "announce-rendezvous: %s", wm_strerror(rc));
			OPENSSL_cleanse(r->serve_key, sizeof(r->serve_key));
			free(r);
			return rc;
		}
	}
	/* Only a server takes streams (and identify advertises what is
	 * registered); a joiner's streams are outbound. */
	if (r->serving && (rc = wm_p2p_handle(r->host, WM_RDV_PROTOCOL, on_accept, r))) {
		wm_seterr(err, errlen, "libp2p: too many protocols");
		OPENSSL_cleanse(r->serve_key, sizeof(r->serve_key));
		free(r);
		return rc;
	}
	uv_timer_init(wm_p2p_loop(r->host), &r->sweep);
	r->sweep.data = r;
	uv_timer_start(&r->sweep, on_sweep, 1000, 1000);
	*out = r;
	return 0;
}

int wm_rdv_join(struct wm_rdv *r, const char *secret, wm_rdv_join_cb cb, void *ud)
{
	if (check_secret(secret, "join-rendezvous", NULL, 0) || !cb)
		return -EINVAL;
	if (r->joining)
		return -EBUSY;
	r->joining = true;
	r->cb = cb;
	r->ud = ud;
	wm_rdv_hmac_key(secret, r->join_key);
	wm_rdv_dht_key(secret, r->dht_key);
	uv_timer_init(wm_p2p_loop(r->host), &r->retry);
	r->retry_init = true;
	r->retry.data = r;
	uv_timer_start(&r->retry, on_retry, TICK_MS, TICK_MS);
	return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct wm_rdv *r = h->data;

	r->pending_closes--;
	maybe_freed(r);
}

void wm_rdv_stop(struct wm_rdv *r)
{
	if (!r || r->stopped)
		return;
	r->stopped = true;
	r->serving = false;
	OPENSSL_cleanse(r->serve_key, sizeof(r->serve_key));
	OPENSSL_cleanse(r->join_key, sizeof(r->join_key));
	r->pending_closes++;
	uv_close((uv_handle_t *)&r->sweep, on_handle_closed);
	if (r->retry_init) {
		r->pending_closes++;
		uv_close((uv_handle_t *)&r->retry, on_handle_closed);
	}
	if (r->listener_init) {
		r->pending_closes++;
		uv_close((uv_handle_t *)&r->listener, on_handle_closed);
	}
	for (struct pipe *p = r->pipes, *next; p; p = next) {
		next = p->next;
		if (!p->dead)
			pipe_kill(p, "shutting down");
	}
}

static void maybe_freed(struct wm_rdv *r)
{
	if (!r->freeing || r->pending_closes || r->pipes)
		return;
	void (*cb)(void *) = r->done_cb;
	void *data = r->done_data;
	free(r);
	if (cb)
		cb(data);
}

void wm_rdv_free(struct wm_rdv *r, void (*done_cb)(void *data), void *data)
{
	if (!r) {
		if (done_cb)
			done_cb(data);
		return;
	}
	wm_rdv_stop(r);
	/* The host is gone: no stream holds a pipe any more. */
	for (struct pipe *p = r->pipes; p; p = p->next)
		p->attached = false;
	r->done_cb = done_cb;
	r->done_data = data;
	struct pipe *p = r->pipes;
	while (p) {
		struct pipe *next = p->next;
		pipe_maybe_free(p);
		p = next;
	}
	r->freeing = true; /* only now: the loop above must not free r */
	maybe_freed(r);
}

void wm_rdv_server(const struct wm_rdv *r, char *out, size_t len)
{
	char id[WM_PEERID_TEXT_MAX] = "";

	if (r && r->ready)
		wm_peer_id_print(&r->server, id);
	snprintf(out, len, "%s", id);
}
