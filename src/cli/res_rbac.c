/* wmctl get/put/delete roles, rolebindings, groups, networkacls. */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webmesh/v1/admin.pb-c.h"
#include "webmesh/v1/rbac.pb-c.h"
#include "services/paths.h"

#define MAX_ITEMS 64

enum kind { K_ROLE, K_BINDING, K_GROUP, K_ACL, K_NONE };

static enum kind kind_of(const char *w)
{
	static const char *const names[][2] = {{"role", "roles"},
					       {"rolebinding", "rolebindings"},
					       {"group", "groups"},
					       {"networkacl", "networkacls"}};
	for (int k = 0; k < 4; k++)
		if (w && (strcmp(w, names[k][0]) == 0 || strcmp(w, names[k][1]) == 0))
			return (enum kind)k;
	return K_NONE;
}

bool wm_cli_rbac_owns(const char *resource)
{
	return kind_of(resource) != K_NONE;
}

static char *joined(char **v, size_t n, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "", v[i]);
	return buf;
}

static char *subjects(Webmesh__V1__Subject **s, size_t n, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++)
		o += (size_t)(strcmp(s[i]->type, "all") == 0
				      ? snprintf(buf + o, len - o, "%sall", i ? "," : "")
				      : snprintf(buf + o, len - o, "%s%s:%s", i ? "," : "",
						 s[i]->type, s[i]->name));
	return buf;
}

static int get(const struct wm_cli *c, enum kind k, const char *name)
{
	static const char *const methods[] = {
		WM_METHOD_ADMIN_LIST_ROLES, WM_METHOD_ADMIN_LIST_ROLE_BINDINGS,
		WM_METHOD_ADMIN_LIST_GROUPS, WM_METHOD_ADMIN_LIST_NETWORK_ACLS};
	static const ProtobufCMessageDescriptor *const descs[] = {
		&webmesh__v1__roles__descriptor, &webmesh__v1__role_bindings__descriptor,
		&webmesh__v1__groups__descriptor, &webmesh__v1__network_acls__descriptor};
	Webmesh__V1__ListAuthzRequest req = WEBMESH__V1__LIST_AUTHZ_REQUEST__INIT;
	req.name = (char *)(name ? name : "");
	ProtobufCMessage *m = wm_cli_call(c, methods[k], &req.base, descs[k]);
	char a[2048], b[2048], d[2048];
	if (!m)
		return 1;
	if (c->output == WM_OUT_JSON) {
		wm_cli_print_json(m);
		protobuf_c_message_free_unpacked(m, NULL);
		return 0;
	}
	struct wm_table *t = NULL;
	if (k == K_ROLE) {
		const char *h[] = {"NAME", "BUILTIN", "RULES (VERBS:RESOURCES:NAMES)"};
		t = wm_table_new(3, h);
		Webmesh__V1__Roles *r = (Webmesh__V1__Roles *)m;
		for (size_t i = 0; i < r->n_items; i++) {
			size_t o = 0;
			d[0] = '\0';
			for (size_t j = 0; j < r->items[i]->n_rules && o < sizeof(d); j++) {
				Webmesh__V1__Rule *ru = r->items[i]->rules[j];
				o += (size_t)snprintf(
					d + o, sizeof(d) - o, "%s%s:%s:%s", j ? " " : "",
					joined(ru->verbs, ru->n_verbs, a, sizeof(a)),
					joined(ru->resources, ru->n_resources, b, 1024),
					joined(ru->resource_names, ru->n_resource_names, b + 1024,
					       1024));
			}
			const char *row[] = {r->items[i]->name, r->items[i]->builtin ? "yes" : "no",
					     d};
			wm_table_add(t, row);
		}
	} else if (k == K_BINDING) {
		const char *h[] = {"NAME", "ROLE", "SUBJECTS"};
		t = wm_table_new(3, h);
		Webmesh__V1__RoleBindings *r = (Webmesh__V1__RoleBindings *)m;
		for (size_t i = 0; i < r->n_items; i++) {
			const char *row[] = {r->items[i]->name, r->items[i]->role,
					     subjects(r->items[i]->subjects,
						      r->items[i]->n_subjects, a, sizeof(a))};
			wm_table_add(t, row);
		}
	} else if (k == K_GROUP) {
		const char *h[] = {"NAME", "SUBJECTS"};
		t = wm_table_new(2, h);
		Webmesh__V1__Groups *r = (Webmesh__V1__Groups *)m;
		for (size_t i = 0; i < r->n_items; i++) {
			const char *row[] = {r->items[i]->name,
					     subjects(r->items[i]->subjects,
						      r->items[i]->n_subjects, a, sizeof(a))};
			wm_table_add(t, row);
		}
	} else {
		const char *h[] = {"NAME",	  "PRIORITY",  "ACTION", "SOURCE",
				   "DESTINATION", "PROTOCOLS", "PORTS"};
		t = wm_table_new(7, h);
		Webmesh__V1__NetworkACLs *r = (Webmesh__V1__NetworkACLs *)m;
		for (size_t i = 0; i < r->n_items; i++) {
			Webmesh__V1__NetworkACL *x = r->items[i];
			char prio[16], src[1024], dst[1024], pr[64], po[512];
			snprintf(prio, sizeof(prio), "%d", x->priority);
			joined(x->source_nodes, x->n_source_nodes, a, 512);
			joined(x->source_cidrs, x->n_source_cidrs, b, 512);
			snprintf(src, sizeof(src), "%.500s%s%.500s", a, *a && *b ? "," : "",
				 *a || *b ? b : "*");
			joined(x->destination_nodes, x->n_destination_nodes, a, 512);
			joined(x->destination_cidrs, x->n_destination_cidrs, b, 512);
			snprintf(dst, sizeof(dst), "%.500s%s%.500s", a, *a && *b ? "," : "",
				 *a || *b ? b : "*");
			joined(x->protocols, x->n_protocols, pr, sizeof(pr));
			joined(x->ports, x->n_ports, po, sizeof(po));
			const char *row[] = {x->name, prio,	      x->action,     src,
					     dst,     *pr ? pr : "*", *po ? po : "*"};
			wm_table_add(t, row);
		}
		printf("default policy: %s\n", r->default_policy);
	}
	wm_table_print(t);
	wm_table_free(t);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

/* Splits comma lists of the words into items (pointing into the words). */
static int add_items(char *s, char **v, size_t *n)
{
	char *save = NULL;
	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n >= MAX_ITEMS) {
			fprintf(stderr, "wmctl: at most %d items per list\n", MAX_ITEMS);
			return -1;
		}
		v[(*n)++] = tok;
	}
	return 0;
}

/* "node:ID", "user:ID", "group:NAME", "all" into subjects. */
static int add_subject(char *s, Webmesh__V1__Subject *store, Webmesh__V1__Subject **v, size_t *n)
{
	if (*n >= MAX_ITEMS)
		return -1;
	Webmesh__V1__Subject *sj = &store[*n];
	webmesh__v1__subject__init(sj);
	char *colon = strchr(s, ':');
	if (strcmp(s, "all") == 0) {
		sj->type = "all";
		sj->name = "*";
	} else if (colon) {
		*colon = '\0';
		sj->type = s;
		sj->name = colon + 1;
	} else {
		fprintf(stderr,
			"wmctl: subject \"%s\" is not node:ID, user:ID, group:NAME or all\n", s);
		return -1;
	}
	v[(*n)++] = sj;
	return 0;
}

static int put(const struct wm_cli *c, enum kind k)
{
	char *name = c->n_args > 1 ? c->args[1] : NULL;
	Webmesh__V1__Rule rules[MAX_ITEMS], *rulep[MAX_ITEMS];
	char *verbs[MAX_ITEMS][16], *res[MAX_ITEMS][16], *names[MAX_ITEMS][MAX_ITEMS];
	Webmesh__V1__Subject subj[MAX_ITEMS], *subjp[MAX_ITEMS];
	char *lists[6][MAX_ITEMS];
	size_t nl[6] = {0}, nr = 0, ns = 0;
	const char *role = NULL, *action = NULL;
	long prio = 0;
	static const char *const acl_flags[] = {"--src",      "--dst",	 "--src-cidr",
						"--dst-cidr", "--proto", "--port"};

	if (!name || name[0] == '-') {
		fprintf(stderr, "wmctl: put %s needs a NAME\n", c->args[0]);
		return 2;
	}
	for (int i = 2; i < c->n_args; i++) {
		const char *f = c->args[i];
		char *v = i + 1 < c->n_args ? c->args[i + 1] : NULL;
		int a;
		if (!v) {
			fprintf(stderr, "wmctl: %s needs a value\n", f);
			return 2;
		}
		i++;
		if (k == K_ROLE && strcmp(f, "--rule") == 0) {
			if (nr >= MAX_ITEMS)
				return 2;
			Webmesh__V1__Rule *ru = &rules[nr];
			webmesh__v1__rule__init(ru);
			char *c1 = strchr(v, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
			if (!c1) {
				fprintf(stderr, "wmctl: --rule takes VERBS:RESOURCES[:NAMES]\n");
				return 2;
			}
			*c1 = '\0';
			if (c2)
				*c2 = '\0';
			size_t a1 = 0, a2 = 0, a3 = 0;
			if (add_items(v, verbs[nr], &a1) || a1 > 16 ||
			    add_items(c1 + 1, res[nr], &a2) || a2 > 16 ||
			    (c2 && add_items(c2 + 1, names[nr], &a3)))
				return 2;
			ru->verbs = verbs[nr];
			ru->n_verbs = a1;
			ru->resources = res[nr];
			ru->n_resources = a2;
			ru->resource_names = names[nr];
			ru->n_resource_names = a3;
			rulep[nr] = ru;
			nr++;
		} else if ((k == K_BINDING || k == K_GROUP) && strcmp(f, "--subject") == 0) {
			char *save = NULL;
			for (char *tok = strtok_r(v, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save))
				if (add_subject(tok, subj, subjp, &ns) < 0)
					return 2;
		} else if (k == K_BINDING && strcmp(f, "--role") == 0) {
			role = v;
		} else if (k == K_ACL && strcmp(f, "--action") == 0) {
			action = v;
		} else if (k == K_ACL && strcmp(f, "--priority") == 0) {
			char *end;
			prio = strtol(v, &end, 10);
			if (!*v || *end || prio < -1000000 || prio > 1000000) {
				fprintf(stderr, "wmctl: --priority takes a number\n");
				return 2;
			}
		} else {
			for (a = 0; k == K_ACL && a < 6; a++)
				if (strcmp(f, acl_flags[a]) == 0)
					break;
			if (k != K_ACL || a == 6) {
				fprintf(stderr, "wmctl: put %s: unknown option %s\n", c->args[0],
					f);
				return 2;
			}
			if (add_items(v, lists[a], &nl[a]))
				return 2;
		}
	}
	if (k == K_ROLE) {
		Webmesh__V1__Role m = WEBMESH__V1__ROLE__INIT;
		m.name = name;
		m.rules = rulep;
		m.n_rules = nr;
		return wm_cli_write(c, WM_METHOD_ADMIN_PUT_ROLE, &m.base, "role saved");
	}
	if (k == K_BINDING) {
		Webmesh__V1__RoleBinding m = WEBMESH__V1__ROLE_BINDING__INIT;
		m.name = name;
		m.role = (char *)(role ? role : "");
		m.subjects = subjp;
		m.n_subjects = ns;
		return wm_cli_write(c, WM_METHOD_ADMIN_PUT_ROLE_BINDING, &m.base,
				    "role binding saved");
	}
	if (k == K_GROUP) {
		Webmesh__V1__Group m = WEBMESH__V1__GROUP__INIT;
		m.name = name;
		m.subjects = subjp;
		m.n_subjects = ns;
		return wm_cli_write(c, WM_METHOD_ADMIN_PUT_GROUP, &m.base, "group saved");
	}
	Webmesh__V1__NetworkACL m = WEBMESH__V1__NETWORK_ACL__INIT;
	m.name = name;
	m.priority = (int32_t)prio;
	m.action = (char *)(action ? action : "accept");
	m.source_nodes = lists[0];
	m.n_source_nodes = nl[0];
	m.destination_nodes = lists[1];
	m.n_destination_nodes = nl[1];
	m.source_cidrs = lists[2];
	m.n_source_cidrs = nl[2];
	m.destination_cidrs = lists[3];
	m.n_destination_cidrs = nl[3];
	m.protocols = lists[4];
	m.n_protocols = nl[4];
	m.ports = lists[5];
	m.n_ports = nl[5];
	return wm_cli_write(c, WM_METHOD_ADMIN_PUT_NETWORK_ACL, &m.base, "network ACL saved");
}

static int del(const struct wm_cli *c, enum kind k)
{
	static const char *const methods[] = {
		WM_METHOD_ADMIN_DELETE_ROLE, WM_METHOD_ADMIN_DELETE_ROLE_BINDING,
		WM_METHOD_ADMIN_DELETE_GROUP, WM_METHOD_ADMIN_DELETE_NETWORK_ACL};
	Webmesh__V1__DeleteAuthzRequest req = WEBMESH__V1__DELETE_AUTHZ_REQUEST__INIT;
	if (c->n_args != 2) {
		fprintf(stderr, "usage: wmctl delete %s NAME\n", c->args[0]);
		return 2;
	}
	req.name = c->args[1];
	return wm_cli_write(c, methods[k], &req.base, "deleted");
}

int wm_cli_rbac(const struct wm_cli *c, const char *verb)
{
	enum kind k = kind_of(c->n_args ? c->args[0] : NULL);
	if (k == K_NONE)
		return 2;
	if (strcmp(verb, "get") == 0) {
		if (c->n_args > 2) {
			fprintf(stderr, "usage: wmctl get %s [NAME]\n", c->args[0]);
			return 2;
		}
		return get(c, k, c->n_args > 1 ? c->args[1] : NULL);
	}
	if (strcmp(verb, "put") == 0)
		return put(c, k);
	return del(c, k);
}
