/* "HOST:PORT" as users write server addresses (names allowed, unlike endpoints). */
#ifndef WM_CORE_HOSTPORT_H
#define WM_CORE_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Splits "host:port", "[v6]:port" or "1.2.3.4:port" into host (without
 * brackets) and port. host is a DNS name (core/dnsname.h, upper case
 * allowed, no trailing dot) or an IPv4 address; an IPv6 address needs
 * brackets. port is 1..65535 without a leading zero (wm_port_parse).
 * -EINVAL for anything else, -ENAMETOOLONG when host does not fit hostlen. */
int wm_hostport_split(const char *s, char *host, size_t hostlen, uint16_t *port);

#endif
