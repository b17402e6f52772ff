# Unit tests of the embedded WireGuard's protocol core (src/wg/embedded).
foreach(t wg_prim wg_noise wg_kat wg_replay wg_allowedips wg_timers wg_ratelimit wg_offload)
  wm_unit_test(test_${t} SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_${t}.c LIBS wm_wgproto)
endforeach()
wm_unit_test(test_wg_uapi_srv SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_wg_uapi_srv.c LIBS wm_wg)
wm_unit_test(test_wg_device SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_wg_device.c LIBS wm_wg)
