/* libFuzzer harness: the etcd store's replica (src/etcd/store_state.c) fed
 * what etcd would send it: the input is a RangeResponse (the store's load of
 * /webmesh/<mesh>/) whose key-values anyone with write access to etcd could
 * have put there: the mesh, nodes, denied nodes, and the edge, route, DNS and
 * RBAC records with their decoder (record_state.c). Each key-value is then
 * given again as a watch event, put and deleted.
 *
 * Not part of the default build: `make fuzz` builds it with every harness.
 *
 * Checks beyond "no crash": a record the decoder accepts encodes again to
 * one that decodes to the same bytes; the replica's dump is always there.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/record_state.h"
#include "etcd/rpc.pb-c.h"
#include "etcd/store_state.h"
#include "store/fsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_record(const Mvccpb__KeyValue *kv)
{
	static const char prefix[] = "/webmesh/fz/";
	enum wm_etcd_skind kind;
	Webmesh__V1__RaftCommand *c, *c2;
	int64_t a, b, a2, b2;
	uint8_t *v;
	size_t len;
	size_t pl = sizeof(prefix) - 1;

	if (kv->key.len < pl || memcmp(kv->key.data, prefix, pl) != 0 ||
	    wm_etcd_skey_kind(kv->key.data + pl, kv->key.len - pl, &kind) < 0)
		return;
	if (wm_etcd_srec_decode(kind, kv->value.data, kv->value.len, &c, &a, &b) < 0)
		return;
	if (wm_etcd_srec_encode(c, a, b, &v, &len) < 0)
		abort();
	if (wm_etcd_srec_decode(kind, v, len, &c2, &a2, &b2) < 0 || a2 != a || b2 != b ||
	    c2->command_case != c->command_case)
		abort();
	free(v);
	webmesh__v1__raft_command__free_unpacked(c, NULL);
	webmesh__v1__raft_command__free_unpacked(c2, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uv_loop_t *loop = uv_default_loop();
	struct wm_etcd_state *st;
	char *dump = NULL;

	Etcdserverpb__RangeResponse *r = etcdserverpb__range_response__unpack(NULL, size, data);
	if (!r)
		return 0;
	/* A bounded state: each record is a command on an SQLite replica. */
	if (r->n_kvs > 256 || wm_etcd_state_new(loop, NULL, "fz", &st) < 0) {
		etcdserverpb__range_response__free_unpacked(r, NULL);
		return 0;
	}
	for (size_t i = 0; i < r->n_kvs; i++)
		check_record(r->kvs[i]);
	if (wm_etcd_state_load(st, r->kvs, r->n_kvs, 100) == 0) {
		for (size_t i = 0; i < r->n_kvs; i++) {
			Webmesh__V1__RaftCommand *feed;
			for (int del = 0; del < 2; del++) {
				wm_etcd_state_event(st, r->kvs[i], del, 101 + (int64_t)i, &feed);
				if (feed)
					webmesh__v1__raft_command__free_unpacked(feed, NULL);
			}
		}
		if (wm_fsm_dump(wm_etcd_state_fsm(st), &dump) < 0 || !dump)
			abort();
		free(dump);
	}
	wm_etcd_state_free(st);
	uv_run(loop, UV_RUN_NOWAIT); /* the timer's close */
	etcdserverpb__range_response__free_unpacked(r, NULL);
	return 0;
}
