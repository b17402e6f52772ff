/* An auth plugin for test_plugin_auth.c: "authorization: Bearer TOKEN" with
 * TOKEN good (accepted as alice, answered from a thread of its own), bad
 * (refused), broken (fails), silent (answered only at fini, too late), bad-id (accepted with
 * an identity RBAC cannot hold); no header: no credentials. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "webmesh/plugin.h"

static int init(const struct webmesh_plugin_init_args *args, void **state, char *msg, size_t msglen)
{
	(void)args, (void)msg, (void)msglen;
	*state = NULL;
	return 0;
}

static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER;
static webmesh_auth_done_fn held_done;
static void *held_token;

static void fini(void *state)
{
	(void)state;
	pthread_mutex_lock(&held_mu);
	if (held_done)
		held_done(held_token, 0, "late", NULL);
	held_done = NULL;
	pthread_mutex_unlock(&held_mu);
}

struct later {
	webmesh_auth_done_fn done;
	void *token;
};

static void *answer_later(void *arg)
{
	struct later *l = arg;
	l->done(l->token, 0, "alice", NULL);
	free(l);
	return NULL;
}

static int authenticate(void *state, const struct webmesh_auth_request *req,
			webmesh_auth_done_fn done, void *token, char *msg, size_t msglen)
{
	(void)state, (void)msg, (void)msglen;
	const char *h = NULL;
	for (size_t i = 0; i < req->n_metadata; i++)
		if (!strcmp(req->metadata[i].key, "authorization"))
			h = req->metadata[i].value;
	if (!h || strncmp(h, "Bearer ", 7)) {
		done(token, -ENOENT, NULL, NULL);
		return 0;
	}
	h += 7;
	if (!strcmp(h, "good")) {
		pthread_t t;
		struct later *l = malloc(sizeof(*l));
		if (!l)
			return -ENOMEM;
		l->done = done;
		l->token = token;
		if (pthread_create(&t, NULL, answer_later, l)) {
			free(l);
			return -EAGAIN;
		}
		pthread_detach(t);
		return 0;
	}
	if (!strcmp(h, "silent")) {
		/* no answer until fini: too late, and harmless */
		pthread_mutex_lock(&held_mu);
		held_done = done;
		held_token = token;
		pthread_mutex_unlock(&held_mu);
		return 0;
	}
	if (!strcmp(h, "broken"))
		done(token, -EIO, NULL, "the token service is down");
	else if (!strcmp(h, "bad-id"))
		done(token, 0, "Not A Name!", NULL);
	else
		done(token, -EACCES, NULL, "unknown token");
	return 0;
}

static const struct webmesh_auth_ops auth_ops = {
	.size = sizeof(struct webmesh_auth_ops),
	.authenticate = authenticate,
};

__attribute__((visibility("default"))) const struct webmesh_plugin webmesh_plugin = {
	.abi = WEBMESH_PLUGIN_ABI,
	.size = sizeof(struct webmesh_plugin),
	.name = "bearer-fixture",
	.version = "0",
	.capabilities = WEBMESH_PLUGIN_CAP_AUTH,
	.init = init,
	.fini = fini,
	.auth = &auth_ops,
};
