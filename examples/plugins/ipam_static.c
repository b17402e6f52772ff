/* An example ipam plugin: every node's IPv4 address comes from a static
 * table, a file of "NODE-ID ADDRESS" lines ('#' starts a comment), given as
 * the config key "table". Nodes missing from the table cannot join. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webmesh/plugin.h"

#define MAX_ENTRIES 4096

struct entry {
	char id[80];
	char addr[80];
};

struct table {
	struct entry *e;
	size_t n;
	char path[512];
};

static int id_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 63)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return 0;
	return 1;
}

static int load(struct table *t, char *msg, size_t msglen)
{
	FILE *f = fopen(t->path, "r");
	char line[256];
	size_t lineno = 0;
	if (!f) {
		snprintf(msg, msglen, "table %s: %s", t->path, strerror(errno));
		return -errno;
	}
	t->e = calloc(MAX_ENTRIES, sizeof(*t->e));
	if (!t->e) {
		fclose(f);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		char id[80], addr[80], extra[2];
		struct in_addr a;
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		int k = sscanf(line, "%79s %79s %1s", id, addr, extra);
		if (k <= 0)
			continue;
		if (k != 2 || !id_ok(id) || inet_pton(AF_INET, addr, &a) != 1) {
			snprintf(msg, msglen, "table %s:%zu: expected \"NODE-ID IPV4-ADDRESS\"",
				 t->path, lineno);
			fclose(f);
			return -EINVAL;
		}
		for (size_t i = 0; i < t->n; i++)
			if (!strcmp(t->e[i].id, id) || !strcmp(t->e[i].addr, addr)) {
				snprintf(msg, msglen, "table %s:%zu: %s or %s is listed twice",
					 t->path, lineno, id, addr);
				fclose(f);
				return -EINVAL;
			}
		if (t->n == MAX_ENTRIES) {
			snprintf(msg, msglen, "table %s: more than %d entries", t->path,
				 MAX_ENTRIES);
			fclose(f);
			return -EINVAL;
		}
		snprintf(t->e[t->n].id, sizeof(t->e[t->n].id), "%s", id);
		snprintf(t->e[t->n].addr, sizeof(t->e[t->n].addr), "%s", addr);
		t->n++;
	}
	fclose(f);
	return 0;
}

static void fini(void *state)
{
	struct table *t = state;
	if (!t)
		return;
	free(t->e);
	free(t);
}

static int init(const struct webmesh_plugin_init_args *args, void **state, char *msg, size_t msglen)
{
	const char *path = NULL;
	for (size_t i = 0; i < args->n_config; i++) {
		if (!strcmp(args->config[i].key, "table")) {
			path = args->config[i].value;
		} else {
			snprintf(msg, msglen, "unknown config key \"%s\" (known: table)",
				 args->config[i].key);
			return -EINVAL;
		}
	}
	if (!path || !*path) {
		snprintf(msg, msglen,
			 "config key \"table\" (the file of NODE-ID ADDRESS) is missing");
		return -EINVAL;
	}
	struct table *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	snprintf(t->path, sizeof(t->path), "%s", path);
	int r = load(t, msg, msglen);
	if (r < 0) {
		fini(t);
		return r;
	}
	*state = t;
	return 0;
}

/* The table never changes after init: lookups need no lock. */
static int allocate(void *state, const struct webmesh_ipam_request *req, char *addr, size_t addrlen,
		    char *msg, size_t msglen)
{
	const struct table *t = state;
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->e[i].id, req->node_id)) {
			snprintf(addr, addrlen, "%s", t->e[i].addr);
			return 0;
		}
	snprintf(msg, msglen, "node %s is not in the table %s", req->node_id, t->path);
	return -ENOSPC;
}

static int release(void *state, const char *node_id, const char *address, char *msg, size_t msglen)
{
	/* Static: the address stays reserved for the node. */
	(void)state, (void)node_id, (void)address, (void)msg, (void)msglen;
	return 0;
}

static const struct webmesh_ipam_ops ipam_ops = {
	.size = sizeof(struct webmesh_ipam_ops),
	.allocate = allocate,
	.release = release,
};

__attribute__((visibility("default"))) const struct webmesh_plugin webmesh_plugin = {
	.abi = WEBMESH_PLUGIN_ABI,
	.size = sizeof(struct webmesh_plugin),
	.name = "ipam-static",
	.version = "1.0",
	.capabilities = WEBMESH_PLUGIN_CAP_IPAM,
	.init = init,
	.fini = fini,
	.ipam = &ipam_ops,
};
