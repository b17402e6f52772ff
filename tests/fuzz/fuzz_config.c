/* libFuzzer harness: arbitrary bytes as a webmeshd YAML config file, then print and reload.
 *
 * Not part of the default build. From the repository root:
 *   clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *     tests/fuzz/fuzz_config.c src/node/config_load.c src/node/secrets.c src/core/config.c \
 *     src/core/net.c \
 *     src/core/ids.c src/core/key.c src/core/error.c -lyaml -o fuzz_config
 *   ./fuzz_config -max_len=4096 -max_total_time=60
 *
 * Checks beyond "no crash": a failed load leaves an error message, and the
 * effective configuration printed as YAML loads back to the same text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "node/config_load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wm_config cfg, again;
	char err[512];
	char *y1, *y2;
	int r;

	if (wm_config_init(&cfg) < 0)
		return 0;
	err[0] = '\0';
	r = wm_config_load_yaml(&cfg, (const char *)data, size, "fuzz.yaml", err, sizeof(err));
	if (r < 0) {
		if (err[0] == '\0' && r != -12 /* ENOMEM */)
			abort();
		wm_config_free(&cfg);
		return 0;
	}
	(void)wm_config_validate(&cfg, err, sizeof(err));
	y1 = wm_config_to_yaml(&cfg);
	if (y1 && wm_config_init(&again) == 0) {
		if (wm_config_load_yaml(&again, y1, strlen(y1), "printed", err, sizeof(err)) < 0) {
			fprintf(stderr, "printed config does not load: %s\n%s", err, y1);
			abort();
		}
		y2 = wm_config_to_yaml(&again);
		if (y2 && strcmp(y1, y2) != 0) {
			fprintf(stderr, "round trip differs:\n%s---\n%s", y1, y2);
			abort();
		}
		free(y2);
		wm_config_free(&again);
	}
	free(y1);
	wm_config_free(&cfg);
	return 0;
}
