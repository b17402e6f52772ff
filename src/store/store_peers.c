/* Who may speak Raft with this node, for the authenticated transport
 * (raft_transport.c): libraft's configuration says who is a voter or
 * observer; the replica, or before it holds anything the daemon's lookup,
 * gives the node's WireGuard key. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/store_int.h"

static bool in_configuration(struct wm_store *s, uint64_t raft_id)
{
	const struct raft_configuration *c = &s->raft.configuration;
	for (unsigned i = 0; i < c->n; i++)
		if (c->servers[i].id == raft_id)
			return true;
	return false;
}

int wm_store_identify(void *data, uint64_t raft_id, char node_id[WM_NODE_ID_MAX + 1],
		      uint8_t pub[32], bool *is_server)
{
	struct wm_store *s = data;
	struct wm_mesh_node n;
	char id[WM_NODE_ID_MAX + 1];
	/* An empty configuration is a voter or observer that has just joined
	 * and waits for the leader's snapshot: then the replica's roles, or
	 * what the daemon learnt at join, say who the servers are. Once there
	 * is a configuration, only its members are. */
	bool have_conf = s->raft.configuration.n > 0;
	bool member = in_configuration(s, raft_id);

	*is_server = false;
	wm_fsm_node_by_raft_id(s->fsm, raft_id, id, sizeof(id));
	if (id[0] && wm_fsm_get_node(s->fsm, id, &n) == 0) {
		snprintf(node_id, WM_NODE_ID_MAX + 1, "%s", n.id);
		memcpy(pub, n.public_key, 32);
		*is_server = have_conf ? member : n.raft_role != WM_ROLE_MEMBER;
		return 0;
	}
	bool learnt = false;
	if (!s->peer_lookup || s->peer_lookup(s->peer_data, raft_id, node_id, pub, &learnt) != 0)
		return -ENOENT;
	*is_server = have_conf ? member : learnt;
	return 0;
}

void wm_store_log(void *data, const char *msg)
{
	struct wm_store *s = data;
	if (s->log)
		s->log(s->peer_data, msg);
}
