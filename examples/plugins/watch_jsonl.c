/* An example watch plugin: appends every event as one JSON line to the file
 * given as the config key "file" (created 0600). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "webmesh/plugin.h"

struct out {
	FILE *f;
};

static const char *kind_name(uint32_t k)
{
	switch (k) {
	case WEBMESH_WATCH_NODE_JOINED:
		return "node_joined";
	case WEBMESH_WATCH_NODE_CHANGED:
		return "node_changed";
	case WEBMESH_WATCH_NODE_LEFT:
		return "node_left";
	case WEBMESH_WATCH_LEADER_CHANGED:
		return "leader_changed";
	case WEBMESH_WATCH_EDGE_PUT:
		return "edge_put";
	case WEBMESH_WATCH_EDGE_DELETED:
		return "edge_deleted";
	case WEBMESH_WATCH_ROUTES_PUT:
		return "routes_put";
	case WEBMESH_WATCH_ROUTES_DELETED:
		return "routes_deleted";
	default:
		return "unknown";
	}
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void put_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void event(void *state, const struct webmesh_watch_event *ev)
{
	struct out *o = state;
	fprintf(o->f,
		"{\"seq\":%" PRIu64 ",\"kind\":\"%s\",\"index\":%" PRIu64 ",\"time_ms\":%" PRId64
		",\"node\":",
		ev->seq, kind_name(ev->kind), ev->index, ev->time_ms);
	put_str(o->f, ev->node_id);
	fputs(",\"peer\":", o->f);
	put_str(o->f, ev->peer_id);
	fputs(",\"address\":", o->f);
	put_str(o->f, ev->address);
	fputs(",\"detail\":", o->f);
	put_str(o->f, ev->detail);
	fputs("}\n", o->f);
	fflush(o->f);
}

static void dropped(void *state, uint64_t n)
{
	struct out *o = state;
	fprintf(o->f, "{\"kind\":\"dropped\",\"count\":%" PRIu64 "}\n", n);
	fflush(o->f);
}

static int init(const struct webmesh_plugin_init_args *args, void **state, char *msg, size_t msglen)
{
	const char *path = NULL;
	for (size_t i = 0; i < args->n_config; i++) {
		if (!strcmp(args->config[i].key, "file")) {
			path = args->config[i].value;
		} else {
			snprintf(msg, msglen, "unknown config key \"%s\" (known: file)",
				 args->config[i].key);
			return -EINVAL;
		}
	}
	if (!path || !*path) {
		snprintf(msg, msglen, "config key \"file\" is missing");
		return -EINVAL;
	}
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	struct out *o = calloc(1, sizeof(*o));
	if (!o || !(o->f = fdopen(fd, "a"))) {
		free(o);
		close(fd);
		return -ENOMEM;
	}
	*state = o;
	return 0;
}

static void fini(void *state)
{
	struct out *o = state;
	fclose(o->f);
	free(o);
}

static const struct webmesh_watch_ops watch_ops = {
	.size = sizeof(struct webmesh_watch_ops),
	.event = event,
	.dropped = dropped,
};

__attribute__((visibility("default"))) const struct webmesh_plugin webmesh_plugin = {
	.abi = WEBMESH_PLUGIN_ABI,
	.size = sizeof(struct webmesh_plugin),
	.name = "watch-jsonl",
	.version = "1.0",
	.capabilities = WEBMESH_PLUGIN_CAP_WATCH,
	.init = init,
	.fini = fini,
	.watch = &watch_ops,
};
