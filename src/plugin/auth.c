/* An auth plugin as an authenticator of the chain (auth/auth.h): the chain
 * runs it on a pool thread, which waits a bounded time for the plugin's
 * completion. Fail closed: an error or a timeout refuses. */
#include "plugin/plugin_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "core/rbac.h"

/* Shared by the waiting thread and the plugin's completion, which may come
 * after the wait gave up: the last of the two frees it. */
struct waiter {
	uv_mutex_t mu;
	uv_cond_t cv;
	int refs;
	bool done;
	int status;
	char identity[WM_AUTH_ID_MAX + 1];
	bool identity_too_long;
	char message[WM_AUTH_REASON_MAX];
};

static void waiter_unref(struct waiter *w)
{
	uv_mutex_lock(&w->mu);
	bool last = --w->refs == 0;
	uv_mutex_unlock(&w->mu);
	if (last) {
		uv_cond_destroy(&w->cv);
		uv_mutex_destroy(&w->mu);
		free(w);
	}
}

static void done_fn(void *token, int status, const char *identity, const char *message)
{
	struct waiter *w = token;
	uv_mutex_lock(&w->mu);
	if (!w->done) {
		w->done = true;
		w->status = status;
		if (identity) {
			w->identity_too_long = strlen(identity) >= sizeof(w->identity);
			snprintf(w->identity, sizeof(w->identity), "%s", identity);
		}
		if (message)
			snprintf(w->message, sizeof(w->message), "%s", message);
		uv_cond_signal(&w->cv);
	}
	uv_mutex_unlock(&w->mu);
	waiter_unref(w);
}

static int plugin_authenticate(void *self, const struct wm_auth_request *req,
			       struct wm_identity *out, char *why, size_t whylen)
{
	struct wm_plugin_inst *p = self;
	struct webmesh_kv kv[WM_AUTH_MD_MAX];
	size_t n_kv = req->n_md < WM_AUTH_MD_MAX ? req->n_md : WM_AUTH_MD_MAX;
	unsigned char *der = NULL;
	const uint8_t *ders[1];
	size_t lens[1];
	char msg[WEBMESH_PLUGIN_MSG_MAX] = "";
	int r;

	for (size_t i = 0; i < n_kv; i++) {
		kv[i].key = req->md[i].key;
		kv[i].value = req->md[i].value;
	}
	struct webmesh_auth_request ar = {
		.metadata = kv,
		.n_metadata = n_kv,
		.cert_der = ders,
		.cert_len = lens,
		.peer = req->peer ? req->peer : "",
		.path = "",
		.now = req->now,
	};
	if (req->peer_cert) {
		int len = i2d_X509(req->peer_cert, &der);
		if (len > 0) {
			ders[0] = der;
			lens[0] = (size_t)len;
			ar.n_certs = 1;
		}
	}
	struct waiter *w = calloc(1, sizeof(*w));
	if (!w || uv_mutex_init(&w->mu) < 0) {
		free(w);
		OPENSSL_free(der);
		snprintf(why, whylen, "out of memory");
		return -EIO;
	}
	if (uv_cond_init(&w->cv) < 0) {
		uv_mutex_destroy(&w->mu);
		free(w);
		OPENSSL_free(der);
		snprintf(why, whylen, "out of memory");
		return -EIO;
	}
	w->refs = 2;
	r = p->t->auth->authenticate(p->state, &ar, done_fn, w, msg, sizeof(msg));
	OPENSSL_free(der);
	if (r != 0) {
		msg[sizeof(msg) - 1] = '\0';
		/* The contract: no done after an error. An in-process plugin that
		 * breaks it can corrupt anything anyway; holding the reference
		 * for it would leak one waiter per failed call instead. */
		waiter_unref(w);
		waiter_unref(w);
		snprintf(why, whylen, "plugin failed: %.100s", msg[0] ? msg : "no reason given");
		return -EIO;
	}
	uint64_t deadline = uv_hrtime() + (uint64_t)p->auth_timeout_ms * 1000000u;
	uv_mutex_lock(&w->mu);
	while (!w->done) {
		uint64_t now = uv_hrtime();
		if (now >= deadline || uv_cond_timedwait(&w->cv, &w->mu, deadline - now) != 0)
			if (!w->done)
				break;
	}
	bool done = w->done;
	int status = w->status;
	struct waiter copy = {0};
	memcpy(copy.identity, w->identity, sizeof(copy.identity));
	memcpy(copy.message, w->message, sizeof(copy.message));
	copy.identity_too_long = w->identity_too_long;
	uv_mutex_unlock(&w->mu);
	waiter_unref(w);
	if (!done) {
		snprintf(why, whylen, "no answer within %u ms", p->auth_timeout_ms);
		return -ETIMEDOUT;
	}
	if (status == -ENOENT)
		return -ENOENT;
	if (status == -EACCES) {
		snprintf(why, whylen, "%s", copy.message[0] ? copy.message : "refused");
		return -EACCES;
	}
	if (status != 0) {
		snprintf(why, whylen, "plugin failed: %.100s",
			 copy.message[0] ? copy.message : "no reason given");
		return -EIO;
	}
	/* An accepted caller still needs a name RBAC can hold. */
	if (copy.identity_too_long || wm_rbac_name_check(copy.identity, NULL) < 0) {
		snprintf(why, whylen, "plugin accepted an invalid identity \"%.64s\"",
			 copy.identity);
		return -EIO;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", copy.identity);
	out->kind = WM_ID_USER;
	snprintf(out->method, sizeof(out->method), "%.15s", p->name);
	return 0;
}

/* The chain frees its authenticators; the instance is the host's. */
static void plugin_auth_free(void *self)
{
	(void)self;
}

int wm_plugins_auth_add(struct wm_plugins *h, struct wm_auth *a, char *err, size_t errlen)
{
	for (size_t i = 0; h && i < h->n; i++) {
		struct wm_plugin_inst *p = &h->p[i];
		if (!(p->t->capabilities & WEBMESH_PLUGIN_CAP_AUTH))
			continue;
		p->auth_ops = (struct wm_authenticator_ops){
			.name = p->name,
			.authenticate = plugin_authenticate,
			.free = plugin_auth_free,
		};
		struct wm_authenticator au = {.ops = &p->auth_ops, .self = p};
		int r = wm_auth_add(a, &au);
		if (r < 0) {
			snprintf(err, errlen, "plugin %s: too many authenticators", p->name);
			return r;
		}
	}
	return 0;
}
