/* The Admin service's MeshDNS records: checked here (syntax only: the mesh
 * domain is the FSM's to apply) and applied through Raft. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dnsname.h"
#include "services/admin.h"
#include "webmesh/v1/admin.pb-c.h"

/* The checks the FSM repeats, so a bad request is refused without a Raft
 * round; the same texts as the FSM's refusals. */
static int check(const Webmesh__V1__DnsRecord *r, bool want_value, char *why, size_t len)
{
	char name[WM_DNS_NAME_MAX + 2], value[WM_DNS_VALUE_MAX + 1];
	const char *reason = "";
	size_t n = strnlen(r->name, sizeof(name));
	int t;

	if (n && r->name[n - 1] == '.')
		n--;
	snprintf(name, sizeof(name), "%.*s", (int)n, r->name);
	if (n >= sizeof(name) - 1)
		reason = "is longer than 253 characters";
	if (n >= sizeof(name) - 1 ||
	    wm_dns_name_check(name,
			      WM_DNS_NAME_UPPER | WM_DNS_NAME_WILDCARD | WM_DNS_NAME_UNDERSCORE,
			      &reason) < 0) {
		snprintf(why, len, "invalid DNS record name \"%.64s\": %s", r->name, reason);
		return -EINVAL;
	}
	t = wm_dns_record_type(r->type);
	if (t < 0) {
		snprintf(why, len, "invalid DNS record type \"%.16s\" (A, AAAA, CNAME, TXT or SRV)",
			 r->type);
		return -EINVAL;
	}
	if (want_value && wm_dns_record_value(t, r->value, value, sizeof(value), &reason) < 0) {
		snprintf(why, len, "invalid %s value \"%.64s\": %s", wm_dns_record_type_name(t),
			 r->value, reason);
		return -EINVAL;
	}
	return 0;
}

static void write_record(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data,
			 bool remove)
{
	Webmesh__V1__DnsRecord *r = webmesh__v1__dns_record__unpack(NULL, len, req);
	Webmesh__V1__PutDnsRecordCommand put = WEBMESH__V1__PUT_DNS_RECORD_COMMAND__INIT;
	Webmesh__V1__DeleteDnsRecordCommand del = WEBMESH__V1__DELETE_DNS_RECORD_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	char why[256];

	if (!r) {
		wm_services_fail(call, -EINVAL, "malformed DnsRecord");
		return;
	}
	if (check(r, !remove || r->value[0], why, sizeof(why)) < 0) {
		webmesh__v1__dns_record__free_unpacked(r, NULL);
		wm_services_fail(call, -EINVAL, why);
		return;
	}
	if (remove) {
		del.name = r->name;
		del.type = r->type;
		del.value = r->value;
		cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_DNS_RECORD;
		cmd.delete_dns_record = &del;
	} else {
		put.name = r->name;
		put.type = r->type;
		put.value = r->value;
		cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_DNS_RECORD;
		cmd.put_dns_record = &put;
	}
	wm_admin_apply(data, call, req, len, &cmd);
	webmesh__v1__dns_record__free_unpacked(r, NULL);
}

void wm_admin_put_dns_record(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	write_record(call, req, len, data, false);
}

void wm_admin_delete_dns_record(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				void *data)
{
	write_record(call, req, len, data, true);
}

void wm_admin_list_dns_records(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	Webmesh__V1__ListDnsRecordsRequest *r =
		webmesh__v1__list_dns_records_request__unpack(NULL, len, req);
	struct wm_dns_record *recs = NULL;
	size_t n = 0;

	if (!r) {
		wm_services_fail(call, -EINVAL, "malformed ListDnsRecordsRequest");
		return;
	}
	webmesh__v1__list_dns_records_request__free_unpacked(r, NULL);
	if (!s->cfg.store) {
		wm_services_proxy(s, call, req, len);
		return;
	}
	int err = wm_store_list_dns_records(s->cfg.store, &recs, &n);
	if (err) {
		wm_services_fail(call, err, NULL);
		return;
	}
	Webmesh__V1__ListDnsRecordsResponse resp = WEBMESH__V1__LIST_DNS_RECORDS_RESPONSE__INIT;
	Webmesh__V1__DnsRecord *items = calloc(n + 1, sizeof(*items));
	Webmesh__V1__DnsRecord **ptrs = calloc(n + 1, sizeof(*ptrs));
	if (!items || !ptrs) {
		wm_services_fail(call, -ENOMEM, NULL);
	} else {
		for (size_t i = 0; i < n; i++) {
			webmesh__v1__dns_record__init(&items[i]);
			items[i].name = recs[i].name;
			items[i].type = recs[i].type;
			items[i].value = recs[i].value;
			ptrs[i] = &items[i];
		}
		resp.records = ptrs;
		resp.n_records = n;
		wm_services_reply(call, &resp.base);
	}
	free(items);
	free(ptrs);
	free(recs);
}
