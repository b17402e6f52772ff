/* Role-based access control: roles, role bindings, groups and their
 * evaluation (pure).
 *
 * Objects are kept in their canonical text form, the same text the store
 * keeps, so that evaluation needs no allocation:
 *   rules:    "VERBS:RESOURCES:NAMES;..."   e.g. "get,put:nodes,edges:;*:*:*"
 *             each part a comma list; "*" matches anything; an empty NAMES
 *             part matches every name (and requests without a name)
 *   subjects: "node:ID,user:ID,group:NAME,all"   ("node:*" / "user:*" match
 *             every node / user identity)
 * Names (role, binding, group, IDs, resource names) are 1..253 characters of
 * [A-Za-z0-9._@+-], or exactly "*" where a wildcard is allowed.
 *
 * Deny by default: a request is allowed only when a binding whose subjects
 * include the caller (directly, through "all", or through a group it belongs
 * to) names an existing role with a rule matching verb, resource and name.
 */
#ifndef WM_CORE_RBAC_H
#define WM_CORE_RBAC_H

#include <stdbool.h>
#include <stddef.h>

#define WM_RBAC_NAME_MAX 253
#define WM_RBAC_TEXT_MAX 8192 /* rules or subjects of one object, as text */
#define WM_RBAC_GROUP_DEPTH 8 /* nested groups followed at most this deep */

/* Built-in objects, created at bootstrap and never deleted. */
#define WM_RBAC_ROLE_ADMIN "mesh-admin"
#define WM_RBAC_ROLE_VOTERS "voters"
#define WM_RBAC_ADMIN_RULES "*:*:*"
#define WM_RBAC_VOTERS_RULES "put:voters:"

enum wm_subject_kind { WM_SUBJECT_NODE, WM_SUBJECT_USER, WM_SUBJECT_GROUP, WM_SUBJECT_ALL };

/* How the caller was identified. Node subjects match WM_ID_NODE identities
 * only (a node proof or key auth), user subjects WM_ID_USER only (mTLS,
 * password, LDAP): a user named like a node is not that node. WM_ID_ANY (the
 * local socket, an open mesh's anonymous caller) matches neither. */
enum wm_identity_kind { WM_ID_ANY, WM_ID_NODE, WM_ID_USER };

struct wm_rbac_role {
	const char *name;
	const char *rules;
};
struct wm_rbac_binding {
	const char *name;
	const char *role;
	const char *subjects;
};
struct wm_rbac_group {
	const char *name;
	const char *subjects;
};

/* A snapshot of every RBAC object; borrowed strings. */
struct wm_rbac_policy {
	const struct wm_rbac_role *roles;
	size_t n_roles;
	const struct wm_rbac_binding *bindings;
	size_t n_bindings;
	const struct wm_rbac_group *groups;
	size_t n_groups;
};

/* The caller. groups are those the authenticator found (e.g. LDAP), in
 * addition to the stored groups it belongs to. */
struct wm_rbac_who {
	const char *id;
	enum wm_identity_kind kind;
	const char *const *groups;
	size_t n_groups;
};

/* Name checks: 0, or -EINVAL with *why (static text). */
int wm_rbac_name_check(const char *name, const char **why);
int wm_rbac_verb_check(const char *verb, const char **why);	    /* get, put, delete, * */
int wm_rbac_resource_check(const char *resource, const char **why); /* see rbac.c, or * */
/* One subject's text: kind and name (name points into text; "*" for all). */
int wm_rbac_subject_parse(const char *text, enum wm_subject_kind *kind, const char **name,
			  const char **why);
/* Whole-text checks of the canonical forms; err says which item is wrong. */
int wm_rbac_rules_check(const char *rules, char *err, size_t errlen);
int wm_rbac_subjects_check(const char *subjects, char *err, size_t errlen);

/* True when the policy allows who to do verb on resource (name may be NULL or
 * "" for requests about no single object). */
bool wm_rbac_allowed(const struct wm_rbac_policy *p, const struct wm_rbac_who *who,
		     const char *verb, const char *resource, const char *name);
/* True when who belongs to group: listed by its authenticator, or a subject
 * of the stored group (nested groups followed WM_RBAC_GROUP_DEPTH deep,
 * cycles are harmless). */
bool wm_rbac_in_group(const struct wm_rbac_policy *p, const struct wm_rbac_who *who,
		      const char *group);
/* True when subjects (canonical text) include who. */
bool wm_rbac_subjects_match(const struct wm_rbac_policy *p, const char *subjects,
			    const struct wm_rbac_who *who);
/* No self-elevation: what a write of a role, a binding or a group would
 * grant must already be the writer's.
 *
 * wm_rbac_covers: true when who is allowed every (verb, resource, name) that
 * rules (canonical text) grant, wildcards taken literally: granting verb or
 * resource "*" needs a rule of who with "*" there; granting every name (an
 * empty NAMES part or "*") needs a rule of who for every name. Otherwise false
 * and lack gets the first right who lacks, as "VERB RESOURCE [NAME]" (no NAME:
 * every name). */
bool wm_rbac_covers(const struct wm_rbac_policy *p, const struct wm_rbac_who *who,
		    const char *rules, char *lack, size_t lacklen);
/* The rules of the role named name, or NULL when p has no such role. */
const char *wm_rbac_role_rules(const struct wm_rbac_policy *p, const char *name);
/* Writing group (its members) grants the rules of every role bound to it,
 * directly or through the groups that contain it (WM_RBAC_GROUP_DEPTH deep):
 * true when who covers them all; else false, lack as for wm_rbac_covers and
 * *role the role whose rule it is. */
bool wm_rbac_group_covers(const struct wm_rbac_policy *p, const struct wm_rbac_who *who,
			  const char *group, char *lack, size_t lacklen, const char **role);
/* Why who may or may not do verb on resource [name], in one sentence for
 * `can-i`: the binding and role that allow it; or that nothing binds who; or
 * the roles who is bound to and the rule it would need. */
void wm_rbac_explain(const struct wm_rbac_policy *p, const struct wm_rbac_who *who,
		     const char *verb, const char *resource, const char *name, char *out,
		     size_t len);

/* True for the names of built-in roles and bindings. */
bool wm_rbac_is_builtin(const char *name);

#endif
