/* Node ID rules (RFC 1123 labels, reserved names) and deriving an ID from a host name. */
#include <errno.h>
#include <string.h>

#include "core/ids.h"

/* Names that mean something else in the CLI, DNS or the API. */
static const char *const reserved[] = {"localhost", "self", "all", "leader", NULL};

static bool label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

int wm_node_id_check(const char *id, const char **why)
{
	const char *dummy;
	size_t n;

	if (!why)
		why = &dummy;
	if (!id || !*id) {
		*why = "is empty";
		return -EINVAL;
	}
	n = strnlen(id, WM_NODE_ID_MAX + 1);
	if (n > WM_NODE_ID_MAX) {
		*why = "is longer than 63 characters";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (id[i] >= 'A' && id[i] <= 'Z') {
			*why = "has upper-case letters (use lower case)";
			return -EINVAL;
		}
		if (!label_char(id[i])) {
			*why = "may only contain a-z, 0-9 and '-'";
			return -EINVAL;
		}
	}
	if (id[0] == '-' || id[n - 1] == '-') {
		*why = "may not start or end with '-'";
		return -EINVAL;
	}
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
