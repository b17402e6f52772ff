/* qsort for arrays that may be empty: C leaves qsort(NULL, 0, ...)
 * undefined (glibc declares the base nonnull, and UBSan reports it), and an
 * empty list is often a NULL pointer here (nothing allocated yet). One or
 * no element is already sorted, so both skip the call. */
#ifndef WM_CORE_SORT_H
#define WM_CORE_SORT_H

#include <stddef.h>
#include <stdlib.h>

static inline void wm_sort(void *base, size_t n, size_t size,
			   int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

#endif
