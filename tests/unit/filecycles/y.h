/* Fixture of test_file_cycles_found: closes the circle with x.h. */
#include "x.h"
