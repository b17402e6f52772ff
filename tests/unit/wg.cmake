# Unit tests of the WireGuard device layer (src/core/wgconf.c, src/wg).
wm_unit_test(test_wgconf SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_wgconf.c LIBS wm_core)
foreach(t wg_uapi wg_netlink wg_null wg_e2e)
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_${t}.c)
    wm_unit_test(test_${t} SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_${t}.c LIBS wm_wg)
  endif()
endforeach()
