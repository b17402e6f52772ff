/* One table of gRPC code names, shared by the RPC layer's log messages and
 * the metrics' code labels so the two can never spell a code differently. */
#include "core/grpccode.h"

#include <stddef.h>

static const char *const names[] = {
	"OK",
	"CANCELLED",
	"UNKNOWN",
	"INVALID_ARGUMENT",
	"DEADLINE_EXCEEDED",
	"NOT_FOUND",
	"ALREADY_EXISTS",
	"PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION",
	"ABORTED",
	"OUT_OF_RANGE",
	"UNIMPLEMENTED",
	"INTERNAL",
	"UNAVAILABLE",
	"DATA_LOSS",
	"UNAUTHENTICATED",
};

const char *wm_grpc_code_name(int code)
{
	if (code < 0 || code >= (int)(sizeof(names) / sizeof(names[0])))
		return NULL;
	return names[code];
}
