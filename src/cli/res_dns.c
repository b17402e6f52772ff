/* wmctl put/get/delete dns-record(s): MeshDNS user records (Admin service). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/dnsname.h"
#include "webmesh/v1/admin.pb-c.h"
#include "services/paths.h"

bool wm_cli_dns_owns(const char *what)
{
	return strcmp(what, "dns-record") == 0 || strcmp(what, "dns-records") == 0;
}

static int list(const struct wm_cli *c)
{
	Webmesh__V1__ListDnsRecordsRequest req = WEBMESH__V1__LIST_DNS_RECORDS_REQUEST__INIT;
	ProtobufCMessage *m = wm_cli_call(c, WM_METHOD_ADMIN_LIST_DNS_RECORDS, &req.base,
					  &webmesh__v1__list_dns_records_response__descriptor);
	if (!m)
		return 1;
	const Webmesh__V1__ListDnsRecordsResponse *r =
		(const Webmesh__V1__ListDnsRecordsResponse *)m;
	if (c->output == WM_OUT_JSON) {
		wm_cli_print_json(m);
	} else {
		static const char *const headers[] = {"NAME", "TYPE", "VALUE"};
		struct wm_table *t = wm_table_new(3, headers);
		for (size_t i = 0; i < r->n_records; i++) {
			const char *row[] = {r->records[i]->name, r->records[i]->type,
					     r->records[i]->value};
			wm_table_add(t, row);
		}
		wm_table_print(t);
		wm_table_free(t);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int wm_cli_dns(const struct wm_cli *c, const char *verb)
{
	Webmesh__V1__DnsRecord req = WEBMESH__V1__DNS_RECORD__INIT;
	bool put = strcmp(verb, "put") == 0, del = strcmp(verb, "delete") == 0;
	char done[WM_DNS_NAME_MAX + WM_DNS_VALUE_MAX + 32];

	if (strcmp(verb, "get") == 0) {
		if (c->n_args != 1) {
			fprintf(stderr, "usage: wmctl get dns-records\n");
			return 2;
		}
		return list(c);
	}
	if ((put && c->n_args != 4) || (del && c->n_args != 3 && c->n_args != 4) ||
	    (!put && !del)) {
		fprintf(stderr, "usage: wmctl put dns-record NAME A|AAAA|CNAME|TXT|SRV VALUE\n"
				"       wmctl delete dns-record NAME TYPE [VALUE]\n");
		return 2;
	}
	/* The node checks every field (core/dnsname.c) and says what is wrong. */
	req.name = c->args[1];
	req.type = c->args[2];
	req.value = c->n_args == 4 ? c->args[3] : "";
	snprintf(done, sizeof(done), "%s %s %s %s", put ? "put" : "deleted", c->args[1], c->args[2],
		 req.value);
	return wm_cli_write(
		c, put ? WM_METHOD_ADMIN_PUT_DNS_RECORD : WM_METHOD_ADMIN_DELETE_DNS_RECORD,
		&req.base, done);
}
