/* Opening a plugin .so and checking its table against this build's ABI. */
#include "plugin/plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool text_ok(const char *s)
{
	return s && *s && strlen(s) <= 64;
}

int wm_plugin_table_check(const struct webmesh_plugin *t, const char *name, char *err,
			  size_t errlen)
{
	if (t->abi != WEBMESH_PLUGIN_ABI) {
		snprintf(err, errlen,
			 "plugin %s: built for plugin ABI %u, this webmeshd has ABI %u (rebuild it "
			 "against this include/webmesh/plugin.h)",
			 name, t->abi, WEBMESH_PLUGIN_ABI);
		return -EPROTO;
	}
	/* Read nothing past abi and size before knowing the table holds it. */
	if (t->size < WEBMESH_PLUGIN_SIZE_V1) {
		snprintf(err, errlen,
			 "plugin %s: its table is %u bytes, shorter than the %zu of ABI %u "
			 "(a truncated or hand-made table)",
			 name, t->size, (size_t)WEBMESH_PLUGIN_SIZE_V1, WEBMESH_PLUGIN_ABI);
		return -EPROTO;
	}
	if (!text_ok(t->name) || !text_ok(t->version)) {
		snprintf(err, errlen, "plugin %s: the table's name or version is empty or too long",
			 name);
		return -EINVAL;
	}
	if (!t->init) {
		snprintf(err, errlen, "plugin %s: the table has no init function", name);
		return -EINVAL;
	}
	if (t->capabilities & ~WEBMESH_PLUGIN_CAPS_KNOWN) {
		snprintf(err, errlen, "plugin %s: unknown capability bits 0x%x", name,
			 t->capabilities & ~WEBMESH_PLUGIN_CAPS_KNOWN);
		return -EINVAL;
	}
	if (!t->capabilities) {
		snprintf(err, errlen,
			 "plugin %s: declares no capability (auth, ipam, watch or storage)", name);
		return -EINVAL;
	}
	if (t->capabilities & WEBMESH_PLUGIN_CAP_AUTH) {
		const char *missing = !t->auth				 ? "ops"
				      : t->auth->size < sizeof(*t->auth) ? "ops (too short)"
				      : !t->auth->authenticate		 ? "authenticate"
									 : NULL;
		if (missing) {
			snprintf(err, errlen,
				 "plugin %s: declares the auth capability but has no auth %s", name,
				 missing);
			return -EINVAL;
		}
	}
	if (t->capabilities & WEBMESH_PLUGIN_CAP_IPAM) {
		const char *missing = !t->ipam				 ? "ops"
				      : t->ipam->size < sizeof(*t->ipam) ? "ops (too short)"
				      : !t->ipam->allocate		 ? "allocate"
				      : !t->ipam->release		 ? "release"
									 : NULL;
		if (missing) {
			snprintf(err, errlen,
				 "plugin %s: declares the ipam capability but has no ipam %s", name,
				 missing);
			return -EINVAL;
		}
	}
	if (t->capabilities & WEBMESH_PLUGIN_CAP_WATCH) {
		const char *missing = !t->watch				   ? "ops"
				      : t->watch->size < sizeof(*t->watch) ? "ops (too short)"
				      : !t->watch->event		   ? "event"
				      : !t->watch->dropped		   ? "dropped"
									   : NULL;
		if (missing) {
			snprintf(err, errlen,
				 "plugin %s: declares the watch capability but has no watch %s",
				 name, missing);
			return -EINVAL;
		}
	}
	if (t->capabilities & WEBMESH_PLUGIN_CAP_STORAGE) {
		const struct webmesh_storage_ops *o = wm_plugin_storage_ops(t);
		const char *missing = !o		     ? "ops"
				      : o->size < sizeof(*o) ? "ops (too short)"
				      : !o->open	     ? "open"
				      : !o->close	     ? "close"
				      : !o->apply	     ? "apply"
				      : !o->read	     ? "read"
				      : !o->status	     ? "status"
				      : !o->register_server  ? "register_server"
							     : NULL;
		if (missing) {
			snprintf(err, errlen,
				 "plugin %s: declares the storage capability but has no storage %s",
				 name, missing);
			return -EINVAL;
		}
	}
	return 0;
}

const struct webmesh_storage_ops *wm_plugin_storage_ops(const struct webmesh_plugin *t)
{
	/* A table of ABI 1 from before storage was appended ends earlier. */
	if (t->size < offsetof(struct webmesh_plugin, storage) + sizeof(t->storage))
		return NULL;
	return t->storage;
}

int wm_plugin_open(const char *name, const char *path, const struct webmesh_plugin **out, char *err,
		   size_t errlen)
{
	/* RTLD_LOCAL: a plugin's symbols never satisfy another's. */
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errlen, "plugin %s: cannot load %s: %s", name, path, dlerror());
		return -ENOENT;
	}
	const struct webmesh_plugin *t = dlsym(h, WEBMESH_PLUGIN_SYMBOL);
	if (!t) {
		snprintf(err, errlen, "plugin %s: %s exports no %s table (not a webmesh plugin?)",
			 name, path, WEBMESH_PLUGIN_SYMBOL);
		dlclose(h);
		return -ENOENT;
	}
	int r = wm_plugin_table_check(t, name, err, errlen);
	if (r < 0) {
		dlclose(h);
		return r;
	}
	*out = t;
	return 0;
}
