/* etcd key layout and endpoint URLs: see layout.h. */
#include "etcd/layout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"

int wm_etcd_mesh_check(const char *mesh, const char **why)
{
	size_t n = mesh ? strlen(mesh) : 0;

	*why = NULL;
	if (n == 0 || n > WM_ETCD_MESH_MAX) {
		*why = "must be 1 to 63 characters";
		return -EINVAL;
	}
	if (mesh[0] == '-' || mesh[n - 1] == '-') {
		*why = "must not start or end with '-'";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (!((mesh[i] >= 'a' && mesh[i] <= 'z') || (mesh[i] >= '0' && mesh[i] <= '9') ||
		      mesh[i] == '-')) {
			*why = "may hold only a-z, 0-9 and '-'";
			return -EINVAL;
		}
	return 0;
}

int wm_etcd_mesh_prefix(const char *mesh, char *out, size_t len)
{
	const char *why;
	if (wm_etcd_mesh_check(mesh, &why) < 0)
		return -EINVAL;
	int n = snprintf(out, len, "/webmesh/%s/", mesh);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Names of leases are what wm_prefix_format and wm_etcd_v4_name write; a
 * node ID is what wm_node_id_check accepts. Neither holds '/'. */
static int name_check(enum wm_etcd_kind kind, const char *name)
{
	const char *why;
	if (!*name)
		return 0;
	switch (kind) {
	case WM_ETCD_KEY_NODE:
	case WM_ETCD_KEY_SERVER:
	case WM_ETCD_KEY_DENIED:
	case WM_ETCD_KEY_LIVENESS:
		return wm_node_id_check(name, &why) < 0 ? -EINVAL : 0;
	case WM_ETCD_KEY_LEASE_V4: {
		uint32_t a;
		return wm_etcd_v4_parse(name, strlen(name), &a);
	}
	case WM_ETCD_KEY_LEASE_V6:
		for (const char *p = name; *p; p++)
			if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == ':'))
				return -EINVAL;
		return 0;
	default:
		return -EINVAL;
	}
}

int wm_etcd_key(const char *mesh, enum wm_etcd_kind kind, const char *name, char *out, size_t len)
{
	static const char *const dir[] = {
		[WM_ETCD_KEY_NODE] = "nodes/",	       [WM_ETCD_KEY_LEASE_V4] = "leases/v4/",
		[WM_ETCD_KEY_LEASE_V6] = "leases/v6/", [WM_ETCD_KEY_SERVER] = "servers/",
		[WM_ETCD_KEY_DENIED] = "denied/",      [WM_ETCD_KEY_LIVENESS] = "liveness/",
	};
	char pfx[WM_ETCD_KEY_MAX];
	int r = wm_etcd_mesh_prefix(mesh, pfx, sizeof(pfx)), n;

	if (r < 0)
		return r;
	if (kind == WM_ETCD_KEY_MESH) {
		if (name && *name)
			return -EINVAL;
		n = snprintf(out, len, "%smesh", pfx);
	} else {
		if ((unsigned)kind > WM_ETCD_KEY_LIVENESS || !name)
			return -EINVAL;
		/* A v6 prefix "fdxx::/112" keeps its length out of the key
		 * (every node's is /112): no '/' inside a name. */
		char nm[WM_ETCD_KEY_MAX];
		snprintf(nm, sizeof(nm), "%s", name);
		if (kind == WM_ETCD_KEY_LEASE_V6) {
			char *slash = strchr(nm, '/');
			if (slash && strcmp(slash, "/112") != 0)
				return -EINVAL;
			if (slash)
				*slash = '\0';
		}
		if (name_check(kind, nm) < 0)
			return -EINVAL;
		n = snprintf(out, len, "%s%s%s", pfx, dir[kind], nm);
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

void wm_etcd_v4_name(uint32_t addr, char out[9])
{
	snprintf(out, 9, "%08x", addr);
}

int wm_etcd_v4_parse(const char *name, size_t len, uint32_t *addr)
{
	uint32_t v = 0;

	if (len != 8)
		return -EINVAL;
	for (size_t i = 0; i < 8; i++) {
		char c = name[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return -EINVAL;
		v = v << 4 | (uint32_t)d;
	}
	*addr = v;
	return 0;
}

size_t wm_etcd_prefix_end(const uint8_t *prefix, size_t len, uint8_t *out)
{
	for (size_t i = len; i-- > 0;)
		if (prefix[i] != 0xff) {
			memcpy(out, prefix, i);
			out[i] = prefix[i] + 1;
			return i + 1;
		}
	out[0] = 0;
	return 1;
}

int wm_etcd_endpoint_parse(const char *url, struct wm_etcd_endpoint *out, const char **why)
{
	const char *p, *host, *host_end, *rest;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (!url) {
		*why = "empty";
		return -EINVAL;
	}
	if (strncmp(url, "https://", 8) == 0) {
		out->tls = true;
		p = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		p = url + 7;
	} else {
		*why = "want http:// or https://";
		return -EINVAL;
	}
	if (memchr(p, '@', strcspn(p, "/"))) {
		*why = "credentials (user:password@) are not supported: etcd authenticates "
		       "webmeshd by --etcd-cert and --etcd-key";
		return -EINVAL;
	}
	if (*p == '[') {
		host = p + 1;
		host_end = strchr(host, ']');
		if (!host_end) {
			*why = "unclosed '[' in the host";
			return -EINVAL;
		}
		rest = host_end + 1;
	} else {
		host = p;
		host_end = p + strcspn(p, ":/");
		rest = host_end;
	}
	if (host_end == host || (size_t)(host_end - host) >= sizeof(out->host)) {
		*why = "missing or too long host";
		return -EINVAL;
	}
	for (const char *c = host; c < host_end; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' || *c == ':')) {
			*why = "invalid character in the host";
			return -EINVAL;
		}
	if (*p != '[' && memchr(host, ':', (size_t)(host_end - host))) {
		*why = "an IPv6 address must be in brackets";
		return -EINVAL;
	}
	memcpy(out->host, host, (size_t)(host_end - host));
	out->port = WM_ETCD_DEFAULT_PORT;
	if (*rest == ':') {
		char *end;
		errno = 0;
		unsigned long v = strtoul(rest + 1, &end, 10);
		if (end == rest + 1 || errno || v == 0 || v > 65535 || rest[1] == '+' ||
		    rest[1] == '-') {
			*why = "invalid port";
			return -EINVAL;
		}
		out->port = (uint16_t)v;
		rest = end;
	}
	if (!(*rest == '\0' || (rest[0] == '/' && rest[1] == '\0'))) {
		*why = "nothing may follow host:port";
		return -EINVAL;
	}
	return 0;
}

int wm_etcd_endpoints_parse(const char *list, struct wm_etcd_endpoint *out, size_t max, size_t *n,
			    const char **why, char *bad, size_t badlen)
{
	const char *s = list;

	*n = 0;
	if (bad && badlen)
		bad[0] = '\0';
	if (!list || !*list) {
		*why = "no endpoint given";
		return -EINVAL;
	}
	for (;;) {
		size_t len = strcspn(s, ",");
		char item[300];
		if (len >= sizeof(item)) {
			*why = "too long";
			snprintf(bad, badlen, "%.60s", s);
			return -EINVAL;
		}
		memcpy(item, s, len);
		item[len] = '\0';
		if (*n == max) {
			*why = "too many endpoints (at most 16)";
			snprintf(bad, badlen, "%.60s", item);
			return -EINVAL;
		}
		if (wm_etcd_endpoint_parse(item, &out[*n], why) < 0) {
			/* Never echo what may be a password. */
			snprintf(bad, badlen, "%.60s",
				 strchr(item, '@') ? "(an endpoint with credentials)" : item);
			return -EINVAL;
		}
		(*n)++;
		if (!s[len])
			break;
		s += len + 1;
	}
	return 0;
}

size_t wm_etcd_sorted_find(const void *v, size_t n, size_t size, size_t id_off, const char *id,
			   bool *found)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp((const char *)v + mid * size + id_off, id);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

int wm_etcd_sorted_insert(void **v, size_t *n, size_t *cap, size_t size, size_t i)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		void *nv = realloc(*v, c * size);
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	char *at = (char *)*v + i * size;
	memmove(at + size, at, (*n - i) * size);
	memset(at, 0, size);
	(*n)++;
	return 0;
}

void wm_etcd_sorted_remove(void *v, size_t *n, size_t size, size_t i)
{
	char *at = (char *)v + i * size;
	memmove(at, at + size, (*n - i - 1) * size);
	(*n)--;
}
