/* The authenticator chain: first that accepts wins, a backend failure ends
 * it; run on the libuv threadpool. */
#include "auth/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth_int.h"
#include "core/authlimit.h"
#include "core/key.h"
#include "core/keyauth.h"
#include "core/source.h"

#define MAX_AUTHENTICATORS 8

struct wm_auth {
	uv_loop_t *loop;
	struct wm_authenticator list[MAX_AUTHENTICATORS];
	size_t n;
	char methods[64];
	size_t pending;
	bool freeing;
	size_t max_pending;
	struct wm_authlimit *limit;
	struct wm_logonce logonce;
};

struct job {
	uv_work_t work;	  /* first: the work request is the job */
	uv_timer_t timer; /* answers without a thread from a later loop turn */
	struct wm_auth *a;
	struct wm_auth_request req;
	char *authorization, *key_id, *key_window, *key_sig, *key_audience;
	struct wm_rpc_metadata *md; /* one block: the array, then the strings */
	wm_auth_cb cb;
	void *data;
	int err;
	struct wm_identity id;
	char why[WM_AUTH_REASON_MAX];
	bool limited; /* let in by a->limit: end it with the outcome */
	int begun;    /* what wm_authlimit_begin said */
	char source[WM_SOURCE_KEY_MAX];
	char user[WM_AUTHLIMIT_USER_MAX + 3];
};

void wm_auth_request_from_call(const struct wm_rpc_call *call, struct wm_auth_request *req)
{
	memset(req, 0, sizeof(*req));
	req->peer_cert = wm_rpc_call_peer_cert(call);
	req->authorization = wm_rpc_call_metadata(call, "authorization");
	req->key_id = wm_rpc_call_metadata(call, WM_KEYAUTH_HDR_ID);
	req->key_window = wm_rpc_call_metadata(call, WM_KEYAUTH_HDR_WINDOW);
	req->key_sig = wm_rpc_call_metadata(call, WM_KEYAUTH_HDR_SIG);
	req->key_audience = wm_rpc_call_metadata(call, WM_KEYAUTH_HDR_AUDIENCE);
	const char *fp = wm_rpc_call_server_fingerprint(call);
	snprintf(req->server_fp, sizeof(req->server_fp), "%s", fp ? fp : "");
	req->local = wm_rpc_call_is_local(call);
	req->peer = wm_rpc_call_peer(call);
	req->call = call;
}

/* Copies the call's metadata into one block for the threads (a plugin
 * authenticator reads it). Secrets in it are wiped with the job. */
static int copy_md(struct job *j, const struct wm_rpc_call *call)
{
	struct wm_rpc_metadata e;
	size_t n = 0, bytes = 0;

	while (n < WM_AUTH_MD_MAX && wm_rpc_call_metadata_at(call, n, &e)) {
		bytes += strlen(e.key) + strlen(e.value) + 2;
		n++;
	}
	if (!n)
		return 0;
	j->md = malloc(n * sizeof(*j->md) + bytes);
	if (!j->md)
		return -ENOMEM;
	char *p = (char *)(j->md + n);
	for (size_t i = 0; i < n; i++) {
		wm_rpc_call_metadata_at(call, i, &e);
		size_t kl = strlen(e.key) + 1, vl = strlen(e.value) + 1;
		memcpy(p, e.key, kl);
		j->md[i].key = p;
		p += kl;
		memcpy(p, e.value, vl);
		j->md[i].value = p;
		p += vl;
	}
	j->req.md = j->md;
	j->req.n_md = n;
	return 0;
}

static void free_md(struct job *j)
{
	if (!j->md)
		return;
	size_t bytes = j->req.n_md * sizeof(*j->md);
	for (size_t i = 0; i < j->req.n_md; i++)
		bytes += strlen(j->md[i].key) + strlen(j->md[i].value) + 2;
	wm_wipe(j->md, bytes);
	free(j->md);
}

int wm_auth_new(uv_loop_t *loop, struct wm_auth **out)
{
	struct wm_auth *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->loop = loop;
	snprintf(a->methods, sizeof(a->methods), "none");
	a->max_pending = WM_AUTH_MAX_PENDING;
	wm_logonce_init(&a->logonce, 60000);
	if (wm_authlimit_new(NULL, &a->limit) < 0) {
		free(a);
		return -ENOMEM;
	}
	*out = a;
	return 0;
}

int wm_auth_set_limits(struct wm_auth *a, const struct wm_auth_limits *l)
{
	struct wm_authlimit_config lc = {.max_pending = l->max_pending_per_source,
					 .max_ms = l->backoff_max_ms};
	struct wm_authlimit *nl;

	if (a->pending)
		return -EBUSY;
	if (wm_authlimit_new(&lc, &nl) < 0)
		return -ENOMEM;
	wm_authlimit_free(a->limit);
	a->limit = nl;
	a->max_pending = l->max_pending ? l->max_pending : WM_AUTH_MAX_PENDING;
	return 0;
}

bool wm_auth_log_due(struct wm_auth *a, const char *peer)
{
	char src[WM_SOURCE_KEY_MAX];

	if (!a || wm_source_key(peer, src) < 0)
		return false;
	return wm_logonce_due(&a->logonce, src, (int64_t)uv_now(a->loop));
}

/* The name the request claims, for the per-user backoff: the Basic user or
 * the key-auth ID, in separate name spaces. "" when it names none. */
static void claimed_user(const struct wm_auth_request *req, char *out, size_t outlen)
{
	char user[WM_AUTHLIMIT_USER_MAX + 1];
	char *pass = NULL;

	out[0] = '\0';
	if (req->authorization &&
	    wm_auth_parse_basic(req->authorization, user, sizeof(user), &pass) == 0) {
		wm_auth_wipe_free(pass);
		snprintf(out, outlen, "u:%s", user);
	} else if (req->key_id && *req->key_id) {
		snprintf(out, outlen, "n:%.*s", WM_AUTHLIMIT_USER_MAX, req->key_id);
	}
}

int wm_auth_add(struct wm_auth *a, struct wm_authenticator *au)
{
	if (a->n >= MAX_AUTHENTICATORS) {
		if (au->ops && au->ops->free)
			au->ops->free(au->self);
		return -ENOSPC;
	}
	a->list[a->n++] = *au;
	size_t o = 0;
	for (size_t i = 0; i < a->n; i++)
		o += (size_t)snprintf(a->methods + o,
				      o < sizeof(a->methods) ? sizeof(a->methods) - o : 0, "%s%s",
				      i ? "," : "", a->list[i].ops->name);
	return 0;
}

bool wm_auth_is_open(const struct wm_auth *a)
{
	return !a || a->n == 0;
}

const char *wm_auth_methods(const struct wm_auth *a)
{
	return a ? a->methods : "none";
}

static void set_local(struct wm_identity *id)
{
	memset(id, 0, sizeof(*id));
	id->kind = WM_ID_ANY;
	id->local = true;
	snprintf(id->method, sizeof(id->method), "local");
}

static void set_anonymous(struct wm_identity *id)
{
	memset(id, 0, sizeof(*id));
	id->kind = WM_ID_ANY;
	id->anonymous = true;
	snprintf(id->method, sizeof(id->method), "anonymous");
}

/* The chain itself; blocking. */
static int run_chain(struct wm_auth *a, const struct wm_auth_request *req, struct wm_identity *out,
		     char *why, size_t whylen)
{
	int result = -EACCES;
	bool any_creds = false, backend_failed = false;
	char first_why[WM_AUTH_REASON_MAX + 32] = "";

	if (req->local) {
		set_local(out);
		return 0;
	}
	if (a->n == 0) {
		set_anonymous(out);
		return 0;
	}
	for (size_t i = 0; i < a->n; i++) {
		char w[WM_AUTH_REASON_MAX] = "";
		struct wm_identity id;

		memset(&id, 0, sizeof(id));
		int r = a->list[i].ops->authenticate(a->list[i].self, req, &id, w, sizeof(w));
		if (r == 0) {
			*out = id;
			if (!out->method[0])
				snprintf(out->method, sizeof(out->method), "%s",
					 a->list[i].ops->name);
			return 0;
		}
		if (r == -ENOENT)
			continue;
		if (r == -EACCES)
			any_creds = true;
		else
			backend_failed = true;
		if (!first_why[0] || backend_failed)
			snprintf(first_why, sizeof(first_why), "%.15s: %.150s",
				 a->list[i].ops->name, w[0] ? w : "refused");
		if (backend_failed) {
			/* A method that could not check the credentials it was
			 * given ends the chain, whatever came before: a later
			 * (maybe weaker) method must not decide in its place, and
			 * an earlier refusal is no answer when this one might
			 * have accepted. The caller may retry (UNAVAILABLE). */
			result = r;
			break;
		}
	}
	if (!any_creds && !backend_failed)
		snprintf(first_why, sizeof(first_why), "no credentials (accepted: %s)", a->methods);
	snprintf(why, whylen, "%.*s", (int)(whylen ? whylen - 1 : 0), first_why);
	return result;
}

int wm_auth_authenticate_sync(struct wm_auth *a, const struct wm_auth_request *req,
			      struct wm_identity *out, char *why, size_t whylen)
{
	struct wm_auth_request r = *req;

	if (!r.now)
		r.now = (int64_t)time(NULL);
	if (why && whylen)
		why[0] = '\0';
	return run_chain(a, &r, out, why, whylen);
}

static void job_free(struct job *j)
{
	if (j->limited) /* never checked: says nothing about the caller */
		wm_authlimit_end(j->a->limit, j->source, j->user, j->begun, WM_AUTHLIMIT_ERROR,
				 (int64_t)uv_now(j->a->loop));
	free(j->authorization);
	if (j->key_sig)
		wm_wipe(j->key_sig, strlen(j->key_sig));
	free(j->key_id);
	free(j->key_window);
	free(j->key_sig);
	free(j->key_audience);
	free_md(j);
	X509_free(j->req.peer_cert);
	free(j);
}

static void finish(struct job *j)
{
	struct wm_auth *a = j->a;

	/* A call with no credentials at all guessed nothing: it costs the
	 * source no wait (the per-source queue bound still holds it). */
	bool guessed = j->req.peer_cert || j->authorization || j->key_id;
	if (j->limited)
		wm_authlimit_end(a->limit, j->source, j->user, j->begun,
				 j->err == 0			? WM_AUTHLIMIT_ACCEPTED
				 : j->err == -EACCES && guessed ? WM_AUTHLIMIT_REFUSED
								: WM_AUTHLIMIT_ERROR,
				 (int64_t)uv_now(a->loop));
	j->limited = false;
	j->cb(j->data, j->err, j->err ? NULL : &j->id, j->why);
	/* The header may hold a password: wipe it before it goes back to malloc. */
	if (j->authorization)
		wm_wipe(j->authorization, strlen(j->authorization));
	job_free(j);
	a->pending--;
	if (a->freeing && a->pending == 0)
		wm_auth_free(a);
}

static void work_cb(uv_work_t *w)
{
	struct job *j = (struct job *)w;
	j->err = run_chain(j->a, &j->req, &j->id, j->why, sizeof(j->why));
}

static void after_work_cb(uv_work_t *w, int status)
{
	struct job *j = (struct job *)w;
	if (status == UV_ECANCELED) {
		j->err = -ECANCELED;
		snprintf(j->why, sizeof(j->why), "the server is shutting down");
	}
	finish(j);
}

static void timer_close_cb(uv_handle_t *h)
{
	finish(h->data);
}

static void timer_cb(uv_timer_t *t)
{
	struct job *j = t->data;
	j->err = run_chain(j->a, &j->req, &j->id, j->why, sizeof(j->why));
	uv_close((uv_handle_t *)t, timer_close_cb);
}

static int dup_opt(const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

int wm_auth_authenticate(struct wm_auth *a, const struct wm_auth_request *req, wm_auth_cb cb,
			 void *data)
{
	struct job *j;
	int r;

	if (!a || !req || !cb)
		return -EINVAL;
	if (a->freeing)
		return -ECANCELED;
	if (a->pending >= a->max_pending)
		return -EBUSY;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	if (!req->local && a->n > 0 && req->peer && wm_source_key(req->peer, j->source) == 0) {
		/* Before any thread or hash is spent on it: a source or name in its
		 * wait after failures, or with its share of the queue, is turned
		 * away unchecked. */
		uint32_t retry_ms;
		claimed_user(req, j->user, sizeof(j->user));
		r = wm_authlimit_begin(a->limit, j->source, j->user, (int64_t)uv_now(a->loop),
				       &retry_ms);
		if (r < 0) {
			free(j);
			return r == -EAGAIN ? -EAGAIN : r == -EBUSY ? -EUSERS : -EBUSY;
		}
		j->limited = true;
		j->begun = r;
	}
	j->a = a;
	j->cb = cb;
	j->data = data;
	j->req = *req;
	if (!j->req.now)
		j->req.now = (int64_t)time(NULL);
	j->req.peer_cert = NULL;
	j->req.call = NULL;
	j->req.md = NULL;
	j->req.n_md = 0;
	if ((req->call && copy_md(j, req->call)) ||
	    dup_opt(req->authorization, &j->authorization) || dup_opt(req->key_id, &j->key_id) ||
	    dup_opt(req->key_window, &j->key_window) || dup_opt(req->key_sig, &j->key_sig) ||
	    dup_opt(req->key_audience, &j->key_audience)) {
		job_free(j);
		return -ENOMEM;
	}
	j->req.authorization = j->authorization;
	j->req.key_id = j->key_id;
	j->req.key_window = j->key_window;
	j->req.key_sig = j->key_sig;
	j->req.key_audience = j->key_audience;
	if (req->peer_cert && X509_up_ref(req->peer_cert))
		j->req.peer_cert = req->peer_cert;
	if (req->local || a->n == 0) {
		/* Nothing to compute: a zero timer keeps "never before return". */
		uv_timer_init(a->loop, &j->timer);
		j->timer.data = j;
		uv_timer_start(&j->timer, timer_cb, 0, 0);
		a->pending++;
		return 0;
	}
	r = uv_queue_work(a->loop, &j->work, work_cb, after_work_cb);
	if (r < 0) {
		job_free(j);
		return r == UV_ENOMEM ? -ENOMEM : -EIO;
	}
	a->pending++;
	return 0;
}

void wm_auth_free(struct wm_auth *a)
{
	if (!a)
		return;
	if (a->pending) {
		/* Threads still use the authenticators: free when the last is back. */
		a->freeing = true;
		return;
	}
	for (size_t i = 0; i < a->n; i++)
		if (a->list[i].ops->free)
			a->list[i].ops->free(a->list[i].self);
	wm_authlimit_free(a->limit);
	free(a);
}

int wm_auth_from_config(uv_loop_t *loop, const struct wm_config *cfg, struct wm_auth **out,
			char *err, size_t errlen)
{
	struct wm_authenticator au;
	struct wm_auth *a;
	char e[256];
	int r;

	a = NULL;
	r = wm_auth_new(loop, &a);
	if (r == 0)
		r = wm_auth_set_limits(
			a, &(struct wm_auth_limits){.max_pending = cfg->auth_max_pending,
						    .max_pending_per_source =
							    cfg->auth_max_pending_per_source,
						    .backoff_max_ms = cfg->auth_backoff_max_ms});
	if (r < 0) {
		wm_auth_free(a);
		snprintf(err, errlen, "authentication: out of memory");
		return r;
	}
	if (cfg->mtls) {
		r = wm_auth_mtls_new(cfg->ca_file, cfg->mtls_identity_san, &au, e, sizeof(e));
		if (r == 0)
			r = wm_auth_add(a, &au);
		if (r < 0) {
			snprintf(err, errlen, "mtls: %s", e);
			goto fail;
		}
	}
	if (cfg->key_auth_keys_file) {
		r = wm_auth_key_new(cfg->key_auth_keys_file, cfg->key_auth_skew_seconds, &au, e,
				    sizeof(e));
		if (r == 0)
			r = wm_auth_add(a, &au);
		if (r < 0) {
			snprintf(err, errlen, "key-auth-keys-file: %s", e);
			goto fail;
		}
	}
	if (cfg->basic_auth_file) {
		r = wm_auth_basic_new(cfg->basic_auth_file, &au, e, sizeof(e));
		if (r == 0)
			r = wm_auth_add(a, &au);
		if (r < 0) {
			snprintf(err, errlen, "basic-auth-file: %s", e);
			goto fail;
		}
	}
	if (cfg->ldap_url) {
		struct wm_auth_ldap_config lc = {
			.url = cfg->ldap_url,
			.bind_dn = cfg->ldap_bind_dn,
			.bind_password = cfg->ldap_bind_password,
			.base_dn = cfg->ldap_base_dn,
			.user_attr = cfg->ldap_user_filter_attr,
			.user_filter = cfg->ldap_user_filter,
			.id_attr = cfg->ldap_id_attr,
			.disabled_attr = cfg->ldap_disabled_attr,
			.disabled_value = cfg->ldap_disabled_value,
			.ca_file = cfg->ldap_ca_file,
			.starttls = cfg->ldap_starttls,
			.timeout_seconds = cfg->ldap_timeout_seconds,
		};
		r = wm_auth_ldap_new(&lc, &au, e, sizeof(e));
		if (r == 0)
			r = wm_auth_add(a, &au);
		if (r < 0) {
			snprintf(err, errlen, "ldap-url: %s", e);
			goto fail;
		}
	}
	*out = a;
	return 0;
fail:
	wm_auth_free(a);
	return r;
}
