/* Any protobuf-c message as JSON, driven by its descriptor. */
#include "util/pbjson.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void newline(struct wm_strbuf *b, int indent)
{
	if (indent < 0)
		return;
	wm_strbuf_puts(b, "\n");
	for (int i = 0; i < indent; i++)
		wm_strbuf_puts(b, "  ");
}

/* Length of the prefix all value names share, cut after its last '_', so that
 * RAFT_ROLE_VOTER / RAFT_ROLE_MEMBER give "VOTER" / "MEMBER". */
static size_t enum_prefix_len(const ProtobufCEnumDescriptor *d)
{
	if (d->n_values < 2)
		return 0;
	const char *first = d->values[0].name;
	size_t common = strlen(first);
	for (unsigned i = 1; i < d->n_values; i++) {
		size_t j = 0;
		while (j < common && first[j] == d->values[i].name[j])
			j++;
		common = j;
	}
	while (common > 0 && first[common - 1] != '_')
		common--;
	return common;
}

const char *wm_pbjson_enum_name(const ProtobufCEnumDescriptor *d, int value, char *buf, size_t len)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
	if (!v || len == 0)
		return NULL;
	const char *name = v->name + enum_prefix_len(d);
	size_t i = 0;
	for (; name[i] && i + 1 < len; i++)
		buf[i] = (char)tolower((unsigned char)name[i]);
	buf[i] = '\0';
	return buf;
}

static void write_scalar(struct wm_strbuf *b, const ProtobufCFieldDescriptor *f, const void *p,
			 int indent)
{
	char name[64];
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		wm_strbuf_printf(b, "%" PRId32, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		wm_strbuf_printf(b, "%" PRIu32, *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		wm_strbuf_printf(b, "%" PRId64, *(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		wm_strbuf_printf(b, "%" PRIu64, *(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		wm_strbuf_printf(b, "%g", (double)*(const float *)p);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		wm_strbuf_printf(b, "%g", *(const double *)p);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		wm_strbuf_puts(b, *(const protobuf_c_boolean *)p ? "true" : "false");
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)p;
		const char *s = wm_pbjson_enum_name(f->descriptor, v, name, sizeof(name));
		if (s)
			wm_strbuf_json_string(b, s);
		else
			wm_strbuf_printf(b, "%d", v);
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		wm_strbuf_json_string(b, s ? s : "");
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		/* Hex rather than base64: nothing in our API carries raw bytes a
		 * person reads, and hex needs no table. */
		const ProtobufCBinaryData *d = p;
		wm_strbuf_puts(b, "\"");
		for (size_t i = 0; i < d->len; i++)
			wm_strbuf_printf(b, "%02x", d->data[i]);
		wm_strbuf_puts(b, "\"");
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
		if (m)
			wm_pbjson_write(b, m, indent);
		else
			wm_strbuf_puts(b, "null");
		break;
	}
	}
}

static size_t field_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	default:
		return 4;
	}
}

/* protobuf-c represents map<K,V> as a repeated message named "...Entry" with
 * fields key and value. */
static bool is_map(const ProtobufCFieldDescriptor *f)
{
	if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return false;
	const ProtobufCMessageDescriptor *d = f->descriptor;
	size_t n = strlen(d->name);
	return n > 5 && strcmp(d->name + n - 5, "Entry") == 0 && d->n_fields == 2 &&
	       strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

static void write_map(struct wm_strbuf *b, const ProtobufCFieldDescriptor *f, void *const *entries,
		      size_t n, int indent)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	wm_strbuf_puts(b, "{");
	for (size_t i = 0; i < n; i++) {
		const char *base = entries[i];
		if (i)
			wm_strbuf_puts(b, ",");
		newline(b, indent >= 0 ? indent + 1 : -1);
		const char *key = *(char *const *)(base + d->fields[0].offset);
		wm_strbuf_json_string(b, key ? key : "");
		wm_strbuf_puts(b, indent >= 0 ? ": " : ":");
		write_scalar(b, &d->fields[1], base + d->fields[1].offset,
			     indent >= 0 ? indent + 1 : -1);
	}
	if (n)
		newline(b, indent);
	wm_strbuf_puts(b, "}");
}

void wm_pbjson_write(struct wm_strbuf *b, const ProtobufCMessage *msg, int indent)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	const char *base = (const char *)msg;
	int inner = indent >= 0 ? indent + 1 : -1;
	bool first = true;
	wm_strbuf_puts(b, "{");
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			/* Only the member the case field selects is present. */
			uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
			if (which != f->id)
				continue;
		}
		if (!first)
			wm_strbuf_puts(b, ",");
		first = false;
		newline(b, inner);
		wm_strbuf_json_string(b, f->name);
		wm_strbuf_puts(b, indent >= 0 ? ": " : ":");
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(char *const *)(base + f->offset);
			if (is_map(f)) {
				write_map(b, f, (void *const *)arr, n, inner);
				continue;
			}
			wm_strbuf_puts(b, "[");
			size_t sz = field_size(f);
			for (size_t j = 0; j < n; j++) {
				if (j)
					wm_strbuf_puts(b, ",");
				newline(b, inner >= 0 ? inner + 1 : -1);
				write_scalar(b, f, arr + j * sz, inner >= 0 ? inner + 1 : -1);
			}
			if (n)
				newline(b, inner);
			wm_strbuf_puts(b, "]");
		} else {
			write_scalar(b, f, base + f->offset, inner);
		}
	}
	if (!first)
		newline(b, indent);
	wm_strbuf_puts(b, "}");
}
