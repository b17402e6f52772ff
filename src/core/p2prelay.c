/* Circuit relay v2 messages, vouchers and reservations (see p2prelay.h). */
#include "core/p2prelay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- messages ---- */

/* Field numbers: HopMessage and StopMessage differ after peer. */
enum { F_TYPE = 1, F_PEER = 2 };
enum { HOP_RSVP = 3, HOP_LIMIT = 4, HOP_STATUS = 5 };
enum { STOP_LIMIT = 3, STOP_STATUS = 4 };

static void addrs_add(struct wm_relay_addrs *a, const uint8_t *buf, size_t len)
{
	/* Extra or over-long addresses are dropped, not refused: a peer may
	 * know more addresses than we keep, and none of them is needed. */
	if (a->n >= WM_RELAY_ADDRS || len == 0 || len > WM_MADDR_MAX)
		return;
	memcpy(a->a[a->n], buf, len);
	a->len[a->n++] = len;
}

static int decode_peer(const uint8_t *buf, size_t len, struct wm_relay_msg *m)
{
	struct wm_pb_reader r = {buf, len};
	struct wm_pb_field f;
	bool has_id = false;
	int rc;

	while ((rc = wm_pb_next(&r, &f)) == 1) {
		if (f.num == 1 && f.type == 2) {
			if ((rc = wm_peer_id_from_bytes(f.buf, f.len, &m->peer, NULL)))
				return rc;
			has_id = true;
		} else if (f.num == 2 && f.type == 2) {
			addrs_add(&m->peer_addrs, f.buf, f.len);
		} else if (f.num <= 2) {
			return -EBADMSG;
		}
	}
	if (rc < 0 || !has_id)
		return -EBADMSG;
	m->has_peer = true;
	return 0;
}

static int decode_rsvp(const uint8_t *buf, size_t len, struct wm_relay_msg *m)
{
	struct wm_pb_reader r = {buf, len};
	struct wm_pb_field f;
	bool has_expire = false;
	int rc;

	while ((rc = wm_pb_next(&r, &f)) == 1) {
		if (f.num == 1 && f.type == 0) {
			m->rsvp_expire = f.v;
			has_expire = true;
		} else if (f.num == 2 && f.type == 2) {
			addrs_add(&m->rsvp_addrs, f.buf, f.len);
		} else if (f.num == 3 && f.type == 2) {
			if (f.len > WM_RELAY_VOUCHER_MAX)
				return -EBADMSG;
			memcpy(m->voucher, f.buf, f.len);
			m->voucher_len = f.len;
		} else if (f.num <= 3) {
			return -EBADMSG;
		}
	}
	if (rc < 0 || !has_expire)
		return -EBADMSG;
	m->has_rsvp = true;
	return 0;
}

static int decode_limit(const uint8_t *buf, size_t len, struct wm_relay_msg *m)
{
	struct wm_pb_reader r = {buf, len};
	struct wm_pb_field f;
	int rc;

	while ((rc = wm_pb_next(&r, &f)) == 1) {
		if (f.num == 1 && f.type == 0) {
			if (f.v > UINT32_MAX)
				return -EBADMSG;
			m->limit_duration = (uint32_t)f.v;
			m->has_duration = true;
		} else if (f.num == 2 && f.type == 0) {
			m->limit_data = f.v;
			m->has_data = true;
		} else if (f.num <= 2) {
			return -EBADMSG;
		}
	}
	if (rc < 0)
		return -EBADMSG;
	m->has_limit = true;
	return 0;
}

int wm_relay_msg_decode(bool hop, const uint8_t *buf, size_t len, struct wm_relay_msg *m)
{
	struct wm_pb_reader r = {buf, len};
	struct wm_pb_field f;
	bool has_type = false;
	int rc;

	memset(m, 0, sizeof(*m));
	m->hop = hop;
	if (len > WM_RELAY_MSG_MAX)
		return -EMSGSIZE;
	uint32_t limit_f = hop ? HOP_LIMIT : STOP_LIMIT;
	uint32_t status_f = hop ? HOP_STATUS : STOP_STATUS;
	while ((rc = wm_pb_next(&r, &f)) == 1) {
		if (f.num == F_TYPE && f.type == 0) {
			if (f.v > (hop ? WM_HOP_STATUS : WM_STOP_STATUS))
				return -EBADMSG;
			m->type = (uint32_t)f.v;
			has_type = true;
		} else if (f.num == F_PEER && f.type == 2) {
			/* A repeated embedded message merges; we take the
			 * last one whole instead, which no honest peer sends. */
			memset(&m->peer_addrs, 0, sizeof(m->peer_addrs));
			if ((rc = decode_peer(f.buf, f.len, m)))
				return rc;
		} else if (hop && f.num == HOP_RSVP && f.type == 2) {
			memset(&m->rsvp_addrs, 0, sizeof(m->rsvp_addrs));
			m->voucher_len = 0;
			if ((rc = decode_rsvp(f.buf, f.len, m)))
				return rc;
		} else if (f.num == limit_f && f.type == 2) {
			if ((rc = decode_limit(f.buf, f.len, m)))
				return rc;
		} else if (f.num == status_f && f.type == 0) {
			if (f.v > UINT32_MAX)
				return -EBADMSG;
			m->status = (uint32_t)f.v;
			m->has_status = true;
		} else if (f.num <= status_f) {
			return -EBADMSG; /* a known field with the wrong wire type */
		}
	}
	if (rc < 0 || !has_type)
		return -EBADMSG;
	return 0;
}

static int encode_addrs(const struct wm_relay_addrs *a, uint32_t num, uint8_t *out, size_t cap,
			size_t *off)
{
	for (size_t i = 0; i < a->n && i < WM_RELAY_ADDRS; i++) {
		int rc = wm_pb_put_bytes(out, cap, off, num, a->a[i], a->len[i]);
		if (rc)
			return rc;
	}
	return 0;
}

int wm_relay_msg_encode(const struct wm_relay_msg *m, uint8_t *out, size_t cap)
{
	uint8_t sub[WM_RELAY_MSG_MAX];
	size_t off = 0, so;
	int rc;

	if (m->type > (m->hop ? WM_HOP_STATUS : WM_STOP_STATUS) || (!m->hop && m->has_rsvp) ||
	    m->voucher_len > WM_RELAY_VOUCHER_MAX)
		return -EINVAL;
	if ((rc = wm_pb_put_varint(out, cap, &off, F_TYPE, m->type)))
		return rc;
	if (m->has_peer) {
		so = 0;
		if ((rc = wm_pb_put_bytes(sub, sizeof(sub), &so, 1, m->peer.b, WM_PEERID_LEN)) ||
		    (rc = encode_addrs(&m->peer_addrs, 2, sub, sizeof(sub), &so)) ||
		    (rc = wm_pb_put_bytes(out, cap, &off, F_PEER, sub, so)))
			return rc;
	}
	if (m->has_rsvp) {
		so = 0;
		if ((rc = wm_pb_put_varint(sub, sizeof(sub), &so, 1, m->rsvp_expire)) ||
		    (rc = encode_addrs(&m->rsvp_addrs, 2, sub, sizeof(sub), &so)))
			return rc;
		if (m->voucher_len &&
		    (rc = wm_pb_put_bytes(sub, sizeof(sub), &so, 3, m->voucher, m->voucher_len)))
			return rc;
		if ((rc = wm_pb_put_bytes(out, cap, &off, HOP_RSVP, sub, so)))
			return rc;
	}
	if (m->has_limit) {
		so = 0;
		if (m->has_duration &&
		    (rc = wm_pb_put_varint(sub, sizeof(sub), &so, 1, m->limit_duration)))
			return rc;
		if (m->has_data && (rc = wm_pb_put_varint(sub, sizeof(sub), &so, 2, m->limit_data)))
			return rc;
		if ((rc = wm_pb_put_bytes(out, cap, &off, m->hop ? HOP_LIMIT : STOP_LIMIT, sub,
					  so)))
			return rc;
	}
	if (m->has_status &&
	    (rc = wm_pb_put_varint(out, cap, &off, m->hop ? HOP_STATUS : STOP_STATUS, m->status)))
		return rc;
	return (int)off;
}

int wm_relay_msg_read(bool hop, const uint8_t *buf, size_t len, struct wm_relay_msg *m,
		      size_t *used)
{
	const uint8_t *body;
	size_t blen, took;
	int rc = wm_varint_frame(buf, len, WM_RELAY_MSG_MAX, &body, &blen, &took);

	if (rc <= 0)
		return rc;
	if ((rc = wm_relay_msg_decode(hop, body, blen, m)))
		return rc;
	*used = took;
	return 1;
}

int wm_relay_msg_write(const struct wm_relay_msg *m, uint8_t *out, size_t cap)
{
	uint8_t body[WM_RELAY_MSG_MAX];
	uint8_t v[WM_VARINT_MAX];
	int n = wm_relay_msg_encode(m, body, sizeof(body));

	if (n < 0)
		return n;
	size_t vl = wm_varint_encode((uint64_t)n, v);
	if (cap < vl + (size_t)n)
		return -ENOSPC;
	memcpy(out, v, vl);
	memcpy(out + vl, body, (size_t)n);
	return (int)(vl + (size_t)n);
}

/* ---- circuit addresses ---- */

#define CIRCUIT "/p2p-circuit"

int wm_relay_circuit_split(const char *text, char *relay, size_t cap, struct wm_peer_id *target,
			   char *err, size_t errlen)
{
	const char *c = strstr(text, CIRCUIT);
	uint8_t b[WM_MADDR_MAX];
	struct wm_maddr_tcp t;
	char e[256];

	if (!c)
		return 0;
	size_t n = (size_t)(c - text);
	if (n == 0 || n >= cap || n >= WM_MADDR_TEXT_MAX) {
		snprintf(err, errlen, "\"%s\": a circuit address starts with its relay's address",
			 text);
		return -EINVAL;
	}
	memcpy(relay, text, n);
	relay[n] = '\0';
	int bl = wm_maddr_parse(relay, b, sizeof(b), e, sizeof(e));
	if (bl < 0 || wm_maddr_to_tcp(b, (size_t)bl, &t) || !t.has_peer) {
		snprintf(err, errlen,
			 "\"%s\": the relay part must be /ip4|ip6/ADDR/tcp/PORT/p2p/ID (%s)", text,
			 bl < 0 ? e : "another shape");
		return -EINVAL;
	}
	c += strlen(CIRCUIT);
	if (strncmp(c, "/p2p/", 5) || strchr(c + 5, '/') || wm_peer_id_parse(c + 5, target)) {
		snprintf(err, errlen, "\"%s\": a circuit address ends in /p2p-circuit/p2p/ID",
			 text);
		return -EINVAL;
	}
	if (wm_peer_id_equal(&t.peer, target)) {
		snprintf(err, errlen, "\"%s\": the relay cannot be its own target", text);
		return -EINVAL;
	}
	return 1;
}

/* ---- vouchers ---- */

/* The payload type: the multicodec 0x0302 (libp2p-relay-rsvp) as its two
 * big-endian bytes, which is how go-libp2p and js-libp2p put it (not as a
 * varint); a voucher with other bytes would not verify at either. */
static const uint8_t PAYLOAD_TYPE[2] = {0x03, 0x02};

int wm_relay_voucher_record(const struct wm_peer_id *relay, const struct wm_peer_id *peer,
			    uint64_t expire, uint8_t *out, size_t cap)
{
	size_t off = 0;
	int rc;

	if ((rc = wm_pb_put_bytes(out, cap, &off, 1, relay->b, WM_PEERID_LEN)) ||
	    (rc = wm_pb_put_bytes(out, cap, &off, 2, peer->b, WM_PEERID_LEN)) ||
	    (rc = wm_pb_put_varint(out, cap, &off, 3, expire)))
		return rc;
	return (int)off;
}

static int put_lp(uint8_t *out, size_t cap, size_t *off, const void *buf, size_t len)
{
	uint8_t v[WM_VARINT_MAX];
	size_t vl = wm_varint_encode(len, v);

	if (cap - *off < vl + len)
		return -ENOSPC;
	memcpy(out + *off, v, vl);
	memcpy(out + *off + vl, buf, len);
	*off += vl + len;
	return 0;
}

int wm_relay_voucher_signed_part(const uint8_t *record, size_t rlen, uint8_t *out, size_t cap)
{
	size_t off = 0;
	int rc;

	/* RFC 0002: the domain, the payload type and the payload, each
	 * prefixed with its length as an unsigned varint. */
	if ((rc = put_lp(out, cap, &off, WM_RELAY_VOUCHER_DOMAIN,
			 strlen(WM_RELAY_VOUCHER_DOMAIN))) ||
	    (rc = put_lp(out, cap, &off, PAYLOAD_TYPE, sizeof(PAYLOAD_TYPE))) ||
	    (rc = put_lp(out, cap, &off, record, rlen)))
		return rc;
	return (int)off;
}

int wm_relay_voucher_envelope(const uint8_t pk[32], const uint8_t *record, size_t rlen,
			      const uint8_t sig[64], uint8_t *out, size_t cap)
{
	uint8_t pkpb[WM_PUBKEY_PB_LEN];
	size_t off = 0;
	int rc;

	wm_p2p_pubkey_encode(pk, pkpb);
	if ((rc = wm_pb_put_bytes(out, cap, &off, 1, pkpb, sizeof(pkpb))) ||
	    (rc = wm_pb_put_bytes(out, cap, &off, 2, PAYLOAD_TYPE, sizeof(PAYLOAD_TYPE))) ||
	    (rc = wm_pb_put_bytes(out, cap, &off, 3, record, rlen)) ||
	    (rc = wm_pb_put_bytes(out, cap, &off, 5, sig, 64)))
		return rc;
	return (int)off;
}

static int decode_record(const uint8_t *buf, size_t len, struct wm_relay_voucher *v)
{
	struct wm_pb_reader r = {buf, len};
	struct wm_pb_field f;
	int rc, seen = 0;

	while ((rc = wm_pb_next(&r, &f)) == 1) {
		if (f.num == 1 && f.type == 2) {
			if ((rc = wm_peer_id_from_bytes(f.buf, f.len, &v->relay, NULL)))
				return rc;
			seen |= 1;
		} else if (f.num == 2 && f.type == 2) {
			if ((rc = wm_peer_id_from_bytes(f.buf, f.len, &v->peer, NULL)))
				return rc;
			seen |= 2;
		} else if (f.num == 3 && f.type == 0) {
			v->expire = f.v;
			seen |= 4;
		} else if (f.num <= 3) {
			return -EBADMSG;
		}
	}
	return rc < 0 || seen != 7 ? -EBADMSG : 0;
}

int wm_relay_voucher_decode(const uint8_t *buf, size_t len, struct wm_relay_voucher *v)
{
	struct wm_pb_reader r = {buf, len};
	struct wm_pb_field f;
	int rc, seen = 0;

	memset(v, 0, sizeof(*v));
	while ((rc = wm_pb_next(&r, &f)) == 1) {
		if (f.num == 1 && f.type == 2) {
			if ((rc = wm_p2p_pubkey_decode(f.buf, f.len, v->pk)))
				return rc;
			seen |= 1;
		} else if (f.num == 2 && f.type == 2) {
			if (f.len != sizeof(PAYLOAD_TYPE) || memcmp(f.buf, PAYLOAD_TYPE, f.len))
				return -EBADMSG;
			seen |= 2;
		} else if (f.num == 3 && f.type == 2) {
			if (f.len > sizeof(v->record))
				return -EBADMSG;
			memcpy(v->record, f.buf, f.len);
			v->record_len = f.len;
			seen |= 4;
		} else if (f.num == 5 && f.type == 2) {
			if (f.len != 64)
				return -EBADMSG;
			memcpy(v->sig, f.buf, 64);
			seen |= 8;
		} else if (f.num <= 5) {
			return -EBADMSG;
		}
	}
	if (rc < 0 || seen != 15)
		return -EBADMSG;
	if ((rc = decode_record(v->record, v->record_len, v)))
		return rc;
	/* The relay vouches for itself only. */
	struct wm_peer_id signer;
	wm_peer_id_from_pubkey(v->pk, &signer);
	return wm_peer_id_equal(&signer, &v->relay) ? 0 : -EBADMSG;
}

/* ---- reservations ---- */

int wm_relay_table_init(struct wm_relay_table *t, const struct wm_relay_limits *lim)
{
	memset(t, 0, sizeof(*t));
	if (!lim->max_reservations || !lim->reservation_ttl_s || !lim->max_circuits ||
	    !lim->max_circuits_per_peer || !lim->max_per_source)
		return -EINVAL;
	t->lim = *lim;
	t->r = calloc(lim->max_reservations, sizeof(*t->r));
	return t->r ? 0 : -ENOMEM;
}

void wm_relay_table_free(struct wm_relay_table *t)
{
	free(t->r);
	t->r = NULL;
	t->n = 0;
}

void wm_relay_table_expire(struct wm_relay_table *t, uint64_t now_ms)
{
	/* A reservation that carries a circuit stays until the circuit ends:
	 * its counts must find it; it cannot take new circuits (find fails). */
	for (size_t i = 0; i < t->n;) {
		if (t->r[i].expire_ms <= now_ms && t->r[i].circuits == 0)
			t->r[i] = t->r[--t->n];
		else
			i++;
	}
}

static struct wm_relay_rsvp *find_any(struct wm_relay_table *t, const struct wm_peer_id *peer)
{
	for (size_t i = 0; i < t->n; i++)
		if (wm_peer_id_equal(&t->r[i].peer, peer))
			return &t->r[i];
	return NULL;
}

int wm_relay_reserve(struct wm_relay_table *t, const struct wm_peer_id *peer, const uint8_t src[9],
		     uint64_t now_ms, uint64_t *expire_ms)
{
	struct wm_relay_rsvp *r;

	wm_relay_table_expire(t, now_ms);
	r = find_any(t, peer);
	if (!r) {
		uint32_t same = 0;
		for (size_t i = 0; i < t->n; i++)
			if (!memcmp(t->r[i].src, src, sizeof(t->r[i].src)))
				same++;
		if (t->n >= t->lim.max_reservations || same >= t->lim.max_per_source)
			return -EDQUOT;
		r = &t->r[t->n++];
		memset(r, 0, sizeof(*r));
		r->peer = *peer;
	} else if (r->expire_ms <= now_ms) {
		r->bytes = 0; /* a lapsed one kept for its circuits: a new life */
	}
	/* A renewal from elsewhere moves the reservation to its new source. */
	memcpy(r->src, src, sizeof(r->src));
	r->expire_ms = now_ms + (uint64_t)t->lim.reservation_ttl_s * 1000u;
	*expire_ms = r->expire_ms;
	return 0;
}

struct wm_relay_rsvp *wm_relay_find(struct wm_relay_table *t, const struct wm_peer_id *peer,
				    uint64_t now_ms)
{
	struct wm_relay_rsvp *r = find_any(t, peer);

	return r && r->expire_ms > now_ms ? r : NULL;
}

int wm_relay_circuit_open(struct wm_relay_table *t, const struct wm_peer_id *peer, uint64_t now_ms)
{
	struct wm_relay_rsvp *r = wm_relay_find(t, peer, now_ms);

	if (!r)
		return -ENOENT;
	if (t->circuits >= t->lim.max_circuits || r->circuits >= t->lim.max_circuits_per_peer)
		return -EDQUOT;
	r->circuits++;
	t->circuits++;
	return 0;
}

void wm_relay_circuit_close(struct wm_relay_table *t, const struct wm_peer_id *peer)
{
	struct wm_relay_rsvp *r = find_any(t, peer);

	if (r && r->circuits)
		r->circuits--;
	if (t->circuits)
		t->circuits--;
}

int wm_relay_account(struct wm_relay_table *t, const struct wm_peer_id *peer, uint64_t n)
{
	struct wm_relay_rsvp *r = find_any(t, peer);

	if (!r)
		return -ENOENT;
	r->bytes = UINT64_MAX - r->bytes < n ? UINT64_MAX : r->bytes + n;
	return t->lim.reservation_bytes && r->bytes > t->lim.reservation_bytes ? -EDQUOT : 0;
}

/* ---- relays found in the DHT ---- */

int wm_relay_cand_pick(const struct wm_relay_cand *c, size_t n, const struct wm_peer_id *self,
		       const struct wm_peer_id *found, uint64_t now_ms)
{
	size_t i;

	if (wm_peer_id_equal(found, self))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!c[i].used || !wm_peer_id_equal(&c[i].id, found))
			continue;
		if (c[i].held || c[i].pending)
			return -EALREADY;
		return now_ms < c[i].retry_ms ? -EAGAIN : (int)i;
	}
	for (i = 0; i < n; i++)
		if (!c[i].used)
			return (int)i;
	/* A relay that failed us and waits for nobody gives its slot up:
	 * one lookup's stale records do not block a working relay. */
	for (i = 0; i < n; i++)
		if (!c[i].held && !c[i].pending && now_ms >= c[i].retry_ms)
			return (int)i;
	return -ENOSPC;
}

uint64_t wm_relay_find_next(uint64_t last_ms, size_t held, unsigned misses)
{
	uint64_t wait = WM_RELAY_FIND_EMPTY_MS;

	if (held)
		return last_ms + WM_RELAY_FIND_MS;
	for (unsigned i = 1; i < misses && wait < WM_RELAY_FIND_MS; i++)
		wait *= 2;
	return last_ms + (wait < WM_RELAY_FIND_MS ? wait : WM_RELAY_FIND_MS);
}

int wm_relay_slot_pick(const struct wm_relay_slot *s, size_t n, bool found)
{
	size_t nfound = 0, i;

	for (i = 0; i < n; i++)
		nfound += s[i].busy && s[i].found;
	for (i = 0; i < n; i++)
		if (!s[i].busy && !s[i].waiting)
			break;
	if (found)
		return i < n && nfound < n / 2 ? (int)i : -ENOSPC;
	if (i < n)
		return (int)i;
	for (i = 0; i < n; i++)
		if (s[i].busy && s[i].found)
			return (int)i;
	for (i = 0; i < n; i++)
		if (!s[i].busy)
			return (int)i;
	return -ENOSPC;
}

static unsigned via_rank(const struct wm_relay_via *v)
{
	return (v->failed_target ? 4u : 0u) | (v->fails >= WM_RELAY_VIA_FAILING ? 2u : 0u) |
	       (v->found ? 1u : 0u);
}

void wm_relay_via_order(const struct wm_relay_via *v, size_t n, size_t *order)
{
	size_t k = 0;

	/* Eight ranks, a few relays: one pass per rank keeps the order stable. */
	for (unsigned rank = 0; rank < 8; rank++)
		for (size_t i = 0; i < n; i++)
			if (via_rank(&v[i]) == rank)
				order[k++] = i;
}

void wm_relay_deny_add(struct wm_relay_deny *d, const struct wm_peer_id *id, uint64_t now_ms)
{
	size_t pick = 0;

	for (size_t i = 0; i < WM_RELAY_DENY_N; i++) {
		if (d->until_ms[i] > now_ms && wm_peer_id_equal(&d->id[i], id)) {
			pick = i;
			break;
		}
		if (d->until_ms[i] < d->until_ms[pick])
			pick = i;
	}
	d->id[pick] = *id;
	d->until_ms[pick] = now_ms + WM_RELAY_DENY_MS;
}

bool wm_relay_denied(const struct wm_relay_deny *d, const struct wm_peer_id *id, uint64_t now_ms)
{
	for (size_t i = 0; i < WM_RELAY_DENY_N; i++)
		if (d->until_ms[i] > now_ms && wm_peer_id_equal(&d->id[i], id))
			return true;
	return false;
}

void wm_relay_shuffle(size_t *idx, size_t n, const uint32_t *rnd)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd[i - 1] % i;
		size_t t = idx[i - 1];
		idx[i - 1] = idx[j];
		idx[j] = t;
	}
}

bool wm_relay_addr_ok(const struct wm_maddr_tcp *t)
{
	static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
	static const uint8_t zero[16];
	const uint8_t *a = t->ip;

	if (t->family == 6 && !memcmp(a, mapped, sizeof(mapped)))
		a += 12; /* ::ffff:a.b.c.d */
	else if (t->family == 6)
		return memcmp(a, zero, 15) != 0 && /* :: and ::1 */
		       !(a[0] == 0xfe && (a[1] & 0xc0) == 0x80) && a[0] != 0xff;
	else if (t->family != 4)
		return false;
	return a[0] != 0 && a[0] != 127 && !(a[0] == 169 && a[1] == 254) && (a[0] & 0xf0) != 0xe0 &&
	       !(a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255);
}
