# Unit tests of the pure core (src/core) and of config loading (src/node/config_load.c).
foreach(t net key base64 ids ipam peers rules grpccode)
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_${t}.c)
    wm_unit_test(test_${t} SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_${t}.c LIBS wm_core)
  endif()
endforeach()
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_config.c)
  wm_unit_test(test_config
    SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_config.c
            ${CMAKE_SOURCE_DIR}/src/node/config_load.c
            ${CMAKE_SOURCE_DIR}/src/node/secrets.c
    LIBS wm_core wm_util PkgConfig::YAML)
endif()
wm_unit_test(test_kick SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_kick.c LIBS wm_core)
wm_unit_test(test_mbb SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_mbb.c LIBS wm_core)
wm_unit_test(test_peer_inputs SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_peer_inputs.c LIBS wm_core)
wm_unit_test(test_pace SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_pace.c LIBS wm_core)
