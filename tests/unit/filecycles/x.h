/* Fixture of test_file_cycles_found: x.h and y.h include each other. */
#include "y.h"
