# MeshDNS: DNS-name syntax (src/core/dnsname.c), the codec and answers (src/dns).
wm_unit_test(test_dns SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_dns.c LIBS wm_dns_core wm_core)
wm_unit_test(test_meshdns SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_meshdns.c
             LIBS wm_dns wm_dns_core wm_core PkgConfig::UV)
wm_unit_test(test_resolver SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_resolver.c
             LIBS wm_dns wm_dns_core wm_core PkgConfig::UV)
