# Unit tests of libp2p's protocol pieces (src/p2p): wire formats against
# values js-libp2p produced, yamux sessions talking to each other, Noise XX
# against the cacophony vector and the libp2p handshake payload.
wm_unit_test(test_p2p_wire SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_p2p_wire.c LIBS wm_p2p)
wm_unit_test(test_p2p_yamux SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_p2p_yamux.c LIBS wm_p2p)
wm_unit_test(test_p2p_noise SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_p2p_noise.c LIBS wm_p2p)
# Noise transport frames: split, open in place, refuse what breaks the channel.
wm_unit_test(test_p2p_noiseframe SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_p2p_noiseframe.c LIBS wm_p2p)
# The host on a real loop over loopback: connect, identify, ping, refusals.
wm_unit_test(test_p2p_host SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_p2p_host.c
             ${CMAKE_SOURCE_DIR}/tests/unit/looprun.c LIBS wm_p2p_host)
# Circuit relay v2 (issue 11): messages against js-libp2p's bytes, vouchers, reservation limits.
wm_unit_test(test_p2p_relay SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_p2p_relay.c LIBS wm_p2p)
# /webmesh/wg/1.0.0: WireGuard datagrams over a libp2p stream (src/core/p2pwg.c).
wm_unit_test(test_p2p_wg SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_p2p_wg.c LIBS wm_core)
# WireGuard over libp2p: two hosts' links carry datagrams, a stranger is refused.
wm_unit_test(test_p2p_wglink SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_p2p_wglink.c
             ${CMAKE_SOURCE_DIR}/tests/unit/looprun.c LIBS wm_p2p_host)
# DCUtR (issue 11): HolePunch messages against js-libp2p's bytes, punch targets.
wm_unit_test(test_p2p_dcutr SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_p2p_dcutr.c LIBS wm_core)
# host.h's one stream API: open while dialing, refusals and failed dials end
# in gone, identify reaches the watchers.
wm_unit_test(test_p2p_streams SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_p2p_streams.c
             ${CMAKE_SOURCE_DIR}/tests/unit/looprun.c LIBS wm_p2p_host)
# The relay, the stop side and the stream API on a real loop: three hosts over loopback.
wm_unit_test(test_p2p_relay_host SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_p2p_relay_host.c
             ${CMAKE_SOURCE_DIR}/tests/unit/looprun.c LIBS wm_p2p_host)
# Relays found through the DHT: the key relays provide, candidate slots, lookup times.
wm_unit_test(test_p2p_relayfind SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_p2p_relayfind.c LIBS wm_p2p_host)
# The relay client against hostile relays (that never answer RESERVE or
# CONNECT): bounded slots, timeouts, the next dial through another relay.
wm_unit_test(test_p2p_relay_hostile SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_p2p_relay_hostile.c
             ${CMAKE_SOURCE_DIR}/tests/unit/looprun.c LIBS wm_p2p_host)
set_tests_properties(test_p2p_relay_hostile PROPERTIES TIMEOUT 180)
