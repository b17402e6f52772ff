/* libFuzzer harness for the limits before authentication (src/core): source
 * keys of arbitrary peer text, the once-per-source log, and the backoff
 * tables driven by an arbitrary sequence of attempts and outcomes over few
 * sources and names, checked against a model of what is pending.
 *
 * Input: the first line is a peer text for wm_source_key; then 4-byte ops:
 * [op][source][user][time step]. op & 3: 0 begin, 1 end accepted, 2 end
 * refused, 3 end with a backend error (an end only for a begun attempt). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/authlimit.h"
#include "core/source.h"

#define N_SRC 8
#define N_USER 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size < 256 ? size : 256);
	size_t plen = nl ? (size_t)(nl - data) : (size < 256 ? size : 256);
	char peer[257], key[WM_SOURCE_KEY_MAX];
	memcpy(peer, data, plen);
	peer[plen] = '\0';
	if (wm_source_key(peer, key) == 0 && (strlen(key) >= WM_SOURCE_KEY_MAX || !key[0]))
		abort();
	data += plen + (nl != NULL);
	size -= plen + (nl != NULL);

	struct wm_authlimit *l;
	if (wm_authlimit_new(&(struct wm_authlimit_config){.max_pending = 2,
							   .max_entries = 4,
							   .max_ms = 800},
			     &l))
		return 0;
	struct wm_logonce lo;
	wm_logonce_init(&lo, 500);
	uint32_t pending[N_SRC][N_USER] = {{0}}, known[N_SRC][N_USER] = {{0}};
	uint32_t per_src[N_SRC] = {0};
	int64_t now = 0;
	char src[N_SRC][16], user[N_USER][8];
	for (int i = 0; i < N_SRC; i++)
		snprintf(src[i], sizeof(src[i]), "192.0.2.%d", i);
	user[0][0] = '\0'; /* a request naming no user */
	for (int i = 1; i < N_USER; i++)
		snprintf(user[i], sizeof(user[i]), "u:%d", i);
	for (size_t i = 0; i + 4 <= size; i += 4) {
		int s = data[i + 1] % N_SRC, u = data[i + 2] % N_USER;
		now += data[i + 3] * 8;
		uint32_t retry = 0;
		switch (data[i] & 3) {
		case 0: {
			int rv = wm_authlimit_begin(l, src[s], user[u], now, &retry);
			if (rv == 0) {
				pending[s][u]++;
				per_src[s]++;
			} else if (rv == WM_AUTHLIMIT_KNOWN) {
				if (u == 0) /* only a named user can be known */
					abort();
				known[s][u]++;
			} else if (rv == -EAGAIN) {
				if (retry == 0 || retry > 800)
					abort();
			} else if (rv == -EBUSY) {
				if (per_src[s] < 2)
					abort();
			} else if (rv != -ENOSPC) {
				abort();
			}
			if (per_src[s] > 2)
				abort();
			(void)wm_logonce_due(&lo, src[s], now);
			break;
		}
		default: {
			enum wm_authlimit_outcome out =
				(enum wm_authlimit_outcome)((data[i] & 3) - 1);
			if (pending[s][u]) {
				pending[s][u]--;
				per_src[s]--;
				wm_authlimit_end(l, src[s], user[u], 0, out, now);
			} else if (known[s][u]) {
				known[s][u]--;
				wm_authlimit_end(l, src[s], user[u], WM_AUTHLIMIT_KNOWN, out, now);
			}
			break;
		}
		}
		if (wm_authlimit_pending(l, src[s]) != per_src[s])
			abort();
	}
	wm_authlimit_free(l);
	return 0;
}
