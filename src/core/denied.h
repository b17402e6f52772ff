/* Nodes an administrator removed from the mesh are refused until an
 * administrator allows them again (issue 10): the one reason every refusal
 * gives, whichever layer refuses (gate or state machine). Pure. */
#ifndef WM_CORE_DENIED_H
#define WM_CORE_DENIED_H

#include <stddef.h>

#define WM_DENIED_REASON_MAX 200

/* "node ID was removed from the mesh by an administrator; an administrator
 * re-admits it with: wmctl allow node ID" */
void wm_denied_reason(const char *node_id, char *out, size_t len);

#endif
