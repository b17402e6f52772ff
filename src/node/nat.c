/* The daemon's NAT traversal: which peers go over ICE, their sessions, the
 * signaling with the server, TURN credentials, and their relay endpoints. */
#include "node/nat.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/error.h"
#include "core/hash.h"
#include "core/ids.h"
#include "core/nat.h"
#include "nat/ice.h"
#include "sys/sys.h"
#include "util/log.h"
#include "webmesh/v1/signaling.pb-c.h"
#include "wg/wg.h"

#define TICK_MS 1000
/* WireGuard keepalive on ICE peers, so that a dead path shows as silence.
 * The two sides use different intervals: WireGuard's persistent keepalive is
 * not jittered, and two timers started together would make both sides start
 * their handshakes at the same moment, every time - each then drops the
 * other's response (its own handshake state was replaced by answering the
 * other's initiation) and no session ever forms. */
#define ICE_KEEPALIVE_LEAD_S 5 /* the side with the smaller node ID */
#define ICE_KEEPALIVE_OTHER_S 7
#define DEAD_AFTER_MS 16000 /* two of the slower keepalives missed */
#define OFFER_TIMEOUT_MS 15000
#define CONNECT_TIMEOUT_MS 30000
#define SIGNAL_TIMEOUT_MS 5000
#define STREAM_RETRY_MIN_MS 500
#define STREAM_RETRY_MAX_MS 10000
#define TURN_REFRESH_MARGIN_S 300

#define P_SEND "/webmesh.v1.Signaling/SendSignal"
#define P_RECEIVE "/webmesh.v1.Signaling/ReceiveSignals"
#define P_TURN "/webmesh.v1.Signaling/GetTurnCredentials"

struct npeer {
	struct npeer *next;
	struct wm_node_nat *n;
	char id[WM_NODE_ID_MAX + 1];
	wm_key key;
	bool seen;
	bool ice_edge, peer_public;
	struct wm_prefix kick_addr; /* a mesh address of the peer; family 0: none */
	int64_t direct_since_ms;    /* wall clock, as WireGuard's handshakes */
	bool direct_ok;		    /* a handshake came at these endpoints */
	unsigned kicks;		    /* handshakes asked for at these endpoints */
	uint64_t endpoints_hash;    /* of the advertised endpoints: a change restarts
				       the timeout (a roaming peer) */
	/* ICE: reason != 0 once the pair goes over ICE (then ice is set) */
	int reason;
	struct wm_ice_peer *ice;
	uint16_t relay_port;
	uint64_t session; /* 0: none running */
	bool controlling, offer_pending, connected;
	uint64_t session_started, connected_at; /* loop ms */
	unsigned attempt;
	uint64_t retry_at; /* loop ms; 0: none */
};

struct wm_node_nat {
	struct wm_node_nat_config c;
	char node_id[WM_NODE_ID_MAX + 1];
	struct wm_ice *ice;
	bool ice_failed; /* the ICE module could not be loaded: every peer direct */
	uv_timer_t tick;
	struct npeer *peers;
	bool self_public;
	/* signals */
	struct wm_rpc_stream *stream;
	unsigned stream_retry_ms;
	uint64_t stream_retry_at;
	/* servers */
	struct wm_endpoint stun[WM_NAT_MAX_STUN];
	size_t n_stun;
	struct wm_ice_turn turn[WM_ICE_MAX_TURN];
	size_t n_turn;
	bool turn_static;	 /* turn-username/-password given */
	int64_t turn_expires_at; /* handed-out credentials: unix seconds */
	bool turn_pending;	 /* a GetTurnCredentials call is out */
	uint64_t turn_retry_at;
	/* shutdown */
	bool closing;
	int closing_count;
	void (*done_cb)(void *data);
	void *done_data;
};

static void schedule_retry(struct npeer *p, const char *why);
static void part_done(struct wm_node_nat *n);

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;

	while (v == 0)
		uv_random(NULL, NULL, &v, sizeof(v), 0, NULL);
	return v;
}

static uint16_t random_u16(void)
{
	uint16_t v = 0;

	uv_random(NULL, NULL, &v, sizeof(v), 0, NULL);
	return v;
}

/* ---- servers ---- */

/* A numeric address, or the first IPv4 (else IPv6) address of a name. The
 * lookup blocks: it happens once, at start. */
static int resolve(const struct wm_ice_uri *u, struct wm_endpoint *out)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL, *pick = NULL;
	int rc;

	if (wm_prefix_parse(u->host, &out->ip) == 0 && !strchr(u->host, '/')) {
		out->port = u->port;
		return 0;
	}
	rc = getaddrinfo(u->host, NULL, &hints, &res);
	if (rc != 0)
		return -EHOSTUNREACH;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		if (a->ai_family == AF_INET) {
			pick = a;
			break;
		}
		if (a->ai_family == AF_INET6 && !pick)
			pick = a;
	}
	if (!pick) {
		freeaddrinfo(res);
		return -EHOSTUNREACH;
	}
	memset(out, 0, sizeof(*out));
	if (pick->ai_family == AF_INET) {
		out->ip.family = AF_INET;
		out->ip.len = 32;
		memcpy(out->ip.addr, &((struct sockaddr_in *)pick->ai_addr)->sin_addr, 4);
	} else {
		out->ip.family = AF_INET6;
		out->ip.len = 128;
		memcpy(out->ip.addr, &((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr, 16);
	}
	out->port = u->port;
	freeaddrinfo(res);
	return 0;
}

static int add_turn_url(struct wm_node_nat *n, const char *url, char *err, size_t errlen)
{
	struct wm_ice_uri u;
	const char *why = NULL;

	if (n->n_turn >= WM_ICE_MAX_TURN)
		return 0; /* more relays than libnice needs: the first ones serve */
	if (wm_ice_uri_parse(url, WM_URI_TURN, &u, &why) < 0 || u.scheme != WM_URI_TURN) {
		snprintf(err, errlen, "TURN server \"%s\" %s", url, why ? why : "is not turn:");
		return -EINVAL;
	}
	if (resolve(&u, &n->turn[n->n_turn].addr) < 0) {
		snprintf(err, errlen, "cannot resolve the TURN server %s", u.host);
		return -EHOSTUNREACH;
	}
	n->n_turn++;
	return 0;
}

static void set_turn_credentials(struct wm_node_nat *n, const char *user, const char *pass)
{
	for (size_t i = 0; i < n->n_turn; i++) {
		snprintf(n->turn[i].username, sizeof(n->turn[i].username), "%s", user);
		snprintf(n->turn[i].password, sizeof(n->turn[i].password), "%s", pass);
	}
}

static void turn_cb(void *data, int status, const char *message, const uint8_t *resp, size_t len)
{
	struct wm_node_nat *n = data;
	Webmesh__V1__TurnCredentials *tc = NULL;
	char err[256];

	n->turn_pending = false;
	if (n->closing) {
		part_done(n);
		return;
	}
	if (status == WM_GRPC_OK)
		tc = webmesh__v1__turn_credentials__unpack(NULL, len, resp);
	if (!tc) {
		/* A server without turn-secret says FAILED_PRECONDITION: ask
		 * rarely, ICE works without a relay where hole punching does. */
		if (status != WM_GRPC_FAILED_PRECONDITION)
			wm_debug("no TURN credentials from the server: %s: %s",
				 wm_grpc_status_name(status), message ? message : "");
		n->turn_retry_at = uv_now(n->c.loop) +
				   (status == WM_GRPC_FAILED_PRECONDITION ? 300000 : 10000);
		return;
	}
	if (!n->c.cfg->n_turn_servers) {
		/* No relays of our own: use the server's. */
		n->n_turn = 0;
		for (size_t i = 0; i < tc->n_urls; i++)
			if (add_turn_url(n, tc->urls[i], err, sizeof(err)) < 0)
				wm_warn("ignoring a TURN server from the server: %s", err);
	}
	set_turn_credentials(n, tc->username, tc->password);
	n->turn_expires_at = tc->expires_at;
	wm_wipe(tc->password, strlen(tc->password));
	webmesh__v1__turn_credentials__free_unpacked(tc, NULL);
	wm_debug("TURN credentials until %lld for %zu relays", (long long)n->turn_expires_at,
		 n->n_turn);
}

static void maybe_refresh_turn(struct wm_node_nat *n)
{
	Webmesh__V1__TurnCredentialsRequest r = WEBMESH__V1__TURN_CREDENTIALS_REQUEST__INIT;
	struct wm_rpc_client *client;
	uint8_t buf[128];
	size_t len;

	if (n->turn_static || n->turn_pending || uv_now(n->c.loop) < n->turn_retry_at ||
	    (int64_t)time(NULL) + TURN_REFRESH_MARGIN_S < n->turn_expires_at)
		return;
	client = n->c.signaling_client(n->c.data);
	if (!client)
		return;
	r.id = n->node_id;
	len = webmesh__v1__turn_credentials_request__pack(&r, buf);
	if (wm_rpc_client_unary(client, P_TURN, buf, len, SIGNAL_TIMEOUT_MS, NULL, 0, turn_cb, n) ==
	    0)
		n->turn_pending = true;
	else
		n->turn_retry_at = uv_now(n->c.loop) + 10000;
}

/* ---- signals out ---- */

struct sent {
	char peer[WM_NODE_ID_MAX + 1];
	int kind;
};

static void sent_cb(void *data, int status, const char *message, const uint8_t *resp, size_t len)
{
	struct sent *s = data;

	(void)resp;
	(void)len;
	/* Only logged: an offer that does not arrive times out and is sent
	 * again; n may be gone by now (shutdown), so nothing else is done. */
	if (status != WM_GRPC_OK)
		wm_debug("signal %d to %s not sent: %s: %s", s->kind, s->peer,
			 wm_grpc_status_name(status), message ? message : "");
	free(s);
}

static void send_signal(struct npeer *p, int kind, const struct wm_ice_params *params)
{
	struct wm_node_nat *n = p->n;
	Webmesh__V1__Signal sig = WEBMESH__V1__SIGNAL__INIT;
	Webmesh__V1__IceParameters ice = WEBMESH__V1__ICE_PARAMETERS__INIT;
	char *cands[WM_ICE_MAX_CANDIDATES];
	struct wm_rpc_client *client = n->c.signaling_client(n->c.data);
	struct sent *s;
	uint8_t *buf;
	size_t len;

	if (!client)
		return;
	sig.from = n->node_id;
	sig.to = p->id;
	sig.kind = (Webmesh__V1__SignalKind)kind;
	sig.session = p->session;
	if (params) {
		ice.ufrag = (char *)params->ufrag;
		ice.pwd = (char *)params->pwd;
		for (size_t i = 0; i < params->n_cand; i++)
			cands[i] = (char *)params->cand[i];
		ice.candidates = cands;
		ice.n_candidates = params->n_cand;
		sig.ice = &ice;
	}
	len = webmesh__v1__signal__get_packed_size(&sig);
	buf = malloc(len ? len : 1);
	s = calloc(1, sizeof(*s));
	if (!buf || !s) {
		free(buf);
		free(s);
		return;
	}
	webmesh__v1__signal__pack(&sig, buf);
	snprintf(s->peer, sizeof(s->peer), "%s", p->id);
	s->kind = kind;
	if (wm_rpc_client_unary(client, P_SEND, buf, len, SIGNAL_TIMEOUT_MS, NULL, 0, sent_cb, s) <
	    0)
		free(s);
	free(buf);
}

/* ---- sessions ---- */

static size_t local_addresses(struct wm_node_nat *n, struct wm_prefix *out, size_t max)
{
	struct wm_prefix *addrs = NULL;
	size_t count = 0, k = 0;

	/* Never the WireGuard interface: a path through the tunnel itself. */
	if (wm_sys_list_addresses(n->c.cfg->interface, &addrs, &count) < 0)
		return 0;
	for (size_t i = 0; i < count && k < max; i++)
		out[k++] = addrs[i];
	free(addrs);
	return k;
}

static void start_session(struct npeer *p, bool controlling, const struct wm_ice_params *remote,
			  uint64_t session)
{
	struct wm_node_nat *n = p->n;
	struct wm_prefix addrs[WM_ICE_MAX_LOCAL_ADDRS];
	struct wm_ice_session_config sc = {
		.session = session,
		.controlling = controlling,
		.local_addrs = addrs,
		.remote = remote,
	};
	int err;

	sc.n_local_addrs = local_addresses(n, addrs, WM_ICE_MAX_LOCAL_ADDRS);
	/* Without credentials a relay would only answer 401: leave it out. */
	if (n->turn[0].username[0]) {
		sc.turn = n->turn;
		sc.n_turn = n->n_turn;
	}
	p->session = session;
	p->controlling = controlling;
	p->offer_pending = controlling;
	p->connected = false;
	p->retry_at = 0;
	p->session_started = uv_now(n->c.loop);
	err = wm_ice_peer_start(p->ice, &sc);
	if (err) {
		wm_warn("cannot start ICE with %s: %s", p->id, wm_strerror(err));
		schedule_retry(p, "the session did not start");
	}
}

static void start_offer(struct npeer *p)
{
	if (!p->n->c.signaling_client(p->n->c.data)) {
		/* No server to signal through right now: try again later. */
		p->retry_at = uv_now(p->n->c.loop) + 1000;
		return;
	}
	start_session(p, true, NULL, random_u64());
}

static void schedule_retry(struct npeer *p, const char *why)
{
	struct wm_node_nat *n = p->n;
	uint32_t delay = wm_ice_backoff_ms(p->attempt, random_u16());

	if (p->attempt < 16)
		p->attempt++;
	wm_info("ICE with %s: %s; trying again in %u ms", p->id, why, delay);
	if (p->ice)
		wm_ice_peer_stop(p->ice);
	p->session = 0;
	p->offer_pending = false;
	p->connected = false;
	p->retry_at = uv_now(n->c.loop) + delay;
}

/* Moves p to ICE: its relay comes first, so that WireGuard can be pointed at
 * it before any path exists (packets meanwhile are dropped, as they would be
 * at an unreachable endpoint). */
static int go_ice(struct npeer *p, int reason)
{
	struct wm_node_nat *n = p->n;
	int err;

	if (p->ice)
		return 0;
	err = wm_ice_peer_open(n->ice, p->id, p, &p->ice, &p->relay_port);
	if (err == -ENOTSUP) {
		n->ice_failed = true; /* the loader said why, once */
		return err;
	}
	if (err) {
		wm_warn("cannot open an ICE relay for %s: %s", p->id, wm_strerror(err));
		return err;
	}
	p->reason = reason;
	p->attempt = 0;
	wm_info("peer %s goes over ICE (%s); WireGuard reaches it at 127.0.0.1:%u", p->id,
		wm_ice_reason_name(reason), p->relay_port);
	return 0;
}

static void peer_free(struct npeer *p)
{
	if (p->ice) {
		if (p->session)
			send_signal(p, WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_BYE, NULL);
		wm_ice_peer_close(p->ice);
	}
	free(p);
}

/* ---- events from the ICE thread ---- */

static void ice_event_cb(void *data, const struct wm_ice_event *ev)
{
	struct wm_node_nat *n = data;
	struct npeer *p = ev->peer_data;
	struct wm_ice_status st;

	(void)n;
	if (!p->session || ev->session != p->session)
		return; /* an ended session's late news */
	if (ev->type == WM_ICE_EV_LOCAL_PARAMS) {
		for (size_t i = 0; i < ev->params->n_cand; i++)
			wm_debug("ICE with %s: local %s", p->id, ev->params->cand[i]);
		send_signal(p,
			    p->controlling ? WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_OFFER
					   : WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_ANSWER,
			    ev->params);
		return;
	}
	switch (ev->state) {
	case WM_ICE_CONNECTED:
		if (p->connected)
			break;
		p->connected = true;
		p->connected_at = uv_now(p->n->c.loop);
		p->attempt = 0;
		wm_ice_peer_status(p->ice, &st);
		wm_info("ICE with %s connected: %s %s <-> %s %s", p->id, st.local_type,
			st.local_addr, st.remote_type, st.remote_addr);
		/* one side only: crossing initiations cancel each other */
		if (wm_ice_controlling(p->n->node_id, p->id))
			wm_sys_handshake_kick(&p->kick_addr);
		break;
	case WM_ICE_FAILED:
		schedule_retry(p, ev->error ? ev->error : "the session failed");
		break;
	default:
		break;
	}
}

/* ---- signals in ---- */

static struct npeer *find_id(struct wm_node_nat *n, const char *id)
{
	for (struct npeer *p = n->peers; p; p = p->next)
		if (strcmp(p->id, id) == 0)
			return p;
	return NULL;
}

static void on_offer(struct npeer *p, uint64_t session, const struct wm_ice_params *params)
{
	struct wm_node_nat *n = p->n;
	bool was_direct = !p->ice;

	if (session == p->session)
		return; /* a duplicate */
	if (p->offer_pending && !wm_ice_accept_offer(n->node_id, p->id, true))
		return; /* crossed offers: ours wins, the peer answers it */
	if (go_ice(p, WM_ICE_PEER_STARTED) < 0)
		return;
	start_session(p, false, params, session);
	if (was_direct && n->c.changed_cb)
		n->c.changed_cb(n->c.data);
}

static int signal_msg_cb(void *data, const uint8_t *msg, size_t len)
{
	struct wm_node_nat *n = data;
	Webmesh__V1__Signal *s = webmesh__v1__signal__unpack(NULL, len, msg);
	struct wm_ice_params *params = NULL;
	struct npeer *p;
	const char *why = NULL;

	n->stream_retry_ms = 0;
	if (!s)
		return 0;
	p = s->from ? find_id(n, s->from) : NULL;
	if (!p || !s->to || strcmp(s->to, n->node_id) != 0 || s->session == 0) {
		/* Not (yet) a peer of ours: the offerer tries again later. */
		webmesh__v1__signal__free_unpacked(s, NULL);
		return 0;
	}
	if (s->kind != WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_BYE) {
		if (!s->ice ||
		    wm_ice_params_check(s->ice->ufrag, s->ice->pwd, s->ice->candidates,
					s->ice->n_candidates, &why) < 0 ||
		    !(params = calloc(1, sizeof(*params)))) {
			if (why)
				wm_warn("ignoring a signal from %s: it %s", p->id, why);
			webmesh__v1__signal__free_unpacked(s, NULL);
			return 0;
		}
		snprintf(params->ufrag, sizeof(params->ufrag), "%s", s->ice->ufrag);
		snprintf(params->pwd, sizeof(params->pwd), "%s", s->ice->pwd);
		for (size_t i = 0; i < s->ice->n_candidates; i++)
			snprintf(params->cand[i], sizeof(params->cand[i]), "%s",
				 s->ice->candidates[i]);
		params->n_cand = s->ice->n_candidates;
	}
	switch (s->kind) {
	case WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_OFFER:
		on_offer(p, s->session, params);
		break;
	case WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_ANSWER:
		if (p->ice && p->offer_pending && s->session == p->session) {
			p->offer_pending = false;
			wm_ice_peer_set_remote(p->ice, p->session, params);
		}
		break;
	case WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_BYE:
		if (p->ice && s->session == p->session)
			schedule_retry(p, "the peer ended the session");
		break;
	default:
		break;
	}
	free(params);
	webmesh__v1__signal__free_unpacked(s, NULL);
	return 0;
}

static void subscribe(struct wm_node_nat *n);

static void signal_close_cb(void *data, int status, const char *message)
{
	struct wm_node_nat *n = data;

	n->stream = NULL;
	if (n->closing)
		return;
	n->stream_retry_ms = n->stream_retry_ms ? n->stream_retry_ms * 2 : STREAM_RETRY_MIN_MS;
	if (n->stream_retry_ms > STREAM_RETRY_MAX_MS)
		n->stream_retry_ms = STREAM_RETRY_MAX_MS;
	n->stream_retry_at = uv_now(n->c.loop) + n->stream_retry_ms;
	if (status != WM_GRPC_OK && status != WM_GRPC_CANCELLED)
		wm_debug("signal stream ended (%s: %s); again in %u ms",
			 wm_grpc_status_name(status), message ? message : "", n->stream_retry_ms);
}

static void subscribe(struct wm_node_nat *n)
{
	Webmesh__V1__ReceiveSignalsRequest r = WEBMESH__V1__RECEIVE_SIGNALS_REQUEST__INIT;
	struct wm_rpc_client *client;
	uint8_t buf[128];
	size_t len;

	if (n->stream || n->closing || uv_now(n->c.loop) < n->stream_retry_at)
		return;
	client = n->c.signaling_client(n->c.data);
	if (!client)
		return;
	r.id = n->node_id;
	len = webmesh__v1__receive_signals_request__pack(&r, buf);
	if (wm_rpc_client_stream(client, P_RECEIVE, buf, len, 0, NULL, 0, signal_msg_cb,
				 signal_close_cb, n, &n->stream) < 0)
		n->stream_retry_at = uv_now(n->c.loop) + STREAM_RETRY_MAX_MS;
}

/* ---- decisions ---- */

static bool ice_available(struct wm_node_nat *n)
{
	return n->ice && !n->ice_failed && !n->closing;
}

/* An idle peer is not a dead one: nothing may have been sent to it, so no
 * handshake was even tried. Ask WireGuard for one a second after the peer
 * got its endpoints and again halfway through the timeout (one initiation
 * may be lost, e.g. sent before the other side had us as a peer), so that
 * only a peer that does not answer moves to ICE. */
static void kick_while_waiting(struct npeer *p, int64_t now, uint32_t timeout_ms)
{
	int64_t waited = now - p->direct_since_ms;

	if ((p->kicks == 0 && waited >= 1000) || (p->kicks == 1 && waited >= timeout_ms / 2)) {
		p->kicks++;
		wm_sys_handshake_kick(&p->kick_addr);
	}
}

/* Moves direct peers to ICE where the decision says so; reports whether
 * any endpoint changed. Reads handshakes only for a peer whose timeout
 * has passed. */
static bool evaluate(struct wm_node_nat *n)
{
	struct wm_wg_device *dev = NULL;
	bool changed = false, dev_read = false;
	int64_t now = wall_ms();

	for (struct npeer *p = n->peers; p; p = p->next) {
		struct wm_ice_inputs in = {
			.ice_edge = p->ice_edge || n->c.force_ice,
			.self_public = n->self_public,
			.peer_public = p->peer_public,
			.on_ice = p->ice != NULL,
			.ice_available = ice_available(n),
			.traversal = n->n_stun > 0 || n->n_turn > 0,
			.now_ms = now,
			.direct_since_ms = p->direct_since_ms,
			.handshake_timeout_ms = n->c.cfg->ice_handshake_timeout * 1000u,
		};
		if (p->ice)
			continue;
		if (p->direct_ok)
			in.handshake_timeout_ms = 0; /* proven direct: WireGuard roams by itself */
		else if (in.traversal && in.handshake_timeout_ms)
			kick_while_waiting(p, now, in.handshake_timeout_ms);
		if ((in.peer_public || !in.self_public) && in.traversal &&
		    in.handshake_timeout_ms &&
		    now - p->direct_since_ms >= (int64_t)in.handshake_timeout_ms) {
			if (!dev_read) {
				dev_read = true;
				if (wm_wg_get(n->c.wg, &dev) < 0)
					dev = NULL;
			}
			const struct wm_wg_peer *wp = NULL;
			for (size_t i = 0; dev && i < dev->n_peers && !wp; i++)
				if (wm_key_equal(dev->peers[i].public_key, p->key))
					wp = &dev->peers[i];
			if (!wp)
				in.handshake_timeout_ms = 0; /* not on the device (yet) */
			else
				in.last_handshake_ms = wp->last_handshake_sec * 1000 +
						       wp->last_handshake_nsec / 1000000;
			/* read the device once per peer and endpoint set, not every tick */
			if (wp && in.last_handshake_ms >= p->direct_since_ms)
				p->direct_ok = true;
		}
		int reason = wm_ice_decide(&in);
		if (reason == WM_ICE_NOT_NEEDED || go_ice(p, reason) < 0)
			continue;
		changed = true;
		start_offer(p);
	}
	wm_wg_device_free(dev);
	return changed;
}

static void tick_cb(uv_timer_t *t)
{
	struct wm_node_nat *n = t->data;
	uint64_t now = uv_now(n->c.loop);
	struct wm_ice_status st;

	subscribe(n);
	maybe_refresh_turn(n);
	for (struct npeer *p = n->peers; p; p = p->next) {
		if (!p->ice)
			continue;
		if (p->retry_at && now >= p->retry_at) {
			p->retry_at = 0;
			start_offer(p);
			continue;
		}
		if (!p->session)
			continue;
		if (p->offer_pending && now - p->session_started > OFFER_TIMEOUT_MS) {
			schedule_retry(p, "no answer to our offer");
		} else if (!p->connected && now - p->session_started > CONNECT_TIMEOUT_MS) {
			schedule_retry(p, "no candidate pair worked in time");
		} else if (p->connected) {
			wm_ice_peer_status(p->ice, &st);
			if ((now / TICK_MS) % 10 == 0)
				wm_debug("ICE with %s: %llu/%llu packets out/in, %llu dropped, "
					 "idle %lld ms",
					 p->id, (unsigned long long)st.tx_packets,
					 (unsigned long long)st.rx_packets,
					 (unsigned long long)st.dropped, (long long)st.rx_idle_ms);
			int64_t idle = st.rx_idle_ms >= 0 ? st.rx_idle_ms
							  : (int64_t)(now - p->connected_at);
			if (idle > DEAD_AFTER_MS) {
				send_signal(p, WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_BYE, NULL);
				p->attempt = 0;
				schedule_retry(p, "the path went silent");
			}
		}
	}
	if (evaluate(n) && n->c.changed_cb)
		n->c.changed_cb(n->c.data);
}

/* ---- the daemon's calls ---- */

int wm_node_nat_init(const struct wm_node_nat_config *c, struct wm_node_nat **out, char *err,
		     size_t errlen)
{
	struct wm_node_nat *n;
	const struct wm_config *cfg = c->cfg;
	struct wm_ice_config ic = {0};
	int rc = 0;

	if (!c->loop || !cfg || !c->node_id || !c->signaling_client) {
		snprintf(err, errlen,
			 "NAT traversal needs a loop, the config, the node ID and a "
			 "signaling client");
		return -EINVAL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n->c = *c;
	snprintf(n->node_id, sizeof(n->node_id), "%s", c->node_id);
	for (size_t i = 0; i < cfg->n_stun_servers && n->n_stun < WM_NAT_MAX_STUN && !rc; i++) {
		struct wm_ice_uri u;
		const char *why = NULL;

		if (wm_ice_uri_parse(cfg->stun_servers[i], WM_URI_STUN, &u, &why) < 0) {
			snprintf(err, errlen, "STUN server \"%s\" %s", cfg->stun_servers[i], why);
			rc = -EINVAL;
		} else if (resolve(&u, &n->stun[n->n_stun]) < 0) {
			snprintf(err, errlen, "cannot resolve the STUN server %s", u.host);
			rc = -EHOSTUNREACH;
		} else {
			n->n_stun++;
		}
	}
	for (size_t i = 0; i < cfg->n_turn_servers && !rc; i++)
		rc = add_turn_url(n, cfg->turn_servers[i], err, errlen);
	if (!rc && cfg->turn_username && cfg->turn_password) {
		n->turn_static = true;
		set_turn_credentials(n, cfg->turn_username, cfg->turn_password);
	}
	if (rc) {
		free(n);
		return rc;
	}
	ic.loop = c->loop;
	ic.wg_port = cfg->wireguard_port;
	if (n->n_stun)
		ic.stun = n->stun[0]; /* libnice asks one STUN server */
	ic.force_relay = c->force_relay;
	ic.event_cb = ice_event_cb;
	ic.data = n;
	rc = wm_ice_new(&ic, &n->ice, err, errlen);
	if (rc) {
		free(n);
		return rc;
	}
	uv_timer_init(c->loop, &n->tick);
	n->tick.data = n;
	uv_timer_start(&n->tick, tick_cb, TICK_MS, TICK_MS);
	subscribe(n);
	maybe_refresh_turn(n);
	*out = n;
	return 0;
}

/* Over the endpoint texts: only compared with itself. */
static uint64_t endpoints_hash(const Webmesh__V1__MeshNode *node)
{
	uint64_t h = WM_HASH_FNV1A_INIT;

	for (size_t i = 0; i < node->n_endpoints; i++) {
		const char *e = node->endpoints[i] ? node->endpoints[i] : "";
		h = wm_hash_fnv1a_more(h, e, strlen(e));
		h = wm_hash_fnv1a_more(h, ",", 1);
	}
	return h;
}

static bool peer_has_public(const Webmesh__V1__MeshNode *node)
{
	for (size_t i = 0; i < node->n_endpoints; i++) {
		struct wm_endpoint e;

		if (wm_endpoint_parse(node->endpoints[i], &e) == 0 && !wm_addr_is_private(&e.ip))
			return true;
	}
	return false;
}

int wm_node_nat_apply(struct wm_node_nat *n, Webmesh__V1__WireGuardPeer *const *peers,
		      size_t n_peers, const struct wm_endpoint *self, size_t n_self,
		      struct wm_wg_device *desired)
{
	int64_t now = wall_ms();

	if (!n)
		return 0; /* no NAT layer: every peer direct */
	n->self_public = wm_endpoints_have_public(self, n_self);
	for (struct npeer *p = n->peers; p; p = p->next)
		p->seen = false;
	for (size_t i = 0; i < n_peers; i++) {
		const Webmesh__V1__WireGuardPeer *w = peers[i];
		struct npeer *p;
		wm_key key;

		if (!w || !w->node || !w->node->id || wm_node_id_check(w->node->id, NULL) < 0 ||
		    strcmp(w->node->id, n->node_id) == 0 ||
		    wm_key_from_base64(w->node->public_key, key) < 0)
			continue;
		p = find_id(n, w->node->id);
		if (p && !wm_key_equal(p->key, key)) {
			/* Same ID, new key: a new node as far as WireGuard goes. */
			struct npeer **pp = &n->peers;
			while (*pp != p)
				pp = &(*pp)->next;
			*pp = p->next;
			peer_free(p);
			p = NULL;
		}
		if (!p) {
			p = calloc(1, sizeof(*p));
			if (!p)
				return -ENOMEM;
			p->n = n;
			snprintf(p->id, sizeof(p->id), "%s", w->node->id);
			memcpy(p->key, key, sizeof(wm_key));
			p->direct_since_ms = now;
			p->next = n->peers;
			n->peers = p;
		}
		p->seen = true;
		p->ice_edge = w->ice;
		p->peer_public = peer_has_public(w->node);
		uint64_t h = endpoints_hash(w->node);
		if (h != p->endpoints_hash) {
			p->endpoints_hash = h;
			p->direct_since_ms = now;
			p->direct_ok = false;
			p->kicks = 0;
		}
		/* Its own address, not its allowed IPs: a hub's may be the whole
		 * mesh network. */
		p->kick_addr.family = 0;
		if (w->node->private_ipv4 &&
		    wm_prefix_parse(w->node->private_ipv4, &p->kick_addr) < 0)
			p->kick_addr.family = 0;
	}
	for (struct npeer **pp = &n->peers; *pp;) {
		struct npeer *p = *pp;

		if (p->seen) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		peer_free(p);
	}
	evaluate(n);
	wm_node_nat_rewrite(n, desired);
	return 0;
}

void wm_node_nat_rewrite(struct wm_node_nat *n, struct wm_wg_device *desired)
{
	for (size_t i = 0; n && desired && i < desired->n_peers; i++) {
		struct wm_wg_peer *wp = &desired->peers[i];

		for (struct npeer *p = n->peers; p; p = p->next) {
			if (!p->ice || !wm_key_equal(p->key, wp->public_key))
				continue;
			wm_endpoint_parse("127.0.0.1:1", &wp->endpoint);
			wp->endpoint.port = p->relay_port;
			wp->flags |= WM_WGPEER_HAS_ENDPOINT | WM_WGPEER_HAS_KEEPALIVE;
			wp->keepalive_interval = wm_ice_controlling(n->node_id, p->id)
							 ? ICE_KEEPALIVE_LEAD_S
							 : ICE_KEEPALIVE_OTHER_S;
		}
	}
}

static const char *path_of(const struct npeer *p, const struct wm_ice_status *st)
{
	if (!p || !p->ice)
		return "direct";
	if (st->state != WM_ICE_CONNECTED)
		return "ice-connecting";
	return st->relayed ? "ice-relay" : "ice-direct";
}

void wm_node_nat_fill_peer_status(struct wm_node_nat *n, const wm_key key,
				  Webmesh__V1__PeerStatus *ps, struct wm_arena *a)
{
	struct npeer *p = NULL;
	struct wm_ice_status st = {0};
	char buf[WM_ENDPOINT_STRLEN + 16];

	for (struct npeer *q = n ? n->peers : NULL; q && !p; q = q->next)
		if (wm_key_equal(q->key, key))
			p = q;
	if (p && p->ice)
		wm_ice_peer_status(p->ice, &st);
	ps->path = wm_arena_strdup(a, path_of(p, &st));
	if (!p || !p->ice)
		return;
	snprintf(buf, sizeof(buf), "%s %s", st.local_type, st.local_addr);
	ps->local_candidate = wm_arena_strdup(a, st.local_type[0] ? buf : "");
	snprintf(buf, sizeof(buf), "%s %s", st.remote_type, st.remote_addr);
	ps->remote_candidate = wm_arena_strdup(a, st.remote_type[0] ? buf : "");
	ps->ice_state = wm_arena_strdup(a, wm_ice_state_name(st.state));
	ps->ice_rx_bytes = st.rx_bytes;
	ps->ice_tx_bytes = st.tx_bytes;
	ps->ice_sessions = st.sessions;
	ps->ice_reason = wm_arena_strdup(a, wm_ice_reason_name(p->reason));
}

int wm_node_nat_discover(struct wm_node_nat *n, wm_nat_discover_cb cb, void *data,
			 struct wm_nat_discover_req **req)
{
	const struct wm_config *cfg = n->c.cfg;
	struct wm_endpoint ovr[WM_MAX_ENDPOINTS];
	size_t n_ovr = 0;
	struct wm_nat_discover_opts o = {
		.skip_ifname = cfg->interface,
		.wg_port = cfg->wireguard_port,
		.stun = n->stun,
		.n_stun = n->n_stun,
		.overrides = ovr,
	};

	for (size_t i = 0; i < cfg->n_endpoints && n_ovr < WM_MAX_ENDPOINTS; i++)
		if (wm_endpoint_parse(cfg->endpoints[i], &ovr[n_ovr]) == 0)
			n_ovr++;
	o.n_overrides = n_ovr;
	return wm_nat_discover(n->c.loop, &o, cb, data, req);
}

size_t wm_node_nat_stun_servers(const struct wm_node_nat *n, struct wm_endpoint *out, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; n && i < n->n_stun && k < max; i++)
		out[k++] = n->stun[i];
	return k;
}

size_t wm_node_nat_turn_servers(const struct wm_node_nat *n, struct wm_endpoint *out, size_t max)
{
	size_t k = 0;

	/* Addresses only: the credentials beside them stay here. */
	for (size_t i = 0; n && i < n->n_turn && k < max; i++)
		out[k++] = n->turn[i].addr;
	return k;
}

static void part_done(struct wm_node_nat *n)
{
	if (--n->closing_count > 0)
		return;
	void (*done)(void *) = n->done_cb;
	void *dd = n->done_data;

	wm_wipe(n->turn, sizeof(n->turn));
	free(n);
	if (done)
		done(dd);
}

static void tick_closed_cb(uv_handle_t *h)
{
	part_done(h->data);
}

static void ice_done_cb(void *data)
{
	part_done(data);
}

void wm_node_nat_close(struct wm_node_nat *n, void (*done_cb)(void *data), void *data)
{
	if (!n) {
		if (done_cb)
			done_cb(data);
		return;
	}
	if (n->closing)
		return;
	n->closing = true;
	n->done_cb = done_cb;
	n->done_data = data;
	while (n->peers) {
		struct npeer *p = n->peers;

		n->peers = p->next;
		peer_free(p);
	}
	if (n->stream) {
		struct wm_rpc_stream *s = n->stream;

		n->stream = NULL;
		wm_rpc_stream_cancel(s);
	}
	/* The tick, the ICE thread and an outstanding TURN call each end once. */
	n->closing_count = 3 + (n->turn_pending ? 1 : 0);
	uv_timer_stop(&n->tick);
	uv_close((uv_handle_t *)&n->tick, tick_closed_cb);
	wm_ice_free(n->ice, ice_done_cb, n);
	part_done(n);
}
