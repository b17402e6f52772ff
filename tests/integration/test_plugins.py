"""Plugins (issue 12): the example ipam plugin's addresses appear on the
nodes, the example watch plugin's file lists every join and leave in order,
and a plugin built for another ABI is refused at startup with the reason.

One mesh per module: node1 bootstraps with both example plugins (ipam on the
command line, watch from a YAML plugins: section); node2 and node3 join
through it, node3 ephemeral so that it leaves when stopped.
"""

import base64
import ipaddress
import json
import os
import signal

import pytest

from wmtest import BUILD_DIR, host_ip, topology, wait_until

EXAMPLES = BUILD_DIR / "examples" / "plugins"
FIXTURES = BUILD_DIR / "tests" / "unit" / "plugin_fixtures"
# node1 bootstraps, so its own lease is the store's (the network's first
# host); the table assigns the joiners' addresses, far from the next free.
TABLE = {"node2": "172.16.9.20", "node3": "172.16.7.7"}


@pytest.fixture(scope="module")
def mesh():
    with topology() as topo:
        d = topo.dir
        table = d / "ipam.table"
        table.write_text("# node address\n" +
                         "".join(f"{n} {a}\n" for n, a in TABLE.items()))
        events = d / "events.jsonl"
        conf = d / "node1.yaml"
        # A list given as a flag replaces the file's (as every list key
        # does): both plugins come from the file here; the flag form is
        # test_wrong_abi_refused_at_startup's.
        conf.write_text("plugins:\n"
                        "  log:\n"
                        f"    path: {EXAMPLES / 'watch_jsonl.so'}\n"
                        "    config:\n"
                        f"      file: {events}\n"
                        "  ipam:\n"
                        f"    path: {EXAMPLES / 'ipam_static.so'}\n"
                        "    config:\n"
                        f"      table: {table}\n")
        topo.bootstrap("node1", "--config", str(conf))
        topo.events = events
        yield topo


def read_events(path):
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_ipam_plugin_addresses_on_nodes(mesh):
    n1 = mesh.nodes["node1"]
    assert "plugins: log(watch 1.0),ipam(ipam 1.0)" in n1.log()
    st = n1.status()
    assert st["plugins"] == "log(watch 1.0),ipam(ipam 1.0)"
    assert int(st.get("plugin_watch_dropped", 0)) == 0
    n2 = mesh.join("node2")
    n3 = mesh.join("node3", ephemeral=True)
    for n in (n2, n3):
        st = n.status()
        assert host_ip(st["address_ipv4"]) == TABLE[n.name], st
        # and the whole mesh agrees
        rec = n1.nodes()[n.name]
        assert str(ipaddress.ip_interface(rec["private_ipv4"]).ip) == TABLE[n.name]


def test_ipam_plugin_refusal_fails_the_join(mesh):
    # node9 is not in the table: the plugin refuses, the join is UNAVAILABLE
    # and node9 never gets an address.
    n9 = mesh.join("node9", wait=False)
    n1 = mesh.nodes["node1"]
    wait_until(lambda: "node node9 is not in the table" in n1.log(), 30,
               "node1 to log the ipam plugin's refusal of node9")
    assert "node9" not in n1.nodes()
    n9.stop()


def test_watch_plugin_lists_joins_and_leaves_in_order(mesh):
    n3 = mesh.nodes["node3"]
    assert n3.stop() == 0
    n1 = mesh.nodes["node1"]
    wait_until(lambda: "node3" not in n1.nodes(), 30, "node3 to leave")

    def membership():
        evs = [e for e in read_events(mesh.events)
               if e["kind"] in ("node_joined", "node_left")]
        return [(e["kind"], e["node"]) for e in evs]
    # node1's own join is the first: the bootstrap adds it like any node
    want = [("node_joined", "node1"), ("node_joined", "node2"), ("node_joined", "node3"),
            ("node_left", "node3")]
    wait_until(lambda: membership() == want, 30,
               f"the watch file to list {want} (has {membership()})")
    evs = read_events(mesh.events)
    seqs = [e["seq"] for e in evs if "seq" in e]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    joined = {e["node"]: e["address"] for e in evs if e["kind"] == "node_joined"}
    assert joined == {"node1": "172.16.0.1", "node2": TABLE["node2"],
                      "node3": TABLE["node3"]}
    # node9, refused, never joined: it is no event
    assert not [e for e in evs if e["kind"] == "dropped"]
    assert mesh.events.stat().st_mode & 0o077 == 0


def test_wrong_abi_refused_at_startup():
    with topology() as topo:
        node = topo.add_node("bad")
        try:
            node.start("--bootstrap", "--node-id", "bad",
                       "--plugin", f"old={FIXTURES / 'plugin_fixture_2.so'}")
        except AssertionError:
            pass  # it may exit before start() sees it run
        rc = node.wait_exit(30)
        assert rc != 0
        assert "plugin old: built for plugin ABI 2, this webmeshd has ABI 1" in node.log()


def child_pids(pid):
    """The children of pid (a webmeshd we started)."""
    try:
        text = open(f"/proc/{pid}/task/{pid}/children").read()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


def plugin_pid(node):
    for c in child_pids(node.pid):
        try:
            if b"auth_bearer.py" in open(f"/proc/{c}/cmdline", "rb").read():
                return c
        except FileNotFoundError:
            pass
    return None


def test_exec_auth_plugin_fails_closed_and_recovers(pb_gen):
    """Joins authenticated only by the Python plugin, run by webmeshd: a valid
    token joins, a wrong one is refused, a hung plugin refuses (its timeout),
    a killed one is restarted and admits again."""
    with topology() as topo:
        tokens = topo.dir / "tokens"
        tokens.write_text("# token identity\ntok-5 node5\ntok-6 node6\ntok-7 node7\n")
        n1 = topo.bootstrap("node1", "--plugin",
                            f"bearer=exec:{EXAMPLES / 'auth_bearer.py'}",
                            "--plugin-config", f"bearer.tokens={tokens}",
                            "--plugin-config", "bearer.auth-timeout-ms=1500")
        assert n1.status()["auth_methods"] == "bearer"
        # the mesh records that its servers authenticate with a plugin (RBAC
        # on, and a server without one may not serve): it is not open
        assert "THIS MESH IS OPEN" not in n1.log()
        wait_until(lambda: "mesh authentication: plugin, RBAC on" in n1.log(), 10,
                   "node1 to log the mesh's authentication")

        def join(node_id, token):
            key = base64.b64encode(os.urandom(32)).decode()
            op = {"op": "unary", "method": "/webmesh.v1.Membership/Join",
                  "request_type": "webmesh.v1.JoinRequest",
                  "response_type": "webmesh.v1.JoinResponse",
                  "request": {"id": node_id, "publicKey": key, "listenPort": 51820},
                  "metadata": [["authorization", f"Bearer {token}"]], "timeout": 10}
            return topo.grpc(pb_gen, n1, [op])[0]

        # the plugin starts beside webmeshd: poll until it answers
        res = wait_until(lambda: (r := join("node5", "tok-5"))["code"] == "OK" and r, 30,
                         "the plugin to admit node5")
        assert res["response"].get("address_ipv4") or res["response"].get("addressIpv4"), res
        assert "node5" in n1.nodes()
        bad = join("node6", "wrong")
        assert bad["code"] == "UNAUTHENTICATED", bad
        assert "node6" not in n1.nodes()

        pid = plugin_pid(n1)
        assert pid, "the plugin's process is a child of webmeshd"
        os.kill(pid, signal.SIGSTOP)  # hung: no answer within auth-timeout-ms
        try:
            hung = join("node6", "tok-6")
            assert hung["code"] == "UNAVAILABLE", hung
            assert "node6" not in n1.nodes()
        finally:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: "plugin bearer: its process was killed by signal 9" in n1.log(), 30,
                   "webmeshd to log the plugin's death")
        wait_until(lambda: (p := plugin_pid(n1)) and p != pid, 30, "the plugin's restart")
        res = wait_until(lambda: (r := join("node6", "tok-6"))["code"] == "OK" and r, 30,
                         "the restarted plugin to admit node6")
        assert "node6" in n1.nodes()
