/* Text tables with aligned columns for wmctl's default output. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wm_table {
	size_t n_cols, n_rows, cap;
	char **cells; /* n_rows * n_cols, row 0 = headers */
};

struct wm_table *wm_table_new(size_t n_cols, const char *const *headers)
{
	struct wm_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->n_cols = n_cols;
	wm_table_add(t, headers);
	return t;
}

void wm_table_add(struct wm_table *t, const char *const *cells)
{
	if (!t)
		return;
	if (t->n_rows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **nc = realloc(t->cells, cap * t->n_cols * sizeof(char *));
		if (!nc)
			return;
		t->cells = nc;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->n_cols; i++)
		t->cells[t->n_rows * t->n_cols + i] = strdup(cells[i] ? cells[i] : "");
	t->n_rows++;
}

void wm_table_print(struct wm_table *t)
{
	if (!t)
		return;
	size_t *w = calloc(t->n_cols, sizeof(size_t));
	if (!w)
		return;
	for (size_t r = 0; r < t->n_rows; r++)
		for (size_t c = 0; c < t->n_cols; c++) {
			const char *s = t->cells[r * t->n_cols + c];
			size_t n = s ? strlen(s) : 0;
			if (n > w[c])
				w[c] = n;
		}
	for (size_t r = 0; r < t->n_rows; r++) {
		for (size_t c = 0; c < t->n_cols; c++) {
			const char *s = t->cells[r * t->n_cols + c];
			if (c + 1 == t->n_cols)
				printf("%s\n", s ? s : "");
			else
				printf("%-*s  ", (int)w[c], s ? s : "");
		}
	}
	free(w);
}

void wm_table_free(struct wm_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}
