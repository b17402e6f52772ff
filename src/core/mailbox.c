/* Bounded per-node mailboxes: a list of boxes, each a FIFO of messages. The
 * number of boxes is small (nodes with pending signals), so lists suffice. */
#include "core/mailbox.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"

struct message {
	struct message *next;
	int64_t at_ms;
	size_t len;
	uint8_t data[];
};

struct box {
	struct box *next;
	char id[WM_NODE_ID_MAX + 1];
	struct message *head, *tail;
	size_t count, bytes;
};

struct wm_mailboxes {
	struct wm_mailbox_limits lim;
	struct box *boxes;
	size_t n_boxes;
	size_t n_messages, n_bytes; /* over all boxes */
};

int wm_mailboxes_new(const struct wm_mailbox_limits *limits, struct wm_mailboxes **out)
{
	struct wm_mailboxes *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	wm_mailboxes_set_limits(m, limits);
	*out = m;
	return 0;
}

void wm_mailboxes_set_limits(struct wm_mailboxes *m, const struct wm_mailbox_limits *limits)
{
	memset(&m->lim, 0, sizeof(m->lim));
	if (limits)
		m->lim = *limits;
	if (!m->lim.max_boxes)
		m->lim.max_boxes = 1024;
	if (!m->lim.max_messages)
		m->lim.max_messages = 32;
	if (!m->lim.max_bytes)
		m->lim.max_bytes = 256 * 1024;
	if (!m->lim.ttl_ms)
		m->lim.ttl_ms = 30000;
	if (!m->lim.max_total_messages)
		m->lim.max_total_messages = 4096;
	if (!m->lim.max_total_bytes)
		m->lim.max_total_bytes = 4 * 1024 * 1024;
}

static void drop_head(struct wm_mailboxes *m, struct box *b)
{
	struct message *msg = b->head;

	b->head = msg->next;
	if (!b->head)
		b->tail = NULL;
	b->count--;
	b->bytes -= msg->len;
	m->n_messages--;
	m->n_bytes -= msg->len;
	free(msg);
}

static void box_expire(struct wm_mailboxes *m, struct box *b, int64_t now_ms)
{
	/* Messages are queued in time order, so expired ones are at the head. */
	while (b->head && now_ms - b->head->at_ms >= m->lim.ttl_ms)
		drop_head(m, b);
}

void wm_mailboxes_expire(struct wm_mailboxes *m, int64_t now_ms)
{
	struct box **pp = &m->boxes;

	while (*pp) {
		struct box *b = *pp;

		box_expire(m, b, now_ms);
		if (b->head) {
			pp = &b->next;
			continue;
		}
		*pp = b->next;
		free(b);
		m->n_boxes--;
	}
}

void wm_mailboxes_free(struct wm_mailboxes *m)
{
	if (!m)
		return;
	while (m->boxes) {
		struct box *b = m->boxes;

		m->boxes = b->next;
		while (b->head)
			drop_head(m, b);
		free(b);
	}
	free(m);
}

static struct box *find(const struct wm_mailboxes *m, const char *id)
{
	for (struct box *b = m->boxes; b; b = b->next)
		if (strcmp(b->id, id) == 0)
			return b;
	return NULL;
}

static bool id_ok(const char *id)
{
	size_t n = id ? strnlen(id, WM_NODE_ID_MAX + 1) : 0;

	return n > 0 && n <= WM_NODE_ID_MAX;
}

int wm_mailbox_put(struct wm_mailboxes *m, const char *id, const uint8_t *msg, size_t len,
		   int64_t now_ms)
{
	struct message *e;
	struct box *b;
	int dropped = 0;

	if (!id_ok(id))
		return -EINVAL;
	if (len > m->lim.max_bytes)
		return -EMSGSIZE;
	wm_mailboxes_expire(m, now_ms);
	b = find(m, id);
	if (!b && m->n_boxes >= m->lim.max_boxes)
		return -EUSERS;
	/* What the node's own box would give up for this message, before
	 * anything is dropped: a put refused for the total keeps the box whole. */
	size_t free_count = 0, free_bytes = 0, count = b ? b->count : 0, bytes = b ? b->bytes : 0;
	for (struct message *x = b ? b->head : NULL;
	     x && (count - free_count >= m->lim.max_messages ||
		   bytes - free_bytes + len > m->lim.max_bytes);
	     x = x->next) {
		free_count++;
		free_bytes += x->len;
	}
	if (m->n_messages - free_count + 1 > m->lim.max_total_messages ||
	    m->n_bytes - free_bytes + len > m->lim.max_total_bytes)
		return -ENOBUFS;
	e = malloc(sizeof(*e) + (len ? len : 1));
	if (!e)
		return -ENOMEM;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b) {
			free(e);
			return -ENOMEM;
		}
		strcpy(b->id, id);
		b->next = m->boxes;
		m->boxes = b;
		m->n_boxes++;
	}
	while (b->head && (b->count >= m->lim.max_messages || b->bytes + len > m->lim.max_bytes)) {
		drop_head(m, b);
		dropped++;
	}
	e->next = NULL;
	e->at_ms = now_ms;
	e->len = len;
	if (len)
		memcpy(e->data, msg, len);
	if (b->tail)
		b->tail->next = e;
	else
		b->head = e;
	b->tail = e;
	b->count++;
	b->bytes += len;
	m->n_messages++;
	m->n_bytes += len;
	return dropped;
}

int wm_mailbox_take(struct wm_mailboxes *m, const char *id, int64_t now_ms, uint8_t **msg,
		    size_t *len)
{
	struct box *b = id_ok(id) ? find(m, id) : NULL;
	uint8_t *copy;

	if (!b)
		return -ENOENT;
	box_expire(m, b, now_ms);
	if (!b->head) {
		wm_mailboxes_expire(m, now_ms);
		return -ENOENT;
	}
	copy = malloc(b->head->len ? b->head->len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, b->head->data, b->head->len);
	*msg = copy;
	*len = b->head->len;
	drop_head(m, b);
	if (!b->head)
		wm_mailboxes_expire(m, now_ms); /* frees the empty box */
	return 0;
}

size_t wm_mailbox_count(const struct wm_mailboxes *m, const char *id)
{
	const struct box *b = id_ok(id) ? find(m, id) : NULL;

	return b ? b->count : 0;
}

size_t wm_mailboxes_boxes(const struct wm_mailboxes *m)
{
	return m->n_boxes;
}

size_t wm_mailboxes_messages(const struct wm_mailboxes *m)
{
	return m->n_messages;
}

size_t wm_mailboxes_bytes(const struct wm_mailboxes *m)
{
	return m->n_bytes;
}
