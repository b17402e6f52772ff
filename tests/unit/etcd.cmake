# The etcd storage provider (src/etcd): key layout, URLs and transactions
# without an etcd, and the driver the integration test runs against one.
wm_unit_test(test_etcd SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_etcd.c LIBS wm_etcd wm_store)
wm_unit_test(test_etcd_liveset SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_etcd_liveset.c LIBS wm_etcd)
add_executable(etcd_tool ${CMAKE_SOURCE_DIR}/tests/unit/etcd_tool.c)
target_link_libraries(etcd_tool PRIVATE wm_etcd)
add_executable(etcd_conform ${CMAKE_SOURCE_DIR}/tests/unit/etcd_conform.c)
target_link_libraries(etcd_conform PRIVATE wm_etcd wm_store)
