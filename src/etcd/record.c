/* Records and transactions of the etcd store (record.h). */
#include "etcd/record.h"
#include "etcd/record_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "core/dnsname.h"
#include "core/error.h"
#include "core/ids.h"
#include "core/ipam.h"
#include "core/key.h"

int wm_etcd_mesh_from_cmd(const Webmesh__V1__BootstrapMeshCommand *c, struct wm_mesh_info *out,
			  uint32_t *first, uint32_t *last, char *why, size_t whylen)
{
	const char *w = NULL;

	memset(out, 0, sizeof(*out));
	if (!c->network_ipv4 || wm_prefix_parse(c->network_ipv4, &out->ipv4_network) < 0 ||
	    out->ipv4_network.family != AF_INET) {
		snprintf(why, whylen, "invalid IPv4 network \"%.60s\"",
			 c->network_ipv4 ? c->network_ipv4 : "");
		return -EINVAL;
	}
	out->ipv4_network = wm_prefix_network(&out->ipv4_network);
	if (wm_ipam_v4_range(&out->ipv4_network, first, last) < 0) {
		snprintf(why, whylen, "IPv4 network %.60s has no usable address", c->network_ipv4);
		return -EINVAL;
	}
	if (!c->network_ipv6 || wm_prefix_parse(c->network_ipv6, &out->ipv6_network) < 0 ||
	    out->ipv6_network.family != AF_INET6 || out->ipv6_network.len != WM_MESH_IPV6_LEN) {
		snprintf(why, whylen, "invalid IPv6 network \"%.60s\" (want a /48)",
			 c->network_ipv6 ? c->network_ipv6 : "");
		return -EINVAL;
	}
	out->ipv6_network = wm_prefix_network(&out->ipv6_network);
	if (!c->domain || wm_dns_name_check(c->domain, 0, &w) < 0 ||
	    strlen(c->domain) > WM_DOMAIN_MAX) {
		snprintf(why, whylen, "invalid mesh domain \"%.64s\": %s",
			 c->domain ? c->domain : "", w ? w : "too long");
		return -EINVAL;
	}
	snprintf(out->domain, sizeof(out->domain), "%s", c->domain);
	if (!c->topology || !*c->topology || strcmp(c->topology, "full") == 0)
		out->topology = WM_TOPOLOGY_FULL;
	else if (strcmp(c->topology, "manual") == 0)
		out->topology = WM_TOPOLOGY_MANUAL;
	else {
		snprintf(why, whylen, "invalid topology \"%.32s\" (want \"full\" or \"manual\")",
			 c->topology);
		return -EINVAL;
	}
	out->created_at = c->created_at;
	return 0;
}

int wm_etcd_mesh_decode(const uint8_t *v, size_t len, struct wm_mesh_info *out, uint32_t *first,
			uint32_t *last, char *why, size_t whylen)
{
	Webmesh__V1__BootstrapMeshCommand *c =
		webmesh__v1__bootstrap_mesh_command__unpack(NULL, len, v);
	if (!c) {
		snprintf(why, whylen, "the mesh record in etcd is not a mesh");
		return -EINVAL;
	}
	int r = wm_etcd_mesh_from_cmd(c, out, first, last, why, whylen);
	webmesh__v1__bootstrap_mesh_command__free_unpacked(c, NULL);
	return r;
}

int wm_etcd_node_from_cmd(const struct wm_mesh_info *m, uint32_t first, uint32_t last,
			  const Webmesh__V1__JoinNodeCommand *c, struct wm_mesh_node *n, char *why,
			  size_t whylen)
{
	const char *w = NULL;
	uint8_t digest[SHA256_DIGEST_LENGTH];

	memset(n, 0, sizeof(*n));
	if (!c->id || wm_node_id_check(c->id, &w) < 0) {
		snprintf(why, whylen, "invalid node ID: %s", w ? w : "missing");
		return -EINVAL;
	}
	snprintf(n->id, sizeof(n->id), "%s", c->id);
	if (!c->public_key || wm_key_from_base64(c->public_key, n->public_key) < 0 ||
	    wm_key_is_zero(n->public_key)) {
		snprintf(why, whylen,
			 "invalid public key for node %s (want a 44-character base64 WireGuard "
			 "key)",
			 c->id);
		return -EINVAL;
	}
	if (c->n_endpoints > WM_MAX_ENDPOINTS || c->n_routes > WM_MAX_ROUTES) {
		snprintf(why, whylen, "too many endpoints or routes (at most %d and %d)",
			 WM_MAX_ENDPOINTS, WM_MAX_ROUTES);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n_endpoints; i++)
		if (wm_endpoint_parse(c->endpoints[i], &n->endpoints[i]) < 0) {
			snprintf(why, whylen, "invalid endpoint \"%.60s\" (want IP:port)",
				 c->endpoints[i]);
			return -EINVAL;
		}
	n->n_endpoints = c->n_endpoints;
	for (size_t i = 0; i < c->n_routes; i++) {
		struct wm_prefix p;
		if (wm_prefix_parse(c->routes[i], &p) < 0) {
			snprintf(why, whylen, "invalid route \"%.60s\" (want a prefix)",
				 c->routes[i]);
			return -EINVAL;
		}
		p = wm_prefix_network(&p);
		/* As fsm_check.c: a route inside a mesh network would steal
		 * other nodes' addresses. */
		if (wm_prefix_contains(&m->ipv4_network, &p) ||
		    wm_prefix_contains(&m->ipv6_network, &p)) {
			snprintf(why, whylen,
				 "route %.60s lies inside the mesh network; routes name networks "
				 "behind a node",
				 c->routes[i]);
			return -EINVAL;
		}
		n->routes[i] = p;
	}
	n->n_routes = c->n_routes;
	if (c->listen_port > 65535) {
		snprintf(why, whylen, "invalid listen port %u", c->listen_port);
		return -EINVAL;
	}
	n->listen_port = (uint16_t)c->listen_port;
	if (c->raft_role < WM_ROLE_MEMBER || c->raft_role > WM_ROLE_OBSERVER) {
		snprintf(why, whylen, "invalid raft role %d", c->raft_role);
		return -EINVAL;
	}
	n->raft_role = c->raft_role;
	if (c->zone && *c->zone) {
		if (wm_zone_check(c->zone, &w) < 0) {
			snprintf(why, whylen, "invalid zone \"%.64s\": %s", c->zone, w);
			return -EINVAL;
		}
		snprintf(n->zone, sizeof(n->zone), "%s", c->zone);
	}
	if (c->via && *c->via && wm_node_id_check(c->via, &w) < 0) {
		snprintf(why, whylen, "invalid via node ID: %s", w);
		return -EINVAL;
	}
	if (c->exit_node && *c->exit_node) {
		w = NULL;
		if (wm_node_id_check(c->exit_node, &w) < 0 || strcmp(c->exit_node, c->id) == 0) {
			snprintf(why, whylen, "invalid exit node ID for node %s: %s", c->id,
				 w ? w : "it names the node itself");
			return -EINVAL;
		}
		snprintf(n->exit_node, sizeof(n->exit_node), "%s", c->exit_node);
	}
	if (c->ipv4_request && *c->ipv4_request) {
		struct wm_prefix a;
		if (wm_prefix_parse(c->ipv4_request, &a) < 0 || a.family != AF_INET) {
			snprintf(why, whylen, "invalid requested IPv4 address \"%.60s\"",
				 c->ipv4_request);
			return -EINVAL;
		}
		uint32_t v = wm_prefix_ipv4_u32(&a);
		if (v < first || v > last) {
			/* Worded as the Raft store's FSM words it. */
			char net[WM_PREFIX_STRLEN] = "";
			wm_prefix_format(&m->ipv4_network, net, sizeof(net));
			snprintf(why, whylen,
				 "requested IPv4 address is not a host of the mesh network %s",
				 net);
			return -EINVAL;
		}
		n->ipv4 = wm_prefix_from_ipv4_u32(v, 32);
	}
	n->joined_at = c->joined_at;
	SHA256(n->public_key, WM_KEY_LEN, digest);
	n->ipv6 = wm_ipam_v6_node_prefix(&m->ipv6_network, digest);
	return 0;
}

int wm_etcd_node_encode(const struct wm_mesh_node *n, uint8_t **out, size_t *len)
{
	return wm_etcd_node_encode_flags(n, NULL, out, len);
}

void wm_etcd_join_flags_decode(const uint8_t *v, size_t len, struct wm_etcd_join_flags *out)
{
	Webmesh__V1__JoinNodeCommand *c = webmesh__v1__join_node_command__unpack(NULL, len, v);
	const char *why;
	memset(out, 0, sizeof(*out));
	if (!c)
		return;
	out->full_mesh = c->full_mesh;
	if (c->via && wm_node_id_check(c->via, &why) == 0)
		snprintf(out->via, sizeof(out->via), "%s", c->via);
	webmesh__v1__join_node_command__free_unpacked(c, NULL);
}

int wm_etcd_node_encode_flags(const struct wm_mesh_node *n, const struct wm_etcd_join_flags *fl,
			      uint8_t **out, size_t *len)
{
	Webmesh__V1__JoinNodeCommand c = WEBMESH__V1__JOIN_NODE_COMMAND__INIT;
	char key[WM_KEY_B64_LEN + 1], v4[WM_PREFIX_STRLEN];
	char ep[WM_MAX_ENDPOINTS][WM_ENDPOINT_STRLEN], rt[WM_MAX_ROUTES][WM_PREFIX_STRLEN];
	char *epp[WM_MAX_ENDPOINTS], *rtp[WM_MAX_ROUTES];

	c.id = (char *)n->id;
	wm_key_to_base64(n->public_key, key);
	c.public_key = key;
	for (size_t i = 0; i < n->n_endpoints; i++) {
		if (wm_endpoint_format(&n->endpoints[i], ep[i], sizeof(ep[i])) < 0)
			return -EINVAL;
		epp[i] = ep[i];
	}
	c.endpoints = epp;
	c.n_endpoints = n->n_endpoints;
	for (size_t i = 0; i < n->n_routes; i++) {
		if (wm_prefix_format(&n->routes[i], rt[i], sizeof(rt[i])) < 0)
			return -EINVAL;
		rtp[i] = rt[i];
	}
	c.routes = rtp;
	c.n_routes = n->n_routes;
	c.listen_port = n->listen_port;
	c.raft_role = n->raft_role;
	c.zone = (char *)n->zone;
	c.exit_node = (char *)n->exit_node;
	c.joined_at = n->joined_at;
	if (fl) {
		c.full_mesh = fl->full_mesh;
		c.via = (char *)fl->via;
	}
	if (n->ipv4.family == AF_INET) {
		if (wm_prefix_format_addr(&n->ipv4, v4, sizeof(v4)) < 0)
			return -EINVAL;
		c.ipv4_request = v4;
	}
	*len = webmesh__v1__join_node_command__get_packed_size(&c);
	*out = malloc(*len ? *len : 1);
	if (!*out)
		return -ENOMEM;
	webmesh__v1__join_node_command__pack(&c, *out);
	return 0;
}

int wm_etcd_node_decode(const struct wm_mesh_info *m, const uint8_t *v, size_t len,
			struct wm_mesh_node *out)
{
	char why[256];
	uint32_t first, last;
	Webmesh__V1__JoinNodeCommand *c = webmesh__v1__join_node_command__unpack(NULL, len, v);

	if (!c)
		return -EINVAL;
	int r = wm_ipam_v4_range(&m->ipv4_network, &first, &last);
	if (r == 0)
		r = wm_etcd_node_from_cmd(m, first, last, c, out, why, sizeof(why));
	/* A stored node always has its lease. */
	if (r == 0 && out->ipv4.family != AF_INET)
		r = -EINVAL;
	webmesh__v1__join_node_command__free_unpacked(c, NULL);
	return r;
}

int wm_etcd_lease_pick(uint32_t first, uint32_t last, const uint32_t *leased, size_t n,
		       uint32_t want, uint32_t *out)
{
	if (want >= first && want <= last) {
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (leased[mid] < want)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == n || leased[lo] != want) {
			*out = want;
			return 0;
		}
	}
	uint64_t cand = first;
	for (size_t i = 0; i < n && cand <= last; i++) {
		if (leased[i] < cand)
			continue;
		if (leased[i] != cand)
			break;
		cand++;
	}
	if (cand > last)
		return -WM_EEXHAUSTED;
	*out = (uint32_t)cand;
	return 0;
}

/* ------------------------------------------------------------ txns */

static void txn_init(struct wm_etcd_txn *t)
{
	memset(t, 0, sizeof(*t));
	etcdserverpb__txn_request__init(&t->req);
	t->req.compare = t->cmpp;
	t->req.success = t->succ;
	t->req.failure = t->fail;
}

static int set_key(struct wm_etcd_txn *t, size_t i, const char *mesh, enum wm_etcd_kind kind,
		   const char *name)
{
	return wm_etcd_key(mesh, kind, name, t->key[i], sizeof(t->key[i]));
}

static ProtobufCBinaryData key_of(struct wm_etcd_txn *t, size_t i)
{
	return (ProtobufCBinaryData){strlen(t->key[i]), (uint8_t *)t->key[i]};
}

/* Compare key i's create_revision (absent: 0) or mod_revision with rev. */
static void cmp_add_r(struct wm_etcd_txn *t, size_t i, bool mod, int64_t rev,
		      Etcdserverpb__Compare__CompareResult result)
{
	Etcdserverpb__Compare *c = &t->cmp[t->req.n_compare];
	etcdserverpb__compare__init(c);
	c->result = result;
	c->key = key_of(t, i);
	if (mod) {
		c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
		c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
		c->mod_revision = rev;
	} else {
		c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
		c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
		c->create_revision = rev;
	}
	t->cmpp[t->req.n_compare++] = c;
}

static void cmp_add(struct wm_etcd_txn *t, size_t i, bool mod, int64_t rev)
{
	cmp_add_r(t, i, mod, rev, ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL);
}

static Etcdserverpb__RequestOp *op_new(struct wm_etcd_txn *t)
{
	Etcdserverpb__RequestOp *o = &t->op[t->req.n_success + t->req.n_failure];
	etcdserverpb__request_op__init(o);
	return o;
}

/* Success: put key i = value (taken over). */
static void put_add(struct wm_etcd_txn *t, size_t i, uint8_t *value, size_t len)
{
	Etcdserverpb__RequestOp *o = op_new(t);
	Etcdserverpb__PutRequest *p = &t->put[i];
	etcdserverpb__put_request__init(p);
	p->key = key_of(t, i);
	p->value = (ProtobufCBinaryData){len, value};
	t->value[i] = value;
	o->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
	o->request_put = p;
	t->succ[t->req.n_success++] = o;
}

static void del_add(struct wm_etcd_txn *t, size_t i)
{
	Etcdserverpb__RequestOp *o = op_new(t);
	Etcdserverpb__DeleteRangeRequest *d = &t->del[i];
	etcdserverpb__delete_range_request__init(d);
	d->key = key_of(t, i);
	o->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
	o->request_delete_range = d;
	t->succ[t->req.n_success++] = o;
}

/* Failure: read key i. */
static void get_add(struct wm_etcd_txn *t, size_t i)
{
	Etcdserverpb__RequestOp *o = op_new(t);
	Etcdserverpb__RangeRequest *r = &t->rng[i];
	etcdserverpb__range_request__init(r);
	r->key = key_of(t, i);
	o->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
	o->request_range = r;
	t->fail[t->req.n_failure++] = o;
}

static uint8_t *dup_text(const char *s, size_t *len)
{
	*len = strlen(s);
	uint8_t *v = malloc(*len ? *len : 1);
	if (v)
		memcpy(v, s, *len);
	return v;
}

int wm_etcd_txn_bootstrap(struct wm_etcd_txn *t, const char *mesh,
			  const Webmesh__V1__BootstrapMeshCommand *c)
{
	size_t len = webmesh__v1__bootstrap_mesh_command__get_packed_size(c);
	uint8_t *v;
	int r;

	txn_init(t);
	if ((r = set_key(t, 0, mesh, WM_ETCD_KEY_MESH, NULL)) < 0)
		return r;
	if (!(v = malloc(len ? len : 1)))
		return -ENOMEM;
	webmesh__v1__bootstrap_mesh_command__pack(c, v);
	cmp_add(t, 0, false, 0);
	put_add(t, 0, v, len);
	get_add(t, 0);
	return 0;
}

bool wm_etcd_bootstrap_ours(const struct wm_etcd_txn *t, const Etcdserverpb__TxnResponse *r,
			    int64_t since_rev, int64_t *mod_revision)
{
	if (r->succeeded || t->req.n_success != 1 || r->n_responses != 1 ||
	    r->responses[0]->response_case != ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE ||
	    !r->responses[0]->response_range || r->responses[0]->response_range->n_kvs != 1)
		return false;
	const Mvccpb__KeyValue *kv = r->responses[0]->response_range->kvs[0];
	const ProtobufCBinaryData *ours = &t->put[0].value;
	if (kv->mod_revision <= since_rev || kv->value.len != ours->len ||
	    (ours->len && memcmp(kv->value.data, ours->data, ours->len) != 0))
		return false;
	*mod_revision = kv->mod_revision;
	return true;
}

/* The names of a node's two lease keys. */
static int lease_names(const struct wm_mesh_node *n, char v4[9], char v6[WM_PREFIX_STRLEN])
{
	if (n->ipv4.family != AF_INET || n->ipv6.family != AF_INET6)
		return -EINVAL;
	wm_etcd_v4_name(wm_prefix_ipv4_u32(&n->ipv4), v4);
	return wm_prefix_format(&n->ipv6, v6, WM_PREFIX_STRLEN) < 0 ? -EINVAL : 0;
}

int wm_etcd_txn_join(struct wm_etcd_txn *t, const char *mesh, const struct wm_mesh_node *n)
{
	return wm_etcd_txn_join_flags(t, mesh, n, NULL);
}

int wm_etcd_txn_join_flags(struct wm_etcd_txn *t, const char *mesh, const struct wm_mesh_node *n,
			   const struct wm_etcd_join_flags *fl)
{
	char v4[9], v6[WM_PREFIX_STRLEN];
	uint8_t *node, *id4, *id6;
	size_t len, l4, l6;
	int r;

	txn_init(t);
	if ((r = lease_names(n, v4, v6)) < 0 ||
	    (r = set_key(t, 0, mesh, WM_ETCD_KEY_NODE, n->id)) < 0 ||
	    (r = set_key(t, 1, mesh, WM_ETCD_KEY_LEASE_V4, v4)) < 0 ||
	    (r = set_key(t, 2, mesh, WM_ETCD_KEY_LEASE_V6, v6)) < 0 ||
	    (r = set_key(t, 3, mesh, WM_ETCD_KEY_DENIED, n->id)) < 0)
		return r;
	if ((r = wm_etcd_node_encode_flags(n, fl, &node, &len)) < 0)
		return r;
	id4 = dup_text(n->id, &l4);
	id6 = dup_text(n->id, &l6);
	if (!id4 || !id6) {
		free(node);
		free(id4);
		free(id6);
		return -ENOMEM;
	}
	for (size_t i = 0; i < 4; i++)
		cmp_add(t, i, false, 0);
	put_add(t, 0, node, len);
	put_add(t, 1, id4, l4);
	put_add(t, 2, id6, l6);
	for (size_t i = 0; i < 4; i++)
		get_add(t, i);
	return 0;
}

int wm_etcd_txn_rejoin(struct wm_etcd_txn *t, const char *mesh, const struct wm_mesh_node *n,
		       int64_t mod_revision)
{
	return wm_etcd_txn_rejoin_flags(t, mesh, n, mod_revision, NULL);
}

int wm_etcd_txn_rejoin_flags(struct wm_etcd_txn *t, const char *mesh, const struct wm_mesh_node *n,
			     int64_t mod_revision, const struct wm_etcd_join_flags *fl)
{
	uint8_t *node;
	size_t len;
	int r;

	txn_init(t);
	if (mod_revision <= 0)
		return -EINVAL;
	if ((r = set_key(t, 0, mesh, WM_ETCD_KEY_NODE, n->id)) < 0 ||
	    (r = set_key(t, 1, mesh, WM_ETCD_KEY_DENIED, n->id)) < 0)
		return r;
	if ((r = wm_etcd_node_encode_flags(n, fl, &node, &len)) < 0)
		return r;
	cmp_add(t, 0, true, mod_revision);
	cmp_add(t, 1, false, 0);
	put_add(t, 0, node, len);
	get_add(t, 0);
	get_add(t, 1);
	return 0;
}

int wm_etcd_txn_remove(struct wm_etcd_txn *t, const char *mesh, const struct wm_mesh_node *n,
		       int64_t mod_revision)
{
	char v4[9], v6[WM_PREFIX_STRLEN];
	int r;

	txn_init(t);
	if (mod_revision <= 0)
		return -EINVAL;
	if ((r = lease_names(n, v4, v6)) < 0 ||
	    (r = set_key(t, 0, mesh, WM_ETCD_KEY_NODE, n->id)) < 0 ||
	    (r = set_key(t, 1, mesh, WM_ETCD_KEY_LEASE_V4, v4)) < 0 ||
	    (r = set_key(t, 2, mesh, WM_ETCD_KEY_LEASE_V6, v6)) < 0)
		return r;
	cmp_add(t, 0, true, mod_revision);
	for (size_t i = 0; i < 3; i++)
		del_add(t, i);
	get_add(t, 0);
	return 0;
}

int wm_etcd_txn_deny(struct wm_etcd_txn *t, const char *mesh, const Webmesh__V1__DenyNodeCommand *c)
{
	size_t len = webmesh__v1__deny_node_command__get_packed_size(c);
	uint8_t *v;
	int r;

	txn_init(t);
	if (!c->node_id || (r = set_key(t, 0, mesh, WM_ETCD_KEY_DENIED, c->node_id)) < 0)
		return -EINVAL;
	if (!(v = malloc(len ? len : 1)))
		return -ENOMEM;
	webmesh__v1__deny_node_command__pack(c, v);
	put_add(t, 0, v, len);
	return 0;
}

int wm_etcd_txn_allow(struct wm_etcd_txn *t, const char *mesh, const char *node_id)
{
	int r;

	txn_init(t);
	if (!node_id || (r = set_key(t, 0, mesh, WM_ETCD_KEY_DENIED, node_id)) < 0)
		return -EINVAL;
	cmp_add_r(t, 0, false, 0, ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER);
	del_add(t, 0);
	get_add(t, 0);
	return 0;
}

int wm_etcd_txn_guard(struct wm_etcd_txn *t, const char *mesh, int64_t guard_rev)
{
	const size_t g = WM_ETCD_TXN_OPS - 1; /* the builders above use fewer */
	uint8_t *v;
	int r = wm_etcd_skey(mesh, WM_ETCD_S_GUARD, NULL, NULL, NULL, t->key[g], sizeof(t->key[g]));
	if (r < 0)
		return r;
	if (!(v = malloc(1)))
		return -ENOMEM;
	cmp_add(t, g, true, guard_rev);
	put_add(t, g, v, 0);
	get_add(t, g);
	return 0;
}

void wm_etcd_txn_free(struct wm_etcd_txn *t)
{
	for (size_t i = 0; i < WM_ETCD_TXN_OPS; i++) {
		free(t->value[i]);
		t->value[i] = NULL;
	}
}

ProtobufCMessage *wm_etcd_msg_copy(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return NULL;
	protobuf_c_message_pack(m, buf);
	ProtobufCMessage *c = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
	free(buf);
	return c;
}
