# The etcd storage provider (src/etcd): key layout, URLs and transactions
# without an etcd, and the driver the integration test runs against one.
wm_unit_test(test_etcd SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_etcd.c LIBS wm_etcd wm_store)
wm_unit_test(test_etcd_liveset SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_etcd_liveset.c LIBS wm_etcd)
add_executable(etcd_tool ${CMAKE_SOURCE_DIR}/tests/unit/etcd_tool.c)
target_link_libraries(etcd_tool PRIVATE wm_etcd)
add_executable(etcd_conform ${CMAKE_SOURCE_DIR}/tests/unit/etcd_conform.c)
target_link_libraries(etcd_conform PRIVATE wm_etcd wm_store)
# The client's retries against a mock of src/rpc (defined in the test, so
# client.c is linked here without wm_rpc).
wm_unit_test(test_etcd_client SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_etcd_client.c
  ${CMAKE_SOURCE_DIR}/src/etcd/client.c ${CMAKE_SOURCE_DIR}/src/etcd/layout.c
  ${CMAKE_SOURCE_DIR}/src/etcd/retry.c
  LIBS wm_core wm_etcd_proto PkgConfig::UV PkgConfig::OPENSSL)
# The store's calls when etcd's answers are lost or late, against a mock of
# the client (defined in the test, so the linker takes no client.o).
wm_unit_test(test_etcd_store_calls SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_etcd_store_calls.c
  LIBS wm_etcd wm_store)
