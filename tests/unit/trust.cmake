# Unit tests of issue 10's TLS, key-auth and mesh-settings checks.
if(TARGET wm_auth)
  wm_unit_test(test_tls_purpose SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_tls_purpose.c
               LIBS wm_auth wm_rpc wm_core PkgConfig::OPENSSL)
endif()
wm_unit_test(test_meshauth SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_meshauth.c LIBS wm_core)
wm_unit_test(test_fsm_deny SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_fsm_deny.c LIBS wm_store)
