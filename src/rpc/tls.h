/* TLS contexts for the API: self-signed certificates, CA and fingerprint
 * verification, ALPN h2. */
#ifndef WM_RPC_TLS_H
#define WM_RPC_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "core/key.h" /* WM_FINGERPRINT_LEN, wm_fingerprint_parse */

/* Makes sure cert_path/key_path exist: when both are missing, generates an
 * ECDSA P-256 key and a self-signed certificate for common_name (SAN: DNS
 * common_name, plus the given IP addresses as text), valid 10 years; the key
 * file is written with mode 0600. Existing files are left untouched. */
int wm_tls_ensure_self_signed(const char *cert_path, const char *key_path, const char *common_name,
			      const char *const *ips, size_t n_ips, char *err, size_t errlen);

/* "sha256:<hex of SHA-256 over the DER certificate>" of a PEM file. */
int wm_tls_cert_file_fingerprint(const char *cert_path, char out[WM_FINGERPRINT_LEN]);
int wm_tls_cert_fingerprint(X509 *cert, char out[WM_FINGERPRINT_LEN]);

struct wm_tls_server_opts {
	const char *cert_file;
	const char *key_file;
	const char *client_ca_file; /* with require_client_cert: verify clients against it */
	bool require_client_cert;   /* mTLS */
};
/* TLS 1.2+ server context with ALPN "h2". Errors are described in err. */
SSL_CTX *wm_tls_server_ctx_new(const struct wm_tls_server_opts *o, char *err, size_t errlen);

struct wm_tls_client_opts {
	const char *ca_file;	     /* verify the server's chain against it */
	const char *pin_fingerprint; /* or: accept exactly this certificate */
	bool insecure_skip_verify;   /* or: accept anything (announced by the caller) */
	const char *cert_file;	     /* client certificate for mTLS, optional */
	const char *key_file;
	const char *verify_name; /* check the server's name only if set */
};
/* TLS 1.2+ client context with ALPN "h2"; exactly one of ca_file,
 * pin_fingerprint, insecure_skip_verify must be given (else -EINVAL in err). */
SSL_CTX *wm_tls_client_ctx_new(const struct wm_tls_client_opts *o, char *err, size_t errlen);

#endif
