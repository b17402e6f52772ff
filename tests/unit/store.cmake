# Unit tests of src/store: the FSM alone, raft fixture clusters, a real libuv store.
wm_unit_test(test_fsm SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_fsm.c LIBS wm_store)
wm_unit_test(test_store_fixture SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_store_fixture.c
             LIBS wm_store)
wm_unit_test(test_store SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_store.c LIBS wm_store)
wm_unit_test(test_raft_transport SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_raft_transport.c
             LIBS wm_store)
wm_unit_test(test_raft_hello SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_raft_hello.c LIBS wm_core)
wm_unit_test(test_raftguard SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_raftguard.c LIBS wm_core)
