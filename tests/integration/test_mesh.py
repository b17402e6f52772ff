"""End to end (issue 2): a mesh of real webmeshd + wireguard-go nodes in
network namespaces. One mesh per module, built by the fixture: node1
bootstraps, node2 and node3 join. The tests run in file order and each leaves
the mesh as it found it (nodes it adds are stopped), except that node4 joins
for good and the restart tests restart nodes in place.
"""

import base64
import concurrent.futures
import ipaddress
import json
import os
import signal
import time

import pytest

from wmtest import (API_PORT, IFACE, PROPAGATION_TIMEOUT, WG_PORT, WMCTL, host_ip, net, run,
                    topology, wait_until)


@pytest.fixture(scope="module")
def mesh():
    with topology() as topo:
        topo.bootstrap("node1")
        topo.join("node2")
        topo.join("node3")
        yield topo


def addresses(node):
    s = node.status()
    return s["address_ipv4"], s["address_ipv6"]


def expected_peers(node, others):
    """{public_key: {allowed ips}} node must have: every other node, at its
    /32 and /112 as the mesh state records them."""
    state = node.nodes()
    exp = {}
    for o in others:
        n = state[o.name]
        exp[n["public_key"]] = {net(n["private_ipv4"]), net(n["private_ipv6"])}
    return exp


def peers_match(node, others):
    """True if node's device has exactly the expected peers; raises with the
    difference otherwise (wait_until reports the last one)."""
    got = {k: v["allowed_ips"] for k, v in node.wg_peers().items()}
    exp = expected_peers(node, others)
    if got != exp:
        raise AssertionError(f"{node.name}: wg has {got}, expected {exp}")
    return True


# After a node restarts, its peers still hold a WireGuard session with its
# old wireguard-go and only start a new handshake once their packets go
# unanswered for REKEY_TIMEOUT + KEEPALIVE_TIMEOUT (5 + 10 s), unless the
# restarted node initiates one itself. Pings across a restarted node may
# therefore take that long to get through.
RESTART_PING_TIMEOUT = 30


def has_peer(node, key):
    return key in node.wg_peers()


def test_ping_every_pair(mesh):
    nodes = mesh.running_nodes()
    addrs = {n.name: [host_ip(a) for a in addresses(n)] for n in nodes}
    failed = []
    for a in nodes:
        for b in nodes:
            if a is b:
                continue
            for ip in addrs[b.name]:
                # the first packet may wait for the handshake
                try:
                    wait_until(lambda: a.ping(ip, count=1, wait=1), 15,
                               f"{a.name} -> {b.name} {ip}", interval=0.2)
                except AssertionError as e:
                    failed.append(str(e))
    assert not failed, "\n".join(failed)


def test_wg_show_lists_the_others(mesh):
    nodes = mesh.running_nodes()
    for n in nodes:
        others = [o for o in nodes if o is not n]
        wait_until(lambda: peers_match(n, others), 10,
                   f"wg show {IFACE} on {n.name} to list exactly the other nodes")
        peers = n.wg_peers()
        for o in others:
            key = o.status()["public_key"]
            assert peers[key]["endpoint"] == f"{o.underlay}:{WG_PORT}", (n.name, o.name)
        # the status the CLI shows agrees with the device
        st = n.status()
        assert {p["id"] for p in st.get("peers", [])} == {o.name for o in others}


def test_get_nodes_and_status_agree(mesh):
    n1 = mesh.nodes["node1"]
    state = n1.nodes()
    assert set(state) == {n.name for n in mesh.running_nodes()}
    for n in mesh.running_nodes():
        st = n.status()
        rec = state[n.name]
        assert st["id"] == n.name
        assert rec["public_key"] == st["public_key"]
        assert net(rec["private_ipv4"]) == net(st["address_ipv4"])
        # the node's /112 in the state; its own address within it in status
        assert net(rec["private_ipv6"]).endswith("/112")
        assert ip_in(st["address_ipv6"], rec["private_ipv6"])
        assert ip_in(st["address_ipv6"], st["network_ipv6"])
        assert ip_in(st["address_ipv4"], st["network_ipv4"])
        assert st["interface_name"] == IFACE
        assert f"{n.underlay}:{WG_PORT}" in rec["endpoints"]
    # the bootstrap node holds the first host of the mesh network
    st1 = n1.status()
    first = next(ipaddress.ip_network(st1["network_ipv4"]).hosts())
    assert host_ip(st1["address_ipv4"]) == str(first)
    assert state["node1"]["raft_role"] == "voter"


def ip_in(addr, network):
    return ipaddress.ip_interface(addr).ip in ipaddress.ip_network(network)


def test_key_file_is_private(mesh):
    for n in mesh.running_nodes():
        modes = {}
        for p in n.state_dir.rglob("*"):
            if p.is_file() and "key" in p.name:
                modes[p.name] = oct(p.stat().st_mode & 0o777)
        assert modes, f"no key file in {n.state_dir}"
        assert all(m == "0o600" for m in modes.values()), modes


def test_wmctl_graph_and_remote(mesh):
    n1 = mesh.nodes["node1"]
    names = {n.name for n in mesh.running_nodes()}
    g = n1.wmctl_json("get", "graph")
    assert {n["id"] for n in g["nodes"]} == names
    # a full mesh: one edge per pair of nodes
    pairs = {frozenset((e["source"], e["target"])) for e in g["edges"]}
    assert pairs == {frozenset((a, b)) for a in names for b in names if a < b}, g["edges"]
    dot = n1.wmctl("get", "graph", "-o", "dot").stdout
    assert dot.lstrip().startswith("graph") and dot.rstrip().endswith("}"), dot
    assert all(f'"{name}"' in dot for name in names), dot
    # wmctl against a remote node over TLS, pinned by fingerprint
    if not getattr(mesh, "client_ns", None):
        mesh.client_ns = mesh.add_client()
    remote = ["ip", "netns", "exec", mesh.client_ns, WMCTL, "--server",
              f"{n1.underlay}:{API_PORT}"]
    st = json.loads(run(remote + ["--fingerprint", mesh.fingerprint, "status", "-o",
                                  "json"]).stdout)
    assert st["id"] == "node1" and st["public_key"] == n1.status()["public_key"]
    nodes = json.loads(run(remote + ["--fingerprint", mesh.fingerprint, "get", "nodes",
                                     "-o", "json"]).stdout)
    assert {n["id"] for n in nodes["nodes"]} == names
    bad = run(remote + ["--fingerprint", "sha256:" + "0" * 64, "status"], check=False)
    assert bad.returncode != 0 and "certificate" in bad.stderr, bad


BAD_KEY_31 = base64.b64encode(os.urandom(31)).decode()


def join_req(topo, node_id, key=None):
    return {
        "op": "unary", "method": "/webmesh.v1.Membership/Join",
        "request_type": "webmesh.v1.JoinRequest",
        "request": {"id": node_id,
                    "public_key": (base64.b64encode(os.urandom(32)).decode()
                                   if key is None else key),
                    "endpoints": [f"10.250.{topo.subnet}.250:{WG_PORT}"],
                    "listen_port": WG_PORT},
        "response_type": "webmesh.v1.JoinResponse",
    }


def test_bad_input_changes_nothing(mesh, pb_gen):
    n1 = mesh.nodes["node1"]
    before = n1.nodes()
    peers_before = {n.name: n.wg_peers().keys() for n in mesh.running_nodes()}
    cases = [
        ("malformed key", join_req(mesh, "newnode", key="not-a-key"), "INVALID_ARGUMENT"),
        ("31-byte key", join_req(mesh, "newnode", key=BAD_KEY_31), "INVALID_ARGUMENT"),
        ("empty key", join_req(mesh, "newnode", key=""), "INVALID_ARGUMENT"),
        ("upper case id", join_req(mesh, "Bad_ID"), "INVALID_ARGUMENT"),
        ("id with a slash", join_req(mesh, "../etc"), "INVALID_ARGUMENT"),
        ("leading dash", join_req(mesh, "-node"), "INVALID_ARGUMENT"),
        ("64-char id", join_req(mesh, "a" * 64), "INVALID_ARGUMENT"),
        ("reserved id", join_req(mesh, "localhost"), "INVALID_ARGUMENT"),
        ("reserved prefix", join_req(mesh, "wm-node"), "INVALID_ARGUMENT"),
        # A registered node joins again only with its node proof (issue 10).
        ("duplicate id, other key", join_req(mesh, "node2"), "PERMISSION_DENIED"),
        ("bootstrap id, other key", join_req(mesh, "node1"), "PERMISSION_DENIED"),
    ]
    ops = [c[1] for c in cases]
    ops += [
        {"op": "garbage_tcp", "data_hex": os.urandom(4096).hex()},
        {"op": "garbage_tcp", "data_hex": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").hex()},
        {"op": "garbage_h2", "data_hex": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" +
                                          os.urandom(2048)).hex()},
        {"op": "garbage_h2", "data_hex": os.urandom(4096).hex()},
        {"op": "unary", "method": "/webmesh.v1.Node/GetStatus",
         "request_type": "webmesh.v1.GetStatusRequest",
         "response_type": "webmesh.v1.Status"},
    ]
    res = mesh.grpc(pb_gen, n1, ops)
    wrong = []
    for (what, _, code), r in zip(cases, res):
        if r.get("code") != code:
            wrong.append(f"{what}: expected {code}, got {r}")
        elif not r.get("details"):
            wrong.append(f"{what}: {code} without a message")
    garbage = res[len(cases):len(cases) + 4]
    for g in garbage:
        if not g.get("closed"):
            wrong.append(f"garbage left the connection open: {g}")
    if res[-1].get("code") != "OK":
        wrong.append(f"GetStatus after the bad input: {res[-1]}")
    assert not wrong, "\n".join(wrong)
    assert n1.running()
    assert n1.nodes() == before
    for n in mesh.running_nodes():
        assert n.wg_peers().keys() == peers_before[n.name]


def test_fourth_node_seen_by_all_within_2s(mesh):
    # node4 advertises the endpoints webmeshd detects itself.
    n4 = mesh.add_node("node4")
    n4.start(*mesh.join_args(n4, endpoints=False))
    st4 = wait_until(lambda: (s := n4.status()).get("address_ipv4") and s, 60,
                     "node4 to receive its lease")
    t0 = time.monotonic()
    key4 = st4["public_key"]
    others = [n for n in mesh.running_nodes() if n is not n4]
    wait_until(lambda: all(has_peer(o, key4) for o in others), PROPAGATION_TIMEOUT,
               "every node to have node4 as a WireGuard peer")
    elapsed = time.monotonic() - t0
    print(f"node4 seen by all {len(others)} nodes {elapsed:.2f}s after its lease")
    n4.wait_ready("member")
    wait_until(lambda: peers_match(n4, others), 10, "node4 to peer with all")
    for o in others:
        wait_until(lambda: peers_match(o, [x for x in mesh.running_nodes() if x is not o]),
                   10, f"{o.name}'s peers to include node4 with its addresses")
    rec = mesh.nodes["node1"].nodes()["node4"]
    assert f"{n4.underlay}:{WG_PORT}" in rec["endpoints"], rec["endpoints"]
    n1 = mesh.nodes["node1"]
    for ip in map(host_ip, addresses(n1)):
        wait_until(lambda: n4.ping(ip, wait=1), 15, f"node4 -> node1 {ip}", interval=0.2)
    for ip in map(host_ip, addresses(n4)):
        wait_until(lambda: n1.ping(ip, wait=1), 15, f"node1 -> node4 {ip}", interval=0.2)


def test_ephemeral_node_dropped_by_all_within_2s(mesh):
    n5 = mesh.join("node5", ephemeral=True)
    key5 = n5.status()["public_key"]
    others = [n for n in mesh.running_nodes() if n is not n5]
    wait_until(lambda: all(has_peer(o, key5) for o in others), 10,
               "every node to have node5 as a peer")
    n5.proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    wait_until(lambda: not any(has_peer(o, key5) for o in others), PROPAGATION_TIMEOUT,
               "every node to drop the ephemeral node5")
    print(f"node5 dropped by all {time.monotonic() - t0:.2f}s after SIGTERM")
    rc = n5.wait_exit()
    assert rc == 0, f"ephemeral node5 exited with {rc}\n{n5.log_tail()}"
    assert "node5" not in mesh.nodes["node1"].nodes()
    assert_down(n5)


def test_wmctl_leave(mesh):
    n6 = mesh.join("node6")
    key6 = n6.status()["public_key"]
    others = [n for n in mesh.running_nodes() if n is not n6]
    wait_until(lambda: all(has_peer(o, key6) for o in others), 10,
               "every node to have node6 as a peer")
    out = n6.wmctl("leave")
    rc = n6.wait_exit()
    assert rc == 0, f"node6 exited with {rc} after wmctl leave ({out.stdout})\n{n6.log_tail()}"
    wait_until(lambda: not any(has_peer(o, key6) for o in others), 10,
               "every node to drop node6")
    assert "node6" not in mesh.nodes["node1"].nodes()
    assert_down(n6)


def assert_down(node):
    """After a clean exit: no process left in the node's namespace (its
    wireguard-go is gone) and no webmesh0."""
    wait_until(lambda: not node.ns_pids(), 10, f"no process left in {node.ns}")
    p = node.netns_exec("ip", "link", "show", IFACE, check=False)
    assert p.returncode != 0, f"{IFACE} still exists on {node.name} after exit"


def test_member_restart_keeps_addresses(mesh):
    n2 = mesh.nodes["node2"]
    before = n2.status()
    rc = n2.stop()
    assert rc == 0, f"node2 exited with {rc}\n{n2.log_tail()}"
    assert_down(n2)
    n2.restart()
    after = n2.wait_ready("member")
    for k in ("public_key", "address_ipv4", "address_ipv6", "network_ipv4", "network_ipv6"):
        assert after[k] == before[k], (k, before[k], after[k])
    assert mesh.nodes["node1"].nodes()["node2"]["private_ipv4"] == before["address_ipv4"]
    for o in mesh.running_nodes():
        others = [x for x in mesh.running_nodes() if x is not o]
        wait_until(lambda: peers_match(o, others), 10, f"{o.name}'s peers")
    n1 = mesh.nodes["node1"]
    for ip in (host_ip(before["address_ipv4"]), host_ip(before["address_ipv6"])):
        wait_until(lambda: n1.ping(ip, wait=1), RESTART_PING_TIMEOUT, f"node1 -> node2 {ip}",
                   interval=0.2)


def test_bootstrap_restart_keeps_mesh(mesh):
    n1 = mesh.nodes["node1"]
    nodes_before = n1.nodes()
    before = n1.status()
    rc = n1.stop()
    assert rc == 0, f"node1 exited with {rc}\n{n1.log_tail()}"
    assert_down(n1)
    n1.restart()  # --bootstrap included: it must resume, not create a new mesh
    after = n1.wait_ready("leader")
    for k in ("public_key", "address_ipv4", "address_ipv6", "network_ipv4", "network_ipv6",
              "mesh_domain"):
        assert after.get(k) == before.get(k), (k, before.get(k), after.get(k))
    assert n1.nodes() == nodes_before
    members = [n for n in mesh.running_nodes() if n is not n1]
    # the members' peer streams reconnect to the restarted server
    for m in members:
        wait_until(m.is_member, 30, f"{m.name} to resubscribe", interval=0.2)
    for o in mesh.running_nodes():
        others = [x for x in mesh.running_nodes() if x is not o]
        wait_until(lambda: peers_match(o, others), 10, f"{o.name}'s peers")
    # in parallel: each member recovers from its stale session on its own
    checks = [(m, ip) for m in members
              for ip in (host_ip(before["address_ipv4"]), host_ip(before["address_ipv6"]))]
    with concurrent.futures.ThreadPoolExecutor(len(checks)) as pool:
        futs = [pool.submit(wait_until, lambda m=m, ip=ip: m.ping(ip, wait=1),
                            RESTART_PING_TIMEOUT, f"{m.name} -> node1 {ip}", 0.2)
                for m, ip in checks]
        errors = [str(f.exception()) for f in futs if f.exception()]
    assert not errors, "\n".join(errors)
