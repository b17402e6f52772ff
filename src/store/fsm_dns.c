/* The FSM's MeshDNS commands: user records, checked with the same rules
 * (core/dnsname.c) as the API, so a command that bypassed the handler (an
 * older leader, a hand-made log entry) cannot store what the zone would
 * refuse. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/dnsname.h"
#include "core/error.h"
#include "store/fsm_int.h"

#define DNS_RECORDS_MAX 4096

struct dns_rec {
	char name[WM_DNS_NAME_MAX + 1];
	char type[8];
	char value[WM_DNS_VALUE_MAX + 1];
};

/* Canonical name/type (and value when want_value) or a refusal. */
static int dns_canon(struct wm_fsm *f, const char *name, const char *type, const char *value,
		     bool want_value, struct dns_rec *r, struct wm_store_result *res)
{
	struct wm_fsm_mesh m;
	const char *why = "";
	int t, err = wm_fsm_mesh_load(f, &m);

	if (err == -WM_ENOMESH)
		return wm_fsm_refuse(res, err, "the mesh has not been bootstrapped");
	if (err)
		return err;
	if (wm_dns_record_name(name, m.info.domain, r->name, sizeof(r->name), &why) < 0)
		return wm_fsm_refuse(res, -EINVAL, "invalid DNS record name \"%.64s\": %s",
				     name ? name : "", why);
	t = wm_dns_record_type(type);
	if (t < 0)
		return wm_fsm_refuse(
			res, -EINVAL,
			"invalid DNS record type \"%.16s\" (A, AAAA, CNAME, TXT or SRV)",
			type ? type : "");
	snprintf(r->type, sizeof(r->type), "%s", wm_dns_record_type_name(t));
	r->value[0] = '\0';
	if (want_value && wm_dns_record_value(t, value, r->value, sizeof(r->value), &why) < 0)
		return wm_fsm_refuse(res, -EINVAL, "invalid %s value \"%.64s\": %s", r->type,
				     value ? value : "", why);
	return 0;
}

static int count(struct wm_fsm *f, const char *sql, const char *a, const char *b, int64_t *out)
{
	sqlite3_stmt *st;
	int r = wm_fsm_prepare(f->db, sql, &st);

	if (r < 0)
		return r;
	wm_fsm_bind_text(st, 1, a);
	if (b)
		wm_fsm_bind_text(st, 2, b);
	r = sqlite3_step(st);
	*out = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return r == SQLITE_ROW ? 0 : wm_fsm_sqlite_err(r);
}

int wm_fsm_cmd_put_dns_record(struct wm_fsm *f, const Webmesh__V1__PutDnsRecordCommand *c,
			      struct wm_store_result *res)
{
	struct dns_rec r;
	sqlite3_stmt *st;
	int64_t n;
	int err = dns_canon(f, c->name, c->type, c->value, true, &r, res);

	if (err || res->err)
		return err;
	/* RFC 1034 3.6.2: a name with a CNAME has no other data. */
	if (strcmp(r.type, "CNAME") == 0) {
		err = count(f,
			    "SELECT count(*) FROM dns_records WHERE name = ?1 AND"
			    " NOT (type = 'CNAME' AND value = ?2)",
			    r.name, r.value, &n);
		if (err)
			return err;
		if (n)
			return wm_fsm_refuse(res, -EEXIST,
					     "%s already has records; a CNAME must stand alone",
					     r.name);
	} else {
		err = count(f,
			    "SELECT count(*) FROM dns_records WHERE name = ?1 AND type = 'CNAME'",
			    r.name, NULL, &n);
		if (err)
			return err;
		if (n)
			return wm_fsm_refuse(res, -EEXIST,
					     "%s is a CNAME; it can have no other records", r.name);
	}
	err = count(f, "SELECT count(*) FROM dns_records", "", NULL, &n);
	if (err)
		return err;
	if (n >= DNS_RECORDS_MAX)
		return wm_fsm_refuse(res, -WM_EEXHAUSTED, "the mesh holds %d DNS records already",
				     DNS_RECORDS_MAX);
	err = wm_fsm_prepare(
		f->db, "INSERT OR IGNORE INTO dns_records (name, type, value) VALUES (?1, ?2, ?3)",
		&st);
	if (err)
		return err;
	wm_fsm_bind_text(st, 1, r.name);
	wm_fsm_bind_text(st, 2, r.type);
	wm_fsm_bind_text(st, 3, r.value);
	err = sqlite3_step(st) == SQLITE_DONE ? 0 : wm_fsm_sqlite_err(sqlite3_errcode(f->db));
	sqlite3_finalize(st);
	return err;
}

int wm_fsm_cmd_delete_dns_record(struct wm_fsm *f, const Webmesh__V1__DeleteDnsRecordCommand *c,
				 struct wm_store_result *res)
{
	bool all = !c->value || !c->value[0];
	struct dns_rec r;
	sqlite3_stmt *st;
	int err = dns_canon(f, c->name, c->type, c->value, !all, &r, res);

	if (err || res->err)
		return err;
	err = wm_fsm_prepare(
		f->db,
		all ? "DELETE FROM dns_records WHERE name = ?1 AND type = ?2"
		    : "DELETE FROM dns_records WHERE name = ?1 AND type = ?2 AND value = ?3",
		&st);
	if (err)
		return err;
	wm_fsm_bind_text(st, 1, r.name);
	wm_fsm_bind_text(st, 2, r.type);
	if (!all)
		wm_fsm_bind_text(st, 3, r.value);
	err = sqlite3_step(st) == SQLITE_DONE ? 0 : wm_fsm_sqlite_err(sqlite3_errcode(f->db));
	sqlite3_finalize(st);
	if (err)
		return err;
	if (sqlite3_changes(f->db) == 0)
		return all ? wm_fsm_refuse(res, -ENOENT, "no %s record at %s", r.type, r.name)
			   : wm_fsm_refuse(res, -ENOENT, "no %s record %s at %s", r.type, r.value,
					   r.name);
	return 0;
}
