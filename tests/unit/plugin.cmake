# The plugin ABI checks (src/plugin/load.c), with tiny .so fixtures: 1 good,
# 2 wrong ABI, 3 short table, 4 missing function, 5 no table.
if(TARGET wm_plugin)
  foreach(n 1 2 3 4 5)
    add_library(plugin_fixture_${n} MODULE ${CMAKE_SOURCE_DIR}/tests/unit/plugin_fixture.c)
    target_include_directories(plugin_fixture_${n} PRIVATE ${CMAKE_SOURCE_DIR}/include)
    target_compile_definitions(plugin_fixture_${n} PRIVATE FIXTURE=${n})
    set_target_properties(plugin_fixture_${n} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
                          LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/unit/plugin_fixtures)
  endforeach()
  wm_unit_test(test_plugin_abi SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_plugin_abi.c
               LIBS wm_plugin)
  target_compile_definitions(test_plugin_abi PRIVATE
                             WM_FIXTURE_DIR="${CMAKE_BINARY_DIR}/tests/unit/plugin_fixtures")
  add_dependencies(test_plugin_abi plugin_fixture_1 plugin_fixture_2 plugin_fixture_3
                   plugin_fixture_4 plugin_fixture_5)
endif()
# An auth plugin in the chain: accepted, refused, failing, silent (timeout).
find_package(Threads REQUIRED)
if(TARGET wm_plugin)
  add_library(plugin_auth_fixture MODULE ${CMAKE_SOURCE_DIR}/tests/unit/plugin_auth_fixture.c)
  target_include_directories(plugin_auth_fixture PRIVATE ${CMAKE_SOURCE_DIR}/include)
  target_link_libraries(plugin_auth_fixture PRIVATE Threads::Threads)
  set_target_properties(plugin_auth_fixture PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
                        LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/unit/plugin_fixtures)
  wm_unit_test(test_plugin_auth SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_plugin_auth.c
               LIBS wm_plugin wm_auth wm_core wm_util)
  target_compile_definitions(test_plugin_auth PRIVATE
    WM_AUTH_FIXTURE="${CMAKE_BINARY_DIR}/tests/unit/plugin_fixtures/plugin_auth_fixture.so")
  add_dependencies(test_plugin_auth plugin_auth_fixture)
endif()
# The watch queue's bound: a blocked plugin, overflow counted and reported.
if(TARGET wm_plugin)
  add_library(plugin_watch_fixture MODULE ${CMAKE_SOURCE_DIR}/tests/unit/plugin_watch_fixture.c)
  target_include_directories(plugin_watch_fixture PRIVATE ${CMAKE_SOURCE_DIR}/include)
  target_link_libraries(plugin_watch_fixture PRIVATE Threads::Threads)
  set_target_properties(plugin_watch_fixture PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
                        LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/unit/plugin_fixtures)
  wm_unit_test(test_plugin_watch SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_plugin_watch.c
               LIBS wm_plugin wm_auth wm_core wm_util ${CMAKE_DL_LIBS})
  target_compile_definitions(test_plugin_watch PRIVATE
    WM_WATCH_FIXTURE="${CMAKE_BINARY_DIR}/tests/unit/plugin_fixtures/plugin_watch_fixture.so")
  add_dependencies(test_plugin_watch plugin_watch_fixture)
endif()
# Out-of-process plugin settings (exec:, grpcs://) refused with the reason.
if(TARGET wm_plugin)
  wm_unit_test(test_plugin_remote SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_plugin_remote.c
               LIBS wm_plugin wm_auth wm_core wm_util)
endif()
# A storage plugin behind the store interface (src/plugin/storage.c): reads in
# text forms, a malformed item refused, results after the change feed.
if(TARGET wm_plugin)
  add_library(plugin_storage_fixture MODULE ${CMAKE_SOURCE_DIR}/tests/unit/plugin_storage_fixture.c)
  target_include_directories(plugin_storage_fixture PRIVATE ${CMAKE_SOURCE_DIR}/include)
  target_link_libraries(plugin_storage_fixture PRIVATE PkgConfig::UV)
  set_target_properties(plugin_storage_fixture PROPERTIES PREFIX "" OUTPUT_NAME webmesh-fixture
                        C_VISIBILITY_PRESET hidden
                        LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/unit/plugin_fixtures)
  wm_unit_test(test_plugin_storage SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_plugin_storage.c
               LIBS wm_store_loader wm_plugin wm_core wm_util wm_proto PkgConfig::UV)
  target_compile_definitions(test_plugin_storage PRIVATE
                             WM_FIXTURE_DIR="${CMAKE_BINARY_DIR}/tests/unit/plugin_fixtures")
  add_dependencies(test_plugin_storage plugin_storage_fixture)
endif()
