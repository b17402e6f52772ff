# Unit tests of the libcrypto primitives (src/util/crypto.c).
wm_unit_test(test_crypto SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_crypto.c LIBS wm_crypto wm_core)
