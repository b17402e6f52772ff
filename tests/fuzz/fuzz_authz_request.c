/* libFuzzer harness for every request decoder the authorization code adds:
 * the gate's wire scanner (it reads every API request before any handler),
 * and the Admin RBAC/ACL request messages with the checks their handlers run
 * (rules, subjects, ACL fields and the nft rules rendered from them).
 * The first byte picks the message type.
 *
 * Not part of the default build: `make fuzz` builds and runs it (it links the
 * project's libraries); by hand, configure a build with
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DWM_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_authz_request
 *   build-fuzz/tests/fuzz/fuzz_authz_request -max_len=65536 -max_total_time=60
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acl.h"
#include "core/rbac.h"
#include "core/routeclaim.h"
#include "services/gate.h"
#include "webmesh/v1/admin.pb-c.h"
#include "webmesh/v1/mesh.pb-c.h"
#include "webmesh/v1/rbac.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void join(char **v, size_t n, char *out, size_t len)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && o + 1 < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? "," : "", v[i]);
}

static void subjects(Webmesh__V1__Subject **s, size_t n)
{
	char text[4096], err[256];
	size_t o = 0;
	text[0] = '\0';
	for (size_t i = 0; i < n && o + 1 < sizeof(text); i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%s%s:%s", i ? "," : "",
				      s[i]->type, s[i]->name);
	if (wm_rbac_subjects_check(text, err, sizeof(err)) == 0) {
		struct wm_rbac_group g = {"g", text};
		struct wm_rbac_policy p = {NULL, 0, NULL, 0, &g, 1};
		struct wm_rbac_who who = {.id = "x", .kind = WM_ID_ANY};
		(void)wm_rbac_in_group(&p, &who, "g");
	}
}

static bool never(void *ctx, const char *owner)
{
	(void)ctx;
	(void)owner;
	return false;
}

static void claims_verify(const char *self, const struct wm_prefix *routes, size_t n)
{
	struct wm_route_claim claims[3];
	size_t ri = 0, ci = 0;

	wm_prefix_parse("10.1.0.0/16", &claims[0].prefix);
	wm_prefix_parse("0.0.0.0/0", &claims[1].prefix);
	wm_prefix_parse("10.1.0.0/16", &claims[2].prefix);
	claims[0].owner = "site-a";
	claims[1].owner = "exit";
	claims[2].owner = "self";
	int r = wm_route_claims_check(self, routes, n, claims, 3, never, NULL, &ri, &ci);
	if (r == -EACCES) {
		if (ri >= n || ci >= 3 || strcmp(claims[ci].owner, self) == 0 ||
		    !wm_prefix_overlaps(&routes[ri], &claims[ci].prefix))
			abort();
		return;
	}
	if (r != 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct wm_prefix a = wm_prefix_network(&routes[i]);
		bool held = false, other = false;
		for (size_t k = 0; k < 3; k++) {
			struct wm_prefix b = wm_prefix_network(&claims[k].prefix);
			if (strcmp(claims[k].owner, self) == 0)
				held = held || wm_prefix_equal(&a, &b);
			else
				other = other || wm_prefix_overlaps(&a, &b);
		}
		if (other && !held)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wm_gate_fields f;
	char a[2048], b[2048], c[2048], err[256];

	if (size < 1)
		return 0;
	uint8_t kind = data[0] % 6;
	data++;
	size--;
	(void)wm_gate_scan(data, size, &f);
	if (kind == 0) {
		Webmesh__V1__Role *m = webmesh__v1__role__unpack(NULL, size, data);
		if (!m)
			return 0;
		for (size_t i = 0; i < m->n_rules; i++) {
			char rule[6200];
			join(m->rules[i]->verbs, m->rules[i]->n_verbs, a, sizeof(a));
			join(m->rules[i]->resources, m->rules[i]->n_resources, b, sizeof(b));
			join(m->rules[i]->resource_names, m->rules[i]->n_resource_names, c,
			     sizeof(c));
			snprintf(rule, sizeof(rule), "%s:%s:%s", a, b, c);
			if (wm_rbac_rules_check(rule, err, sizeof(err)) == 0) {
				struct wm_rbac_role r = {"r", rule};
				struct wm_rbac_binding bd = {"b", "r", "all"};
				struct wm_rbac_policy p = {&r, 1, &bd, 1, NULL, 0};
				struct wm_rbac_who who = {.id = "x", .kind = WM_ID_ANY};
				(void)wm_rbac_allowed(&p, &who, "get", "nodes", m->name);
				/* No self-elevation: whoever holds exactly these
				 * rules may grant them, and explaining never fails. */
				char lack[800], why[1024];
				if (!wm_rbac_covers(&p, &who, rule, lack, sizeof(lack)))
					abort();
				wm_rbac_explain(&p, &who, "put", "roles", m->name, why,
						sizeof(why));
				struct wm_rbac_who other = {.id = "y", .kind = WM_ID_USER};
				struct wm_rbac_binding none = {"b", "r", "user:x"};
				struct wm_rbac_policy q = {&r, 1, &none, 1, NULL, 0};
				if (wm_rbac_covers(&q, &other, rule, lack, sizeof(lack)))
					abort(); /* y holds nothing */
			}
		}
		webmesh__v1__role__free_unpacked(m, NULL);
	} else if (kind == 1) {
		Webmesh__V1__RoleBinding *m = webmesh__v1__role_binding__unpack(NULL, size, data);
		if (!m)
			return 0;
		(void)wm_rbac_name_check(m->name, NULL);
		subjects(m->subjects, m->n_subjects);
		webmesh__v1__role_binding__free_unpacked(m, NULL);
	} else if (kind == 2) {
		Webmesh__V1__Group *m = webmesh__v1__group__unpack(NULL, size, data);
		if (!m)
			return 0;
		subjects(m->subjects, m->n_subjects);
		webmesh__v1__group__free_unpacked(m, NULL);
	} else if (kind == 3) {
		Webmesh__V1__NetworkACL *m = webmesh__v1__network_acl__unpack(NULL, size, data);
		if (!m)
			return 0;
		char l[6][1024];
		join(m->source_nodes, m->n_source_nodes, l[0], sizeof(l[0]));
		join(m->destination_nodes, m->n_destination_nodes, l[1], sizeof(l[1]));
		join(m->source_cidrs, m->n_source_cidrs, l[2], sizeof(l[2]));
		join(m->destination_cidrs, m->n_destination_cidrs, l[3], sizeof(l[3]));
		join(m->protocols, m->n_protocols, l[4], sizeof(l[4]));
		join(m->ports, m->n_ports, l[5], sizeof(l[5]));
		struct wm_acl acl = {m->name, m->priority, true, l[0], l[1],
				     l[2],    l[3],	   l[4], l[5]};
		if (wm_acl_validate(&acl, err, sizeof(err)) == 0) {
			struct wm_acl_set s = {&acl, 1, false, NULL, NULL};
			char *out = NULL;
			(void)wm_acl_allows_peering(&s, "a", "b");
			if (wm_acl_nft_render(&s, NULL, 0, "webmesh0", &out) == 0)
				free(out);
		}
		webmesh__v1__network_acl__free_unpacked(m, NULL);
	} else if (kind == 4) {
		Webmesh__V1__CanIRequest *m = webmesh__v1__can_irequest__unpack(NULL, size, data);
		if (m)
			webmesh__v1__can_irequest__free_unpacked(m, NULL);
		Webmesh__V1__DeleteAuthzRequest *d =
			webmesh__v1__delete_authz_request__unpack(NULL, size, data);
		if (d) {
			(void)wm_rbac_name_check(d->name, NULL);
			webmesh__v1__delete_authz_request__free_unpacked(d, NULL);
		}
	} else {
		Webmesh__V1__JoinRequest *j = webmesh__v1__join_request__unpack(NULL, size, data);
		/* The gate's scan must agree with the real decoder on the name
		 * (its bools are re-read with the decoder: see gate.h). */
		if (j && wm_gate_scan(data, size, &f) == 0) {
			if (f.has_name && strcmp(f.name, j->id) != 0)
				abort();
		}
		/* Routes over other nodes': a refusal names a route that
		 * overlaps another node's claim, an acceptance has none but
		 * for routes the node holds already. */
		struct wm_prefix routes[16];
		size_t n = 0;
		for (size_t i = 0; j && i < j->n_routes && n < 16; i++)
			if (wm_prefix_parse(j->routes[i], &routes[n]) == 0)
				n++;
		claims_verify(j && j->id[0] ? j->id : "self", routes, n);
		if (j)
			webmesh__v1__join_request__free_unpacked(j, NULL);
	}
	return 0;
}
