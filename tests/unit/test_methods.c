/* The API's method table (src/services/methods.c): one row per method of the
 * proto, every registered method has its policy and every policy a method,
 * and the gate applies the row's policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "core/rbac.h"
#include "rpc/rpc.h"
#include "services/gate.h"
#include "services/methods.h"
#include "services/services.h"
#include "webmesh/v1/admin.pb-c.h"
#include "webmesh/v1/mesh.pb-c.h"
#include "webmesh/v1/node.pb-c.h"
#include "webmesh/v1/signaling.pb-c.h"

static const ProtobufCServiceDescriptor *const services[] = {
	&webmesh__v1__membership__descriptor, &webmesh__v1__mesh__descriptor,
	&webmesh__v1__node__descriptor,	      &webmesh__v1__admin__descriptor,
	&webmesh__v1__signaling__descriptor,
};

/* Every method of the proto has a row, every row is a method of the proto,
 * and no path has two rows. */
static void test_table_is_the_proto(void **state)
{
	(void)state;
	size_t n = 0;
	char path[256];

	for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++) {
		for (unsigned i = 0; i < services[s]->n_methods; i++, n++) {
			snprintf(path, sizeof(path), "/%s/%s", services[s]->name,
				 services[s]->methods[i].name);
			if (!wm_method_find(path))
				fail_msg("%s has no row in the method table", path);
		}
	}
	for (size_t i = 0; i < wm_n_methods; i++) {
		bool in_proto = false;
		for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++)
			for (unsigned j = 0; j < services[s]->n_methods; j++) {
				snprintf(path, sizeof(path), "/%s/%s", services[s]->name,
					 services[s]->methods[j].name);
				in_proto |= strcmp(path, wm_methods[i].path) == 0;
			}
		if (!in_proto)
			fail_msg("%s is in the method table but not in the proto",
				 wm_methods[i].path);
		assert_ptr_equal(wm_method_find(wm_methods[i].path), &wm_methods[i]);
	}
	assert_int_equal(n, wm_n_methods);
	assert_null(wm_method_find("/webmesh.v1.Nothing/Such"));
	assert_null(wm_method_find(NULL));
}

/* Every row has a handler and a complete policy. */
static void test_rows_complete(void **state)
{
	(void)state;
	for (size_t i = 0; i < wm_n_methods; i++) {
		const struct wm_method_def *m = &wm_methods[i];
		bool rbac = m->policy == WM_POLICY_RBAC || m->policy == WM_POLICY_RBAC_NAME ||
			    m->policy == WM_POLICY_SELF || m->policy == WM_POLICY_JOIN ||
			    m->policy == WM_POLICY_MESH_READ;
		const char *why;

		assert_non_null(m->handler);
		if (rbac) {
			if (!m->verb || !m->resource || wm_rbac_verb_check(m->verb, &why) < 0 ||
			    wm_rbac_resource_check(m->resource, &why) < 0)
				fail_msg("%s: its RBAC rule is not a verb and resource", m->path);
		} else if (m->verb || m->resource) {
			fail_msg("%s: an RBAC rule its policy does not read", m->path);
		}
		/* Local-only methods are registered on the local socket alone,
		 * and their policy says so should one be registered elsewhere. */
		if (m->local_only != (m->policy == WM_POLICY_LOCAL))
			fail_msg("%s: local_only and the LOCAL policy disagree", m->path);
		/* Passed on under a member's own name: only for reads a member
		 * may make itself (its local caller is its administrator). */
		if (m->caller_free && m->policy != WM_POLICY_AUTHENTICATED &&
		    m->policy != WM_POLICY_MESH_READ)
			fail_msg("%s: caller_free needs the AUTHENTICATED or MESH_READ policy",
				 m->path);
	}
}

/* The gate decides by the row: a user with no rights is told the row's rule. */
static void test_gate_reads_the_row(void **state)
{
	(void)state;
	struct wm_identity alice = {.id = "alice", .kind = WM_ID_USER, .method = "basic"};
	struct wm_identity local = {.local = true, .method = "local"};
	/* field 1 = "bob" */
	const uint8_t bob[] = {0x0a, 3, 'b', 'o', 'b'};
	char why[256], want[256];

	for (size_t i = 0; i < wm_n_methods; i++) {
		const struct wm_method_def *m = &wm_methods[i];
		int st = wm_gate_authorize(NULL, m->path, &alice, bob, sizeof(bob), why,
					   sizeof(why));

		char why_local[256];
		assert_int_equal(wm_gate_authorize(NULL, m->path, &local, bob, sizeof(bob),
						   why_local, sizeof(why_local)),
				 0);
		switch (m->policy) {
		case WM_POLICY_AUTHENTICATED:
			assert_int_equal(st, 0);
			continue;
		case WM_POLICY_LOCAL:
			snprintf(want, sizeof(want), "%s may be called on the local socket only",
				 m->path);
			break;
		case WM_POLICY_RBAC:
		case WM_POLICY_MESH_READ: /* alice is no node of the mesh */
			snprintf(want, sizeof(want), "alice may not %s %s", m->verb, m->resource);
			break;
		case WM_POLICY_RBAC_NAME:
		case WM_POLICY_SELF:
			snprintf(want, sizeof(want), "alice may not %s %s bob", m->verb,
				 m->resource);
			break;
		case WM_POLICY_SELF_ONLY:
			snprintf(want, sizeof(want), "alice may act only as itself, not as bob");
			break;
		case WM_POLICY_JOIN:
			/* "bob" is no JoinRequest with a key: refused before RBAC */
			assert_int_not_equal(st, 0);
			continue;
		}
		if (st != WM_GRPC_PERMISSION_DENIED || strcmp(why, want) != 0)
			fail_msg("%s: got %d \"%s\", want \"%s\"", m->path, st, why, want);
	}
	/* a path of no row: only the wildcard verb ("call methods") passes */
	assert_int_equal(wm_gate_authorize(NULL, "/webmesh.v1.Nothing/Such", &alice, NULL, 0, why,
					   sizeof(why)),
			 WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(why, "alice may not call methods");
}

static void noop_handler(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)req;
	(void)len;
	(void)data;
	wm_rpc_call_finish(call, WM_GRPC_OK, NULL);
}

/* services.c registers exactly the table: the public port every row but
 * the local-only ones, the local socket every row. */
static void test_registration_is_the_table(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct wm_services *svc;
	struct wm_rpc_server *pub, *loc;

	assert_int_equal(uv_loop_init(&loop), 0);
	struct wm_services_config sc = {.loop = &loop, .node_id = "alpha"};
	assert_int_equal(wm_services_new(&sc, &svc), 0);
	assert_int_equal(wm_rpc_server_new(&loop, NULL, &pub), 0);
	assert_int_equal(wm_rpc_server_new(&loop, NULL, &loc), 0);
	assert_int_equal(wm_services_register_public(svc, pub), 0);
	assert_int_equal(wm_services_register_local(svc, loc), 0);
	for (size_t i = 0; i < wm_n_methods; i++) {
		/* registering a path again is -EEXIST: it was registered */
		struct wm_rpc_method m = {.path = wm_methods[i].path, .handler = noop_handler};
		assert_int_equal(wm_rpc_server_register(loc, &m), -EEXIST);
		assert_int_equal(wm_rpc_server_register(pub, &m),
				 wm_methods[i].local_only ? 0 : -EEXIST);
	}
	struct wm_rpc_method extra = {.path = "/webmesh.v1.Nothing/Such", .handler = noop_handler};
	assert_int_equal(wm_rpc_server_register(pub, &extra), 0);
	assert_int_equal(wm_rpc_server_register(loc, &extra), 0);
	wm_rpc_server_free(pub);
	wm_rpc_server_free(loc);
	wm_services_free(svc);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_is_the_proto),
		cmocka_unit_test(test_rows_complete),
		cmocka_unit_test(test_gate_reads_the_row),
		cmocka_unit_test(test_registration_is_the_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
