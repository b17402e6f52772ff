/* MeshDNS without I/O: name syntax, record values, the codec and every kind
 * of answer (records, NODATA, NXDOMAIN, wildcards, CNAME chains, PTR,
 * EDNS0, truncation, compression, malformed queries). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/dnsname.h"
#include "core/key.h"
#include "dns/dnsmsg.h"
#include "dns/resolver.h"
#include "dns/zone.h"

#define D "webmesh.internal"

static void test_name_check(void **state)
{
	const char *why = NULL;
	(void)state;
	assert_int_equal(wm_dns_name_check("webmesh.internal", 0, &why), 0);
	assert_int_equal(wm_dns_name_check("a-b.c0", 0, NULL), 0);
	assert_int_equal(wm_dns_name_check("", 0, &why), -EINVAL);
	assert_string_equal(why, "is empty");
	assert_int_equal(wm_dns_name_check("a..b", 0, &why), -EINVAL);
	assert_string_equal(why, "has an empty label");
	assert_int_equal(wm_dns_name_check("a-.b", 0, &why), -EINVAL);
	assert_string_equal(why, "has a label ending in '-'");
	assert_int_equal(wm_dns_name_check("-a.b", 0, &why), -EINVAL);
	assert_string_equal(why, "has a label starting with '-'");
	assert_int_equal(wm_dns_name_check("A.b", 0, &why), -EINVAL);
	assert_string_equal(why, "may only contain a-z, 0-9, '-' and '.'");
	assert_int_equal(wm_dns_name_check("A.b", WM_DNS_NAME_UPPER, NULL), 0);
	assert_int_equal(wm_dns_name_check("*.svc.x", 0, NULL), -EINVAL);
	assert_int_equal(wm_dns_name_check("*.svc.x", WM_DNS_NAME_WILDCARD, NULL), 0);
	assert_int_equal(wm_dns_name_check("a.*.x", WM_DNS_NAME_WILDCARD, &why), -EINVAL);
	assert_int_equal(wm_dns_name_check("*x.y", WM_DNS_NAME_WILDCARD, &why), -EINVAL);
	assert_string_equal(why, "may have '*' only as a whole first label (*.example)");
	assert_int_equal(wm_dns_name_check("_http._tcp.x", WM_DNS_NAME_UNDERSCORE, NULL), 0);
	assert_int_equal(wm_dns_name_check("_http._tcp.x", 0, NULL), -EINVAL);
	char big[300];
	memset(big, 'a', sizeof(big));
	big[64] = '\0';
	assert_int_equal(wm_dns_name_check(big, 0, &why), -EINVAL);
	assert_string_equal(why, "has a label longer than 63 characters");
	for (int i = 0; i < 299; i++)
		big[i] = i % 2 ? '.' : 'a';
	big[299] = '\0';
	assert_int_equal(wm_dns_name_check(big, 0, &why), -EINVAL);
	assert_string_equal(why, "is longer than 253 characters");
	assert_true(wm_dns_name_in("n1.webmesh.internal", D));
	assert_true(wm_dns_name_in("webmesh.internal", D));
	assert_false(wm_dns_name_in("xwebmesh.internal", D));
}

static void test_reverse(void **state)
{
	struct wm_prefix p, q;
	char out[128];
	(void)state;
	assert_int_equal(wm_prefix_parse("172.16.0.5", &p), 0);
	assert_int_equal(wm_dns_reverse_name(&p, out, sizeof(out)), 0);
	assert_string_equal(out, "5.0.16.172.in-addr.arpa");
	assert_int_equal(wm_dns_reverse_parse(out, &q), 0);
	assert_true(wm_prefix_equal(&p, &q));
	assert_int_equal(wm_prefix_parse("fd00:1:2::ab", &p), 0);
	assert_int_equal(wm_dns_reverse_name(&p, out, sizeof(out)), 0);
	assert_string_equal(
		out, "b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa");
	assert_int_equal(wm_dns_reverse_parse(out, &q), 0);
	assert_true(wm_prefix_equal(&p, &q));
	assert_int_equal(wm_prefix_parse("172.16.0.0/12", &p), 0);
	assert_int_equal(wm_dns_reverse_zone(&p, out, sizeof(out)), 0);
	assert_string_equal(out, "172.in-addr.arpa");
	assert_int_equal(wm_prefix_parse("fd12:3456:789a::/48", &p), 0);
	assert_int_equal(wm_dns_reverse_zone(&p, out, sizeof(out)), 0);
	assert_string_equal(out, "a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa");
	assert_int_equal(wm_dns_reverse_parse("256.0.16.172.in-addr.arpa", &q), -EINVAL);
	assert_int_equal(wm_dns_reverse_parse("01.0.16.172.in-addr.arpa", &q), -EINVAL);
	assert_int_equal(wm_dns_reverse_parse("0.16.172.in-addr.arpa", &q), -EINVAL);
	assert_int_equal(wm_dns_reverse_parse("g.0.ip6.arpa", &q), -EINVAL);
	assert_int_equal(wm_dns_reverse_prefix("16.172.in-addr.arpa", &q), 0);
	assert_int_equal(q.len, 16);
	assert_int_equal(q.addr[0], 172);
	assert_int_equal(q.addr[1], 16);
	assert_int_equal(wm_dns_reverse_prefix("d.f.ip6.arpa", &q), 0);
	assert_int_equal(q.len, 8);
	assert_int_equal(q.addr[0], 0xfd);
	assert_int_equal(wm_dns_reverse_prefix("ip6.arpa", &q), 0);
	assert_int_equal(q.len, 0);
	assert_int_equal(wm_dns_reverse_prefix("x.ip6.arpa", &q), -EINVAL);
	assert_int_equal(wm_dns_reverse_prefix("1.2.3.4.5.in-addr.arpa", &q), -EINVAL);
}

static void test_record_values(void **state)
{
	char out[600];
	const char *why = NULL;
	(void)state;
	assert_int_equal(wm_dns_record_type("aaaa"), 28);
	assert_int_equal(wm_dns_record_type("MX"), -EINVAL);
	assert_int_equal(wm_dns_record_name("WWW", D, out, sizeof(out), &why), 0);
	assert_string_equal(out, "www." D);
	assert_int_equal(wm_dns_record_name("api.svc." D ".", D, out, sizeof(out), &why), 0);
	assert_string_equal(out, "api.svc." D);
	assert_int_equal(wm_dns_record_name("*.svc", D, out, sizeof(out), &why), 0);
	assert_string_equal(out, "*.svc." D);
	assert_int_equal(wm_dns_record_name("leader", D, out, sizeof(out), &why), -EINVAL);
	assert_string_equal(why, "is a name MeshDNS answers itself (leader, voters, observers)");
	assert_int_equal(wm_dns_record_name("a b", D, out, sizeof(out), &why), -EINVAL);
	assert_string_equal(why, "may only contain a-z, 0-9, '-' and '.'");
	assert_int_equal(wm_dns_record_value(1, "10.0.0.1", out, sizeof(out), &why), 0);
	assert_string_equal(out, "10.0.0.1");
	assert_int_equal(wm_dns_record_value(1, "fd00::1", out, sizeof(out), &why), -EINVAL);
	assert_string_equal(why, "is not an IPv4 address");
	assert_int_equal(wm_dns_record_value(1, "10.0.0.0/8", out, sizeof(out), &why), -EINVAL);
	assert_int_equal(wm_dns_record_value(28, "FD00::0:1", out, sizeof(out), &why), 0);
	assert_string_equal(out, "fd00::1");
	assert_int_equal(wm_dns_record_value(5, "N1.Example.", out, sizeof(out), &why), 0);
	assert_string_equal(out, "n1.example");
	assert_int_equal(wm_dns_record_value(16, "hello world", out, sizeof(out), &why), 0);
	assert_int_equal(wm_dns_record_value(16, "tab\there", out, sizeof(out), &why), -EINVAL);
	assert_string_equal(why, "may only contain printable ASCII");
	assert_int_equal(wm_dns_record_value(33, "10 5 8080 n1." D, out, sizeof(out), &why), 0);
	assert_string_equal(out, "10 5 8080 n1." D);
	assert_int_equal(wm_dns_record_value(33, "10 5 65536 n1", out, sizeof(out), &why), -EINVAL);
	assert_string_equal(why,
			    "is not PRIORITY WEIGHT PORT TARGET (numbers 0..65535 and a DNS name)");
	assert_int_equal(wm_dns_record_value(33, "1 2 3 ", out, sizeof(out), &why), -EINVAL);
	assert_string_equal(why, "has no target name");
	assert_int_equal(wm_dns_record_value(16, "", out, sizeof(out), &why), -EINVAL);
	assert_string_equal(why, "is empty");
}

/* --- a mesh of three nodes and some user records --- */

static struct wm_mesh_node nodes[3];
static struct wm_dns_record recs[8];
static struct wm_prefix nets[2];

static void node_set(struct wm_mesh_node *n, const char *id, const char *v4, const char *v6,
		     int role, const char *ep)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->id, sizeof(n->id), "%s", id);
	assert_int_equal(wm_prefix_parse(v4, &n->ipv4), 0);
	assert_int_equal(wm_prefix_parse(v6, &n->ipv6), 0);
	n->raft_role = role;
	memset(n->public_key, id[1], sizeof(n->public_key));
	if (ep) {
		assert_int_equal(wm_endpoint_parse(ep, &n->endpoints[0]), 0);
		n->n_endpoints = 1;
	}
}

static void rec(size_t i, const char *name, const char *type, const char *value)
{
	snprintf(recs[i].name, sizeof(recs[i].name), "%s", name);
	snprintf(recs[i].type, sizeof(recs[i].type), "%s", type);
	snprintf(recs[i].value, sizeof(recs[i].value), "%s", value);
}

static struct wm_dns_zone *mesh_zone(size_t n_nodes, const char *leader)
{
	struct wm_dns_zone *z = NULL;
	node_set(&nodes[0], "n1", "172.16.0.1/32", "fd00:1:2:1::/112", WM_ROLE_VOTER,
		 "192.0.2.1:51820");
	node_set(&nodes[1], "n2", "172.16.0.2/32", "fd00:1:2:2::/112", WM_ROLE_OBSERVER, NULL);
	node_set(&nodes[2], "n3", "172.16.0.3/32", "fd00:1:2:3::/112", WM_ROLE_MEMBER, NULL);
	assert_int_equal(wm_prefix_parse("172.16.0.0/12", &nets[0]), 0);
	assert_int_equal(wm_prefix_parse("fd00:1:2::/48", &nets[1]), 0);
	/* sorted by name, as the store lists them */
	rec(0, "*.svc." D, "A", "10.9.9.9");
	rec(1, "_http._tcp." D, "SRV", "10 5 8080 n1." D);
	rec(2, "alias." D, "CNAME", "n2." D);
	rec(3, "api.svc." D, "A", "10.0.0.7");
	rec(4, "api.svc." D, "AAAA", "fd00::7");
	rec(5, "ext." D, "CNAME", "example.org");
	rec(6, "n1." D, "A", "10.6.6.6"); /* the node's name wins */
	rec(7, "note." D, "TXT", "hello world");
	struct wm_dns_mesh m = {.domain = D,
				.self_id = "n1",
				.leader_id = leader,
				.networks = nets,
				.n_networks = 2,
				.nodes = nodes,
				.n_nodes = n_nodes,
				.records = recs,
				.n_records = 8,
				.serial = 42,
				.ttl = 1};
	assert_int_equal(wm_dns_zone_from_mesh(&m, &z), 0);
	return z;
}

static size_t query(uint8_t *buf, const char *name, uint16_t type, int edns_size)
{
	struct wm_dns_builder b;
	wm_dns_builder_init(&b, buf, 512, 512);
	wm_dns_put_header(&b, 0x1234, WM_DNS_FLAG_RD, 0);
	wm_dns_put_name(&b, name, false);
	wm_dns_put_u16(&b, type);
	wm_dns_put_u16(&b, WM_DNS_CLASS_IN);
	buf[5] = 1;
	if (edns_size >= 0)
		wm_dns_put_opt(&b, (uint16_t)edns_size, 0); /* bumps ARCOUNT */
	assert_false(b.overflow);
	return b.len;
}

/* Asks z, parses the answer strictly into p. */
static enum wm_dns_outcome ask(const struct wm_dns_zone *z, const char *name, uint16_t type,
			       int edns, bool tcp, struct wm_dns_parsed *p, size_t *len)
{
	uint8_t q[512];
	static uint8_t out[WM_DNS_TCP_MAX];
	size_t ql = query(q, name, type, edns), ol = 0;
	enum wm_dns_outcome how = wm_dns_answer(z, q, ql, tcp, false, out, sizeof(out), &ol);
	if (how != WM_DNS_DROP) {
		assert_int_equal(wm_dns_msg_parse(out, ol, p), 0);
		assert_int_equal(p->id, 0x1234);
		assert_true(p->flags & WM_DNS_FLAG_QR);
	}
	if (len)
		*len = ol;
	return how;
}

/* The data of the answer records of that type, joined by '|'. */
static const char *answers(const struct wm_dns_parsed *p, uint16_t type)
{
	static char s[4096];
	s[0] = '\0';
	for (size_t i = 0; i < p->n_rr; i++)
		if (p->rr[i].section == 0 && p->rr[i].type == type) {
			if (s[0])
				strcat(s, "|");
			strcat(s, p->rr[i].data);
		}
	return s;
}

static void test_node_records(void **state)
{
	struct wm_dns_parsed p;
	struct wm_dns_zone *z = mesh_zone(3, "n2");
	char key[WM_KEY_B64_LEN + 1], want[256];
	(void)state;

	assert_int_equal(ask(z, "n1." D, WM_DNS_A, -1, false, &p, NULL), WM_DNS_ANSWERED);
	assert_int_equal(p.rcode, WM_DNS_NOERROR);
	assert_true(p.flags & WM_DNS_FLAG_AA);
	assert_string_equal(answers(&p, WM_DNS_A), "172.16.0.1"); /* not the user's 10.6.6.6 */
	assert_int_equal(p.rr[0].ttl, 1);
	ask(z, "N2." D, WM_DNS_AAAA, -1, false, &p, NULL); /* case-insensitive */
	assert_string_equal(answers(&p, WM_DNS_AAAA), "fd00:1:2:2::1");
	assert_string_equal(p.rr[0].name, "n2." D);
	ask(z, "n1." D, WM_DNS_TXT, -1, false, &p, NULL);
	wm_key_to_base64(nodes[0].public_key, key);
	snprintf(want, sizeof(want), "\"key=%s\" \"role=voter\" \"endpoint=192.0.2.1:51820\"", key);
	assert_string_equal(answers(&p, WM_DNS_TXT), want);
	ask(z, "leader." D, WM_DNS_A, -1, false, &p, NULL);
	assert_string_equal(answers(&p, WM_DNS_CNAME), "n2." D ".");
	assert_string_equal(answers(&p, WM_DNS_A), "172.16.0.2");
	ask(z, "voters." D, WM_DNS_A, -1, false, &p, NULL);
	assert_string_equal(answers(&p, WM_DNS_A), "172.16.0.1");
	ask(z, "observers." D, WM_DNS_AAAA, -1, false, &p, NULL);
	assert_string_equal(answers(&p, WM_DNS_AAAA), "fd00:1:2:2::1");
	ask(z, "2.0.16.172.in-addr.arpa", WM_DNS_PTR, -1, false, &p, NULL);
	assert_int_equal(p.rcode, WM_DNS_NOERROR);
	assert_string_equal(answers(&p, WM_DNS_PTR), "n2." D ".");
	ask(z, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa",
	    WM_DNS_PTR, -1, false, &p, NULL);
	assert_string_equal(answers(&p, WM_DNS_PTR), "n3." D ".");
	ask(z, D, WM_DNS_SOA, -1, false, &p, NULL);
	assert_string_equal(answers(&p, WM_DNS_SOA), "n1." D ". hostmaster." D ". 42 60 10 600 1");
	ask(z, D, WM_DNS_NS, -1, false, &p, NULL);
	assert_string_equal(answers(&p, WM_DNS_NS), "n1." D ".");
	wm_dns_zone_free(z);
}

static void test_user_records(void **state)
{
	struct wm_dns_parsed p;
	struct wm_dns_zone *z = mesh_zone(3, NULL);
	(void)state;

	ask(z, "api.svc." D, WM_DNS_A, -1, false, &p, NULL);
	assert_string_equal(answers(&p, WM_DNS_A), "10.0.0.7");
	ask(z, "api.svc." D, WM_DNS_AAAA, -1, false, &p, NULL);
	assert_string_equal(answers(&p, WM_DNS_AAAA), "fd00::7");
	ask(z, "other.svc." D, WM_DNS_A, -1, false, &p, NULL); /* wildcard */
	assert_int_equal(p.rcode, WM_DNS_NOERROR);
	assert_string_equal(answers(&p, WM_DNS_A), "10.9.9.9");
	assert_string_equal(p.rr[0].name, "other.svc." D);
	ask(z, "a.b.svc." D, WM_DNS_A, -1, false, &p, NULL); /* deeper: still the wildcard */
	assert_string_equal(answers(&p, WM_DNS_A), "10.9.9.9");
	ask(z, "other.svc." D, WM_DNS_AAAA, -1, false, &p, NULL); /* wildcard, other type */
	assert_int_equal(p.rcode, WM_DNS_NOERROR);
	assert_int_equal(p.ancount, 0);
	assert_int_equal(p.nscount, 1);
	ask(z, "_http._tcp." D, WM_DNS_SRV, -1, false, &p, NULL);
	assert_string_equal(answers(&p, WM_DNS_SRV), "10 5 8080 n1." D ".");
	ask(z, "note." D, WM_DNS_TXT, -1, false, &p, NULL);
	assert_string_equal(answers(&p, WM_DNS_TXT), "\"hello world\"");
	ask(z, "alias." D, WM_DNS_AAAA, -1, false, &p, NULL); /* CNAME chased in the zone */
	assert_string_equal(answers(&p, WM_DNS_CNAME), "n2." D ".");
	assert_string_equal(answers(&p, WM_DNS_AAAA), "fd00:1:2:2::1");
	ask(z, "ext." D, WM_DNS_A, -1, false, &p, NULL); /* CNAME out of the zone: stop */
	assert_int_equal(p.rcode, WM_DNS_NOERROR);
	assert_string_equal(answers(&p, WM_DNS_CNAME), "example.org.");
	assert_string_equal(answers(&p, WM_DNS_A), "");
	ask(z, "alias." D, WM_DNS_CNAME, -1, false, &p, NULL);
	assert_string_equal(answers(&p, WM_DNS_CNAME), "n2." D ".");
	assert_int_equal(p.ancount, 1);
	wm_dns_zone_free(z);
}

static void test_negative(void **state)
{
	struct wm_dns_parsed p;
	struct wm_dns_zone *z = mesh_zone(3, "n1");
	(void)state;

	/* NODATA: the name exists with other types */
	ask(z, "n3." D, WM_DNS_SRV, -1, false, &p, NULL);
	assert_int_equal(p.rcode, WM_DNS_NOERROR);
	assert_int_equal(p.ancount, 0);
	assert_int_equal(p.nscount, 1);
	assert_int_equal(p.rr[0].type, WM_DNS_SOA);
	assert_string_equal(p.rr[0].name, D);
	/* an empty non-terminal exists: NODATA too (RFC 8020) */
	ask(z, "svc." D, WM_DNS_A, -1, false, &p, NULL);
	assert_int_equal(p.rcode, WM_DNS_NOERROR);
	assert_int_equal(p.ancount, 0);
	ask(z, "_tcp." D, WM_DNS_A, -1, false, &p, NULL);
	assert_int_equal(p.rcode, WM_DNS_NOERROR);
	/* empty non-terminals of the reverse trees (resolvers that minimise
	 * their questions walk them label by label) */
	ask(z, "16.172.in-addr.arpa", WM_DNS_PTR, -1, false, &p, NULL);
	assert_int_equal(p.rcode, WM_DNS_NOERROR);
	assert_int_equal(p.ancount, 0);
	ask(z, "2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa", WM_DNS_PTR, -1, false, &p, NULL);
	assert_int_equal(p.rcode, WM_DNS_NOERROR);
	ask(z, "9.2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa", WM_DNS_PTR, -1, false, &p, NULL);
	assert_int_equal(p.rcode, WM_DNS_NXDOMAIN); /* in the /48, nothing there */
	ask(z, "17.172.in-addr.arpa", WM_DNS_PTR, -1, false, &p, NULL);
	assert_int_equal(p.rcode, WM_DNS_NXDOMAIN); /* in the /12 */
	assert_int_equal(
		ask(z, "7.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa", WM_DNS_PTR, -1, false, &p, NULL),
		WM_DNS_OUTSIDE); /* another /48 */
	/* NXDOMAIN, with the SOA */
	ask(z, "n9." D, WM_DNS_A, -1, false, &p, NULL);
	assert_int_equal(p.rcode, WM_DNS_NXDOMAIN);
	assert_int_equal(p.nscount, 1);
	assert_true(p.flags & WM_DNS_FLAG_AA);
	ask(z, "9.0.16.172.in-addr.arpa", WM_DNS_PTR, -1, false, &p, NULL);
	assert_int_equal(p.rcode, WM_DNS_NXDOMAIN);
	assert_string_equal(p.rr[0].name, "172.in-addr.arpa");
	/* outside: REFUSED, the caller may forward */
	assert_int_equal(ask(z, "example.org", WM_DNS_A, -1, false, &p, NULL), WM_DNS_OUTSIDE);
	assert_int_equal(p.rcode, WM_DNS_REFUSED);
	assert_int_equal(p.ancount, 0);
	/* a reverse name in 172/8 but outside 172.16/12 is not ours */
	assert_int_equal(ask(z, "1.0.0.172.in-addr.arpa", WM_DNS_PTR, -1, false, &p, NULL),
			 WM_DNS_OUTSIDE);
	/* the zone must not answer for a name that only ends like it */
	assert_int_equal(ask(z, "xwebmesh.internal", WM_DNS_A, -1, false, &p, NULL),
			 WM_DNS_OUTSIDE);
	/* no state yet: SERVFAIL */
	ask(NULL, "n1." D, WM_DNS_A, -1, false, &p, NULL);
	assert_int_equal(p.rcode, WM_DNS_SERVFAIL);
	wm_dns_zone_free(z);
}

static void test_edns_truncation_tcp(void **state)
{
	struct wm_dns_parsed p;
	struct wm_mesh_node *many = calloc(200, sizeof(*many));
	struct wm_dns_zone *z = NULL;
	size_t len;
	(void)state;

	assert_non_null(many);
	for (int i = 0; i < 200; i++) {
		char id[16], v4[32], v6[48];
		snprintf(id, sizeof(id), "v%d", i);
		snprintf(v4, sizeof(v4), "172.16.1.%d/32", i);
		snprintf(v6, sizeof(v6), "fd00:1:2:%x::/112", i + 16);
		node_set(&many[i], id, v4, v6, WM_ROLE_VOTER, NULL);
	}
	assert_int_equal(wm_prefix_parse("172.16.0.0/12", &nets[0]), 0);
	struct wm_dns_mesh m = {.domain = D,
				.self_id = "v0",
				.networks = nets,
				.n_networks = 1,
				.nodes = many,
				.n_nodes = 200,
				.serial = 1,
				.ttl = 1};
	assert_int_equal(wm_dns_zone_from_mesh(&m, &z), 0);
	/* 200 A records: 512 bytes without EDNS0 -> TC, no records */
	ask(z, "voters." D, WM_DNS_A, -1, false, &p, &len);
	assert_true(p.flags & WM_DNS_FLAG_TC);
	assert_int_equal(p.ancount, 0);
	assert_true(len <= 512);
	/* EDNS0 4096: capped at 1232, still too big: TC with an OPT */
	ask(z, "voters." D, WM_DNS_A, 4096, false, &p, &len);
	assert_true(p.flags & WM_DNS_FLAG_TC);
	assert_int_equal(p.arcount, 1);
	assert_int_equal(p.rr[0].type, WM_DNS_OPT);
	assert_string_equal(p.rr[0].data, "udp=1232 version=0");
	/* TCP: everything, compressed (each owner a 2-byte pointer) */
	ask(z, "voters." D, WM_DNS_A, -1, true, &p, &len);
	assert_false(p.flags & WM_DNS_FLAG_TC);
	assert_int_equal(p.ancount, 200);
	assert_int_equal(len, 12 + 29 + 200 * 16);
	/* a small answer fits in UDP with EDNS0, with the OPT back */
	ask(z, "v7." D, WM_DNS_A, 1232, false, &p, &len);
	assert_false(p.flags & WM_DNS_FLAG_TC);
	assert_string_equal(answers(&p, WM_DNS_A), "172.16.1.7");
	assert_int_equal(p.arcount, 1);
	/* compression: the answer's owner points at the question */
	assert_true(len < 12 + 2 * (4 + 18) + 16 + 11);
	wm_dns_zone_free(z);
	free(many);
}

static void test_malformed(void **state)
{
	struct wm_dns_zone *z = mesh_zone(3, NULL);
	uint8_t q[512], out[WM_DNS_TCP_MAX];
	struct wm_dns_parsed p;
	size_t ql, ol = 0;
	(void)state;

	/* shorter than a header: dropped */
	assert_int_equal(wm_dns_answer(z, q, 5, false, false, out, sizeof(out), &ol), WM_DNS_DROP);
	/* a response: dropped (no reflection loops) */
	ql = query(q, "n1." D, WM_DNS_A, -1);
	q[2] |= 0x80;
	assert_int_equal(wm_dns_answer(z, q, ql, false, false, out, sizeof(out), &ol), WM_DNS_DROP);
	/* two questions: FORMERR */
	ql = query(q, "n1." D, WM_DNS_A, -1);
	q[5] = 2;
	assert_int_equal(wm_dns_answer(z, q, ql, false, false, out, sizeof(out), &ol),
			 WM_DNS_ANSWERED);
	assert_int_equal(wm_dns_msg_parse(out, ol, &p), 0);
	assert_int_equal(p.rcode, WM_DNS_FORMERR);
	assert_int_equal(p.id, 0x1234);
	/* a pointer loop in the question: FORMERR */
	memcpy(q + 12,
	       "\x01"
	       "a\xc0\x0c\x00\x01\x00\x01",
	       9);
	q[5] = 1;
	wm_dns_answer(z, q, 21, false, false, out, sizeof(out), &ol);
	assert_int_equal(wm_dns_msg_parse(out, ol, &p), 0);
	assert_int_equal(p.rcode, WM_DNS_FORMERR);
	/* a pointer to itself */
	memcpy(q + 12, "\xc0\x0c\x00\x01\x00\x01", 6);
	wm_dns_answer(z, q, 18, false, false, out, sizeof(out), &ol);
	assert_int_equal(wm_dns_msg_parse(out, ol, &p), 0);
	assert_int_equal(p.rcode, WM_DNS_FORMERR);
	/* a pointer in the question (into the header): FORMERR, never copied */
	memcpy(q + 12, "\xc0\x00\x00\xc0\x20\x00", 6);
	q[0] = 1;
	q[1] = 0;
	q[2] = q[3] = 0;
	wm_dns_answer(z, q, 18, false, false, out, sizeof(out), &ol);
	assert_int_equal(wm_dns_msg_parse(out, ol, &p), 0);
	assert_int_equal(p.rcode, WM_DNS_FORMERR);
	/* a wildcard answers a name with any bytes in its labels: the owner
	 * goes back as the question's own bytes (a pointer), not as text */
	ql = 12;
	memcpy(q, "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
	memcpy(q + ql, "\x03\x07.\xff", 4);
	ql += 4;
	memcpy(q + ql, "\x03svc\x07webmesh\x08internal\x00\x00\x01\x00\x01", 26);
	ql += 26;
	assert_int_equal(wm_dns_answer(z, q, ql, false, false, out, sizeof(out), &ol),
			 WM_DNS_ANSWERED);
	assert_int_equal(wm_dns_msg_parse(out, ol, &p), 0);
	assert_int_equal(p.rcode, WM_DNS_NOERROR);
	assert_int_equal(p.ancount, 1);
	assert_memory_equal(out + ql + 2 + 10, "\x0a\x09\x09\x09", 4);
	assert_memory_equal(out + ql, "\xc0\x0c", 2);
	/* truncated question */
	ql = query(q, "n1." D, WM_DNS_A, -1);
	wm_dns_answer(z, q, ql - 3, false, false, out, sizeof(out), &ol);
	assert_int_equal(wm_dns_msg_parse(out, ol, &p), 0);
	assert_int_equal(p.rcode, WM_DNS_FORMERR);
	/* an opcode other than QUERY: NOTIMP */
	ql = query(q, "n1." D, WM_DNS_A, -1);
	q[2] |= 5 << 3;
	wm_dns_answer(z, q, ql, false, false, out, sizeof(out), &ol);
	assert_int_equal(wm_dns_msg_parse(out, ol, &p), 0);
	assert_int_equal(p.rcode, WM_DNS_NOTIMP);
	/* EDNS version 1: BADVERS (16 = 1 in the OPT's extended rcode) */
	ql = query(q, "n1." D, WM_DNS_A, 1232);
	q[ql - 5] = 1; /* version byte of the OPT TTL */
	wm_dns_answer(z, q, ql, false, false, out, sizeof(out), &ol);
	assert_int_equal(wm_dns_msg_parse(out, ol, &p), 0);
	assert_int_equal(p.rcode, 0);
	assert_int_equal(p.rr[0].type, WM_DNS_OPT);
	assert_int_equal(p.rr[0].ttl >> 24, 1);
	/* a label with a dot in it never matches "n1.webmesh..." */
	memcpy(q + 12, "\x13n1.webmesh.internal\x00\x00\x01\x00\x01", 25);
	q[2] = 1;  /* RD, opcode 0 */
	q[11] = 0; /* no OPT */
	wm_dns_answer(z, q, 37, false, false, out, sizeof(out), &ol);
	assert_int_equal(wm_dns_msg_parse(out, ol, &p), 0);
	assert_int_equal(p.rcode, WM_DNS_REFUSED);
	wm_dns_zone_free(z);
}

static void test_resolvconf_block(void **state)
{
	const char *host = "# mine\nnameserver 192.0.2.53\noptions edns0\n";
	char *with = NULL, *again = NULL, *without = NULL;
	(void)state;

	assert_int_equal(wm_resolvconf_with_block(host, "172.16.0.1", &with), 0);
	assert_string_equal(with,
			    WM_RESOLVCONF_BEGIN "\nnameserver 172.16.0.1\n" WM_RESOLVCONF_END
						"\n# mine\nnameserver 192.0.2.53\noptions edns0\n");
	/* a new server replaces the block, never adds a second */
	assert_int_equal(wm_resolvconf_with_block(with, "172.16.0.2", &again), 0);
	assert_non_null(strstr(again, "nameserver 172.16.0.2\n"));
	assert_null(strstr(again, "172.16.0.1"));
	/* out again: the host's bytes exactly, even without a final newline */
	assert_int_equal(wm_resolvconf_without_block(again, &without), 0);
	assert_string_equal(without, host);
	free(with);
	free(again);
	free(without);
	assert_int_equal(wm_resolvconf_with_block("nameserver 9.9.9.9", "fd00::1", &with), 0);
	assert_int_equal(wm_resolvconf_without_block(with, &without), 0);
	assert_string_equal(without, "nameserver 9.9.9.9");
	free(with);
	free(without);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_check),	    cmocka_unit_test(test_reverse),
		cmocka_unit_test(test_record_values),	    cmocka_unit_test(test_node_records),
		cmocka_unit_test(test_user_records),	    cmocka_unit_test(test_negative),
		cmocka_unit_test(test_edns_truncation_tcp), cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_resolvconf_block),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
