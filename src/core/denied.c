/* The reason given to a node an administrator removed. */
#include "core/denied.h"

#include <stdio.h>

void wm_denied_reason(const char *node_id, char *out, size_t len)
{
	snprintf(out, len,
		 "node %.63s was removed from the mesh by an administrator; an administrator "
		 "re-admits it with: wmctl allow node %.63s",
		 node_id, node_id);
}
