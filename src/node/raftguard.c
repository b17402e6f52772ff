/* The Raft port's firewall: only the mesh addresses of current voters and
 * observers reach it (core/raftguard.h renders the rules). The servers are
 * libraft's configuration, plus the servers this node's peers name (a fresh
 * voter's configuration is empty until the leader reaches it). The TLS
 * authentication of every Raft connection holds without it; this keeps
 * members from even starting a handshake. */
#include "node/raftguard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"
#include "core/raftguard.h"
#include "core/sort.h"
#include "sys/nft.h"
#include "util/log.h"

#define MAX_SERVERS 64

static int cmp_prefix(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct wm_prefix));
}

static void add(struct wm_prefix *ips, size_t *n, const struct wm_prefix *p)
{
	if (p->family != AF_INET || *n >= MAX_SERVERS)
		return;
	struct wm_prefix host = *p;
	host.len = 32;
	ips[(*n)++] = host;
}

void wm_raftguard_init(struct wm_raftguard *g, const char *interface, uint16_t raft_port)
{
	*g = (struct wm_raftguard){.interface = interface, .raft_port = raft_port};
}

void wm_raftguard_sync(struct wm_raftguard *g, const struct wm_store_status *st,
		       const struct wm_prefix *self, const struct wm_prefix *servers,
		       size_t n_servers)
{
	struct wm_prefix ips[MAX_SERVERS];
	size_t n = 0;
	char err[256] = "", *batch = NULL;

	if (self->family != AF_INET)
		return;
	memset(ips, 0, sizeof(ips));
	for (size_t i = 0; i < st->n_members; i++) {
		struct wm_endpoint ep;
		if (wm_endpoint_parse(st->members[i].address, &ep) == 0)
			add(ips, &n, &ep.ip);
	}
	for (size_t i = 0; i < n_servers; i++)
		add(ips, &n, &servers[i]);
	wm_sort(ips, n, sizeof(ips[0]), cmp_prefix);
	int r = wm_raftguard_nft_render(g->interface, g->raft_port, self, ips, n, &batch);
	if (r < 0) {
		if (!g->warned)
			wm_error("raft: cannot render the Raft port's firewall rules: %s",
				 wm_strerror(r));
		g->warned = true;
		return;
	}
	uint64_t h = wm_hash_fnv1a(batch, strlen(batch));
	if (g->hash_valid && h == g->hash) {
		free(batch);
		return;
	}
	/* Tried once per change of the set, not per tick: without nftables
	 * the attempt would fail the same way at every heartbeat. */
	g->hash = h;
	g->hash_valid = true;
	r = wm_nft_run(batch, err, sizeof(err));
	free(batch);
	if (r < 0) {
		if (!g->warned)
			wm_error("raft: SECURITY: the Raft port %u stays open to every mesh "
				 "address, nftables failed: %s. Raft connections are still "
				 "authenticated (TLS and WireGuard key proof).",
				 g->raft_port, err[0] ? err : wm_strerror(r));
		g->warned = true;
		return;
	}
	if (!g->applied)
		wm_info("raft: port %u accepts only the servers' mesh addresses (%zu)",
			g->raft_port, n);
	g->applied = true;
}

void wm_raftguard_close(struct wm_raftguard *g)
{
	char err[256] = "", *batch = NULL;
	if (!g->applied || wm_raftguard_nft_remove(&batch) < 0)
		return;
	if (wm_nft_run(batch, err, sizeof(err)) < 0)
		wm_warn("cannot remove the Raft port's firewall rules: %s", err);
	free(batch);
	g->applied = false;
	g->hash_valid = false;
}
