/* The main routing table beyond device routes: reading it, and routes through
 * a gateway with an owner tag (rtnetlink via libmnl on Linux). Synchronous. */
#ifndef WM_SYS_ROUTE_H
#define WM_SYS_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "core/routeplan.h"

/* The rtm_protocol webmesh marks its own routes with, so that they can be
 * told from the host's (and found again after a crash). */
#define WM_RTPROT_WEBMESH 87

/* Unicast routes of the main table for family (AF_INET, AF_INET6): dst,
 * gateway (first next hop of a multipath route), output interface, metric and
 * protocol. *out is malloc'd. */
int wm_sys_route_list(int family, struct wm_route **out, size_t *n);
/* Adds or replaces r in the main table: dst through gateway (if set) on
 * ifindex, with r->metric and r->protocol (0: WM_RTPROT_WEBMESH). */
int wm_sys_route_set(const struct wm_route *r);
/* Deletes the route with r's dst, metric and ifindex; -ESRCH if none. */
int wm_sys_route_remove(const struct wm_route *r);

#endif
