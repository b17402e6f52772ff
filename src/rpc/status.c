/* gRPC status names and the HTTP-to-gRPC status mapping. */
#include "rpc/frame.h"
#include "rpc/rpc.h"

const char *wm_grpc_status_name(int status)
{
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
	if (status < 0 || status >= (int)(sizeof(names) / sizeof(names[0])))
		return "INVALID_STATUS";
	return names[status];
}

/* As in gRPC's doc/http-grpc-status-mapping.md. */
int wm_grpc_status_from_http(int http_status)
{
	switch (http_status) {
	case 400:
		return WM_GRPC_INTERNAL;
	case 401:
		return WM_GRPC_UNAUTHENTICATED;
	case 403:
		return WM_GRPC_PERMISSION_DENIED;
	case 404:
		return WM_GRPC_UNIMPLEMENTED;
	case 429:
	case 502:
	case 503:
	case 504:
		return WM_GRPC_UNAVAILABLE;
	default:
		return WM_GRPC_UNKNOWN;
	}
}
