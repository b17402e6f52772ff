/* ICE sessions with libnice on a GLib thread, driven from a libuv loop.
 *
 * Threads: the loop thread owns wm_ice, the list of open peers and the
 * "closed" flag of each; the GLib thread owns every NiceAgent and the relay
 * sockets' reading. Commands go to the GLib thread through a FIFO drained by
 * one idle source; events come back through another FIFO and a uv_async_t.
 * A peer is reference counted because queued commands and events point at
 * it; its status is shared under a mutex, its packet counters are atomics in
 * the relay.
 */
#include "nat/ice.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nice/agent.h>
#include <glib.h>

#include "core/key.h"
#include "nat/relay.h"

#define CLOSE_GRACE_MS 1000

enum {
	EV_FINISHED = 100, /* internal: the GLib thread has ended */
};

struct event {
	struct event *next;
	int type;
	struct wm_ice_peer *peer; /* holds a reference; NULL for EV_FINISHED */
	uint64_t session;
	int state;
	struct wm_ice_params *params;
	char error[160];
};

enum cmd_type { CMD_ATTACH, CMD_START, CMD_REMOTE, CMD_STOP, CMD_CLOSE, CMD_QUIT };

struct cmd {
	struct cmd *next;
	int type;
	struct wm_ice_peer *peer; /* holds a reference; NULL for CMD_QUIT */
	uint64_t session;
	bool controlling;
	struct wm_prefix addrs[WM_ICE_MAX_LOCAL_ADDRS];
	size_t n_addrs;
	struct wm_ice_turn turn[WM_ICE_MAX_TURN];
	size_t n_turn;
	struct wm_ice_params *remote;
};

struct wm_ice {
	struct wm_ice_config cfg;
	uv_async_t async;
	GMainContext *ctx;
	GMainLoop *ml;
	GThread *thread;
	pthread_mutex_t lock; /* both queues */
	struct cmd *cmd_head, *cmd_tail;
	bool drain_scheduled;
	struct event *ev_head, *ev_tail;
	/* loop thread */
	struct wm_ice_peer *peers;
	bool freeing;
	void (*done_cb)(void *data);
	void *done_data;
	struct event *finished; /* the marker the thread sends when it ends */
	/* GLib thread */
	int pending_closes;
	bool quitting;
};

struct wm_ice_peer {
	struct wm_ice *ice;
	gint refs;
	char id[64];
	void *data;
	/* loop thread */
	bool closed;
	struct wm_ice_peer *next, *prev;
	/* made on the loop thread, then used on the GLib thread only */
	struct wm_relay *relay;
	uint16_t relay_port;
	/* GLib thread */
	NiceAgent *agent;
	guint stream;
	bool gathered;
	bool connected;
	struct wm_ice_params *pending_remote;
	/* the selected pair's own socket when its local side is not a relay:
	 * WireGuard's packets leave on it directly (sendmmsg), see path_send_cb */
	GSocket *fast_sock;
	struct sockaddr_storage fast_to;
	socklen_t fast_tolen;
	bool fast_gso;
	/* shared */
	pthread_mutex_t lock;
	struct wm_ice_status st;
};

/* ---- references ---- */

static struct wm_ice_peer *peer_ref(struct wm_ice_peer *p)
{
	g_atomic_int_inc(&p->refs);
	return p;
}

static void peer_unref(struct wm_ice_peer *p)
{
	if (!p || !g_atomic_int_dec_and_test(&p->refs))
		return;
	pthread_mutex_destroy(&p->lock);
	free(p->pending_remote);
	free(p);
}

static void wipe_turn(struct wm_ice_turn *t, size_t n)
{
	wm_wipe(t, sizeof(*t) * n);
}

static void cmd_free(struct cmd *c)
{
	wipe_turn(c->turn, c->n_turn);
	free(c->remote);
	peer_unref(c->peer);
	free(c);
}

/* ---- GLib thread -> loop: events ---- */

static void push_event(struct wm_ice *ice, struct event *ev)
{
	pthread_mutex_lock(&ice->lock);
	if (ice->ev_tail)
		ice->ev_tail->next = ev;
	else
		ice->ev_head = ev;
	ice->ev_tail = ev;
	pthread_mutex_unlock(&ice->lock);
	uv_async_send(&ice->async);
}

static void emit(struct wm_ice_peer *p, int type, int state, struct wm_ice_params *params,
		 const char *error)
{
	struct event *ev = calloc(1, sizeof(*ev));

	if (!ev) {
		free(params);
		return; /* the loop side notices the silence through its own timers */
	}
	ev->type = type;
	ev->peer = peer_ref(p);
	pthread_mutex_lock(&p->lock);
	ev->session = p->st.session;
	pthread_mutex_unlock(&p->lock);
	ev->state = state;
	ev->params = params;
	if (error)
		snprintf(ev->error, sizeof(ev->error), "%s", error);
	push_event(p->ice, ev);
}

static void set_state(struct wm_ice_peer *p, int state, const char *error)
{
	pthread_mutex_lock(&p->lock);
	bool changed = p->st.state != state;
	p->st.state = state;
	pthread_mutex_unlock(&p->lock);
	if (changed)
		emit(p, WM_ICE_EV_STATE, state, NULL, error);
}

/* ---- GLib thread: the packet path ---- */

/* Sending through nice_agent_send costs a lock, a lookup and a sendmsg per
 * datagram. When the selected pair's local candidate is not a relay, its
 * datagrams are plain UDP from that candidate's socket to the remote address:
 * we send a whole batch there (UDP GSO, else sendmmsg), on the GLib thread that owns
 * the agent (so never at the same time as libnice's own checks). Relayed
 * pairs need libnice's TURN framing and go through it. */
static int path_send_cb(void *data, const struct iovec *pkts, unsigned n)
{
	struct wm_ice_peer *p = data;
	unsigned done = 0;

	if (!p->agent || !p->connected)
		return -ENOTCONN;
	if (!p->fast_sock) {
		for (; done < n; done++) {
			gint sent = nice_agent_send(p->agent, p->stream, 1,
						    (guint)pkts[done].iov_len, pkts[done].iov_base);
			if (sent != (gint)pkts[done].iov_len)
				break;
		}
		return (int)done;
	}
	return wm_udp_send_batch(g_socket_get_fd(p->fast_sock), (struct sockaddr *)&p->fast_to,
				 p->fast_tolen, pkts, n, &p->fast_gso);
}

static void fast_path_clear(struct wm_ice_peer *p)
{
	if (p->fast_sock)
		g_object_unref(p->fast_sock);
	p->fast_sock = NULL;
}

/* Looks up the selected pair's socket (NULL from libnice for a local relay
 * candidate) and remote address. */
static void fast_path_update(struct wm_ice_peer *p, const NiceCandidate *remote)
{
	fast_path_clear(p);
	if (!p->agent || !remote)
		return;
	p->fast_sock = nice_agent_get_selected_socket(p->agent, p->stream, 1);
	if (!p->fast_sock)
		return;
	memset(&p->fast_to, 0, sizeof(p->fast_to));
	nice_address_copy_to_sockaddr(&remote->addr, (struct sockaddr *)&p->fast_to);
	p->fast_tolen = p->fast_to.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							 : sizeof(struct sockaddr_in);
	p->fast_gso = true;
	wm_relay_grow_buffers(g_socket_get_fd(p->fast_sock));
}

static void recv_cb(NiceAgent *agent, guint stream, guint component, guint len, gchar *buf,
		    gpointer data)
{
	struct wm_ice_peer *p = data;

	(void)agent;
	(void)stream;
	(void)component;
	if (p->relay)
		wm_relay_queue(p->relay, (const uint8_t *)buf, len);
}

/* ---- GLib thread: agent signals ---- */

static void describe(const NiceCandidate *c, char *type, size_t tlen, char *addr, size_t alen);

/* Copies the first candidates of the list into the status (for `wmctl
 * status`), under the peer's lock: the loop thread reads them. */
static void note_cands(struct wm_ice_peer *p, GSList *cands, bool local)
{
	struct wm_ice_status_cand tmp[WM_ICE_STATUS_MAX_CAND];
	size_t n = 0;

	for (GSList *l = cands; l && n < WM_ICE_STATUS_MAX_CAND; l = l->next, n++)
		describe(l->data, tmp[n].type, sizeof(tmp[n].type), tmp[n].addr,
			 sizeof(tmp[n].addr));
	pthread_mutex_lock(&p->lock);
	memcpy(local ? p->st.local_cands : p->st.remote_cands, tmp, n * sizeof(tmp[0]));
	*(local ? &p->st.n_local_cands : &p->st.n_remote_cands) = n;
	pthread_mutex_unlock(&p->lock);
}

static void apply_remote(struct wm_ice_peer *p, const struct wm_ice_params *r)
{
	GSList *cands = NULL;
	int n;

	if (!nice_agent_set_remote_credentials(p->agent, p->stream, r->ufrag, r->pwd)) {
		set_state(p, WM_ICE_FAILED, "libnice refused the peer's credentials");
		return;
	}
	for (size_t i = 0; i < r->n_cand; i++) {
		NiceCandidate *c =
			nice_agent_parse_remote_candidate_sdp(p->agent, p->stream, r->cand[i]);
		if (c)
			cands = g_slist_append(cands, c);
	}
	note_cands(p, cands, false);
	n = cands ? nice_agent_set_remote_candidates(p->agent, p->stream, 1, cands) : 0;
	g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
	if (n <= 0) {
		set_state(p, WM_ICE_FAILED, "the peer sent no usable candidate");
		return;
	}
	set_state(p, WM_ICE_CHECKING, NULL);
}

static void gathering_done_cb(NiceAgent *agent, guint stream, gpointer data)
{
	struct wm_ice_peer *p = data;
	struct wm_ice_params *lp;
	gchar *ufrag = NULL, *pwd = NULL;
	GSList *cands, *l;

	if (stream != p->stream || p->gathered)
		return;
	p->gathered = true;
	lp = calloc(1, sizeof(*lp));
	if (!lp || !nice_agent_get_local_credentials(agent, stream, &ufrag, &pwd)) {
		free(lp);
		set_state(p, WM_ICE_FAILED, "cannot read the local ICE credentials");
		return;
	}
	snprintf(lp->ufrag, sizeof(lp->ufrag), "%s", ufrag);
	snprintf(lp->pwd, sizeof(lp->pwd), "%s", pwd);
	g_free(ufrag);
	g_free(pwd);
	cands = nice_agent_get_local_candidates(agent, stream, 1);
	note_cands(p, cands, true);
	for (l = cands; l && lp->n_cand < WM_ICE_MAX_CANDIDATES; l = l->next) {
		gchar *sdp = nice_agent_generate_local_candidate_sdp(agent, l->data);

		if (sdp && wm_ice_candidate_check(sdp) == 0)
			snprintf(lp->cand[lp->n_cand++], WM_ICE_CANDIDATE_MAX + 1, "%s", sdp);
		g_free(sdp);
	}
	g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
	if (lp->n_cand == 0) {
		free(lp);
		set_state(p, WM_ICE_FAILED, "no local candidate (no usable address?)");
		return;
	}
	emit(p, WM_ICE_EV_LOCAL_PARAMS, WM_ICE_GATHERING, lp, NULL);
	if (p->pending_remote) {
		struct wm_ice_params *r = p->pending_remote;

		p->pending_remote = NULL;
		apply_remote(p, r);
		free(r);
	}
}

static void state_changed_cb(NiceAgent *agent, guint stream, guint component, guint state,
			     gpointer data)
{
	struct wm_ice_peer *p = data;

	(void)agent;
	if (stream != p->stream || component != 1)
		return;
	switch (state) {
	case NICE_COMPONENT_STATE_CONNECTED:
	case NICE_COMPONENT_STATE_READY:
		p->connected = true;
		if (p->relay)
			wm_relay_set_send(p->relay, path_send_cb, p);
		set_state(p, WM_ICE_CONNECTED, NULL);
		break;
	case NICE_COMPONENT_STATE_FAILED:
		p->connected = false;
		fast_path_clear(p);
		if (p->relay)
			wm_relay_set_send(p->relay, NULL, NULL);
		set_state(p, WM_ICE_FAILED, "no candidate pair works (or the selected one broke)");
		break;
	default:
		/* GATHERING/CONNECTING are ours to report; DISCONNECTED after
		 * CONNECTED ends in FAILED or comes back by itself. */
		break;
	}
}

static void describe(const NiceCandidate *c, char *type, size_t tlen, char *addr, size_t alen)
{
	static const char *const names[] = {"host", "srflx", "prflx", "relay"};
	char ip[NICE_ADDRESS_STRING_LEN];
	unsigned t = (unsigned)c->type;

	snprintf(type, tlen, "%s", t < 4 ? names[t] : "?");
	nice_address_to_string(&c->addr, ip);
	snprintf(addr, alen, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip,
		 nice_address_get_port(&c->addr));
}

static void selected_pair_cb(NiceAgent *agent, guint stream, guint component, NiceCandidate *lc,
			     NiceCandidate *rc, gpointer data)
{
	struct wm_ice_peer *p = data;

	(void)agent;
	if (stream != p->stream || component != 1 || !lc || !rc)
		return;
	pthread_mutex_lock(&p->lock);
	describe(lc, p->st.local_type, sizeof(p->st.local_type), p->st.local_addr,
		 sizeof(p->st.local_addr));
	describe(rc, p->st.remote_type, sizeof(p->st.remote_type), p->st.remote_addr,
		 sizeof(p->st.remote_addr));
	p->st.relayed =
		lc->type == NICE_CANDIDATE_TYPE_RELAYED || rc->type == NICE_CANDIDATE_TYPE_RELAYED;
	pthread_mutex_unlock(&p->lock);
	fast_path_update(p, rc);
}

/* ---- GLib thread: sessions ---- */

static void agent_closed_cb(GObject *src, GAsyncResult *res, gpointer data)
{
	struct wm_ice *ice = data;

	(void)res;
	g_object_unref(src);
	if (--ice->pending_closes == 0 && ice->quitting)
		g_main_loop_quit(ice->ml);
}

static void session_end(struct wm_ice_peer *p)
{
	struct wm_ice *ice = p->ice;

	if (p->relay)
		wm_relay_set_send(p->relay, NULL, NULL);
	fast_path_clear(p);
	if (p->agent) {
		g_signal_handlers_disconnect_by_data(p->agent, p);
		nice_agent_attach_recv(p->agent, p->stream, 1, ice->ctx, NULL, NULL);
		/* Frees the TURN allocations on the server instead of leaving
		 * them to time out; the agent goes when that is done. */
		ice->pending_closes++;
		nice_agent_close_async(p->agent, agent_closed_cb, ice);
		p->agent = NULL;
	}
	p->stream = 0;
	p->gathered = false;
	p->connected = false;
	free(p->pending_remote);
	p->pending_remote = NULL;
	pthread_mutex_lock(&p->lock);
	p->st.state = WM_ICE_IDLE;
	p->st.local_type[0] = p->st.remote_type[0] = '\0';
	p->st.local_addr[0] = p->st.remote_addr[0] = '\0';
	p->st.relayed = false;
	p->st.n_local_cands = p->st.n_remote_cands = 0;
	pthread_mutex_unlock(&p->lock);
}

static void add_local_address(NiceAgent *agent, const struct wm_prefix *a)
{
	char ip[WM_PREFIX_STRLEN];
	NiceAddress na;

	if (wm_prefix_format_addr(a, ip, sizeof(ip)) < 0)
		return;
	nice_address_init(&na);
	if (nice_address_set_from_string(&na, ip))
		nice_agent_add_local_address(agent, &na);
}

static void session_start(struct wm_ice_peer *p, struct cmd *c)
{
	struct wm_ice *ice = p->ice;
	char ip[WM_PREFIX_STRLEN];
	NiceAgent *agent;

	session_end(p);
	pthread_mutex_lock(&p->lock);
	p->st.session = c->session;
	p->st.controlling = c->controlling;
	p->st.sessions++;
	p->st.state = WM_ICE_GATHERING;
	pthread_mutex_unlock(&p->lock);

	/* RFC 8445 nomination (regular), consent freshness (RFC 7675) so that a
	 * path that stops answering fails instead of hanging. */
	agent = nice_agent_new_full(ice->ctx, NICE_COMPATIBILITY_RFC5245,
				    NICE_AGENT_OPTION_REGULAR_NOMINATION |
					    NICE_AGENT_OPTION_CONSENT_FRESHNESS);
	if (!agent) {
		set_state(p, WM_ICE_FAILED, "cannot create a libnice agent");
		return;
	}
	g_object_set(agent, "upnp", FALSE, "ice-tcp", FALSE, "ice-udp", TRUE, "controlling-mode",
		     c->controlling ? TRUE : FALSE, "keepalive-conncheck", TRUE, "force-relay",
		     ice->cfg.force_relay ? TRUE : FALSE, NULL);
	/* A STUN server that is also one of the TURN servers is left out: the
	 * allocation yields the reflexive address too, and libnice 0.1.21
	 * takes that server's Binding answers for TURN traffic and drops them,
	 * so gathering would wait for the Binding to time out (2 s). */
	bool stun_is_turn = false;
	for (size_t i = 0; i < c->n_turn && !stun_is_turn; i++)
		stun_is_turn = wm_endpoint_equal(&c->turn[i].addr, &ice->cfg.stun);
	if (ice->cfg.stun.ip.family && !stun_is_turn &&
	    wm_prefix_format_addr(&ice->cfg.stun.ip, ip, sizeof(ip)) == 0)
		g_object_set(agent, "stun-server", ip, "stun-server-port",
			     (guint)ice->cfg.stun.port, NULL);
	for (size_t i = 0; i < c->n_addrs; i++)
		add_local_address(agent, &c->addrs[i]);
	p->agent = agent;
	p->stream = nice_agent_add_stream(agent, 1);
	if (!p->stream) {
		set_state(p, WM_ICE_FAILED, "cannot add an ICE stream");
		return;
	}
	for (size_t i = 0; i < c->n_turn; i++) {
		if (wm_prefix_format_addr(&c->turn[i].addr.ip, ip, sizeof(ip)) < 0)
			continue;
		nice_agent_set_relay_info(agent, p->stream, 1, ip, c->turn[i].addr.port,
					  c->turn[i].username, c->turn[i].password,
					  NICE_RELAY_TYPE_TURN_UDP);
	}
	g_signal_connect(agent, "candidate-gathering-done", G_CALLBACK(gathering_done_cb), p);
	g_signal_connect(agent, "component-state-changed", G_CALLBACK(state_changed_cb), p);
	g_signal_connect(agent, "new-selected-pair-full", G_CALLBACK(selected_pair_cb), p);
	nice_agent_attach_recv(agent, p->stream, 1, ice->ctx, recv_cb, p);
	if (c->remote) {
		/* The controlled side knows the offer already; its candidates
		 * can only be set once ours are gathered (non-trickle ICE). */
		nice_agent_set_remote_credentials(agent, p->stream, c->remote->ufrag,
						  c->remote->pwd);
		p->pending_remote = c->remote;
		c->remote = NULL;
	}
	emit(p, WM_ICE_EV_STATE, WM_ICE_GATHERING, NULL, NULL);
	if (!nice_agent_gather_candidates(agent, p->stream))
		set_state(p, WM_ICE_FAILED, "cannot gather candidates (no usable local address?)");
}

static gboolean quit_cb(gpointer data)
{
	struct wm_ice *ice = data;

	g_main_loop_quit(ice->ml);
	return G_SOURCE_REMOVE;
}

static void cmd_run(struct wm_ice *ice, struct cmd *c)
{
	struct wm_ice_peer *p = c->peer;

	switch (c->type) {
	case CMD_ATTACH:
		if (p->relay)
			wm_relay_attach(p->relay, ice->ctx);
		break;
	case CMD_START:
		session_start(p, c);
		break;
	case CMD_REMOTE: {
		pthread_mutex_lock(&p->lock);
		bool current = p->st.session == c->session;
		pthread_mutex_unlock(&p->lock);
		if (!current || !p->agent || !c->remote)
			break;
		if (p->gathered) {
			apply_remote(p, c->remote);
		} else {
			free(p->pending_remote);
			p->pending_remote = c->remote;
			c->remote = NULL;
		}
		break;
	}
	case CMD_STOP:
		session_end(p);
		break;
	case CMD_CLOSE:
		session_end(p);
		wm_relay_free(p->relay);
		p->relay = NULL;
		break;
	case CMD_QUIT:
		ice->quitting = true;
		if (ice->pending_closes == 0) {
			g_main_loop_quit(ice->ml);
		} else {
			GSource *t = g_timeout_source_new(CLOSE_GRACE_MS);

			g_source_set_callback(t, quit_cb, ice, NULL);
			g_source_attach(t, ice->ctx);
			g_source_unref(t);
		}
		break;
	}
}

static gboolean drain_cb(gpointer data)
{
	struct wm_ice *ice = data;

	for (;;) {
		pthread_mutex_lock(&ice->lock);
		struct cmd *c = ice->cmd_head;
		if (c) {
			ice->cmd_head = c->next;
			if (!ice->cmd_head)
				ice->cmd_tail = NULL;
		} else {
			ice->drain_scheduled = false;
		}
		pthread_mutex_unlock(&ice->lock);
		if (!c)
			break;
		cmd_run(ice, c);
		cmd_free(c);
	}
	return G_SOURCE_REMOVE;
}

static gpointer thread_main(gpointer data)
{
	struct wm_ice *ice = data;
	struct event *fin = ice->finished;

	g_main_context_push_thread_default(ice->ctx);
	g_main_loop_run(ice->ml);
	g_main_context_pop_thread_default(ice->ctx);
	/* The loop side joins the thread when it sees this marker (allocated
	 * up front: the end must not depend on memory being available). */
	ice->finished = NULL;
	push_event(ice, fin);
	return NULL;
}

/* ---- loop thread ---- */

static void post(struct wm_ice *ice, struct cmd *c)
{
	bool schedule;

	pthread_mutex_lock(&ice->lock);
	if (ice->cmd_tail)
		ice->cmd_tail->next = c;
	else
		ice->cmd_head = c;
	ice->cmd_tail = c;
	schedule = !ice->drain_scheduled;
	ice->drain_scheduled = true;
	pthread_mutex_unlock(&ice->lock);
	if (schedule) {
		GSource *s = g_idle_source_new();

		g_source_set_callback(s, drain_cb, ice, NULL);
		g_source_attach(s, ice->ctx);
		g_source_unref(s);
	}
}

static struct cmd *cmd_new(int type, struct wm_ice_peer *p)
{
	struct cmd *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->type = type;
	c->peer = p ? peer_ref(p) : NULL;
	return c;
}

static void ice_closed_cb(uv_handle_t *h)
{
	struct wm_ice *ice = h->data;
	void (*done)(void *) = ice->done_cb;
	void *dd = ice->done_data;

	g_main_loop_unref(ice->ml);
	g_main_context_unref(ice->ctx);
	pthread_mutex_destroy(&ice->lock);
	free(ice->finished); /* set only when the thread never ran */
	free(ice);
	if (done)
		done(dd);
}

static void async_cb(uv_async_t *a)
{
	struct wm_ice *ice = a->data;
	struct event *ev;

	pthread_mutex_lock(&ice->lock);
	ev = ice->ev_head;
	ice->ev_head = ice->ev_tail = NULL;
	pthread_mutex_unlock(&ice->lock);
	while (ev) {
		struct event *next = ev->next;

		if (ev->type == EV_FINISHED) {
			g_thread_join(ice->thread);
			ice->thread = NULL;
			free(ev);
			ev = next;
			uv_close((uv_handle_t *)&ice->async, ice_closed_cb);
			continue;
		}
		if (!ev->peer->closed) {
			struct wm_ice_event pub = {
				.type = ev->type,
				.peer = ev->peer,
				.peer_data = ev->peer->data,
				.session = ev->session,
				.state = ev->state,
				.params = ev->params,
				.error = ev->error[0] ? ev->error : NULL,
			};
			ice->cfg.event_cb(ice->cfg.data, &pub);
		}
		peer_unref(ev->peer);
		free(ev->params);
		free(ev);
		ev = next;
	}
}

int wm_ice_new(const struct wm_ice_config *cfg, struct wm_ice **out, char *err, size_t errlen)
{
	struct wm_ice *ice = calloc(1, sizeof(*ice));
	int rc;

	if (!ice) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (!cfg->loop || !cfg->event_cb || !cfg->wg_port) {
		free(ice);
		snprintf(err, errlen, "ICE needs a loop, an event callback and WireGuard's port");
		return -EINVAL;
	}
	ice->cfg = *cfg;
	pthread_mutex_init(&ice->lock, NULL);
	rc = uv_async_init(cfg->loop, &ice->async, async_cb);
	if (rc < 0) {
		pthread_mutex_destroy(&ice->lock);
		free(ice);
		snprintf(err, errlen, "cannot create the ICE wakeup handle: %s", uv_strerror(rc));
		return rc;
	}
	ice->async.data = ice;
	ice->ctx = g_main_context_new();
	ice->ml = g_main_loop_new(ice->ctx, FALSE);
	ice->finished = calloc(1, sizeof(*ice->finished));
	if (ice->finished)
		ice->finished->type = EV_FINISHED;
	ice->thread = ice->finished ? g_thread_try_new("wm-ice", thread_main, ice, NULL) : NULL;
	if (!ice->thread) {
		snprintf(err, errlen, "cannot start the ICE thread");
		ice->done_cb = NULL;
		uv_close((uv_handle_t *)&ice->async, ice_closed_cb);
		return -EAGAIN;
	}
	*out = ice;
	return 0;
}

void wm_ice_free(struct wm_ice *ice, void (*done_cb)(void *data), void *data)
{
	struct cmd *c;

	if (!ice || ice->freeing)
		return;
	ice->freeing = true;
	ice->done_cb = done_cb;
	ice->done_data = data;
	while (ice->peers)
		wm_ice_peer_close(ice->peers);
	c = cmd_new(CMD_QUIT, NULL);
	if (c) {
		post(ice, c);
	} else {
		/* No memory for a command: stop the loop directly (quit is
		 * thread-safe); TURN allocations then time out on the server. */
		g_main_loop_quit(ice->ml);
	}
}

int wm_ice_peer_open(struct wm_ice *ice, const char *peer_id, void *peer_data,
		     struct wm_ice_peer **out, uint16_t *relay_port)
{
	struct wm_ice_peer *p;
	struct cmd *c;
	int err;

	if (ice->freeing)
		return -ECANCELED;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ice = ice;
	p->refs = 1;
	p->data = peer_data;
	snprintf(p->id, sizeof(p->id), "%s", peer_id ? peer_id : "");
	pthread_mutex_init(&p->lock, NULL);
	err = wm_relay_new(ice->cfg.wg_port, &p->relay);
	c = err ? NULL : cmd_new(CMD_ATTACH, p);
	if (err || !c) {
		wm_relay_free(p->relay);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return err ? err : -ENOMEM;
	}
	p->relay_port = wm_relay_port(p->relay);
	p->st.relay_port = p->relay_port;
	post(ice, c);
	p->next = ice->peers;
	if (ice->peers)
		ice->peers->prev = p;
	ice->peers = p;
	*out = p;
	*relay_port = p->relay_port;
	return 0;
}

void wm_ice_peer_close(struct wm_ice_peer *p)
{
	struct wm_ice *ice;
	struct cmd *c;

	if (!p || p->closed)
		return;
	ice = p->ice;
	p->closed = true;
	if (p->prev)
		p->prev->next = p->next;
	else
		ice->peers = p->next;
	if (p->next)
		p->next->prev = p->prev;
	c = cmd_new(CMD_CLOSE, p);
	if (c)
		post(ice, c);
	/* Without memory for the command the relay and agent stay until the
	 * thread ends; the peer itself is freed with its last reference. */
	peer_unref(p);
}

int wm_ice_peer_start(struct wm_ice_peer *p, const struct wm_ice_session_config *sc)
{
	struct cmd *c;

	if (p->closed)
		return -ECANCELED;
	if (!sc->session || sc->n_local_addrs > WM_ICE_MAX_LOCAL_ADDRS ||
	    sc->n_turn > WM_ICE_MAX_TURN || (sc->remote && sc->controlling))
		return -EINVAL;
	c = cmd_new(CMD_START, p);
	if (!c)
		return -ENOMEM;
	c->session = sc->session;
	c->controlling = sc->controlling;
	if (sc->n_local_addrs)
		memcpy(c->addrs, sc->local_addrs, sizeof(c->addrs[0]) * sc->n_local_addrs);
	c->n_addrs = sc->n_local_addrs;
	if (sc->n_turn)
		memcpy(c->turn, sc->turn, sizeof(c->turn[0]) * sc->n_turn);
	c->n_turn = sc->n_turn;
	if (sc->remote) {
		c->remote = malloc(sizeof(*c->remote));
		if (!c->remote) {
			cmd_free(c);
			return -ENOMEM;
		}
		*c->remote = *sc->remote;
	}
	/* The status says "gathering" from now on, not after the thread got
	 * to it: the caller's next status read must not see the old session. */
	pthread_mutex_lock(&p->lock);
	p->st.session = sc->session;
	p->st.state = WM_ICE_GATHERING;
	p->st.controlling = sc->controlling;
	pthread_mutex_unlock(&p->lock);
	post(p->ice, c);
	return 0;
}

int wm_ice_peer_set_remote(struct wm_ice_peer *p, uint64_t session,
			   const struct wm_ice_params *remote)
{
	struct cmd *c;

	if (p->closed)
		return -ECANCELED;
	c = cmd_new(CMD_REMOTE, p);
	if (!c)
		return -ENOMEM;
	c->session = session;
	c->remote = malloc(sizeof(*c->remote));
	if (!c->remote) {
		cmd_free(c);
		return -ENOMEM;
	}
	*c->remote = *remote;
	post(p->ice, c);
	return 0;
}

void wm_ice_peer_stop(struct wm_ice_peer *p)
{
	struct cmd *c;

	if (p->closed)
		return;
	c = cmd_new(CMD_STOP, p);
	if (c)
		post(p->ice, c);
}

void wm_ice_peer_status(const struct wm_ice_peer *p, struct wm_ice_status *out)
{
	struct wm_ice_peer *mp = (struct wm_ice_peer *)p;
	struct wm_relay_stats rs = {0};

	pthread_mutex_lock(&mp->lock);
	*out = p->st;
	pthread_mutex_unlock(&mp->lock);
	if (p->relay && !p->closed)
		wm_relay_get_stats(p->relay, &rs);
	out->tx_packets = rs.tx_packets;
	out->tx_bytes = rs.tx_bytes;
	out->rx_packets = rs.rx_packets;
	out->rx_bytes = rs.rx_bytes;
	out->dropped = rs.dropped;
	int64_t now = g_get_monotonic_time();
	out->rx_idle_ms = rs.last_rx_us ? (now - rs.last_rx_us) / 1000 : -1;
	out->unanswered_ms = rs.unanswered_since_us ? (now - rs.unanswered_since_us) / 1000 : -1;
}
