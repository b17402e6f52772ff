/* Unit tests of TLS helpers (src/rpc/tls.c): self-signed generation, key file
 * mode, fingerprints, context options. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "rpc/tls.h"

struct dir {
	char path[64];
	char cert[96];
	char key[96];
};

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));
	strcpy(d->path, "/tmp/wm-rpc-tls-XXXXXX");
	if (!mkdtemp(d->path))
		return -1;
	snprintf(d->cert, sizeof(d->cert), "%s/tls.crt", d->path);
	snprintf(d->key, sizeof(d->key), "%s/tls.key", d->path);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dir *d = *state;
	unlink(d->cert);
	unlink(d->key);
	rmdir(d->path);
	free(d);
	return 0;
}

static X509 *load(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static void test_self_signed(void **state)
{
	struct dir *d = *state;
	char err[256] = "";
	const char *ips[] = {"127.0.0.1", "::1"};
	assert_int_equal(
		wm_tls_ensure_self_signed(d->cert, d->key, "node-1", ips, 2, err, sizeof(err)), 0);
	struct stat st;
	assert_int_equal(stat(d->key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(d->cert, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);

	X509 *x = load(d->cert);
	assert_int_equal(X509_check_host(x, "node-1", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(x, "other", 0, 0, NULL), 0);
	assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "::1", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "10.0.0.1", 0), 0);
	EVP_PKEY *pub = X509_get0_pubkey(x);
	assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
	char group[32];
	size_t glen = 0;
	assert_int_equal(EVP_PKEY_get_group_name(pub, group, sizeof(group), &glen), 1);
	assert_string_equal(group, "prime256v1");
	assert_int_equal(X509_verify(x, pub), 1); /* self-signed */

	/* Fingerprint: sha256 over DER, lower-case hex. */
	unsigned char *der = NULL;
	int derlen = i2d_X509(x, &der);
	unsigned char md[32];
	SHA256(der, (size_t)derlen, md);
	char want[WM_FINGERPRINT_LEN] = "sha256:";
	for (int i = 0; i < 32; i++)
		snprintf(want + 7 + 2 * i, 3, "%02x", md[i]);
	OPENSSL_free(der);
	char fp[WM_FINGERPRINT_LEN], fp2[WM_FINGERPRINT_LEN];
	assert_int_equal(wm_tls_cert_fingerprint(x, fp), 0);
	assert_string_equal(fp, want);
	assert_int_equal(strlen(fp), 71);
	assert_int_equal(wm_tls_cert_file_fingerprint(d->cert, fp2), 0);
	assert_string_equal(fp, fp2);
	X509_free(x);

	/* Existing files are left alone. */
	assert_int_equal(
		wm_tls_ensure_self_signed(d->cert, d->key, "node-2", NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(wm_tls_cert_file_fingerprint(d->cert, fp2), 0);
	assert_string_equal(fp, fp2);

	/* Contexts build from it. */
	struct wm_tls_server_opts so = {.cert_file = d->cert, .key_file = d->key};
	SSL_CTX *s = wm_tls_server_ctx_new(&so, err, sizeof(err));
	assert_non_null(s);
	SSL_CTX_free(s);
	struct wm_tls_client_opts co = {.pin_fingerprint = fp};
	SSL_CTX *c = wm_tls_client_ctx_new(&co, err, sizeof(err));
	assert_non_null(c);
	SSL_CTX_free(c);
	co = (struct wm_tls_client_opts){.ca_file = d->cert, .verify_name = "node-1"};
	c = wm_tls_client_ctx_new(&co, err, sizeof(err));
	assert_non_null(c);
	SSL_CTX_free(c);
	co = (struct wm_tls_client_opts){.insecure_skip_verify = true, .verify_name = "::1"};
	c = wm_tls_client_ctx_new(&co, err, sizeof(err));
	assert_non_null(c);
	SSL_CTX_free(c);
}

static void test_self_signed_errors(void **state)
{
	struct dir *d = *state;
	char err[256] = "";
	const char *bad_ip[] = {"300.1.1.1"};
	assert_int_equal(
		wm_tls_ensure_self_signed(d->cert, d->key, "n", bad_ip, 1, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "300.1.1.1"));
	assert_int_equal(access(d->key, F_OK), -1);
	assert_int_equal(access(d->cert, F_OK), -1);
	assert_int_equal(wm_tls_ensure_self_signed(d->cert, d->key, "", NULL, 0, err, sizeof(err)),
			 -EINVAL);

	/* Only one of the two present: refused, nothing overwritten. */
	FILE *f = fopen(d->key, "w");
	fputs("x", f);
	fclose(f);
	assert_int_equal(wm_tls_ensure_self_signed(d->cert, d->key, "n", NULL, 0, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "tls.key"));
	unlink(d->key);

	/* Missing directory. */
	err[0] = 0;
	assert_int_equal(wm_tls_ensure_self_signed("/nonexistent-wm/c", "/nonexistent-wm/k", "n",
						   NULL, 0, err, sizeof(err)),
			 -ENOENT);
	assert_true(err[0] != 0);
	char fp[WM_FINGERPRINT_LEN];
	assert_int_equal(wm_tls_cert_file_fingerprint("/nonexistent-wm/c", fp), -ENOENT);
}

static void test_client_opts(void **state)
{
	(void)state;
	char err[256];
	struct wm_tls_client_opts none = {0};
	assert_null(wm_tls_client_ctx_new(&none, err, sizeof(err)));
	assert_non_null(strstr(err, "exactly one"));
	struct wm_tls_client_opts two = {.ca_file = "/x", .insecure_skip_verify = true};
	assert_null(wm_tls_client_ctx_new(&two, err, sizeof(err)));
	struct wm_tls_client_opts badpin = {.pin_fingerprint = "sha256:abc"};
	assert_null(wm_tls_client_ctx_new(&badpin, err, sizeof(err)));
	assert_non_null(strstr(err, "fingerprint"));
	/* Upper-case digits are taken; the prefix is written as we print it
	 * (core/key.h: wm_fingerprint_parse, the rule --join-fingerprint uses). */
	struct wm_tls_client_opts upper = {
		.pin_fingerprint =
			"sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"};
	SSL_CTX *c = wm_tls_client_ctx_new(&upper, err, sizeof(err));
	assert_non_null(c);
	SSL_CTX_free(c);
	upper.pin_fingerprint =
		"SHA256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef";
	assert_null(wm_tls_client_ctx_new(&upper, err, sizeof(err)));
	assert_non_null(strstr(err, "fingerprint"));
	struct wm_tls_client_opts nofile = {.ca_file = "/nonexistent-wm/ca.pem"};
	assert_null(wm_tls_client_ctx_new(&nofile, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent-wm/ca.pem"));
	struct wm_tls_server_opts so = {.cert_file = "/nonexistent-wm/c", .key_file = "/x"};
	assert_null(wm_tls_server_ctx_new(&so, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent-wm/c"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_self_signed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_signed_errors, setup, teardown),
		cmocka_unit_test(test_client_opts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
