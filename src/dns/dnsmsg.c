/* DNS message parsing and building (see dnsmsg.h). */
#include "dns/dnsmsg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool plain_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '*';
}

int wm_dns_name_read(const uint8_t *m, size_t len, size_t *off, char *out, size_t outlen)
{
	size_t pos = *off, o = 0, wire = 0, end = 0;
	bool jumped = false;
	/* Pointers must point strictly backwards from the label that holds
	 * them, so the walk ends even on a hostile message (RFC 9267). */
	size_t limit = pos;

	if (outlen < WM_DNS_TEXT_MAX)
		return -ENOSPC;
	for (;;) {
		if (pos >= len)
			return -EBADMSG;
		uint8_t l = m[pos];
		if ((l & 0xC0) == 0xC0) {
			if (pos + 1 >= len)
				return -EBADMSG;
			size_t target = (size_t)(l & 0x3F) << 8 | m[pos + 1];
			if (target >= limit)
				return -EBADMSG;
			if (!jumped)
				end = pos + 2;
			jumped = true;
			limit = target;
			pos = target;
			continue;
		}
		if (l & 0xC0) /* 0x40, 0x80: extended label types, obsolete */
			return -EBADMSG;
		pos++;
		if (l == 0)
			break;
		wire += 1u + l;
		if (wire > 254 || pos + l > len)
			return -EBADMSG;
		if (o)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++) {
			uint8_t c = m[pos + i];
			if (c >= 'A' && c <= 'Z')
				c = (uint8_t)(c + 32);
			if (plain_char(c)) {
				out[o++] = (char)c;
			} else {
				o += (size_t)snprintf(out + o, outlen - o, "\\%03u", c);
			}
		}
		pos += l;
		if (!jumped)
			limit = pos;
	}
	out[o] = '\0';
	*off = jumped ? end : pos;
	return 0;
}

int wm_dns_query_parse(const uint8_t *m, size_t len, struct wm_dns_query *q)
{
	size_t off = WM_DNS_HEADER;
	int err;

	memset(q, 0, sizeof(*q));
	if (len < WM_DNS_HEADER)
		return -EPROTO;
	q->id = get16(m);
	q->flags = get16(m + 2);
	q->udp_size = WM_DNS_UDP_MIN;
	if (q->flags & WM_DNS_FLAG_QR)
		return -EPROTO;
	if (((q->flags >> 11) & 15) != 0)
		return -EOPNOTSUPP;
	uint16_t qd = get16(m + 4), an = get16(m + 6), ns = get16(m + 8), ar = get16(m + 10);
	if (qd != 1 || an != 0 || ns != 0 || ar > 1)
		return -EBADMSG;
	/* The first name of a message has nothing before it to point to but
	 * the header: a pointer there is malformed, and the answer, which
	 * copies the question, would point into its own header. */
	for (size_t p = off; p < len && m[p]; p += 1u + m[p])
		if (m[p] & 0xC0)
			return -EBADMSG;
	err = wm_dns_name_read(m, len, &off, q->name, sizeof(q->name));
	if (err)
		return -EBADMSG;
	if (off + 4 > len)
		return -EBADMSG;
	q->qtype = get16(m + off);
	q->qclass = get16(m + off + 2);
	off += 4;
	q->question_end = off;
	if (ar == 1) {
		char owner[WM_DNS_TEXT_MAX];

		if (wm_dns_name_read(m, len, &off, owner, sizeof(owner)) || owner[0] ||
		    off + 10 > len)
			return -EBADMSG;
		uint16_t type = get16(m + off), rdlen = get16(m + off + 8);
		if (type != WM_DNS_OPT || off + 10 + rdlen > len)
			return -EBADMSG;
		q->edns = true;
		q->udp_size = get16(m + off + 2);
		if (q->udp_size < WM_DNS_UDP_MIN)
			q->udp_size = WM_DNS_UDP_MIN;
		q->edns_version = m[off + 5];
		off += 10u + rdlen;
	}
	/* Trailing bytes after the records: not a well-formed message. */
	return off == len ? 0 : -EBADMSG;
}

void wm_dns_builder_init(struct wm_dns_builder *b, uint8_t *buf, size_t cap, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->buf = buf;
	b->cap = cap;
	b->limit = limit < cap ? limit : cap;
}

static bool room(struct wm_dns_builder *b, size_t n)
{
	if (b->overflow || b->len + n > b->limit) {
		b->overflow = true;
		return false;
	}
	return true;
}

void wm_dns_put_bytes(struct wm_dns_builder *b, const void *p, size_t n)
{
	if (!room(b, n))
		return;
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

void wm_dns_put_u16(struct wm_dns_builder *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	wm_dns_put_bytes(b, x, 2);
}

void wm_dns_put_u32(struct wm_dns_builder *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	wm_dns_put_bytes(b, x, 4);
}

void wm_dns_put_header(struct wm_dns_builder *b, uint16_t id, uint16_t flags, uint8_t rcode)
{
	b->len = 0;
	b->overflow = false;
	b->n_comp = 0;
	wm_dns_put_u16(b, id);
	wm_dns_put_u16(b, (uint16_t)((flags & ~0xFu) | (rcode & 0xFu)));
	for (int i = 0; i < 4; i++)
		wm_dns_put_u16(b, 0);
}

static void count_add(struct wm_dns_builder *b, int field)
{
	if (b->overflow || b->len < WM_DNS_HEADER)
		return;
	uint8_t *p = b->buf + 4 + 2 * field;
	uint16_t v = (uint16_t)(get16(p) + 1);
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

uint16_t wm_dns_count(const struct wm_dns_builder *b, int section)
{
	return b->len >= WM_DNS_HEADER ? get16(b->buf + 6 + 2 * section) : 0;
}

void wm_dns_put_question(struct wm_dns_builder *b, const uint8_t *query,
			 const struct wm_dns_query *q)
{
	wm_dns_put_bytes(b, query + WM_DNS_HEADER, q->question_end - WM_DNS_HEADER);
	count_add(b, 0);
}

/* Does the wire name at off (in the message built so far) spell dotted,
 * case-insensitively? Names written by us point only backwards. */
static bool wire_equals(const struct wm_dns_builder *b, size_t off, const char *dotted)
{
	const char *d = dotted;

	for (int hops = 0; hops < 128 && off < b->len; hops++) {
		uint8_t l = b->buf[off];
		if ((l & 0xC0) == 0xC0) {
			if (off + 1 >= b->len)
				return false;
			off = (size_t)(l & 0x3F) << 8 | b->buf[off + 1];
			continue;
		}
		if (l == 0)
			return *d == '\0';
		const char *dot = strchr(d, '.');
		size_t n = dot ? (size_t)(dot - d) : strlen(d);
		if (n != l || off + 1 + l > b->len ||
		    strncasecmp((const char *)b->buf + off + 1, d, n))
			return false;
		off += 1u + l;
		d += n;
		if (*d == '.')
			d++;
		else if (b->buf[off] != 0 && (b->buf[off] & 0xC0) != 0xC0)
			return false;
	}
	return false;
}

void wm_dns_put_name(struct wm_dns_builder *b, const char *name, bool compress)
{
	const char *s = name;

	while (*s) {
		if (compress) {
			for (size_t i = 0; i < b->n_comp; i++) {
				if (wire_equals(b, b->comp[i], s)) {
					wm_dns_put_u16(b, (uint16_t)(0xC000 | b->comp[i]));
					return;
				}
			}
		}
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);
		if (n == 0 || n > 63) { /* our names are checked; never write a bad one */
			b->overflow = true;
			return;
		}
		if (b->len < 0x3FFF && b->n_comp < sizeof(b->comp) / sizeof(b->comp[0]) &&
		    !b->overflow)
			b->comp[b->n_comp++] = (uint16_t)b->len;
		uint8_t l = (uint8_t)n;
		wm_dns_put_bytes(b, &l, 1);
		wm_dns_put_bytes(b, s, n);
		s += n;
		if (*s == '.')
			s++;
	}
	uint8_t z = 0;
	wm_dns_put_bytes(b, &z, 1);
}

size_t wm_dns_rr_begin(struct wm_dns_builder *b, int section, const char *owner, uint16_t type,
		       uint32_t ttl)
{
	if (owner)
		wm_dns_put_name(b, owner, true);
	else
		wm_dns_put_u16(b, 0xC000 | WM_DNS_HEADER); /* the question's name */
	wm_dns_put_u16(b, type);
	wm_dns_put_u16(b, WM_DNS_CLASS_IN);
	wm_dns_put_u32(b, ttl);
	size_t pos = b->len;
	wm_dns_put_u16(b, 0);
	count_add(b, 1 + section);
	return pos;
}

void wm_dns_rr_end(struct wm_dns_builder *b, size_t rdlen_pos)
{
	if (b->overflow)
		return;
	size_t n = b->len - rdlen_pos - 2;
	b->buf[rdlen_pos] = (uint8_t)(n >> 8);
	b->buf[rdlen_pos + 1] = (uint8_t)n;
}

void wm_dns_put_opt(struct wm_dns_builder *b, uint16_t udp_size, uint8_t ext_rcode)
{
	uint8_t root = 0;

	wm_dns_put_bytes(b, &root, 1);
	wm_dns_put_u16(b, WM_DNS_OPT);
	wm_dns_put_u16(b, udp_size);
	wm_dns_put_u32(b, (uint32_t)ext_rcode << 24); /* version 0, no DO */
	wm_dns_put_u16(b, 0);
	count_add(b, 3);
}

/* rdata of a known type in presentation form; -EBADMSG if it does not fit
 * its type. Names inside may be compressed (RFC 3597 allows it for the
 * types of RFC 1035 only; we accept it for SRV too, as resolvers do). */
static int rdata_text(const uint8_t *m, size_t len, size_t off, uint16_t type, uint16_t rdlen,
		      char *out, size_t outlen)
{
	size_t end = off + rdlen, p = off;
	char n1[WM_DNS_TEXT_MAX], n2[WM_DNS_TEXT_MAX];

	switch (type) {
	case WM_DNS_A:
		if (rdlen != 4)
			return -EBADMSG;
		inet_ntop(AF_INET, m + off, out, (socklen_t)outlen);
		return 0;
	case WM_DNS_AAAA:
		if (rdlen != 16)
			return -EBADMSG;
		inet_ntop(AF_INET6, m + off, out, (socklen_t)outlen);
		return 0;
	case WM_DNS_CNAME:
	case WM_DNS_PTR:
	case WM_DNS_NS:
		if (wm_dns_name_read(m, end, &p, n1, sizeof(n1)) || p != end)
			return -EBADMSG;
		snprintf(out, outlen, "%s.", n1);
		return 0;
	case WM_DNS_SRV:
		if (rdlen < 7)
			return -EBADMSG;
		p += 6;
		if (wm_dns_name_read(m, end, &p, n1, sizeof(n1)) || p != end)
			return -EBADMSG;
		snprintf(out, outlen, "%u %u %u %s.", get16(m + off), get16(m + off + 2),
			 get16(m + off + 4), n1);
		return 0;
	case WM_DNS_SOA:
		if (wm_dns_name_read(m, end, &p, n1, sizeof(n1)) ||
		    wm_dns_name_read(m, end, &p, n2, sizeof(n2)) || p + 20 != end)
			return -EBADMSG;
		snprintf(out, outlen, "%.500s. %.500s. %u %u %u %u %u", n1, n2, get32(m + p),
			 get32(m + p + 4), get32(m + p + 8), get32(m + p + 12), get32(m + p + 16));
		return 0;
	case WM_DNS_TXT: {
		size_t o = 0;
		if (rdlen == 0)
			return -EBADMSG;
		while (p < end) {
			uint8_t l = m[p++];
			if (p + l > end)
				return -EBADMSG;
			if (o + 4 >= outlen)
				return 0; /* long TXT: kept in part */
			if (o)
				out[o++] = ' ';
			out[o++] = '"';
			for (size_t i = 0; i < l && o + 3 < outlen; i++) {
				uint8_t c = m[p + i];
				out[o++] = c >= 32 && c < 127 && c != '"' ? (char)c : '?';
			}
			out[o++] = '"';
			p += l;
		}
		out[o] = '\0';
		return 0;
	}
	default:
		(void)len;
		snprintf(out, outlen, "\\# %u", rdlen);
		return 0;
	}
}

int wm_dns_msg_parse(const uint8_t *m, size_t len, struct wm_dns_parsed *out)
{
	size_t off = WM_DNS_HEADER;

	memset(out, 0, sizeof(*out));
	if (len < WM_DNS_HEADER)
		return -EBADMSG;
	out->id = get16(m);
	out->flags = get16(m + 2);
	out->rcode = m[3] & 15;
	out->qdcount = get16(m + 4);
	out->ancount = get16(m + 6);
	out->nscount = get16(m + 8);
	out->arcount = get16(m + 10);
	for (unsigned i = 0; i < out->qdcount; i++) {
		char name[WM_DNS_TEXT_MAX];
		if (wm_dns_name_read(m, len, &off, name, sizeof(name)) || off + 4 > len)
			return -EBADMSG;
		if (i == 0) {
			memcpy(out->qname, name, sizeof(name));
			out->qtype = get16(m + off);
		}
		off += 4;
	}
	unsigned total = (unsigned)out->ancount + out->nscount + out->arcount;
	for (unsigned i = 0; i < total; i++) {
		struct wm_dns_parsed_rr tmp,
			*rr = out->n_rr < WM_DNS_PARSED_MAX ? &out->rr[out->n_rr] : &tmp;
		if (wm_dns_name_read(m, len, &off, rr->name, sizeof(rr->name)) || off + 10 > len)
			return -EBADMSG;
		rr->section = i < out->ancount				  ? 0
			      : i < (unsigned)out->ancount + out->nscount ? 1
									  : 2;
		rr->type = get16(m + off);
		rr->klass = get16(m + off + 2);
		rr->ttl = get32(m + off + 4);
		uint16_t rdlen = get16(m + off + 8);
		off += 10;
		if (off + rdlen > len)
			return -EBADMSG;
		if (rr->type == WM_DNS_OPT) {
			if (rr->section != 2 || rr->name[0])
				return -EBADMSG;
			snprintf(rr->data, sizeof(rr->data), "udp=%u version=%u", rr->klass,
				 (rr->ttl >> 16) & 0xFF);
		} else if (rdata_text(m, len, off, rr->type, rdlen, rr->data, sizeof(rr->data))) {
			return -EBADMSG;
		}
		off += rdlen;
		if (rr != &tmp)
			out->n_rr++;
	}
	return off == len ? 0 : -EBADMSG;
}
