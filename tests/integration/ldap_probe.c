/* A small client of the LDAP authenticator for tests/integration/test_ldap_auth.py:
 *   ldap_probe URL BASE-DN BIND-DN BIND-PASSWORD USER PASSWORD
 * (disabled users: employeeType=disabled; StartTLS off). Prints "OK ID" and
 * exits 0 when the user is accepted, "REFUSED reason" and exits 1 when
 * refused, "ERROR reason" and exits 2 when the server cannot be used. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/auth_int.h"
#include "auth/ldap_module.h"

int main(int argc, char **argv)
{
	struct wm_authenticator au;
	struct wm_identity id;
	struct wm_auth *a;
	char err[256], why[256], hdr[600], raw[300];
	struct wm_auth_client c;

	if (argc != 7) {
		fprintf(stderr, "usage: %s URL BASE-DN BIND-DN BIND-PASSWORD USER PASSWORD\n",
			argv[0]);
		return 64;
	}
	struct wm_auth_ldap_config lc = {
		.url = argv[1],
		.base_dn = argv[2],
		.bind_dn = argv[3],
		.bind_password = argv[4],
		.user_attr = "uid",
		.user_filter = "(objectClass=inetOrgPerson)",
		.id_attr = "uid",
		.disabled_attr = "employeeType",
		.disabled_value = "disabled",
		.timeout_seconds = 5,
	};
	wm_auth_ldap_link(&wm_ldap_module_v1);
	if (wm_auth_new(NULL, &a) < 0 || wm_auth_ldap_new(&lc, &au, err, sizeof(err)) < 0 ||
	    wm_auth_add(a, &au) < 0) {
		printf("ERROR %s\n", err);
		return 2;
	}
	(void)raw;
	/* The header the way a joiner builds it, so that the client side is
	 * exercised too; a user name with ':' cannot be sent as basic auth. */
	struct wm_auth_request req = {0};
	if (strchr(argv[5], ':')) {
		printf("REFUSED user name with ':'\n");
		return 1;
	}
	if (wm_auth_client_init(&c, argv[5], argv[6], NULL, err, sizeof(err)) < 0) {
		printf("ERROR %s\n", err);
		return 2;
	}
	snprintf(hdr, sizeof(hdr), "%s", c.authorization);
	req.authorization = hdr;
	int r = wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why));
	wm_auth_client_free(&c);
	wm_auth_free(a);
	if (r == 0) {
		printf("OK %s\n", id.id);
		return 0;
	}
	printf("%s %s\n", r == -EACCES ? "REFUSED" : "ERROR", why);
	return r == -EACCES ? 1 : 2;
}
