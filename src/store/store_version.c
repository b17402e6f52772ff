/* Command versions on the leader: what each voter said it runs, and the
 * mesh's effective version that gates new kinds of entries (core/cmdver.h). */
#include <stdbool.h>
#include <stdlib.h>

#include "core/cmdver.h"
#include "store/store_int.h"

void wm_store_note_version(struct wm_store *s, const char *node_id, uint32_t version)
{
	uint64_t id = wm_store_raft_id(node_id);
	const struct raft_configuration *c = &s->raft.configuration;
	struct wm_store_version *slot = NULL;
	bool voter = false;

	/* Members heartbeat too: only voters count, and only they take slots. */
	for (unsigned i = 0; i < c->n && !voter; i++)
		voter = c->servers[i].id == id && c->servers[i].role == RAFT_VOTER;
	if (!voter)
		return;
	for (size_t i = 0; i < s->n_versions && !slot; i++)
		if (s->versions[i].raft_id == id)
			slot = &s->versions[i];
	if (!slot && s->n_versions < WM_STORE_MAX_VERSIONS)
		slot = &s->versions[s->n_versions++];
	/* Full: the entry heard in the oldest term goes; those of the current
	 * term are the voters themselves, far fewer than the slots. */
	for (size_t i = 0; i < s->n_versions && !slot; i++)
		if (s->versions[i].term < s->raft.current_term)
			slot = &s->versions[i];
	if (!slot)
		return;
	slot->raft_id = id;
	slot->term = s->raft.current_term;
	slot->version = version;
}

uint32_t wm_store_mesh_version(struct wm_store *s)
{
	const struct raft_configuration *c = &s->raft.configuration;
	uint32_t *v = calloc(c->n ? c->n : 1, sizeof(*v));
	size_t n = 0;

	/* Out of memory: nothing newer than what every build knows. */
	if (!v)
		return WM_CMD_VERSION_BASE;
	for (unsigned i = 0; i < c->n; i++) {
		const struct raft_server *sv = &c->servers[i];
		if (sv->role != RAFT_VOTER)
			continue;
		uint32_t ver = 0;
		if (sv->id == s->raft_id)
			ver = WM_CMD_VERSION;
		for (size_t k = 0; k < s->n_versions && !ver; k++)
			if (s->versions[k].raft_id == sv->id &&
			    s->versions[k].term == s->raft.current_term)
				ver = s->versions[k].version;
		v[n++] = ver;
	}
	uint32_t mesh = wm_cmd_mesh_version(v, n, WM_CMD_VERSION);
	free(v);
	return mesh;
}
