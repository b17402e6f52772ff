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

static char dir[] = "/tmp/wm-test-keyauth-XXXXXX";

static void req_from_md(struct wm_auth_request *req, struct wm_rpc_metadata *md, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(md[i].key, "x-webmesh-key-id") == 0)
			req->key_id = md[i].value;
		else if (strcmp(md[i].key, "x-webmesh-key-window") == 0)
			req->key_window = md[i].value;
		else if (strcmp(md[i].key, "x-webmesh-key-sig") == 0)
			req->key_sig = md[i].value;
		else if (strcmp(md[i].key, "authorization") == 0)
			req->authorization = md[i].value;
	}
}

static void test_keyauth(void **state)
{
	(void)state;
	char key1[128], key2[128], keys[128], pub1[45], pub2[45], err[256], why[256];
	struct wm_auth_client c1, c2;
	struct wm_rpc_metadata md[4];
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
	struct wm_auth_request req = {.now = now};
	size_t n = wm_auth_client_metadata(&c1, "node-a", now, md, 4);
	assert_int_equal(n, 3);
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
	assert_non_null(strstr(why, "skew"));
	req.now = now - 120;
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), -EACCES);
	/* node-b's key signing as node-a, and a node not listed */
	req.now = now;
	n = wm_auth_client_metadata(&c2, "node-a", now, md, 4);
	req_from_md(&req, md, n);
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), -EACCES);
	n = wm_auth_client_metadata(&c2, "node-c", now, md, 4);
	req_from_md(&req, md, n);
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), -EACCES);
	n = wm_auth_client_metadata(&c2, "node-b", now, md, 4);
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
	assert_int_equal(wm_auth_client_metadata(&cb, "x", now, md, 4), 1);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyauth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
