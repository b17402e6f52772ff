# Unit tests of the application layer: protobuf round trips, JSON output,
# host:port parsing.
wm_unit_test(test_proto SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_proto.c
             LIBS wm_services wm_store wm_core wm_util wm_proto)
wm_unit_test(test_pbjson SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_pbjson.c
             LIBS wm_util wm_proto)
wm_unit_test(test_hostport SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_hostport.c
             LIBS wm_core)
