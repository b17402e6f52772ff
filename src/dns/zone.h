/* The records MeshDNS serves, as one immutable snapshot, and the answer to a
 * query from it (pure: no I/O). A snapshot is built whole (new, add..., seal)
 * after each change of the mesh and replaces the previous one; queries only
 * read it. Records take 12 bytes plus their names and data in one buffer, so
 * a mesh of 1,000 nodes costs a few hundred KiB. */
#ifndef WM_DNS_ZONE_H
#define WM_DNS_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dnsname.h"
#include "core/mesh.h"

struct wm_dns_zone;

/* A zone for domain whose SOA and NS name ns (a name in the zone, the
 * serving node's), with serial and one TTL for every record (and for
 * negative answers). */
int wm_dns_zone_new(const char *domain, const char *ns, uint32_t serial, uint32_t ttl,
		    struct wm_dns_zone **out);
void wm_dns_zone_free(struct wm_dns_zone *z);
/* Adds a record. owner: a checked, lower-case name in the zone. rdata by
 * type: A/AAAA the address bytes; CNAME/PTR/NS the target name as text (no
 * NUL); TXT the wire form (length-prefixed strings); SRV 6 bytes (priority,
 * weight, port, big endian) then the target as text. -EINVAL for an owner
 * outside the zone or rdata that does not fit its type, -ENOMEM. */
int wm_dns_zone_add(struct wm_dns_zone *z, const char *owner, uint16_t type, const void *rdata,
		    size_t len);
/* Adds a TXT record of one or more strings (each cut into 255-byte pieces). */
int wm_dns_zone_add_txt(struct wm_dns_zone *z, const char *owner, const char *const *strings,
			size_t n);
/* Adds a user record (canonical, as wm_dns_record_value gives it). */
int wm_dns_zone_add_record(struct wm_dns_zone *z, const struct wm_dns_record *r);
/* Makes the zone authoritative for the reverse names of net too (PTR
 * records are added with wm_dns_zone_add; their owners must lie under
 * the reverse zone of net). */
int wm_dns_zone_add_reverse(struct wm_dns_zone *z, const struct wm_prefix *net);
/* Does owner have records (or is it the parent of some)? */
bool wm_dns_zone_has(const struct wm_dns_zone *z, const char *owner);
/* Sorts and indexes: no more adds after it. -ENOMEM. */
int wm_dns_zone_seal(struct wm_dns_zone *z);
size_t wm_dns_zone_size(const struct wm_dns_zone *z); /* records */

enum wm_dns_outcome {
	WM_DNS_ANSWERED, /* out holds the answer */
	WM_DNS_OUTSIDE,	 /* a name outside the zone: out holds REFUSED (a
			    forwarder may be asked instead) */
	WM_DNS_DROP,	 /* not a query: send nothing */
};
/* The answer to the query in m[0..len) in out[0..cap) (*outlen bytes).
 * tcp: the answer goes over TCP (no truncation below 64 KiB); else it is cut
 * to the requester's EDNS0 size (512 without EDNS0) with TC set. cap must be
 * at least WM_DNS_UDP_MAX (and WM_DNS_TCP_MAX for tcp). z may be NULL (no
 * state yet: SERVFAIL). ra: say recursion is available (forwarders). */
enum wm_dns_outcome wm_dns_answer(const struct wm_dns_zone *z, const uint8_t *m, size_t len,
				  bool tcp, bool ra, uint8_t *out, size_t cap, size_t *outlen);

/* The records of a mesh (core/mesh.h data), as MeshDNS serves them:
 * <node>.<domain> A, AAAA and TXT ("key=...", "role=...", "endpoint=..."),
 * leader.<domain> CNAME, voters./observers.<domain> A and AAAA, PTR for
 * every mesh address, and the user records (a name the mesh uses itself
 * keeps the mesh's records: user records there are left out). */
struct wm_dns_mesh {
	const char *domain;
	const char *self_id;		  /* the serving node: the SOA's and NS's name */
	const char *leader_id;		  /* "" or NULL: no leader record */
	const struct wm_prefix *networks; /* the mesh networks (reverse zones) */
	size_t n_networks;
	const struct wm_mesh_node *nodes;
	size_t n_nodes;
	const struct wm_dns_record *records;
	size_t n_records;
	uint32_t serial;
	uint32_t ttl;
};
int wm_dns_zone_from_mesh(const struct wm_dns_mesh *m, struct wm_dns_zone **out);

#endif
