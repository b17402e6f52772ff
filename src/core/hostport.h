/* "HOST:PORT" as users write server addresses (names allowed, unlike endpoints). */
#ifndef WM_CORE_HOSTPORT_H
#define WM_CORE_HOSTPORT_H

#include <stddef.h>
#include <stdint.h>

/* Splits "host:port", "[v6]:port" or "1.2.3.4:port" into host (without
 * brackets) and port 1..65535. -EINVAL for anything else, -ENAMETOOLONG when
 * host does not fit. */
int wm_hostport_split(const char *s, char *host, size_t hostlen, uint16_t *port);

#endif
