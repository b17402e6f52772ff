/* wmctl console: asks the local node for a one-time token of its web console
 * and prints the URL that spends it. */
#include "cli/cli.h"

#include <stdio.h>

#include "webmesh/v1/node.pb-c.h"
#include "services/paths.h"

int wm_cmd_console(const struct wm_cli *c)
{
	if (c->n_args) {
		fprintf(stderr, "usage: wmctl console\n");
		return 2;
	}
	Webmesh__V1__ConsoleTokenRequest req = WEBMESH__V1__CONSOLE_TOKEN_REQUEST__INIT;
	ProtobufCMessage *m = wm_cli_call(c, WM_METHOD_NODE_CONSOLE_TOKEN, &req.base,
					  &webmesh__v1__console_token_response__descriptor);
	if (!m)
		return 1;
	if (c->output == WM_OUT_JSON)
		wm_cli_print_json(m);
	else
		printf("%s\n", ((const Webmesh__V1__ConsoleTokenResponse *)m)->url);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}
