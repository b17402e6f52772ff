/* The table the LDAP module (webmesh-ldap.so: ldap_module.c and libldap, with
 * its GnuTLS chain) exports, and through which the LDAP authenticator
 * (ldap.c) talks to a directory. The module only speaks LDAP; what a request
 * may ask for (the Basic header, the escaped filter, the ID's syntax) is
 * decided by ldap.c, in the daemon. Change the table or a struct: bump the ABI. */
#ifndef WM_AUTH_LDAP_MODULE_H
#define WM_AUTH_LDAP_MODULE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/module.h"

#define WM_LDAP_MODULE_NAME "webmesh-ldap"
#define WM_LDAP_MODULE_SYMBOL "wm_ldap_module_v1"
#define WM_LDAP_MODULE_ABI 1

/* Where the directory is and how to reach it. */
struct wm_ldap_server {
	const char *url;     /* ldap:// or ldaps:// */
	const char *bind_dn; /* service account, NULL = anonymous search */
	const char *bind_password;
	const char *base_dn;
	const char *ca_file; /* NULL = system CAs */
	bool starttls;
	unsigned timeout_seconds; /* > 0 */
};

/* One user to check. */
struct wm_ldap_query {
	const char *filter;  /* complete and already escaped (core/ldapfilter.h) */
	const char *id_attr; /* the attribute whose first value is returned */
	const char *disabled_attr, *disabled_value; /* NULL: no check */
	const char *password;			    /* not empty */
};

struct wm_ldap_module {
	struct wm_module_header header;
	/* 0 when libldap parses url as an LDAP URL, else -EINVAL. */
	int (*url_check)(const char *url);
	/* On its own connection: the service bind, a subtree search under
	 * base_dn for exactly one entry matching filter, the disabled check, the
	 * entry's id_attr (its first value, 1 to idlen - 1 bytes, copied into id
	 * unvalidated), then a bind as the entry with the password.
	 * 0 when all of it succeeded; -EACCES when the user is refused (why:
	 * "unknown user or wrong password", "the account is disabled", ...);
	 * -ETIMEDOUT or -EIO when the server cannot be used (why: which step
	 * and libldap's message). Never puts the password in why. Thread-safe. */
	int (*authenticate)(const struct wm_ldap_server *s, const struct wm_ldap_query *q, char *id,
			    size_t idlen, char *why, size_t whylen);
};

/* For programs that link the module's code instead of loading it (tests):
 * the table itself, in the library wm_auth_ldap_static, ... */
__attribute__((visibility("default"))) extern const struct wm_ldap_module wm_ldap_module_v1;
/* ... handed to the LDAP authenticator before wm_auth_ldap_new, which then
 * uses it instead of loading the module. */
void wm_auth_ldap_link(const struct wm_ldap_module *mod);

#endif
