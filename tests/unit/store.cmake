# Unit tests of src/store: the FSM alone, raft fixture clusters, a real libuv store.
wm_unit_test(test_fsm SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_fsm.c LIBS wm_store)
