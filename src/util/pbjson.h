/* Any protobuf-c message as JSON, driven by its descriptor: what `wmctl -o json`
 * prints and scripts rely on. Field names are the proto names (snake_case);
 * enums are their value names without the common prefix, lower-cased
 * (RAFT_ROLE_VOTER -> "voter"); 64-bit integers are numbers; maps are objects;
 * every field is printed, defaults included, so the shape never changes. */
#ifndef WM_UTIL_PBJSON_H
#define WM_UTIL_PBJSON_H

#include <protobuf-c/protobuf-c.h>

#include "util/strbuf.h"

void wm_pbjson_write(struct wm_strbuf *b, const ProtobufCMessage *msg, int indent);
/* The short lower-case name of an enum value ("voter"), or NULL if unknown.
 * Writes into buf (at least 64 bytes). */
const char *wm_pbjson_enum_name(const ProtobufCEnumDescriptor *d, int value, char *buf, size_t len);

#endif
