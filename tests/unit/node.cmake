# Logic of the daemon's components (src/node) that runs without the rest of
# the daemon: the start order and reverse close of the components
# (src/core/lifecycle.c) and the heartbeat component on a real loop.
wm_unit_test(test_lifecycle SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_lifecycle.c LIBS wm_core)
wm_unit_test(test_heartbeat SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_heartbeat.c
             LIBS wm_node)
