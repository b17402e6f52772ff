/* Raft server IDs derived from mesh node IDs, so every replica agrees on them. */
#include <string.h>

#include <openssl/sha.h>

#include "store/store.h"

uint64_t wm_store_raft_id(const char *node_id)
{
	uint8_t digest[SHA256_DIGEST_LENGTH];
	uint64_t id = 0;

	SHA256((const unsigned char *)node_id, strlen(node_id), digest);
	for (int i = 0; i < 8; i++)
		id = id << 8 | digest[i];
	/* libraft reserves 0 for "no server". */
	return id ? id : 1;
}
