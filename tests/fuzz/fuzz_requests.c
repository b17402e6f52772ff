/* libFuzzer harness for the decoding of every API request: the first byte
 * picks a method of any webmesh.v1 service, the rest is its request message.
 * Each decoded request is re-encoded and decoded again, its text
 * fields go through the validators the handlers use, and it is rendered as
 * JSON as wmctl would. Built by `make fuzz` (tests/fuzz/CMakeLists.txt); by
 * hand: cmake -S . -B build-fuzz -DWM_FUZZ=ON -DCMAKE_C_COMPILER=clang &&
 * cmake --build build-fuzz --target fuzz_requests. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/hostport.h"
#include "core/ids.h"
#include "core/key.h"
#include "core/net.h"
#include "util/pbjson.h"
#include "webmesh/v1/admin.pb-c.h"
#include "webmesh/v1/mesh.pb-c.h"
#include "webmesh/v1/node.pb-c.h"
#include "webmesh/v1/signaling.pb-c.h"

static const ProtobufCServiceDescriptor *const services[] = {
	&webmesh__v1__membership__descriptor, &webmesh__v1__mesh__descriptor,
	&webmesh__v1__node__descriptor,	      &webmesh__v1__admin__descriptor,
	&webmesh__v1__signaling__descriptor,
};

static const ProtobufCMessageDescriptor *pick(uint8_t b)
{
	size_t total = 0;
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++)
		total += services[i]->n_methods;
	size_t k = b % total;
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		if (k < services[i]->n_methods)
			return services[i]->methods[k].input;
		k -= services[i]->n_methods;
	}
	return NULL;
}

/* Every validator a handler may run on a text field; none may misbehave on
 * any input. */
static void validate(const char *s)
{
	struct wm_prefix p;
	struct wm_endpoint e;
	wm_key key;
	char host[256];
	uint16_t port;
	(void)wm_node_id_check(s, NULL);
	(void)wm_key_from_base64(s, key);
	(void)wm_prefix_parse(s, &p);
	(void)wm_endpoint_parse(s, &e);
	(void)wm_hostport_split(s, host, sizeof(host), &port);
}

static void walk(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			void *const *arr = *(void *const *const *)(base + f->offset);
			for (size_t j = 0; j < n; j++) {
				if (f->type == PROTOBUF_C_TYPE_STRING)
					validate(arr[j]);
				else if (f->type == PROTOBUF_C_TYPE_MESSAGE)
					walk(arr[j]);
			}
		} else if (f->type == PROTOBUF_C_TYPE_STRING) {
			const char *s = *(char *const *)(base + f->offset);
			if (s)
				validate(s);
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			const ProtobufCMessage *sub =
				*(ProtobufCMessage *const *)(base + f->offset);
			if (sub)
				walk(sub);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const ProtobufCMessageDescriptor *desc = pick(data[0]);
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, size - 1, data + 1);
	if (!m)
		return 0;
	walk(m);
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len + 1);
	if (buf) {
		protobuf_c_message_pack(m, buf);
		/* Re-encoding is exercised under ASan but not compared: protobuf-c
		 * keeps unknown fields as they came, including ones it would not
		 * accept again (tag 0 from an overlong varint), and no handler
		 * reads unknown fields. */
		ProtobufCMessage *again = protobuf_c_message_unpack(desc, NULL, len, buf);
		if (again)
			protobuf_c_message_free_unpacked(again, NULL);
		free(buf);
	}
	struct wm_strbuf b;
	wm_strbuf_init(&b);
	wm_pbjson_write(&b, m, -1);
	wm_strbuf_free(&b);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}
