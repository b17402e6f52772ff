/* libFuzzer harness: the node proof headers and the forwarding metadata a
 * server reads from any caller (src/auth/nodeproof.c, src/services/gate.c).
 *
 * Input: newline-separated fields: node ID, window, proof, method path,
 * x-webmesh-proxied-for, x-webmesh-proxied-from (a missing field is an
 * absent header). Built by `make fuzz`; seeds in tests/fuzz/corpus/fuzz_node_proof.
 *
 * Checks beyond "no crash": no proof verifies against keys nobody used to
 * make it; every refusal says why; what the local socket turns into through
 * proxied-for is a node or a user with a valid name, or stays local.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/ids.h"
#include "core/nodeproof.h"
#include "services/gate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Fixed keys: the server's private key and a caller's public key that
	 * no field of the input can have been made with. */
	static const uint8_t priv[32] = {0x40, 1,  2,  3,  4,  5,  6,  7,  8,  9,   10,
					 11,   12, 13, 14, 15, 16, 17, 18, 19, 20,  21,
					 22,   23, 24, 25, 26, 27, 28, 29, 30, 0x41};
	static const uint8_t pub[32] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 9, 8, 7, 6, 5, 4, 3,
					2, 1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 9, 8, 7, 6, 5};
	char *text = malloc(size + 1), *f[6] = {0}, why[200];
	size_t n = 0;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (char *p = text; n < 6 && p; n++) {
		f[n] = p;
		p = strchr(p, '\n');
		if (p)
			*p++ = '\0';
	}
	why[0] = '\0';
	int r = wm_node_proof_verify(priv, "s1", pub, f[0], f[1], f[2],
				     f[3] ? f[3] : "/webmesh.v1.Admin/PutEdge", 1700000017, 30, why,
				     sizeof(why));
	if (r == 0 || !why[0])
		abort();
	char msg[WM_NODEPROOF_MSG_MAX];
	if (f[0] && f[3])
		wm_nodeproof_message(f[0], "s1", 1700000010, f[3], msg, sizeof(msg));

	struct wm_identity eff = {.local = true, .method = "local"};
	why[0] = '\0';
	r = wm_gate_resolve(NULL, false, f[4], f[5], &eff, why, sizeof(why));
	if (r != 0 && !why[0])
		abort();
	if (r == 0 && !eff.local &&
	    !((eff.kind == WM_ID_NODE && wm_node_id_check(eff.id, NULL) == 0) ||
	      (eff.kind == WM_ID_USER && eff.id[0])))
		abort();
	/* Anyone but the local socket, with no replica: never honoured. */
	struct wm_identity other = {.id = "s1", .kind = WM_ID_NODE, .proven = true};
	if ((f[4] || f[5]) &&
	    wm_gate_resolve(NULL, true, f[4], f[5], &other, why, sizeof(why)) == 0)
		abort();
	free(text);
	return 0;
}
