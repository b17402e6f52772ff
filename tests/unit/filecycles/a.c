/* Fixture of test_file_cycles_found: a.c and b.c call each other. */
int wm_b(int x);
int wm_c(int x);

int wm_a(int x)
{
	return x > 0 ? wm_b(x - 1) + wm_c(x) : 0;
}
