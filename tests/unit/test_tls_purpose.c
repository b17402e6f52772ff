/* "TLS means what it says": wmctl pki issue makes client-only certificates
 * unless asked for a server one, a client verifying with the CA file accepts
 * only a server certificate (in a real handshake between our own contexts),
 * and the self-signed certificate webmeshd makes is a server certificate. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "auth/pki.h"
#include "rpc/tls.h"

static char dir[] = "/tmp/wm-test-tls-purpose-XXXXXX";

static char *path(const char *name, const char *ext)
{
	static char buf[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s.%s", dir, name, ext);
	return buf[i];
}

static X509 *load(const char *name)
{
	FILE *f = fopen(path(name, "crt"), "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static int setup(void **state)
{
	(void)state;
	char err[256];
	const char *sans[] = {"127.0.0.1", "s1.example.com"};
	struct wm_pki_issue_opts server = {.server = true, .sans = sans, .n_sans = 2};
	assert_non_null(mkdtemp(dir));
	assert_int_equal(wm_pki_init(dir, 0, err, sizeof(err)), 0);
	assert_int_equal(wm_pki_issue(dir, "member", NULL, err, sizeof(err)), 0);
	assert_int_equal(wm_pki_issue(dir, "s1", &server, err, sizeof(err)), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_issue_purposes(void **state)
{
	(void)state;
	X509 *member = load("member"), *s1 = load("s1");
	assert_int_equal(X509_check_purpose(member, X509_PURPOSE_SSL_CLIENT, 0), 1);
	assert_int_equal(X509_check_purpose(member, X509_PURPOSE_SSL_SERVER, 0), 0);
	assert_int_equal(X509_check_purpose(s1, X509_PURPOSE_SSL_SERVER, 0), 1);
	/* A server calls other servers with the same certificate. */
	assert_int_equal(X509_check_purpose(s1, X509_PURPOSE_SSL_CLIENT, 0), 1);
	assert_int_equal(X509_check_host(s1, "s1", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(s1, "s1.example.com", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(s1, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(s1, "127.0.0.2", 0), 0);
	X509_free(member);
	X509_free(s1);
}

static void test_issue_bad_san(void **state)
{
	(void)state;
	char err[256] = "";
	const char *bad[] = {"no such name!"};
	struct wm_pki_issue_opts o = {.server = true, .sans = bad, .n_sans = 1};
	assert_int_equal(wm_pki_issue(dir, "s9", &o, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "invalid subject name \"no such name!\": expected an IP "
				 "address or a DNS name");
	assert_int_equal(access(path("s9", "key"), F_OK), -1); /* nothing written */
}

/* Drives a handshake between two contexts over memory BIOs; returns the
 * client's verify result (X509_V_OK when it accepted the server). */
static long handshake(SSL_CTX *sctx, SSL_CTX *cctx, int *client_ok)
{
	SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
	BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem());
	BIO *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
	char buf[16384];
	int cr = 0, sr = 0;

	assert_non_null(s);
	assert_non_null(c);
	SSL_set_bio(s, s_in, s_out);
	SSL_set_bio(c, c_in, c_out);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	for (int round = 0; round < 20 && (cr != 1 || sr != 1); round++) {
		cr = SSL_do_handshake(c);
		for (int n; (n = BIO_read(c_out, buf, sizeof(buf))) > 0;)
			BIO_write(s_in, buf, n);
		sr = SSL_do_handshake(s);
		for (int n; (n = BIO_read(s_out, buf, sizeof(buf))) > 0;)
			BIO_write(c_in, buf, n);
		if (cr <= 0 && SSL_get_error(c, cr) == SSL_ERROR_SSL)
			break;
	}
	*client_ok = cr == 1;
	long vr = SSL_get_verify_result(c);
	ERR_clear_error();
	SSL_free(s);
	SSL_free(c);
	return vr;
}

static SSL_CTX *server_with(const char *cert, const char *key)
{
	char err[256];
	struct wm_tls_server_opts o = {.cert_file = cert, .key_file = key};
	SSL_CTX *ctx = wm_tls_server_ctx_new(&o, err, sizeof(err));
	assert_non_null(ctx);
	return ctx;
}

static void test_client_accepts_only_server_certificates(void **state)
{
	(void)state;
	char err[256];
	struct wm_tls_client_opts co = {.ca_file = path("ca", "crt")};
	SSL_CTX *cctx = wm_tls_client_ctx_new(&co, err, sizeof(err));
	assert_non_null(cctx);
	int ok;

	SSL_CTX *member = server_with(path("member", "crt"), path("member", "key"));
	assert_int_equal(handshake(member, cctx, &ok), X509_V_ERR_INVALID_PURPOSE);
	assert_false(ok);
	SSL_CTX_free(member);

	SSL_CTX *s1 = server_with(path("s1", "crt"), path("s1", "key"));
	assert_int_equal(handshake(s1, cctx, &ok), X509_V_OK);
	assert_true(ok);
	SSL_CTX_free(s1);
	SSL_CTX_free(cctx);
}

static void test_self_signed_is_a_server_certificate(void **state)
{
	(void)state;
	char err[256];
	const char *ips[] = {"127.0.0.1"};
	assert_int_equal(wm_tls_ensure_self_signed(path("self", "crt"), path("self", "key"), "self",
						   ips, 1, err, sizeof(err)),
			 0);
	X509 *x = load("self");
	assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
	X509_free(x);
	/* Pinned, as a joiner with --join-fingerprint would. */
	char fp[WM_FINGERPRINT_LEN];
	assert_int_equal(wm_tls_cert_file_fingerprint(path("self", "crt"), fp), 0);
	struct wm_tls_client_opts co = {.pin_fingerprint = fp};
	SSL_CTX *cctx = wm_tls_client_ctx_new(&co, err, sizeof(err));
	assert_non_null(cctx);
	SSL_CTX *sctx = server_with(path("self", "crt"), path("self", "key"));
	int ok;
	assert_int_equal(handshake(sctx, cctx, &ok), X509_V_OK);
	assert_true(ok);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_purposes),
		cmocka_unit_test(test_issue_bad_san),
		cmocka_unit_test(test_client_accepts_only_server_certificates),
		cmocka_unit_test(test_self_signed_is_a_server_certificate),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
