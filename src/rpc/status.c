/* gRPC status names and the HTTP-to-gRPC status mapping. */
#include "core/grpccode.h"
#include "rpc/frame.h"
#include "rpc/rpc.h"

const char *wm_grpc_status_name(int status)
{
	const char *name = wm_grpc_code_name(status);
	return name ? name : "INVALID_STATUS";
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
