/* STATE_DIR/mesh.state: the networks and addresses a node had, so that after a
 * restart it brings its interface (and, on servers, Raft's listen address) up
 * before it can reach any other node. */
#include "node/meshstate.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fsutil.h"

static void state_path(const char *dir, char *out, size_t len)
{
	snprintf(out, len, "%s/mesh.state", dir);
}

int wm_meshstate_save(const char *state_dir, const struct wm_mesh_info *mesh,
		      const struct wm_prefix *ipv4, const struct wm_prefix *ipv6)
{
	char path[PATH_MAX], n4[WM_PREFIX_STRLEN], n6[WM_PREFIX_STRLEN], a4[WM_PREFIX_STRLEN],
		a6[WM_PREFIX_STRLEN], text[512];
	state_path(state_dir, path, sizeof(path));
	wm_prefix_format(&mesh->ipv4_network, n4, sizeof(n4));
	wm_prefix_format(&mesh->ipv6_network, n6, sizeof(n6));
	wm_prefix_format(ipv4, a4, sizeof(a4));
	wm_prefix_format(ipv6, a6, sizeof(a6));
	int n = snprintf(text, sizeof(text),
			 "network-ipv4=%s\nnetwork-ipv6=%s\ndomain=%s\naddress-ipv4=%s\n"
			 "address-ipv6=%s\n",
			 n4, n6, mesh->domain, a4, a6);
	return wm_write_file_atomic(path, text, (size_t)n, 0600);
}

int wm_meshstate_load(const char *state_dir, struct wm_mesh_info *mesh, struct wm_prefix *ipv4,
		      struct wm_prefix *ipv6)
{
	char path[PATH_MAX];
	char *text = NULL;
	state_path(state_dir, path, sizeof(path));
	int err = wm_read_file(path, 4096, &text, NULL);
	if (err)
		return err;
	memset(mesh, 0, sizeof(*mesh));
	memset(ipv4, 0, sizeof(*ipv4));
	memset(ipv6, 0, sizeof(*ipv6));
	unsigned seen = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line && !err;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq) {
			err = -EINVAL;
			break;
		}
		*eq = '\0';
		const char *v = eq + 1;
		if (strcmp(line, "network-ipv4") == 0) {
			err = wm_prefix_parse(v, &mesh->ipv4_network);
			seen |= 1;
		} else if (strcmp(line, "network-ipv6") == 0) {
			err = wm_prefix_parse(v, &mesh->ipv6_network);
			seen |= 2;
		} else if (strcmp(line, "domain") == 0) {
			snprintf(mesh->domain, sizeof(mesh->domain), "%s", v);
			seen |= 4;
		} else if (strcmp(line, "address-ipv4") == 0) {
			err = wm_prefix_parse(v, ipv4);
			seen |= 8;
		} else if (strcmp(line, "address-ipv6") == 0) {
			err = wm_prefix_parse(v, ipv6);
			seen |= 16;
		}
	}
	free(text);
	if (!err && seen != 31)
		err = -EINVAL;
	return err;
}

int wm_meshstate_remove(const char *state_dir)
{
	char path[PATH_MAX];
	state_path(state_dir, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}
