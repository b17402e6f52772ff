/* ice.h for webmeshd: the same functions, calling the ICE module
 * (webmesh-ice.so) through its table. The module, and with it libnice and
 * GLib (about 9 MB of RSS), is loaded when the first peer goes over ICE, not
 * before: most nodes never need it. */
#include "nat/ice.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "nat/ice_module.h"
#include "util/log.h"

struct wm_ice {
	struct wm_ice_config cfg;
	void *real;  /* the module's wm_ice, once a peer needed it */
	bool failed; /* the module could not be loaded: said once */
};

static const struct wm_ice_module *mod;

int wm_ice_new(const struct wm_ice_config *cfg, struct wm_ice **out, char *err, size_t errlen)
{
	struct wm_ice *ice = calloc(1, sizeof(*ice));

	(void)err;
	(void)errlen;
	if (!ice)
		return -ENOMEM;
	ice->cfg = *cfg;
	*out = ice;
	return 0;
}

void wm_ice_free(struct wm_ice *ice, void (*done_cb)(void *data), void *data)
{
	void *real = ice ? ice->real : NULL;

	free(ice);
	if (real)
		mod->ice_free(real, done_cb, data);
	else if (done_cb)
		done_cb(data); /* nothing ever started */
}

static int ensure_loaded(struct wm_ice *ice)
{
	char err[512] = "";

	if (ice->real)
		return 0;
	if (ice->failed)
		return -ENOTSUP;
	if (!mod)
		mod = wm_module_load(WM_ICE_MODULE_NAME, WM_ICE_MODULE_SYMBOL, WM_ICE_MODULE_ABI,
				     sizeof(struct wm_ice_module), err, sizeof(err));
	int rc = mod ? mod->ice_new(&ice->cfg, &ice->real, err, sizeof(err)) : -ENOTSUP;
	if (rc) {
		ice->failed = true;
		wm_error("ICE is unavailable, peers behind NAT stay unreachable: %s", err);
		return rc;
	}
	wm_info("ICE module loaded");
	return 0;
}

int wm_ice_peer_open(struct wm_ice *ice, const char *peer_id, void *peer_data,
		     struct wm_ice_peer **out, uint16_t *relay_port)
{
	int rc = ensure_loaded(ice);

	return rc ? rc : mod->peer_open(ice->real, peer_id, peer_data, out, relay_port);
}

/* A peer exists only once the module is loaded: mod is set below. */
void wm_ice_peer_close(struct wm_ice_peer *p)
{
	mod->peer_close(p);
}

int wm_ice_peer_start(struct wm_ice_peer *p, const struct wm_ice_session_config *sc)
{
	return mod->peer_start(p, sc);
}

int wm_ice_peer_set_remote(struct wm_ice_peer *p, uint64_t session,
			   const struct wm_ice_params *remote)
{
	return mod->peer_set_remote(p, session, remote);
}

void wm_ice_peer_stop(struct wm_ice_peer *p)
{
	mod->peer_stop(p);
}

void wm_ice_peer_status(const struct wm_ice_peer *p, struct wm_ice_status *out)
{
	mod->peer_status(p, out);
}
