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
#include "services/paths.h"

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

/* What the stream brought: printed as it comes (table) or merged into one
 * PingResponse at the end (json). */
struct ping_out {
	bool json;
	Webmesh__V1__PingResponse last; /* the totals and names of the last message */
	char *node_id, *address;
	Webmesh__V1__PingReply **replies; /* json: copies */
	size_t n_replies;
};

static void print_reply(const Webmesh__V1__PingResponse *r, const Webmesh__V1__PingReply *p)
{
	const char *path = wm_peer_path_name((enum wm_peer_path)p->path);

	if (!p->received) {
		printf("seq=%u timeout (path %s)\n", p->seq, path);
		return;
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

static char *dup(const char *s)
{
	return strdup(s ? s : "");
}

static int on_message(void *data, const ProtobufCMessage *m)
{
	struct ping_out *o = data;
	const Webmesh__V1__PingResponse *r = (const Webmesh__V1__PingResponse *)m;

	if (!o->node_id) {
		o->node_id = dup(r->node_id);
		o->address = dup(r->address);
		if (!o->json)
			printf("PING %s (%s)\n", r->node_id, r->address);
	}
	o->last.sent = r->sent;
	o->last.received = r->received;
	for (size_t i = 0; i < r->n_replies; i++) {
		const Webmesh__V1__PingReply *p = r->replies[i];

		if (!o->json) {
			print_reply(r, p);
			fflush(stdout);
			continue;
		}
		Webmesh__V1__PingReply **grown =
			realloc(o->replies, (o->n_replies + 1) * sizeof(*grown));
		Webmesh__V1__PingReply *q = malloc(sizeof(*q));
		if (grown)
			o->replies = grown;
		if (!grown || !q) {
			free(q);
			return 1;
		}
		*q = *p;
		q->via = dup(p->via);
		q->endpoint = dup(p->endpoint);
		q->local_candidate = dup(p->local_candidate);
		q->remote_candidate = dup(p->remote_candidate);
		o->replies[o->n_replies++] = q;
	}
	return 0;
}

static void out_free(struct ping_out *o)
{
	for (size_t i = 0; i < o->n_replies; i++) {
		free(o->replies[i]->via);
		free(o->replies[i]->endpoint);
		free(o->replies[i]->local_candidate);
		free(o->replies[i]->remote_candidate);
		free(o->replies[i]);
	}
	free(o->replies);
	free(o->node_id);
	free(o->address);
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
	/* The stream ends when the last ping is answered or timed out. */
	uint64_t need = (uint64_t)count * interval + wait + 5000;
	if (cc.timeout_ms < need)
		cc.timeout_ms = need;
	struct ping_out o = {.json = c->output == WM_OUT_JSON,
			     .last = WEBMESH__V1__PING_RESPONSE__INIT};
	if (wm_cli_stream(&cc, WM_METHOD_NODE_PING, &req.base,
			  &webmesh__v1__ping_response__descriptor, on_message, &o) < 0) {
		out_free(&o);
		return 1;
	}
	if (o.json) {
		o.last.node_id = o.node_id ? o.node_id : "";
		o.last.address = o.address ? o.address : "";
		o.last.replies = o.replies;
		o.last.n_replies = o.n_replies;
		wm_cli_print_json(&o.last.base);
	} else {
		printf("--- %u sent, %u received, %u%% loss\n", o.last.sent, o.last.received,
		       o.last.sent ? (o.last.sent - o.last.received) * 100 / o.last.sent : 0);
	}
	int code = o.last.received ? 0 : 1;
	out_free(&o);
	return code;
}
