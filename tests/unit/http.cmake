# The HTTP listener (src/http): console sessions and metric rendering (pure),
# the server on a real loop over loopback, the console's files.
wm_unit_test(test_http_session SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_http_session.c
             LIBS wm_http_core)
wm_unit_test(test_http_metrics SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_http_metrics.c
             LIBS wm_http_core)
find_package(Threads REQUIRED)
wm_unit_test(test_http_server SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_http_server.c
             LIBS wm_http Threads::Threads)
# The daemon's component over it (src/node/httpd.c), on the null backend.
wm_unit_test(test_httpd SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_httpd.c
             LIBS wm_node wm_store_loader)
