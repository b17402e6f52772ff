/* Path kinds and the paths a node's network allows (wmctl ping, netcheck). */
#include "core/netcheck.h"

#include <string.h>

#include "core/nat.h"

/* The TYPE word of "TYPE ADDRESS". */
static bool cand_is(const char *cand, const char *type)
{
	size_t n = strlen(type);

	return cand && strncmp(cand, type, n) == 0 && (cand[n] == ' ' || cand[n] == '\0');
}

enum wm_peer_path wm_peer_path_of(const char *path, const char *local_cand, const char *remote_cand)
{
	if (!path || !path[0] || strcmp(path, "direct") == 0)
		return WM_PATH_DIRECT;
	if (strcmp(path, "ice-connecting") == 0)
		return WM_PATH_ICE_CONNECTING;
	if (strcmp(path, "libp2p-direct") == 0)
		return WM_PATH_LIBP2P;
	if (strcmp(path, "libp2p-relay") == 0)
		return WM_PATH_LIBP2P_RELAY;
	if (strcmp(path, "libp2p-connecting") == 0)
		return WM_PATH_LIBP2P_CONNECTING;
	if (strcmp(path, "ice-relay") == 0)
		return WM_PATH_ICE_RELAY;
	if (strcmp(path, "ice-direct") != 0)
		return WM_PATH_UNKNOWN;
	/* libnice calls the pair relayed itself; the candidates say it again
	 * when a status raced a pair change. */
	if (cand_is(local_cand, "relay") || cand_is(remote_cand, "relay"))
		return WM_PATH_ICE_RELAY;
	if (cand_is(local_cand, "srflx") || cand_is(remote_cand, "srflx") ||
	    cand_is(local_cand, "prflx") || cand_is(remote_cand, "prflx"))
		return WM_PATH_ICE_SRFLX;
	if (cand_is(local_cand, "host") && cand_is(remote_cand, "host"))
		return WM_PATH_ICE_HOST;
	return WM_PATH_UNKNOWN;
}

const char *wm_peer_path_name(enum wm_peer_path p)
{
	switch (p) {
	case WM_PATH_DIRECT:
		return "direct";
	case WM_PATH_ICE_HOST:
		return "ice-host";
	case WM_PATH_ICE_SRFLX:
		return "ice-srflx";
	case WM_PATH_ICE_RELAY:
		return "ice-relay";
	case WM_PATH_ICE_CONNECTING:
		return "ice-connecting";
	case WM_PATH_LIBP2P:
		return "libp2p-direct";
	case WM_PATH_LIBP2P_RELAY:
		return "libp2p-relay";
	case WM_PATH_LIBP2P_CONNECTING:
		return "libp2p-connecting";
	case WM_PATH_UNKNOWN:
		break;
	}
	return "unknown";
}

static struct wm_path_check srflx(const struct wm_netcheck_facts *f)
{
	struct wm_path_check c = {WM_PATH_ICE_SRFLX, false, NULL};

	if (f->n_stun == 0) {
		c.why = "no STUN server configured: no reflexive candidates";
		return c;
	}
	if (f->n_stun_reached == 0) {
		c.why = "no STUN server answered";
		return c;
	}
	c.possible = true;
	switch (f->mapping) {
	case WM_NAT_NONE:
		c.why = "no NAT: the mapped address is this host's own";
		break;
	case WM_NAT_EIM:
		c.why = "endpoint-independent mapping: holes punched through the NAT hold";
		break;
	case WM_NAT_EDM:
		c.possible = false;
		c.why = "endpoint-dependent (symmetric) mapping: a hole punched for one peer "
			"does not fit another, only peers with a public or endpoint-independent "
			"address get through";
		break;
	default:
		c.why = "mapping kind unknown (fewer than two STUN servers answered): may work";
		break;
	}
	return c;
}

size_t wm_netcheck_paths(const struct wm_netcheck_facts *f,
			 struct wm_path_check out[WM_NETCHECK_PATHS])
{
	out[0] = (struct wm_path_check){
		WM_PATH_DIRECT, true,
		f->endpoint_public ? "any peer can reach this node at its public endpoint"
				   : "only with peers that have a public endpoint or share a "
				     "network: this node advertises no public endpoint"};
	out[1] = (struct wm_path_check){WM_PATH_ICE_HOST, true,
					"with peers on a network this host is on"};
	out[2] = srflx(f);
	out[3] = (struct wm_path_check){WM_PATH_ICE_RELAY, f->n_turn_reached > 0,
					f->n_turn == 0		 ? "no TURN server configured"
					: f->n_turn_reached == 0 ? "no TURN server answered"
								 : "a TURN server answered"};
	return WM_NETCHECK_PATHS;
}
