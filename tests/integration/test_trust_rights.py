"""Issue 10, rights (items 4-6 of "What users must be able to rely on"): routes
need rights, nobody grants more than they hold, and liveness is about oneself.

An mTLS mesh with RBAC: s1 bootstraps, s2 joins as a voter. The callers are
independent gRPC clients (auth_call.py, python3-grpcio) in a namespace of
their own, each with its own certificate. Every refusal is checked by its
status code and exact reason, and the state of every voter (Node.state_dump)
must be the same after it as before. The tests of the module build on each
other in file order.
"""

import base64
import json
import os
import time

import pytest

from test_auth import AUTH_CALL, creds, pki, start_joiner, wait_server
from wmtest import (agreed_dumps, API_PORT, PYTHON, WG_PORT, generate_protos, run, scaled,
                    topology, wait_until)

SERVERS = ("s1", "s2", "obs")
REMOVE_AFTER_S = 4  # the live mesh's server removes a node silent this long
NAMES = ("s1", "s2", "admin", "site-a", "exit", "evil", "binder", "editor", "grouper", "obs")
JOIN = "/webmesh.v1.Membership/Join"
ADMIN = "/webmesh.v1.Admin/"
DENIED = "PERMISSION_DENIED"


def call(t, name, method, request, req_type, resp_type="AdminWriteResponse", server=None,
         timeout=10, proof=None):
    """One unary call as name (its certificate) from the client namespace,
    with proof = (node ID, its WireGuard private key file) a node proof for
    the server; returns {"code", "details", "responses"}."""
    server = server or t.server
    args = [PYTHON, AUTH_CALL, "--gen", t.gen, "--target", f"{server.underlay}:{API_PORT}",
            "--ca", t.ca / "ca.crt", "--name", server.name, "--cert", t.ca / f"{name}.crt",
            "--key", t.ca / f"{name}.key", "--method", method, "--request", req_type,
            "--response", resp_type, "--json", json.dumps(request), "--timeout", timeout]
    if proof:
        args += ["--proof-id", proof[0], "--proof-key", proof[1], "--audience", server.name,
                 "--audience-pub", server.status()["public_key"]]
    p = run(["ip", "netns", "exec", t.client_ns, *[str(a) for a in args]],
            timeout=timeout + 30)
    return json.loads(p.stdout)


def ok(r):
    assert r["code"] == "OK", r
    return r["responses"][0] if r["responses"] else {}


def refused(r, reason, code=DENIED):
    assert (r["code"], r["details"]) == (code, reason), r


def subjects(name):
    # A certificate's CN may stand for a user or a node (the trust model
    # tells them apart by the proof): bind both so the tests hold either way.
    return [{"type": "user", "name": name}, {"type": "node", "name": name}]


def put_role(t, who, name, *rules):
    req = {"name": name,
           "rules": [{"verbs": v.split(","), "resources": r.split(","),
                      "resourceNames": n.split(",") if n else []}
                     for v, r, n in (rule.split(":") for rule in rules)]}
    return call(t, who, ADMIN + "PutRole", req, "Role")


def bind(t, who, name, role, subject):
    return call(t, who, ADMIN + "PutRoleBinding",
                {"name": name, "role": role, "subjects": subjects(subject)}, "RoleBinding")


def wg_key(t, node_id):
    """One WireGuard key pair per node (a node that comes back keeps its
    key): the private key's file, and the public key."""
    if not hasattr(t, "keys"):
        t.keys = {}
    if node_id not in t.keys:
        priv = t.dir / f"{node_id}-wg.key"
        priv.write_text(run(["wg", "genkey"]).stdout.strip() + "\n")
        priv.chmod(0o600)
        pub = run(["wg", "pubkey"], input=priv.read_text()).stdout.strip()
        t.keys[node_id] = (priv, pub)
    return t.keys[node_id]


def join(t, who, node_id, routes=(), as_voter=False, as_observer=False):
    # The joiner proves the key it registers (a registered node re-joins
    # only so), as webmeshd does.
    priv, pub = wg_key(t, node_id)
    req = {"id": node_id, "publicKey": pub,
           "listenPort": WG_PORT, "routes": list(routes), "asVoter": as_voter,
           "asObserver": as_observer}
    return call(t, who, JOIN, req, "JoinRequest", "JoinResponse", proof=(node_id, priv))


def put_route(t, who, node_id, *routes):
    return call(t, who, ADMIN + "PutRoute", {"nodeId": node_id, "routes": list(routes)},
                "PutRouteRequest")


def voters(t):
    return [t.nodes[n] for n in ("s1", "s2")]


def dumps(t):
    return list(agreed_dumps(voters(t)).values())


def settled(t):
    """The voters' dumps once s2 has applied what s1 has."""
    def same():
        d = dumps(t)
        return d[0] == d[1] and d
    return wait_until(same, 30, "s2 to catch up with s1")


class Unchanged:
    """with Unchanged(t): every voter's state is the same after the block."""

    def __init__(self, t):
        self.t = t

    def __enter__(self):
        self.before = settled(self.t)

    def __exit__(self, *exc):
        if exc[0] is None:
            assert dumps(self.t) == self.before


@pytest.fixture(scope="module")
def mesh():
    with topology() as t:
        ca = t.dir / "pki"
        pki(ca, "init")
        for n in NAMES:
            # servers need server certificates (serverAuth and clientAuth)
            pki(ca, "issue", n, *(["--server-cert"] if n in SERVERS else []))
        t.ca = ca
        t.gen = t.dir / "gen"
        t.gen.mkdir()
        generate_protos(t.gen)
        t.add_client("client")
        t.client_ns = f"{t.prefix}-client"
        s1 = t.add_node("s1")
        s1.start("--bootstrap", "--node-id", "s1", "--endpoints", f"{s1.underlay}:{WG_PORT}",
                 *creds(ca, "s1"), "--ca-file", str(ca / "ca.crt"), "--mtls",
                 "--bootstrap-voters", "s2")
        s1.wait_ready("leader")
        t.server = s1
        s2 = start_joiner(t, "s2", ca / "ca.crt", *creds(ca, "s2"), "--voter", "--mtls")
        wait_server(s2)
        # site-a may advertise its own routes; exit and evil are plain nodes
        ok(put_role(t, "admin", "site-a-routes", "put:routes:site-a"))
        ok(bind(t, "admin", "site-a-routes", "site-a-routes", "site-a"))
        ok(join(t, "site-a", "site-a", ["10.1.0.0/16"]))
        ok(join(t, "exit", "exit"))
        yield t


# ---- routes need rights ------------------------------------------------------

def test_join_with_routes_needs_put_routes(mesh):
    t = mesh
    with Unchanged(t):
        refused(join(t, "evil", "evil", ["10.9.0.0/16"]),
                "evil may not advertise routes: it needs put routes evil")
        refused(put_route(t, "evil", "site-a", "10.1.0.0/17"), "evil may not put routes site-a")
    assert "evil" not in t.server.nodes()
    # evil joins without routes, then may put routes behind itself only
    ok(join(t, "evil", "evil"))
    ok(put_role(t, "admin", "evil-routes", "put:routes:evil"))
    ok(bind(t, "admin", "evil-routes", "evil-routes", "evil"))


SPLIT = "route 10.1.0.0/17 overlaps 10.1.0.0/16 of node site-a: putting it needs put routes site-a"


def test_split_and_overlap_of_another_sites_route_are_refused(mesh):
    t = mesh
    with Unchanged(t):
        # the split: two halves take all of site-a's /16 by longest prefix
        refused(join(t, "evil", "evil", ["10.1.0.0/17", "10.1.128.0/17"]), SPLIT)
        refused(put_route(t, "evil", "evil", "10.1.0.0/17", "10.1.128.0/17"), SPLIT)
        # a wider route, and the same one
        refused(put_route(t, "evil", "evil", "10.0.0.0/8"),
                "route 10.0.0.0/8 overlaps 10.1.0.0/16 of node site-a: putting it needs "
                "put routes site-a")
        refused(join(t, "evil", "evil", ["10.1.0.0/16"]),
                "route 10.1.0.0/16 overlaps 10.1.0.0/16 of node site-a: putting it needs "
                "put routes site-a")
        # can-i says what is missing
        r = ok(call(t, "evil", ADMIN + "CanI",
                    {"verb": "put", "resource": "routes", "name": "site-a"}, "CanIRequest",
                    "CanIResponse"))
        assert not r.get("allowed") and r["reason"] == (
            "user:evil is bound to evil-routes (role binding evil-routes), and none of these "
            "roles has a rule for put routes site-a; it needs a role with the rule "
            "put:routes:site-a bound to it"), r
    # a route of its own that overlaps nobody's is fine
    ok(put_route(t, "evil", "evil", "10.77.0.0/16"))


UNDERCUT = ("route 0.0.0.0/1 overlaps 0.0.0.0/0 of node exit: putting it needs put "
            "routes exit")


def test_an_exit_nodes_default_route_cannot_be_undercut(mesh):
    t = mesh
    # the administrator makes exit an exit node (over site-a's /16: allowed)
    ok(put_route(t, "admin", "exit", "0.0.0.0/0", "::/0"))
    with Unchanged(t):
        refused(join(t, "evil", "evil", ["0.0.0.0/1", "128.0.0.0/1"]), UNDERCUT)
        refused(put_route(t, "evil", "evil", "0.0.0.0/1", "128.0.0.0/1"), UNDERCUT)
        refused(put_route(t, "evil", "evil", "::/1", "8000::/1"),
                "route ::/1 overlaps ::/0 of node exit: putting it needs put routes exit")
        # every new route is inside the /0 now: the exit node is asked first
        refused(put_route(t, "evil", "evil", "10.1.0.0/17"),
                "route 10.1.0.0/17 overlaps 0.0.0.0/0 of node exit: putting it needs put "
                "routes exit")
    # routes a node has already are no new claim: site-a comes back as it was
    ok(join(t, "site-a", "site-a", ["10.1.0.0/16"]))


def test_the_right_to_put_routes_over_others_allows_it(mesh):
    t = mesh
    ok(put_role(t, "admin", "evil-routes", "put:routes:evil,exit"))
    with Unchanged(t):
        refused(put_route(t, "evil", "evil", "10.1.0.0/17", "10.1.128.0/17"),
                "route 10.1.0.0/17 overlaps 10.1.0.0/16 of node site-a: putting it needs "
                "put routes site-a")
    ok(put_role(t, "admin", "evil-routes", "put:routes:evil,exit,site-a"))
    ok(put_route(t, "evil", "evil", "10.1.0.0/17", "10.1.128.0/17"))
    routes = t.server.wmctl_json("get", "routes")
    got = {n["node_id" if "node_id" in n else "nodeId"]: set(n["routes"])
           for n in routes.get("nodes", [])}
    assert {"10.1.0.0/17", "10.1.128.0/17"} <= got["evil"], routes


# ---- no self-elevation -------------------------------------------------------

def test_put_rolebindings_does_not_bind_oneself_to_mesh_admin(mesh):
    t = mesh
    ok(put_role(t, "admin", "binder", "put:rolebindings:"))
    ok(bind(t, "admin", "binder", "binder", "binder"))
    with Unchanged(t):
        refused(bind(t, "binder", "mine", "mesh-admin", "binder"),
                'binder may not bind role mesh-admin: it would grant "* *", which binder '
                "does not hold")
        refused(bind(t, "binder", "mine", "evil-routes", "binder"),
                'binder may not bind role evil-routes: it would grant "put routes evil", '
                "which binder does not hold")
    # what it holds, it may grant
    ok(bind(t, "binder", "binder-too", "binder", "evil"))


def test_a_role_cannot_be_edited_to_grant_more(mesh):
    t = mesh
    ok(put_role(t, "admin", "editor", "put:roles:editor", "put:edges:"))
    ok(bind(t, "admin", "editor", "editor", "editor"))
    with Unchanged(t):
        refused(put_role(t, "editor", "editor", "put:roles:editor", "put:edges:",
                         "put:nodes:"),
                'editor may not write role editor: it would grant "put nodes", which editor '
                "does not hold")
        refused(put_role(t, "editor", "editor", "*:*:"),
                'editor may not write role editor: it would grant "* *", which editor does '
                "not hold")
        # put edges on every edge is not "*" on edges
        refused(put_role(t, "editor", "editor", "put:roles:editor", "*:edges:"),
                'editor may not write role editor: it would grant "* edges", which editor '
                "does not hold")
    ok(put_role(t, "editor", "editor", "put:roles:editor", "put:edges:"))


def test_a_group_member_gets_what_the_group_is_bound_to(mesh):
    t = mesh
    ok(put_role(t, "admin", "grouper", "put:groups:"))
    ok(bind(t, "admin", "grouper", "grouper", "grouper"))
    ok(call(t, "admin", ADMIN + "PutRoleBinding",
            {"name": "ops", "role": "editor", "subjects": [{"type": "group", "name": "ops"}]},
            "RoleBinding"))
    with Unchanged(t):
        refused(call(t, "grouper", ADMIN + "PutGroup",
                     {"name": "ops", "subjects": subjects("grouper")}, "Group"),
                'grouper may not write group ops: its members would get "put roles editor" '
                "(role editor), which grouper does not hold")
    ok(call(t, "grouper", ADMIN + "PutGroup",
            {"name": "nobodys", "subjects": subjects("grouper")}, "Group"))


# ---- joining as an observer grants nothing else ---------------------------------

def test_an_observer_bound_joiner_gets_no_admin_right(mesh):
    t = mesh
    with Unchanged(t):
        # without the binding, neither role
        refused(join(t, "obs", "obs", as_observer=True), "obs may not join as an observer")
        refused(join(t, "obs", "obs", as_voter=True),
                "obs may not join as a voter (not bound to the voters role)")
    ok(put_role(t, "admin", "observers", "put:observers:"))
    ok(bind(t, "admin", "observers", "observers", "obs"))
    obs = start_joiner(t, "obs", t.ca / "ca.crt", *creds(t.ca, "obs"), "--observer", "--mtls")
    wait_until(lambda: t.server.nodes().get("obs", {}).get("raft_role") == "observer", 60,
               f"obs to be an observer\n{obs.log_tail()}")
    with Unchanged(t):
        refused(call(t, "obs", ADMIN + "PutEdge", {"source": "s1", "target": "obs",
                                                   "weight": 3}, "PutEdgeRequest"),
                "obs may not put edges")
        refused(put_role(t, "obs", "obs-admin", "*:*:"), "obs may not put roles obs-admin")
        refused(bind(t, "obs", "obs-admin", "mesh-admin", "obs"),
                "obs may not put rolebindings obs-admin")
        refused(put_route(t, "obs", "obs", "10.200.0.0/16"), "obs may not put routes obs")


# ---- liveness is about oneself --------------------------------------------------

@pytest.fixture(scope="module")
def live_mesh():
    with topology() as t:
        ca = t.dir / "pki"
        pki(ca, "init")
        pki(ca, "issue", "s1", "--server-cert")
        for n in ("victim", "liar"):
            pki(ca, "issue", n)
        t.ca = ca
        t.gen = t.dir / "gen"
        t.gen.mkdir()
        generate_protos(t.gen)
        t.add_client("client")
        t.client_ns = f"{t.prefix}-client"
        s1 = t.add_node("s1")
        s1.start("--bootstrap", "--node-id", "s1", "--endpoints", f"{s1.underlay}:{WG_PORT}",
                 *creds(ca, "s1"), "--ca-file", str(ca / "ca.crt"), "--mtls",
                 "--unreachable-after-ms", "1500",
                 "--remove-after-ms", str(int(REMOVE_AFTER_S * 1000)))
        s1.wait_ready("leader")
        t.server = s1
        yield t


HEARTBEAT = "/webmesh.v1.Membership/Heartbeat"


def test_a_node_heartbeats_only_as_itself_and_a_dead_node_still_goes(live_mesh):
    t = live_mesh
    s1 = t.server
    victim = start_joiner(t, "victim", t.ca / "ca.crt", *creds(t.ca, "victim"),
                          "--heartbeat-interval-ms", "300")
    victim.wait_ready("member")
    # liar is not a node of the mesh: a heartbeat as itself passes the gate
    # and makes no entry at the leader
    before = s1.state_dump()
    refused(call(t, "liar", HEARTBEAT, {"id": "victim"}, "HeartbeatRequest",
                 "HeartbeatResponse"), "liar may act only as itself, not as victim")
    refused(call(t, "liar", HEARTBEAT, {"id": "ghost"}, "HeartbeatRequest",
                 "HeartbeatResponse"), "liar may act only as itself, not as ghost")
    assert s1.state_dump() == before
    ok(call(t, "liar", HEARTBEAT, {"id": "liar"}, "HeartbeatRequest", "HeartbeatResponse"))
    # victim dies; liar keeps heartbeating for it, in vain: the leader removes it
    victim.crash()
    gone = False
    # Bounded in time by the server's remove-after (4 s from victim's last
    # heartbeat) with room, and in count: a call takes about 0.1 s here, so
    # the 40 calls this once allowed ended before the 4 s had passed (CI).
    deadline = time.monotonic() + scaled(REMOVE_AFTER_S) + 5
    for _ in range(400):
        refused(call(t, "liar", HEARTBEAT, {"id": "victim"}, "HeartbeatRequest",
                     "HeartbeatResponse"), "liar may act only as itself, not as victim")
        if "victim" not in s1.nodes():
            gone = True
            break
        if time.monotonic() > deadline:
            break
    assert gone, s1.log_tail()
