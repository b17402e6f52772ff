# Unit tests of src/store: the FSM alone, raft fixture clusters, a real libuv store.
wm_unit_test(test_fsm SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_fsm.c LIBS wm_store)
wm_unit_test(test_store_fixture SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_store_fixture.c
             LIBS wm_store)
wm_unit_test(test_store SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_store.c LIBS wm_store)
wm_unit_test(test_raft_transport SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_raft_transport.c
             LIBS wm_store)
wm_unit_test(test_raft_hello SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_raft_hello.c LIBS wm_core)
wm_unit_test(test_raftguard SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_raftguard.c LIBS wm_core)
# The store as webmeshd has it: through the loader and webmesh-store.so
# (store_loader.c). test_store_module checks the table and the refusals of a
# module of another build, with two such modules built here; test_store_loaded
# runs the live store tests through the module.
foreach(bad ABI SHORT)
  string(TOLOWER ${bad} dir)
  add_library(test_store_module_bad_${dir} MODULE ${CMAKE_SOURCE_DIR}/tests/unit/store_module_bad.c)
  target_compile_definitions(test_store_module_bad_${dir} PRIVATE WM_BAD_${bad})
  target_include_directories(test_store_module_bad_${dir} PRIVATE
                             $<TARGET_PROPERTY:wm_proto,INTERFACE_INCLUDE_DIRECTORIES>
                             $<TARGET_PROPERTY:PkgConfig::UV,INTERFACE_INCLUDE_DIRECTORIES>)
  set_target_properties(test_store_module_bad_${dir} PROPERTIES PREFIX "" OUTPUT_NAME webmesh-store
                        LIBRARY_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/bad_store_${dir})
endforeach()
wm_unit_test(test_store_module SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_store_module.c
             LIBS wm_store_loader)
target_compile_definitions(test_store_module PRIVATE
  WM_TEST_MODULE_DIR="$<TARGET_FILE_DIR:webmesh-store>"
  WM_TEST_BAD_ABI_DIR="${CMAKE_CURRENT_BINARY_DIR}/bad_store_abi"
  WM_TEST_SHORT_DIR="${CMAKE_CURRENT_BINARY_DIR}/bad_store_short"
  WM_TEST_INSTALL_DIR="${CMAKE_INSTALL_FULL_LIBDIR}/webmesh")
add_dependencies(test_store_module webmesh-store test_store_module_bad_abi
                 test_store_module_bad_short)
wm_unit_test(test_store_loaded SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_store.c
             LIBS wm_store_loader wm_crypto)
add_dependencies(test_store_loaded webmesh-store)
set_tests_properties(test_store_loaded PROPERTIES
                     ENVIRONMENT "WEBMESHD_MODULE_DIR=$<TARGET_FILE_DIR:webmesh-store>")
# The store interface's conformance suite (store_conform.c): the same cases
# against each provider as webmeshd opens it. ctest runs the Raft store;
# tests/integration/test_etcd.py runs the same binary with --etcd.
wm_unit_test(store_conform SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/store_conform.c
             LIBS wm_store_loader wm_plugin wm_core wm_util wm_proto PkgConfig::UV)
target_compile_definitions(store_conform PRIVATE WM_MODULE_DIR="$<TARGET_FILE_DIR:webmesh-store>")
if(TARGET webmesh-etcd)
  add_dependencies(store_conform webmesh-store webmesh-etcd)
else()
  add_dependencies(store_conform webmesh-store)
endif()
