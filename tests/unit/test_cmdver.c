/* Unit tests of the command-version rules (src/core/cmdver.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/cmdver.h"
#include "core/error.h"
#include "webmesh/v1/raft.pb-c.h"

/* Every kind RaftCommand can carry has a version, and no version exceeds
 * this build's: a kind added to the proto without a version fails here. */
static void test_table_covers_proto(void **state)
{
	const ProtobufCMessageDescriptor *d = &webmesh__v1__raft_command__descriptor;
	size_t in_oneof = 0;

	(void)state;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		in_oneof++;
		uint32_t v = wm_cmd_kind_version((int)f->id);
		if (v == 0)
			fail_msg("RaftCommand.%s (%u) has no command version", f->name, f->id);
		assert_true(v <= WM_CMD_VERSION);
	}
	assert_int_equal(in_oneof, wm_cmd_n_kinds);
	for (size_t i = 1; i < wm_cmd_n_kinds; i++)
		assert_true(wm_cmd_kinds[i - 1].kind < wm_cmd_kinds[i].kind);
	/* what the daemon reports as the kind is the oneof case */
	assert_int_equal(WEBMESH__V1__RAFT_COMMAND__COMMAND_LIVENESS, 920);
	assert_int_equal(wm_cmd_kind_version(WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE), 1);
	assert_int_equal(wm_cmd_kind_version(0), 0);
	assert_int_equal(wm_cmd_kind_version(999), 0);
}

static void test_apply_needs(void **state)
{
	(void)state;
	/* a known kind, stated or not */
	assert_int_equal(wm_cmd_apply_needs(2, 2, 0, false), 0);
	assert_int_equal(wm_cmd_apply_needs(2, 2, 1, false), 0);
	assert_int_equal(wm_cmd_apply_needs(2, 2, 2, false), 0);
	/* min_version above ours: that version, whatever the kind */
	assert_int_equal(wm_cmd_apply_needs(2, 2, 3, false), 3);
	assert_int_equal(wm_cmd_apply_needs(2, 0, 7, true), 7);
	/* an empty command is refused alike by every build */
	assert_int_equal(wm_cmd_apply_needs(2, 0, 0, false), 0);
	/* an unknown oneof case decodes as none set, with unknown fields */
	assert_int_equal(wm_cmd_apply_needs(2, 0, 0, true), 3);
	assert_int_equal(wm_cmd_apply_needs(2, 0, 2, true), 3);
	/* a case the proto decoded is known, listed or not */
	assert_int_equal(wm_cmd_apply_needs(2, 999, 0, false), 0);
	assert_int_equal(wm_cmd_apply_needs(2, 999, 3, false), 3);
	/* a kind of version 2 on a build of version 1 */
	assert_int_equal(wm_cmd_apply_needs(1, 2, 0, false), 0);
	assert_int_equal(wm_cmd_apply_needs(UINT32_MAX, 0, 0, true), UINT32_MAX);
}

static void test_mesh_version(void **state)
{
	(void)state;
	uint32_t all_new[] = {2, 2, 2};
	uint32_t one_old[] = {2, 1, 2};
	uint32_t unknown[] = {2, 0, 2};
	uint32_t newer[] = {5, 4};

	assert_int_equal(wm_cmd_mesh_version(all_new, 3, 2), 2);
	assert_int_equal(wm_cmd_mesh_version(one_old, 3, 2), 1);
	/* not heard from: counts as a build from before versions */
	assert_int_equal(wm_cmd_mesh_version(unknown, 3, 2), WM_CMD_VERSION_BASE);
	/* never above the leader's own */
	assert_int_equal(wm_cmd_mesh_version(newer, 2, 2), 2);
	assert_int_equal(wm_cmd_mesh_version(newer, 2, 9), 4);
	assert_int_equal(wm_cmd_mesh_version(NULL, 0, 2), 2);
}

/* The gate, over a kind of each version of the table and one of a later
 * version faked by a mesh below it. */
static void test_admit(void **state)
{
	char why[160];
	uint32_t needs = 0;

	(void)state;
	assert_int_equal(wm_cmd_admit(WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE, 0, 1, &needs,
				      why, sizeof(why)),
			 0);
	assert_int_equal(needs, 1);
	assert_int_equal(
		wm_cmd_admit(WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE, 0, 2, NULL, NULL, 0), 0);
	/* every kind of this build is admitted in a mesh at this build's version */
	for (size_t i = 0; i < wm_cmd_n_kinds; i++)
		assert_int_equal(
			wm_cmd_admit(wm_cmd_kinds[i].kind, 0, WM_CMD_VERSION, NULL, NULL, 0), 0);
	/* a mesh still at 0 (impossible from wm_cmd_mesh_version, but the rule
	 * holds): version-1 kinds are refused with the numbers */
	why[0] = '\0';
	assert_int_equal(wm_cmd_admit(WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE, 0, 0, &needs,
				      why, sizeof(why)),
			 -WM_EVERSION);
	assert_string_equal(why, "mesh runs command version 0, this write (PutEdge) needs 1: "
				 "upgrade every voter first");
	/* a command asking for more than its kind: held back below that */
	assert_int_equal(wm_cmd_admit(WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE, 2, 2, &needs,
				      why, sizeof(why)),
			 0);
	assert_int_equal(needs, 2);
	assert_int_equal(wm_cmd_admit(WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE, 2, 1, &needs,
				      why, sizeof(why)),
			 -WM_EVERSION);
	assert_string_equal(why, "mesh runs command version 1, this write (JoinNode) needs 2: "
				 "upgrade every voter first");
	/* asking for less than the kind changes nothing */
	assert_int_equal(
		wm_cmd_admit(WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE, 0, 2, &needs, NULL, 0),
		0);
	assert_int_equal(needs, 1);
	/* a kind the table lacks needs this build's version */
	assert_int_equal(wm_cmd_admit(999, 0, WM_CMD_VERSION, &needs, why, sizeof(why)), 0);
	assert_int_equal(needs, WM_CMD_VERSION);
	assert_int_equal(wm_cmd_admit(999, 0, 1, &needs, why, sizeof(why)), -WM_EVERSION);
	assert_string_equal(why, "mesh runs command version 1, this write (kind 999) needs 3: "
				 "upgrade every voter first");
	assert_int_equal(wm_cmd_admit(0, 0, 2, &needs, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "no command kind");
	assert_int_equal(wm_cmd_admit(-1, 0, 2, NULL, NULL, 0), -EINVAL);
	assert_string_equal(wm_strerror(-WM_EVERSION),
			    "the mesh runs an older command version than this write needs");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_covers_proto),
		cmocka_unit_test(test_apply_needs),
		cmocka_unit_test(test_mesh_version),
		cmocka_unit_test(test_admit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
