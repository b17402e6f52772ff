/* The mesh's authentication settings, chosen at bootstrap and replicated:
 * which methods every server enforces, the mTLS CA's fingerprint, RBAC on or
 * off. A server that cannot enforce exactly these does not serve (pure). */
#ifndef WM_CORE_MESHAUTH_H
#define WM_CORE_MESHAUTH_H

#include <stdbool.h>
#include <stddef.h>

enum {
	WM_MESH_AUTH_MTLS = 1u << 0,
	WM_MESH_AUTH_BASIC = 1u << 1,
	WM_MESH_AUTH_LDAP = 1u << 2,
	WM_MESH_AUTH_KEY = 1u << 3,
	WM_MESH_AUTH_PLUGIN = 1u << 4, /* auth plugins (issue 12, include/webmesh/plugin.h) */
	WM_MESH_AUTH_ALL = (1u << 5) - 1,
};

#define WM_MESH_AUTH_FP_LEN 72	 /* "sha256:" + 64 hex + NUL, rounded */
#define WM_MESH_AUTH_TEXT_MAX 32 /* "mtls,basic,ldap,key,plugin" */

struct wm_mesh_auth {
	unsigned methods;			  /* WM_MESH_AUTH_* bits; 0: an open mesh */
	char ca_fingerprint[WM_MESH_AUTH_FP_LEN]; /* with mtls: the CA certificate's; else "" */
	bool rbac;				  /* RBAC decides (on unless open) */
};

/* "mtls,basic,ldap,key,plugin" (in this order, the methods present) or "open". */
void wm_mesh_auth_methods_format(unsigned methods, char out[WM_MESH_AUTH_TEXT_MAX]);
/* The inverse; -EINVAL for an unknown or repeated name, an empty string or
 * "open" with another name. */
int wm_mesh_auth_methods_parse(const char *s, unsigned *out);
/* A settings record as stored: methods known, a fingerprint exactly with
 * mtls ("sha256:" and 64 lower-case hex), RBAC on exactly when not open. */
int wm_mesh_auth_valid(const struct wm_mesh_auth *a);

/* What this server's configuration enforces. ca_file names the file for the
 * messages (may be NULL). */
struct wm_mesh_auth_local {
	struct wm_mesh_auth auth;
	const char *ca_file;
};
/* 0 when local enforces exactly mesh; else -EPERM and err says what to
 * change, naming the flag or file (the first difference found: a method the
 * mesh uses, then the CA, then a method it does not use). */
int wm_mesh_auth_check(const struct wm_mesh_auth *mesh, const struct wm_mesh_auth_local *local,
		       char *err, size_t errlen);

#endif
