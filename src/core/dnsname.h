/* DNS names: the one owner of their syntax (config, API, FSM and MeshDNS all
 * call it), and the small conversions MeshDNS needs (pure). */
#ifndef WM_CORE_DNSNAME_H
#define WM_CORE_DNSNAME_H

#include <stdbool.h>
#include <stddef.h>

#include "core/net.h"

#define WM_DNS_NAME_MAX 253 /* dotted, without the trailing dot */
#define WM_DNS_LABEL_MAX 63

/* What wm_dns_name_check accepts beyond host names (RFC 1123 labels of
 * lower-case letters, digits and '-'). */
enum {
	WM_DNS_NAME_UPPER = 1,	    /* A-Z too (host names given by users) */
	WM_DNS_NAME_WILDCARD = 2,   /* a first label "*" (RFC 4592) */
	WM_DNS_NAME_UNDERSCORE = 4, /* labels starting with '_' (SRV: _http._tcp) */
};

/* 0 if name is a dotted DNS name of that kind: labels of 1..63 characters,
 * not starting or ending with '-', 253 characters in all, no trailing dot.
 * -EINVAL otherwise, with *why (may be NULL) saying what is wrong. */
int wm_dns_name_check(const char *name, unsigned flags, const char **why);

/* name lies in domain or is domain itself (case-insensitive, at a label
 * boundary). */
bool wm_dns_name_in(const char *name, const char *domain);

/* The reverse name of an address ("4.3.2.1.in-addr.arpa", 32 nibbles of
 * ".ip6.arpa"). -ENOSPC if len is too small (128 bytes always do). */
int wm_dns_reverse_name(const struct wm_prefix *addr, char *out, size_t len);
/* The reverse zone holding a network: its prefix cut to whole octets
 * (IPv4) or nibbles (IPv6), e.g. 172.16.0.0/12 -> "172.in-addr.arpa". */
int wm_dns_reverse_zone(const struct wm_prefix *net, char *out, size_t len);
/* The prefix a reverse name stands for: its labels as whole octets or
 * nibbles ("16.172.in-addr.arpa" -> 172.16.0.0/16, "ip6.arpa" -> ::/0).
 * -EINVAL if name is not one. */
int wm_dns_reverse_prefix(const char *name, struct wm_prefix *out);
/* The address a full reverse name stands for; -EINVAL if name is not one. */
int wm_dns_reverse_parse(const char *name, struct wm_prefix *out);

/* User records (wmctl put dns-record NAME TYPE VALUE), as stored. */
#define WM_DNS_VALUE_MAX 512
struct wm_dns_record {
	char name[WM_DNS_NAME_MAX + 1];	  /* fully qualified, lower case, no trailing dot */
	char type[8];			  /* "A", "AAAA", "CNAME", "TXT", "SRV" */
	char value[WM_DNS_VALUE_MAX + 1]; /* canonical presentation form */
};

/* The type number (1, 28, 5, 16, 33) of a user record type name (any
 * case); -EINVAL for any other. */
int wm_dns_record_type(const char *s);
/* Its canonical name ("A", "AAAA"...), as stored; NULL for another number. */
const char *wm_dns_record_type_name(int type);
/* The canonical NAME: lower case, without a trailing dot, in domain (a name
 * not already in domain is taken relative to it). Wildcards (*.x) and
 * underscore labels (_http._tcp.x) are allowed. The names MeshDNS makes
 * itself (leader, voters, observers) are refused. -EINVAL with *why. */
int wm_dns_record_name(const char *name, const char *domain, char *out, size_t len,
		       const char **why);
/* The canonical VALUE of a record of that type: A an IPv4 address, AAAA an
 * IPv6 address, CNAME a DNS name, TXT printable ASCII (at most 512), SRV
 * "PRIORITY WEIGHT PORT TARGET". -EINVAL with *why. */
int wm_dns_record_value(int type, const char *value, char *out, size_t len, const char **why);

#endif
