# Tests of host networking (src/sys); they run in a private network namespace
# and skip when the test may not create one.
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_sys.c)
  wm_unit_test(test_sys SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_sys.c LIBS wm_sys)
endif()
