/* The loopback relay on a GMainContext (ICE's thread): reading when the
 * socket is readable, the queue towards WireGuard flushed from a
 * high-priority idle source once the path's burst is read, and the read
 * buffers freed once the link goes idle. */
#include <errno.h>

#include <glib-unix.h>

#include "nat/relay_int.h"

static gboolean readable_cb(gint fd, GIOCondition cond, gpointer data)
{
	(void)fd;
	(void)cond;
	wm_relay_read(data);
	return G_SOURCE_CONTINUE;
}

static gboolean flush_cb(gpointer data)
{
	struct wm_relay *r = data;

	g_source_unref(r->flush);
	r->flush = NULL;
	wm_relay_flush(r);
	return G_SOURCE_REMOVE;
}

static void schedule_flush(struct wm_relay *r)
{
	if (r->flush)
		return;
	/* Runs before the next round of socket sources: after the read loop
	 * that is delivering this burst has drained its socket. */
	GSource *s = g_idle_source_new();
	g_source_set_priority(s, G_PRIORITY_HIGH);
	g_source_set_callback(s, flush_cb, r, NULL);
	g_source_attach(s, r->ctx);
	r->flush = s;
}

/* How often a relay holding read buffers is asked whether it still reads:
 * an ICE link that goes idle gives its buffers (up to 512 KiB with GRO)
 * back within two periods, as a libp2p link's timer does for its relay. */
#define TRIM_PERIOD_S 1

static gboolean trim_cb(gpointer data)
{
	struct wm_relay *r = data;

	wm_relay_trim(r);
	if (r->bufs)
		return G_SOURCE_CONTINUE;
	/* Freed: no wakeups while idle; the next read's buffers arm it again. */
	g_source_unref(r->trim);
	r->trim = NULL;
	return G_SOURCE_REMOVE;
}

static void schedule_trim(struct wm_relay *r)
{
	if (r->trim)
		return;
	GSource *s = g_timeout_source_new_seconds(TRIM_PERIOD_S);
	g_source_set_callback(s, trim_cb, r, NULL);
	g_source_attach(s, r->ctx);
	r->trim = s;
}

static void detach(struct wm_relay *r)
{
	if (r->trim) {
		g_source_destroy(r->trim);
		g_source_unref(r->trim);
		r->trim = NULL;
	}
	if (r->flush) {
		g_source_destroy(r->flush);
		g_source_unref(r->flush);
		r->flush = NULL;
	}
	if (r->source) {
		g_source_destroy(r->source);
		g_source_unref(r->source);
		r->source = NULL;
	}
}

int wm_relay_attach(struct wm_relay *r, GMainContext *ctx)
{
	GSource *s;

	if (r->source)
		return -EALREADY;
	s = g_unix_fd_source_new(r->fd, G_IO_IN);
	if (!s)
		return -ENOMEM;
	r->ctx = ctx;
	r->source = s;
	r->schedule_flush = schedule_flush;
	r->schedule_trim = schedule_trim;
	r->detach = detach;
	g_source_set_callback(s, G_SOURCE_FUNC(readable_cb), r, NULL);
	g_source_attach(s, ctx);
	return 0;
}
