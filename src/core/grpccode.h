/* The canonical names of gRPC status codes (pure). */
#ifndef WM_CORE_GRPCCODE_H
#define WM_CORE_GRPCCODE_H

/* The name gRPC gives code 0..16 ("OK" .. "UNAUTHENTICATED"), or NULL for a
 * number outside the table, so each caller picks its own fallback. */
const char *wm_grpc_code_name(int code);

#endif
