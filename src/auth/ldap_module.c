/* The LDAP module (webmesh-ldap.so): the libldap client behind the LDAP
 * authenticator - connection, service bind, search, disabled check, user bind.
 * Its one exported symbol is the table of ldap_module.h. */
#include "auth/ldap_module.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <ldap.h>

static int backend_err(int rc, const char *what, char *why, size_t whylen)
{
	snprintf(why, whylen, "LDAP %s failed: %s", what, ldap_err2string(rc));
	return rc == LDAP_TIMEOUT ? -ETIMEDOUT : -EIO;
}

static int refuse(const char *reason, char *why, size_t whylen)
{
	snprintf(why, whylen, "%s", reason);
	return -EACCES;
}

/* A connection with timeouts, TLS settings and (if asked) StartTLS done. */
static int connect_ldap(const struct wm_ldap_server *s, LDAP **out, char *why, size_t whylen)
{
	struct timeval tv = {.tv_sec = (time_t)s->timeout_seconds};
	int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0, rc;
	LDAP *ld = NULL;

	rc = ldap_initialize(&ld, s->url);
	if (rc != LDAP_SUCCESS)
		return backend_err(rc, "initialize", why, whylen);
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	/* Following a referral would send the password to another server. */
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
	if (s->ca_file)
		ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, s->ca_file);
	/* Per-handle TLS settings only take effect in a new context. */
	ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
	if (s->starttls) {
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

/* The entry's first id_attr value into id, or -EACCES. */
static int entry_id(LDAP *ld, LDAPMessage *e, const char *id_attr, char *id, size_t idlen,
		    char *why, size_t whylen)
{
	struct berval **ids = ldap_get_values_len(ld, e, id_attr);
	int r = 0;

	if (!ids || !ids[0] || ids[0]->bv_len == 0 || ids[0]->bv_len >= idlen ||
	    memchr(ids[0]->bv_val, '\0', ids[0]->bv_len)) {
		snprintf(why, whylen, "the entry has no usable %s", id_attr);
		r = -EACCES;
	} else {
		memcpy(id, ids[0]->bv_val, ids[0]->bv_len);
		id[ids[0]->bv_len] = '\0';
	}
	ldap_value_free_len(ids);
	return r;
}

static int ldap_module_authenticate(const struct wm_ldap_server *s, const struct wm_ldap_query *q,
				    char *id, size_t idlen, char *why, size_t whylen)
{
	char *attrs[3] = {(char *)q->id_attr, (char *)q->disabled_attr, NULL};
	struct timeval tv = {.tv_sec = (time_t)s->timeout_seconds};
	LDAPMessage *res = NULL, *e;
	LDAP *ld = NULL;
	char *dn = NULL;
	int r, rc;

	id[0] = '\0';
	if (!q->password || !*q->password) /* an unauthenticated bind (RFC 4513 5.1.2) */
		return refuse("empty password", why, whylen);
	r = connect_ldap(s, &ld, why, whylen);
	if (r < 0)
		return r;
	if (s->bind_dn) {
		rc = simple_bind(ld, s->bind_dn, s->bind_password);
		if (rc != LDAP_SUCCESS) {
			r = backend_err(rc, "service account bind", why, whylen);
			goto out;
		}
	}
	rc = ldap_search_ext_s(ld, s->base_dn, LDAP_SCOPE_SUBTREE, q->filter, attrs, 0, NULL, NULL,
			       &tv, 2, &res);
	if (rc == LDAP_SIZELIMIT_EXCEEDED ||
	    (rc == LDAP_SUCCESS && ldap_count_entries(ld, res) > 1)) {
		r = refuse("the user name matches more than one entry", why, whylen);
		goto out;
	}
	if (rc != LDAP_SUCCESS) {
		r = backend_err(rc, "search", why, whylen);
		goto out;
	}
	e = ldap_first_entry(ld, res);
	if (!e) {
		r = refuse("unknown user or wrong password", why, whylen);
		goto out;
	}
	if (q->disabled_attr && has_value(ld, e, q->disabled_attr, q->disabled_value)) {
		r = refuse("the account is disabled", why, whylen);
		goto out;
	}
	r = entry_id(ld, e, q->id_attr, id, idlen, why, whylen);
	if (r < 0)
		goto out;
	dn = ldap_get_dn(ld, e);
	if (!dn) {
		r = backend_err(LDAP_NO_MEMORY, "reading the DN", why, whylen);
		goto out;
	}
	rc = simple_bind(ld, dn, q->password);
	if (rc == LDAP_INVALID_CREDENTIALS)
		r = refuse("unknown user or wrong password", why, whylen);
	else if (rc == LDAP_UNWILLING_TO_PERFORM || rc == LDAP_INAPPROPRIATE_AUTH)
		r = refuse("the server refused the user's bind", why, whylen);
	else if (rc != LDAP_SUCCESS)
		r = backend_err(rc, "user bind", why, whylen);
	else
		r = 0;
out:
	if (r < 0)
		id[0] = '\0';
	if (dn)
		ldap_memfree(dn);
	if (res)
		ldap_msgfree(res);
	ldap_unbind_ext_s(ld, NULL, NULL);
	return r;
}

static int ldap_module_url_check(const char *url)
{
	LDAPURLDesc *desc = NULL;

	if (ldap_url_parse(url, &desc) != LDAP_URL_SUCCESS)
		return -EINVAL;
	ldap_free_urldesc(desc);
	return 0;
}

__attribute__((visibility("default"))) const struct wm_ldap_module wm_ldap_module_v1 = {
	.header = {.abi = WM_LDAP_MODULE_ABI, .size = sizeof(struct wm_ldap_module)},
	.url_check = ldap_module_url_check,
	.authenticate = ldap_module_authenticate,
};
