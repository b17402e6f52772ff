/* The mesh's authentication settings (core/meshauth.c): the methods' text
 * form, what a stored record may hold, and the check that a server enforces
 * exactly the mesh's methods, with the message naming what to change. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/meshauth.h"

#define CA_A "sha256:aa112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define CA_B "sha256:bb112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void test_methods_text(void **state)
{
	(void)state;
	char out[WM_MESH_AUTH_TEXT_MAX];
	unsigned m = 99;
	wm_mesh_auth_methods_format(0, out);
	assert_string_equal(out, "open");
	wm_mesh_auth_methods_format(WM_MESH_AUTH_ALL, out);
	assert_string_equal(out, "mtls,basic,ldap,key,plugin");
	wm_mesh_auth_methods_format(WM_MESH_AUTH_KEY | WM_MESH_AUTH_BASIC, out);
	assert_string_equal(out, "basic,key");
	assert_int_equal(wm_mesh_auth_methods_parse("basic,key", &m), 0);
	assert_int_equal(m, WM_MESH_AUTH_KEY | WM_MESH_AUTH_BASIC);
	assert_int_equal(wm_mesh_auth_methods_parse("open", &m), 0);
	assert_int_equal(m, 0);
	assert_int_equal(wm_mesh_auth_methods_parse("key,mtls,plugin,ldap,basic", &m), 0);
	assert_int_equal(m, WM_MESH_AUTH_ALL);
	static const char *bad[] = {"",	     "none", "open,mtls",  "mtls,mtls", "mtls,",
				    ",mtls", "MTLS", "mtls basic", "keys"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = 77;
		assert_int_equal(wm_mesh_auth_methods_parse(bad[i], &m), -EINVAL);
		assert_int_equal(m, 77);
	}
	assert_int_equal(wm_mesh_auth_methods_parse(NULL, &m), -EINVAL);
}

static void test_valid(void **state)
{
	(void)state;
	struct wm_mesh_auth a = {WM_MESH_AUTH_MTLS, CA_A, true};
	assert_int_equal(wm_mesh_auth_valid(&a), 0);
	struct wm_mesh_auth open = {0, "", false};
	assert_int_equal(wm_mesh_auth_valid(&open), 0);
	struct wm_mesh_auth no_fp = {WM_MESH_AUTH_MTLS, "", true};
	assert_int_equal(wm_mesh_auth_valid(&no_fp), -EINVAL);
	struct wm_mesh_auth fp_without_mtls = {WM_MESH_AUTH_BASIC, CA_A, true};
	assert_int_equal(wm_mesh_auth_valid(&fp_without_mtls), -EINVAL);
	struct wm_mesh_auth upper = {WM_MESH_AUTH_MTLS,
				     "sha256:AA112233445566778899aabbccddeeff00112233445566778899"
				     "aabbccddeeff",
				     true};
	assert_int_equal(wm_mesh_auth_valid(&upper), -EINVAL);
	struct wm_mesh_auth open_rbac = {0, "", true};
	assert_int_equal(wm_mesh_auth_valid(&open_rbac), -EINVAL);
	struct wm_mesh_auth auth_no_rbac = {WM_MESH_AUTH_KEY, "", false};
	assert_int_equal(wm_mesh_auth_valid(&auth_no_rbac), -EINVAL);
	struct wm_mesh_auth unknown = {1u << 7, "", true};
	assert_int_equal(wm_mesh_auth_valid(&unknown), -EINVAL);
}

static int check(const struct wm_mesh_auth *mesh, unsigned methods, const char *fp, char *err,
		 size_t len)
{
	struct wm_mesh_auth_local l = {.ca_file = "pki/ca.crt"};
	l.auth.methods = methods;
	snprintf(l.auth.ca_fingerprint, sizeof(l.auth.ca_fingerprint), "%s", fp);
	l.auth.rbac = methods != 0;
	err[0] = '\0';
	return wm_mesh_auth_check(mesh, &l, err, len);
}

static void test_check(void **state)
{
	(void)state;
	char err[400];
	struct wm_mesh_auth mtls = {WM_MESH_AUTH_MTLS, CA_A, true};

	assert_int_equal(check(&mtls, WM_MESH_AUTH_MTLS, CA_A, err, sizeof(err)), 0);
	/* The README's old voter join: --ca-file and a certificate, no --mtls. */
	assert_int_equal(check(&mtls, 0, "", err, sizeof(err)), -EPERM);
	assert_string_equal(err, "the mesh uses mTLS: start this server with --mtls --ca-file "
				 "FILE (CA fingerprint " CA_A ")");
	assert_int_equal(check(&mtls, WM_MESH_AUTH_MTLS, CA_B, err, sizeof(err)), -EPERM);
	assert_string_equal(err, "the mesh's mTLS CA is " CA_A " but --ca-file pki/ca.crt is " CA_B
				 ": give the mesh's CA certificate");
	assert_int_equal(
		check(&mtls, WM_MESH_AUTH_MTLS | WM_MESH_AUTH_BASIC, CA_A, err, sizeof(err)),
		-EPERM);
	assert_string_equal(err, "this server enables basic auth (--basic-auth-file) but the mesh "
				 "does not use it (the mesh uses: mtls): remove --basic-auth-file");

	struct wm_mesh_auth two = {WM_MESH_AUTH_BASIC | WM_MESH_AUTH_LDAP, "", true};
	assert_int_equal(check(&two, WM_MESH_AUTH_BASIC | WM_MESH_AUTH_LDAP, "", err, sizeof(err)),
			 0);
	assert_int_equal(check(&two, WM_MESH_AUTH_BASIC, "", err, sizeof(err)), -EPERM);
	assert_string_equal(err, "the mesh uses LDAP: start this server with --ldap-url URL (and "
				 "the mesh's --ldap-* settings)");
	assert_int_equal(check(&two, WM_MESH_AUTH_LDAP, "", err, sizeof(err)), -EPERM);
	assert_string_equal(err, "the mesh uses basic auth: start this server with "
				 "--basic-auth-file FILE (the mesh's htpasswd)");
	struct wm_mesh_auth key = {WM_MESH_AUTH_KEY, "", true};
	assert_int_equal(check(&key, 0, "", err, sizeof(err)), -EPERM);
	assert_string_equal(err, "the mesh uses key auth: start this server with "
				 "--key-auth-keys-file FILE");

	/* An open mesh is open on every server: a server enforcing more would
	 * split the mesh into parts that accept different callers. */
	struct wm_mesh_auth open = {0, "", false};
	assert_int_equal(check(&open, 0, "", err, sizeof(err)), 0);
	assert_int_equal(check(&open, WM_MESH_AUTH_KEY, "", err, sizeof(err)), -EPERM);
	assert_string_equal(err, "this server enables key auth (--key-auth-keys-file) but the mesh "
				 "does not use it (the mesh uses: open): remove "
				 "--key-auth-keys-file");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_methods_text),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
