/* A watch plugin for test_plugin_watch.c: its first event blocks until the
 * test releases it, so that the queue behind it fills; it records what it
 * got for the test (exported control functions, found with dlsym). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include "webmesh/plugin.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int blocked, released;
static uint64_t events, dropped_total, last_seq, dropped_calls;
static int out_of_order;

static int init(const struct webmesh_plugin_init_args *args, void **state, char *msg, size_t msglen)
{
	(void)args, (void)msg, (void)msglen;
	*state = NULL;
	return 0;
}

static void event(void *state, const struct webmesh_watch_event *ev)
{
	(void)state;
	pthread_mutex_lock(&mu);
	if (ev->seq <= last_seq)
		out_of_order = 1;
	last_seq = ev->seq;
	if (!events) {
		blocked = 1;
		while (!released)
			pthread_cond_wait(&cv, &mu);
	}
	events++;
	pthread_mutex_unlock(&mu);
}

static void dropped(void *state, uint64_t n)
{
	(void)state;
	pthread_mutex_lock(&mu);
	dropped_total += n;
	dropped_calls++;
	pthread_mutex_unlock(&mu);
}

__attribute__((visibility("default"))) int fixture_blocked(void)
{
	pthread_mutex_lock(&mu);
	int b = blocked;
	pthread_mutex_unlock(&mu);
	return b;
}

__attribute__((visibility("default"))) void fixture_release(void)
{
	pthread_mutex_lock(&mu);
	released = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

__attribute__((visibility("default"))) void fixture_counts(uint64_t out[4])
{
	pthread_mutex_lock(&mu);
	out[0] = events;
	out[1] = dropped_total;
	out[2] = dropped_calls;
	out[3] = (uint64_t)out_of_order;
	pthread_mutex_unlock(&mu);
}

static const struct webmesh_watch_ops watch_ops = {
	.size = sizeof(struct webmesh_watch_ops),
	.event = event,
	.dropped = dropped,
};

__attribute__((visibility("default"))) const struct webmesh_plugin webmesh_plugin = {
	.abi = WEBMESH_PLUGIN_ABI,
	.size = sizeof(struct webmesh_plugin),
	.name = "watch-fixture",
	.version = "0",
	.capabilities = WEBMESH_PLUGIN_CAP_WATCH,
	.init = init,
	.watch = &watch_ops,
};
