/* wmctl ping NODE: echo requests over the mesh, sent by the local daemon, and
 * per answer the path it took (direct, or ICE over host, reflexive or relayed
 * candidates) and its round trip. */
#include "cli/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/netcheck.h"
#include "webmesh/v1/node.pb-c.h"

static int parse_uint(const char *flag, const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long n;

	if (!v) {
		fprintf(stderr, "wmctl: ping %s needs a value\n", flag);
		return -1;
	}
	n = strtoul(v, &end, 10);
	if (!*v || *end || n < min || n > max) {
		fprintf(stderr, "wmctl: ping %s takes %u..%u, not \"%s\"\n", flag, min, max, v);
		return -1;
	}
	*out = (uint32_t)n;
	return 0;
}

static void print_table(const Webmesh__V1__PingResponse *r)
{
	printf("PING %s (%s)\n", r->node_id, r->address);
	for (size_t i = 0; i < r->n_replies; i++) {
		const Webmesh__V1__PingReply *p = r->replies[i];
		const char *path = wm_peer_path_name((enum wm_peer_path)p->path);

		if (!p->received) {
			printf("seq=%u timeout (path %s)\n", p->seq, path);
			continue;
		}
		printf("seq=%u %s %" PRIu64 ".%03" PRIu64 " ms", p->seq, path, p->rtt_us / 1000,
		       p->rtt_us % 1000);
		if (p->local_candidate[0])
			printf(" pair %s <-> %s", p->local_candidate, p->remote_candidate);
		else if (p->endpoint[0])
			printf(" endpoint %s", p->endpoint);
		if (strcmp(p->via, r->node_id) != 0)
			printf(" via %s", p->via);
		printf("\n");
	}
	printf("--- %u sent, %u received, %u%% loss\n", r->sent, r->received,
	       r->sent ? (r->sent - r->received) * 100 / r->sent : 0);
}

int wm_cmd_ping(const struct wm_cli *c)
{
	Webmesh__V1__PingRequest req = WEBMESH__V1__PING_REQUEST__INIT;
	struct wm_cli cc = *c;
	uint32_t count = 4, interval = 1000, wait = 2000;

	for (int i = 0; i < c->n_args; i++) {
		const char *a = c->args[i];
		const char *v = i + 1 < c->n_args ? c->args[i + 1] : NULL;

		if (strcmp(a, "-c") == 0 || strcmp(a, "--count") == 0) {
			if (parse_uint(a, v, 1, 100, &count) < 0)
				return 2;
			i++;
		} else if (strcmp(a, "--interval-ms") == 0) {
			if (parse_uint(a, v, 100, 10000, &interval) < 0)
				return 2;
			i++;
		} else if (strcmp(a, "--wait-ms") == 0) {
			if (parse_uint(a, v, 100, 10000, &wait) < 0)
				return 2;
			i++;
		} else if (a[0] == '-') {
			fprintf(stderr, "wmctl: ping: unknown option %s\n", a);
			return 2;
		} else if (req.node_id[0]) {
			fprintf(stderr, "wmctl: ping takes one node, not \"%s\" too\n", a);
			return 2;
		} else {
			req.node_id = (char *)a;
		}
	}
	if (!req.node_id[0]) {
		fprintf(stderr, "usage: wmctl ping NODE [-c COUNT] [--interval-ms MS] "
				"[--wait-ms MS]\n");
		return 2;
	}
	if (wm_cli_check_node_id("node", req.node_id) < 0)
		return 2;
	req.count = count;
	req.interval_ms = interval;
	req.timeout_ms = wait;
	/* The answer comes when the last ping is answered or timed out. */
	uint64_t need = (uint64_t)count * interval + wait + 5000;
	if (cc.timeout_ms < need)
		cc.timeout_ms = need;
	ProtobufCMessage *m = wm_cli_call(&cc, "/webmesh.v1.Node/Ping", &req.base,
					  &webmesh__v1__ping_response__descriptor);
	if (!m)
		return 1;
	const Webmesh__V1__PingResponse *r = (const Webmesh__V1__PingResponse *)m;
	int code = r->received ? 0 : 1;
	if (c->output == WM_OUT_JSON)
		wm_cli_print_json(m);
	else
		print_table(r);
	protobuf_c_message_free_unpacked(m, NULL);
	return code;
}
