# Limits that hold before authentication (issue 10): source keys and the
# once-per-source log, authentication backoff (src/core), the auth chain's
# use of them (src/auth), and the RPC server's budgets and timeouts (src/rpc).
wm_unit_test(test_authlimit SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_authlimit.c LIBS wm_core)
wm_unit_test(test_rpc_limits SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_rpc_limits.c LIBS wm_rpc)
if(TARGET wm_auth)
  wm_unit_test(test_auth_limits SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_auth_limits.c
               LIBS wm_auth wm_core PkgConfig::UV PkgConfig::OPENSSL)
endif()
