/* Node ID, zone, edge attribute key and interface name rules (pure), and
 * deriving a node ID from a host name. */
#include <errno.h>
#include <string.h>

#include "core/ids.h"
#include "core/key.h"

/* Names that mean something else in the CLI, DNS or the API. */
static const char *const reserved[] = {"localhost", "self", "all", "leader", NULL};

static bool label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* An RFC 1123 label in lower case: the syntax node IDs and zones share. */
static int label_check(const char *s, const char **why)
{
	size_t n;

	if (!s || !*s) {
		*why = "is empty";
		return -EINVAL;
	}
	n = strnlen(s, WM_NODE_ID_MAX + 1);
	if (n > WM_NODE_ID_MAX) {
		*why = "is longer than 63 characters";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'A' && s[i] <= 'Z') {
			*why = "has upper-case letters (use lower case)";
			return -EINVAL;
		}
		if (!label_char(s[i])) {
			*why = "may only contain a-z, 0-9 and '-'";
			return -EINVAL;
		}
	}
	if (s[0] == '-' || s[n - 1] == '-') {
		*why = "may not start or end with '-'";
		return -EINVAL;
	}
	*why = NULL;
	return 0;
}

int wm_node_id_check(const char *id, const char **why)
{
	const char *dummy;

	if (!why)
		why = &dummy;
	if (label_check(id, why) < 0)
		return -EINVAL;
	for (size_t i = 0; reserved[i]; i++) {
		if (strcmp(id, reserved[i]) == 0) {
			*why = "is a reserved name";
			return -EINVAL;
		}
	}
	if (strncmp(id, "wm-", 3) == 0) {
		*why = "starts with the reserved prefix \"wm-\"";
		return -EINVAL;
	}
	*why = NULL;
	return 0;
}

int wm_zone_check(const char *zone, const char **why)
{
	const char *dummy;

	return label_check(zone, why ? why : &dummy);
}

int wm_edge_attr_key_check(const char *key, const char **why)
{
	const char *dummy;
	size_t n = key ? strnlen(key, WM_EDGE_ATTR_KEY_MAX + 1) : 0;

	if (!why)
		why = &dummy;
	if (n == 0 || n > WM_EDGE_ATTR_KEY_MAX) {
		*why = "must be 1 to 63 characters";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		char c = key[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == '/')) {
			*why = "may only contain A-Z, a-z, 0-9, '-', '_', '.' and '/'";
			return -EINVAL;
		}
	}
	*why = NULL;
	return 0;
}

int wm_ifname_check(const char *name, const char **why)
{
	const char *dummy;
	size_t n = name ? strnlen(name, WM_IFNAME_MAX + 1) : 0;

	if (!why)
		why = &dummy;
	if (n == 0) {
		*why = "is empty";
		return -EINVAL;
	}
	if (n > WM_IFNAME_MAX) {
		*why = "is longer than 15 characters (the kernel's IFNAMSIZ)";
		return -EINVAL;
	}
	/* The kernel refuses these two itself (dev_valid_name): they are
	 * directory names under /sys/class/net. */
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		*why = "is not an interface name";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-')) {
			*why = "may only contain A-Z, a-z, 0-9, '_', '.' and '-'";
			return -EINVAL;
		}
	}
	*why = NULL;
	return 0;
}

int wm_node_id_from_hostname(const char *hostname, char *out)
{
	size_t n = 0, start, end;
	char tmp[WM_NODE_ID_MAX + 1];

	if (!hostname)
		return -EINVAL;
	for (const char *p = hostname; *p && *p != '.' && n < WM_NODE_ID_MAX; p++) {
		char c = *p;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		tmp[n++] = label_char(c) ? c : '-';
	}
	/* Trim the '-' a replaced character may leave at either end. */
	start = 0;
	end = n;
	while (start < end && tmp[start] == '-')
		start++;
	while (end > start && tmp[end - 1] == '-')
		end--;
	if (start == end)
		return -EINVAL;
	memmove(tmp, tmp + start, end - start);
	tmp[end - start] = '\0';
	if (wm_node_id_check(tmp, NULL) < 0)
		return -EINVAL;
	memcpy(out, tmp, end - start + 1);
	return 0;
}

bool wm_peer_named_ok(const char *id, const char *key_b64, const char **why)
{
	wm_key k;

	if (!id || wm_node_id_check(id, NULL) < 0) {
		*why = "held: a peer's node ID is not a node ID";
		return false;
	}
	if (!key_b64 || wm_key_from_base64(key_b64, k) < 0) {
		*why = "held: a peer's public key is not a base64 WireGuard key";
		return false;
	}
	return true;
}
