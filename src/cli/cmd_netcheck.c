/* wmctl netcheck: what the local node sees of the network (its addresses, its
 * STUN-mapped address and NAT mapping kind, which STUN, TURN and webmesh
 * servers answer and how fast) and which paths that allows. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/netcheck.h"
#include "webmesh/v1/node.pb-c.h"
#include "services/paths.h"

static void print_list(const char *label, char **items, size_t n)
{
	printf("%-11s", label);
	for (size_t i = 0; i < n; i++)
		printf(" %s", items[i]);
	printf("%s\n", n ? "" : " none");
}

static void print_table(const Webmesh__V1__NetCheckResponse *r)
{
	print_list("addresses:", r->addresses, r->n_addresses);
	print_list("endpoints:", r->endpoints, r->n_endpoints);
	if (r->mapped[0])
		printf("mapped:     %s (NAT mapping %s, source port %s)\n", r->mapped,
		       r->nat_mapping, r->port_preserved ? "kept" : "changed");
	else
		printf("mapped:     unknown (no STUN answer)\n");
	if (r->n_checks) {
		static const char *const headers[] = {"  KIND", "ADDRESS", "REACHABLE", "RTT",
						      "MAPPED / ERROR"};
		struct wm_table *t = wm_table_new(5, headers);

		printf("servers:\n");
		for (size_t i = 0; i < r->n_checks; i++) {
			const Webmesh__V1__ServerCheck *c = r->checks[i];
			char kind[16], rtt[16];

			snprintf(kind, sizeof(kind), "  %s", c->kind);
			snprintf(rtt, sizeof(rtt), "%u ms", c->rtt_ms);
			const char *row[] = {kind, c->address, c->reachable ? "yes" : "no",
					     c->reachable ? rtt : "-",
					     c->reachable ? c->mapped : c->error};
			wm_table_add(t, row);
		}
		wm_table_print(t);
		wm_table_free(t);
	}
	static const char *const path_headers[] = {"  PATH", "POSSIBLE", "WHY"};
	struct wm_table *t = wm_table_new(3, path_headers);

	printf("paths:\n");
	for (size_t i = 0; i < r->n_paths; i++) {
		const Webmesh__V1__PathCheck *p = r->paths[i];
		char name[32];

		snprintf(name, sizeof(name), "  %s", wm_peer_path_name((enum wm_peer_path)p->path));
		const char *row[] = {name, p->possible ? "yes" : "no", p->why};
		wm_table_add(t, row);
	}
	wm_table_print(t);
	wm_table_free(t);
}

int wm_cmd_netcheck(const struct wm_cli *c)
{
	Webmesh__V1__NetCheckRequest req = WEBMESH__V1__NET_CHECK_REQUEST__INIT;
	struct wm_cli cc = *c;

	for (int i = 0; i < c->n_args; i++) {
		char *end;
		unsigned long ms;

		if (strcmp(c->args[i], "--wait-ms") != 0 || i + 1 >= c->n_args) {
			fprintf(stderr, "usage: wmctl netcheck [--wait-ms MS]\n");
			return 2;
		}
		ms = strtoul(c->args[++i], &end, 10);
		if (!c->args[i][0] || *end || ms < 200 || ms > 10000) {
			fprintf(stderr, "wmctl: netcheck --wait-ms takes 200..10000, not \"%s\"\n",
				c->args[i]);
			return 2;
		}
		req.timeout_ms = (uint32_t)ms;
	}
	uint64_t need = (req.timeout_ms ? req.timeout_ms : 2000) + 5000;
	if (cc.timeout_ms < need)
		cc.timeout_ms = need;
	ProtobufCMessage *m = wm_cli_call(&cc, WM_METHOD_NODE_NET_CHECK, &req.base,
					  &webmesh__v1__net_check_response__descriptor);
	if (!m)
		return 1;
	if (c->output == WM_OUT_JSON)
		wm_cli_print_json(m);
	else
		print_table((const Webmesh__V1__NetCheckResponse *)m);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}
