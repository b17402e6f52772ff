/* The Admin service's RBAC objects and network ACLs: validated here with the
 * same core checks the FSM applies, written through Raft (forwarded to the
 * leader anywhere else), read from the local replica. */
#include "services/admin_rbac.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "services/admin.h"
#include "services/gate.h"
#include "store/authz.h"
#include "util/log.h"
#include "webmesh/v1/admin.pb-c.h"
#include "webmesh/v1/rbac.pb-c.h"

#define TEXT_MAX (WM_RBAC_TEXT_MAX + 1)

enum grant { GRANT_ROLE, GRANT_BINDING, GRANT_GROUP };

/* No self-elevation: a write of a role (its rules, to everyone bound to it),
 * a binding (its role's rules, to its subjects) or a group (the rules of the
 * roles bound to it, to its members) needs the writer to hold every right it
 * grants. Judged on the leader, against the state the command will be applied
 * to next, with the caller the gate resolved (a call a follower forwards
 * arrives with its original caller). A follower does not judge: its replica
 * may lag, and wm_admin_apply() forwards the call. The FSM does not judge again: the
 * only way to widen what a write grants between this check and its entry is
 * another write, which passes this same check; what can slip through is a
 * right revoked in that window, which is no more than the caller held.
 * False after finishing the call with PERMISSION_DENIED, naming the first
 * right the caller lacks. */
static bool may_grant(struct wm_services *s, struct wm_rpc_call *call, enum grant kind,
		      const char *name, const char *text)
{
	const struct wm_identity *id = wm_gate_caller(call);
	struct wm_store_status st;
	struct wm_authz_snapshot snap;
	char lack[WM_RBAC_NAME_MAX * 3 + 8], why[WM_RBAC_NAME_MAX * 3 + 400];
	const char *role = NULL;
	bool ok;

	if (!id) {
		if (wm_rpc_call_is_local(call))
			return true;
		wm_rpc_call_finish(call, WM_GRPC_PERMISSION_DENIED, "no caller identity");
		return false;
	}
	if (id->local || id->anonymous || !s->cfg.store)
		return true;
	wm_store_status(s->cfg.store, &st);
	if (!st.is_leader)
		return true;
	if (wm_store_authz_load(s->cfg.store, &snap) < 0) {
		wm_rpc_call_finish(call, WM_GRPC_INTERNAL, "cannot read the state");
		return false;
	}
	struct wm_rbac_policy p = wm_authz_policy(&snap);
	struct wm_rbac_who who = {.id = id->id, .kind = id->kind};
	const char *w = id->id[0] ? id->id : id->method;
	if (kind == GRANT_ROLE) {
		ok = wm_rbac_covers(&p, &who, text, lack, sizeof(lack));
		snprintf(why, sizeof(why),
			 "%.64s may not write role %.64s: it would grant \"%s\", which %.64s does "
			 "not hold",
			 w, name, lack, w);
	} else if (kind == GRANT_BINDING) {
		/* A binding to a role that does not exist grants nothing yet;
		 * whoever writes that role later needs its rules. */
		const char *rules = wm_rbac_role_rules(&p, text);
		ok = !rules || wm_rbac_covers(&p, &who, rules, lack, sizeof(lack));
		snprintf(why, sizeof(why),
			 "%.64s may not bind role %.64s: it would grant \"%s\", which %.64s does "
			 "not hold",
			 w, text, lack, w);
	} else {
		ok = wm_rbac_group_covers(&p, &who, name, lack, sizeof(lack), &role);
		snprintf(why, sizeof(why),
			 "%.64s may not write group %.64s: its members would get \"%s\" (role "
			 "%.64s), which %.64s does not hold",
			 w, name, lack, role ? role : "?", w);
	}
	wm_authz_snapshot_free(&snap);
	if (!ok) {
		wm_info("refused %s from %s: %s", wm_rpc_call_path(call), wm_rpc_call_peer(call),
			why);
		wm_rpc_call_finish(call, WM_GRPC_PERMISSION_DENIED, why);
	}
	return ok;
}

/* Joins items with ',' after checking each with check(); 0 or -EINVAL (why). */
static int join_list(char *const *items, size_t n, char *out, size_t outlen,
		     int (*check)(const char *s, const char **why), const char *what, char *why,
		     size_t whylen)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *reason = NULL;
		if (!items[i] || !*items[i] || strchr(items[i], ',') ||
		    (check && check(items[i], &reason) < 0)) {
			snprintf(why, whylen, "%s \"%.64s\" %s", what, items[i] ? items[i] : "",
				 reason ? reason : "is empty or contains ','");
			return -EINVAL;
		}
		int w = snprintf(out + o, outlen - o, "%s%s", i ? "," : "", items[i]);
		if (w < 0 || (size_t)w >= outlen - o) {
			snprintf(why, whylen, "too many %ss", what);
			return -EINVAL;
		}
		o += (size_t)w;
	}
	return 0;
}

static int name_or_star(const char *s, const char **why)
{
	return strcmp(s, "*") == 0 ? 0 : wm_rbac_name_check(s, why);
}

static int subjects_text(Webmesh__V1__Subject *const *subj, size_t n, char *out, size_t outlen,
			 char *why, size_t whylen)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *t = subj[i]->type ? subj[i]->type : "";
		const char *nm = subj[i]->name ? subj[i]->name : "";
		int w = strcmp(t, "all") == 0
				? snprintf(out + o, outlen - o, "%sall", i ? "," : "")
				: snprintf(out + o, outlen - o, "%s%s:%s", i ? "," : "", t, nm);
		if (w < 0 || (size_t)w >= outlen - o) {
			snprintf(why, whylen, "too many subjects");
			return -EINVAL;
		}
		o += (size_t)w;
	}
	return wm_rbac_subjects_check(out, why, whylen);
}

#define DECODE(type, fn)                                                                           \
	type *m = fn##__unpack(NULL, len, req);                                                    \
	if (!m) {                                                                                  \
		wm_rpc_call_finish(call, WM_GRPC_INVALID_ARGUMENT, "malformed request");           \
		return;                                                                            \
	}

void wm_admin_put_role(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	DECODE(Webmesh__V1__Role, webmesh__v1__role)
	char *rules = malloc(TEXT_MAX), why[256] = "";
	size_t o = 0;
	int r = rules ? 0 : -ENOMEM;
	if (rules)
		rules[0] = '\0';
	if (!r && wm_rbac_name_check(m->name, NULL) < 0) {
		snprintf(why, sizeof(why), "invalid role name \"%.64s\"", m->name);
		r = -EINVAL;
	}
	for (size_t i = 0; !r && i < m->n_rules; i++) {
		Webmesh__V1__Rule *ru = m->rules[i];
		char v[1024], res[1024], nm[4096];
		r = join_list(ru->verbs, ru->n_verbs, v, sizeof(v), wm_rbac_verb_check, "verb", why,
			      sizeof(why));
		if (!r)
			r = join_list(ru->resources, ru->n_resources, res, sizeof(res),
				      wm_rbac_resource_check, "resource", why, sizeof(why));
		if (!r)
			r = join_list(ru->resource_names, ru->n_resource_names, nm, sizeof(nm),
				      name_or_star, "resource name", why, sizeof(why));
		if (!r) {
			int w = snprintf(rules + o, TEXT_MAX - o, "%s%s:%s:%s", i ? ";" : "", v,
					 res, nm);
			if (w < 0 || (size_t)w >= TEXT_MAX - o) {
				snprintf(why, sizeof(why), "the rules are too long");
				r = -EINVAL;
			} else {
				o += (size_t)w;
			}
		}
	}
	if (!r && wm_rbac_rules_check(rules, why, sizeof(why)) < 0)
		r = -EINVAL;
	if (r) {
		wm_services_fail(call, r, why);
	} else {
		Webmesh__V1__PutRoleCommand c = WEBMESH__V1__PUT_ROLE_COMMAND__INIT;
		Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
		c.name = m->name;
		c.rules = rules;
		cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE;
		cmd.put_role = &c;
		if (may_grant(data, call, GRANT_ROLE, m->name, rules))
			wm_admin_apply(data, call, req, len, &cmd);
	}
	free(rules);
	webmesh__v1__role__free_unpacked(m, NULL);
}

/* The subjects of a binding or group as stored text (malloc'd), or NULL
 * after finishing the call: with bad_name (the request's names failed their
 * check), with the subject that is wrong, or out of memory. */
static char *checked_subjects(struct wm_rpc_call *call, const char *bad_name,
			      Webmesh__V1__Subject *const *subjects, size_t n)
{
	char why[256] = "";
	char *text = bad_name ? NULL : malloc(TEXT_MAX);
	int r = bad_name ? -EINVAL : text ? 0 : -ENOMEM;
	if (bad_name)
		snprintf(why, sizeof(why), "%s", bad_name);
	else if (!r && subjects_text(subjects, n, text, TEXT_MAX, why, sizeof(why)) < 0)
		r = -EINVAL;
	if (!r)
		return text;
	free(text);
	wm_services_fail(call, r, why);
	return NULL;
}

void wm_admin_put_role_binding(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	DECODE(Webmesh__V1__RoleBinding, webmesh__v1__role_binding)
	bool names_ok =
		wm_rbac_name_check(m->name, NULL) == 0 && wm_rbac_name_check(m->role, NULL) == 0;
	char *subj = checked_subjects(call, names_ok ? NULL : "invalid role binding or role name",
				      m->subjects, m->n_subjects);
	if (subj) {
		Webmesh__V1__PutRoleBindingCommand c = WEBMESH__V1__PUT_ROLE_BINDING_COMMAND__INIT;
		Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
		c.name = m->name;
		c.role = m->role;
		c.subjects = subj;
		cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE_BINDING;
		cmd.put_role_binding = &c;
		if (may_grant(data, call, GRANT_BINDING, m->name, m->role))
			wm_admin_apply(data, call, req, len, &cmd);
	}
	free(subj);
	webmesh__v1__role_binding__free_unpacked(m, NULL);
}

void wm_admin_put_group(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	DECODE(Webmesh__V1__Group, webmesh__v1__group)
	char bad[96];
	snprintf(bad, sizeof(bad), "invalid group name \"%.64s\"", m->name);
	char *subj = checked_subjects(call, wm_rbac_name_check(m->name, NULL) == 0 ? NULL : bad,
				      m->subjects, m->n_subjects);
	if (subj) {
		Webmesh__V1__PutGroupCommand c = WEBMESH__V1__PUT_GROUP_COMMAND__INIT;
		Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
		c.name = m->name;
		c.subjects = subj;
		cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_GROUP;
		cmd.put_group = &c;
		if (may_grant(data, call, GRANT_GROUP, m->name, NULL))
			wm_admin_apply(data, call, req, len, &cmd);
	}
	free(subj);
	webmesh__v1__group__free_unpacked(m, NULL);
}

void wm_admin_put_network_acl(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	DECODE(Webmesh__V1__NetworkACL, webmesh__v1__network_acl)
	char f[6][2048], why[256] = "";
	int r = 0;
	bool accept = m->action && strcmp(m->action, "accept") == 0;
	if (!accept && !(m->action && strcmp(m->action, "deny") == 0)) {
		snprintf(why, sizeof(why), "action must be accept or deny");
		r = -EINVAL;
	}
	char **lists[6] = {m->source_nodes,	 m->destination_nodes, m->source_cidrs,
			   m->destination_cidrs, m->protocols,	       m->ports};
	size_t ns[6] = {m->n_source_nodes,	m->n_destination_nodes, m->n_source_cidrs,
			m->n_destination_cidrs, m->n_protocols,		m->n_ports};
	for (int i = 0; !r && i < 6; i++)
		r = join_list(lists[i], ns[i], f[i], sizeof(f[i]), NULL, "item", why, sizeof(why));
	struct wm_acl a = {m->name, m->priority, accept, f[0], f[1], f[2], f[3], f[4], f[5]};
	if (!r && wm_acl_validate(&a, why, sizeof(why)) < 0)
		r = -EINVAL;
	if (r) {
		wm_services_fail(call, r, why);
	} else {
		Webmesh__V1__PutNetworkACLCommand c = WEBMESH__V1__PUT_NETWORK_ACLCOMMAND__INIT;
		Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
		c.name = m->name;
		c.priority = m->priority;
		c.accept = accept;
		c.source_nodes = f[0];
		c.destination_nodes = f[1];
		c.source_cidrs = f[2];
		c.destination_cidrs = f[3];
		c.protocols = f[4];
		c.ports = f[5];
		cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_NETWORK_ACL;
		cmd.put_network_acl = &c;
		wm_admin_apply(data, call, req, len, &cmd);
	}
	webmesh__v1__network_acl__free_unpacked(m, NULL);
}

static void delete_kind(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data,
			const char *kind)
{
	DECODE(Webmesh__V1__DeleteAuthzRequest, webmesh__v1__delete_authz_request)
	if (wm_rbac_name_check(m->name, NULL) < 0) {
		wm_rpc_call_finish(call, WM_GRPC_INVALID_ARGUMENT, "invalid name");
	} else {
		Webmesh__V1__DeleteAuthzCommand c = WEBMESH__V1__DELETE_AUTHZ_COMMAND__INIT;
		Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
		c.kind = (char *)kind;
		c.name = m->name;
		cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_AUTHZ;
		cmd.delete_authz = &c;
		wm_admin_apply(data, call, req, len, &cmd);
	}
	webmesh__v1__delete_authz_request__free_unpacked(m, NULL);
}

void wm_admin_delete_role(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	delete_kind(call, req, len, data, "roles");
}
void wm_admin_delete_role_binding(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				  void *data)
{
	delete_kind(call, req, len, data, "rolebindings");
}
void wm_admin_delete_group(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	delete_kind(call, req, len, data, "groups");
}
void wm_admin_delete_network_acl(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				 void *data)
{
	delete_kind(call, req, len, data, "networkacls");
}

/* ---- lists: the snapshot as messages ---- */

/* Splits a comma list into a malloc'd array of strings pointing into a copy. */
static char **split(const char *s, size_t *n, char **copy)
{
	size_t cap = 1;
	for (const char *p = s; *p; p++)
		cap += *p == ',';
	char **v = calloc(cap, sizeof(*v));
	*copy = strdup(s);
	*n = 0;
	if (!v || !*copy) {
		free(v);
		free(*copy);
		*copy = NULL;
		return NULL;
	}
	for (char *tok = *copy, *save = NULL; (tok = strtok_r(tok, ",", &save)); tok = NULL)
		v[(*n)++] = tok;
	return v;
}

/* Everything a list reply allocates, freed after sending. */
struct bag {
	void **p;
	size_t n, cap;
};
static void *bag(struct bag *b, void *p)
{
	if (!p)
		return NULL;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		void **q = realloc(b->p, cap * sizeof(*q));
		if (!q) {
			free(p);
			return NULL;
		}
		b->p = q;
		b->cap = cap;
	}
	b->p[b->n++] = p;
	return p;
}
static void bag_free(struct bag *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->p[i]);
	free(b->p);
}

static char **list_of(struct bag *b, const char *s, size_t *n)
{
	char *copy = NULL;
	char **v = split(s, n, &copy);
	bag(b, copy);
	return bag(b, v);
}

static Webmesh__V1__Subject **subjects_of(struct bag *b, const char *s, size_t *n)
{
	size_t k;
	char **items = list_of(b, s, &k);
	Webmesh__V1__Subject **out = bag(b, calloc(k + 1, sizeof(*out)));
	*n = 0;
	for (size_t i = 0; items && out && i < k; i++) {
		Webmesh__V1__Subject *sj = bag(b, malloc(sizeof(*sj)));
		if (!sj)
			break;
		webmesh__v1__subject__init(sj);
		char *colon = strchr(items[i], ':');
		if (colon) {
			*colon = '\0';
			sj->type = items[i];
			sj->name = colon + 1;
		} else {
			sj->type = items[i];
			sj->name = "*";
		}
		out[(*n)++] = sj;
	}
	return out;
}

static bool want(const Webmesh__V1__ListAuthzRequest *m, const char *name)
{
	return !m->name || !*m->name || strcmp(m->name, name) == 0;
}

static int load(struct wm_services *s, struct wm_rpc_call *call, const uint8_t *req, size_t len,
		struct wm_authz_snapshot *snap, Webmesh__V1__ListAuthzRequest **m)
{
	if (!s->cfg.store) {
		wm_services_proxy(s, call, req, len);
		return -1;
	}
	*m = webmesh__v1__list_authz_request__unpack(NULL, len, req);
	if (!*m) {
		wm_rpc_call_finish(call, WM_GRPC_INVALID_ARGUMENT, "malformed request");
		return -1;
	}
	int r = wm_store_authz_load(s->cfg.store, snap);
	if (r < 0) {
		webmesh__v1__list_authz_request__free_unpacked(*m, NULL);
		wm_services_fail(call, r, "cannot read the state");
		return -1;
	}
	return 0;
}

static void finish_list(struct wm_rpc_call *call, const ProtobufCMessage *msg, size_t n,
			Webmesh__V1__ListAuthzRequest *m, struct wm_authz_snapshot *snap,
			struct bag *b)
{
	if (n == 0 && m->name && *m->name)
		wm_rpc_call_finish(call, WM_GRPC_NOT_FOUND, "no such object");
	else
		wm_services_reply(call, msg);
	webmesh__v1__list_authz_request__free_unpacked(m, NULL);
	wm_authz_snapshot_free(snap);
	bag_free(b);
}

void wm_admin_list_roles(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_authz_snapshot snap;
	Webmesh__V1__ListAuthzRequest *m;
	struct bag b = {0};
	if (load(data, call, req, len, &snap, &m) < 0)
		return;
	Webmesh__V1__Roles out = WEBMESH__V1__ROLES__INIT;
	out.items = bag(&b, calloc(snap.n_roles + 1, sizeof(*out.items)));
	for (size_t i = 0; out.items && i < snap.n_roles; i++) {
		if (!want(m, snap.roles[i].name))
			continue;
		Webmesh__V1__Role *r = bag(&b, malloc(sizeof(*r)));
		if (!r)
			break;
		webmesh__v1__role__init(r);
		r->name = (char *)snap.roles[i].name;
		r->builtin = wm_rbac_is_builtin(r->name);
		size_t nr;
		/* rules are ';'-separated VERBS:RESOURCES:NAMES */
		char *copy = bag(&b, strdup(snap.roles[i].rules));
		size_t cap = 1;
		for (const char *p = snap.roles[i].rules; *p; p++)
			cap += *p == ';';
		r->rules = bag(&b, calloc(cap, sizeof(*r->rules)));
		nr = 0;
		for (char *tok = copy, *save = NULL;
		     copy && r->rules && (tok = strtok_r(tok, ";", &save)); tok = NULL) {
			Webmesh__V1__Rule *ru = bag(&b, malloc(sizeof(*ru)));
			if (!ru)
				break;
			webmesh__v1__rule__init(ru);
			char *c1 = strchr(tok, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
			if (!c2)
				continue;
			*c1 = *c2 = '\0';
			ru->verbs = list_of(&b, tok, &ru->n_verbs);
			ru->resources = list_of(&b, c1 + 1, &ru->n_resources);
			ru->resource_names = list_of(&b, c2 + 1, &ru->n_resource_names);
			r->rules[nr++] = ru;
		}
		r->n_rules = nr;
		out.items[out.n_items++] = r;
	}
	finish_list(call, &out.base, out.n_items, m, &snap, &b);
}

void wm_admin_list_role_bindings(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				 void *data)
{
	struct wm_authz_snapshot snap;
	Webmesh__V1__ListAuthzRequest *m;
	struct bag b = {0};
	if (load(data, call, req, len, &snap, &m) < 0)
		return;
	Webmesh__V1__RoleBindings out = WEBMESH__V1__ROLE_BINDINGS__INIT;
	out.items = bag(&b, calloc(snap.n_bindings + 1, sizeof(*out.items)));
	for (size_t i = 0; out.items && i < snap.n_bindings; i++) {
		if (!want(m, snap.bindings[i].name))
			continue;
		Webmesh__V1__RoleBinding *r = bag(&b, malloc(sizeof(*r)));
		if (!r)
			break;
		webmesh__v1__role_binding__init(r);
		r->name = (char *)snap.bindings[i].name;
		r->role = (char *)snap.bindings[i].role;
		r->builtin = wm_rbac_is_builtin(r->name);
		r->subjects = subjects_of(&b, snap.bindings[i].subjects, &r->n_subjects);
		out.items[out.n_items++] = r;
	}
	finish_list(call, &out.base, out.n_items, m, &snap, &b);
}

void wm_admin_list_groups(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_authz_snapshot snap;
	Webmesh__V1__ListAuthzRequest *m;
	struct bag b = {0};
	if (load(data, call, req, len, &snap, &m) < 0)
		return;
	Webmesh__V1__Groups out = WEBMESH__V1__GROUPS__INIT;
	out.items = bag(&b, calloc(snap.n_groups + 1, sizeof(*out.items)));
	for (size_t i = 0; out.items && i < snap.n_groups; i++) {
		if (!want(m, snap.groups[i].name))
			continue;
		Webmesh__V1__Group *r = bag(&b, malloc(sizeof(*r)));
		if (!r)
			break;
		webmesh__v1__group__init(r);
		r->name = (char *)snap.groups[i].name;
		r->subjects = subjects_of(&b, snap.groups[i].subjects, &r->n_subjects);
		out.items[out.n_items++] = r;
	}
	finish_list(call, &out.base, out.n_items, m, &snap, &b);
}

void wm_admin_list_network_acls(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				void *data)
{
	struct wm_authz_snapshot snap;
	Webmesh__V1__ListAuthzRequest *m;
	struct bag b = {0};
	if (load(data, call, req, len, &snap, &m) < 0)
		return;
	Webmesh__V1__NetworkACLs out = WEBMESH__V1__NETWORK_ACLS__INIT;
	out.default_policy = snap.default_accept ? "accept" : "deny";
	out.items = bag(&b, calloc(snap.n_acls + 1, sizeof(*out.items)));
	for (size_t i = 0; out.items && i < snap.n_acls; i++) {
		const struct wm_acl *a = &snap.acls[i];
		if (!want(m, a->name))
			continue;
		Webmesh__V1__NetworkACL *r = bag(&b, malloc(sizeof(*r)));
		if (!r)
			break;
		webmesh__v1__network_acl__init(r);
		r->name = (char *)a->name;
		r->priority = a->priority;
		r->action = a->accept ? "accept" : "deny";
		r->source_nodes = list_of(&b, a->src_nodes, &r->n_source_nodes);
		r->destination_nodes = list_of(&b, a->dst_nodes, &r->n_destination_nodes);
		r->source_cidrs = list_of(&b, a->src_cidrs, &r->n_source_cidrs);
		r->destination_cidrs = list_of(&b, a->dst_cidrs, &r->n_destination_cidrs);
		r->protocols = list_of(&b, a->protocols, &r->n_protocols);
		r->ports = list_of(&b, a->ports, &r->n_ports);
		out.items[out.n_items++] = r;
	}
	finish_list(call, &out.base, out.n_items, m, &snap, &b);
}

void wm_admin_can_i(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	const struct wm_identity *caller = wm_gate_caller(call);
	struct wm_identity local = {.local = true, .method = "local"};
	if (!caller) /* not behind the gate: only the local socket registers it so */
		caller = wm_rpc_call_is_local(call) ? &local : NULL;
	if (!caller) {
		wm_rpc_call_finish(call, WM_GRPC_PERMISSION_DENIED, "no caller identity");
		return;
	}
	if (!s->cfg.store) {
		wm_services_proxy(s, call, req, len);
		return;
	}
	DECODE(Webmesh__V1__CanIRequest, webmesh__v1__can_irequest)
	Webmesh__V1__CanIResponse resp = WEBMESH__V1__CAN_IRESPONSE__INIT;
	struct wm_identity who = *caller;
	/* "node:ID" or "user:ID" ask about one name space; a bare name asks
	 * whether either of them may. */
	const char *as = m->as_id ? m->as_id : "";
	enum wm_identity_kind as_kind = WM_ID_ANY;
	if (strncmp(as, "node:", 5) == 0 || strncmp(as, "user:", 5) == 0) {
		as_kind = as[0] == 'n' ? WM_ID_NODE : WM_ID_USER;
		as += 5;
	}
	if (m->as_id && *m->as_id &&
	    (strcmp(as, caller->id) != 0 || (as_kind != WM_ID_ANY && as_kind != caller->kind))) {
		if (!wm_gate_allowed(s->cfg.store, caller, "get", "rolebindings", NULL)) {
			wm_rpc_call_finish(call, WM_GRPC_PERMISSION_DENIED,
					   "asking for someone else needs get rolebindings");
			webmesh__v1__can_irequest__free_unpacked(m, NULL);
			return;
		}
		memset(&who, 0, sizeof(who));
		who.kind = as_kind;
		snprintf(who.id, sizeof(who.id), "%s", as);
		snprintf(who.method, sizeof(who.method), "as");
	}
	if (!m->verb || !*m->verb || !m->resource || !*m->resource) {
		wm_rpc_call_finish(call, WM_GRPC_INVALID_ARGUMENT, "verb and resource are needed");
	} else {
		struct wm_authz_snapshot snap;
		if (wm_store_authz_load(s->cfg.store, &snap) < 0) {
			wm_rpc_call_finish(call, WM_GRPC_INTERNAL, "cannot read the state");
		} else {
			struct wm_rbac_policy p = wm_authz_policy(&snap);
			struct wm_rbac_who w = {.id = who.id,
						.kind = who.kind,
						.groups = (const char *const *)m->as_groups,
						.n_groups = m->n_as_groups};
			/* A bare name in --as may be a node or a user: either kind that is
			 * allowed answers, and the explanation speaks of that kind. */
			bool allowed = wm_rbac_allowed(&p, &w, m->verb, m->resource, m->name);
			for (int k = WM_ID_NODE;
			     !allowed && who.kind == WM_ID_ANY && k <= WM_ID_USER; k++) {
				w.kind = (enum wm_identity_kind)k;
				allowed = wm_rbac_allowed(&p, &w, m->verb, m->resource, m->name);
			}
			if (!allowed)
				w.kind = who.kind;
			char reason[1024];
			resp.allowed = who.local || who.anonymous || allowed;
			if (who.local)
				snprintf(reason, sizeof(reason),
					 "the local socket is allowed everything");
			else if (who.anonymous)
				snprintf(reason, sizeof(reason),
					 "this mesh is open: everyone is allowed everything");
			else
				wm_rbac_explain(&p, &w, m->verb, m->resource, m->name, reason,
						sizeof(reason));
			resp.reason = reason;
			resp.id = who.id;
			resp.method = who.method;
			wm_services_reply(call, &resp.base);
			wm_authz_snapshot_free(&snap);
		}
	}
	webmesh__v1__can_irequest__free_unpacked(m, NULL);
}

void wm_authz_bootstrap_command(Webmesh__V1__BootstrapAuthzCommand *b,
				Webmesh__V1__RaftCommand *cmd, const char *admin,
				const char *bootstrap_node, char **voters, size_t n_voters,
				bool default_accept)
{
	webmesh__v1__bootstrap_authz_command__init(b);
	webmesh__v1__raft_command__init(cmd);
	b->admin = (char *)(admin ? admin : "");
	b->bootstrap_node = (char *)bootstrap_node;
	b->voters = voters;
	b->n_voters = voters ? n_voters : 0;
	b->default_accept = default_accept;
	cmd->command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP_AUTHZ;
	cmd->bootstrap_authz = b;
}
