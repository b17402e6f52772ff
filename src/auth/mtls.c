/* mTLS authenticator: a client certificate signed by the mesh CA names the caller. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "auth/auth.h"

struct mtls {
	X509_STORE *store;
	int san_type; /* GEN_DNS, GEN_EMAIL, GEN_URI, or -1 for the CN */
};

/* Copies an ASN1 string that must be a valid name (core/rbac.h rules). */
static int take_name(const ASN1_STRING *s, struct wm_identity *out, char *why, size_t whylen)
{
	int n = ASN1_STRING_length(s);
	const unsigned char *d = ASN1_STRING_get0_data(s);

	if (n <= 0 || n > WM_AUTH_ID_MAX || memchr(d, 0, (size_t)n)) {
		snprintf(why, whylen, "the certificate's identity is empty or too long");
		return -EACCES;
	}
	memcpy(out->id, d, (size_t)n);
	out->id[n] = '\0';
	if (wm_rbac_name_check(out->id, NULL) < 0) {
		snprintf(why, whylen,
			 "the certificate's identity is not a valid ID (A-Z a-z 0-9 . _ @ + -)");
		out->id[0] = '\0';
		return -EACCES;
	}
	return 0;
}

static int identity_of(const struct mtls *m, X509 *x, struct wm_identity *out, char *why,
		       size_t whylen)
{
	if (m->san_type < 0) {
		X509_NAME *name = X509_get_subject_name(x);
		int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
		if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0) {
			snprintf(why, whylen, "the certificate needs exactly one Subject CN");
			return -EACCES;
		}
		return take_name(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)), out, why,
				 whylen);
	}
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int r = -EACCES;
	snprintf(why, whylen, "the certificate has no subjectAltName of the configured type");
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		int type;
		ASN1_STRING *s = GENERAL_NAME_get0_value(g, &type);
		if (type == m->san_type) {
			r = take_name(s, out, why, whylen);
			break;
		}
	}
	GENERAL_NAMES_free(gens);
	return r;
}

static const char *verify_reason(int code)
{
	switch (code) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "the client certificate has expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "the client certificate is not valid yet";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return "the client certificate is not signed by the mesh CA";
	case X509_V_ERR_INVALID_PURPOSE:
		return "the client certificate is not for TLS client authentication (key usage)";
	default:
		return NULL;
	}
}

static int mtls_authenticate(void *self, const struct wm_auth_request *req, struct wm_identity *out,
			     char *why, size_t whylen)
{
	struct mtls *m = self;
	X509_STORE_CTX *ctx;
	int ok, code;

	if (!req->peer_cert)
		return -ENOENT;
	ctx = X509_STORE_CTX_new();
	if (!ctx || !X509_STORE_CTX_init(ctx, m->store, req->peer_cert, NULL)) {
		X509_STORE_CTX_free(ctx);
		ERR_clear_error();
		snprintf(why, whylen, "out of memory");
		return -EIO;
	}
	/* The purpose checks keyUsage (digitalSignature) and extendedKeyUsage
	 * (clientAuth) where the certificate has them; the time is the request's. */
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	X509_STORE_CTX_set_time(ctx, 0, (time_t)req->now);
	ok = X509_verify_cert(ctx);
	code = X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	if (ok != 1) {
		const char *r = verify_reason(code);
		if (r)
			snprintf(why, whylen, "%s", r);
		else
			snprintf(why, whylen, "the client certificate does not verify: %s",
				 X509_verify_cert_error_string(code));
		return -EACCES;
	}
	/* A CA certificate is no client, whatever its extensions say. */
	if (X509_check_ca(req->peer_cert) != 0) {
		snprintf(why, whylen, "a CA certificate cannot be a client certificate");
		return -EACCES;
	}
	int r = identity_of(m, req->peer_cert, out, why, whylen);
	if (r == 0) {
		out->kind = WM_ID_USER;
		snprintf(out->method, sizeof(out->method), "mtls");
	}
	return r;
}

static void mtls_free(void *self)
{
	struct mtls *m = self;
	if (!m)
		return;
	X509_STORE_free(m->store);
	free(m);
}

static const struct wm_authenticator_ops mtls_ops = {
	.name = "mtls",
	.authenticate = mtls_authenticate,
	.free = mtls_free,
};

int wm_auth_mtls_new(const char *ca_file, const char *san, struct wm_authenticator *out, char *err,
		     size_t errlen)
{
	struct mtls *m;

	if (!ca_file) {
		snprintf(err, errlen, "mTLS needs a CA file");
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->san_type = -1;
	if (san && strcmp(san, "dns") == 0)
		m->san_type = GEN_DNS;
	else if (san && strcmp(san, "email") == 0)
		m->san_type = GEN_EMAIL;
	else if (san && strcmp(san, "uri") == 0)
		m->san_type = GEN_URI;
	else if (san) {
		snprintf(err, errlen, "unknown SAN type \"%s\" (dns, email or uri)", san);
		free(m);
		return -EINVAL;
	}
	m->store = X509_STORE_new();
	if (!m->store || X509_STORE_load_file(m->store, ca_file) != 1) {
		snprintf(err, errlen, "cannot load the CA certificates of %s", ca_file);
		ERR_clear_error();
		mtls_free(m);
		return -EINVAL;
	}
	out->ops = &mtls_ops;
	out->self = m;
	return 0;
}
