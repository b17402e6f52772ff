/* host.h for webmeshd: the same functions, calling the libp2p module
 * (webmesh-p2p.so) through its table. The module is loaded only when libp2p
 * is configured (libp2p-listen or libp2p-peers): a node without it carries
 * none of its pages. */
#include "p2p/host.h"

#include <errno.h>
#include <stddef.h>

#include "core/error.h"
#include "p2p/p2p_module.h"
#include "p2p/wglink.h"

struct wm_p2p; /* here: the module's own, passed through */

static const struct wm_p2p_module *mod;

int wm_p2p_new(const struct wm_p2p_config *cfg, struct wm_p2p **out, char *err, size_t errlen)
{
	void *real = NULL;
	int rc;

	if (!mod) {
		const struct wm_p2p_module *m =
			wm_module_load(WM_P2P_MODULE_NAME, WM_P2P_MODULE_SYMBOL, WM_P2P_MODULE_ABI,
				       sizeof(struct wm_p2p_module), err, errlen);
		if (!m)
			return -ENOTSUP;
		if (m->config_size != sizeof(struct wm_p2p_config) ||
		    m->status_size != sizeof(struct wm_p2p_status) ||
		    m->wg_status_size != sizeof(struct wm_p2p_wg_status)) {
			wm_seterr(err, errlen,
				  "%s.so is from another build (its structures differ); reinstall "
				  "webmesh",
				  WM_P2P_MODULE_NAME);
			return -ENOTSUP;
		}
		mod = m;
	}
	rc = mod->p2p_new(cfg, &real, err, errlen);
	*out = real;
	return rc;
}

void wm_p2p_free(struct wm_p2p *p, void (*done_cb)(void *data), void *data)
{
	if (!p || !mod) {
		if (done_cb)
			done_cb(data);
		return;
	}
	mod->p2p_free(p, done_cb, data);
}

void wm_p2p_status(const struct wm_p2p *p, struct wm_p2p_status *out)
{
	mod->p2p_status(p, out);
}

int wm_p2p_join_rendezvous(struct wm_p2p *p, const char *secret,
			   void (*cb)(void *ud, const char *hostport), void *ud)
{
	return mod->p2p_join_rendezvous(p, secret, cb, ud);
}

struct wm_p2p_wg; /* the module's, passed through */

int wm_p2p_wg_open(struct wm_p2p *p, const char *peer_id, char *const *addrs, size_t naddrs,
		   uint16_t wg_port, struct wm_p2p_wg **out, uint16_t *relay_port, char *err,
		   size_t errlen)
{
	void *real = NULL;
	int rc;

	if (!mod || !p) {
		wm_seterr(err, errlen, "libp2p is not configured on this node");
		return -ENOTSUP;
	}
	rc = mod->wg_open(p, peer_id, addrs, naddrs, wg_port, &real, relay_port, err, errlen);
	*out = real;
	return rc;
}

void wm_p2p_wg_close(struct wm_p2p_wg *w)
{
	if (w && mod)
		mod->wg_close(w);
}

void wm_p2p_wg_status(const struct wm_p2p_wg *w, struct wm_p2p_wg_status *out)
{
	mod->wg_status(w, out);
}

void wm_p2p_wg_listen(struct wm_p2p *p, int (*incoming)(void *data, const char *peer_id),
		      void *data)
{
	if (p && mod)
		mod->wg_listen(p, incoming, data);
}
