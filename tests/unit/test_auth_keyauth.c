/* Ed25519 key auth end to end: a generated key, the client's headers, the
 * server's check; skew, another key, an unlisted node, tampering. */
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

#include "auth/auth.h"
#include "auth/auth_int.h"
#include "util/crypto.h"

static char dir[] = "/tmp/wm-test-keyauth-XXXXXX";

/* Two servers' certificate fingerprints: the audiences of the signatures. */
#define SRV_A "sha256:aa112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define SRV_B "sha256:bb112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void req_from_md(struct wm_auth_request *req, struct wm_rpc_metadata *md, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(md[i].key, "x-webmesh-key-id") == 0)
			req->key_id = md[i].value;
		else if (strcmp(md[i].key, "x-webmesh-key-window") == 0)
			req->key_window = md[i].value;
		else if (strcmp(md[i].key, "x-webmesh-key-sig") == 0)
			req->key_sig = md[i].value;
		else if (strcmp(md[i].key, "x-webmesh-key-audience") == 0)
			req->key_audience = md[i].value;
		else if (strcmp(md[i].key, "authorization") == 0)
			req->authorization = md[i].value;
	}
}

static void test_keyauth(void **state)
{
	(void)state;
	char key1[128], key2[128], keys[128], pub1[45], pub2[45], err[256], why[256];
	struct wm_auth_client c1, c2;
	struct wm_rpc_metadata md[WM_AUTH_CLIENT_MD_MAX];
	struct wm_authenticator au;
	struct wm_identity id;
	struct wm_auth *a;
	struct stat st;

	assert_non_null(mkdtemp(dir));
	snprintf(key1, sizeof(key1), "%s/node-a.key", dir);
	snprintf(key2, sizeof(key2), "%s/other.key", dir);
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	assert_int_equal(wm_auth_key_generate(key1, pub1, err, sizeof(err)), 0);
	assert_int_equal(wm_auth_key_generate(key2, pub2, err, sizeof(err)), 0);
	assert_int_equal(wm_auth_key_generate(key1, pub1, err, sizeof(err)), -EEXIST);
	assert_int_equal(stat(key1, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	FILE *f = fopen(keys, "w");
	fprintf(f, "# allowed node keys\nnode-a %s\n\nnode-b %s\n", pub1, pub2);
	fclose(f);

	assert_int_equal(wm_auth_new(NULL, &a), 0);
	assert_int_equal(wm_auth_key_new(keys, 30, &au, err, sizeof(err)), 0);
	assert_int_equal(wm_auth_add(a, &au), 0);
	assert_int_equal(wm_auth_client_init(&c1, NULL, NULL, key1, err, sizeof(err)), 0);
	assert_int_equal(wm_auth_client_init(&c2, NULL, NULL, key2, err, sizeof(err)), 0);

	/* A window start, so that the skew cases below do not depend on the clock. */
	int64_t now = 1700000010;
	struct wm_auth_request req = {.now = now, .server_fp = SRV_A};
	size_t n = wm_auth_client_metadata(&c1, "node-a", SRV_A, now, md, WM_AUTH_CLIENT_MD_MAX);
	assert_int_equal(n, 4);
	req_from_md(&req, md, n);
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), 0);
	assert_string_equal(id.id, "node-a");
	assert_int_equal(id.kind, WM_ID_NODE);
	assert_string_equal(id.method, "key");
	/* within the skew, and beyond it */
	req.now = now + 40;
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), 0);
	req.now = now + 120;
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), -EACCES);
	assert_string_equal(why, "key: the signed time window is outside the allowed clock skew");
	req.now = now - 120;
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), -EACCES);
	assert_string_equal(why, "key: the signed time window is outside the allowed clock skew");
	/* A window inside the skew with a signature that is not for it: the
	 * signature check refuses it, not the skew check. */
	req.now = now;
	char window[24], sig[96];
	snprintf(sig, sizeof(sig), "%s", req.key_sig);
	snprintf(window, sizeof(window), "%lld", (long long)(now - now % 30 + 30));
	req.key_window = window;
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), -EACCES);
	assert_string_equal(why, "key: unknown node key or bad signature");
	/* The right window with one bit of the signature flipped. */
	n = wm_auth_client_metadata(&c1, "node-a", SRV_A, now, md, WM_AUTH_CLIENT_MD_MAX);
	req_from_md(&req, md, n);
	snprintf(sig, sizeof(sig), "%s", req.key_sig);
	sig[0] = sig[0] == 'A' ? 'B' : 'A';
	req.key_sig = sig;
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), -EACCES);
	assert_string_equal(why, "key: unknown node key or bad signature");
	/* And the other way round: a good signature for a window beyond the skew
	 * (signed then, checked 120 s later) is refused by the skew check. */
	n = wm_auth_client_metadata(&c1, "node-a", SRV_A, now, md, WM_AUTH_CLIENT_MD_MAX);
	req_from_md(&req, md, n);
	req.now = now + 120;
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), -EACCES);
	assert_string_equal(why, "key: the signed time window is outside the allowed clock skew");
	req.now = now;
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), 0);
	/* node-b's key signing as node-a, and a node not listed */
	req.now = now;
	n = wm_auth_client_metadata(&c2, "node-a", SRV_A, now, md, WM_AUTH_CLIENT_MD_MAX);
	req_from_md(&req, md, n);
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), -EACCES);
	n = wm_auth_client_metadata(&c2, "node-c", SRV_A, now, md, WM_AUTH_CLIENT_MD_MAX);
	req_from_md(&req, md, n);
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), -EACCES);
	n = wm_auth_client_metadata(&c2, "node-b", SRV_A, now, md, WM_AUTH_CLIENT_MD_MAX);
	req_from_md(&req, md, n);
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), 0);
	assert_string_equal(id.id, "node-b");
	/* a signature for another window or ID does not carry over */
	req.key_id = "node-a";
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), -EACCES);
	req.key_id = "node-b";
	req.key_window = "0";
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), -EACCES);
	req.key_window = NULL;
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), -EACCES);
	assert_non_null(strstr(why, "malformed"));
	struct wm_auth_request none = {.now = now};
	assert_int_equal(wm_auth_authenticate_sync(a, &none, &id, why, sizeof(why)), -EACCES);

	/* basic auth headers come from the same client object */
	struct wm_auth_client cb;
	assert_int_equal(wm_auth_client_init(&cb, "alice", "pw", NULL, err, sizeof(err)), 0);
	assert_int_equal(wm_auth_client_metadata(&cb, "x", SRV_A, now, md, WM_AUTH_CLIENT_MD_MAX),
			 1);
	assert_string_equal(md[0].key, "authorization");
	assert_string_equal(md[0].value, "Basic YWxpY2U6cHc=");
	wm_auth_client_free(&cb);
	assert_int_equal(wm_auth_client_init(&cb, "a:b", "pw", NULL, err, sizeof(err)), -EINVAL);

	/* a key file others can read is refused */
	chmod(key1, 0644);
	assert_int_equal(wm_auth_client_init(&cb, NULL, NULL, key1, err, sizeof(err)), -EPERM);
	/* a broken keys file is refused at load */
	f = fopen(keys, "w");
	fprintf(f, "node-a notakey\n");
	fclose(f);
	assert_int_equal(wm_auth_key_new(keys, 30, &au, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 1"));

	wm_auth_client_free(&c1);
	wm_auth_client_free(&c2);
	wm_auth_free(a);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* A signature made for server B, sent to server A within its window: refused
 * for naming another server; a lying audience header does not help (the
 * signature is checked over A's own fingerprint), and without TLS there is
 * no audience at all. */
static void test_keyauth_audience(void **state)
{
	(void)state;
	char d[] = "/tmp/wm-test-keyaud-XXXXXX", key[128], keys[128], pub[45], err[256], why[256];
	struct wm_rpc_metadata md[WM_AUTH_CLIENT_MD_MAX];
	struct wm_authenticator au;
	struct wm_auth_client c;
	struct wm_identity id;
	struct wm_auth *a;

	assert_non_null(mkdtemp(d));
	snprintf(key, sizeof(key), "%s/node-a.key", d);
	snprintf(keys, sizeof(keys), "%s/keys", d);
	assert_int_equal(wm_auth_key_generate(key, pub, err, sizeof(err)), 0);
	FILE *f = fopen(keys, "w");
	fprintf(f, "node-a %s\n", pub);
	fclose(f);
	assert_int_equal(wm_auth_new(NULL, &a), 0);
	assert_int_equal(wm_auth_key_new(keys, 30, &au, err, sizeof(err)), 0);
	assert_int_equal(wm_auth_add(a, &au), 0);
	assert_int_equal(wm_auth_client_init(&c, NULL, NULL, key, err, sizeof(err)), 0);

	int64_t now = 1700000010;
	struct wm_auth_request on_b = {.now = now, .server_fp = SRV_B};
	size_t n = wm_auth_client_metadata(&c, "node-a", SRV_B, now, md, WM_AUTH_CLIENT_MD_MAX);
	assert_int_equal(n, 4);
	req_from_md(&on_b, md, n);
	assert_int_equal(wm_auth_authenticate_sync(a, &on_b, &id, why, sizeof(why)), 0);
	assert_string_equal(id.id, "node-a");

	struct wm_auth_request on_a = on_b;
	snprintf(on_a.server_fp, sizeof(on_a.server_fp), "%s", SRV_A);
	assert_int_equal(wm_auth_authenticate_sync(a, &on_a, &id, why, sizeof(why)), -EACCES);
	assert_string_equal(why, "key: the key-auth signature is for another server (not this "
				 "server's certificate " SRV_A ")");
	on_a.key_audience = SRV_A; /* the header lies; the signature is B's */
	assert_int_equal(wm_auth_authenticate_sync(a, &on_a, &id, why, sizeof(why)), -EACCES);
	assert_string_equal(why, "key: unknown node key or bad signature");
	on_a.key_audience = NULL;
	assert_int_equal(wm_auth_authenticate_sync(a, &on_a, &id, why, sizeof(why)), -EACCES);
	assert_string_equal(why, "key: the key-auth signature is for another server (not this "
				 "server's certificate " SRV_A ")");
	struct wm_auth_request plain = on_b;
	plain.server_fp[0] = '\0';
	assert_int_equal(wm_auth_authenticate_sync(a, &plain, &id, why, sizeof(why)), -EACCES);
	assert_string_equal(why, "key: key auth needs a TLS connection");
	/* no audience known to the client: no key-auth headers at all */
	assert_int_equal(
		wm_auth_client_metadata(&c, "node-a", NULL, now, md, WM_AUTH_CLIENT_MD_MAX), 0);

	wm_auth_client_free(&c);
	wm_auth_free(a);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d);
	assert_int_equal(system(cmd), 0);
}

static void hex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(sscanf(s + 2 * i, "%2hhx", &out[i]), 1);
}

/* RFC 8032 section 7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72). */
static void test_ed25519_rfc8032(void **state)
{
	uint8_t seed[32], pk[32], want_pk[32], sig[64], want_sig[64];
	const uint8_t m2 = 0x72;

	(void)state;
	hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", seed, 32);
	hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", want_pk, 32);
	hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
	    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
	    want_sig, 64);
	assert_int_equal(wm_ed25519_public(seed, pk), 0);
	assert_memory_equal(pk, want_pk, 32);
	assert_int_equal(wm_ed25519_sign(seed, "", 0, sig), 0);
	assert_memory_equal(sig, want_sig, 64);
	assert_int_equal(wm_ed25519_verify(pk, "", 0, sig), 0);
	sig[63] ^= 1;
	assert_int_equal(wm_ed25519_verify(pk, "", 0, sig), -EACCES);

	hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", seed, 32);
	hex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", want_pk, 32);
	hex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
	    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
	    want_sig, 64);
	assert_int_equal(wm_ed25519_public(seed, pk), 0);
	assert_memory_equal(pk, want_pk, 32);
	assert_int_equal(wm_ed25519_sign(seed, &m2, 1, sig), 0);
	assert_memory_equal(sig, want_sig, 64);
	assert_int_equal(wm_ed25519_verify(pk, &m2, 1, sig), 0);
	assert_int_equal(wm_ed25519_verify(pk, "", 0, sig), -EACCES);
}

/* A key file and public key written by the libsodium build (`wmctl pki
 * keygen`) still load and authenticate; broken key files are refused. */
static void test_old_key_file(void **state)
{
	char d[] = "/tmp/wm-test-keyauth-old-XXXXXX", key[128], keys[128], err[256], why[256];
	struct wm_auth_client c;
	struct wm_rpc_metadata md[WM_AUTH_CLIENT_MD_MAX];
	struct wm_authenticator au;
	struct wm_identity id;
	struct wm_auth *a;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(d));
	snprintf(key, sizeof(key), "%s/node.key", d);
	snprintf(keys, sizeof(keys), "%s/keys", d);
	f = fopen(key, "w");
	fprintf(f, "sKm2wR88atdDIBz5ciGYt9h3FL8g0/nWq0ou9dfuFhA=\n");
	fclose(f);
	assert_int_equal(chmod(key, 0600), 0);
	f = fopen(keys, "w");
	fprintf(f, "node-a awNwVcQ8QiXjAmZeZ2DDBoYKiIcfeiCUACuKRgvE6cY=\n");
	fclose(f);

	assert_int_equal(wm_auth_new(NULL, &a), 0);
	assert_int_equal(wm_auth_key_new(keys, 30, &au, err, sizeof(err)), 0);
	assert_int_equal(wm_auth_add(a, &au), 0);
	assert_int_equal(wm_auth_client_init(&c, NULL, NULL, key, err, sizeof(err)), 0);
	struct wm_auth_request req = {.now = 1700000010, .server_fp = SRV_A};
	size_t n = wm_auth_client_metadata(&c, "node-a", SRV_A, req.now, md, WM_AUTH_CLIENT_MD_MAX);
	assert_int_equal(n, 4);
	req_from_md(&req, md, n);
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), 0);
	assert_string_equal(id.id, "node-a");
	wm_auth_client_free(&c);

	/* not base64, a seed of the wrong length, whitespace inside */
	static const char *bad[] = {"not a key\n", "c2VlZA==\n",
				    "sKm2wR88atdDIBz5ciGYt9h3 FL8g0/nWq0ou9dfuFhA=\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = fopen(key, "w");
		fputs(bad[i], f);
		fclose(f);
		err[0] = '\0';
		assert_int_equal(wm_auth_client_init(&c, NULL, NULL, key, err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "is not a base64 Ed25519 seed"));
	}
	/* a signature that is not base64 */
	req.key_sig = "!!!!";
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), -EACCES);
	assert_non_null(strstr(why, "malformed key-auth headers"));
	wm_auth_free(a);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyauth),
		cmocka_unit_test(test_keyauth_audience),
		cmocka_unit_test(test_ed25519_rfc8032),
		cmocka_unit_test(test_old_key_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
