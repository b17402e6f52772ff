/* Allowed IPs: a path-compressed binary trie per address family mapping
 * prefixes to peers (whitepaper 4: cryptokey routing). Longest-prefix match
 * picks the peer for an outgoing packet and checks the source of an incoming
 * one. A prefix belongs to one peer: inserting it for another moves it.
 * Pure; memory is one node per prefix plus at most one branch node per
 * prefix, allocated only when the configuration changes. */
#ifndef WM_WG_EMBEDDED_ALLOWEDIPS_H
#define WM_WG_EMBEDDED_ALLOWEDIPS_H

#include <stddef.h>
#include <stdint.h>

struct wga_node;

struct wga_table {
	struct wga_node *root4;
	struct wga_node *root6;
	size_t nodes;
};

/* family is 4 or 6 (not AF_*, to stay free of socket headers); addr holds 4
 * or 16 bytes; host bits past cidr are ignored. value must not be NULL.
 * 0, -EINVAL (family, cidr or value), -ENOMEM (the table is unchanged). */
int wga_insert(struct wga_table *t, int family, const uint8_t *addr, unsigned cidr, void *value);
/* Removes the prefix if value owns it: 0, or -ENOENT. */
int wga_remove(struct wga_table *t, int family, const uint8_t *addr, unsigned cidr, void *value);
/* Removes every prefix of value. */
void wga_remove_value(struct wga_table *t, void *value);
/* The value of the longest prefix holding addr, or NULL. */
void *wga_lookup(const struct wga_table *t, int family, const uint8_t *addr);
/* Calls cb for every prefix (of value only, unless value is NULL). addr is
 * the prefix's network address (4 or 16 bytes). */
void wga_walk(const struct wga_table *t, void *value,
	      void (*cb)(void *ctx, int family, const uint8_t *addr, unsigned cidr, void *value),
	      void *ctx);
void wga_free(struct wga_table *t);

#endif
