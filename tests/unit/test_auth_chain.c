/* The authenticator chain (src/auth/auth.c) with real authenticators: a
 * refusal lets the next method try, a backend failure ends the chain (no
 * later method decides in its place); the pending-authentication limit; and
 * both as the gate (src/services/gate.c) answers them to a gRPC client over
 * TLS: UNAVAILABLE for a failing backend and for a full queue, each with its
 * exact message.
 *
 * The failing backend is key auth with a keys file that turned invalid (the
 * authenticator's -EIO: "fix it"). The queue is filled by an authenticator
 * of this test that holds its calls until the test lets them go: the chain
 * counts a call as pending until its answer is back on the loop. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "auth/auth.h"
#include "core/base64.h"
#include "services/gate.h"
#include "test_tls_live.h"
#include "test_util.h"

/* crypt(3) SHA-512 hashes of "pw" and "pw2". */
#define HASH_PW                                                                                    \
	"$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/"  \
	"08R2BPH2xk/"
#define HASH_PW2                                                                                   \
	"$6$saltsalt$6GEUHm13yvEfDVKKaP4rrIOwpxslwzty0iGy."                                        \
	"28VWwekxwdiBykljm02m5JmMYSJccJGgUuHLfD6Oo"                                                \
	"h02E8wt0"

static char dir[] = "/tmp/wm-test-auth-chain-XXXXXX";
static char htpasswd1[128], htpasswd2[128], keys[128], nodekey[128];

/* A good keys file for node-a's key, or one that fails to load. */
static void keys_valid(bool valid)
{
	static char pub[45];
	char err[256], text[128];

	if (!pub[0])
		assert_int_equal(wm_auth_key_generate(nodekey, pub, err, sizeof(err)), 0);
	snprintf(text, sizeof(text), valid ? "node-a %s\n" : "node-a notakey\n", pub);
	test_replace_file(keys, text);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(htpasswd1, sizeof(htpasswd1), "%s/htpasswd1", dir);
	snprintf(htpasswd2, sizeof(htpasswd2), "%s/htpasswd2", dir);
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	snprintf(nodekey, sizeof(nodekey), "%s/node-a.key", dir);
	test_replace_file(htpasswd1, "alice:" HASH_PW "\n");
	test_replace_file(htpasswd2, "alice:" HASH_PW2 "\nbob:" HASH_PW "\n");
	keys_valid(true);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- an authenticator that holds its calls (for the pending limit) ---- */

static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static bool hold_released;

static int hold_authenticate(void *self, const struct wm_auth_request *req, struct wm_identity *out,
			     char *why, size_t whylen)
{
	(void)self;
	(void)out;
	if (!req->key_id || strcmp(req->key_id, "hold") != 0)
		return -ENOENT;
	pthread_mutex_lock(&hold_lock);
	while (!hold_released)
		pthread_cond_wait(&hold_cond, &hold_lock);
	pthread_mutex_unlock(&hold_lock);
	snprintf(why, whylen, "held");
	return -EACCES;
}

static void hold_free(void *self)
{
	(void)self;
}

static const struct wm_authenticator_ops hold_ops = {
	.name = "hold",
	.authenticate = hold_authenticate,
	.free = hold_free,
};

static void hold_release(bool released)
{
	pthread_mutex_lock(&hold_lock);
	hold_released = released;
	pthread_cond_broadcast(&hold_cond);
	pthread_mutex_unlock(&hold_lock);
}

/* ---- the chain ---- */

static void add(struct wm_auth *a, const char *kind, const char *path)
{
	struct wm_authenticator au;
	char err[256];

	if (strcmp(kind, "basic") == 0)
		assert_int_equal(wm_auth_basic_new(path, &au, err, sizeof(err)), 0);
	else if (strcmp(kind, "key") == 0)
		assert_int_equal(wm_auth_key_new(path, 30, &au, err, sizeof(err)), 0);
	else
		au = (struct wm_authenticator){.ops = &hold_ops};
	assert_int_equal(wm_auth_add(a, &au), 0);
}

struct creds {
	struct wm_auth_client c;
	struct wm_rpc_metadata md[WM_AUTH_CLIENT_MD_MAX];
	size_t n;
};

/* The certificate fingerprint key-auth signatures are for where no real
 * server is involved. */
#define SRV_FP "sha256:aa112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* Key-auth headers of node-a (signed for now, for the server whose
 * certificate has fingerprint audience) plus a Basic header. */
static void key_and_basic(struct creds *k, const char *user, const char *pass, int64_t now,
			  const char *audience, struct wm_auth_request *req)
{
	char err[256];

	assert_int_equal(wm_auth_client_init(&k->c, user, pass, nodekey, err, sizeof(err)), 0);
	k->n = wm_auth_client_metadata(&k->c, "node-a", audience, now, k->md,
				       WM_AUTH_CLIENT_MD_MAX);
	assert_int_equal(k->n, 5);
	snprintf(req->server_fp, sizeof(req->server_fp), "%s", audience);
	for (size_t i = 0; i < k->n; i++) {
		if (strcmp(k->md[i].key, "x-webmesh-key-id") == 0)
			req->key_id = k->md[i].value;
		else if (strcmp(k->md[i].key, "x-webmesh-key-window") == 0)
			req->key_window = k->md[i].value;
		else if (strcmp(k->md[i].key, "x-webmesh-key-sig") == 0)
			req->key_sig = k->md[i].value;
		else if (strcmp(k->md[i].key, WM_KEYAUTH_HDR_AUDIENCE) == 0)
			req->key_audience = k->md[i].value;
		else if (strcmp(k->md[i].key, "authorization") == 0)
			req->authorization = k->md[i].value;
	}
}

/* A refusal is not the end: the next method that reads the same credentials
 * may accept them (two password files, as two user directories would be). */
static void test_refusal_then_next_method(void **state)
{
	struct wm_identity id;
	struct wm_auth *a;
	char why[256];

	(void)state;
	assert_int_equal(wm_auth_new(NULL, &a), 0);
	add(a, "basic", htpasswd1);
	add(a, "basic", htpasswd2);
	struct wm_auth_request req = {.authorization = test_basic_auth("alice", "pw2"),
				      .now = 1700000000};
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), 0);
	assert_string_equal(id.id, "alice");
	assert_string_equal(id.method, "basic");
	/* Refused by both: the first refusal is the reason. */
	req.authorization = test_basic_auth("alice", "wrong");
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), -EACCES);
	assert_string_equal(why, "basic: unknown user or wrong password");
	/* Unknown to the first, known to the second. */
	req.authorization = test_basic_auth("bob", "pw");
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), 0);
	assert_string_equal(id.id, "bob");
	req.authorization = NULL;
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), -EACCES);
	assert_string_equal(why, "no credentials (accepted: basic,basic)");
	wm_auth_free(a);
}

/* A method whose backend fails ends the chain with that failure: the next
 * method, which would accept the caller's other credentials, is not asked;
 * an earlier refusal does not turn the outage into "wrong password". */
static void test_backend_failure_ends_the_chain(void **state)
{
	int64_t now = 1700000010;
	struct wm_identity id;
	struct wm_auth *a;
	struct creds k;
	char why[256];

	(void)state;
	assert_int_equal(wm_auth_new(NULL, &a), 0);
	add(a, "key", keys);
	add(a, "basic", htpasswd1);
	struct wm_auth_request req = {.now = now};
	key_and_basic(&k, "alice", "pw", now, SRV_FP, &req);
	/* Working: key auth accepts node-a first. */
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), 0);
	assert_string_equal(id.id, "node-a");
	assert_string_equal(id.method, "key");
	/* The keys file breaks: -EIO, and basic (which would accept alice) is
	 * not asked. */
	keys_valid(false);
	assert_int_equal(wm_auth_authenticate_sync(a, &req, &id, why, sizeof(why)), -EIO);
	assert_string_equal(why, "key: the key-auth keys file is invalid or unreadable; fix it");
	/* Without key-auth headers the broken method has nothing to check and
	 * basic decides as usual. */
	struct wm_auth_request only_basic = {.authorization = test_basic_auth("alice", "pw"),
					     .now = now};
	assert_int_equal(wm_auth_authenticate_sync(a, &only_basic, &id, why, sizeof(why)), 0);
	assert_string_equal(id.id, "alice");
	assert_string_equal(id.method, "basic");
	keys_valid(true);
	wm_auth_free(a);

	/* A refusal first, then the failing backend: the failure is the answer. */
	assert_int_equal(wm_auth_new(NULL, &a), 0);
	add(a, "basic", htpasswd2);
	add(a, "basic", htpasswd1);
	only_basic.authorization = test_basic_auth("alice", "pw");
	test_replace_file(htpasswd1,
			  "alice:$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0\n"); /* MD5: refused */
	assert_int_equal(wm_auth_authenticate_sync(a, &only_basic, &id, why, sizeof(why)), -EIO);
	assert_string_equal(why, "basic: the htpasswd file is invalid or unreadable; fix it");
	test_replace_file(htpasswd1, "alice:" HASH_PW "\n");
	assert_int_equal(wm_auth_authenticate_sync(a, &only_basic, &id, why, sizeof(why)), 0);
	assert_string_equal(id.id, "alice");
	wm_auth_client_free(&k.c);
	wm_auth_free(a);
}

struct answer {
	int done, err;
	char why[256];
};

static void answer_cb(void *data, int err, const struct wm_identity *id, const char *why)
{
	struct answer *r = data;
	(void)id;
	r->done++;
	r->err = err;
	snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
}

/* WM_AUTH_MAX_PENDING calls wait; the next one is refused at once (-EBUSY)
 * and runs no authenticator; once they are answered there is room again. */
static void test_pending_limit(void **state)
{
	static struct answer held[WM_AUTH_MAX_PENDING];
	struct answer extra = {0};
	struct wm_auth *a;
	uv_loop_t loop;

	(void)state;
	uv_loop_init(&loop);
	assert_int_equal(wm_auth_new(&loop, &a), 0);
	add(a, "hold", NULL);
	add(a, "basic", htpasswd1);
	hold_release(false);
	struct wm_auth_request hold = {.key_id = "hold"};
	memset(held, 0, sizeof(held));
	for (int i = 0; i < WM_AUTH_MAX_PENDING; i++)
		assert_int_equal(wm_auth_authenticate(a, &hold, answer_cb, &held[i]), 0);
	struct wm_auth_request good = {.authorization = test_basic_auth("alice", "pw")};
	assert_int_equal(wm_auth_authenticate(a, &good, answer_cb, &extra), -EBUSY);
	hold_release(true);
	uv_run(&loop, UV_RUN_DEFAULT);
	for (int i = 0; i < WM_AUTH_MAX_PENDING; i++) {
		assert_int_equal(held[i].done, 1);
		assert_int_equal(held[i].err, -EACCES);
	}
	assert_int_equal(extra.done, 0);
	assert_int_equal(wm_auth_authenticate(a, &good, answer_cb, &extra), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(extra.done, 1);
	assert_int_equal(extra.err, 0);
	wm_auth_free(a);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- the same at the gate, over TLS ---- */

static int answered(const struct answer *a)
{
	int n = 0;
	for (int i = 0; i < WM_AUTH_MAX_PENDING; i++)
		n += a[i].done;
	return n;
}

static void ok_handler(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)req;
	(void)len;
	(void)data;
	wm_rpc_call_send(call, (const uint8_t *)"", 0);
	wm_rpc_call_finish(call, WM_GRPC_OK, NULL);
}

static void server_down_cb(void *data)
{
	*(bool *)data = true;
}

static int call(struct wm_rpc_client *c, uv_loop_t *loop, const struct wm_rpc_metadata *md,
		size_t n, char *message, size_t len)
{
	uint8_t *resp = NULL;
	size_t resp_len = 0;
	char *msg = NULL;
	int st = wm_rpc_client_unary_sync(c, loop, "/webmesh.v1.Node/GetBootstrapInfo",
					  (const uint8_t *)"", 0, 10000, md, n, &resp, &resp_len,
					  &msg);
	snprintf(message, len, "%s", msg ? msg : "");
	free(resp);
	free(msg);
	return st;
}

static void test_gate_answers(void **state)
{
	static struct answer held[WM_AUTH_MAX_PENDING];
	char message[256];
	struct wm_rpc_server *srv;
	struct wm_rpc_client *client;
	struct wm_gate *gate;
	struct wm_auth *a;
	uv_loop_t loop;
	bool down = false;

	(void)state;
	uv_loop_init(&loop);
	assert_int_equal(wm_auth_new(&loop, &a), 0);
	add(a, "hold", NULL);
	add(a, "key", keys);
	add(a, "basic", htpasswd1);
	struct wm_gate_config gc = {.loop = &loop, .auth = a};
	assert_int_equal(wm_gate_new(&gc, &gate), 0);
	assert_int_equal(wm_rpc_server_new(&loop, &(struct wm_rpc_server_config){0}, &srv), 0);
	struct wm_rpc_method m = {.path = "/webmesh.v1.Node/GetBootstrapInfo",
				  .handler = ok_handler};
	assert_int_equal(wm_gate_register(gate, srv, &m), 0);
	client = test_tls_client(&loop, test_tls_listen(srv, dir, "srv"));
	char fp[WM_FINGERPRINT_LEN], cert[512];
	snprintf(cert, sizeof(cert), "%s/srv-api.crt", dir);
	assert_int_equal(wm_tls_cert_file_fingerprint(cert, fp), 0);

	/* Both credentials, both methods working: key auth is asked first. */
	struct creds k;
	struct wm_auth_request unused = {0};
	key_and_basic(&k, "alice", "pw", (int64_t)time(NULL), fp, &unused);
	assert_int_equal(call(client, &loop, k.md, k.n, message, sizeof(message)), WM_GRPC_OK);
	/* A wrong password alone. */
	struct wm_rpc_metadata wrong = {"authorization", test_basic_auth("alice", "wrong")};
	assert_int_equal(call(client, &loop, &wrong, 1, message, sizeof(message)),
			 WM_GRPC_UNAUTHENTICATED);
	assert_string_equal(message, "authentication failed");
	/* The wrong password costs this address a wait (core/authlimit.h, 100 ms
	 * first): an attempt within it is turned away unchecked, and one after
	 * it is checked again. */
	assert_int_equal(call(client, &loop, k.md, k.n, message, sizeof(message)),
			 WM_GRPC_RESOURCE_EXHAUSTED);
	assert_string_equal(message, WM_AUTH_WHY_BACKOFF);
	usleep(250 * 1000);
	/* The keys file breaks: the caller with key-auth headers gets
	 * UNAVAILABLE, not let in by its (good) password. */
	keys_valid(false);
	assert_int_equal(call(client, &loop, k.md, k.n, message, sizeof(message)),
			 WM_GRPC_UNAVAILABLE);
	assert_string_equal(message, "authentication is unavailable right now");
	keys_valid(true);
	assert_int_equal(call(client, &loop, k.md, k.n, message, sizeof(message)), WM_GRPC_OK);

	/* The queue full: refused at once, with the reason. */
	hold_release(false);
	struct wm_auth_request hold = {.key_id = "hold"};
	memset(held, 0, sizeof(held));
	for (int i = 0; i < WM_AUTH_MAX_PENDING; i++)
		assert_int_equal(wm_auth_authenticate(a, &hold, answer_cb, &held[i]), 0);
	assert_int_equal(call(client, &loop, k.md, k.n, message, sizeof(message)),
			 WM_GRPC_UNAVAILABLE);
	assert_string_equal(message, "too many calls waiting for authentication");
	hold_release(true);
	/* Every held call is answered (in any order), within 20 s. */
	for (int i = 0; i < 2000 && answered(held) < WM_AUTH_MAX_PENDING; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	for (int i = 0; i < WM_AUTH_MAX_PENDING; i++)
		assert_int_equal(held[i].done, 1);
	assert_int_equal(call(client, &loop, k.md, k.n, message, sizeof(message)), WM_GRPC_OK);

	wm_auth_client_free(&k.c);
	wm_rpc_client_free(client);
	wm_rpc_server_shutdown(srv, 0, server_down_cb, &down);
	while (!down)
		uv_run(&loop, UV_RUN_ONCE);
	wm_rpc_server_free(srv);
	wm_gate_free(gate);
	wm_auth_free(a);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusal_then_next_method),
		cmocka_unit_test(test_backend_failure_ends_the_chain),
		cmocka_unit_test(test_pending_limit),
		cmocka_unit_test(test_gate_answers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
