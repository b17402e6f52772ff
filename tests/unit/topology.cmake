# Unit tests of issue 4 (topology): FSM topology rules and routes, the peer
# cache of the services layer, route planning.
wm_unit_test(test_fsm_topology SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_fsm_topology.c
             LIBS wm_store)
wm_unit_test(test_routeplan SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_routeplan.c LIBS wm_core)
wm_unit_test(test_route_table SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_route_table.c
             LIBS wm_sys)
wm_unit_test(test_peercache SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_peercache.c
             LIBS wm_services wm_store)
# Overlapping routes of different nodes (issue 10): src/core/routeclaim.c.
wm_unit_test(test_routeclaim SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_routeclaim.c LIBS wm_core)
# The leader's liveness table (issue 10): src/core/livetable.c.
wm_unit_test(test_livetable SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_livetable.c LIBS wm_core)
