/* Fixture of test_file_cycles_found: a.c uses c.c, and c.c's own static wm_a
 * shadows a.c's, so there is no circle through c.c. A comment naming wm_a()
 * and a string "wm_a(" are not uses either. */
static int wm_a(int x)
{
	return x + 1;
}

int wm_c(int x)
{
	const char *s = "wm_a(";
	return wm_a(x) + (s[0] == 'w');
}
