/* The parts of the ICE interface (ice.h) that need no libnice: shared by the
 * ICE module and the daemon's loader, which must answer them without loading
 * the module. */
#include "nat/ice.h"

#include <errno.h>
#include <string.h>

const char *wm_ice_state_name(int state)
{
	switch (state) {
	case WM_ICE_IDLE:
		return "idle";
	case WM_ICE_GATHERING:
		return "gathering";
	case WM_ICE_CHECKING:
		return "checking";
	case WM_ICE_CONNECTED:
		return "connected";
	case WM_ICE_FAILED:
		return "failed";
	}
	return "unknown";
}

int wm_ice_candidate_check(const char *line)
{
	size_t n = line ? strnlen(line, WM_ICE_CANDIDATE_MAX + 1) : 0;

	if (n == 0 || n > WM_ICE_CANDIDATE_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (line[i] < 0x20 || line[i] > 0x7e)
			return -EINVAL;
	return 0;
}
