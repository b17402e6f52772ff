/* NAT traversal decisions: URIs, the ICE decision, roles, backoff, NAT
 * classification and the endpoints a node advertises. */
#include "core/nat.h"

#include "core/hostport.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- URIs ---- */

static int fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -EINVAL;
}

int wm_ice_uri_parse(const char *s, int default_scheme, struct wm_ice_uri *out, const char **why)
{
	const char *p, *end, *q;
	struct wm_ice_uri u = {.port = WM_STUN_DEFAULT_PORT};

	if (!s || !*s)
		return fail(why, "is empty");
	if (strncasecmp(s, "stun:", 5) == 0) {
		u.scheme = WM_URI_STUN;
		p = s + 5;
	} else if (strncasecmp(s, "turn:", 5) == 0) {
		u.scheme = WM_URI_TURN;
		p = s + 5;
	} else if (strncasecmp(s, "stuns:", 6) == 0 || strncasecmp(s, "turns:", 6) == 0) {
		return fail(why, "uses TLS (stuns:/turns:), which is not supported: use stun: or "
				 "turn: over UDP");
	} else if (default_scheme == WM_URI_STUN || default_scheme == WM_URI_TURN) {
		u.scheme = default_scheme;
		p = s;
	} else {
		return fail(why, "has no scheme (write stun:HOST:PORT or turn:HOST:PORT)");
	}
	q = strchr(p, '?');
	end = q ? q : p + strlen(p);
	if (q) {
		if (u.scheme != WM_URI_TURN)
			return fail(why, "has a query, which only turn: URIs may have");
		if (strcasecmp(q, "?transport=udp") != 0)
			return fail(why, "asks for a transport other than UDP (only "
					 "?transport=udp is supported)");
	}
	if (p == end)
		return fail(why, "has no host");
	/* HOST[:PORT] follows the one host:port rule (core/hostport.c); a URI
	 * may leave the port out, so a bare host gets the default first. */
	char auth[sizeof(u.host) + 16];
	size_t alen = (size_t)(end - p);
	bool has_port;
	if (alen >= sizeof(auth))
		return fail(why, "has a host that is too long");
	if (*p == '[') {
		const char *hend = memchr(p, ']', alen);
		if (!hend)
			return fail(why, "has an unterminated or empty [IPv6] address");
		has_port = hend + 1 != end;
	} else {
		const char *colon = memchr(p, ':', alen);
		if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
			return fail(why, "has an IPv6 address without brackets (write "
					 "[ADDRESS]:PORT)");
		has_port = colon != NULL;
	}
	int n = snprintf(auth, sizeof(auth), has_port ? "%.*s" : "%.*s:%u", (int)alen, p,
			 (unsigned)WM_STUN_DEFAULT_PORT);
	if (n < 0 || (size_t)n >= sizeof(auth))
		return fail(why, "has a host that is too long");
	if (wm_hostport_split(auth, u.host, sizeof(u.host), &u.port) < 0)
		return fail(why, "has a host that is not a name, an IPv4 address or an [IPv6] "
				 "address, or a port that is not 1..65535");
	*out = u;
	return 0;
}

int wm_ice_uri_format(const struct wm_ice_uri *u, char *buf, size_t len)
{
	const char *scheme = u->scheme == WM_URI_TURN ? "turn" : "stun";
	bool v6 = strchr(u->host, ':') != NULL;
	int n = snprintf(buf, len, v6 ? "%s:[%s]:%u" : "%s:%s:%u", scheme, u->host,
			 (unsigned)u->port);

	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

/* ---- ICE parameters ---- */

static bool ice_chars_ok(const char *s, size_t min, size_t max)
{
	size_t n = s ? strnlen(s, max + 1) : 0;

	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/'))
			return false;
	}
	return true;
}

int wm_ice_params_check(const char *ufrag, const char *pwd, char *const *cands, size_t n_cands,
			const char **why)
{
	if (!ice_chars_ok(ufrag, 4, WM_ICE_UFRAG_MAX))
		return fail(why, "has an ICE username fragment that is not 4..256 ice-chars");
	if (!ice_chars_ok(pwd, 22, WM_ICE_PWD_MAX))
		return fail(why, "has an ICE password that is not 22..256 ice-chars");
	if (n_cands == 0 || n_cands > WM_ICE_MAX_CANDIDATES)
		return fail(why, "does not have 1..16 candidates");
	for (size_t i = 0; i < n_cands; i++) {
		const char *c = cands[i];
		size_t n = c ? strnlen(c, WM_ICE_CANDIDATE_MAX + 1) : 0;

		if (n == 0 || n > WM_ICE_CANDIDATE_MAX)
			return fail(why,
				    "has a candidate that is empty or longer than 256 characters");
		if (strncmp(c, "a=candidate:", 12) != 0 && strncmp(c, "candidate:", 10) != 0)
			return fail(why, "has a candidate that is not an a=candidate: line");
		for (size_t k = 0; k < n; k++)
			if (c[k] < 0x20 || c[k] > 0x7e)
				return fail(
					why,
					"has a candidate with a control or non-ASCII character");
	}
	return 0;
}

/* ---- the decision ---- */

enum wm_ice_reason wm_ice_decide(const struct wm_ice_inputs *in)
{
	if (!in->ice_available)
		return WM_ICE_NOT_NEEDED;
	if (in->on_ice)
		return WM_ICE_STICKY;
	if (in->peer_started)
		return WM_ICE_PEER_STARTED;
	if (in->ice_edge)
		return WM_ICE_EDGE;
	if (!in->traversal || !in->handshake_timeout_ms ||
	    in->now_ms - in->direct_since_ms < (int64_t)in->handshake_timeout_ms)
		return WM_ICE_NOT_NEEDED;
	/* A handshake from before the peer got its current endpoints says
	 * nothing about them. */
	if (in->last_handshake_ms != 0 && in->last_handshake_ms >= in->direct_since_ms)
		return WM_ICE_NOT_NEEDED;
	if (in->peer_public)
		return WM_ICE_TIMEOUT;
	return in->self_public ? WM_ICE_NOT_NEEDED : WM_ICE_NO_PUBLIC;
}

const char *wm_ice_reason_name(enum wm_ice_reason r)
{
	switch (r) {
	case WM_ICE_NOT_NEEDED:
		return "direct";
	case WM_ICE_EDGE:
		return "edge marked ice";
	case WM_ICE_NO_PUBLIC:
		return "neither side has a public endpoint";
	case WM_ICE_TIMEOUT:
		return "no handshake at the direct endpoints";
	case WM_ICE_PEER_STARTED:
		return "the peer started ICE";
	case WM_ICE_STICKY:
		return "already on ICE";
	}
	return "unknown";
}

bool wm_ice_controlling(const char *self_id, const char *peer_id)
{
	return strcmp(self_id, peer_id) < 0;
}

bool wm_ice_accept_offer(const char *self_id, const char *peer_id, bool offer_pending)
{
	/* In a glare both offers cross; the controlling side's offer wins, so
	 * only the other side answers. */
	return !offer_pending || !wm_ice_controlling(self_id, peer_id);
}

uint32_t wm_ice_backoff_ms(unsigned attempt, uint16_t jitter)
{
	uint32_t ms = 1000;

	for (unsigned i = 0; i < attempt && ms < 30000; i++)
		ms *= 2;
	if (ms > 30000)
		ms = 30000;
	return ms + (uint32_t)(((uint64_t)ms / 4) * jitter / 65535);
}

/* ---- NAT classification ---- */

void wm_nat_classify(uint16_t local_port, const struct wm_prefix *host_addrs, size_t n_host,
		     const struct wm_endpoint *mapped, size_t n_mapped, struct wm_nat_info *out)
{
	const struct wm_endpoint *first = NULL;
	size_t answers = 0;
	bool differ = false;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n_mapped; i++) {
		if (!mapped[i].ip.family)
			continue;
		answers++;
		if (!first)
			first = &mapped[i];
		else if (!wm_endpoint_equal(first, &mapped[i]))
			differ = true;
	}
	if (!first)
		return;
	out->mapped = *first;
	out->port_preserved = !differ && first->port == local_port;
	for (size_t i = 0; i < n_host; i++) {
		struct wm_prefix a = host_addrs[i];

		a.len = a.family == AF_INET ? 32 : 128;
		if (wm_prefix_equal(&a, &first->ip) && first->port == local_port && !differ) {
			out->mapping = WM_NAT_NONE;
			return;
		}
	}
	if (differ)
		out->mapping = WM_NAT_EDM;
	else if (answers >= 2)
		out->mapping = WM_NAT_EIM;
	else
		out->mapping = WM_NAT_UNKNOWN;
}

const char *wm_nat_mapping_name(int mapping)
{
	switch (mapping) {
	case WM_NAT_NONE:
		return "none";
	case WM_NAT_EIM:
		return "endpoint-independent";
	case WM_NAT_EDM:
		return "endpoint-dependent";
	default:
		return "unknown";
	}
}

/* ---- advertised endpoints ---- */

static size_t add_unique(struct wm_endpoint *out, size_t n, size_t max, const struct wm_endpoint *e)
{
	if (n >= max)
		return n;
	for (size_t i = 0; i < n; i++)
		if (wm_endpoint_equal(&out[i], e))
			return n;
	out[n] = *e;
	return n + 1;
}

static struct wm_endpoint host_endpoint(const struct wm_prefix *a, uint16_t port)
{
	struct wm_endpoint e = {.ip = *a, .port = port};

	e.ip.len = a->family == AF_INET ? 32 : 128;
	return e;
}

size_t wm_nat_endpoints(const struct wm_prefix *addrs, size_t n_addrs, uint16_t wg_port,
			const struct wm_nat_info *nat, struct wm_endpoint *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < n_addrs; i++) {
		if (addrs[i].family && !wm_addr_is_private(&addrs[i])) {
			struct wm_endpoint e = host_endpoint(&addrs[i], wg_port);
			n = add_unique(out, n, max, &e);
		}
	}
	if (nat && nat->mapped.ip.family && nat->port_preserved && nat->mapping == WM_NAT_EIM) {
		struct wm_endpoint e = host_endpoint(&nat->mapped.ip, wg_port);
		n = add_unique(out, n, max, &e);
	}
	for (size_t i = 0; i < n_addrs; i++) {
		if (addrs[i].family && wm_addr_is_private(&addrs[i])) {
			struct wm_endpoint e = host_endpoint(&addrs[i], wg_port);
			n = add_unique(out, n, max, &e);
		}
	}
	return n;
}

bool wm_endpoints_have_public(const struct wm_endpoint *eps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (eps[i].ip.family && !wm_addr_is_private(&eps[i].ip))
			return true;
	return false;
}
