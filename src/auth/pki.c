/* The mesh CA: key pairs, certificates and their files, and expiry warnings. */
#include "auth/pki.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "core/ids.h"
#include "core/rbac.h"

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;
	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	ERR_clear_error();
	return r;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!e)
		return -EINVAL;
	int ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok ? 0 : -ENOMEM;
}

/* Writes PEM data to path with mode, never over an existing file. */
static int write_new(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert, char *err,
		     size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return fail(err, errlen, -errno, "cannot create %s: %s", path, strerror(errno));
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(path);
		return fail(err, errlen, -ENOMEM, "cannot write %s", path);
	}
	int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
		     : PEM_write_X509(f, cert);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok) {
		unlink(path);
		return fail(err, errlen, -EIO, "cannot write %s", path);
	}
	return 0;
}

/* A key (0600) and its certificate (0644), both new files: the key is
 * removed again when the certificate cannot be written, so that no half
 * pair is left for the next run to trip over. */
static int write_pair(const char *keyp, EVP_PKEY *key, const char *crt, X509 *x, char *err,
		      size_t errlen)
{
	int r = write_new(keyp, 0600, key, NULL, err, errlen);
	if (r == 0) {
		r = write_new(crt, 0644, NULL, x, err, errlen);
		if (r < 0)
			unlink(keyp);
	}
	return r;
}

static X509 *new_cert(EVP_PKEY *key, const char *cn, int64_t not_before_offset, unsigned days,
		      int64_t not_after_offset)
{
	X509 *x = X509_new();
	unsigned char serial[16];
	BIGNUM *bn = NULL;

	if (!x || !X509_set_version(x, X509_VERSION_3) || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	if (!(bn = BN_bin2bn(serial, sizeof(serial), NULL)) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto fail;
	if (!X509_gmtime_adj(X509_getm_notBefore(x), (long)not_before_offset) ||
	    !(not_after_offset ? X509_gmtime_adj(X509_getm_notAfter(x), (long)not_after_offset)
			       : X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL)))
		goto fail;
	if (!X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_pubkey(x, key))
		goto fail;
	BN_free(bn);
	return x;
fail:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

static void path_of(char *out, size_t len, const char *dir, const char *name, const char *ext)
{
	snprintf(out, len, "%s/%s.%s", dir, name, ext);
}

int wm_pki_init(const char *dir, unsigned days, char *err, size_t errlen)
{
	char crt[4096], keyp[4096];
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int r;

	if (!days)
		days = WM_PKI_CA_DAYS;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return fail(err, errlen, -errno, "cannot create %s: %s", dir, strerror(errno));
	path_of(crt, sizeof(crt), dir, "ca", "crt");
	path_of(keyp, sizeof(keyp), dir, "ca", "key");
	if (access(crt, F_OK) == 0 || access(keyp, F_OK) == 0)
		return fail(err, errlen, -EEXIST, "%s already holds a CA (ca.crt or ca.key)", dir);
	key = EVP_EC_gen("P-256");
	x = key ? new_cert(key, "webmesh CA", -3600, days, 0) : NULL;
	if (!x || X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
	    add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    add_ext(x, x, NID_subject_key_identifier, "hash") || !X509_sign(x, key, EVP_sha256())) {
		r = fail(err, errlen, -EIO, "cannot build the CA certificate");
		goto out;
	}
	r = write_pair(keyp, key, crt, x, err, errlen);
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return r;
}

static int read_ca(const char *dir, X509 **ca, EVP_PKEY **key, char *err, size_t errlen)
{
	char crt[4096], keyp[4096];
	FILE *f;

	path_of(crt, sizeof(crt), dir, "ca", "crt");
	path_of(keyp, sizeof(keyp), dir, "ca", "key");
	f = fopen(crt, "r");
	*ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	f = fopen(keyp, "r");
	*key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (!*ca || !*key) {
		X509_free(*ca);
		EVP_PKEY_free(*key);
		return fail(err, errlen, -ENOENT,
			    "no CA in %s (ca.crt and ca.key): run wmctl pki init --dir %s", dir,
			    dir);
	}
	if (X509_check_private_key(*ca, *key) != 1) {
		X509_free(*ca);
		EVP_PKEY_free(*key);
		return fail(err, errlen, -EINVAL, "%s/ca.key does not match %s/ca.crt", dir, dir);
	}
	return 0;
}

static bool is_dns_name(const char *id)
{
	return wm_node_id_check(id, NULL) == 0;
}

static bool is_ip_literal(const char *s)
{
	ASN1_OCTET_STRING *ip = a2i_IPADDRESS(s);
	bool ok = ip != NULL;
	ASN1_OCTET_STRING_free(ip);
	ERR_clear_error();
	return ok;
}

/* A host name: dot-separated labels, each as a node ID (lower case), 253 at most. */
static bool is_host_name(const char *s)
{
	char label[64];
	size_t n = strlen(s);
	if (!n || n > 253)
		return false;
	for (const char *p = s;;) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (l == 0 || l >= sizeof(label))
			return false;
		memcpy(label, p, l);
		label[l] = '\0';
		if (!is_dns_name(label))
			return false;
		if (!dot)
			return true;
		p = dot + 1;
	}
}

/* The subjectAltName text: the ID's own name, then each extra name as IP: or
 * DNS:. Checked here, so that a bad --san is named, not a failed build. */
static int san_of(const char *id, const struct wm_pki_issue_opts *o, char *san, size_t len,
		  char *err, size_t errlen)
{
	size_t n = 0;
	san[0] = '\0';
	if (strchr(id, '@'))
		n = (size_t)snprintf(san, len, "email:%s", id);
	else if (is_dns_name(id))
		n = (size_t)snprintf(san, len, "DNS:%s", id);
	for (size_t i = 0; i < o->n_sans; i++) {
		const char *s = o->sans[i];
		bool ip = s && is_ip_literal(s);
		if (!s || (!ip && !is_host_name(s)))
			return fail(err, errlen, -EINVAL,
				    "invalid subject name \"%.64s\": expected an IP address or "
				    "a DNS name",
				    s ? s : "");
		n += (size_t)snprintf(san + n, n < len ? len - n : 0, "%s%s:%s", n ? "," : "",
				      ip ? "IP" : "DNS", s);
		if (n >= len)
			return fail(err, errlen, -EINVAL, "too many subject names");
	}
	return 0;
}

int wm_pki_issue(const char *dir, const char *id, const struct wm_pki_issue_opts *opts, char *err,
		 size_t errlen)
{
	struct wm_pki_issue_opts o = {0};
	char crt[4096], keyp[4096], san[2048];
	EVP_PKEY *cakey = NULL, *key = NULL;
	X509 *ca = NULL, *x = NULL;
	const char *why = NULL;
	int r;

	if (opts)
		o = *opts;
	if (!o.days)
		o.days = WM_PKI_LEAF_DAYS;
	if (!o.not_before_offset)
		o.not_before_offset = -3600;
	if (!id || wm_rbac_name_check(id, &why) < 0 || strlen(id) > 64)
		return fail(err, errlen, -EINVAL, "invalid ID \"%.64s\": %s", id ? id : "",
			    why ? why : "longer than 64 characters");
	path_of(crt, sizeof(crt), dir, id, "crt");
	path_of(keyp, sizeof(keyp), dir, id, "key");
	if (access(crt, F_OK) == 0 || access(keyp, F_OK) == 0)
		return fail(err, errlen, -EEXIST, "%s or %s already exists", crt, keyp);
	r = san_of(id, &o, san, sizeof(san), err, errlen);
	if (r < 0)
		return r;
	r = read_ca(dir, &ca, &cakey, err, errlen);
	if (r < 0)
		return r;
	key = EVP_EC_gen("P-256");
	x = key ? new_cert(key, id, o.not_before_offset, o.days, o.not_after_offset) : NULL;
	if (!x || X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
	    add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(x, ca, NID_key_usage,
		    o.key_usage ? o.key_usage : "critical,digitalSignature") ||
	    add_ext(x, ca, NID_ext_key_usage,
		    o.ext_key_usage ? o.ext_key_usage
				    : (o.server ? "serverAuth,clientAuth" : "clientAuth")) ||
	    add_ext(x, ca, NID_subject_key_identifier, "hash") ||
	    add_ext(x, ca, NID_authority_key_identifier, "keyid") ||
	    (san[0] && add_ext(x, ca, NID_subject_alt_name, san)) ||
	    !X509_sign(x, cakey, EVP_sha256())) {
		r = fail(err, errlen, -EIO, "cannot build the certificate of %s", id);
		goto out;
	}
	r = write_pair(keyp, key, crt, x, err, errlen);
out:
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	return r;
}

int wm_pki_cert_not_after(const char *cert_path, int64_t *out)
{
	FILE *f = fopen(cert_path, "r");
	X509 *x;
	struct tm tm;

	if (!f)
		return -errno;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x) {
		ERR_clear_error();
		return -EINVAL;
	}
	int ok = ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm);
	X509_free(x);
	if (!ok)
		return -EINVAL;
	*out = (int64_t)timegm(&tm);
	return 0;
}

int wm_pki_expiry_warning(const char *cert_path, int64_t now, unsigned warn_days, char *out,
			  size_t outlen)
{
	int64_t na;
	int r = wm_pki_cert_not_after(cert_path, &na);

	if (r < 0)
		return r;
	if (na <= now) {
		snprintf(out, outlen, "the TLS certificate %s has expired", cert_path);
		return 1;
	}
	if (na - now <= (int64_t)warn_days * 86400) {
		snprintf(out, outlen, "the TLS certificate %s expires in %" PRId64 " days (%s)",
			 cert_path, (na - now) / 86400, "renew it with wmctl pki issue");
		return 1;
	}
	return 0;
}
