/* LDAP authenticator: service bind, escaped search, disabled check, user bind. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <ldap.h>
#include <sodium.h>

#include "auth/auth_int.h"
#include "core/ldapfilter.h"

struct ldapauth {
	char *url, *bind_dn, *bind_password, *base_dn, *user_attr, *user_filter, *id_attr;
	char *disabled_attr, *disabled_value, *ca_file;
	bool starttls;
	unsigned timeout;
};

static int backend_err(int rc, const char *what, char *why, size_t whylen)
{
	snprintf(why, whylen, "LDAP %s failed: %s", what, ldap_err2string(rc));
	return rc == LDAP_TIMEOUT ? -ETIMEDOUT : -EIO;
}

/* A connection with timeouts, TLS settings and (if asked) StartTLS done. */
static int connect_ldap(const struct ldapauth *l, LDAP **out, char *why, size_t whylen)
{
	struct timeval tv = {.tv_sec = (time_t)l->timeout};
	int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0, rc;
	LDAP *ld = NULL;

	rc = ldap_initialize(&ld, l->url);
	if (rc != LDAP_SUCCESS)
		return backend_err(rc, "initialize", why, whylen);
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	/* Following a referral would send the password to another server. */
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
	if (l->ca_file)
		ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, l->ca_file);
	/* Per-handle TLS settings only take effect in a new context. */
	ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
	if (l->starttls) {
		rc = ldap_start_tls_s(ld, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			ldap_unbind_ext_s(ld, NULL, NULL);
			return backend_err(rc, "StartTLS", why, whylen);
		}
	}
	*out = ld;
	return 0;
}

static int simple_bind(LDAP *ld, const char *dn, const char *password)
{
	struct berval cred = {.bv_val = (char *)password,
			      .bv_len = password ? strlen(password) : 0};
	return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

static bool has_value(LDAP *ld, LDAPMessage *e, const char *attr, const char *value)
{
	struct berval **vals = ldap_get_values_len(ld, e, attr);
	bool found = false;
	size_t n = strlen(value);

	for (size_t i = 0; vals && vals[i]; i++)
		if (vals[i]->bv_len == n && strncasecmp(vals[i]->bv_val, value, n) == 0)
			found = true;
	ldap_value_free_len(vals);
	return found;
}

static int ldap_authenticate(void *self, const struct wm_auth_request *req, struct wm_identity *out,
			     char *why, size_t whylen)
{
	const struct ldapauth *l = self;
	char user[WM_AUTH_ID_MAX + 1], filter[1024], *pass = NULL, *dn = NULL;
	char *attrs[3] = {l->id_attr, l->disabled_attr, NULL};
	struct timeval tv = {.tv_sec = (time_t)l->timeout};
	LDAPMessage *res = NULL, *e;
	LDAP *ld = NULL;
	int r, rc;

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
	r = connect_ldap(l, &ld, why, whylen);
	if (r < 0)
		goto out;
	if (l->bind_dn) {
		rc = simple_bind(ld, l->bind_dn, l->bind_password);
		if (rc != LDAP_SUCCESS) {
			r = backend_err(rc, "service account bind", why, whylen);
			goto out;
		}
	}
	rc = ldap_search_ext_s(ld, l->base_dn, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL,
			       &tv, 2, &res);
	if (rc == LDAP_SIZELIMIT_EXCEEDED ||
	    (rc == LDAP_SUCCESS && ldap_count_entries(ld, res) > 1)) {
		snprintf(why, whylen, "the user name matches more than one entry");
		r = -EACCES;
		goto out;
	}
	if (rc != LDAP_SUCCESS) {
		r = backend_err(rc, "search", why, whylen);
		goto out;
	}
	e = ldap_first_entry(ld, res);
	if (!e) {
		snprintf(why, whylen, "unknown user or wrong password");
		r = -EACCES;
		goto out;
	}
	if (l->disabled_attr && has_value(ld, e, l->disabled_attr, l->disabled_value)) {
		snprintf(why, whylen, "the account is disabled");
		r = -EACCES;
		goto out;
	}
	struct berval **ids = ldap_get_values_len(ld, e, l->id_attr);
	if (!ids || !ids[0] || ids[0]->bv_len == 0 || ids[0]->bv_len > WM_AUTH_ID_MAX) {
		ldap_value_free_len(ids);
		snprintf(why, whylen, "the entry has no usable %s", l->id_attr);
		r = -EACCES;
		goto out;
	}
	memcpy(out->id, ids[0]->bv_val, ids[0]->bv_len);
	out->id[ids[0]->bv_len] = '\0';
	ldap_value_free_len(ids);
	if (wm_rbac_name_check(out->id, NULL) < 0) {
		snprintf(why, whylen, "the entry's %s is not a valid ID", l->id_attr);
		out->id[0] = '\0';
		r = -EACCES;
		goto out;
	}
	dn = ldap_get_dn(ld, e);
	if (!dn) {
		r = backend_err(LDAP_NO_MEMORY, "reading the DN", why, whylen);
		goto out;
	}
	rc = simple_bind(ld, dn, pass);
	if (rc == LDAP_INVALID_CREDENTIALS) {
		snprintf(why, whylen, "unknown user or wrong password");
		out->id[0] = '\0';
		r = -EACCES;
		goto out;
	}
	if (rc != LDAP_SUCCESS) {
		out->id[0] = '\0';
		r = rc == LDAP_UNWILLING_TO_PERFORM || rc == LDAP_INAPPROPRIATE_AUTH
			    ? (snprintf(why, whylen, "the server refused the user's bind"), -EACCES)
			    : backend_err(rc, "user bind", why, whylen);
		goto out;
	}
	out->kind = WM_ID_ANY;
	snprintf(out->method, sizeof(out->method), "ldap");
	r = 0;
out:
	if (dn)
		ldap_memfree(dn);
	if (res)
		ldap_msgfree(res);
	if (ld)
		ldap_unbind_ext_s(ld, NULL, NULL);
	wm_auth_wipe_free(pass);
	return r;
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

/* True for ldap://localhost, 127.x.y.z and [::1]: cleartext stays on the host. */
static bool loopback_url(const char *url)
{
	const char *h = url + 7;
	return strncmp(h, "localhost", 9) == 0 || strncmp(h, "127.", 4) == 0 ||
	       strncmp(h, "[::1]", 5) == 0;
}

int wm_auth_ldap_new(const struct wm_auth_ldap_config *c, struct wm_authenticator *out, char *err,
		     size_t errlen)
{
	struct ldapauth *l;
	LDAPURLDesc *desc = NULL;

	if (!c->url || !c->base_dn || !c->user_attr || !c->id_attr) {
		snprintf(err, errlen, "LDAP needs a URL, a base DN and the user and ID attributes");
		return -EINVAL;
	}
	if (ldap_url_parse(c->url, &desc) != LDAP_URL_SUCCESS) {
		snprintf(err, errlen, "\"%s\" is not an LDAP URL", c->url);
		return -EINVAL;
	}
	ldap_free_urldesc(desc);
	if (strncmp(c->url, "ldap://", 7) == 0 && !c->starttls && !loopback_url(c->url)) {
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
	l->starttls = c->starttls;
	l->timeout = c->timeout_seconds ? c->timeout_seconds : 5;
	out->ops = &ldap_ops;
	out->self = l;
	return 0;
}
