/* Command versions: the kinds each version introduced and the rules of a
 * mixed-version mesh (cmdver.h). */
#include "core/cmdver.h"

#include <errno.h>
#include <stdio.h>

#include "core/error.h"

/* Version 1 is everything that existed before entries carried a version.
 * Version 2 adds no kind: it is the first build that states min_version in
 * entries and stops applying at an entry it does not understand, instead of
 * refusing it and moving on. */
const struct wm_cmd_kind wm_cmd_kinds[] = {
	{1, 1, "BootstrapMesh"},   {2, 1, "JoinNode"},		{3, 1, "RemoveNode"},
	{4, 1, "PutEdge"},	   {5, 1, "DeleteEdge"},	{20, 1, "PutRoutes"},
	{21, 1, "DeleteRoutes"},   {30, 1, "PutRole"},		{31, 1, "PutRoleBinding"},
	{32, 1, "PutGroup"},	   {33, 1, "PutNetworkACL"},	{34, 1, "DeleteAuthz"},
	{35, 1, "BootstrapAuthz"}, {50, 1, "DenyNode"},		{51, 1, "AllowNode"},
	{100, 1, "PutDnsRecord"},  {101, 1, "DeleteDnsRecord"}, {920, 1, "Liveness"},
};
const size_t wm_cmd_n_kinds = sizeof(wm_cmd_kinds) / sizeof(wm_cmd_kinds[0]);

static const struct wm_cmd_kind *find(int kind)
{
	for (size_t i = 0; i < wm_cmd_n_kinds; i++)
		if (wm_cmd_kinds[i].kind == kind)
			return &wm_cmd_kinds[i];
	return NULL;
}

uint32_t wm_cmd_kind_version(int kind)
{
	const struct wm_cmd_kind *k = find(kind);
	return k ? k->version : 0;
}

uint32_t wm_cmd_apply_needs(uint32_t own, int kind, uint32_t min_version, bool has_unknown)
{
	if (min_version > own)
		return min_version;
	if (kind == 0)
		return has_unknown ? (own < UINT32_MAX ? own + 1 : own) : 0;
	/* Decoded as a case: this build's proto has the kind, so it knows it
	 * (whether the table lists it or not: test_cmdver holds that). */
	return 0;
}

uint32_t wm_cmd_mesh_version(const uint32_t *voters, size_t n, uint32_t own)
{
	uint32_t min = own;

	for (size_t i = 0; i < n; i++) {
		uint32_t v = voters[i] ? voters[i] : WM_CMD_VERSION_BASE;
		if (v < min)
			min = v;
	}
	return min;
}

int wm_cmd_admit(int kind, uint32_t stated, uint32_t mesh_version, uint32_t *needs, char *why,
		 size_t len)
{
	const struct wm_cmd_kind *k = find(kind);
	char name[24];

	if (kind <= 0) {
		wm_seterr(why, len, "no command kind");
		return -EINVAL;
	}
	/* A kind of the proto the table does not list yet is of this build:
	 * the newest there is. */
	uint32_t v = k ? k->version : WM_CMD_VERSION;
	/* what the caller asks for more: a field of a later version that
	 * changes what the kind does */
	if (stated > v)
		v = stated;
	if (!k)
		snprintf(name, sizeof(name), "kind %d", kind);
	if (needs)
		*needs = v;
	if (v > mesh_version) {
		wm_seterr(why, len,
			  "mesh runs command version %u, this write (%s) needs %u: upgrade every "
			  "voter first",
			  mesh_version, k ? k->name : name, v);
		return -WM_EVERSION;
	}
	return 0;
}
