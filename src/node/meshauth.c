/* This node's authentication settings against the mesh's replicated ones. */
#include "node/meshauth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "plugin/plugin.h"
#include "rpc/tls.h"
#include "util/log.h"

int wm_node_local_auth(const struct wm_config *cfg, struct wm_mesh_auth_local *out, char *err,
		       size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->ca_file = cfg->ca_file;
	if (cfg->mtls)
		out->auth.methods |= WM_MESH_AUTH_MTLS;
	if (cfg->basic_auth_file)
		out->auth.methods |= WM_MESH_AUTH_BASIC;
	if (cfg->ldap_url)
		out->auth.methods |= WM_MESH_AUTH_LDAP;
	if (cfg->key_auth_keys_file)
		out->auth.methods |= WM_MESH_AUTH_KEY;
	if (wm_plugins_config_has_auth(cfg))
		out->auth.methods |= WM_MESH_AUTH_PLUGIN;
	out->auth.rbac = out->auth.methods != 0;
	if (cfg->mtls) {
		_Static_assert(WM_MESH_AUTH_FP_LEN >= WM_FINGERPRINT_LEN, "fingerprint fits");
		int r = cfg->ca_file ? wm_tls_cert_file_fingerprint(cfg->ca_file,
								    out->auth.ca_fingerprint)
				     : -ENOENT;
		if (r < 0) {
			snprintf(err, errlen,
				 "mtls: cannot read the CA certificate --ca-file %s: %s",
				 cfg->ca_file ? cfg->ca_file : "(none)", strerror(-r));
			return -EINVAL;
		}
	}
	return 0;
}

int wm_node_check_mesh_auth(const struct wm_config *cfg, const struct wm_mesh_auth *mesh, char *err,
			    size_t errlen)
{
	struct wm_mesh_auth_local local;
	int r = wm_node_local_auth(cfg, &local, err, errlen);
	if (r < 0 && (mesh->methods & WM_MESH_AUTH_MTLS)) {
		char e[300];
		snprintf(e, sizeof(e), "%s", err);
		snprintf(err, errlen, "the mesh uses mTLS (CA fingerprint %s): %s",
			 mesh->ca_fingerprint, e);
		return -EPERM;
	}
	return wm_mesh_auth_check(mesh, &local, err, errlen);
}

void wm_node_log_mesh_auth(const struct wm_mesh_auth *mesh)
{
	if (!mesh->methods) {
		wm_warn("THIS MESH IS OPEN: it was bootstrapped without authentication; anyone "
			"who reaches a server's API can join and change it");
		return;
	}
	char m[WM_MESH_AUTH_TEXT_MAX];
	wm_mesh_auth_methods_format(mesh->methods, m);
	wm_info("mesh authentication: %s%s%s, RBAC %s", m,
		mesh->methods & WM_MESH_AUTH_MTLS ? ", CA " : "",
		mesh->methods & WM_MESH_AUTH_MTLS ? mesh->ca_fingerprint : "",
		mesh->rbac ? "on" : "off");
}
