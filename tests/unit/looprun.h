/* The unit tests' way to drive a real libuv loop: run it until a condition
 * holds, bounded in time (tests over loopback: hosts, streams, relays). */
#ifndef WM_TEST_LOOPRUN_H
#define WM_TEST_LOOPRUN_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

/* Runs loop until pred(arg) is true (then true) or ms pass (false); a 5 ms
 * tick keeps the loop from blocking while nothing else is due. */
bool wm_test_loop_until(uv_loop_t *loop, bool (*pred)(void *), void *arg, uint64_t ms);

#endif
