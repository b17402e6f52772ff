/* The mesh's replicated authentication settings and the check that a server
 * can enforce them. */
#include "core/meshauth.h"
#include "core/key.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
	unsigned bit;
	const char *name, *what, *flag;
} methods[] = {
	{WM_MESH_AUTH_MTLS, "mtls", "mTLS", "--mtls --ca-file FILE"},
	{WM_MESH_AUTH_BASIC, "basic", "basic auth", "--basic-auth-file FILE (the mesh's htpasswd)"},
	{WM_MESH_AUTH_LDAP, "ldap", "LDAP", "--ldap-url URL (and the mesh's --ldap-* settings)"},
	{WM_MESH_AUTH_KEY, "key", "key auth", "--key-auth-keys-file FILE"},
	{WM_MESH_AUTH_PLUGIN, "plugin", "auth plugins",
	 "--plugin NAME=... (the mesh's auth plugins)"},
};
#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

/* The flags that switch a method on, to name when it must go. */
static const char *const enable_flag[] = {"--mtls", "--basic-auth-file", "--ldap-url",
					  "--key-auth-keys-file", "--plugin (its auth plugins)"};

void wm_mesh_auth_methods_format(unsigned m, char out[WM_MESH_AUTH_TEXT_MAX])
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < N_METHODS; i++)
		if (m & methods[i].bit)
			n += (size_t)snprintf(out + n, WM_MESH_AUTH_TEXT_MAX - n, "%s%s",
					      n ? "," : "", methods[i].name);
	if (!n)
		snprintf(out, WM_MESH_AUTH_TEXT_MAX, "open");
}

int wm_mesh_auth_methods_parse(const char *s, unsigned *out)
{
	unsigned m = 0;
	if (!s || !*s)
		return -EINVAL;
	if (strcmp(s, "open") == 0) {
		*out = 0;
		return 0;
	}
	for (const char *p = s;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		unsigned bit = 0;
		for (size_t i = 0; i < N_METHODS; i++)
			if (strlen(methods[i].name) == len && strncmp(methods[i].name, p, len) == 0)
				bit = methods[i].bit;
		if (!bit || (m & bit))
			return -EINVAL;
		m |= bit;
		if (!comma)
			break;
		p = comma + 1;
	}
	*out = m;
	return 0;
}

int wm_mesh_auth_valid(const struct wm_mesh_auth *a)
{
	if (a->methods & ~(unsigned)WM_MESH_AUTH_ALL)
		return -EINVAL;
	if (memchr(a->ca_fingerprint, '\0', sizeof(a->ca_fingerprint)) == NULL)
		return -EINVAL;
	if ((a->methods & WM_MESH_AUTH_MTLS) ? !wm_fingerprint_canonical(a->ca_fingerprint)
					     : a->ca_fingerprint[0] != '\0')
		return -EINVAL;
	if (a->rbac != (a->methods != 0))
		return -EINVAL;
	return 0;
}

int wm_mesh_auth_check(const struct wm_mesh_auth *mesh, const struct wm_mesh_auth_local *local,
		       char *err, size_t errlen)
{
	unsigned have = local->auth.methods;
	for (size_t i = 0; i < N_METHODS; i++) {
		if (!(mesh->methods & methods[i].bit) || (have & methods[i].bit))
			continue;
		if (methods[i].bit == WM_MESH_AUTH_MTLS)
			snprintf(err, errlen,
				 "the mesh uses mTLS: start this server with --mtls --ca-file "
				 "FILE (CA fingerprint %s)",
				 mesh->ca_fingerprint);
		else
			snprintf(err, errlen, "the mesh uses %s: start this server with %s",
				 methods[i].what, methods[i].flag);
		return -EPERM;
	}
	if ((mesh->methods & WM_MESH_AUTH_MTLS) &&
	    strcmp(mesh->ca_fingerprint, local->auth.ca_fingerprint) != 0) {
		snprintf(err, errlen,
			 "the mesh's mTLS CA is %s but --ca-file %s is %s: give the mesh's CA "
			 "certificate",
			 mesh->ca_fingerprint, local->ca_file ? local->ca_file : "(none)",
			 local->auth.ca_fingerprint[0] ? local->auth.ca_fingerprint : "unreadable");
		return -EPERM;
	}
	for (size_t i = 0; i < N_METHODS; i++) {
		if ((mesh->methods & methods[i].bit) || !(have & methods[i].bit))
			continue;
		char used[WM_MESH_AUTH_TEXT_MAX];
		wm_mesh_auth_methods_format(mesh->methods, used);
		snprintf(err, errlen,
			 "this server enables %s (%s) but the mesh does not use it (the mesh "
			 "uses: %s): remove %s",
			 methods[i].what, enable_flag[i], used, enable_flag[i]);
		return -EPERM;
	}
	return 0;
}
