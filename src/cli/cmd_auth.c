/* wmctl auth can-i VERB RESOURCE [NAME] [--as ID]: ask the node's RBAC. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "webmesh/v1/admin.pb-c.h"
#include "webmesh/v1/rbac.pb-c.h"
#include "services/paths.h"

int wm_cmd_auth(const struct wm_cli *c)
{
	Webmesh__V1__CanIRequest req = WEBMESH__V1__CAN_IREQUEST__INIT;
	const char *pos[3] = {NULL, NULL, NULL};
	int n = 0;

	if (c->n_args < 1 || strcmp(c->args[0], "can-i") != 0)
		goto usage;
	for (int i = 1; i < c->n_args; i++) {
		if (strcmp(c->args[i], "--as") == 0 && i + 1 < c->n_args)
			req.as_id = c->args[++i];
		else if (strncmp(c->args[i], "--as=", 5) == 0)
			req.as_id = c->args[i] + 5;
		else if (c->args[i][0] != '-' && n < 3)
			pos[n++] = c->args[i];
		else
			goto usage;
	}
	if (n < 2)
		goto usage;
	req.verb = (char *)pos[0];
	req.resource = (char *)pos[1];
	req.name = (char *)(pos[2] ? pos[2] : "");
	ProtobufCMessage *m = wm_cli_call(c, WM_METHOD_ADMIN_CAN_I, &req.base,
					  &webmesh__v1__can_iresponse__descriptor);
	if (!m)
		return 1;
	Webmesh__V1__CanIResponse *r = (Webmesh__V1__CanIResponse *)m;
	int code = r->allowed ? 0 : 1;
	if (c->output == WM_OUT_JSON)
		wm_cli_print_json(m);
	else
		printf("%s%s%s\n", r->allowed ? "yes" : "no", r->reason[0] ? ": " : "", r->reason);
	protobuf_c_message_free_unpacked(m, NULL);
	return code;
usage:
	fprintf(stderr, "usage: wmctl auth can-i VERB RESOURCE [NAME] [--as ID]\n");
	return 2;
}
