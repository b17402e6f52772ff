/* libFuzzer harness for issue 10's parsers of untrusted input: the mesh's
 * authentication settings as a JoinResponse carries them (methods text, CA
 * fingerprint) down to the check a joining server makes, and the key-auth
 * audience header down to the signed message.
 *
 * Checks beyond "no crash": parsed methods format back to text that parses
 * to the same methods; the check never accepts settings that differ from
 * the local ones; a message is built exactly for a valid audience. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/keyauth.h"
#include "core/meshauth.h"
#include "webmesh/v1/mesh.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void methods_roundtrip(const char *s)
{
	unsigned m, again;
	char text[WM_MESH_AUTH_TEXT_MAX];
	if (wm_mesh_auth_methods_parse(s, &m) < 0)
		return;
	wm_mesh_auth_methods_format(m, text);
	if (wm_mesh_auth_methods_parse(text, &again) < 0 || again != m)
		abort();
}

static void join_response(const uint8_t *data, size_t size)
{
	Webmesh__V1__JoinResponse *r = webmesh__v1__join_response__unpack(NULL, size, data);
	if (!r)
		return;
	struct wm_mesh_auth mesh = {0};
	const char *fp = r->mtls_ca_fingerprint ? r->mtls_ca_fingerprint : "";
	if (r->auth_methods && wm_mesh_auth_methods_parse(r->auth_methods, &mesh.methods) == 0 &&
	    strlen(fp) < sizeof(mesh.ca_fingerprint)) {
		memcpy(mesh.ca_fingerprint, fp, strlen(fp) + 1);
		mesh.rbac = r->rbac;
		(void)wm_mesh_auth_valid(&mesh);
		struct wm_mesh_auth_local local = {
			.auth = {WM_MESH_AUTH_MTLS,
				 "sha256:"
				 "aa112233445566778899aabbccddeeff00112233445566778899aabbccdd"
				 "eeff",
				 true},
			.ca_file = "ca.crt"};
		char err[400];
		int ok = wm_mesh_auth_check(&mesh, &local, err, sizeof(err)) == 0;
		if (ok && (mesh.methods != local.auth.methods ||
			   strcmp(mesh.ca_fingerprint, local.auth.ca_fingerprint) != 0))
			abort();
	}
	webmesh__v1__join_response__free_unpacked(r, NULL);
}

static void audience(const char *s)
{
	char msg[WM_KEYAUTH_MSG_MAX];
	int n = wm_keyauth_message("node-a", s, 1700000010, msg, sizeof(msg));
	if ((n >= 0) != wm_keyauth_audience_ok(s))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0] % 3;
	data++;
	size--;
	if (mode == 2) {
		join_response(data, size);
		return 0;
	}
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (mode == 0)
		methods_roundtrip(s);
	else
		audience(s);
	free(s);
	return 0;
}
