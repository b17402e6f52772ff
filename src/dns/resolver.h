/* --use-meshdns: the host's resolver asks MeshDNS for the mesh domain, and
 * nothing else about the host's DNS changes.
 *
 * With systemd-resolved (resolv.conf names its stub 127.0.0.53) the mesh
 * interface gets per-link DNS through resolved's D-Bus API (busctl, which
 * every systemd host has; resolvectl ships in a package of its own):
 * SetLinkDNSEx (ADDR:PORT) and SetLinkDomains (~DOMAIN, routing only), so
 * only the mesh domain goes to MeshDNS; RevertLink undoes both. Without it a managed block goes at
 * the top of resolv.conf: a resolv.conf cannot scope a nameserver to a domain, so every lookup asks
 * MeshDNS first, which answers REFUSED for names outside the mesh (the C library then asks the next
 * nameserver); at exit the file gets its original bytes back. */
#ifndef WM_DNS_RESOLVER_H
#define WM_DNS_RESOLVER_H

#include <stddef.h>

#include "core/net.h"

#define WM_RESOLVCONF_BEGIN "# BEGIN webmesh: --use-meshdns (removed when webmeshd stops)"
#define WM_RESOLVCONF_END "# END webmesh"

/* Pure text edits of a resolv.conf (unit-tested): text with our block (for
 * nameserver addr, placed first) instead of any earlier one; text without
 * our block. *out is malloc'd. -ENOMEM. */
int wm_resolvconf_with_block(const char *text, const char *addr, char **out);
int wm_resolvconf_without_block(const char *text, char **out);

struct wm_resolver_config {
	const char *ifname;	 /* the mesh interface (per-link DNS) */
	const char *domain;	 /* the mesh domain */
	const char *resolv_conf; /* NULL: /etc/resolv.conf */
	const char *busctl;	 /* NULL: found in /usr/bin or /bin */
};

struct wm_resolver;

int wm_resolver_new(const struct wm_resolver_config *cfg, struct wm_resolver **out);
/* Points the mesh domain at server; the same server again changes nothing.
 * The resolv.conf way needs port 53 (the file has no ports): -EINVAL.
 * Calls resolved (busctl: a short blocking call) or rewrites the file in
 * place. -ENODEV: no such interface (resolved's way). */
int wm_resolver_set(struct wm_resolver *r, const struct wm_endpoint *server, char *err,
		    size_t errlen);
/* Undoes set: RevertLink, or the file's original bytes (only our block
 * removed if someone else changed the file meanwhile). Then frees r. */
void wm_resolver_free(struct wm_resolver *r);

#endif
