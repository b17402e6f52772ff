/* Per-node mailboxes of opaque messages, bounded in count, size and age: a
 * server keeps the signals for a node that is not listening right now (pure:
 * time comes in as an argument). */
#ifndef WM_CORE_MAILBOX_H
#define WM_CORE_MAILBOX_H

#include <stddef.h>
#include <stdint.h>

struct wm_mailboxes;

struct wm_mailbox_limits {
	size_t max_boxes;	   /* nodes with queued messages; 0 = 1024 */
	size_t max_messages;	   /* per box; 0 = 32 */
	size_t max_bytes;	   /* per box, all messages together; 0 = 256 KiB */
	int64_t ttl_ms;		   /* a message older than this is dropped; 0 = 30000 */
	size_t max_total_messages; /* in all boxes together; 0 = 4096 */
	size_t max_total_bytes;	   /* in all boxes together; 0 = 4 MiB */
};

/* limits may be NULL (the defaults). -ENOMEM. */
int wm_mailboxes_new(const struct wm_mailbox_limits *limits, struct wm_mailboxes **out);
/* Changes the limits (0 fields = the defaults); messages already queued stay
 * until taken or expired. */
void wm_mailboxes_set_limits(struct wm_mailboxes *m, const struct wm_mailbox_limits *limits);
/* Frees every box and message. NULL is fine. */
void wm_mailboxes_free(struct wm_mailboxes *m);

/* Queues a copy of msg for id (at most WM_NODE_ID_MAX characters). When the box
 * is full, the oldest messages make room: a newer signal replaces an older one.
 * Returns 0, or the number (> 0) of older messages dropped to make room;
 * -EMSGSIZE when msg alone exceeds max_bytes, -EUSERS when max_boxes nodes have
 * mail already, -ENOBUFS when the boxes together hold max_total_messages or
 * max_total_bytes (room is made only within the node's own box: one node's
 * mail never pushes out another's), -EINVAL for an empty or too long id,
 * -ENOMEM. Expired messages are dropped first; a refused put changes nothing. */
int wm_mailbox_put(struct wm_mailboxes *m, const char *id, const uint8_t *msg, size_t len,
		   int64_t now_ms);
/* Takes the oldest unexpired message of id: *msg is malloc'd (the caller
 * frees it). -ENOENT when there is none. */
int wm_mailbox_take(struct wm_mailboxes *m, const char *id, int64_t now_ms, uint8_t **msg,
		    size_t *len);
/* Drops expired messages and empty boxes everywhere. */
void wm_mailboxes_expire(struct wm_mailboxes *m, int64_t now_ms);
/* Messages waiting for id (expired ones included until the next expire). */
size_t wm_mailbox_count(const struct wm_mailboxes *m, const char *id);
/* Nodes with at least one message. */
size_t wm_mailboxes_boxes(const struct wm_mailboxes *m);
/* Messages and their bytes in all boxes. */
size_t wm_mailboxes_messages(const struct wm_mailboxes *m);
size_t wm_mailboxes_bytes(const struct wm_mailboxes *m);

#endif
