/* nftables through libnftables: one batch, one transaction. libnftables (with
 * libnftnl, libxtables, libjansson and gmp) is opened on the first batch, not
 * linked: most nodes never write a rule (no ACLs, routes or exit node), and
 * loading it costs every process about 0.5 MiB of RSS. */
#include "sys/nft.h"
#include "util/module.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <nftables/libnftables.h>

/* The soname of the ABI the header above describes. */
#define NFT_LIBRARY "libnftables.so.1"

/* Process-wide by nature: the library's entry points, bound once (under
 * nft_lock) and never changed; each batch makes its own nft context. */
static struct {
	__typeof__(nft_ctx_new) *ctx_new;
	__typeof__(nft_ctx_free) *ctx_free;
	__typeof__(nft_ctx_buffer_output) *buffer_output;
	__typeof__(nft_ctx_buffer_error) *buffer_error;
	__typeof__(nft_ctx_get_error_buffer) *get_error_buffer;
	__typeof__(nft_run_cmd_from_buffer) *run_cmd_from_buffer;
} nft;
static pthread_mutex_t nft_lock = PTHREAD_MUTEX_INITIALIZER;

/* Opens the library once; a failure is retried on the next batch, so that
 * installing it does not need a restart. Never closed. */
static int nft_open(char *err, size_t errlen)
{
	int rc = 0;

	pthread_mutex_lock(&nft_lock);
	if (nft.run_cmd_from_buffer)
		goto out;
	const struct wm_library_sym syms[] = {
		{(void **)&nft.ctx_new, "nft_ctx_new"},
		{(void **)&nft.ctx_free, "nft_ctx_free"},
		{(void **)&nft.buffer_output, "nft_ctx_buffer_output"},
		{(void **)&nft.buffer_error, "nft_ctx_buffer_error"},
		{(void **)&nft.get_error_buffer, "nft_ctx_get_error_buffer"},
		/* last: its being set means all are */
		{(void **)&nft.run_cmd_from_buffer, "nft_run_cmd_from_buffer"},
	};
	rc = wm_library_bind("nftables", NFT_LIBRARY, "libnftables1", syms,
			     sizeof(syms) / sizeof(syms[0]), err, errlen);
out:
	pthread_mutex_unlock(&nft_lock);
	return rc;
}

int wm_nft_run(const char *cmds, char *err, size_t errlen)
{
	int rc = nft_open(err, errlen);
	if (rc < 0)
		return rc;
	struct nft_ctx *ctx = nft.ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		snprintf(err, errlen, "cannot create an nftables context");
		return -ENOMEM;
	}
	/* Buffer nft's output so that it reaches our error message instead of
	 * the daemon's stderr. */
	nft.buffer_output(ctx);
	nft.buffer_error(ctx);
	rc = nft.run_cmd_from_buffer(ctx, cmds);
	if (rc != 0) {
		const char *msg = nft.get_error_buffer(ctx);
		snprintf(err, errlen, "nftables: %s", msg && *msg ? msg : "command failed");
		size_t n = strlen(err);
		while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
			err[--n] = '\0';
	}
	nft.ctx_free(ctx);
	return rc != 0 ? -EINVAL : 0;
}
