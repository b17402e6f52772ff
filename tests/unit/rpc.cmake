# Unit tests of the RPC layer (src/rpc).
wm_unit_test(test_rpc_frame SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_rpc_frame.c LIBS wm_rpc)
wm_unit_test(test_rpc_tls SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_rpc_tls.c LIBS wm_rpc)
wm_unit_test(test_rpc_loopback SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_rpc_loopback.c LIBS wm_rpc)
