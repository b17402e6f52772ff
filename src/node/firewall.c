/* Network ACL enforcement: the servers' nft batch applied on our interface. */
#include "node/firewall.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acl.h"
#include "core/aclbatch.h"
#include "core/error.h"
#include "core/hash.h"
#include "sys/nft.h"
#include "util/log.h"

static int remove_chains(char *err, size_t errlen)
{
	char *batch = NULL;
	int r = wm_acl_nft_remove(&batch);

	if (r < 0)
		return r;
	r = wm_nft_run(batch, err, errlen);
	free(batch);
	return r;
}

void wm_firewall_init(struct wm_firewall *fw, const char *ifname)
{
	*fw = (struct wm_firewall){.ifname = ifname};
}

int wm_firewall_set(struct wm_firewall *fw, const char *rules)
{
	char err[256] = "";
	uint64_t h =
		wm_hash_fnv1a((const uint8_t *)(rules ? rules : ""), rules ? strlen(rules) : 0);
	if (fw->hash == h && fw->hash_valid)
		return 0;
	int r;
	if (!rules || !*rules) {
		r = fw->applied ? remove_chains(err, sizeof(err)) : 0;
		if (!r)
			fw->applied = false;
	} else {
		char *batch = NULL;
		r = wm_acl_batch_localize(rules, fw->ifname, &batch);
		if (r == -EINVAL) {
			wm_error("the network ACLs from the server are not ours to apply; ignored");
			return r;
		}
		if (!r) {
			r = wm_nft_run(batch, err, sizeof(err));
			free(batch);
		}
		if (!r) {
			fw->applied = true;
			wm_info("network ACLs applied on %s", fw->ifname);
		}
	}
	if (r) {
		wm_error("cannot apply the network ACLs: %s", err[0] ? err : wm_strerror(r));
		return r;
	}
	fw->hash = h;
	fw->hash_valid = true;
	return 0;
}

void wm_firewall_close(struct wm_firewall *fw)
{
	char err[256] = "";
	if (!fw->applied)
		return;
	if (remove_chains(err, sizeof(err)) < 0)
		wm_warn("cannot remove the network ACL chains: %s", err);
	fw->applied = false;
	fw->hash_valid = false;
}
