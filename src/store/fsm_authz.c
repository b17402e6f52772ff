/* FSM commands and reads of RBAC objects and network ACLs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/meshauth.h"
#include "store/authz.h"
#include "store/fsm_int.h"

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : wm_fsm_sqlite_err(rc);
}

static int name_ok(const char *what, const char *name, struct wm_store_result *res)
{
	const char *why = NULL;
	if (wm_rbac_name_check(name, &why) < 0)
		return wm_fsm_refuse(res, -EINVAL, "invalid %s name \"%.64s\": %s", what,
				     name ? name : "", why);
	return 1;
}

static int exists(struct wm_fsm *f, const char *sql, const char *arg, bool *found)
{
	sqlite3_stmt *st;
	int r = wm_fsm_prepare(f->db, sql, &st), rc;
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, arg);
	rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : wm_fsm_sqlite_err(rc);
}

static int put_role(struct wm_fsm *f, const Webmesh__V1__PutRoleCommand *c,
		    struct wm_store_result *res)
{
	char err[200];
	sqlite3_stmt *st;
	int r = name_ok("role", c->name, res);
	if (r <= 0)
		return r;
	if (wm_rbac_is_builtin(c->name))
		return wm_fsm_refuse(res, -EPERM, "role %s is built in and cannot be changed",
				     c->name);
	if (wm_rbac_rules_check(c->rules, err, sizeof(err)) < 0)
		return wm_fsm_refuse(res, -EINVAL, "role %s: %s", c->name, err);
	r = wm_fsm_prepare(f->db,
			   "INSERT INTO rbac_roles (name, builtin, rules) VALUES (?1, 0, ?2)"
			   " ON CONFLICT (name) DO UPDATE SET rules = excluded.rules",
			   &st);
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, c->name);
	wm_fsm_bind_text(st, 2, c->rules);
	return step_done(st);
}

static int put_binding(struct wm_fsm *f, const Webmesh__V1__PutRoleBindingCommand *c,
		       struct wm_store_result *res)
{
	char err[200];
	sqlite3_stmt *st;
	bool found;
	int r = name_ok("role binding", c->name, res);
	if (r <= 0)
		return r;
	r = name_ok("role", c->role, res);
	if (r <= 0)
		return r;
	if (wm_rbac_subjects_check(c->subjects, err, sizeof(err)) < 0)
		return wm_fsm_refuse(res, -EINVAL, "role binding %s: %s", c->name, err);
	if (wm_rbac_is_builtin(c->name) && strcmp(c->name, c->role) != 0)
		return wm_fsm_refuse(res, -EPERM,
				     "role binding %s is built in: its role stays %s (its "
				     "subjects may change)",
				     c->name, c->name);
	r = exists(f, "SELECT 1 FROM rbac_roles WHERE name = ?1", c->role, &found);
	if (r < 0)
		return r;
	if (!found)
		return wm_fsm_refuse(res, -ENOENT, "role %s does not exist", c->role);
	r = wm_fsm_prepare(f->db,
			   "INSERT INTO rbac_bindings (name, builtin, role, subjects)"
			   " VALUES (?1, 0, ?2, ?3) ON CONFLICT (name) DO UPDATE"
			   " SET role = excluded.role, subjects = excluded.subjects",
			   &st);
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, c->name);
	wm_fsm_bind_text(st, 2, c->role);
	wm_fsm_bind_text(st, 3, c->subjects);
	return step_done(st);
}

static int put_group(struct wm_fsm *f, const Webmesh__V1__PutGroupCommand *c,
		     struct wm_store_result *res)
{
	char err[200];
	sqlite3_stmt *st;
	int r = name_ok("group", c->name, res);
	if (r <= 0)
		return r;
	if (wm_rbac_subjects_check(c->subjects, err, sizeof(err)) < 0)
		return wm_fsm_refuse(res, -EINVAL, "group %s: %s", c->name, err);
	r = wm_fsm_prepare(f->db,
			   "INSERT INTO rbac_groups (name, subjects) VALUES (?1, ?2)"
			   " ON CONFLICT (name) DO UPDATE SET subjects = excluded.subjects",
			   &st);
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, c->name);
	wm_fsm_bind_text(st, 2, c->subjects);
	return step_done(st);
}

static int put_acl(struct wm_fsm *f, const Webmesh__V1__PutNetworkACLCommand *c,
		   struct wm_store_result *res)
{
	char err[200];
	sqlite3_stmt *st;
	struct wm_acl a = {c->name,
			   c->priority,
			   c->accept,
			   c->source_nodes,
			   c->destination_nodes,
			   c->source_cidrs,
			   c->destination_cidrs,
			   c->protocols,
			   c->ports};
	if (wm_acl_validate(&a, err, sizeof(err)) < 0)
		return wm_fsm_refuse(res, -EINVAL, "network ACL: %s", err);
	int r = wm_fsm_prepare(
		f->db,
		"INSERT INTO network_acls (name, priority, accept, source_nodes, destination_nodes,"
		" source_cidrs, destination_cidrs, protocols, ports)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (name) DO UPDATE SET"
		" priority = excluded.priority, accept = excluded.accept,"
		" source_nodes = excluded.source_nodes, destination_nodes = "
		"excluded.destination_nodes,"
		" source_cidrs = excluded.source_cidrs, destination_cidrs = "
		"excluded.destination_cidrs,"
		" protocols = excluded.protocols, ports = excluded.ports",
		&st);
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, c->name);
	sqlite3_bind_int(st, 2, c->priority);
	sqlite3_bind_int(st, 3, c->accept ? 1 : 0);
	wm_fsm_bind_text(st, 4, c->source_nodes);
	wm_fsm_bind_text(st, 5, c->destination_nodes);
	wm_fsm_bind_text(st, 6, c->source_cidrs);
	wm_fsm_bind_text(st, 7, c->destination_cidrs);
	wm_fsm_bind_text(st, 8, c->protocols);
	wm_fsm_bind_text(st, 9, c->ports);
	return step_done(st);
}

static int delete_obj(struct wm_fsm *f, const Webmesh__V1__DeleteAuthzCommand *c,
		      struct wm_store_result *res)
{
	static const struct {
		const char *kind, *table, *what;
	} kinds[] = {
		{"roles", "rbac_roles", "role"},
		{"rolebindings", "rbac_bindings", "role binding"},
		{"groups", "rbac_groups", "group"},
		{"networkacls", "network_acls", "network ACL"},
	};
	char sql[96];
	sqlite3_stmt *st;
	size_t k;
	int r;

	for (k = 0; k < 4; k++)
		if (c->kind && strcmp(c->kind, kinds[k].kind) == 0)
			break;
	if (k == 4)
		return wm_fsm_refuse(res, -EINVAL, "unknown kind \"%.32s\"",
				     c->kind ? c->kind : "");
	r = name_ok(kinds[k].what, c->name, res);
	if (r <= 0)
		return r;
	if (k <= 1 && wm_rbac_is_builtin(c->name))
		return wm_fsm_refuse(res, -EPERM, "%s %s is built in and cannot be deleted",
				     kinds[k].what, c->name);
	if (k == 0) {
		bool used;
		r = exists(f, "SELECT 1 FROM rbac_bindings WHERE role = ?1", c->name, &used);
		if (r < 0)
			return r;
		if (used)
			return wm_fsm_refuse(res, -EBUSY,
					     "role %s is used by a role binding: delete or change "
					     "that first",
					     c->name);
	}
	snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE name = ?1", kinds[k].table);
	r = wm_fsm_prepare(f->db, sql, &st);
	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, c->name);
	r = step_done(st);
	if (r < 0)
		return r;
	if (sqlite3_changes(f->db) == 0)
		return wm_fsm_refuse(res, -ENOENT, "%s %s does not exist", kinds[k].what, c->name);
	return 0;
}

/* "node:a,node:b,..." for the subjects of a built-in binding; malloc'd. */
static char *subjects_of(const char *admin, const char *node, char *const *voters, size_t n)
{
	size_t len = 64 + (admin ? 2 * strlen(admin) : 0) + strlen(node);
	for (size_t i = 0; i < n; i++)
		len += strlen(voters[i]) + 8;
	char *s = malloc(len), *p = s;
	if (!s)
		return NULL;
	/* The administrator is a person (a user) unless it says it is a node
	 * ("node:ID", for key auth): naming both would let a node of that
	 * name, or a user named like the admin node, administer the mesh. */
	if (admin && (strncmp(admin, "user:", 5) == 0 || strncmp(admin, "node:", 5) == 0))
		p += sprintf(p, "%s,", admin);
	else if (admin)
		p += sprintf(p, "user:%s,", admin);
	p += sprintf(p, "node:%s", node);
	for (size_t i = 0; i < n; i++)
		if (strcmp(voters[i], node) != 0)
			p += sprintf(p, ",node:%s", voters[i]);
	return s;
}

static int bootstrap(struct wm_fsm *f, const Webmesh__V1__BootstrapAuthzCommand *c,
		     struct wm_store_result *res)
{
	char err[200];
	char *admins = NULL, *voters = NULL;
	bool found;
	sqlite3_stmt *st;
	int r;

	r = exists(f, "SELECT 1 FROM authz_settings WHERE id = ?1", "1", &found);
	if (r < 0)
		return r;
	if (found)
		return wm_fsm_refuse(res, -EEXIST, "RBAC is already bootstrapped");
	if (wm_node_id_check(c->bootstrap_node, NULL) < 0)
		return wm_fsm_refuse(res, -EINVAL, "invalid bootstrap node ID");
	struct wm_mesh_auth ma = {0};
	bool has_ma = c->auth_methods && *c->auth_methods;
	if (has_ma) {
		const char *fp = c->mtls_ca_fingerprint ? c->mtls_ca_fingerprint : "";
		ma.rbac = c->rbac;
		if (wm_mesh_auth_methods_parse(c->auth_methods, &ma.methods) < 0 ||
		    strlen(fp) >= sizeof(ma.ca_fingerprint))
			return wm_fsm_refuse(res, -EINVAL, "invalid mesh authentication methods");
		memcpy(ma.ca_fingerprint, fp, strlen(fp) + 1);
		if (wm_mesh_auth_valid(&ma) < 0)
			return wm_fsm_refuse(res, -EINVAL,
					     "invalid mesh authentication settings (CA "
					     "fingerprint or RBAC)");
	}
	for (size_t i = 0; i < c->n_voters; i++)
		if (wm_node_id_check(c->voters[i], NULL) < 0)
			return wm_fsm_refuse(res, -EINVAL, "invalid voter node ID \"%.64s\"",
					     c->voters[i]);
	admins = subjects_of(c->admin && *c->admin ? c->admin : NULL, c->bootstrap_node, NULL, 0);
	voters = subjects_of(NULL, c->bootstrap_node, c->voters, c->n_voters);
	if (!admins || !voters) {
		r = -ENOMEM;
		goto out;
	}
	if (wm_rbac_subjects_check(admins, err, sizeof(err)) < 0) {
		r = wm_fsm_refuse(res, -EINVAL, "bootstrap admin: %s", err);
		goto out;
	}
	r = wm_fsm_prepare(
		f->db, "INSERT INTO authz_settings (id, default_accept, admin) VALUES (1, ?1, ?2);",
		&st);
	if (r < 0)
		goto out;
	sqlite3_bind_int(st, 1, c->default_accept ? 1 : 0);
	wm_fsm_bind_text(st, 2, c->admin);
	r = step_done(st);
	if (r < 0)
		goto out;
	r = wm_fsm_prepare(f->db,
			   "INSERT OR REPLACE INTO rbac_roles (name, builtin, rules) VALUES"
			   " ('" WM_RBAC_ROLE_ADMIN "', 1, '" WM_RBAC_ADMIN_RULES "'),"
			   " ('" WM_RBAC_ROLE_VOTERS "', 1, '" WM_RBAC_VOTERS_RULES "')",
			   &st);
	if (r == 0)
		r = step_done(st);
	if (r < 0)
		goto out;
	r = wm_fsm_prepare(f->db,
			   "INSERT OR REPLACE INTO rbac_bindings (name, builtin, role, subjects)"
			   " VALUES ('" WM_RBAC_ROLE_ADMIN "', 1, '" WM_RBAC_ROLE_ADMIN "', ?1),"
			   " ('" WM_RBAC_ROLE_VOTERS "', 1, '" WM_RBAC_ROLE_VOTERS "', ?2)",
			   &st);
	if (r < 0)
		goto out;
	wm_fsm_bind_text(st, 1, admins);
	wm_fsm_bind_text(st, 2, voters);
	r = step_done(st);
	if (r < 0 || !has_ma)
		goto out;
	char methods[WM_MESH_AUTH_TEXT_MAX];
	wm_mesh_auth_methods_format(ma.methods, methods);
	r = wm_fsm_prepare(f->db,
			   "INSERT INTO mesh_auth (id, methods, ca_fingerprint, rbac)"
			   " VALUES (1, ?1, ?2, ?3)",
			   &st);
	if (r < 0)
		goto out;
	wm_fsm_bind_text(st, 1, methods);
	wm_fsm_bind_text(st, 2, ma.ca_fingerprint);
	sqlite3_bind_int(st, 3, ma.rbac ? 1 : 0);
	r = step_done(st);
out:
	free(admins);
	free(voters);
	return r;
}

int wm_fsm_cmd_authz(struct wm_fsm *f, const Webmesh__V1__RaftCommand *cmd,
		     struct wm_store_result *res)
{
	switch (cmd->command_case) {
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE:
		return put_role(f, cmd->put_role, res);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE_BINDING:
		return put_binding(f, cmd->put_role_binding, res);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_GROUP:
		return put_group(f, cmd->put_group, res);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_NETWORK_ACL:
		return put_acl(f, cmd->put_network_acl, res);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_AUTHZ:
		return delete_obj(f, cmd->delete_authz, res);
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP_AUTHZ:
		return bootstrap(f, cmd->bootstrap_authz, res);
	default:
		return wm_fsm_refuse(res, -EINVAL, "not an authorization command");
	}
}
