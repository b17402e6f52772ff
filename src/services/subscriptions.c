/* Membership.SubscribePeers: each subscriber gets its complete peer set on
 * subscribe and again whenever the set computed for it changes. */
#include "services/services_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"
#include "core/ids.h"
#include "services/convert.h"
#include "services/peercache.h"
#include "plugin/plugin.h"
#include "util/log.h"

struct subscriber {
	struct subscriber *prev, *next;
	struct wm_services *s;
	struct wm_rpc_call *call;
	char id[WM_NODE_ID_MAX + 1];
	uint64_t last_hash; /* of the last peer set sent, index excluded */
	bool sent;
	/* what that set was computed from (wm_services_peer_inputs): while it
	 * stays the same, so does the set, and a change costs this subscriber
	 * one lookup instead of a computation */
	uint64_t inputs;
	bool have_inputs;
	struct wm_sent_peers sent_peers; /* its peers, to name those that leave */
};

static void unlink_subscriber(struct subscriber *sub)
{
	struct wm_services *s = sub->s;
	if (s->notify_next == sub)
		s->notify_next = sub->next;
	if (sub->prev)
		sub->prev->next = sub->next;
	else
		s->subscribers = sub->next;
	if (sub->next)
		sub->next->prev = sub->prev;
	sub->prev = sub->next = NULL;
}

static void end_subscriber(struct subscriber *sub, int status, const char *msg)
{
	unlink_subscriber(sub);
	wm_rpc_call_finish(sub->call, status, msg);
	wm_sent_peers_free(&sub->sent_peers);
	free(sub);
}

/* Sends the subscriber's peer set if it differs from the last one sent.
 * Returns non-zero when the subscriber was ended. */
static int update_subscriber(struct subscriber *sub, uint64_t index)
{
	uint64_t inputs = 0;
	/* Without a digest (an error here) the set is computed, which reports
	 * the error or sends the set: the digest only ever saves work. */
	bool have_inputs = wm_services_peer_inputs(sub->s, sub->id, &inputs) == 0;
	if (have_inputs && sub->sent && sub->have_inputs && inputs == sub->inputs) {
		sub->s->notify_skipped++;
		return 0;
	}
	sub->s->notify_computed++;
	struct wm_arena a;
	wm_arena_init(&a);
	Webmesh__V1__PeerConfigurations pc;
	int err = wm_services_peers(sub->s, sub->id, &a, &pc);
	if (err == -ENOENT) {
		wm_arena_free(&a);
		char msg[128];
		snprintf(msg, sizeof(msg), "node %s is not in the mesh", sub->id);
		end_subscriber(sub, WM_GRPC_NOT_FOUND, msg);
		return 1;
	}
	if (err) {
		wm_arena_free(&a);
		end_subscriber(sub, wm_grpc_status_from_err(err), wm_strerror(err));
		return 1;
	}
	size_t len = protobuf_c_message_get_packed_size(&pc.base);
	uint8_t *buf = malloc(len + 16);
	if (!buf) {
		wm_arena_free(&a);
		end_subscriber(sub, WM_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return 1;
	}
	protobuf_c_message_pack(&pc.base, buf);
	uint64_t h = wm_hash_fnv1a(buf, len);
	if (sub->sent && h == sub->last_hash) {
		free(buf);
		wm_arena_free(&a);
		sub->inputs = inputs;
		sub->have_inputs = have_inputs;
		return 0;
	}
	pc.index = index;
	/* Not hashed: named only when the set changed, and in the first set
	 * among the peers the subscriber said it holds. Without them the
	 * member still ends those tunnels, after the make-before-break hold. */
	err = wm_services_gone_keys(sub->s, &sub->sent_peers, &a, &pc);
	if (err) {
		wm_warn("cannot tell node %s which peers left the mesh: %s", sub->id,
			wm_strerror(err));
		pc.n_gone_keys = 0;
	}
	len = protobuf_c_message_get_packed_size(&pc.base);
	uint8_t *out = realloc(buf, len);
	if (out) {
		buf = out;
		protobuf_c_message_pack(&pc.base, buf);
		err = wm_rpc_call_send(sub->call, buf, len);
		if (!err)
			sub->s->notify_sent++;
	} else {
		err = -ENOMEM;
	}
	free(buf);
	if (!err && wm_sent_peers_set(&sub->sent_peers, &pc) < 0)
		wm_warn("out of memory: node %s is not told of peers leaving the mesh", sub->id);
	wm_arena_free(&a);
	if (err) {
		end_subscriber(sub, err == -ECANCELED ? WM_GRPC_CANCELLED : WM_GRPC_INTERNAL,
			       "could not send the peer set");
		return 1;
	}
	sub->last_hash = h;
	sub->sent = true;
	sub->inputs = inputs;
	sub->have_inputs = have_inputs;
	return 0;
}

/* The most time one slice of a pass may take. A change that affects every
 * member of a server with thousands costs about an election timeout's worth
 * of one loop turn; in slices, Raft's heartbeats and the API are served
 * between them. A tenth of the election timeout: with 20 ms slices, each
 * followed by a turn of queued PINGs and heartbeats, a route put at 10,000
 * members took 6 s to reach them all (bench/scale, BENCHMARKS.md). */
#define NOTIFY_SLICE_NS (100 * 1000 * 1000)

static void notify_cb(uv_timer_t *t)
{
	struct wm_services *s = t->data;
	s->notify_pending = false;
	uint64_t start = uv_hrtime();
	if (s->notify_restart) {
		s->notify_restart = false;
		s->notify_next = s->subscribers;
		s->notify_computed = s->notify_skipped = s->notify_sent = 0;
		s->notify_slices = 0;
		s->notify_pass_start = start;
		s->notify_pass_cost = 0;
	}
	s->notify_slices++;
	struct wm_store_status st;
	wm_store_status(s->cfg.store, &st);
	while (s->notify_next) {
		struct subscriber *sub = s->notify_next;
		/* moved on first: sub may be ended, and unlinking it moves the
		 * cursor past it (unlink_subscriber) */
		s->notify_next = sub->next;
		update_subscriber(sub, st.applied_index);
		if (s->notify_next && uv_hrtime() - start > NOTIFY_SLICE_NS) {
			s->notify_pass_cost += uv_hrtime() - start;
			/* 1 ms, not 0: libuv 1.44 would run a timer re-armed
			 * with 0 in this same turn, before any I/O. */
			s->notify_pending = true;
			uv_timer_start(&s->notify_timer, notify_cb, 1, 0);
			return;
		}
	}
	s->notify_pass_cost += uv_hrtime() - start;
	wm_pace_done(&s->notify_pace, s->notify_pass_start, s->notify_pass_cost);
	uint64_t end = uv_hrtime();
	/* At info when members were sent something: bench/scale reads these
	 * lines for its per-stage breakdown of a change's latency. */
	wm_log(s->notify_sent ? WM_LOG_INFO : WM_LOG_DEBUG,
	       "peer sets after index %llu: %llu computed, %llu unchanged inputs, %llu sent; "
	       "applied -> pass start %llu us, pass %llu us wall, %llu us busy, %llu slices",
	       (unsigned long long)st.applied_index, (unsigned long long)s->notify_computed,
	       (unsigned long long)s->notify_skipped, (unsigned long long)s->notify_sent,
	       (unsigned long long)((s->notify_pass_start - s->notify_change_ns) / 1000),
	       (unsigned long long)((end - s->notify_pass_start) / 1000),
	       (unsigned long long)(s->notify_pass_cost / 1000),
	       (unsigned long long)s->notify_slices);
	s->notify_change_ns = 0;
}

/* A burst of applied entries (a snapshot install, many joins) triggers one
 * recomputation per subscriber, not one per entry. */
static void change_cb(void *data, uint64_t index, const Webmesh__V1__RaftCommand *cmd)
{
	struct wm_services *s = data;
	if (cmd)
		wm_liveness_follow(s, cmd);
	wm_plugins_feed(s->cfg.plugins, s->cfg.store, index, cmd);
	/* A pass under way saw the state before this change: start over. */
	s->notify_restart = true;
	if (!s->notify_change_ns)
		s->notify_change_ns = uv_hrtime();
	if (s->stopped || s->notify_pending || !s->subscribers)
		return;
	s->notify_pending = true;
	uv_timer_start(&s->notify_timer, notify_cb,
		       wm_pace_delay_ms(&s->notify_pace, uv_hrtime(), WM_PEERS_PACE_SHARE_PCT,
					WM_PEERS_PACE_MAX_NS),
		       0);
}

bool wm_services_peers_pass_due(struct wm_services *s)
{
	if (!s || s->stopped)
		return false;
	/* a pass between two slices, or one whose timer is not paced */
	return s->notify_next != NULL ||
	       (s->notify_pending && uv_timer_get_due_in(&s->notify_timer) <= 1);
}

void wm_subscriptions_init(struct wm_services *s)
{
	uv_timer_init(s->cfg.loop, &s->notify_timer);
	s->notify_timer.data = s;
	wm_subscriptions_attach(s);
}

void wm_subscriptions_attach(struct wm_services *s)
{
	if (s->cfg.store) {
		wm_plugins_attach(s->cfg.plugins, s->cfg.store);
		wm_store_on_change(s->cfg.store, change_cb, s);
	}
}

static void cancel_cb(struct wm_rpc_call *call, void *data)
{
	(void)call;
	struct subscriber *sub = data;
	wm_debug("subscriber %s went away", sub->id);
	end_subscriber(sub, WM_GRPC_CANCELLED, NULL);
}

void wm_subscriptions_subscribe(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				void *data)
{
	struct wm_services *s = data;
	Webmesh__V1__SubscribePeersRequest *r =
		(Webmesh__V1__SubscribePeersRequest *)wm_services_decode_id(
			call, &webmesh__v1__subscribe_peers_request__descriptor, req, len);
	if (!r)
		return;
	if (!s->cfg.store || s->stopped) {
		webmesh__v1__subscribe_peers_request__free_unpacked(r, NULL);
		wm_rpc_call_finish(call, s->stopped ? WM_GRPC_UNAVAILABLE : WM_GRPC_UNIMPLEMENTED,
				   s->stopped ? "server is shutting down"
					      : "this node is not a mesh server");
		return;
	}
	if (wm_services_refuse_behind(s, call)) {
		webmesh__v1__subscribe_peers_request__free_unpacked(r, NULL);
		return;
	}
	struct subscriber *sub = calloc(1, sizeof(*sub));
	if (!sub) {
		webmesh__v1__subscribe_peers_request__free_unpacked(r, NULL);
		wm_services_fail(call, -ENOMEM, NULL);
		return;
	}
	sub->s = s;
	sub->call = call;
	snprintf(sub->id, sizeof(sub->id), "%s", r->id);
	const char *why = NULL;
	int herr = wm_sent_peers_held(&sub->sent_peers, r->held, r->n_held, &why);
	webmesh__v1__subscribe_peers_request__free_unpacked(r, NULL);
	if (herr) {
		free(sub);
		if (herr == -EINVAL)
			wm_rpc_call_finish(call, WM_GRPC_INVALID_ARGUMENT, why);
		else
			wm_services_fail(call, herr, NULL);
		return;
	}
	sub->next = s->subscribers;
	if (s->subscribers)
		s->subscribers->prev = sub;
	s->subscribers = sub;
	wm_rpc_call_set_cancel_cb(call, cancel_cb, sub);
	struct wm_store_status st;
	wm_store_status(s->cfg.store, &st);
	if (update_subscriber(sub, st.applied_index) == 0)
		wm_debug("node %s subscribed to its peers", sub->id);
}

void wm_subscriptions_close_all(struct wm_services *s, int grpc_status, const char *msg)
{
	while (s->subscribers)
		end_subscriber(s->subscribers, grpc_status, msg);
	uv_timer_stop(&s->notify_timer);
	s->notify_pending = false;
	s->notify_next = NULL;
}
