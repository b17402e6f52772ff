# Unit tests of authentication and authorization: the pure parts in src/core
# (RBAC, ACLs and their nftables rules, LDAP filter escaping, htpasswd, key
# auth windows) and src/auth.
foreach(t ldapfilter htpasswd keyauth nodeproof rbac acl)
  wm_unit_test(test_${t} SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_${t}.c LIBS wm_core)
endforeach()
if(TARGET wm_auth)
  foreach(t auth_mtls auth_basic auth_keyauth auth_nodeproof)
    if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_${t}.c)
      wm_unit_test(test_${t} SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_${t}.c
                   LIBS wm_auth wm_core PkgConfig::UV PkgConfig::OPENSSL)
    endif()
  endforeach()
endif()
# The LDAP authenticator's client for the slapd integration test (with the
# LDAP module's code linked in; the daemon part of the test loads the module).
if(TARGET wm_auth)
  add_executable(ldap_probe ${CMAKE_SOURCE_DIR}/tests/integration/ldap_probe.c)
  target_link_libraries(ldap_probe PRIVATE wm_auth wm_auth_ldap_static)
  # The LDAP authenticator's guards and clear-text rule, without a directory.
  wm_unit_test(test_auth_ldap SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_auth_ldap.c
               LIBS wm_auth wm_auth_ldap_static wm_core)
endif()
# RBAC objects and network ACLs in the FSM (src/store/fsm_authz.c).
wm_unit_test(test_fsm_authz SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_fsm_authz.c LIBS wm_store)
# The authenticator chain, and the gate's answers for failing and busy
# authentication over TLS.
if(TARGET wm_auth)
  wm_unit_test(test_auth_chain SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_auth_chain.c
               LIBS wm_services wm_store wm_auth wm_rpc wm_core)
endif()
# The authorization gate's per-method decisions (src/services/gate.c).
wm_unit_test(test_gate SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_gate.c
             LIBS wm_services wm_store wm_auth wm_rpc)
# The gate's forwarding decisions and name spaces over a real store (issue 10).
wm_unit_test(test_gate_forwarding SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_gate_forwarding.c
             LIBS wm_services wm_store)
# Forwarding writes to the leader (src/services/leader.c): one hop, retries,
# leadership moving, with two live stores and a stand-in leader API.
wm_unit_test(test_leader_forward SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_leader_forward.c
             LIBS wm_services wm_store wm_rpc)
# The API's method table: one row per proto method, registered and
# authorized from the same row (src/services/methods.c).
wm_unit_test(test_methods SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_methods.c
             LIBS wm_services wm_store wm_auth wm_rpc)
