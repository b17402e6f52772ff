/* DNS messages (RFC 1035, 3596, 2782, 6891): parsing queries, building answers
 * with name compression, and a strict parser of whole messages for tests and
 * the fuzzer. Pure: no I/O. Every input is untrusted; nothing here reads past
 * the length it is given or follows a compression pointer forward. */
#ifndef WM_DNS_DNSMSG_H
#define WM_DNS_DNSMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dnsname.h"

#define WM_DNS_HEADER 12
#define WM_DNS_UDP_MIN 512  /* without EDNS0 */
#define WM_DNS_UDP_MAX 1232 /* what we offer: no IP fragmentation (DNS flag day 2020) */
#define WM_DNS_TCP_MAX 65535
#define WM_DNS_TEXT_MAX (WM_DNS_NAME_MAX * 4 + 2) /* a name with every byte escaped */

enum wm_dns_type {
	WM_DNS_A = 1,
	WM_DNS_NS = 2,
	WM_DNS_CNAME = 5,
	WM_DNS_SOA = 6,
	WM_DNS_PTR = 12,
	WM_DNS_TXT = 16,
	WM_DNS_AAAA = 28,
	WM_DNS_SRV = 33,
	WM_DNS_OPT = 41,
	WM_DNS_ANY = 255,
};

enum wm_dns_rcode {
	WM_DNS_NOERROR = 0,
	WM_DNS_FORMERR = 1,
	WM_DNS_SERVFAIL = 2,
	WM_DNS_NXDOMAIN = 3,
	WM_DNS_NOTIMP = 4,
	WM_DNS_REFUSED = 5,
	WM_DNS_BADVERS = 16, /* extended: 4 bits in the header, the rest in OPT */
};

#define WM_DNS_CLASS_IN 1
#define WM_DNS_FLAG_QR 0x8000
#define WM_DNS_FLAG_AA 0x0400
#define WM_DNS_FLAG_TC 0x0200
#define WM_DNS_FLAG_RD 0x0100
#define WM_DNS_FLAG_RA 0x0080

/* One question as received. name is lower-cased dotted text without the
 * trailing dot ("" for the root); a byte that cannot stand in a host name
 * ('.', '\\', controls, non-ASCII) appears as \DDD, so such a name never
 * equals one of ours. */
struct wm_dns_query {
	uint16_t id;
	uint16_t flags;
	char name[WM_DNS_TEXT_MAX];
	uint16_t qtype, qclass;
	bool edns; /* an OPT record came with it */
	uint8_t edns_version;
	uint16_t udp_size;   /* the requester's UDP payload size (512 without EDNS0) */
	size_t question_end; /* offset just past the question */
};

/* Parses a query. 0 on success. -EPROTO: drop it (shorter than a header, or
 * a response). -EBADMSG: malformed but with a header (answer FORMERR).
 * -EOPNOTSUPP: an opcode other than QUERY (answer NOTIMP). */
int wm_dns_query_parse(const uint8_t *m, size_t len, struct wm_dns_query *q);

/* Reads the (possibly compressed) name at *off into out as wm_dns_query
 * describes; *off moves past it. -EBADMSG on a loop, a forward pointer, a
 * name past 255 bytes or past len. */
int wm_dns_name_read(const uint8_t *m, size_t len, size_t *off, char *out, size_t outlen);

/* A message being built in buf[0..cap). Writes past limit set overflow (and
 * change nothing more); the caller then truncates. */
struct wm_dns_builder {
	uint8_t *buf;
	size_t cap, len, limit;
	bool overflow;
	uint16_t comp[64]; /* offsets of names already written (compression targets) */
	size_t n_comp;
};

void wm_dns_builder_init(struct wm_dns_builder *b, uint8_t *buf, size_t cap, size_t limit);
/* The header with all counts 0 (they grow with each put). */
void wm_dns_put_header(struct wm_dns_builder *b, uint16_t id, uint16_t flags, uint8_t rcode);
/* Copies the question of the query (name as received, case kept: RFC 4343). */
void wm_dns_put_question(struct wm_dns_builder *b, const uint8_t *query,
			 const struct wm_dns_query *q);
/* A name, compressed against the names written before when compress. */
void wm_dns_put_name(struct wm_dns_builder *b, const char *name, bool compress);
void wm_dns_put_u16(struct wm_dns_builder *b, uint16_t v);
void wm_dns_put_u32(struct wm_dns_builder *b, uint32_t v);
void wm_dns_put_bytes(struct wm_dns_builder *b, const void *p, size_t n);
/* Starts a record in section 0 (answer), 1 (authority) or 2 (additional);
 * returns the position of its RDLENGTH for wm_dns_rr_end. owner NULL: the
 * name of the question (a pointer to it, as received: its bytes may be
 * anything a label can hold, which text cannot carry back). */
size_t wm_dns_rr_begin(struct wm_dns_builder *b, int section, const char *owner, uint16_t type,
		       uint32_t ttl);
void wm_dns_rr_end(struct wm_dns_builder *b, size_t rdlen_pos);
/* The OPT record of a response (EDNS0), with the extended rcode bits. */
void wm_dns_put_opt(struct wm_dns_builder *b, uint16_t udp_size, uint8_t ext_rcode);
/* The whole header count fields, as they stand. */
uint16_t wm_dns_count(const struct wm_dns_builder *b, int section);

/* A whole message, checked strictly (every name, every known rdata), for
 * tests and the fuzzer: records in presentation form, as dig prints them. */
#define WM_DNS_PARSED_MAX 64
struct wm_dns_parsed_rr {
	int section; /* 0 answer, 1 authority, 2 additional */
	char name[WM_DNS_TEXT_MAX];
	uint16_t type, klass;
	uint32_t ttl;
	char data[WM_DNS_TEXT_MAX + 64];
};
struct wm_dns_parsed {
	uint16_t id, flags;
	uint8_t rcode;
	uint16_t qdcount, ancount, nscount, arcount;
	char qname[WM_DNS_TEXT_MAX];
	uint16_t qtype;
	struct wm_dns_parsed_rr rr[WM_DNS_PARSED_MAX];
	size_t n_rr; /* records kept (at most WM_DNS_PARSED_MAX) */
};
/* 0, or -EBADMSG naming nothing: the message is not well formed. */
int wm_dns_msg_parse(const uint8_t *m, size_t len, struct wm_dns_parsed *out);

#endif
