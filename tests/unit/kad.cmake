# Kademlia's pure parts (src/core/kad.c): codec against js-libp2p's bytes,
# distance, routing table, provider store, lookup state.
wm_unit_test(test_kad SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_kad.c LIBS wm_core)
