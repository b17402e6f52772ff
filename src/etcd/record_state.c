/* Edge, route, DNS and RBAC records in etcd, and the transactions of the
 * commands that change them (record_state.h). */
#include "etcd/record_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/ids.h"
#include "etcd/layout.h"

/* 32 hex digits of SHA-256 over the parts, each followed by a zero byte:
 * DNS values and RBAC names may hold bytes a key should not, and the hash
 * keeps every key short. 128 bits: no two records of a mesh collide. */
static int hash_parts(const char *const *parts, size_t n, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(c, parts[i], strlen(parts[i]) + 1) == 1;
	ok = ok && EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen >= 16;
	EVP_MD_CTX_free(c);
	if (!ok)
		return -ENOMEM;
	for (size_t i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static const char *const authz_kinds[] = {"roles", "rolebindings", "groups", "networkacls"};

int wm_etcd_skey(const char *mesh, enum wm_etcd_skind kind, const char *a, const char *b,
		 const char *c, char *out, size_t len)
{
	char pfx[WM_ETCD_KEY_MAX], h1[33], h2[33];
	int r = wm_etcd_mesh_prefix(mesh, pfx, sizeof(pfx)), n;
	const char *why;

	if (r < 0)
		return r;
	switch (kind) {
	case WM_ETCD_S_GUARD:
		n = snprintf(out, len, "%sguard", pfx);
		break;
	case WM_ETCD_S_CMD:
		n = snprintf(out, len, "%scmd", pfx);
		break;
	case WM_ETCD_S_AUTHZ_SET:
		n = snprintf(out, len, "%sauthz-settings", pfx);
		break;
	case WM_ETCD_S_EDGE: {
		if (!a || !b)
			return -EINVAL;
		/* Undirected: the same key for (a, b) and (b, a). */
		const char *p[2] = {strcmp(a, b) <= 0 ? a : b, strcmp(a, b) <= 0 ? b : a};
		if ((r = hash_parts(p, 2, h1)) < 0)
			return r;
		n = snprintf(out, len, "%sedges/%s", pfx, h1);
		break;
	}
	case WM_ETCD_S_ROUTES:
		if (!a || wm_node_id_check(a, &why) < 0)
			return -EINVAL;
		n = snprintf(out, len, "%sroutes/%s", pfx, a);
		break;
	case WM_ETCD_S_DNS: {
		if (!a || !b)
			return -EINVAL;
		const char *p[2] = {a, b};
		if ((r = hash_parts(p, 2, h1)) < 0)
			return r;
		if (c && (r = hash_parts(&c, 1, h2)) < 0)
			return r;
		n = c ? snprintf(out, len, "%sdns/%s/%s", pfx, h1, h2)
		      : snprintf(out, len, "%sdns/%s/", pfx, h1);
		break;
	}
	case WM_ETCD_S_AUTHZ: {
		size_t k = 0;
		while (k < 4 && (!a || strcmp(a, authz_kinds[k]) != 0))
			k++;
		if (k == 4 || !b || (r = hash_parts(&b, 1, h1)) < 0)
			return r < 0 ? r : -EINVAL;
		n = snprintf(out, len, "%sauthz/%s/%s", pfx, a, h1);
		break;
	}
	default:
		return -EINVAL;
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static bool hex_run(const uint8_t *p, size_t len)
{
	if (len != 32)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

static bool starts(const uint8_t *p, size_t len, const char *s, size_t *sl)
{
	*sl = strlen(s);
	return len >= *sl && memcmp(p, s, *sl) == 0;
}

int wm_etcd_skey_kind(const uint8_t *p, size_t len, enum wm_etcd_skind *kind)
{
	size_t l;
	if (len == 5 && memcmp(p, "guard", 5) == 0) {
		*kind = WM_ETCD_S_GUARD;
		return 0;
	}
	if (len == 3 && memcmp(p, "cmd", 3) == 0) {
		*kind = WM_ETCD_S_CMD;
		return 0;
	}
	if (len == 14 && memcmp(p, "authz-settings", 14) == 0) {
		*kind = WM_ETCD_S_AUTHZ_SET;
		return 0;
	}
	if (starts(p, len, "edges/", &l) && hex_run(p + l, len - l)) {
		*kind = WM_ETCD_S_EDGE;
		return 0;
	}
	if (starts(p, len, "routes/", &l) && len > l) {
		*kind = WM_ETCD_S_ROUTES;
		return 0;
	}
	if (starts(p, len, "dns/", &l) && len == l + 65 && hex_run(p + l, 32) && p[l + 32] == '/' &&
	    hex_run(p + l + 33, 32)) {
		*kind = WM_ETCD_S_DNS;
		return 0;
	}
	if (starts(p, len, "authz/", &l)) {
		for (size_t k = 0; k < 4; k++) {
			size_t kl = strlen(authz_kinds[k]);
			if (len == l + kl + 33 && memcmp(p + l, authz_kinds[k], kl) == 0 &&
			    p[l + kl] == '/' && hex_run(p + l + kl + 1, 32)) {
				*kind = WM_ETCD_S_AUTHZ;
				return 0;
			}
		}
	}
	return -EINVAL;
}

int wm_etcd_srec_encode(const Webmesh__V1__RaftCommand *cmd, int64_t source_rev, int64_t target_rev,
			uint8_t **out, size_t *len)
{
	Webmesh__Etcd__StateRecord rec = WEBMESH__ETCD__STATE_RECORD__INIT;
	size_t cl = webmesh__v1__raft_command__get_packed_size(cmd);
	uint8_t *c = malloc(cl ? cl : 1);
	if (!c)
		return -ENOMEM;
	webmesh__v1__raft_command__pack(cmd, c);
	rec.source_rev = source_rev;
	rec.target_rev = target_rev;
	rec.command = (ProtobufCBinaryData){cl, c};
	*len = webmesh__etcd__state_record__get_packed_size(&rec);
	*out = malloc(*len ? *len : 1);
	if (*out)
		webmesh__etcd__state_record__pack(&rec, *out);
	free(c);
	return *out ? 0 : -ENOMEM;
}

/* Which commands a record of kind may hold. */
static bool fits(enum wm_etcd_skind kind, const Webmesh__V1__RaftCommand *c)
{
	if (kind == WM_ETCD_S_CMD)
		return c->command_case != WEBMESH__V1__RAFT_COMMAND__COMMAND__NOT_SET;
	switch (c->command_case) {
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE:
		return kind == WM_ETCD_S_EDGE && c->put_edge;
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_EDGE:
		return kind == WM_ETCD_S_EDGE && c->delete_edge;
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROUTES:
		return kind == WM_ETCD_S_ROUTES && c->put_routes;
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_DNS_RECORD:
		return kind == WM_ETCD_S_DNS && c->put_dns_record;
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE_BINDING:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_GROUP:
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_NETWORK_ACL:
		return kind == WM_ETCD_S_AUTHZ;
	case WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP_AUTHZ:
		return kind == WM_ETCD_S_AUTHZ_SET && c->bootstrap_authz;
	default:
		return false;
	}
}

int wm_etcd_srec_decode(enum wm_etcd_skind kind, const uint8_t *v, size_t len,
			Webmesh__V1__RaftCommand **cmd, int64_t *source_rev, int64_t *target_rev)
{
	Webmesh__Etcd__StateRecord *rec = webmesh__etcd__state_record__unpack(NULL, len, v);
	*cmd = NULL;
	if (!rec)
		return -EINVAL;
	Webmesh__V1__RaftCommand *c =
		webmesh__v1__raft_command__unpack(NULL, rec->command.len, rec->command.data);
	*source_rev = rec->source_rev;
	*target_rev = rec->target_rev;
	webmesh__etcd__state_record__free_unpacked(rec, NULL);
	if (!c)
		return -EINVAL;
	/* The whole command must be this build's: a field it does not know
	 * would be dropped when the record is applied. */
	if (c->base.n_unknown_fields > 0 || !fits(kind, c) || *source_rev < 0 || *target_rev < 0) {
		webmesh__v1__raft_command__free_unpacked(c, NULL);
		return -EINVAL;
	}
	*cmd = c;
	return 0;
}

/* ------------------------------------------------------------ txn */

void wm_etcd_gtxn_init(struct wm_etcd_gtxn *t)
{
	memset(t, 0, sizeof(*t));
	etcdserverpb__txn_request__init(&t->req);
	t->req.compare = t->cmpp;
	t->req.success = t->succ;
	t->req.failure = t->fail;
}

static int keep(struct wm_etcd_gtxn *t, const void *p, size_t len, ProtobufCBinaryData *out)
{
	if (t->n_mem == sizeof(t->mem) / sizeof(t->mem[0]))
		return -E2BIG;
	uint8_t *m = malloc(len ? len : 1);
	if (!m)
		return -ENOMEM;
	if (len)
		memcpy(m, p, len);
	t->mem[t->n_mem++] = m;
	*out = (ProtobufCBinaryData){len, m};
	return 0;
}

static Etcdserverpb__RequestOp *op_new(struct wm_etcd_gtxn *t)
{
	if (t->n_ops >= WM_ETCD_GTXN_MAX)
		return NULL;
	Etcdserverpb__RequestOp *o = &t->op[t->req.n_success + t->req.n_failure];
	etcdserverpb__request_op__init(o);
	return o;
}

int wm_etcd_gtxn_cmp(struct wm_etcd_gtxn *t, const char *key, int64_t rev)
{
	if (t->n_ops >= WM_ETCD_GTXN_MAX)
		return -E2BIG;
	Etcdserverpb__Compare *c = &t->cmp[t->req.n_compare];
	etcdserverpb__compare__init(c);
	int r = keep(t, key, strlen(key), &c->key);
	if (r < 0)
		return r;
	c->result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
	c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
	c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
	c->mod_revision = rev;
	t->cmpp[t->req.n_compare++] = c;
	t->n_ops++;
	return 0;
}

int wm_etcd_gtxn_put(struct wm_etcd_gtxn *t, const char *key, const uint8_t *value, size_t len)
{
	Etcdserverpb__RequestOp *o = op_new(t);
	if (!o)
		return -E2BIG;
	Etcdserverpb__PutRequest *p = &t->put[t->req.n_success + t->req.n_failure];
	etcdserverpb__put_request__init(p);
	int r = keep(t, key, strlen(key), &p->key);
	if (r < 0 || (r = keep(t, value, len, &p->value)) < 0)
		return r;
	o->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
	o->request_put = p;
	t->succ[t->req.n_success++] = o;
	t->n_ops++;
	return 0;
}

int wm_etcd_gtxn_del(struct wm_etcd_gtxn *t, const char *key, bool prefix)
{
	Etcdserverpb__RequestOp *o = op_new(t);
	uint8_t end[WM_ETCD_SKEY_MAX];
	size_t kl = strlen(key);
	if (!o)
		return -E2BIG;
	if (kl > sizeof(end))
		return -ENAMETOOLONG;
	Etcdserverpb__DeleteRangeRequest *d = &t->del[t->req.n_success + t->req.n_failure];
	etcdserverpb__delete_range_request__init(d);
	int r = keep(t, key, kl, &d->key);
	if (r < 0)
		return r;
	if (prefix) {
		size_t el = wm_etcd_prefix_end((const uint8_t *)key, kl, end);
		if ((r = keep(t, end, el, &d->range_end)) < 0)
			return r;
	}
	o->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
	o->request_delete_range = d;
	t->succ[t->req.n_success++] = o;
	t->n_ops++;
	return 0;
}

static int range_add(struct wm_etcd_gtxn *t, const char *key, bool success)
{
	Etcdserverpb__RequestOp *o = op_new(t);
	if (!o)
		return -E2BIG;
	Etcdserverpb__RangeRequest *g = &t->rng[t->req.n_success + t->req.n_failure];
	etcdserverpb__range_request__init(g);
	int r = keep(t, key, strlen(key), &g->key);
	if (r < 0)
		return r;
	o->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
	o->request_range = g;
	if (success)
		t->succ[t->req.n_success++] = o;
	else
		t->fail[t->req.n_failure++] = o;
	t->n_ops++;
	return 0;
}

int wm_etcd_gtxn_read(struct wm_etcd_gtxn *t, const char *key)
{
	return range_add(t, key, true);
}

int wm_etcd_gtxn_get(struct wm_etcd_gtxn *t, const char *key)
{
	return range_add(t, key, false);
}

void wm_etcd_gtxn_free(struct wm_etcd_gtxn *t)
{
	for (size_t i = 0; i < t->n_mem; i++)
		free(t->mem[i]);
	t->n_mem = 0;
}

int wm_etcd_txn_change(struct wm_etcd_gtxn *t, const char *mesh, int64_t guard_rev,
		       const struct wm_etcd_change *ch, const Webmesh__V1__RaftCommand *cmd)
{
	char guard[WM_ETCD_SKEY_MAX], ckey[WM_ETCD_SKEY_MAX], nkey[WM_ETCD_KEY_MAX];
	uint8_t *v = NULL;
	size_t len;
	int r;

	wm_etcd_gtxn_init(t);
	if ((r = wm_etcd_skey(mesh, WM_ETCD_S_GUARD, NULL, NULL, NULL, guard, sizeof(guard))) < 0 ||
	    (r = wm_etcd_skey(mesh, WM_ETCD_S_CMD, NULL, NULL, NULL, ckey, sizeof(ckey))) < 0)
		return r;
	if ((r = wm_etcd_gtxn_cmp(t, guard, guard_rev)) < 0)
		return r;
	const char *ids[2] = {ch->node_a, ch->node_b};
	int64_t revs[2] = {ch->rev_a, ch->rev_b};
	for (size_t i = 0; i < 2; i++) {
		if (!ids[i])
			continue;
		if ((r = wm_etcd_key(mesh, WM_ETCD_KEY_NODE, ids[i], nkey, sizeof(nkey))) < 0 ||
		    (r = wm_etcd_gtxn_cmp(t, nkey, revs[i])) < 0)
			return r;
	}
	if (ch->key[0] && ch->put) {
		if ((r = wm_etcd_srec_encode(ch->record, ch->create_a, ch->create_b, &v, &len)) <
			    0 ||
		    (r = wm_etcd_gtxn_put(t, ch->key, v, len)) < 0) {
			free(v);
			return r;
		}
		free(v);
		v = NULL;
	} else if (ch->key[0] && (r = wm_etcd_gtxn_del(t, ch->key, ch->del_prefix)) < 0) {
		return r;
	}
	if ((r = wm_etcd_gtxn_put(t, guard, (const uint8_t *)"", 0)) < 0)
		return r;
	if ((r = wm_etcd_srec_encode(cmd, 0, 0, &v, &len)) < 0 ||
	    (r = wm_etcd_gtxn_put(t, ckey, v, len)) < 0) {
		free(v);
		return r;
	}
	free(v);
	if ((r = wm_etcd_gtxn_get(t, guard)) < 0)
		return r;
	return 0;
}
