/* The Kademlia DHT on the libp2p host (see dht.h). Every message on a
 * stream is a varint length and a Message protobuf (kad-dht/README.md);
 * a request stream carries one request and one answer. One timer ticks
 * (every TICK_MS while anything is in flight, IDLE_TICK_MS otherwise) for
 * request and lookup deadlines, re-announcements and table refreshes, so
 * that no request owns a libuv handle. */
#include "p2p/dht.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "p2p/identify.h"
#include "util/log.h"

#define TICK_MS 250		       /* while requests or lookups are on */
#define IDLE_TICK_MS 1000	       /* otherwise: an idle node wakes once a second */
#define REFRESH_MS (10u * 60u * 1000u) /* a self lookup, to keep the table fresh */
#define MAX_PROVIDES 8
#define FRAME_MAX (WM_KAD_MSG_MAX + WM_VARINT_MAX)

enum lkind { L_FIND_PROVIDERS, L_PROVIDE, L_SELF };

struct lookup {
	struct lookup *next;
	struct wm_dht *d;
	enum lkind kind;
	uint8_t key[WM_KAD_KEY_MAX];
	size_t key_len;
	uint8_t kid[32];
	uint64_t deadline_ms;
	struct wm_kad_lookup st;
	size_t max, nfound;
	uint8_t (*found)[32]; /* kids of providers reported, for dedup */
	wm_dht_providers_cb cb;
	void *ud;
	bool local_done;
};

/* One request to one peer; freed once the host has let go of it (its
 * stream's gone callback, or failed) and its answer or failure is counted. */
enum { KIND_REQ = 1, KIND_SRV };

struct req {
	int kind; /* first: a stream's context is a req or a srv */
	struct req *next;
	struct wm_dht *d;
	struct lookup *l; /* NULL: fire and forget (ADD_PROVIDER), or the lookup ended */
	uint8_t kid[32];
	struct wm_kad_peer peer;
	struct wm_p2p_stream *s;
	uint8_t *out; /* the framed request */
	size_t nout;
	bool expects_answer, answered, settled, attached;
	uint64_t deadline_ms;
	uint8_t *in;
	size_t nin;
};

struct srv {
	int kind;
	struct wm_dht *d;
	uint8_t *in;
	size_t nin;
	int served;
};

struct provide {
	uint8_t key[WM_KAD_KEY_MAX];
	size_t key_len;
	uint64_t next_ms;
};

struct wm_dht {
	struct wm_p2p *host;
	struct wm_dht_config cfg;
	uint8_t self_kid[32];
	struct wm_kad_table table;
	struct wm_kad_providers store;
	uv_timer_t tick;
	uint64_t next_refresh_ms;
	struct lookup *lookups;
	size_t nlookups;
	struct req *reqs;
	size_t nreqs;
	struct provide provides[MAX_PROVIDES];
	size_t nprovides;
	double tokens; /* for requests served */
	uint64_t tokens_ms;
	bool stopped;
	void (*done_cb)(void *data);
	void *done_data;
};

static void sha256(const uint8_t *buf, size_t len, uint8_t out[32])
{
	SHA256(buf, len, out);
}

static uint64_t now_ms(const struct wm_dht *d)
{
	return uv_now(wm_p2p_loop(d->host));
}

static void self_peer(struct wm_dht *d, struct wm_kad_peer *p)
{
	const struct wm_peer_id *id = wm_p2p_id(d->host);

	memset(p, 0, sizeof(*p));
	memcpy(p->id, id->b, WM_PEERID_LEN);
	p->id_len = WM_PEERID_LEN;
	p->naddrs = wm_p2p_listen_addrs(d->host, p->addrs, p->addr_len, WM_KAD_ADDRS);
}

/* A varint length and the message, malloc'ed. */
static int frame(const struct wm_kad_msg *m, uint8_t **out, size_t *nout)
{
	uint8_t *b = malloc(FRAME_MAX);
	int n;

	if (!b)
		return -ENOMEM;
	n = wm_kad_msg_encode(m, b + WM_VARINT_MAX, WM_KAD_MSG_MAX);
	if (n < 0) {
		free(b);
		return n;
	}
	uint8_t v[WM_VARINT_MAX];
	size_t vl = wm_varint_encode((uint64_t)n, v);
	memmove(b + vl, b + WM_VARINT_MAX, (size_t)n);
	memcpy(b, v, vl);
	*out = b;
	*nout = vl + (size_t)n;
	return 0;
}

/* The first whole message of buf: 1 with *used, 0 incomplete, <0 bad. */
static int unframe(const uint8_t *buf, size_t len, struct wm_kad_msg *m, size_t *used)
{
	const uint8_t *body;
	size_t blen, took;
	int rc = wm_varint_frame(buf, len, WM_KAD_MSG_MAX, &body, &blen, &took);

	if (rc <= 0)
		return rc;
	if ((rc = wm_kad_msg_decode(body, blen, m)))
		return rc;
	*used = took;
	return 1;
}

static int append(uint8_t **buf, size_t *n, const uint8_t *data, size_t len)
{
	if (len > FRAME_MAX - *n)
		return -EMSGSIZE;
	uint8_t *b = realloc(*buf, *n + len);
	if (!b)
		return -ENOMEM;
	memcpy(b + *n, data, len);
	*buf = b;
	*n += len;
	return 0;
}

/* ---- the routing table ---- */

static void lookup_start(struct wm_dht *d, enum lkind kind, const uint8_t *key, size_t len,
			 size_t max, wm_dht_providers_cb cb, void *ud, struct lookup **out);
static void req_send(struct wm_dht *d, struct lookup *l, const uint8_t kid[32],
		     const struct wm_kad_peer *p, const struct wm_kad_msg *m, bool answer);

static void on_tick(uv_timer_t *t);

/* A peer that speaks the protocol (identify said so, or it answered). */
static void peer_seen(struct wm_dht *d, const uint8_t kid[32], const struct wm_kad_peer *p)
{
	const struct wm_kad_entry *check = NULL;
	size_t before = d->table.size;

	if (wm_kad_table_seen(&d->table, kid, p, now_ms(d), &check) == 1 && check) {
		/* The bucket is full: ask its oldest whether it is still there. */
		struct wm_kad_msg *m = calloc(1, sizeof(*m));
		if (m) {
			m->type = WM_KAD_PING;
			req_send(d, NULL, check->kid, &check->peer, m, true);
			free(m);
		}
	}
	/* The first peer: look ourselves up through it, as bootstrap. */
	if (before == 0 && d->table.size > 0 && !d->stopped) {
		d->next_refresh_ms = now_ms(d);
		uv_timer_start(&d->tick, on_tick, 0, TICK_MS); /* and our announces */
	}
}

static void on_identified(void *ud, const struct wm_peer_id *peer, const struct wm_identify *m)
{
	struct wm_dht *d = ud;
	struct wm_kad_peer p;
	uint8_t kid[32];
	bool speaks = false;

	for (size_t i = 0; i < m->nprotocols && !speaks; i++)
		speaks = !strcmp(m->protocols[i], WM_KAD_PROTOCOL);
	if (!speaks || d->stopped)
		return;
	memset(&p, 0, sizeof(p));
	memcpy(p.id, peer->b, WM_PEERID_LEN);
	p.id_len = WM_PEERID_LEN;
	for (size_t i = 0; i < m->nlisten && p.naddrs < WM_KAD_ADDRS; i++) {
		memcpy(p.addrs[p.naddrs], m->listen[i], m->listen_len[i]);
		p.addr_len[p.naddrs++] = m->listen_len[i];
	}
	sha256(p.id, p.id_len, kid);
	peer_seen(d, kid, &p);
}

/* ---- serving ---- */

static bool take_token(struct wm_dht *d)
{
	uint64_t now = now_ms(d);
	double rate = d->cfg.requests_per_s;

	d->tokens += (double)(now - d->tokens_ms) * rate / 1000.0;
	if (d->tokens > rate)
		d->tokens = rate;
	d->tokens_ms = now;
	if (d->tokens < 1.0)
		return false;
	d->tokens -= 1.0;
	return true;
}

/* The closer peers for key's kid, neither the asker nor us. */
static void fill_closer(struct wm_dht *d, const uint8_t kid[32], const uint8_t asker[32],
			struct wm_kad_msg *r)
{
	const struct wm_kad_entry *e[WM_KAD_K + 1];
	size_t n = wm_kad_table_closest(&d->table, kid, WM_KAD_K + 1, e);

	for (size_t i = 0; i < n && r->ncloser < WM_KAD_PEERS; i++)
		if (memcmp(e[i]->kid, asker, 32) && e[i]->peer.naddrs)
			r->closer[r->ncloser++] = e[i]->peer;
}

/* One request from a peer: 0 with the answer in r (has_answer), or <0 to
 * reset the stream. */
static int serve(struct wm_dht *d, const struct wm_peer_id *from, const struct wm_kad_msg *m,
		 struct wm_kad_msg *r, bool *has_answer)
{
	uint8_t asker[32], kid[32];

	*has_answer = false;
	sha256(from->b, WM_PEERID_LEN, asker);
	switch (m->type) {
	case WM_KAD_PING:
		r->type = WM_KAD_PING;
		*has_answer = true;
		return 0;
	case WM_KAD_FIND_NODE:
		if (m->key_len == 0)
			return -EBADMSG;
		sha256(m->key, m->key_len, kid);
		r->type = WM_KAD_FIND_NODE;
		fill_closer(d, kid, asker, r);
		if (m->key_len == WM_PEERID_LEN &&
		    !memcmp(m->key, wm_p2p_id(d->host)->b, WM_PEERID_LEN) &&
		    r->ncloser < WM_KAD_PEERS)
			self_peer(d, &r->closer[r->ncloser++]);
		*has_answer = true;
		return 0;
	case WM_KAD_GET_PROVIDERS:
		if (m->key_len == 0)
			return -EBADMSG;
		sha256(m->key, m->key_len, kid);
		r->type = WM_KAD_GET_PROVIDERS;
		memcpy(r->key, m->key, m->key_len);
		r->key_len = m->key_len;
		r->nproviders =
			wm_kad_providers_get(&d->store, kid, now_ms(d), r->providers, WM_KAD_PEERS);
		fill_closer(d, kid, asker, r);
		*has_answer = true;
		return 0;
	case WM_KAD_ADD_PROVIDER:
		if (m->key_len == 0)
			return -EBADMSG;
		sha256(m->key, m->key_len, kid);
		/* A peer announces itself only (the spec's rule): a record for
		 * anyone else is dropped, as one without addresses is. */
		for (size_t i = 0; i < m->nproviders; i++) {
			const struct wm_kad_peer *p = &m->providers[i];
			if (p->id_len != WM_PEERID_LEN || memcmp(p->id, from->b, WM_PEERID_LEN) ||
			    p->naddrs == 0)
				continue;
			int rc = wm_kad_providers_add(&d->store, kid, asker, p, now_ms(d));
			if (rc)
				wm_debug("libp2p: DHT provider record refused: %s", strerror(-rc));
		}
		return 0;
	default:
		return -EOPNOTSUPP; /* PUT_VALUE, GET_VALUE: no value store here */
	}
}

static const struct wm_p2p_stream_cb stream_cb;

/* The host's reset calls no gone: what gone frees is freed here. */
static void on_gone(void *ud, struct wm_p2p_stream *s);
static void stream_kill(struct wm_p2p_stream *s, void *ud)
{
	wm_p2p_reset(s);
	on_gone(ud, s);
}

static int srv_accept(void *arg, struct wm_p2p_stream *s, const struct wm_p2p_stream_cb **cb,
		      void **ud)
{
	struct wm_dht *d = arg;
	struct srv *v;

	(void)s;
	if (d->stopped || !(v = calloc(1, sizeof(*v))))
		return -ENOMEM;
	v->kind = KIND_SRV;
	v->d = d;
	*cb = &stream_cb;
	*ud = v;
	return 0;
}

static void srv_data(struct wm_p2p_stream *s, struct srv *v, const uint8_t *buf, size_t len)
{
	struct wm_dht *d = v->d;
	struct wm_kad_msg *m = NULL, *r = NULL;
	size_t used;
	struct wm_peer_id from;
	int rc;

	wm_p2p_stream_peer(s, &from);
	if ((rc = append(&v->in, &v->nin, buf, len)))
		goto bad;
	m = malloc(sizeof(*m));
	r = malloc(sizeof(*r));
	if (!m || !r) {
		rc = -ENOMEM;
		goto bad;
	}
	while ((rc = unframe(v->in, v->nin, m, &used)) == 1) {
		bool answer;
		memmove(v->in, v->in + used, v->nin - used);
		v->nin -= used;
		if ((uint32_t)++v->served > d->cfg.requests_per_stream || !take_token(d)) {
			rc = -EBUSY;
			goto bad;
		}
		memset(r, 0, sizeof(*r));
		if ((rc = serve(d, &from, m, r, &answer)))
			goto bad;
		if (answer) {
			uint8_t *out;
			size_t nout;
			if ((rc = frame(r, &out, &nout)))
				goto bad;
			rc = wm_p2p_write(s, out, nout);
			free(out);
			if (rc)
				goto bad;
		}
	}
	if (rc < 0)
		goto bad;
	free(m);
	free(r);
	return;
bad:
	free(m);
	free(r);
	wm_debug("libp2p: DHT request refused: %s", strerror(-rc));
	stream_kill(s, v);
}

/* ---- our requests ---- */

static void lookup_step(struct lookup *l);
static void lookup_answer(struct lookup *l, struct req *q, const struct wm_kad_msg *m);

static void req_maybe_free(struct req *q)
{
	struct wm_dht *d = q->d;

	if (q->attached || !q->settled)
		return;
	for (struct req **pp = &d->reqs; *pp; pp = &(*pp)->next) {
		if (*pp == q) {
			*pp = q->next;
			d->nreqs--;
			break;
		}
	}
	free(q->out);
	free(q->in);
	free(q);
}

/* The request's outcome, once: the lookup and the table learn it. */
static void req_settle(struct req *q, const struct wm_kad_msg *answer)
{
	struct wm_dht *d = q->d;

	if (q->settled)
		return;
	q->settled = true;
	bool ok = answer != NULL || !q->expects_answer;
	if (ok && answer) {
		peer_seen(d, q->kid, &q->peer);
	} else if (!ok && !d->stopped) {
		wm_kad_table_failed(&d->table, q->kid);
	}
	if (q->l) {
		struct lookup *l = q->l;
		q->l = NULL;
		if (answer)
			lookup_answer(l, q, answer);
		wm_kad_lookup_done(&l->st, q->kid, ok && answer);
		lookup_step(l);
	}
}

static void req_opened(struct wm_p2p_stream *s, struct req *q)
{
	q->s = s;
	if (q->settled || wm_p2p_write(s, q->out, q->nout)) {
		stream_kill(s, q);
		return;
	}
	if (!q->expects_answer) {
		wm_p2p_close(s);
		req_settle(q, NULL);
	}
}

static void req_data(struct wm_p2p_stream *s, struct req *q, const uint8_t *buf, size_t len)
{
	struct wm_kad_msg *m;
	size_t used;
	int rc;

	if (q->settled || !q->expects_answer) {
		stream_kill(s, q);
		return;
	}
	if (append(&q->in, &q->nin, buf, len) || !(m = malloc(sizeof(*m)))) {
		stream_kill(s, q);
		return;
	}
	rc = unframe(q->in, q->nin, m, &used);
	if (rc == 1) {
		req_settle(q, m);
		wm_p2p_close(s);
	} else if (rc < 0) {
		wm_debug("libp2p: DHT answer malformed: %s", strerror(-rc));
		free(m);
		stream_kill(s, q); /* q may be freed */
		return;
	}
	free(m);
}

static void req_send(struct wm_dht *d, struct lookup *l, const uint8_t kid[32],
		     const struct wm_kad_peer *p, const struct wm_kad_msg *m, bool answer)
{
	struct wm_peer_id id;
	struct req *q;
	int rc = -ENOMEM;

	if (d->stopped || d->nreqs >= d->cfg.max_requests ||
	    wm_peer_id_from_bytes(p->id, p->id_len, &id, NULL) || !(q = calloc(1, sizeof(*q)))) {
		/* Not askable (a key type we do not speak, or too busy): a failure. */
		if (l)
			wm_kad_lookup_done(&l->st, kid, false);
		return;
	}
	q->kind = KIND_REQ;
	q->d = d;
	q->l = l;
	memcpy(q->kid, kid, 32);
	q->peer = *p;
	q->expects_answer = answer;
	q->deadline_ms = now_ms(d) + d->cfg.query_timeout_ms;
	q->next = d->reqs;
	d->reqs = q;
	d->nreqs++;
	if (!(rc = frame(m, &q->out, &q->nout))) {
		q->attached = true;
		/* A connection to the peer, dialed when needed: a failure to
		 * reach it ends in gone, as any other. */
		struct wm_p2p_dial to = {
			.addrs = (const uint8_t(*)[WM_MADDR_MAX])p->addrs,
			.lens = p->addr_len,
			.naddrs = p->naddrs,
		};
		rc = wm_p2p_open(d->host, &id, WM_KAD_PROTOCOL, &to, &stream_cb, q, &q->s);
		if (rc)
			q->attached = false;
	}
	if (rc) {
		req_settle(q, NULL);
		req_maybe_free(q);
	}
}

/* ---- the stream callbacks, both roles ---- */

static void on_opened(void *ud, struct wm_p2p_stream *s)
{
	req_opened(s, ud);
}

static void on_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	int *kind = ud;

	if (*kind == KIND_REQ)
		req_data(s, (struct req *)kind, buf, len);
	else
		srv_data(s, (struct srv *)kind, buf, len);
}

static void on_fin(void *ud, struct wm_p2p_stream *s)
{
	(void)ud;
	/* Answers are written as requests arrive: nothing more to say. */
	wm_p2p_close(s);
}

static void on_gone(void *ud, struct wm_p2p_stream *s)
{
	int *kind = ud;

	(void)s;

	if (*kind == KIND_REQ) {
		struct req *q = (struct req *)kind;
		q->attached = false;
		q->s = NULL;
		req_settle(q, NULL);
		req_maybe_free(q);
	} else {
		struct srv *v = (struct srv *)kind;
		free(v->in);
		free(v);
	}
}

static const struct wm_p2p_stream_cb stream_cb = {
	.data = on_data,
	.fin = on_fin,
	.gone = on_gone,
	.opened = on_opened,
};

/* ---- lookups ---- */

static void lookup_end(struct lookup *l, int err)
{
	struct wm_dht *d = l->d;

	for (struct lookup **pp = &d->lookups; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			d->nlookups--;
			break;
		}
	}
	for (struct req *q = d->reqs; q; q = q->next)
		if (q->l == l)
			q->l = NULL;
	if (l->kind == L_PROVIDE && err != -ECANCELED) {
		/* Announce to the nearest that answered; they store our record. */
		struct wm_kad_msg *m = calloc(1, sizeof(*m));
		size_t sent = 0;
		if (m) {
			m->type = WM_KAD_ADD_PROVIDER;
			memcpy(m->key, l->key, l->key_len);
			m->key_len = l->key_len;
			self_peer(d, &m->providers[0]);
			m->nproviders = 1;
			for (size_t i = 0; i < l->st.n && sent < WM_KAD_K; i++) {
				if (l->st.c[i].state != WM_KAD_C_DONE)
					continue;
				req_send(d, NULL, l->st.c[i].kid, &l->st.c[i].peer, m, false);
				sent++;
			}
			free(m);
		}
		wm_debug("libp2p: DHT provider record sent to %zu peers", sent);
	}
	if (l->cb)
		l->cb(l->ud, NULL, err);
	free(l->found);
	free(l);
}

static void report(struct lookup *l, const struct wm_kad_peer *p)
{
	uint8_t kid[32];

	if (l->kind != L_FIND_PROVIDERS || l->nfound >= l->max || p->naddrs == 0)
		return;
	sha256(p->id, p->id_len, kid);
	for (size_t i = 0; i < l->nfound; i++)
		if (!memcmp(l->found[i], kid, 32))
			return;
	memcpy(l->found[l->nfound++], kid, 32);
	l->cb(l->ud, p, 0);
}

static void lookup_answer(struct lookup *l, struct req *q, const struct wm_kad_msg *m)
{
	(void)q;
	for (size_t i = 0; i < m->nproviders; i++)
		report(l, &m->providers[i]);
	for (size_t i = 0; i < m->ncloser; i++) {
		uint8_t kid[32];
		if (m->closer[i].naddrs == 0)
			continue;
		sha256(m->closer[i].id, m->closer[i].id_len, kid);
		wm_kad_lookup_add(&l->st, kid, &m->closer[i]);
	}
}

static void lookup_step(struct lookup *l)
{
	struct wm_dht *d = l->d;
	const struct wm_kad_cand *c;

	if (l->kind == L_FIND_PROVIDERS && l->nfound >= l->max) {
		lookup_end(l, 0);
		return;
	}
	while ((c = wm_kad_lookup_next(&l->st))) {
		struct wm_kad_msg *m = calloc(1, sizeof(*m));
		uint8_t kid[32];
		struct wm_kad_peer peer;
		if (!m) {
			wm_kad_lookup_done(&l->st, c->kid, false);
			continue;
		}
		m->type = l->kind == L_FIND_PROVIDERS ? WM_KAD_GET_PROVIDERS : WM_KAD_FIND_NODE;
		memcpy(m->key, l->key, l->key_len);
		m->key_len = l->key_len;
		/* req_send may settle at once and re-enter: copy what c points at. */
		memcpy(kid, c->kid, 32);
		peer = c->peer;
		req_send(d, l, kid, &peer, m, true);
		free(m);
		/* A synchronous failure stepped the lookup already; it may be gone. */
		bool alive = false;
		for (struct lookup *o = d->lookups; o && !alive; o = o->next)
			alive = o == l;
		if (!alive)
			return;
	}
	if (wm_kad_lookup_finished(&l->st))
		lookup_end(l, l->st.n == 0 && l->nfound == 0 ? -ENOENT : 0);
}

static void lookup_start(struct wm_dht *d, enum lkind kind, const uint8_t *key, size_t len,
			 size_t max, wm_dht_providers_cb cb, void *ud, struct lookup **out)
{
	struct lookup *l = calloc(1, sizeof(*l));
	const struct wm_kad_entry *e[WM_KAD_K];

	if (out)
		*out = NULL;
	if (!l || (max && !(l->found = calloc(max, 32)))) {
		free(l);
		if (cb)
			cb(ud, NULL, -ENOMEM);
		return;
	}
	l->d = d;
	l->kind = kind;
	memcpy(l->key, key, len);
	l->key_len = len;
	sha256(key, len, l->kid);
	l->deadline_ms = now_ms(d) + d->cfg.lookup_timeout_ms;
	l->max = max;
	l->cb = cb;
	l->ud = ud;
	wm_kad_lookup_init(&l->st, l->kid, d->self_kid, WM_KAD_ALPHA, WM_KAD_K);
	size_t n = wm_kad_table_closest(&d->table, l->kid, WM_KAD_K, e);
	for (size_t i = 0; i < n; i++)
		wm_kad_lookup_add(&l->st, e[i]->kid, &e[i]->peer);
	l->next = d->lookups;
	d->lookups = l;
	d->nlookups++;
	if (out)
		*out = l;
	if (kind == L_FIND_PROVIDERS) {
		/* What we store ourselves counts first. */
		struct wm_kad_peer *local = calloc(WM_KAD_PEERS, sizeof(*local));
		size_t nl = local ? wm_kad_providers_get(&d->store, l->kid, now_ms(d), local,
							 WM_KAD_PEERS)
				  : 0;
		for (size_t i = 0; i < nl; i++)
			report(l, &local[i]);
		free(local);
	}
	lookup_step(l);
}

/* ---- the tick ---- */

static void on_tick(uv_timer_t *t)
{
	struct wm_dht *d = t->data;
	uint64_t now = now_ms(d);

	if (d->stopped)
		return;
	/* One expired request or lookup at a time, from the head again after
	 * each: settling one changes the lists (lookups step, requests go). */
	for (size_t n = 0; n <= d->cfg.max_requests; n++) {
		struct req *q = d->reqs;
		while (q && (q->settled || now < q->deadline_ms))
			q = q->next;
		if (!q)
			break;
		if (q->attached && q->s)
			stream_kill(q->s, q); /* gone settles and frees it */
		else
			req_settle(q, NULL); /* still dialing: the host lets go later */
	}
	for (size_t n = 0; n <= d->cfg.max_lookups; n++) {
		struct lookup *l = d->lookups;
		while (l && now < l->deadline_ms)
			l = l->next;
		if (!l)
			break;
		lookup_end(l, -ETIMEDOUT);
	}
	for (size_t i = 0; i < d->nprovides; i++) {
		struct provide *p = &d->provides[i];
		if (now >= p->next_ms && d->table.size && d->nlookups < d->cfg.max_lookups) {
			/* Half the record's life, and at least as often as the
			 * table is refreshed: peers that came since (or lost our
			 * record in a restart) learn it within minutes. */
			uint64_t every = (uint64_t)d->cfg.provider_ttl_s * 500u;
			p->next_ms = now + (every < REFRESH_MS ? every : REFRESH_MS);
			/* Our own store holds us too, for the peers that ask us. */
			struct wm_kad_peer self;
			uint8_t kid[32];
			self_peer(d, &self);
			sha256(p->key, p->key_len, kid);
			wm_kad_providers_add(&d->store, kid, d->self_kid, &self, now);
			lookup_start(d, L_PROVIDE, p->key, p->key_len, 0, NULL, NULL, NULL);
		}
	}
	if (now >= d->next_refresh_ms && d->table.size && d->nlookups < d->cfg.max_lookups) {
		d->next_refresh_ms = now + REFRESH_MS;
		const struct wm_peer_id *id = wm_p2p_id(d->host);
		lookup_start(d, L_SELF, id->b, WM_PEERID_LEN, 0, NULL, NULL, NULL);
	}
	uv_timer_set_repeat(t, d->reqs || d->lookups ? TICK_MS : IDLE_TICK_MS);
}

/* ---- public ---- */

int wm_dht_new(struct wm_p2p *host, const struct wm_dht_config *cfg, struct wm_dht **out)
{
	struct wm_dht *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return -ENOMEM;
	d->host = host;
	d->cfg = *cfg;
	if (!d->cfg.providers_max)
		d->cfg.providers_max = 1024;
	if (!d->cfg.providers_per_key)
		d->cfg.providers_per_key = WM_KAD_K;
	if (!d->cfg.provider_ttl_s)
		d->cfg.provider_ttl_s = 24 * 3600;
	if (!d->cfg.query_timeout_ms)
		d->cfg.query_timeout_ms = 5000;
	if (!d->cfg.lookup_timeout_ms)
		d->cfg.lookup_timeout_ms = 30000;
	if (!d->cfg.requests_per_s)
		d->cfg.requests_per_s = 200;
	if (!d->cfg.requests_per_stream)
		d->cfg.requests_per_stream = 16;
	if (!d->cfg.max_requests)
		d->cfg.max_requests = 64;
	if (!d->cfg.max_lookups)
		d->cfg.max_lookups = 16;
	sha256(wm_p2p_id(host)->b, WM_PEERID_LEN, d->self_kid);
	wm_kad_table_init(&d->table, d->self_kid, 2);
	if ((rc = wm_kad_providers_init(&d->store, d->cfg.providers_per_key, d->cfg.providers_max,
					(uint64_t)d->cfg.provider_ttl_s * 1000u))) {
		free(d);
		return rc;
	}
	if ((rc = wm_p2p_handle(host, WM_KAD_PROTOCOL, srv_accept, d)) == 0 &&
	    (rc = wm_p2p_watch(host, on_identified, d)))
		wm_p2p_unhandle(host, WM_KAD_PROTOCOL);
	if (rc) {
		wm_kad_providers_free(&d->store);
		free(d);
		return rc;
	}
	uv_timer_init(wm_p2p_loop(host), &d->tick);
	d->tick.data = d;
	d->next_refresh_ms = UINT64_MAX;
	d->tokens = d->cfg.requests_per_s;
	d->tokens_ms = now_ms(d);
	uv_timer_start(&d->tick, on_tick, TICK_MS, TICK_MS);
	*out = d;
	return 0;
}

void wm_dht_stop(struct wm_dht *d)
{
	if (!d || d->stopped)
		return;
	d->stopped = true;
	uv_timer_stop(&d->tick);
	while (d->lookups)
		lookup_end(d->lookups, -ECANCELED);
}

static void on_tick_closed(uv_handle_t *h)
{
	struct wm_dht *d = h->data;
	void (*cb)(void *) = d->done_cb;
	void *data = d->done_data;

	/* The host is gone: whatever it still held is ours to free. */
	while (d->reqs) {
		struct req *q = d->reqs;
		d->reqs = q->next;
		free(q->out);
		free(q->in);
		free(q);
	}
	wm_kad_table_free(&d->table);
	wm_kad_providers_free(&d->store);
	free(d);
	if (cb)
		cb(data);
}

void wm_dht_free(struct wm_dht *d, void (*done_cb)(void *data), void *data)
{
	if (!d) {
		if (done_cb)
			done_cb(data);
		return;
	}
	wm_dht_stop(d);
	d->done_cb = done_cb;
	d->done_data = data;
	uv_close((uv_handle_t *)&d->tick, on_tick_closed);
}

static int check_key(const uint8_t *key, size_t len)
{
	return !key || len == 0 || len > WM_KAD_KEY_MAX ? -EINVAL : 0;
}

int wm_dht_provide(struct wm_dht *d, const uint8_t *key, size_t len)
{
	if (check_key(key, len))
		return -EINVAL;
	for (size_t i = 0; i < d->nprovides; i++)
		if (d->provides[i].key_len == len && !memcmp(d->provides[i].key, key, len))
			return 0;
	if (d->nprovides >= MAX_PROVIDES)
		return -ENOSPC;
	struct provide *p = &d->provides[d->nprovides++];
	memcpy(p->key, key, len);
	p->key_len = len;
	/* In our own store at once: a peer that asks us before our first
	 * announce (a joiner whose only peer we are) finds us. */
	struct wm_kad_peer self;
	uint8_t kid[32];
	self_peer(d, &self);
	sha256(key, len, kid);
	wm_kad_providers_add(&d->store, kid, d->self_kid, &self, now_ms(d));
	p->next_ms = 0; /* the next tick, or once the table has a peer */
	return 0;
}

int wm_dht_find_providers(struct wm_dht *d, const uint8_t *key, size_t len, size_t max,
			  wm_dht_providers_cb cb, void *ud)
{
	if (check_key(key, len) || !cb || max == 0 || max > 256)
		return -EINVAL;
	if (d->stopped)
		return -ESHUTDOWN;
	if (d->nlookups >= d->cfg.max_lookups)
		return -EBUSY;
	lookup_start(d, L_FIND_PROVIDERS, key, len, max, cb, ud, NULL);
	return 0;
}

size_t wm_dht_table_size(const struct wm_dht *d)
{
	return d->table.size;
}

size_t wm_dht_records(const struct wm_dht *d)
{
	return d->store.n;
}
