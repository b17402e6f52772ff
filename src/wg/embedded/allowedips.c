/* The allowed-IPs trie (see allowedips.h). */
#include "wg/embedded/allowedips.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct wga_node {
	struct wga_node *child[2];
	void *value; /* NULL: a branch node, kept only while it has two children */
	uint8_t key[16];
	uint8_t cidr;
};

static unsigned bit_at(const uint8_t *key, unsigned i)
{
	return (key[i / 8] >> (7 - i % 8)) & 1;
}

static void mask(uint8_t *key, unsigned cidr, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++) {
		if (cidr >= 8 * (i + 1))
			continue;
		if (cidr <= 8 * i)
			key[i] = 0;
		else
			key[i] &= (uint8_t)(0xff << (8 - (cidr - 8 * i)));
	}
}

static bool matches(const uint8_t *nodekey, const uint8_t *key, unsigned cidr)
{
	unsigned full = cidr / 8, rest = cidr % 8;

	if (memcmp(nodekey, key, full))
		return false;
	if (!rest)
		return true;
	return ((nodekey[full] ^ key[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static unsigned common_bits(const uint8_t *a, const uint8_t *b, unsigned maxbits)
{
	unsigned n = 0;

	while (n < maxbits && bit_at(a, n) == bit_at(b, n))
		n++;
	return n;
}

static struct wga_node **root_of(struct wga_table *t, int family, unsigned *bits)
{
	if (family == 4) {
		*bits = 32;
		return &t->root4;
	}
	if (family == 6) {
		*bits = 128;
		return &t->root6;
	}
	return NULL;
}

static struct wga_node *node_new(struct wga_table *t, const uint8_t *key, unsigned cidr,
				 unsigned bytes, void *value)
{
	struct wga_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	memcpy(n->key, key, bytes);
	mask(n->key, cidr, bytes);
	n->cidr = (uint8_t)cidr;
	n->value = value;
	t->nodes++;
	return n;
}

int wga_insert(struct wga_table *t, int family, const uint8_t *addr, unsigned cidr, void *value)
{
	unsigned bits, common;
	struct wga_node **slot = root_of(t, family, &bits), *node, *n, *mid;
	uint8_t key[16] = {0};

	if (!slot || cidr > bits || !value)
		return -EINVAL;
	memcpy(key, addr, bits / 8);
	mask(key, cidr, bits / 8);
	while ((node = *slot) && node->cidr <= cidr && matches(node->key, key, node->cidr)) {
		if (node->cidr == cidr) {
			node->value = value;
			return 0;
		}
		slot = &node->child[bit_at(key, node->cidr)];
	}
	n = node_new(t, key, cidr, bits / 8, value);
	if (!n)
		return -ENOMEM;
	if (!node) {
		*slot = n;
		return 0;
	}
	/* node does not lie under the new prefix's path: they part at common. */
	common = common_bits(node->key, key, cidr < node->cidr ? cidr : node->cidr);
	if (common == cidr) {
		n->child[bit_at(node->key, cidr)] = node;
		*slot = n;
		return 0;
	}
	mid = node_new(t, key, common, bits / 8, NULL);
	if (!mid) {
		free(n);
		t->nodes--;
		return -ENOMEM;
	}
	mid->child[bit_at(node->key, common)] = node;
	mid->child[bit_at(key, common)] = n;
	*slot = mid;
	return 0;
}

/* A node without a value and with fewer than two children is dropped, its
 * one child (if any) taking its place: the trie stays path compressed. */
static void prune(struct wga_table *t, struct wga_node **slot)
{
	struct wga_node *n = *slot;

	if (!n || n->value || (n->child[0] && n->child[1]))
		return;
	*slot = n->child[0] ? n->child[0] : n->child[1];
	free(n);
	t->nodes--;
}

static int remove_rec(struct wga_table *t, struct wga_node **slot, const uint8_t *key,
		      unsigned cidr, void *value)
{
	struct wga_node *n = *slot;
	int ret;

	if (!n || n->cidr > cidr || !matches(n->key, key, n->cidr))
		return -ENOENT;
	if (n->cidr == cidr) {
		if (n->value != value)
			return -ENOENT;
		n->value = NULL;
		ret = 0;
	} else {
		ret = remove_rec(t, &n->child[bit_at(key, n->cidr)], key, cidr, value);
	}
	prune(t, slot);
	return ret;
}

int wga_remove(struct wga_table *t, int family, const uint8_t *addr, unsigned cidr, void *value)
{
	unsigned bits;
	struct wga_node **slot = root_of(t, family, &bits);
	uint8_t key[16] = {0};

	if (!slot || cidr > bits)
		return -EINVAL;
	memcpy(key, addr, bits / 8);
	mask(key, cidr, bits / 8);
	return remove_rec(t, slot, key, cidr, value);
}

static void remove_value_rec(struct wga_table *t, struct wga_node **slot, void *value)
{
	struct wga_node *n = *slot;

	if (!n)
		return;
	remove_value_rec(t, &n->child[0], value);
	remove_value_rec(t, &n->child[1], value);
	if (n->value == value)
		n->value = NULL;
	prune(t, slot);
}

void wga_remove_value(struct wga_table *t, void *value)
{
	remove_value_rec(t, &t->root4, value);
	remove_value_rec(t, &t->root6, value);
}

void *wga_lookup(const struct wga_table *t, int family, const uint8_t *addr)
{
	const struct wga_node *n = family == 4 ? t->root4 : family == 6 ? t->root6 : NULL;
	unsigned bits = family == 4 ? 32 : 128;
	void *best = NULL;

	while (n && matches(n->key, addr, n->cidr)) {
		if (n->value)
			best = n->value;
		if (n->cidr >= bits)
			break;
		n = n->child[bit_at(addr, n->cidr)];
	}
	return best;
}

static void walk_rec(const struct wga_node *n, int family, void *value,
		     void (*cb)(void *, int, const uint8_t *, unsigned, void *), void *ctx)
{
	if (!n)
		return;
	if (n->value && (!value || n->value == value))
		cb(ctx, family, n->key, n->cidr, n->value);
	walk_rec(n->child[0], family, value, cb, ctx);
	walk_rec(n->child[1], family, value, cb, ctx);
}

void wga_walk(const struct wga_table *t, void *value,
	      void (*cb)(void *ctx, int family, const uint8_t *addr, unsigned cidr, void *value),
	      void *ctx)
{
	walk_rec(t->root4, 4, value, cb, ctx);
	walk_rec(t->root6, 6, value, cb, ctx);
}

static void free_rec(struct wga_node *n)
{
	if (!n)
		return;
	free_rec(n->child[0]);
	free_rec(n->child[1]);
	free(n);
}

void wga_free(struct wga_table *t)
{
	free_rec(t->root4);
	free_rec(t->root6);
	memset(t, 0, sizeof(*t));
}
