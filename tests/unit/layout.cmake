# Files form a tree, not circles (issue 15): no include or call cycle between
# the files of the directories named here (scripts/filecycles.py prints any it
# finds, with the functions that close it). Directories still holding a cycle
# (core, rpc, cli, services, wg, node) are reported by the script run on src
# alone; add each here once it is untangled.
add_test(NAME test_file_cycles
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/scripts/filecycles.py ${CMAKE_SOURCE_DIR}/src
                 ${CMAKE_SOURCE_DIR}/src/store ${CMAKE_SOURCE_DIR}/src/auth
                 ${CMAKE_SOURCE_DIR}/src/dns ${CMAKE_SOURCE_DIR}/src/nat
                 ${CMAKE_SOURCE_DIR}/src/sys ${CMAKE_SOURCE_DIR}/src/util)
set_tests_properties(test_file_cycles PROPERTIES TIMEOUT 60)
# The script finds a circle of includes and one of calls, names what closes
# each, and is not
# fooled by a static that shadows a global of the same name.
add_test(NAME test_file_cycles_found
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/scripts/filecycles.py
                 ${CMAKE_SOURCE_DIR}/tests/unit/filecycles)
set_tests_properties(test_file_cycles_found PROPERTIES TIMEOUT 60
  PASS_REGULAR_EXPRESSION "include cycle: [^\n]*/x\\.h -> [^\n]*/y\\.h \\(y\\.h\\) -> [^\n]*/x\\.h \\(x\\.h\\)\ncall cycle: [^\n]*/a\\.c -> [^\n]*/b\\.c \\(wm_b\\) -> [^\n]*/a\\.c \\(wm_a\\)"
  FAIL_REGULAR_EXPRESSION "c\\.c \\(;Traceback")
# The product is built without unwind tables (CMakeLists.txt, "Footprint"):
# that holds only while no thread of ours is ended by unwinding its stack.
add_test(NAME test_no_thread_unwinding
         COMMAND /bin/sh -c "! grep -rnE 'pthread_(cancel|exit)|g_thread_exit' src"
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_no_thread_unwinding PROPERTIES TIMEOUT 60)
# -Os for what a member maps, -O2 where speed is measured (CMakeLists.txt,
# "Footprint"): each compile unit's recorded switches say which applied.
if(WM_SIZE_OPTIMIZED)
  add_test(NAME test_speed_critical_levels
           COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/scripts/optlevels.py $<TARGET_FILE:webmeshd>
                   src/wg/embedded/device.c=O2 src/wg/embedded/offload.c=O2
                   src/wg/embedded/prim.c=O2 src/core/peers.c=O2
                   src/services/subscriptions.c=O2 src/services/peercache.c=O2
                   src/core/config.c=Os src/node/daemon.c=Os src/rpc/conn.c=Os)
  add_test(NAME test_speed_critical_levels_p2p
           COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/scripts/optlevels.py
                   $<TARGET_FILE:webmesh-p2p> src/p2p/wglink.c=O2 src/nat/relay.c=O2
                   src/core/p2pwg.c=O2
                   src/p2p/host.c=Os src/p2p/dht.c=Os)
  set_tests_properties(test_speed_critical_levels test_speed_critical_levels_p2p
                       PROPERTIES TIMEOUT 60)
endif()
