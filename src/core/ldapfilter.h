/* RFC 4515 escaping of values put into LDAP search filters (pure). */
#ifndef WM_CORE_LDAPFILTER_H
#define WM_CORE_LDAPFILTER_H

#include <stdbool.h>
#include <stddef.h>

/* Writes value into out as an RFC 4515 assertion value: '*', '(', ')', '\\'
 * and every byte below 0x20 or equal to 0x7f become \XX (two lower-case hex
 * digits), so that no input can add a wildcard or a filter component. Other
 * bytes (UTF-8 included) are copied. Returns the length written (without the
 * NUL), -ENOSPC when out is too small (out is then ""), -EINVAL for NULL.
 * An out of 3 * strlen(value) + 1 bytes is always enough. */
int wm_ldap_filter_escape(const char *value, char *out, size_t outlen);

/* An attribute name as the configuration gives them (ldap-*-attr): an RFC
 * 4512 descr, a letter then letters, digits and '-', at most 64 characters.
 * Numeric OIDs are refused: every attribute a user directory needs has a
 * name, and one rule serves the config and the filter builder. */
#define WM_LDAP_ATTR_MAX 64
bool wm_ldap_attr_ok(const char *attr);

/* Builds "(&(ATTR=ESCAPED)EXTRA)" or "(ATTR=ESCAPED)" when extra is NULL/"".
 * attr must pass wm_ldap_attr_ok: -EINVAL otherwise. extra is a trusted filter from the
 * configuration (e.g. "(objectClass=person)"). -ENOSPC if out is too small. */
int wm_ldap_user_filter(const char *attr, const char *value, const char *extra, char *out,
			size_t outlen);

/* True when url is one ldap:// URL whose host is exactly this machine:
 * "localhost" (any case), an IPv4 literal in 127.0.0.0/8 (four decimal
 * parts), or the IPv6 literal ::1 in brackets; an optional ":PORT" (digits)
 * and then the end, '/' or '?' may follow. Anything else is false: another
 * scheme, a host that only starts like those (localhost.evil.example,
 * 127.example.com), user info, percent-escapes, whitespace (libldap takes a
 * space-separated list of URLs). Clear text is allowed only to such hosts. */
bool wm_ldap_url_is_loopback(const char *url);

#endif
