# Unit tests of the RPC layer (src/rpc).
wm_unit_test(test_rpc_frame SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_rpc_frame.c LIBS wm_rpc)
wm_unit_test(test_rpc_tls SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_rpc_tls.c LIBS wm_rpc)
wm_unit_test(test_rpc_loopback SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_rpc_loopback.c LIBS wm_rpc)

# Interoperability: an echo server driven by python3-grpcio (and curl), run
# only where the independent gRPC stack is installed.
add_executable(rpc_echo_server ${CMAKE_SOURCE_DIR}/tests/unit/rpc_echo_server.c)
target_link_libraries(rpc_echo_server PRIVATE wm_rpc)
execute_process(COMMAND /usr/bin/python3 -c "import grpc"
                RESULT_VARIABLE WM_HAVE_PY_GRPC OUTPUT_QUIET ERROR_QUIET)
if(WM_HAVE_PY_GRPC EQUAL 0)
  add_test(NAME test_rpc_interop
           COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/unit/test_rpc_interop.py
                   $<TARGET_FILE:rpc_echo_server>)
  set_tests_properties(test_rpc_interop PROPERTIES TIMEOUT 300)
endif()
# gRPC-web: framing, base64 text mode and the adapter for other transports.
wm_unit_test(test_grpcweb SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_grpcweb.c LIBS wm_rpc)
