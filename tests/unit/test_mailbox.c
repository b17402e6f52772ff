/* Bounded per-node mailboxes (src/core/mailbox.c): order, limits, expiry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/mailbox.h"

static void put_str(struct wm_mailboxes *m, const char *id, const char *s, int64_t now, int want)
{
	assert_int_equal(wm_mailbox_put(m, id, (const uint8_t *)s, strlen(s), now), want);
}

static void take_str(struct wm_mailboxes *m, const char *id, int64_t now, const char *want)
{
	uint8_t *msg = NULL;
	size_t len = 0;

	assert_int_equal(wm_mailbox_take(m, id, now, &msg, &len), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(msg, want, len);
	free(msg);
}

static void test_fifo(void **state)
{
	(void)state;
	struct wm_mailboxes *m;
	uint8_t *msg;
	size_t len;

	assert_int_equal(wm_mailboxes_new(NULL, &m), 0);
	put_str(m, "b", "one", 0, 0);
	put_str(m, "b", "two", 1, 0);
	put_str(m, "c", "three", 2, 0);
	assert_int_equal(wm_mailboxes_boxes(m), 2);
	assert_int_equal(wm_mailbox_count(m, "b"), 2);
	take_str(m, "b", 3, "one");
	take_str(m, "b", 3, "two");
	assert_int_equal(wm_mailbox_take(m, "b", 3, &msg, &len), -ENOENT);
	assert_int_equal(wm_mailboxes_boxes(m), 1); /* the empty box went away */
	assert_int_equal(wm_mailbox_take(m, "nobody", 3, &msg, &len), -ENOENT);
	/* an empty message is a message */
	assert_int_equal(wm_mailbox_put(m, "c", NULL, 0, 4), 0);
	take_str(m, "c", 5, "three");
	take_str(m, "c", 5, "");
	wm_mailboxes_free(m);
	wm_mailboxes_free(NULL);
}

static void test_limits(void **state)
{
	(void)state;
	struct wm_mailbox_limits lim = {
		.max_boxes = 2, .max_messages = 2, .max_bytes = 10, .ttl_ms = 1000};
	struct wm_mailboxes *m;
	char big[80];

	assert_int_equal(wm_mailboxes_new(&lim, &m), 0);
	/* too many messages: the oldest goes */
	put_str(m, "a", "1", 0, 0);
	put_str(m, "a", "2", 0, 0);
	put_str(m, "a", "3", 0, 1);
	take_str(m, "a", 0, "2");
	take_str(m, "a", 0, "3");
	/* too many bytes: as many old ones go as needed */
	put_str(m, "a", "1234", 0, 0);
	put_str(m, "a", "5678", 0, 0);
	put_str(m, "a", "abcdefgh", 0, 2);
	take_str(m, "a", 0, "abcdefgh");
	/* a message bigger than a whole box is refused */
	memset(big, 'x', sizeof(big));
	assert_int_equal(wm_mailbox_put(m, "a", (uint8_t *)big, 11, 0), -EMSGSIZE);
	/* too many boxes */
	put_str(m, "a", "x", 0, 0);
	put_str(m, "b", "x", 0, 0);
	assert_int_equal(wm_mailbox_put(m, "c", (uint8_t *)"x", 1, 0), -EUSERS);
	/* bad IDs */
	assert_int_equal(wm_mailbox_put(m, "", (uint8_t *)"x", 1, 0), -EINVAL);
	memset(big, 'a', sizeof(big));
	big[64] = '\0'; /* one more than WM_NODE_ID_MAX */
	assert_int_equal(wm_mailbox_put(m, big, (uint8_t *)"x", 1, 0), -EINVAL);
	wm_mailboxes_free(m);
}

/* The global caps: a node's put beyond them is refused and changes nothing;
 * within its own box a newer signal still replaces an older one. */
static void test_global_caps(void **state)
{
	(void)state;
	struct wm_mailbox_limits lim = {.max_messages = 3,
					.max_bytes = 100,
					.ttl_ms = 1000,
					.max_total_messages = 4,
					.max_total_bytes = 12};
	struct wm_mailboxes *m;

	assert_int_equal(wm_mailboxes_new(&lim, &m), 0);
	put_str(m, "a", "111", 0, 0);
	put_str(m, "a", "222", 0, 0);
	put_str(m, "b", "333", 0, 0);
	assert_int_equal(wm_mailboxes_messages(m), 3);
	assert_int_equal(wm_mailboxes_bytes(m), 9);
	/* 12 bytes in all: "c" may not push out "a" or "b". */
	assert_int_equal(wm_mailbox_put(m, "c", (uint8_t *)"4444", 4, 0), -ENOBUFS);
	assert_int_equal(wm_mailbox_count(m, "c"), 0);
	assert_int_equal(wm_mailboxes_boxes(m), 2);
	put_str(m, "c", "444", 0, 0);
	/* 4 messages in all: a fifth is refused, for a new box and an old one. */
	assert_int_equal(wm_mailbox_put(m, "d", (uint8_t *)"5", 1, 0), -ENOBUFS);
	assert_int_equal(wm_mailbox_put(m, "b", (uint8_t *)"5", 1, 0), -ENOBUFS);
	assert_int_equal(wm_mailbox_count(m, "b"), 1);
	/* Taking frees room. */
	take_str(m, "a", 0, "111");
	put_str(m, "d", "5", 0, 0);
	assert_int_equal(wm_mailboxes_messages(m), 4);
	assert_int_equal(wm_mailboxes_bytes(m), 10);
	/* A full box of its own makes room inside itself, within the totals. */
	lim.max_messages = 1;
	wm_mailboxes_set_limits(m, &lim);
	put_str(m, "c", "66", 0, 1);
	take_str(m, "c", 0, "66");
	/* Expiry frees room too. */
	assert_int_equal(wm_mailbox_put(m, "e", (uint8_t *)"77", 2, 1000), 0);
	assert_int_equal(wm_mailboxes_messages(m), 1);
	assert_int_equal(wm_mailboxes_bytes(m), 2);
	wm_mailboxes_free(m);
}

static void test_expiry(void **state)
{
	(void)state;
	struct wm_mailbox_limits lim = {.max_boxes = 1, .ttl_ms = 1000};
	struct wm_mailboxes *m;
	uint8_t *msg;
	size_t len;

	assert_int_equal(wm_mailboxes_new(&lim, &m), 0);
	put_str(m, "a", "old", 0, 0);
	put_str(m, "a", "new", 600, 0);
	/* at 1000 the first is gone, the second not yet */
	take_str(m, "a", 1000, "new");
	put_str(m, "a", "late", 1000, 0);
	assert_int_equal(wm_mailbox_take(m, "a", 2000, &msg, &len), -ENOENT);
	assert_int_equal(wm_mailboxes_boxes(m), 0);
	/* an expired box no longer counts against max_boxes */
	put_str(m, "a", "x", 3000, 0);
	put_str(m, "b", "y", 4000, 0);
	assert_int_equal(wm_mailbox_count(m, "a"), 0);
	assert_int_equal(wm_mailbox_count(m, "b"), 1);
	wm_mailboxes_expire(m, 5000);
	assert_int_equal(wm_mailboxes_boxes(m), 0);
	wm_mailboxes_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_global_caps),
		cmocka_unit_test(test_expiry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
