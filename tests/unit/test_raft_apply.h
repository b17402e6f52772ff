/* Waiting for one raft_apply on a libraft fixture: the request's outcome and
 * the FSM's result, and a stop condition for raft_fixture_step_until. Shared
 * by the fixture tests of the store (test_store_fixture.c) and of command
 * versions (test_cmdver_fixture.c). */
#ifndef WM_TEST_RAFT_APPLY_H
#define WM_TEST_RAFT_APPLY_H

#include <stdbool.h>

#include <raft.h>
#include <raft/fixture.h>

#include "store/store.h"

struct applied {
	bool done;
	int status;
	raft_index index;
	struct wm_store_result res;
};

static inline void apply_cb(struct raft_apply *req, int status, void *result)
{
	struct applied *a = req->data;

	a->done = true;
	a->status = status;
	a->index = req->index;
	if (status == 0 && result)
		a->res = *(const struct wm_store_result *)result;
}

static inline bool applied_stop(struct raft_fixture *f, void *arg)
{
	(void)f;
	return ((struct applied *)arg)->done;
}

#endif
