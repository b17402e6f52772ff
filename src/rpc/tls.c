/* TLS contexts for the API: self-signed certificates, fingerprints, CA or pin
 * verification, ALPN h2. */
#include "rpc/tls.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "core/error.h"

static const unsigned char alpn_h2[] = "\x02h2";

/* OpenSSL loads the text of every error of all its libraries the first time
 * any thread touches an error queue: about 250 KiB of RSS in every process
 * (text pages of some forty loaders spread over libcrypto, and the heap of
 * their table), measured on an idle member, for messages that only a failed
 * start-up prints. The SSL library's own strings (the handshake's errors,
 * 16 KiB) and the configuration file (system policy) are still loaded, when
 * the first TLS context is made. The choice holds only if made before the
 * first OpenSSL call of the process, which may be a SHA256() anywhere: hence
 * a constructor. */
__attribute__((constructor)) static void tls_lib_init(void)
{
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, NULL);
}

/* The last OpenSSL error as text, and the queue cleared for the next call. */
static const char *ossl_reason(void)
{
	/* Per thread (auth runs on the threadpool); every caller copies it into
	 * its error message at once. */
	static _Thread_local char buf[160];
	unsigned long e = ERR_peek_last_error();
	if (!e)
		snprintf(buf, sizeof(buf), "unknown OpenSSL error");
	else if (ERR_SYSTEM_ERROR(e) || ERR_reason_error_string(e))
		ERR_error_string_n(e, buf, sizeof(buf));
	else /* its text is not loaded (see tls_lib_init) */
		snprintf(buf, sizeof(buf),
			 "OpenSSL error %08lX (`openssl errstr %08lX` explains it)", e, e);
	ERR_clear_error();
	return buf;
}

int wm_tls_cert_fingerprint(X509 *cert, char out[WM_FINGERPRINT_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (!cert || !X509_digest(cert, EVP_sha256(), md, &n) || n != 32)
		return -EINVAL;
	memcpy(out, "sha256:", 7);
	for (unsigned int i = 0; i < n; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static X509 *read_cert(const char *path, int *err)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		*err = -errno;
		return NULL;
	}
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x) {
		ERR_clear_error();
		*err = -EINVAL;
	}
	return x;
}

int wm_tls_cert_file_fingerprint(const char *cert_path, char out[WM_FINGERPRINT_LEN])
{
	int err = 0;
	X509 *x = read_cert(cert_path, &err);
	if (!x)
		return err;
	err = wm_tls_cert_fingerprint(x, out);
	X509_free(x);
	return err;
}

/* ------------------------------------------------------- self-signed */

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return -EINVAL;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -ENOMEM;
}

static int add_san(X509 *x, const char *cn, const char *const *ips, size_t n_ips, char *err,
		   size_t errlen)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *g = NULL;
	int rv = -ENOMEM;
	if (!gens)
		return -ENOMEM;
	ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
	if (!dns || !ASN1_STRING_set(dns, cn, (int)strlen(cn)) || !(g = GENERAL_NAME_new())) {
		ASN1_IA5STRING_free(dns);
		goto out;
	}
	GENERAL_NAME_set0_value(g, GEN_DNS, dns);
	if (!sk_GENERAL_NAME_push(gens, g)) {
		GENERAL_NAME_free(g);
		goto out;
	}
	for (size_t i = 0; i < n_ips; i++) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(ips[i]);
		if (!ip) {
			ERR_clear_error();
			wm_seterr(err, errlen, "invalid IP address for the certificate: \"%s\"",
				  ips[i]);
			rv = -EINVAL;
			goto out;
		}
		if (!(g = GENERAL_NAME_new())) {
			ASN1_OCTET_STRING_free(ip);
			goto out;
		}
		GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
		if (!sk_GENERAL_NAME_push(gens, g)) {
			GENERAL_NAME_free(g);
			goto out;
		}
	}
	rv = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) ? 0 : -ENOMEM;
out:
	GENERAL_NAMES_free(gens);
	return rv;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *const *ips, size_t n_ips,
		       char *err, size_t errlen)
{
	X509 *x = X509_new();
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	if (!x || !X509_set_version(x, X509_VERSION_3) || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f; /* a positive serial */
	if (!(bn = BN_bin2bn(serial, sizeof(serial), NULL)) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto fail;
	/* An hour back, for peers whose clock is a little behind ours. */
	if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), 3650, 0, NULL))
		goto fail;
	X509_NAME *name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
					-1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key))
		goto fail;
	/* A server certificate (it also serves as the node's client
	 * certificate when it calls other servers). No keyUsage: clients pin
	 * it or trust it as its own anchor, which some stacks refuse to do
	 * for a certificate whose key usage lacks keyCertSign. */
	if (add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth") ||
	    add_ext(x, NID_subject_key_identifier, "hash"))
		goto fail;
	int rv = add_san(x, cn, ips, n_ips, err, errlen);
	if (rv == -EINVAL)
		goto fail_quiet;
	if (rv || !X509_sign(x, key, EVP_sha256()))
		goto fail;
	BN_free(bn);
	return x;
fail:
	wm_seterr(err, errlen, "cannot build the self-signed certificate: %s", ossl_reason());
fail_quiet:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

/* Writes a PEM file through a temporary file and rename, so that a crash never
 * leaves a half-written key behind; mkstemp creates it 0600. */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert, char *err,
		     size_t errlen)
{
	size_t n = strlen(path) + 8;
	char *tmp = malloc(n);
	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, n, "%s.XXXXXX", path);
	int fd = mkstemp(tmp), rv = 0;
	if (fd < 0) {
		rv = -errno;
		wm_seterr(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return rv;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		rv = -errno;
		close(fd);
		goto fail;
	}
	if (fchmod(fd, mode) < 0) {
		rv = -errno;
		fclose(f);
		goto fail;
	}
	int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
		     : PEM_write_X509(f, cert);
	if (!ok) {
		ERR_clear_error();
		rv = -EIO;
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rv = rv ? rv : -errno;
	if (fclose(f) != 0)
		rv = rv ? rv : -errno;
	if (rv)
		goto fail;
	if (rename(tmp, path) < 0) {
		rv = -errno;
		goto fail;
	}
	free(tmp);
	return 0;
fail:
	wm_seterr(err, errlen, "cannot write %s: %s", path, strerror(-rv));
	unlink(tmp);
	free(tmp);
	return rv;
}

int wm_tls_ensure_self_signed(const char *cert_path, const char *key_path, const char *common_name,
			      const char *const *ips, size_t n_ips, char *err, size_t errlen)
{
	bool have_cert = access(cert_path, F_OK) == 0, have_key = access(key_path, F_OK) == 0;
	if (have_cert && have_key)
		return 0;
	if (have_cert || have_key) {
		wm_seterr(err, errlen, "%s exists but %s does not: provide both or neither",
			  have_cert ? cert_path : key_path, have_cert ? key_path : cert_path);
		return -ENOENT;
	}
	if (!common_name || !*common_name || strlen(common_name) > 64) {
		wm_seterr(err, errlen, "invalid certificate common name (1 to 64 characters)");
		return -EINVAL;
	}
	EVP_PKEY *key = EVP_EC_gen("P-256");
	if (!key) {
		wm_seterr(err, errlen, "cannot generate an ECDSA P-256 key: %s", ossl_reason());
		return -ENOMEM;
	}
	X509 *x = make_cert(key, common_name, ips, n_ips, err, errlen);
	int rv = -EINVAL;
	if (x) {
		/* The key first: a certificate without its key is never left. */
		rv = write_pem(key_path, 0600, key, NULL, err, errlen);
		if (!rv) {
			rv = write_pem(cert_path, 0644, NULL, x, err, errlen);
			if (rv)
				unlink(key_path);
		}
	}
	X509_free(x);
	EVP_PKEY_free(key);
	return rv;
}

/* ------------------------------------------------------- contexts */

static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
			  const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	unsigned char *sel = NULL;
	if (SSL_select_next_proto(&sel, outlen, alpn_h2, sizeof(alpn_h2) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL; /* gRPC needs h2; nothing else is served */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *ctx_base(const SSL_METHOD *method, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(method);
	if (!ctx) {
		wm_seterr(err, errlen, "cannot create a TLS context: %s", ossl_reason());
		return NULL;
	}
	/* RFC 9113 9.2: TLS 1.2 with ephemeral key exchange and AEAD only, no
	 * renegotiation, no compression. */
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20")) {
		wm_seterr(err, errlen, "cannot configure TLS: %s", ossl_reason());
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

static int load_pair(SSL_CTX *ctx, const char *cert, const char *key, char *err, size_t errlen)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		wm_seterr(err, errlen, "cannot load certificate %s: %s", cert, ossl_reason());
		return -EINVAL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		wm_seterr(err, errlen, "cannot load key %s: %s", key, ossl_reason());
		return -EINVAL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		wm_seterr(err, errlen, "key %s does not match certificate %s", key, cert);
		ERR_clear_error();
		return -EINVAL;
	}
	return 0;
}

static int accept_any_cb(int preverify_ok, X509_STORE_CTX *ctx)
{
	(void)preverify_ok;
	(void)ctx;
	return 1;
}

SSL_CTX *wm_tls_server_ctx_new(const struct wm_tls_server_opts *o, char *err, size_t errlen)
{
	if (!o || !o->cert_file || !o->key_file) {
		wm_seterr(err, errlen, "a TLS server needs a certificate and a key file");
		return NULL;
	}
	if (o->require_client_cert && !o->client_ca_file) {
		wm_seterr(err, errlen, "requiring client certificates needs a client CA file");
		return NULL;
	}
	ERR_clear_error();
	SSL_CTX *ctx = ctx_base(TLS_server_method(), err, errlen);
	if (!ctx)
		return NULL;
	if (load_pair(ctx, o->cert_file, o->key_file, err, errlen))
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, NULL);
	/* Resumed sessions with client certificates need a session id context. */
	static const unsigned char sid[] = "webmesh";
	SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	if (o->client_ca_file) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->client_ca_file);
		if (!names || SSL_CTX_load_verify_locations(ctx, o->client_ca_file, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			wm_seterr(err, errlen, "cannot load client CA file %s: %s",
				  o->client_ca_file, ossl_reason());
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		/* Any certificate, or none, passes the handshake: the API's
		 * authenticator verifies it again (chain, validity, key usage)
		 * and answers UNAUTHENTICATED, which a client can report, where
		 * a failed handshake is only a closed connection. */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_cb);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* The pinned fingerprint lives in the context's ex_data so it is freed with it.
 * The index is process-wide by nature (OpenSSL hands out ex_data indexes per
 * class, for the whole process, and never takes them back): made once, by
 * whichever thread builds the first pinned context, and never changed. */
static int pin_index = -1;
static CRYPTO_ONCE pin_once = CRYPTO_ONCE_STATIC_INIT;

static void pin_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static void pin_index_init(void)
{
	pin_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, pin_free);
}

/* Replaces chain verification: only the leaf's identity matters with a pin. */
static int pin_verify_cb(X509_STORE_CTX *st, void *arg)
{
	const char *pin = arg;
	char fp[WM_FINGERPRINT_LEN];
	X509 *leaf = X509_STORE_CTX_get0_cert(st);
	if (leaf && wm_tls_cert_fingerprint(leaf, fp) == 0 && strcmp(fp, pin) == 0) {
		X509_STORE_CTX_set_error(st, X509_V_OK);
		return 1;
	}
	X509_STORE_CTX_set_error(st, X509_V_ERR_CERT_REJECTED);
	return 0;
}

static bool is_ip_literal(const char *s)
{
	ASN1_OCTET_STRING *ip = a2i_IPADDRESS(s);
	bool ok = ip != NULL;
	ERR_clear_error();
	ASN1_OCTET_STRING_free(ip);
	return ok;
}

SSL_CTX *wm_tls_client_ctx_new(const struct wm_tls_client_opts *o, char *err, size_t errlen)
{
	char pin[WM_FINGERPRINT_LEN];
	if (!o || (!!o->ca_file + !!o->pin_fingerprint + !!o->insecure_skip_verify) != 1) {
		wm_seterr(err, errlen,
			  "give exactly one of a CA file, a pinned fingerprint or "
			  "insecure mode to verify the server (EINVAL)");
		return NULL;
	}
	if (o->pin_fingerprint && wm_fingerprint_parse(o->pin_fingerprint, pin) < 0) {
		wm_seterr(err, errlen,
			  "invalid fingerprint \"%s\": expected sha256: and 64 hex digits",
			  o->pin_fingerprint);
		return NULL;
	}
	if (!!o->cert_file != !!o->key_file) {
		wm_seterr(err, errlen,
			  "a client certificate needs both a certificate and a key file");
		return NULL;
	}
	ERR_clear_error();
	SSL_CTX *ctx = ctx_base(TLS_client_method(), err, errlen);
	if (!ctx)
		return NULL;
	if (SSL_CTX_set_alpn_protos(ctx, alpn_h2, sizeof(alpn_h2) - 1) != 0) {
		wm_seterr(err, errlen, "cannot set ALPN: %s", ossl_reason());
		goto fail;
	}
	if (o->cert_file && load_pair(ctx, o->cert_file, o->key_file, err, errlen))
		goto fail;
	if (o->ca_file) {
		if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
			wm_seterr(err, errlen, "cannot load CA file %s: %s", o->ca_file,
				  ossl_reason());
			goto fail;
		}
		/* Only a certificate fit for a server: keyUsage allowing the
		 * handshake and, when it has an extendedKeyUsage, serverAuth. A
		 * member's client certificate from the same CA is refused here
		 * (OpenSSL's own default purpose for a client, made explicit). */
		if (!SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER)) {
			wm_seterr(err, errlen, "cannot set the server purpose: %s", ossl_reason());
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else if (o->pin_fingerprint) {
		char *p = strdup(pin);
		if (!CRYPTO_THREAD_run_once(&pin_once, pin_index_init) || pin_index < 0 || !p ||
		    !SSL_CTX_set_ex_data(ctx, pin_index, p)) {
			free(p);
			wm_seterr(err, errlen, "cannot store the pinned fingerprint");
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_cert_verify_callback(ctx, pin_verify_cb, p);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (o->verify_name && *o->verify_name) {
		X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
		int ok = is_ip_literal(o->verify_name)
				 ? X509_VERIFY_PARAM_set1_ip_asc(param, o->verify_name)
				 : X509_VERIFY_PARAM_set1_host(param, o->verify_name, 0);
		if (!ok) {
			wm_seterr(err, errlen, "invalid name to verify \"%s\"", o->verify_name);
			ERR_clear_error();
			goto fail;
		}
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}
