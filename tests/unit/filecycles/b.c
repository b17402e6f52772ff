/* Fixture of test_file_cycles_found: closes the circle with a.c. */
int wm_a(int x);

int wm_b(int x)
{
	return wm_a(x);
}
