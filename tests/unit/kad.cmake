# Kademlia's pure parts (src/core/kad.c): codec against js-libp2p's bytes,
# distance, routing table, provider store, lookup state.
wm_unit_test(test_kad SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_kad.c LIBS wm_core)
# The DHT on real hosts over loopback: bootstrap, provide, find.
wm_unit_test(test_p2p_dht SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_p2p_dht.c
             ${CMAKE_SOURCE_DIR}/tests/unit/looprun.c LIBS wm_p2p_host)
# The DHT tool of tests/integration/test_libp2p_dht.py (js-libp2p interop).
add_executable(p2p_dht_tool ${CMAKE_SOURCE_DIR}/tests/unit/p2p_dht_tool.c)
target_link_libraries(p2p_dht_tool PRIVATE wm_p2p_host)
# Rendezvous: the derivations, an impostor refused, the real server's pipe.
wm_unit_test(test_p2p_rendezvous SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_p2p_rendezvous.c
             ${CMAKE_SOURCE_DIR}/tests/unit/looprun.c LIBS wm_p2p_host)
