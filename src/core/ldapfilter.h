/* RFC 4515 escaping of values put into LDAP search filters (pure). */
#ifndef WM_CORE_LDAPFILTER_H
#define WM_CORE_LDAPFILTER_H

#include <stddef.h>

/* Writes value into out as an RFC 4515 assertion value: '*', '(', ')', '\\'
 * and every byte below 0x20 or equal to 0x7f become \XX (two lower-case hex
 * digits), so that no input can add a wildcard or a filter component. Other
 * bytes (UTF-8 included) are copied. Returns the length written (without the
 * NUL), -ENOSPC when out is too small (out is then ""), -EINVAL for NULL.
 * An out of 3 * strlen(value) + 1 bytes is always enough. */
int wm_ldap_filter_escape(const char *value, char *out, size_t outlen);

/* Builds "(&(ATTR=ESCAPED)EXTRA)" or "(ATTR=ESCAPED)" when extra is NULL/"".
 * attr must be an attribute description (letters, digits, '-', ';' options
 * not allowed): -EINVAL otherwise. extra is a trusted filter from the
 * configuration (e.g. "(objectClass=person)"). -ENOSPC if out is too small. */
int wm_ldap_user_filter(const char *attr, const char *value, const char *extra, char *out,
			size_t outlen);

#endif
