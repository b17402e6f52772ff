/* RBAC evaluation over the canonical text forms: deny unless a binding allows. */
#include "core/rbac.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const verbs[] = {"get", "put", "delete", NULL};
static const char *const resources[] = {"nodes",	"edges",  "routes",	 "roles",
					"rolebindings", "groups", "networkacls", "voters",
					"observers",	"status", "dns-records", NULL};

static bool in_table(const char *const *t, const char *s, size_t n)
{
	for (; *t; t++)
		if (strlen(*t) == n && strncmp(*t, s, n) == 0)
			return true;
	return false;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '@' || c == '+' || c == '-';
}

static int name_check_n(const char *s, size_t n, bool wildcard, const char **why)
{
	if (n == 1 && s[0] == '*') {
		if (wildcard)
			return 0;
		*why = "may not be \"*\" here";
		return -EINVAL;
	}
	if (n == 0 || n > WM_RBAC_NAME_MAX) {
		*why = "must be 1 to 253 characters";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!name_char(s[i])) {
			*why = "may only contain A-Z, a-z, 0-9 and . _ @ + -";
			return -EINVAL;
		}
	}
	return 0;
}

int wm_rbac_name_check(const char *name, const char **why)
{
	const char *dummy;
	return name_check_n(name ? name : "", name ? strlen(name) : 0, false, why ? why : &dummy);
}

int wm_rbac_verb_check(const char *verb, const char **why)
{
	size_t n = verb ? strlen(verb) : 0;
	if ((n == 1 && verb[0] == '*') || (n && in_table(verbs, verb, n)))
		return 0;
	if (why)
		*why = "is not a verb (get, put, delete or *)";
	return -EINVAL;
}

int wm_rbac_resource_check(const char *resource, const char **why)
{
	size_t n = resource ? strlen(resource) : 0;
	if ((n == 1 && resource[0] == '*') || (n && in_table(resources, resource, n)))
		return 0;
	if (why)
		*why = "is not a resource (nodes, edges, routes, roles, rolebindings, groups, "
		       "networkacls, voters, observers, status, dns-records or *)";
	return -EINVAL;
}

/* Does the comma list [s, s+n) contain v, or "*"? An empty list matches
 * everything when empty_any. */
static bool list_match(const char *s, size_t n, const char *v, bool empty_any)
{
	size_t vn = v ? strlen(v) : 0;
	const char *end = s + n;

	if (n == 0)
		return empty_any;
	while (s < end) {
		const char *c = memchr(s, ',', (size_t)(end - s));
		size_t len = c ? (size_t)(c - s) : (size_t)(end - s);
		if ((len == 1 && s[0] == '*') || (vn && len == vn && memcmp(s, v, vn) == 0))
			return true;
		s += len + (c ? 1 : 0);
	}
	return false;
}

/* Checks one comma list of rule items with check(). */
static int rule_list_check(const char *s, size_t n, int what, bool allow_empty, char *err,
			   size_t errlen, size_t rule_no)
{
	static const char *const names[] = {"verb", "resource", "resource name"};
	const char *end = s + n, *why = NULL;
	char item[WM_RBAC_NAME_MAX + 1];

	if (n == 0) {
		if (allow_empty)
			return 0;
		snprintf(err, errlen, "rule %zu: has no %s", rule_no, names[what]);
		return -EINVAL;
	}
	while (s <= end) {
		const char *c = memchr(s, ',', (size_t)(end - s));
		size_t len = c ? (size_t)(c - s) : (size_t)(end - s);
		int r;
		if (len > WM_RBAC_NAME_MAX || len == 0) {
			snprintf(err, errlen, "rule %zu: an empty or over-long %s", rule_no,
				 names[what]);
			return -EINVAL;
		}
		memcpy(item, s, len);
		item[len] = '\0';
		if (what == 0)
			r = wm_rbac_verb_check(item, &why);
		else if (what == 1)
			r = wm_rbac_resource_check(item, &why);
		else
			r = name_check_n(item, len, true, &why);
		if (r < 0) {
			snprintf(err, errlen, "rule %zu: %s \"%.64s\" %s", rule_no, names[what],
				 item, why);
			return -EINVAL;
		}
		if (!c)
			break;
		s = c + 1;
	}
	return 0;
}

int wm_rbac_rules_check(const char *rules, char *err, size_t errlen)
{
	size_t n = rules ? strlen(rules) : 0, rule_no = 0;
	const char *s = rules, *end = rules + n;

	if (n == 0) {
		snprintf(err, errlen, "a role needs at least one rule");
		return -EINVAL;
	}
	if (n > WM_RBAC_TEXT_MAX) {
		snprintf(err, errlen, "the rules are longer than %d characters", WM_RBAC_TEXT_MAX);
		return -EINVAL;
	}
	while (s <= end) {
		const char *semi = memchr(s, ';', (size_t)(end - s));
		const char *rend = semi ? semi : end, *c1, *c2;
		rule_no++;
		c1 = memchr(s, ':', (size_t)(rend - s));
		c2 = c1 ? memchr(c1 + 1, ':', (size_t)(rend - c1 - 1)) : NULL;
		if (!c1 || !c2 || memchr(c2 + 1, ':', (size_t)(rend - c2 - 1))) {
			snprintf(err, errlen, "rule %zu: not VERBS:RESOURCES:NAMES", rule_no);
			return -EINVAL;
		}
		if (rule_list_check(s, (size_t)(c1 - s), 0, false, err, errlen, rule_no) ||
		    rule_list_check(c1 + 1, (size_t)(c2 - c1 - 1), 1, false, err, errlen,
				    rule_no) ||
		    rule_list_check(c2 + 1, (size_t)(rend - c2 - 1), 2, true, err, errlen, rule_no))
			return -EINVAL;
		if (!semi)
			break;
		s = semi + 1;
	}
	return 0;
}

int wm_rbac_subject_parse(const char *text, enum wm_subject_kind *kind, const char **name,
			  const char **why)
{
	const char *dummy;
	const char *colon;

	if (!why)
		why = &dummy;
	if (!text) {
		*why = "is empty";
		return -EINVAL;
	}
	if (strcmp(text, "all") == 0 || strcmp(text, "all:*") == 0) {
		*kind = WM_SUBJECT_ALL;
		*name = "*";
		return 0;
	}
	colon = strchr(text, ':');
	if (!colon) {
		*why = "is not node:ID, user:ID, group:NAME or all";
		return -EINVAL;
	}
	if ((size_t)(colon - text) == 4 && strncmp(text, "node", 4) == 0)
		*kind = WM_SUBJECT_NODE;
	else if ((size_t)(colon - text) == 4 && strncmp(text, "user", 4) == 0)
		*kind = WM_SUBJECT_USER;
	else if ((size_t)(colon - text) == 5 && strncmp(text, "group", 5) == 0)
		*kind = WM_SUBJECT_GROUP;
	else {
		*why = "has an unknown kind (node, user, group or all)";
		return -EINVAL;
	}
	*name = colon + 1;
	return name_check_n(*name, strlen(*name), *kind != WM_SUBJECT_GROUP, why);
}

/* Calls fn for each subject of the canonical text; stops when fn returns true. */
static bool subjects_any(const char *subjects,
			 bool (*fn)(void *ctx, enum wm_subject_kind k, const char *name, size_t n),
			 void *ctx)
{
	const char *s = subjects;

	while (s && *s) {
		const char *c = strchr(s, ',');
		size_t len = c ? (size_t)(c - s) : strlen(s);
		enum wm_subject_kind k;
		const char *name = NULL;
		size_t nlen = 0;

		if (len == 3 && strncmp(s, "all", 3) == 0) {
			k = WM_SUBJECT_ALL;
			name = "*";
			nlen = 1;
		} else if (len > 5 && strncmp(s, "node:", 5) == 0) {
			k = WM_SUBJECT_NODE;
			name = s + 5;
			nlen = len - 5;
		} else if (len > 5 && strncmp(s, "user:", 5) == 0) {
			k = WM_SUBJECT_USER;
			name = s + 5;
			nlen = len - 5;
		} else if (len > 6 && strncmp(s, "group:", 6) == 0) {
			k = WM_SUBJECT_GROUP;
			name = s + 6;
			nlen = len - 6;
		} else {
			k = WM_SUBJECT_ALL; /* unreachable for checked text; ignored */
			name = NULL;
		}
		if (name && fn(ctx, k, name, nlen))
			return true;
		s = c ? c + 1 : NULL;
	}
	return false;
}

int wm_rbac_subjects_check(const char *subjects, char *err, size_t errlen)
{
	size_t n = subjects ? strlen(subjects) : 0, no = 0;
	const char *s = subjects;
	char item[WM_RBAC_NAME_MAX + 8];

	if (n == 0) {
		snprintf(err, errlen, "at least one subject is needed");
		return -EINVAL;
	}
	if (n > WM_RBAC_TEXT_MAX) {
		snprintf(err, errlen, "the subjects are longer than %d characters",
			 WM_RBAC_TEXT_MAX);
		return -EINVAL;
	}
	while (s) {
		const char *c = strchr(s, ',');
		size_t len = c ? (size_t)(c - s) : strlen(s);
		enum wm_subject_kind k;
		const char *name, *why = NULL;
		no++;
		if (len == 0 || len >= sizeof(item)) {
			snprintf(err, errlen, "subject %zu is empty or too long", no);
			return -EINVAL;
		}
		memcpy(item, s, len);
		item[len] = '\0';
		if (wm_rbac_subject_parse(item, &k, &name, &why) < 0) {
			snprintf(err, errlen, "subject \"%.64s\" %s", item, why);
			return -EINVAL;
		}
		if (k == WM_SUBJECT_ALL && strcmp(item, "all") != 0) {
			snprintf(err, errlen, "subject \"%.64s\": write it as \"all\"", item);
			return -EINVAL;
		}
		s = c ? c + 1 : NULL;
	}
	return 0;
}

struct match_ctx {
	const struct wm_rbac_policy *p;
	const struct wm_rbac_who *who;
	int depth;
};

static bool in_group_depth(const struct wm_rbac_policy *p, const struct wm_rbac_who *who,
			   const char *group, size_t glen, int depth);

static bool subject_is_who(void *ctx, enum wm_subject_kind k, const char *name, size_t n)
{
	struct match_ctx *m = ctx;
	size_t idn = m->who->id ? strlen(m->who->id) : 0;
	bool any = n == 1 && name[0] == '*';

	switch (k) {
	case WM_SUBJECT_ALL:
		return true;
	/* Two name spaces: a user named like a node is not that node, and an
	 * identity of no known kind is neither. */
	case WM_SUBJECT_NODE:
		if (m->who->kind != WM_ID_NODE)
			return false;
		return idn && (any || (n == idn && memcmp(name, m->who->id, n) == 0));
	case WM_SUBJECT_USER:
		if (m->who->kind != WM_ID_USER)
			return false;
		return idn && (any || (n == idn && memcmp(name, m->who->id, n) == 0));
	case WM_SUBJECT_GROUP:
		return in_group_depth(m->p, m->who, name, n, m->depth + 1);
	}
	return false;
}

static bool in_group_depth(const struct wm_rbac_policy *p, const struct wm_rbac_who *who,
			   const char *group, size_t glen, int depth)
{
	if (depth > WM_RBAC_GROUP_DEPTH)
		return false;
	for (size_t i = 0; i < who->n_groups; i++)
		if (who->groups[i] && strlen(who->groups[i]) == glen &&
		    memcmp(who->groups[i], group, glen) == 0)
			return true;
	for (size_t i = 0; i < p->n_groups; i++) {
		const struct wm_rbac_group *g = &p->groups[i];
		if (strlen(g->name) != glen || memcmp(g->name, group, glen) != 0)
			continue;
		struct match_ctx m = {p, who, depth};
		return subjects_any(g->subjects, subject_is_who, &m);
	}
	return false;
}

bool wm_rbac_in_group(const struct wm_rbac_policy *p, const struct wm_rbac_who *who,
		      const char *group)
{
	if (!p || !who || !group)
		return false;
	return in_group_depth(p, who, group, strlen(group), 0);
}

bool wm_rbac_subjects_match(const struct wm_rbac_policy *p, const char *subjects,
			    const struct wm_rbac_who *who)
{
	struct match_ctx m = {p, who, 0};
	return subjects_any(subjects, subject_is_who, &m);
}

static bool rules_allow(const char *rules, const char *verb, const char *resource, const char *name)
{
	const char *s = rules;

	while (s && *s) {
		const char *semi = strchr(s, ';');
		const char *end = semi ? semi : s + strlen(s);
		const char *c1 = memchr(s, ':', (size_t)(end - s));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
		if (c1 && c2 && list_match(s, (size_t)(c1 - s), verb, false) &&
		    list_match(c1 + 1, (size_t)(c2 - c1 - 1), resource, false) &&
		    list_match(c2 + 1, (size_t)(end - c2 - 1), name, true))
			return true;
		s = semi ? semi + 1 : NULL;
	}
	return false;
}

bool wm_rbac_allowed(const struct wm_rbac_policy *p, const struct wm_rbac_who *who,
		     const char *verb, const char *resource, const char *name)
{
	if (!p || !who || !verb || !*verb || !resource || !*resource)
		return false;
	for (size_t i = 0; i < p->n_bindings; i++) {
		const struct wm_rbac_binding *b = &p->bindings[i];
		if (!wm_rbac_subjects_match(p, b->subjects, who))
			continue;
		for (size_t j = 0; j < p->n_roles; j++) {
			if (strcmp(p->roles[j].name, b->role) == 0 &&
			    rules_allow(p->roles[j].rules, verb, resource, name))
				return true;
		}
	}
	return false;
}

bool wm_rbac_is_builtin(const char *name)
{
	return name &&
	       (strcmp(name, WM_RBAC_ROLE_ADMIN) == 0 || strcmp(name, WM_RBAC_ROLE_VOTERS) == 0);
}

/* ---- no self-elevation ---- */

/* Copies the item of a comma list starting at s (ending at ',' or end) into buf. */
static const char *next_item(const char *s, const char *end, char *buf, size_t len)
{
	const char *c = memchr(s, ',', (size_t)(end - s));
	size_t n = c ? (size_t)(c - s) : (size_t)(end - s);

	if (n >= len)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return c ? c + 1 : end;
}

/* Every (verb, resource, name) of one rule [s, end) allowed to who? */
static bool rule_covered(const struct wm_rbac_policy *p, const struct wm_rbac_who *who,
			 const char *s, const char *end, char *lack, size_t lacklen)
{
	const char *c1 = memchr(s, ':', (size_t)(end - s));
	const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
	char v[WM_RBAC_NAME_MAX + 1], r[WM_RBAC_NAME_MAX + 1], n[WM_RBAC_NAME_MAX + 1];

	if (!c1 || !c2) {
		snprintf(lack, lacklen, "(a malformed rule)");
		return false;
	}
	for (const char *vs = s; vs < c1;) {
		vs = next_item(vs, c1, v, sizeof(v));
		for (const char *rs = c1 + 1; rs < c2;) {
			rs = next_item(rs, c2, r, sizeof(r));
			/* An empty NAMES part grants every name, as "*" does:
			 * asking with "" needs the same of who. */
			const char *ns = c2 + 1;
			do {
				n[0] = '\0';
				if (ns < end)
					ns = next_item(ns, end, n, sizeof(n));
				if (!wm_rbac_allowed(p, who, v, r, n)) {
					bool every = !n[0] || strcmp(n, "*") == 0;
					snprintf(lack, lacklen, "%s %s%s%s", v, r, every ? "" : " ",
						 every ? "" : n);
					return false;
				}
			} while (ns < end);
		}
	}
	return true;
}

bool wm_rbac_covers(const struct wm_rbac_policy *p, const struct wm_rbac_who *who,
		    const char *rules, char *lack, size_t lacklen)
{
	char dummy[8];

	if (!lack || !lacklen) {
		lack = dummy;
		lacklen = sizeof(dummy);
	}
	lack[0] = '\0';
	if (!p || !who || !rules)
		return false;
	for (const char *s = rules; *s;) {
		const char *semi = strchr(s, ';');
		const char *end = semi ? semi : s + strlen(s);
		if (!rule_covered(p, who, s, end, lack, lacklen))
			return false;
		s = semi ? semi + 1 : end;
	}
	return true;
}

const char *wm_rbac_role_rules(const struct wm_rbac_policy *p, const char *name)
{
	for (size_t i = 0; p && name && i < p->n_roles; i++)
		if (strcmp(p->roles[i].name, name) == 0)
			return p->roles[i].rules;
	return NULL;
}

struct names_group {
	const char *name;
	size_t n;
};

static bool subject_is_group(void *ctx, enum wm_subject_kind k, const char *name, size_t n)
{
	const struct names_group *g = ctx;
	return k == WM_SUBJECT_GROUP && n == g->n && memcmp(name, g->name, n) == 0;
}

static bool subjects_name_group(const char *subjects, const char *group)
{
	struct names_group g = {group, strlen(group)};
	return subjects_any(subjects, subject_is_group, &g);
}

bool wm_rbac_group_covers(const struct wm_rbac_policy *p, const struct wm_rbac_who *who,
			  const char *group, char *lack, size_t lacklen, const char **role)
{
	/* Breadth first over the groups that contain group: level k holds the
	 * groups k steps out, as deep as membership is followed. A group seen
	 * once is not looked at again, so cycles cost nothing. */
	const char *level[2][64];
	size_t n_level[2] = {1, 0}, cur = 0;
	bool seen[256] = {false};
	char dummy[8];

	if (!lack || !lacklen) {
		lack = dummy;
		lacklen = sizeof(dummy);
	}
	lack[0] = '\0';
	if (role)
		*role = NULL;
	if (!p || !who || !group)
		return false;
	if (p->n_groups > sizeof(seen) / sizeof(seen[0])) {
		snprintf(lack, lacklen, "(more groups than can be checked: %zu)", p->n_groups);
		return false;
	}
	level[0][0] = group;
	for (int depth = 0; depth <= WM_RBAC_GROUP_DEPTH && n_level[cur]; depth++) {
		size_t nxt = 1 - cur;
		n_level[nxt] = 0;
		for (size_t g = 0; g < n_level[cur]; g++) {
			const char *name = level[cur][g];
			for (size_t i = 0; i < p->n_bindings; i++) {
				const struct wm_rbac_binding *b = &p->bindings[i];
				const char *rules = wm_rbac_role_rules(p, b->role);
				if (!rules || !subjects_name_group(b->subjects, name))
					continue;
				if (!wm_rbac_covers(p, who, rules, lack, lacklen)) {
					if (role)
						*role = b->role;
					return false;
				}
			}
			for (size_t i = 0; i < p->n_groups; i++) {
				if (seen[i] || !subjects_name_group(p->groups[i].subjects, name))
					continue;
				seen[i] = true;
				if (n_level[nxt] == sizeof(level[0]) / sizeof(level[0][0])) {
					snprintf(lack, lacklen,
						 "(too many groups contain group %.64s)", name);
					return false;
				}
				level[nxt][n_level[nxt]++] = p->groups[i].name;
			}
		}
		cur = nxt;
	}
	return true;
}

static void who_text(const struct wm_rbac_who *who, char *out, size_t len)
{
	const char *kind = who->kind == WM_ID_NODE   ? "node:"
			   : who->kind == WM_ID_USER ? "user:"
						     : "";
	snprintf(out, len, "%s%.253s", kind, who->id ? who->id : "");
}

void wm_rbac_explain(const struct wm_rbac_policy *p, const struct wm_rbac_who *who,
		     const char *verb, const char *resource, const char *name, char *out,
		     size_t len)
{
	char w[WM_RBAC_NAME_MAX + 8], bound[512] = "";
	size_t o = 0, n_bound = 0;
	const char *nm = name && *name ? name : "";

	if (!out || !len)
		return;
	out[0] = '\0';
	if (!p || !who || !verb || !resource)
		return;
	who_text(who, w, sizeof(w));
	for (size_t i = 0; i < p->n_bindings; i++) {
		const struct wm_rbac_binding *b = &p->bindings[i];
		if (!wm_rbac_subjects_match(p, b->subjects, who))
			continue;
		const char *rules = wm_rbac_role_rules(p, b->role);
		if (rules && rules_allow(rules, verb, resource, name)) {
			snprintf(out, len, "%s is allowed by role %s (role binding %s)", w, b->role,
				 b->name);
			return;
		}
		if (o < sizeof(bound)) {
			int k = snprintf(bound + o, sizeof(bound) - o, "%s%s (role binding %s%s)",
					 n_bound ? ", " : "", b->role, b->name,
					 rules ? "" : ", no such role");
			o = k < 0 ? sizeof(bound) : o + (size_t)k;
		}
		n_bound++;
	}
	if (!n_bound)
		snprintf(out, len,
			 "nothing binds %s: no role binding names it, a group it is in, or all; "
			 "it needs a role with the rule %s:%s:%s bound to it",
			 w, verb, resource, nm);
	else
		snprintf(out, len,
			 "%s is bound to %s, and none of these roles has a rule for %s %s%s%s; "
			 "it needs a role with the rule %s:%s:%s bound to it",
			 w, bound, verb, resource, *nm ? " " : "", nm, verb, resource, nm);
}
