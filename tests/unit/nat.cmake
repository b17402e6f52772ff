# Unit tests of NAT traversal: the pure decisions (src/core/nat.c,
# src/core/mailbox.c), the STUN codec and TURN credentials (src/nat).
wm_unit_test(test_nat_policy SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_nat_policy.c LIBS wm_core)
# The per-peer path state machine (src/core/path.c).
wm_unit_test(test_path SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_path.c LIBS wm_core)
# The NAT layer's name lookups (src/node/nat_resolve.c), on a real loop.
wm_unit_test(test_nat_resolve SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_nat_resolve.c
             LIBS wm_node)
wm_unit_test(test_netcheck SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_netcheck.c LIBS wm_core)
wm_unit_test(test_mailbox SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_mailbox.c LIBS wm_core)
# libnice's own STUN library and zlib's crc32 are the independent references.
pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
wm_unit_test(test_stun SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_stun.c
             LIBS wm_stun PkgConfig::NICE PkgConfig::ZLIB)
wm_unit_test(test_turncred SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_turncred.c LIBS wm_stun)
# The relay between two loopback sockets; two ICE sides over loopback.
wm_unit_test(test_relay SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_relay.c LIBS wm_nat_ice)
wm_unit_test(test_ice_loopback SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_ice_loopback.c
             LIBS wm_nat_ice)
# Endpoint discovery against fake STUN servers (libnice's STUN library).
wm_unit_test(test_discover SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_discover.c LIBS wm_nat_ice)
# The Signaling service on a real store, over the project's gRPC client.
wm_unit_test(test_signaling SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_signaling.c
             LIBS wm_services wm_store wm_stun)
