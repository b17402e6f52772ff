/* LDAP authenticator: the Basic header, the escaped filter and the ID's
 * syntax are checked here; the LDAP protocol itself runs in the webmesh-ldap
 * module (ldap_module.h), loaded when LDAP is configured, so that a node
 * without LDAP carries neither libldap nor its GnuTLS chain. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth_int.h"
#include "auth/ldap_module.h"
#include "core/ldapfilter.h"

struct ldapauth {
	const struct wm_ldap_module *mod;
	struct wm_ldap_server server;
	char *url, *bind_dn, *bind_password, *base_dn, *user_attr, *user_filter, *id_attr;
	char *disabled_attr, *disabled_value, *ca_file;
};

/* Set by wm_auth_ldap_link: the table linked into this program. */
static const struct wm_ldap_module *linked;

void wm_auth_ldap_link(const struct wm_ldap_module *mod)
{
	linked = mod;
}

static int ldap_authenticate(void *self, const struct wm_auth_request *req, struct wm_identity *out,
			     char *why, size_t whylen)
{
	const struct ldapauth *l = self;
	char user[WM_AUTH_ID_MAX + 1], filter[1024], *pass = NULL;
	int r;

	r = wm_auth_parse_basic(req->authorization, user, sizeof(user), &pass);
	if (r == -ENOENT)
		return -ENOENT;
	if (r < 0) {
		snprintf(why, whylen, "malformed authorization header");
		return -EACCES;
	}
	if (!*pass) {
		/* RFC 4513 5.1.2: a simple bind with an empty password is an
		 * unauthenticated bind, which many servers let succeed. */
		wm_auth_wipe_free(pass);
		snprintf(why, whylen, "empty password");
		return -EACCES;
	}
	if (wm_ldap_user_filter(l->user_attr, user, l->user_filter, filter, sizeof(filter)) < 0) {
		wm_auth_wipe_free(pass);
		snprintf(why, whylen, "the user name cannot be searched for");
		return -EACCES;
	}
	struct wm_ldap_query q = {.filter = filter,
				  .id_attr = l->id_attr,
				  .disabled_attr = l->disabled_attr,
				  .disabled_value = l->disabled_value,
				  .password = pass};
	r = l->mod->authenticate(&l->server, &q, out->id, sizeof(out->id), why, whylen);
	wm_auth_wipe_free(pass);
	if (r < 0) {
		out->id[0] = '\0';
		return r;
	}
	if (wm_rbac_name_check(out->id, NULL) < 0) {
		snprintf(why, whylen, "the entry's %s is not a valid ID", l->id_attr);
		out->id[0] = '\0';
		return -EACCES;
	}
	out->kind = WM_ID_USER;
	snprintf(out->method, sizeof(out->method), "ldap");
	return 0;
}

static void ldap_free_self(void *self)
{
	struct ldapauth *l = self;
	if (!l)
		return;
	free(l->url);
	free(l->bind_dn);
	wm_auth_wipe_free(l->bind_password);
	free(l->base_dn);
	free(l->user_attr);
	free(l->user_filter);
	free(l->id_attr);
	free(l->disabled_attr);
	free(l->disabled_value);
	free(l->ca_file);
	free(l);
}

static const struct wm_authenticator_ops ldap_ops = {
	.name = "ldap",
	.authenticate = ldap_authenticate,
	.free = ldap_free_self,
};

static bool dup_ok(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return !src || *dst;
}

int wm_auth_ldap_new(const struct wm_auth_ldap_config *c, struct wm_authenticator *out, char *err,
		     size_t errlen)
{
	const struct wm_ldap_module *mod = linked;
	struct ldapauth *l;
	char why[512];

	if (!c->url || !c->base_dn || !c->user_attr || !c->id_attr) {
		snprintf(err, errlen, "LDAP needs a URL, a base DN and the user and ID attributes");
		return -EINVAL;
	}
	if (!mod) {
		mod = wm_module_load(WM_LDAP_MODULE_NAME, WM_LDAP_MODULE_SYMBOL, WM_LDAP_MODULE_ABI,
				     sizeof(*mod), why, sizeof(why));
		if (!mod) {
			snprintf(err, errlen, "LDAP authentication needs the module %s.so: %s",
				 WM_LDAP_MODULE_NAME, why);
			return -ENOENT;
		}
	}
	if (mod->url_check(c->url) < 0) {
		snprintf(err, errlen, "\"%s\" is not an LDAP URL", c->url);
		return -EINVAL;
	}
	/* Clear text only to this host: the scheme is matched in any case, as
	 * libldap does, so "LDAP://host" is no way around the check. */
	if (strncasecmp(c->url, "ldaps://", 8) != 0 && !c->starttls &&
	    !wm_ldap_url_is_loopback(c->url)) {
		snprintf(err, errlen,
			 "%s would send passwords in clear text: use ldaps:// or ldap-starttls",
			 c->url);
		return -EINVAL;
	}
	if (!c->disabled_attr != !c->disabled_value) {
		snprintf(err, errlen, "the disabled attribute and value go together");
		return -EINVAL;
	}
	char probe[64];
	if (wm_ldap_user_filter(c->user_attr, "x", c->user_filter, probe, sizeof(probe)) ==
		    -EINVAL ||
	    wm_ldap_user_filter(c->id_attr, "x", NULL, probe, sizeof(probe)) == -EINVAL) {
		snprintf(err, errlen, "invalid user or ID attribute name");
		return -EINVAL;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	if (!dup_ok(&l->url, c->url) || !dup_ok(&l->bind_dn, c->bind_dn) ||
	    !dup_ok(&l->bind_password, c->bind_password) || !dup_ok(&l->base_dn, c->base_dn) ||
	    !dup_ok(&l->user_attr, c->user_attr) || !dup_ok(&l->user_filter, c->user_filter) ||
	    !dup_ok(&l->id_attr, c->id_attr) || !dup_ok(&l->disabled_attr, c->disabled_attr) ||
	    !dup_ok(&l->disabled_value, c->disabled_value) || !dup_ok(&l->ca_file, c->ca_file)) {
		ldap_free_self(l);
		return -ENOMEM;
	}
	l->mod = mod;
	l->server = (struct wm_ldap_server){
		.url = l->url,
		.bind_dn = l->bind_dn,
		.bind_password = l->bind_password,
		.base_dn = l->base_dn,
		.ca_file = l->ca_file,
		.starttls = c->starttls,
		.timeout_seconds = c->timeout_seconds ? c->timeout_seconds : 5,
	};
	out->ops = &ldap_ops;
	out->self = l;
	return 0;
}
