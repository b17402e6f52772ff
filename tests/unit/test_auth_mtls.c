/* mTLS identities from certificates made here: good, expired, not yet valid,
 * another CA, wrong key usage, a CA as client (refused for being a CA, its
 * key usage fit for a client), no CN and two CNs, SAN identities, and the
 * pki files themselves. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "auth/auth.h"
#include "auth/pki.h"

static char dir[] = "/tmp/wm-test-mtls-XXXXXX";
static char other[] = "/tmp/wm-test-mtls-other-XXXXXX";

static X509 *load(const char *d, const char *id)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s.crt", d, id);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* DIR/NAME.crt signed by the mesh CA of dir, built here rather than by
 * wm_pki_issue so that the test decides every field: the subject's CNs
 * (NULL-terminated list; none at all is allowed: then O=webmesh), whether
 * it is a CA, and its key usages. */
static void make_cert(const char *name, const char *const *cns, bool ca, const char *ku,
		      const char *eku)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	X509 *cacert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	EVP_PKEY *cakey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(cacert);
	assert_non_null(cakey);

	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	assert_non_null(key);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(1000 + strlen(name)));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 30 * 86400);
	X509_NAME *subj = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(subj, "O", MBSTRING_ASC, (const unsigned char *)"webmesh", -1,
				   -1, 0);
	for (size_t i = 0; cns && cns[i]; i++)
		assert_int_equal(X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC,
							    (const unsigned char *)cns[i], -1, -1,
							    0),
				 1);
	X509_set_issuer_name(x, X509_get_subject_name(cacert));
	X509_set_pubkey(x, key);
	add_ext(x, cacert, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(x, cacert, NID_key_usage, ku);
	add_ext(x, cacert, NID_ext_key_usage, eku);
	add_ext(x, cacert, NID_subject_key_identifier, "hash");
	add_ext(x, cacert, NID_authority_key_identifier, "keyid:always");
	assert_true(X509_sign(x, cakey, EVP_sha256()) > 0);
	snprintf(path, sizeof(path), "%s/%s.crt", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	X509_free(cacert);
}

static int setup(void **state)
{
	(void)state;
	char err[256];
	assert_non_null(mkdtemp(dir));
	assert_non_null(mkdtemp(other));
	assert_int_equal(wm_pki_init(dir, 0, err, sizeof(err)), 0);
	assert_int_equal(wm_pki_init(other, 0, err, sizeof(err)), 0);
	struct wm_pki_issue_opts expired = {.not_before_offset = -10 * 86400,
					    .not_after_offset = -86400};
	struct wm_pki_issue_opts future = {.not_before_offset = 86400, .days = 30};
	struct wm_pki_issue_opts server_only = {.ext_key_usage = "serverAuth"};
	struct wm_pki_issue_opts enc_only = {.key_usage = "critical,keyEncipherment"};
	assert_int_equal(wm_pki_issue(dir, "node-a", NULL, err, sizeof(err)), 0);
	assert_int_equal(wm_pki_issue(dir, "old", &expired, err, sizeof(err)), 0);
	assert_int_equal(wm_pki_issue(dir, "early", &future, err, sizeof(err)), 0);
	assert_int_equal(wm_pki_issue(dir, "server-only", &server_only, err, sizeof(err)), 0);
	assert_int_equal(wm_pki_issue(dir, "enc-only", &enc_only, err, sizeof(err)), 0);
	assert_int_equal(wm_pki_issue(dir, "alice@example.com", NULL, err, sizeof(err)), 0);
	assert_int_equal(wm_pki_issue(other, "node-a", NULL, err, sizeof(err)), 0);
	/* A sub-CA whose key usage passes the client check: only the CA rule
	 * refuses it. */
	static const char *const sub_cn[] = {"sub-ca", NULL};
	make_cert("sub-ca", sub_cn, true, "critical,digitalSignature,keyCertSign", "clientAuth");
	/* The same, not a CA: accepted (the control for the line above). */
	make_cert("not-ca", sub_cn, false, "critical,digitalSignature", "clientAuth");
	static const char *const two_cn[] = {"node-a", "node-b", NULL};
	make_cert("two-cn", two_cn, false, "critical,digitalSignature", "clientAuth");
	make_cert("no-cn", NULL, false, "critical,digitalSignature", "clientAuth");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", dir, other);
	return system(cmd) == 0 ? 0 : -1;
}

static int check(const char *san, const char *d, const char *id, int64_t now,
		 struct wm_identity *out, char *why)
{
	char ca[512], err[256];
	struct wm_authenticator au;
	struct wm_auth *a;
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	assert_int_equal(wm_auth_new(NULL, &a), 0);
	assert_int_equal(wm_auth_mtls_new(ca, san, &au, err, sizeof(err)), 0);
	assert_int_equal(wm_auth_add(a, &au), 0);
	struct wm_auth_request req = {.now = now};
	if (id)
		req.peer_cert = load(d, id);
	int r = wm_auth_authenticate_sync(a, &req, out, why, 256);
	X509_free(req.peer_cert);
	wm_auth_free(a);
	return r;
}

static void test_good(void **state)
{
	(void)state;
	struct wm_identity id;
	char why[256];
	assert_int_equal(check(NULL, dir, "node-a", 0, &id, why), 0);
	assert_string_equal(id.id, "node-a");
	assert_string_equal(id.method, "mtls");
	assert_false(id.local);
	assert_int_equal(check("dns", dir, "node-a", 0, &id, why), 0);
	assert_string_equal(id.id, "node-a");
	assert_int_equal(check("email", dir, "alice@example.com", 0, &id, why), 0);
	assert_string_equal(id.id, "alice@example.com");
	/* node-a has a DNS SAN only */
	assert_int_equal(check("email", dir, "node-a", 0, &id, why), -EACCES);
	assert_non_null(strstr(why, "subjectAltName"));
}

static void test_refused(void **state)
{
	(void)state;
	struct wm_identity id;
	char why[256];
	int64_t now = (int64_t)time(NULL);
	assert_int_equal(check(NULL, dir, "old", 0, &id, why), -EACCES);
	assert_non_null(strstr(why, "expired"));
	assert_int_equal(check(NULL, dir, "early", 0, &id, why), -EACCES);
	assert_non_null(strstr(why, "not valid yet"));
	/* the same certificates at other request times */
	assert_int_equal(check(NULL, dir, "early", now + 2 * 86400, &id, why), 0);
	assert_int_equal(check(NULL, dir, "node-a", now + 200 * 86400, &id, why), -EACCES);
	assert_non_null(strstr(why, "expired"));
	assert_int_equal(check(NULL, other, "node-a", 0, &id, why), -EACCES);
	assert_non_null(strstr(why, "not signed by the mesh CA"));
	assert_int_equal(check(NULL, dir, "server-only", 0, &id, why), -EACCES);
	assert_non_null(strstr(why, "client authentication"));
	assert_int_equal(check(NULL, dir, "enc-only", 0, &id, why), -EACCES);
	assert_non_null(strstr(why, "client authentication"));
	assert_int_equal(check(NULL, dir, "ca", 0, &id, why), -EACCES);
	assert_string_equal(why, "mtls: the client certificate is not for TLS client "
				 "authentication (key usage)");
	/* A CA certificate fit for client authentication by its usages is still
	 * no client; the same certificate without CA:TRUE is one. */
	assert_int_equal(check(NULL, dir, "sub-ca", 0, &id, why), -EACCES);
	assert_string_equal(why, "mtls: a CA certificate cannot be a client certificate");
	assert_int_equal(check(NULL, dir, "not-ca", 0, &id, why), 0);
	assert_string_equal(id.id, "sub-ca");
	/* The identity is the one Subject CN: none, or two, is no identity. */
	assert_int_equal(check(NULL, dir, "two-cn", 0, &id, why), -EACCES);
	assert_string_equal(why, "mtls: the certificate needs exactly one Subject CN");
	assert_int_equal(check(NULL, dir, "no-cn", 0, &id, why), -EACCES);
	assert_string_equal(why, "mtls: the certificate needs exactly one Subject CN");
	assert_int_equal(check(NULL, dir, NULL, 0, &id, why), -EACCES);
	assert_non_null(strstr(why, "no credentials"));
}

static void test_pki_files(void **state)
{
	(void)state;
	char path[512], err[256], warn[256];
	struct stat st;
	snprintf(path, sizeof(path), "%s/node-a.key", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(wm_pki_init(dir, 0, err, sizeof(err)), -EEXIST);
	assert_int_equal(wm_pki_issue(dir, "node-a", NULL, err, sizeof(err)), -EEXIST);
	assert_int_equal(wm_pki_issue(dir, "bad id", NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(wm_pki_issue("/nonexistent-wm", "x", NULL, err, sizeof(err)), -ENOENT);
	/* expiry warnings: a 90-day leaf is fine now, not 80 days later */
	int64_t now = (int64_t)time(NULL), na;
	snprintf(path, sizeof(path), "%s/node-a.crt", dir);
	assert_int_equal(wm_pki_cert_not_after(path, &na), 0);
	assert_true(na > now + 89 * 86400 && na <= now + 90 * 86400 + 60);
	assert_int_equal(wm_pki_expiry_warning(path, now, WM_PKI_WARN_DAYS, warn, sizeof(warn)), 0);
	assert_int_equal(
		wm_pki_expiry_warning(path, now + 80 * 86400, WM_PKI_WARN_DAYS, warn, sizeof(warn)),
		1);
	assert_non_null(strstr(warn, "expires in"));
	snprintf(path, sizeof(path), "%s/old.crt", dir);
	assert_int_equal(wm_pki_expiry_warning(path, now, WM_PKI_WARN_DAYS, warn, sizeof(warn)), 1);
	assert_non_null(strstr(warn, "has expired"));
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	assert_int_equal(wm_pki_cert_not_after(path, &na), 0);
	assert_true(na > now + 364 * 86400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_pki_files),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
