# Logic of the daemon's components (src/node) that runs without the rest of
# the daemon: the start order and reverse close of the components
# (src/core/lifecycle.c), the ACL batch a node accepts (src/core/aclbatch.c),
# a member's choice of server (src/core/upstream.c)
# and the heartbeat, netconf and member components on a real loop.
foreach(t lifecycle upstream aclbatch)
  wm_unit_test(test_${t} SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_${t}.c LIBS wm_core)
endforeach()
wm_unit_test(test_heartbeat SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_heartbeat.c
             LIBS wm_node)
wm_unit_test(test_member SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_member.c
             LIBS wm_node)
wm_unit_test(test_netconf SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_netconf.c
             LIBS wm_node)
# The order of the daemon's components against what each uses.
wm_unit_test(test_daemon_table SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_daemon_table.c
             LIBS wm_node wm_store_loader)
