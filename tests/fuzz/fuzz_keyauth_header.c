/* libFuzzer harness for the key-auth headers (src/auth/keyauth.c and
 * src/core/keyauth.c): x-webmesh-key-id, -window and -sig as a server gets
 * them, through the real key authenticator with a keys file of two nodes,
 * at a fixed time, for a server presenting the certificate SERVER_FP. The input is the three header
 * values separated by '\n' (a missing part is a missing header). Seeds with a valid signature (made
 * with the seed key below) let the fuzzer start past the parsers.
 * Properties: only a signature by the listed key of that ID, for a window
 * inside the skew, is accepted, and then as that node (kind node, method
 * "key"); every refusal says why.
 *
 * Built by `make fuzz` (tests/fuzz/CMakeLists.txt), with the seed corpus
 * tests/fuzz/corpus/fuzz_keyauth_header/. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/auth_int.h"
#include "core/base64.h"
#include "core/keyauth.h"
#include "util/crypto.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fuzzer's clock: 1700000010 is a window start. */
#define NOW 1700000010
/* The certificate the server presented: signatures are for it (v2). */
#define SERVER_FP "sha256:aa112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
/* node-a's Ed25519 seed (32 bytes 0x01..0x20), and node-b's (0x21..0x40). */
static uint8_t seed_a[32], seed_b[32];
static struct wm_auth *chain;
static char dir[] = "/tmp/wm-fuzz-keyauth-XXXXXX";

static void cleanup(void)
{
	char path[64];
	snprintf(path, sizeof(path), "%s/keys", dir);
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t pk_a[32], pk_b[32];
	char b64a[64], b64b[64], path[64], err[256];
	struct wm_authenticator au;
	FILE *f;

	(void)argc;
	(void)argv;
	for (int i = 0; i < 32; i++) {
		seed_a[i] = (uint8_t)(i + 1);
		seed_b[i] = (uint8_t)(i + 0x21);
	}
	if (wm_ed25519_public(seed_a, pk_a) || wm_ed25519_public(seed_b, pk_b))
		abort();
	wm_base64_encode(pk_a, 32, b64a);
	wm_base64_encode(pk_b, 32, b64b);
	if (!mkdtemp(dir))
		abort();
	atexit(cleanup);
	snprintf(path, sizeof(path), "%s/keys", dir);
	f = fopen(path, "w");
	if (!f)
		abort();
	fprintf(f, "node-a %s\nnode-b %s\n", b64a, b64b);
	fclose(f);
	if (wm_auth_new(NULL, &chain) || wm_auth_key_new(path, 30, &au, err, sizeof(err)) ||
	    wm_auth_add(chain, &au)) {
		fprintf(stderr, "fuzz_keyauth_header: %s\n", err);
		abort();
	}
	return 0;
}

/* Splits s at the first '\n' (NULL when there is none). */
static char *next_part(char *s)
{
	char *nl = s ? strchr(s, '\n') : NULL;
	if (!nl)
		return NULL;
	*nl = '\0';
	return nl + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wm_auth_request req = {.now = NOW, .key_audience = SERVER_FP};
	struct wm_identity id;
	char why[256], *buf;
	int64_t window;

	if (size > 1024)
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	snprintf(req.server_fp, sizeof(req.server_fp), "%s", SERVER_FP);
	req.key_id = buf;
	req.key_window = next_part(buf);
	req.key_sig = next_part((char *)req.key_window);
	if (!*buf)
		req.key_id = NULL;

	/* The window parser alone: what it accepts prints back the same. */
	if (req.key_window && wm_keyauth_parse_window(req.key_window, &window) == 0) {
		char again[32];
		snprintf(again, sizeof(again), "%lld", (long long)window);
		if (strcmp(again, req.key_window) != 0)
			abort();
	}

	memset(&id, 0, sizeof(id));
	int r = wm_auth_authenticate_sync(chain, &req, &id, why, sizeof(why));
	if (r == 0) {
		/* Accepted: the ID is a listed node whose key made this signature
		 * for this window, and the window is acceptable now. */
		uint8_t sig[64], expect[64];
		char msg[WM_KEYAUTH_MSG_MAX];
		size_t siglen = 0;
		const uint8_t *seed = strcmp(req.key_id, "node-a") == 0	  ? seed_a
				      : strcmp(req.key_id, "node-b") == 0 ? seed_b
									  : NULL;
		if (!seed || id.kind != WM_ID_NODE || strcmp(id.id, req.key_id) != 0 ||
		    strcmp(id.method, "key") != 0)
			abort();
		if (wm_keyauth_parse_window(req.key_window, &window) != 0 ||
		    !wm_keyauth_window_ok(window, NOW, 30))
			abort();
		int n = wm_keyauth_message(req.key_id, SERVER_FP, window, msg, sizeof(msg));
		if (n < 0 ||
		    wm_base64_decode(req.key_sig, strlen(req.key_sig), sig, sizeof(sig), &siglen) ||
		    siglen != 64 || wm_ed25519_sign(seed, msg, (size_t)n, expect) != 0)
			abort();
		/* Ed25519 signatures are deterministic; a second valid encoding
		 * of the same signature would be a malleability bug. */
		if (memcmp(sig, expect, 64) != 0)
			abort();
	} else if (r != -EACCES || !why[0]) {
		abort();
	}
	free(buf);
	return 0;
}
