/* libFuzzer harness: arbitrary bytes as a DNS query to MeshDNS, over UDP and
 * over TCP, against a zone with every kind of record.
 *
 * Built by `make fuzz` (tests/fuzz/CMakeLists.txt), seeded from
 * tests/fuzz/corpus/fuzz_dns/. By hand, from the root:
 *   clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *     tests/fuzz/fuzz_dns.c src/dns/dnsmsg.c src/dns/zone.c src/dns/meshzone.c \
 *     src/core/dnsname.c src/core/net.c src/core/key.c src/core/base64.c \
 *     src/core/ipam.c -o fuzz_dns
 *   ./fuzz_dns -max_len=4096 -max_total_time=60 tests/fuzz/corpus/fuzz_dns
 *
 * Checks beyond "no crash": whatever arrives, an answer (when one is sent)
 * is a well-formed message (wm_dns_msg_parse) with the query's ID, QR set,
 * within the size its transport allows (512 without EDNS0 over UDP), and
 * the whole input, parsed as a message, never reads out of bounds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dnsmsg.h"
#include "dns/zone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct wm_dns_zone *zone;

static void node(struct wm_mesh_node *n, const char *id, const char *v4, const char *v6, int role)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->id, sizeof(n->id), "%s", id);
	wm_prefix_parse(v4, &n->ipv4);
	wm_prefix_parse(v6, &n->ipv6);
	n->raft_role = role;
	wm_endpoint_parse("192.0.2.1:51820", &n->endpoints[0]);
	n->n_endpoints = 1;
}

static void rec(struct wm_dns_record *r, const char *name, const char *type, const char *value)
{
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->type, sizeof(r->type), "%s", type);
	snprintf(r->value, sizeof(r->value), "%s", value);
}

static void setup(void)
{
	static struct wm_mesh_node nodes[40];
	static struct wm_dns_record recs[6];
	struct wm_prefix nets[2];
	char id[16], v4[32], v6[48];

	node(&nodes[0], "n1", "172.16.0.1/32", "fd00:1:2:1::/112", 1);
	node(&nodes[1], "n2", "172.16.0.2/32", "fd00:1:2:2::/112", 2);
	for (int i = 2; i < 40; i++) { /* enough voters to overflow 512 bytes */
		snprintf(id, sizeof(id), "v%d", i);
		snprintf(v4, sizeof(v4), "172.16.1.%d/32", i);
		snprintf(v6, sizeof(v6), "fd00:1:2:%x::/112", i + 16);
		node(&nodes[i], id, v4, v6, 1);
	}
	wm_prefix_parse("172.16.0.0/12", &nets[0]);
	wm_prefix_parse("fd00:1:2::/48", &nets[1]);
	rec(&recs[0], "*.svc.webmesh.internal", "A", "10.9.9.9");
	rec(&recs[1], "_http._tcp.webmesh.internal", "SRV", "10 5 8080 n1.webmesh.internal");
	rec(&recs[2], "alias.webmesh.internal", "CNAME", "n2.webmesh.internal");
	rec(&recs[3], "loop.webmesh.internal", "CNAME", "loop.webmesh.internal");
	rec(&recs[4], "note.webmesh.internal", "TXT", "hello");
	rec(&recs[5], "www.webmesh.internal", "AAAA", "fd00::7");
	struct wm_dns_mesh m = {.domain = "webmesh.internal",
				.self_id = "n1",
				.leader_id = "n2",
				.networks = nets,
				.n_networks = 2,
				.nodes = nodes,
				.n_nodes = 40,
				.records = recs,
				.n_records = 6,
				.serial = 7,
				.ttl = 1};
	if (wm_dns_zone_from_mesh(&m, &zone) != 0)
		abort();
}

static void check(const uint8_t *q, size_t qlen, bool tcp)
{
	static uint8_t out[WM_DNS_TCP_MAX];
	static struct wm_dns_parsed p;
	struct wm_dns_query parsed;
	size_t len = 0;
	enum wm_dns_outcome how = wm_dns_answer(zone, q, qlen, tcp, false, out, sizeof(out), &len);

	if (how == WM_DNS_DROP)
		return;
	if (len < WM_DNS_HEADER || wm_dns_msg_parse(out, len, &p) != 0)
		abort();
	if (p.id != (uint16_t)(q[0] << 8 | q[1]) || !(p.flags & WM_DNS_FLAG_QR))
		abort();
	int perr = wm_dns_query_parse(q, qlen, &parsed);
	size_t limit = tcp ? WM_DNS_TCP_MAX : perr == 0 && parsed.edns ? WM_DNS_UDP_MAX : 512;
	if (len > limit)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wm_dns_parsed p;

	if (!zone)
		setup();
	if (size > 65535)
		return 0;
	(void)wm_dns_msg_parse(data, size, &p);
	check(data, size, false);
	check(data, size, true);
	return 0;
}
