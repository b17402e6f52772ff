/* Node proofs made and checked (src/auth/nodeproof.c): a proof holds only
 * for the key, server, method and window it was made for. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "core/nodeproof.h"
#include "util/crypto.h"

#define PATH "/webmesh.v1.Admin/PutEdge"
#define NOW 1700000017
#define SKEW 30

struct keys {
	uint8_t priv[32], pub[32];
};

static void keypair(struct keys *k)
{
	assert_int_equal(wm_random(k->priv, 32), 0);
	k->priv[0] &= 248;
	k->priv[31] = (k->priv[31] & 127) | 64;
	assert_int_equal(wm_x25519_public(k->priv, k->pub), 0);
}

static struct keys caller, server, other_server, thief;

static int setup(void **state)
{
	(void)state;
	keypair(&caller);
	keypair(&server);
	keypair(&other_server);
	keypair(&thief);
	return 0;
}

static int check(const struct keys *srv, const char *self, const uint8_t caller_pub[32],
		 const struct wm_node_proof *p, const char *path, int64_t now, char *why)
{
	return wm_node_proof_verify(srv->priv, self, caller_pub, p->id, p->window, p->proof, path,
				    now, SKEW, why, 200);
}

static void test_make_and_verify(void **state)
{
	(void)state;
	struct wm_node_proof p;
	struct wm_rpc_metadata md[3];
	char why[200] = "";
	assert_int_equal(wm_node_proof_make(caller.priv, "s2", "s1", server.pub, PATH, NOW, &p), 0);
	assert_string_equal(p.id, "s2");
	assert_string_equal(p.window, "1700000010");
	assert_int_equal(strlen(p.proof), 44);
	assert_int_equal(check(&server, "s1", caller.pub, &p, PATH, NOW, why), 0);
	/* the next window, within the skew */
	assert_int_equal(check(&server, "s1", caller.pub, &p, PATH, NOW + 25, why), 0);
	assert_int_equal(wm_node_proof_metadata(&p, md, 3), 3);
	assert_string_equal(md[0].key, WM_NODEPROOF_HDR_ID);
	assert_string_equal(md[1].key, WM_NODEPROOF_HDR_WINDOW);
	assert_string_equal(md[2].key, WM_NODEPROOF_HDR_PROOF);
	assert_ptr_equal(md[2].value, p.proof);
	assert_int_equal(wm_node_proof_metadata(&p, md, 2), 0);
}

static void test_wrong_key(void **state)
{
	(void)state;
	struct wm_node_proof p;
	char why[200] = "";
	/* a thief naming s2 with its own key: the registered key decides */
	assert_int_equal(wm_node_proof_make(thief.priv, "s2", "s1", server.pub, PATH, NOW, &p), 0);
	assert_int_equal(check(&server, "s1", caller.pub, &p, PATH, NOW, why), -EACCES);
	assert_string_equal(why, "the node proof does not match node s2's key");
	/* the caller's own proof checked against another node's key */
	assert_int_equal(wm_node_proof_make(caller.priv, "s2", "s1", server.pub, PATH, NOW, &p), 0);
	assert_int_equal(check(&server, "s1", thief.pub, &p, PATH, NOW, why), -EACCES);
	assert_string_equal(why, "the node proof does not match node s2's key");
	/* the same MAC under another node ID */
	snprintf(p.id, sizeof(p.id), "s3");
	assert_int_equal(check(&server, "s1", caller.pub, &p, PATH, NOW, why), -EACCES);
	assert_string_equal(why, "the node proof does not match node s3's key");
}

/* The shared keys are kept per pair (nodeproof.c): with more pairs than
 * slots, checked twice over (the second pass from the cache where it still
 * holds them), every proof holds for its own caller only, and a key kept for
 * one server's private key never serves another's. */
static void test_kept_keys_stay_with_their_pair(void **state)
{
	(void)state;
	enum { N = 700 };
	static struct keys callers[N];
	struct wm_node_proof p;
	char why[200] = "";
	for (int i = 0; i < N; i++)
		keypair(&callers[i]);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < N; i++) {
			const struct keys *c = &callers[i], *next = &callers[(i + 1) % N];
			assert_int_equal(
				wm_node_proof_make(c->priv, "m1", "s1", server.pub, PATH, NOW, &p),
				0);
			assert_int_equal(check(&server, "s1", c->pub, &p, PATH, NOW, why), 0);
			assert_int_equal(check(&server, "s1", next->pub, &p, PATH, NOW, why),
					 -EACCES);
			assert_int_equal(check(&other_server, "s1", c->pub, &p, PATH, NOW, why),
					 -EACCES);
		}
	}
}

static void test_wrong_audience_and_replay(void **state)
{
	(void)state;
	struct wm_node_proof p;
	char why[200] = "";
	/* made for s1, replayed to s3 (which has its own key): no */
	assert_int_equal(wm_node_proof_make(caller.priv, "s2", "s1", server.pub, PATH, NOW, &p), 0);
	assert_int_equal(check(&other_server, "s3", caller.pub, &p, PATH, NOW, why), -EACCES);
	assert_string_equal(why, "the node proof does not match node s2's key");
	/* made with s1's key but naming audience s3: s1 does not take it */
	assert_int_equal(wm_node_proof_make(caller.priv, "s2", "s3", server.pub, PATH, NOW, &p), 0);
	assert_int_equal(check(&server, "s1", caller.pub, &p, PATH, NOW, why), -EACCES);
	assert_string_equal(why, "the node proof does not match node s2's key");
}

static void test_wrong_path(void **state)
{
	(void)state;
	struct wm_node_proof p;
	char why[200] = "";
	assert_int_equal(wm_node_proof_make(caller.priv, "s2", "s1", server.pub,
					    "/webmesh.v1.Membership/Heartbeat", NOW, &p),
			 0);
	assert_int_equal(
		check(&server, "s1", caller.pub, &p, "/webmesh.v1.Membership/Leave", NOW, why),
		-EACCES);
	assert_string_equal(why, "the node proof does not match node s2's key");
}

static void test_expired_and_malformed(void **state)
{
	(void)state;
	struct wm_node_proof p, q;
	char why[200] = "";
	assert_int_equal(wm_node_proof_make(caller.priv, "s2", "s1", server.pub, PATH, NOW, &p), 0);
	/* two windows later: outside the skew, refused before the MAC */
	assert_int_equal(check(&server, "s1", caller.pub, &p, PATH, NOW + 70, why), -EACCES);
	assert_string_equal(why, "the node proof's time window is outside the allowed clock skew");
	/* a window moved forward with the old MAC: within the skew, but the MAC
	 * covers the window */
	q = p;
	snprintf(q.window, sizeof(q.window), "1700000040");
	assert_int_equal(check(&server, "s1", caller.pub, &q, PATH, NOW + 30, why), -EACCES);
	assert_string_equal(why, "the node proof does not match node s2's key");
	q = p;
	snprintf(q.window, sizeof(q.window), "1700000011");
	assert_int_equal(check(&server, "s1", caller.pub, &q, PATH, NOW, why), -EACCES);
	assert_string_equal(why, "the node proof's time window is outside the allowed clock skew");
	const char *bad[][3] = {
		{"s2", "1700000010", "AAAA"},
		{"s2", "01700000010", p.proof},
		{"S2", "1700000010", p.proof},
		{"s2", "1700000010", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!="},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(wm_node_proof_verify(server.priv, "s1", caller.pub, bad[i][0],
						      bad[i][1], bad[i][2], PATH, NOW, SKEW, why,
						      sizeof(why)),
				 -EACCES);
		assert_string_equal(why, "malformed node proof headers");
	}
	assert_int_equal(wm_node_proof_verify(server.priv, "s1", caller.pub, "s2", NULL, p.proof,
					      PATH, NOW, SKEW, why, sizeof(why)),
			 -EACCES);
	assert_string_equal(why, "malformed node proof headers");
	/* bad inputs to make */
	assert_int_equal(wm_node_proof_make(caller.priv, "s2", "s1", server.pub, "nopath", NOW, &p),
			 -EINVAL);
	assert_string_equal(p.proof, "");
	uint8_t zero[32] = {0};
	assert_int_equal(wm_node_proof_make(caller.priv, "s2", "s1", zero, PATH, NOW, &p), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_make_and_verify),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_wrong_audience_and_replay),
		cmocka_unit_test(test_wrong_path),
		cmocka_unit_test(test_expired_and_malformed),
		cmocka_unit_test(test_kept_keys_stay_with_their_pair),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
