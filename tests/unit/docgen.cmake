# The man pages, completion and example configuration written from the option
# tables (src/node/docgen.c for webmeshd, src/cli/docgen.c for wmctl).
wm_unit_test(test_docgen
  SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_docgen.c ${CMAKE_SOURCE_DIR}/src/node/docgen.c
          ${CMAKE_SOURCE_DIR}/src/cli/docgen.c
  LIBS wm_core PkgConfig::PROTOBUFC)
