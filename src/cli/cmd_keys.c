/* wmctl genkey / pubkey: WireGuard keys, as `wg genkey` and `wg pubkey`. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "core/key.h"
#include "util/crypto.h"

int wm_cmd_genkey(const struct wm_cli *c)
{
	(void)c;
	wm_key priv;
	char b64[WM_KEY_B64_LEN + 1];
	if (wm_random(priv, sizeof(priv)) < 0) {
		fprintf(stderr, "wmctl: cannot get random bytes for a key\n");
		return 1;
	}
	priv[0] &= 248; /* clamped as RFC 7748 says */
	priv[31] = (priv[31] & 127) | 64;
	wm_key_to_base64(priv, b64);
	puts(b64);
	wm_wipe(priv, sizeof(priv));
	wm_wipe(b64, sizeof(b64));
	return 0;
}

int wm_cmd_pubkey(const struct wm_cli *c)
{
	(void)c;
	char line[256];
	wm_key priv, pub;
	if (!fgets(line, sizeof(line), stdin)) {
		fprintf(stderr, "wmctl: pubkey reads a private key on standard input\n");
		return 2;
	}
	line[strcspn(line, "\r\n")] = '\0';
	int bad = wm_key_from_base64(line, priv) < 0 || wm_x25519_public(priv, pub) < 0;
	wm_wipe(line, sizeof(line));
	wm_wipe(priv, sizeof(priv));
	if (bad) {
		fprintf(stderr, "wmctl: standard input is not a base64 WireGuard private key\n");
		return 1;
	}
	char b64[WM_KEY_B64_LEN + 1];
	wm_key_to_base64(pub, b64);
	puts(b64);
	return 0;
}
