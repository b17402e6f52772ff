/* nftables through libnftables: one batch, one transaction. */
#include "sys/nft.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <nftables/libnftables.h>

int wm_nft_run(const char *cmds, char *err, size_t errlen)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		snprintf(err, errlen, "cannot create an nftables context");
		return -ENOMEM;
	}
	/* Buffer nft's output so that it reaches our error message instead of
	 * the daemon's stderr. */
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	int rc = nft_run_cmd_from_buffer(ctx, cmds);
	if (rc != 0) {
		const char *msg = nft_ctx_get_error_buffer(ctx);
		snprintf(err, errlen, "nftables: %s", msg && *msg ? msg : "command failed");
		size_t n = strlen(err);
		while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
			err[--n] = '\0';
	}
	nft_ctx_free(ctx);
	return rc != 0 ? -EINVAL : 0;
}
