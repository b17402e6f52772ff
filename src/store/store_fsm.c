/* The libraft FSM adapter: entries to wm_fsm transactions, snapshots, the change feed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cmdver.h"
#include "core/error.h"
#include "store/store_int.h"

static void notify(struct wm_store_fsm *g, uint64_t index, const Webmesh__V1__RaftCommand *cmd)
{
	__typeof__(g->listeners[0]) tmp[WM_STORE_MAX_LISTENERS];
	size_t n = g->n_listeners;

	/* A listener may register or drop listeners from its callback: walk a copy. */
	memcpy(tmp, g->listeners, n * sizeof(g->listeners[0]));
	for (size_t i = 0; i < n; i++)
		tmp[i].cb(tmp[i].data, index, cmd);
}

/* Once, when the replica has just stopped at an entry (core/cmdver.h). */
static void stalled_log(struct wm_store_fsm *g, bool was_stalled, const struct wm_store_result *res)
{
	if (was_stalled || !wm_fsm_stalled(g->fsm, NULL, NULL) || !g->log)
		return;
	char msg[sizeof(res->message) + 96];
	snprintf(msg, sizeof(msg),
		 "stopped applying the Raft log: %s; restart this node on a build of that version "
		 "or newer",
		 res->message);
	g->log(g->log_data, msg);
}

static int apply_cb(struct raft_fsm *rf, const struct raft_buffer *buf, void **result)
{
	struct wm_store_fsm *g = rf->data;
	uint64_t index = (uint64_t)g->raft->last_applied + 1;
	struct wm_store_result *res = NULL;
	Webmesh__V1__RaftCommand *cmd;
	const uint8_t *payload;
	size_t len;
	int r;

	if (g->result_for)
		res = g->result_for(g->owner, index);
	if (!res)
		res = &g->scratch;
	*result = res;
	bool was_stalled = wm_fsm_stalled(g->fsm, NULL, NULL);
	/* Decoded once, for the FSM and for every listener. */
	r = wm_store_entry_decode(buf, &payload, &len);
	if (r == -EPROTONOSUPPORT) {
		/* framed by a newer build: not understood, so not skipped */
		wm_fsm_stall(g->fsm, index, WM_CMD_VERSION + 1, res);
		stalled_log(g, was_stalled, res);
		return 0;
	}
	if (r < 0) {
		payload = NULL;
		len = 0;
	}
	cmd = payload ? webmesh__v1__raft_command__unpack(NULL, len, payload) : NULL;
	if (!cmd) {
		/* Every replica refuses the same bytes: the log moves on. */
		wm_fsm_apply(g->fsm, index, payload ? payload : (const uint8_t *)"", len, res);
		return 0;
	}
	r = wm_fsm_apply_cmd(g->fsm, index, cmd, res);
	if (r == 0 && res->err == 0)
		notify(g, index, cmd);
	stalled_log(g, was_stalled, res);
	webmesh__v1__raft_command__free_unpacked(cmd, NULL);
	/* An SQLite failure (out of memory or disk) is this replica's, not the
	 * command's: failing the hook makes libraft stop and retry the entry
	 * rather than skip it and diverge. */
	return r < 0 ? RAFT_IOERR : 0;
}

static int snapshot_cb(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct wm_store_fsm *g = rf->data;
	uint8_t *img;
	size_t len;

	/* libraft frees both the array and the image with raft_free (version 1). */
	int r = wm_fsm_snapshot_alloc(g->fsm, raft_malloc, &img, &len);
	/* Stalled: RAFT_BUSY is the failure libraft retries later without
	 * giving up, and the log it keeps is what a newer build replays. */
	if (r == -EBUSY)
		return RAFT_BUSY;
	if (r < 0)
		return RAFT_NOMEM;
	*bufs = raft_malloc(sizeof(**bufs));
	if (!*bufs) {
		raft_free(img);
		return RAFT_NOMEM;
	}
	(*bufs)[0].base = img;
	(*bufs)[0].len = len;
	*n_bufs = 1;
	return 0;
}

static int restore_cb(struct raft_fsm *rf, struct raft_buffer *buf)
{
	struct wm_store_fsm *g = rf->data;
	int r = wm_fsm_restore(g->fsm, buf->base, buf->len);

	if (r < 0)
		return r == -ENOMEM ? RAFT_NOMEM : RAFT_CORRUPT;
	/* On success the buffer is ours to free; on failure it stays libraft's. */
	raft_free(buf->base);
	if (wm_fsm_migrated_from(g->fsm) && g->log) {
		char msg[96];
		snprintf(msg, sizeof(msg), "migrated state from schema %d to %d",
			 wm_fsm_migrated_from(g->fsm), WM_FSM_SCHEMA_VERSION);
		g->log(g->log_data, msg);
	}
	/* The whole state changed: listeners get no command, only the news. */
	notify(g, wm_fsm_applied_index(g->fsm), NULL);
	return 0;
}

/*
 * libraft's disk and network encoding wants every entry's length to be a
 * multiple of 8 (an assert that release builds compile out, leaving corrupt
 * segments), and a protobuf message cannot be padded with zeros (a trailing
 * 0x00 could be a field). So an entry is a header, the message, zero padding:
 *   byte 0 format (1), bytes 1-3 zero, bytes 4-7 message length (LE), message.
 * A later format keeps this header with its own number in byte 0: a build
 * that meets one stops applying there (core/cmdver.h) instead of skipping.
 */
#define ENTRY_FORMAT 1
#define ENTRY_HEADER 8

int wm_store_entry_encode(const Webmesh__V1__RaftCommand *cmd, struct raft_buffer *out)
{
	/* The generic calls, not the generated wrappers: inside the store
	 * module the wrappers assert that cmd carries the module's own copy of
	 * the descriptor, and a command made by webmeshd carries webmeshd's. */
	size_t len = protobuf_c_message_get_packed_size(&cmd->base);
	size_t total = (ENTRY_HEADER + len + 7) & ~(size_t)7;
	uint8_t *p;

	if (len > UINT32_MAX - 16)
		return -E2BIG;
	p = raft_malloc(total);
	if (!p)
		return -ENOMEM;
	memset(p, 0, total);
	p[0] = ENTRY_FORMAT;
	for (int i = 0; i < 4; i++)
		p[4 + i] = (uint8_t)(len >> (8 * i));
	protobuf_c_message_pack(&cmd->base, p + ENTRY_HEADER);
	out->base = p;
	out->len = total;
	return 0;
}

int wm_store_entry_decode(const struct raft_buffer *buf, const uint8_t **msg, size_t *len)
{
	const uint8_t *p = buf->base;
	size_t n = 0;

	if (buf->len < ENTRY_HEADER || p[0] == 0 || p[1] || p[2] || p[3])
		return -EBADMSG;
	for (int i = 0; i < 4; i++)
		n |= (size_t)p[4 + i] << (8 * i);
	if (n > buf->len - ENTRY_HEADER)
		return -EBADMSG;
	/* A well-formed header of a later format is a newer build's entry,
	 * not garbage: the caller must not skip it. */
	if (p[0] != ENTRY_FORMAT)
		return -EPROTONOSUPPORT;
	*msg = p + ENTRY_HEADER;
	*len = n;
	return 0;
}

void wm_store_fsm_init(struct wm_store_fsm *g, struct wm_fsm *fsm)
{
	memset(g, 0, sizeof(*g));
	g->fsm = fsm;
	g->raft_fsm.version = 1;
	g->raft_fsm.data = g;
	g->raft_fsm.apply = apply_cb;
	g->raft_fsm.snapshot = snapshot_cb;
	g->raft_fsm.restore = restore_cb;
}

int wm_store_fsm_listen(struct wm_store_fsm *g, wm_store_change_cb cb, void *data)
{
	if (g->n_listeners == WM_STORE_MAX_LISTENERS)
		return -ENOSPC;
	g->listeners[g->n_listeners].cb = cb;
	g->listeners[g->n_listeners].data = data;
	g->n_listeners++;
	return 0;
}

void wm_store_fsm_unlisten(struct wm_store_fsm *g, wm_store_change_cb cb, void *data)
{
	for (size_t i = 0; i < g->n_listeners; i++) {
		if (g->listeners[i].cb == cb && g->listeners[i].data == data) {
			memmove(&g->listeners[i], &g->listeners[i + 1],
				(g->n_listeners - i - 1) * sizeof(g->listeners[0]));
			g->n_listeners--;
			return;
		}
	}
}

int wm_store_raft_err(int rv)
{
	switch (rv) {
	case 0:
		return 0;
	case RAFT_NOMEM:
		return -ENOMEM;
	case RAFT_NOTLEADER:
	case RAFT_LEADERSHIPLOST:
		return -WM_ENOTLEADER;
	case RAFT_BADID:
	case RAFT_NOTFOUND:
		return -ENOENT;
	case RAFT_DUPLICATEID:
	case RAFT_DUPLICATEADDRESS:
		return -EEXIST;
	case RAFT_BADROLE:
	case RAFT_INVALID:
	case RAFT_MALFORMED:
		return -EINVAL;
	case RAFT_SHUTDOWN:
	case RAFT_CANCELED:
		return -ECANCELED;
	case RAFT_CANTCHANGE:
	case RAFT_BUSY:
		return -EBUSY;
	case RAFT_TOOBIG:
		return -E2BIG;
	case RAFT_NAMETOOLONG:
		return -ENAMETOOLONG;
	case RAFT_NOCONNECTION:
		return -ECONNREFUSED;
	case RAFT_UNAUTHORIZED:
		return -EACCES;
	case RAFT_NOSPACE:
		return -ENOSPC;
	case RAFT_CORRUPT:
		return -EBADMSG;
	case RAFT_TOOMANY:
		return -EMFILE;
	default:
		return -EIO;
	}
}
