# Issue 16, upgrades without downtime: command versions (src/core/cmdver.c)
# and state migrations (src/store/migrate.c).
wm_unit_test(test_cmdver SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_cmdver.c LIBS wm_core wm_proto)
wm_unit_test(test_migrate SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_migrate.c LIBS wm_store)
target_compile_definitions(test_migrate PRIVATE
  WM_TEST_STATE_V5="${CMAKE_SOURCE_DIR}/tests/unit/state_v5.sql")
wm_unit_test(test_cmdver_fixture SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_cmdver_fixture.c
             LIBS wm_store)
wm_unit_test(test_store_upgrade SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_store_upgrade.c
             LIBS wm_store)
