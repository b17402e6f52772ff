/* The plugin host: loads the configured plugins, runs ipam requests on the
 * threadpool and feeds each watch plugin from a bounded queue on its own
 * thread, so that no plugin ever blocks the loop. */
#include "plugin/plugin_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "core/config.h"
#include "core/ipam.h"
#include "core/net.h"
#include "util/log.h"

/* Splits "NAME.KEY=VALUE"; false when it is not for name. */
static bool config_for(const char *item, const char *name, const char **key, size_t *keylen,
		       const char **value)
{
	size_t n = strlen(name);
	if (strncmp(item, name, n) != 0 || item[n] != '.')
		return false;
	const char *eq = strchr(item + n + 1, '=');
	if (!eq)
		return false;
	*key = item + n + 1;
	*keylen = (size_t)(eq - *key);
	*value = eq + 1;
	return true;
}

static int parse_uint(const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long x;
	if (!*v || *v == '-')
		return -EINVAL;
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || *end || x < min || x > max)
		return -EINVAL;
	*out = (uint32_t)x;
	return 0;
}

static bool key_is(const char *key, size_t keylen, const char *name)
{
	return keylen == strlen(name) && strncmp(key, name, keylen) == 0;
}

/* An out-of-process plugin's keys for webmeshd: capabilities (a comma list of
 * auth, ipam, watch joined by '+' (a comma would split the list item);
 * auth when not given) and, for grpcs://, the mTLS files.
 * 1 when the key was one of them. */
static int remote_key(struct wm_plugin_inst *p, const char *key, size_t keylen, const char *value,
		      char *err, size_t errlen)
{
	char **file = key_is(key, keylen, "ca-file") ? &p->ca_file
		      : key_is(key, keylen, "cert")  ? &p->cert_file
		      : key_is(key, keylen, "key")   ? &p->key_file
						     : NULL;
	if (file) {
		if (!*value) {
			snprintf(err, errlen, "plugin-config: %s.%.*s is empty", p->name,
				 (int)keylen, key);
			return -EINVAL;
		}
		free(*file);
		*file = strdup(value);
		return *file ? 1 : -ENOMEM;
	}
	if (!key_is(key, keylen, "capabilities"))
		return 0;
	uint32_t caps = 0;
	const char *s = value;
	while (*s) {
		size_t n = strcspn(s, "+");
		if (n == 4 && strncmp(s, "auth", 4) == 0)
			caps |= WEBMESH_PLUGIN_CAP_AUTH;
		else if (n == 4 && strncmp(s, "ipam", 4) == 0)
			caps |= WEBMESH_PLUGIN_CAP_IPAM;
		else if (n == 5 && strncmp(s, "watch", 5) == 0)
			caps |= WEBMESH_PLUGIN_CAP_WATCH;
		else {
			snprintf(err, errlen,
				 "plugin-config: %s.capabilities \"%.64s\": \"%.*s\" is not auth, "
				 "ipam or watch",
				 p->name, value, (int)(n > 32 ? 32 : n), s);
			return -EINVAL;
		}
		s += n;
		if (*s == '+')
			s++;
	}
	if (!caps) {
		snprintf(err, errlen, "plugin-config: %s.capabilities is empty", p->name);
		return -EINVAL;
	}
	p->capabilities = caps;
	return 1;
}

/* The instance's settings: auth-timeout-ms is webmeshd's, the rest the
 * plugin's. */
static int instance_config(struct wm_plugin_inst *p, const struct wm_config *cfg, char *err,
			   size_t errlen)
{
	p->auth_timeout_ms = 5000;
	p->capabilities = WEBMESH_PLUGIN_CAP_AUTH;
	p->cfg = calloc(cfg->n_plugin_configs + 1, sizeof(*p->cfg));
	if (!p->cfg)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_plugin_configs; i++) {
		const char *key, *value;
		size_t keylen;
		if (!config_for(cfg->plugin_configs[i], p->name, &key, &keylen, &value))
			continue;
		if (keylen == strlen("auth-timeout-ms") &&
		    strncmp(key, "auth-timeout-ms", keylen) == 0) {
			if (parse_uint(value, 10, 600000, &p->auth_timeout_ms) < 0) {
				snprintf(err, errlen,
					 "plugin-config: %s.auth-timeout-ms \"%.32s\" is not a "
					 "number of milliseconds 10..600000",
					 p->name, value);
				return -EINVAL;
			}
			continue;
		}
		if (p->out_of_process) {
			int r = remote_key(p, key, keylen, value, err, errlen);
			if (r < 0)
				return r;
			if (r > 0)
				continue;
		}
		char *k = strndup(key, keylen);
		char *v = strdup(value);
		if (!k || !v) {
			free(k);
			free(v);
			return -ENOMEM;
		}
		p->cfg[p->n_cfg].key = k;
		p->cfg[p->n_cfg].value = v;
		p->n_cfg++;
	}
	return 0;
}

static void *watch_main(void *arg);

static void thread_entry(void *arg)
{
	watch_main(arg);
}

static int watch_start(struct wm_plugin_inst *p)
{
	p->q = calloc(WM_PLUGIN_WATCH_QUEUE, sizeof(*p->q));
	if (!p->q)
		return -ENOMEM;
	if (uv_mutex_init(&p->mu) < 0)
		return -ENOMEM;
	if (uv_cond_init(&p->cv) < 0) {
		uv_mutex_destroy(&p->mu);
		return -ENOMEM;
	}
	p->sync_init = true;
	if (uv_thread_create(&p->thread, thread_entry, p) < 0)
		return -EAGAIN;
	p->thread_started = true;
	return 0;
}

int wm_plugins_new(uv_loop_t *loop, const struct wm_config *cfg, struct wm_plugins **out, char *err,
		   size_t errlen)
{
	struct wm_plugins *h = calloc(1, sizeof(*h));
	int r = 0;

	*out = NULL;
	if (!h)
		return -ENOMEM;
	h->loop = loop;
	h->p = calloc(cfg->n_plugins + 1, sizeof(*h->p));
	if (!h->p) {
		free(h);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_plugins; i++) {
		const char *item = cfg->plugins[i], *eq = strchr(item, '=');
		struct wm_plugin_inst *p = &h->p[h->n];
		if (!eq || (size_t)(eq - item) >= sizeof(p->name)) {
			snprintf(err, errlen, "plugin: \"%.64s\" is not NAME=PATH", item);
			r = -EINVAL;
			goto fail;
		}
		memcpy(p->name, item, (size_t)(eq - item));
		for (size_t j = 0; j < h->n; j++)
			if (strcmp(h->p[j].name, p->name) == 0) {
				snprintf(err, errlen, "plugin: the name %s is given twice",
					 p->name);
				r = -EINVAL;
				goto fail;
			}
		p->host = h;
		bool is_exec =
			strncmp(eq + 1, "exec:", 5) == 0 || strncmp(eq + 1, "grpcs://", 8) == 0;
		if (strncmp(eq + 1, "grpc://", 7) == 0) {
			snprintf(err, errlen,
				 "plugin %s: grpc:// is not supported: a remote plugin is dialled "
				 "with mutual TLS only (grpcs://HOST:PORT)",
				 p->name);
			r = -EINVAL;
			goto fail;
		}
		p->out_of_process = is_exec;
		if (is_exec)
			p->t = &wm_plugin_exec_table;
		else
			r = wm_plugin_open(p->name, eq + 1, &p->t, err, errlen);
		if (r < 0)
			goto fail;
		h->n++;
		r = instance_config(p, cfg, err, errlen);
		if (r < 0)
			goto fail;
		uint32_t caps = is_exec ? p->capabilities : p->t->capabilities;
		if (caps & WEBMESH_PLUGIN_CAP_STORAGE) {
			snprintf(err, errlen,
				 "plugin %s: a storage plugin is chosen with --storage, not loaded "
				 "with --plugin",
				 p->name);
			r = -EINVAL;
			goto fail;
		}
		if ((caps & WEBMESH_PLUGIN_CAP_IPAM) && h->ipam) {
			snprintf(err, errlen,
				 "plugin %s: a second ipam plugin (%s is one): only one may "
				 "allocate addresses",
				 p->name, h->ipam->name);
			r = -EINVAL;
			goto fail;
		}
		if (is_exec) {
			char dir[4096];
			snprintf(dir, sizeof(dir), "%s/plugins", cfg->state_dir);
			bool remote = strncmp(eq + 1, "grpcs://", 8) == 0;
			/* a remote plugin is configured on its own host: a key
			 * here would go nowhere, so it is a mistake */
			if (remote && p->n_cfg) {
				snprintf(err, errlen,
					 "plugin-config: %s.%.64s is not used by a grpcs:// plugin "
					 "(only capabilities, auth-timeout-ms, ca-file, cert and "
					 "key; configure the plugin on its host)",
					 p->name, p->cfg[0].key);
				r = -EINVAL;
				goto fail;
			}
			if (!remote && (p->ca_file || p->cert_file || p->key_file)) {
				snprintf(
					err, errlen,
					"plugin-config: %s.ca-file, .cert and .key are for "
					"grpcs:// "
					"plugins; an exec: plugin talks over a private unix socket",
					p->name);
				r = -EINVAL;
				goto fail;
			}
			struct wm_plugin_exec_opts eo = {.name = p->name,
							 .target = eq + 1,
							 .dir = dir,
							 .cfg = p->cfg,
							 .n_cfg = p->n_cfg,
							 .timeout_ms = p->auth_timeout_ms,
							 .capabilities = p->capabilities,
							 .ca_file = p->ca_file,
							 .cert_file = p->cert_file,
							 .key_file = p->key_file};
			r = wm_plugin_exec_new(loop, &eo, &p->exec, err, errlen);
			if (r < 0)
				goto fail;
			p->t = wm_plugin_exec_get_table(p->exec);
			p->state = p->exec;
		}
		char msg[WEBMESH_PLUGIN_MSG_MAX] = "";
		struct webmesh_plugin_init_args args = {
			.name = p->name, .config = p->cfg, .n_config = p->n_cfg};
		r = p->exec ? 0 : p->t->init(&args, &p->state, msg, sizeof(msg));
		if (r != 0) {
			msg[sizeof(msg) - 1] = '\0';
			snprintf(err, errlen, "plugin %s: init failed: %s", p->name,
				 msg[0] ? msg : "(no reason given)");
			r = r < 0 ? r : -EINVAL;
			goto fail;
		}
		p->inited = true;
		if (p->t->capabilities & WEBMESH_PLUGIN_CAP_IPAM)
			h->ipam = p;
		if (p->t->capabilities & WEBMESH_PLUGIN_CAP_WATCH) {
			r = watch_start(p);
			if (r < 0) {
				snprintf(err, errlen, "plugin %s: cannot start its watch thread",
					 p->name);
				goto fail;
			}
		}
		uint32_t c = p->t->capabilities;
		size_t o = strlen(h->describe);
		snprintf(h->describe + o, sizeof(h->describe) - o, "%s%s(%s%s%s%s%s %s)",
			 o ? "," : "", p->name, c & WEBMESH_PLUGIN_CAP_AUTH ? "auth" : "",
			 (c & WEBMESH_PLUGIN_CAP_AUTH) && (c & ~WEBMESH_PLUGIN_CAP_AUTH) ? "+" : "",
			 c & WEBMESH_PLUGIN_CAP_IPAM ? "ipam" : "",
			 (c & WEBMESH_PLUGIN_CAP_IPAM) && (c & WEBMESH_PLUGIN_CAP_WATCH) ? "+" : "",
			 c & WEBMESH_PLUGIN_CAP_WATCH ? "watch" : "", p->t->version);
	}
	/* plugin-config for a plugin that is not loaded is a typo. */
	for (size_t i = 0; i < cfg->n_plugin_configs; i++) {
		bool found = false;
		for (size_t j = 0; j < h->n && !found; j++) {
			const char *k, *v;
			size_t kl;
			found = config_for(cfg->plugin_configs[i], h->p[j].name, &k, &kl, &v);
		}
		if (!found) {
			snprintf(err, errlen, "plugin-config: \"%.64s\" names no loaded plugin",
				 cfg->plugin_configs[i]);
			r = -EINVAL;
			goto fail;
		}
	}
	*out = h;
	return 0;
fail:
	wm_plugins_free(h);
	return r;
}

bool wm_plugins_config_has_auth(const struct wm_config *cfg)
{
	for (size_t i = 0; i < cfg->n_plugins; i++) {
		const char *eq = strchr(cfg->plugins[i], '=');
		const struct webmesh_plugin *t;
		char name[WM_PLUGIN_ID_MAX], err[256];
		if (!eq || (size_t)(eq - cfg->plugins[i]) >= sizeof(name))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(eq - cfg->plugins[i]), cfg->plugins[i]);
		if (strncmp(eq + 1, "exec:", 5) == 0 || strncmp(eq + 1, "grpcs://", 8) == 0) {
			/* its capabilities key, auth when not given (a bad one fails
			 * the start later) */
			bool auth = true;
			for (size_t j = 0; j < cfg->n_plugin_configs; j++) {
				const char *k, *v;
				size_t kl;
				if (config_for(cfg->plugin_configs[j], name, &k, &kl, &v) &&
				    key_is(k, kl, "capabilities"))
					auth = strstr(v, "auth") != NULL;
			}
			if (auth)
				return true;
			continue;
		}
		/* a plugin that does not load fails the start later, with its reason */
		if (wm_plugin_open(name, eq + 1, &t, err, sizeof(err)) == 0 &&
		    (t->capabilities & WEBMESH_PLUGIN_CAP_AUTH))
			return true;
	}
	return false;
}

const char *wm_plugins_describe(const struct wm_plugins *h)
{
	return h ? h->describe : "";
}

static void free_instance(struct wm_plugin_inst *p)
{
	if (p->thread_started) {
		uv_mutex_lock(&p->mu);
		p->stop = true;
		uv_cond_signal(&p->cv);
		uv_mutex_unlock(&p->mu);
		uv_thread_join(&p->thread);
	}
	if (p->q) {
		for (size_t i = 0; i < p->count; i++)
			free(p->q[(p->head + i) % WM_PLUGIN_WATCH_QUEUE].detail);
		free(p->q);
	}
	if (p->sync_init) {
		uv_cond_destroy(&p->cv);
		uv_mutex_destroy(&p->mu);
	}
	if (p->exec)
		wm_plugin_exec_free(p->exec);
	else if (p->inited && p->t->fini)
		p->t->fini(p->state);
	for (size_t i = 0; i < p->n_cfg; i++) {
		free((char *)p->cfg[i].key);
		free((char *)p->cfg[i].value);
	}
	free(p->cfg);
	free(p->ca_file);
	free(p->cert_file);
	free(p->key_file);
}

void wm_plugins_close(struct wm_plugins *h)
{
	for (size_t i = 0; h && i < h->n; i++)
		wm_plugin_exec_close(h->p[i].exec);
}

void wm_plugins_free(struct wm_plugins *h)
{
	if (!h)
		return;
	if (h->pending) {
		/* ipam work still runs on a pool thread: free when it is back */
		h->freeing = true;
		return;
	}
	for (size_t i = 0; i < h->n; i++)
		free_instance(&h->p[i]);
	free(h->p);
	free(h->known);
	free(h);
}

/* ---- ipam ---- */

bool wm_plugins_has_ipam(const struct wm_plugins *h)
{
	return h && h->ipam;
}

struct ipam_job {
	uv_work_t work;
	struct ipam_job *prev, *next; /* h->jobs: allocations waiting */
	struct wm_plugins *h;
	bool release;
	char node_id[WM_PLUGIN_ID_MAX], public_key[64], network[WM_PREFIX_STRLEN];
	wm_plugins_ipam_cb cb;
	void *data;
	int err;
	char addr[64];
	char why[WEBMESH_PLUGIN_MSG_MAX];
};

static void ipam_work_cb(uv_work_t *w)
{
	struct ipam_job *j = (struct ipam_job *)w;
	struct wm_plugin_inst *p = j->h->ipam;
	if (j->release) {
		j->err = p->t->ipam->release(p->state, j->node_id, j->addr, j->why, sizeof(j->why));
	} else {
		struct webmesh_ipam_request req = {
			.node_id = j->node_id, .public_key = j->public_key, .network = j->network};
		j->err = p->t->ipam->allocate(p->state, &req, j->addr, sizeof(j->addr), j->why,
					      sizeof(j->why));
	}
	j->addr[sizeof(j->addr) - 1] = '\0';
	j->why[sizeof(j->why) - 1] = '\0';
}

/* The plugin's answer must be a host of the mesh network: anything else
 * would be refused by the store anyway, but later and less clearly. */
static int check_address(struct ipam_job *j)
{
	struct wm_prefix net, addr;
	struct in_addr a;
	uint32_t first, last;
	char full[80];

	if (inet_pton(AF_INET, j->addr, &a) != 1) {
		snprintf(j->why, sizeof(j->why),
			 "plugin %s answered \"%.40s\", not an IPv4 address", j->h->ipam->name,
			 j->addr);
		return -EIO;
	}
	snprintf(full, sizeof(full), "%s/32", j->addr);
	if (wm_prefix_parse(j->network, &net) < 0 || wm_prefix_parse(full, &addr) < 0 ||
	    wm_ipam_v4_range(&net, &first, &last) < 0)
		return -EIO;
	uint32_t x = wm_prefix_ipv4_u32(&addr);
	if (x < first || x > last) {
		snprintf(j->why, sizeof(j->why),
			 "plugin %s answered %s, not a host of the mesh network %s",
			 j->h->ipam->name, j->addr, j->network);
		return -EIO;
	}
	return 0;
}

static void ipam_after_cb(uv_work_t *w, int status)
{
	struct ipam_job *j = (struct ipam_job *)w;
	struct wm_plugins *h = j->h;
	if (status == UV_ECANCELED) {
		j->err = -ECANCELED;
		snprintf(j->why, sizeof(j->why), "the server is shutting down");
	} else if (j->err > 0) {
		j->err = -EIO; /* not the contract: still a failure */
	}
	if (!j->release) {
		if (j->prev)
			j->prev->next = j->next;
		else
			h->jobs = j->next;
		if (j->next)
			j->next->prev = j->prev;
	}
	if (j->release) {
		if (j->err)
			wm_warn("plugin %s: release of node %s's address failed: %s", h->ipam->name,
				j->node_id, j->why[0] ? j->why : strerror(-j->err));
	} else {
		if (!j->err)
			j->err = check_address(j);
		else if (!j->why[0])
			snprintf(j->why, sizeof(j->why), "plugin %s: %s", h->ipam->name,
				 strerror(-j->err));
		if (j->cb) /* NULL: abandoned, already answered */
			j->cb(j->data, j->err, j->err ? NULL : j->addr, j->why);
	}
	free(j);
	h->pending--;
	if (h->freeing && !h->pending)
		wm_plugins_free(h);
}

static int ipam_queue(struct wm_plugins *h, struct ipam_job *j)
{
	j->h = h;
	int r = uv_queue_work(h->loop, &j->work, ipam_work_cb, ipam_after_cb);
	if (r < 0) {
		free(j);
		return -ENOMEM;
	}
	h->pending++;
	return 0;
}

int wm_plugins_ipam_allocate(struct wm_plugins *h, const char *node_id, const char *public_key,
			     const char *network, wm_plugins_ipam_cb cb, void *data)
{
	if (!wm_plugins_has_ipam(h))
		return -ENOENT;
	struct ipam_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	snprintf(j->node_id, sizeof(j->node_id), "%s", node_id);
	snprintf(j->public_key, sizeof(j->public_key), "%s", public_key);
	snprintf(j->network, sizeof(j->network), "%s", network);
	j->cb = cb;
	j->data = data;
	int r = ipam_queue(h, j);
	if (r == 0) {
		j->next = h->jobs;
		if (h->jobs)
			h->jobs->prev = j;
		h->jobs = j;
	}
	return r;
}

void wm_plugins_ipam_abandon(struct wm_plugins *h)
{
	for (struct ipam_job *j = h ? h->jobs : NULL; j; j = j->next) {
		wm_plugins_ipam_cb cb = j->cb;
		j->cb = NULL;
		if (cb)
			cb(j->data, -ECANCELED, NULL, "the server is shutting down");
	}
}

void wm_plugins_ipam_release_queue(struct wm_plugins *h, const char *node_id, const char *address)
{
	if (!wm_plugins_has_ipam(h))
		return;
	struct ipam_job *j = calloc(1, sizeof(*j));
	if (!j) {
		wm_warn("plugin %s: out of memory: node %s's address is not released",
			h->ipam->name, node_id);
		return;
	}
	j->release = true;
	snprintf(j->node_id, sizeof(j->node_id), "%s", node_id);
	snprintf(j->addr, sizeof(j->addr), "%s", address);
	if (ipam_queue(h, j) < 0)
		wm_warn("plugin %s: cannot queue the release of node %s's address", h->ipam->name,
			node_id);
}

/* ---- watch ---- */

static void *watch_main(void *arg)
{
	struct wm_plugin_inst *p = arg;
	for (;;) {
		uv_mutex_lock(&p->mu);
		while (!p->count && !p->stop)
			uv_cond_wait(&p->cv, &p->mu);
		if (p->stop) {
			uv_mutex_unlock(&p->mu);
			return NULL;
		}
		struct wm_plugin_qev e = p->q[p->head];
		p->head = (p->head + 1) % WM_PLUGIN_WATCH_QUEUE;
		p->count--;
		uint64_t dropped = p->dropped_unreported;
		p->dropped_unreported = 0;
		uv_mutex_unlock(&p->mu);
		if (dropped)
			p->t->watch->dropped(p->state, dropped);
		struct webmesh_watch_event ev = {
			.kind = e.kind,
			.seq = e.seq,
			.index = e.index,
			.time_ms = e.time_ms,
			.node_id = e.node_id,
			.peer_id = e.peer_id,
			.address = e.address,
			.detail = e.detail ? e.detail : "",
		};
		p->t->watch->event(p->state, &ev);
		free(e.detail);
	}
}

void wm_plugins_watch_emit(struct wm_plugins *h, uint32_t kind, uint64_t index, const char *node_id,
			   const char *peer_id, const char *address, const char *detail)
{
	uv_timeval64_t tv;
	int64_t now = uv_gettimeofday(&tv) == 0 ? tv.tv_sec * 1000 + tv.tv_usec / 1000 : 0;

	for (size_t i = 0; h && i < h->n; i++) {
		struct wm_plugin_inst *p = &h->p[i];
		if (!p->thread_started)
			continue;
		char *d = detail && *detail ? strdup(detail) : NULL;
		uv_mutex_lock(&p->mu);
		uint64_t seq = ++p->seq;
		bool full = p->count == WM_PLUGIN_WATCH_QUEUE || (detail && *detail && !d);
		if (!full) {
			struct wm_plugin_qev *e =
				&p->q[(p->head + p->count) % WM_PLUGIN_WATCH_QUEUE];
			memset(e, 0, sizeof(*e));
			e->kind = kind;
			e->seq = seq;
			e->index = index;
			e->time_ms = now;
			snprintf(e->node_id, sizeof(e->node_id), "%s", node_id ? node_id : "");
			snprintf(e->peer_id, sizeof(e->peer_id), "%s", peer_id ? peer_id : "");
			snprintf(e->address, sizeof(e->address), "%s", address ? address : "");
			e->detail = d;
			p->count++;
			uv_cond_signal(&p->cv);
		} else {
			p->dropped_unreported++;
		}
		uv_mutex_unlock(&p->mu);
		if (full) {
			free(d);
			h->dropped_total++;
			/* Once per burst: the next event that fits ends it. */
			if (!p->burst_logged)
				wm_warn("plugin %s: its watch queue is full (%d events): dropping "
					"events (%llu dropped since start)",
					p->name, WM_PLUGIN_WATCH_QUEUE,
					(unsigned long long)h->dropped_total);
			p->burst_logged = true;
		} else {
			p->burst_logged = false;
		}
	}
}

uint64_t wm_plugins_watch_dropped(const struct wm_plugins *h)
{
	return h ? h->dropped_total : 0;
}
