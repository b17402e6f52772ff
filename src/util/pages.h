/* Memory straight from the kernel (an anonymous private mapping): zeroed
 * there, and a page is backed only once written, so a large structure whose
 * most pages an idle process never touches costs no RSS for them (calloc
 * clears reused heap and keeps it resident). Unmapped, its pages go back to
 * the kernel, which clears them before any reuse. */
#ifndef WM_UTIL_PAGES_H
#define WM_UTIL_PAGES_H

#include <stddef.h>

/* len zeroed bytes, or NULL. */
void *wm_pages_new(size_t len);
/* Returns what wm_pages_new(len) gave; NULL is a no-op. */
void wm_pages_free(void *p, size_t len);

#endif
