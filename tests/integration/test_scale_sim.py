"""bench/scale --sim on a small mesh: wm-memsim's sessions join three voters
beside member processes, every one of them on its first try (a Join forwarded
by a follower is answered once the follower lists the node, and the joins of
one batch are answered together), a change that touches every node reaches
every simulated member, and a change that touches two members puts nothing on
the other members' streams. The benchmark builds its own namespace and ends
every process it started; it exits 0 below the N its targets apply to."""

import json
import os
import subprocess
import sys

import wmtest

SCALE = wmtest.ROOT / "bench" / "scale"
MEMSIM = wmtest.BUILD_DIR / "wm-memsim"


def test_simulated_members_join_and_follow_changes(tmp_path):
    assert os.access(MEMSIM, os.X_OK), f"{MEMSIM} is not built (make build)"
    out = tmp_path / "scale.json"
    p = subprocess.run([sys.executable, str(SCALE), "--sim", "90", "--real", "6",
                        "--build", str(wmtest.BUILD_DIR), "--json", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "targets apply at N>=10000; not checked" in p.stdout, p.stdout
    assert "no target checked" in p.stdout, p.stdout
    r = json.loads(out.read_text())["results"][0]
    assert r["n"] == 90 and r["simulated_members"] == 81 and r["real_members"] == 6
    assert r["sim_retries"] == 0, p.stdout
    changes = {c["change"]: c for c in r["changes"]}
    for name in ("put route 10.99.0.0/16", "delete route 10.99.0.0/16"):
        c = changes[name]
        assert c["nodes"] == 89  # every node but the one it is about
        assert c["sim_touched"] == 81 and c["sim_stream_bytes"] > 81 * 100
    for name in ("put edge m0001 m0002", "delete edge m0001 m0002"):
        c = changes[name]
        assert c["sim_touched"] == 0 and c["sim_stream_bytes"] == 0
        assert 2 <= c["nodes_touched"] <= 5  # the two members and their servers
