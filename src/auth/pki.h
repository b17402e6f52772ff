/* A small mesh CA: `wmctl pki init` and `wmctl pki issue`, and the expiry
 * warning a node shows for its own certificate. ECDSA P-256 throughout. */
#ifndef WM_AUTH_PKI_H
#define WM_AUTH_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WM_PKI_CA_DAYS 365
#define WM_PKI_LEAF_DAYS 90
#define WM_PKI_WARN_DAYS 14

/* DIR/ca.crt and DIR/ca.key (0600), valid days from now (an hour back for
 * clock skew). -EEXIST if either exists; DIR is created (0700) if missing. */
int wm_pki_init(const char *dir, unsigned days, char *err, size_t errlen);

struct wm_pki_issue_opts {
	unsigned days;		   /* 0 = WM_PKI_LEAF_DAYS */
	int64_t not_before_offset; /* seconds from now; 0 = -3600 (tests: far past) */
	int64_t not_after_offset;  /* seconds from now, overrides days when non-zero */
	const char *key_usage;	   /* X.509v3 text, NULL = "critical,digitalSignature" */
	const char *ext_key_usage; /* NULL = "clientAuth", or "serverAuth,clientAuth" with server */
	bool server;		   /* a server certificate: EKU serverAuth (and clientAuth) */
	const char *const *sans;   /* more subject names: IP literals or DNS names */
	size_t n_sans;
};
/* DIR/ID.crt and DIR/ID.key (0600) signed by DIR/ca.*: CN=ID, SAN DNS:ID
 * (when ID is a host name) or email:ID (when it has an '@'), plus opts->sans.
 * A certificate is for clients only (EKU clientAuth) unless opts->server: a
 * member's certificate must never pass as a server's to a joiner that trusts
 * the CA. Servers also call other servers with it, hence serverAuth AND
 * clientAuth. -EEXIST if the files exist, -EINVAL for an ID or SAN that is no
 * valid name. opts may be NULL. */
int wm_pki_issue(const char *dir, const char *id, const struct wm_pki_issue_opts *opts, char *err,
		 size_t errlen);

/* The notAfter of a PEM certificate file as unix seconds. */
int wm_pki_cert_not_after(const char *cert_path, int64_t *out);
/* When cert_path expires within warn_days of now (or has expired), writes the
 * warning into out and returns 1; 0 when it is fine; negative on error. */
int wm_pki_expiry_warning(const char *cert_path, int64_t now, unsigned warn_days, char *out,
			  size_t outlen);

#endif
