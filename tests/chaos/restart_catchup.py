#!/usr/bin/python3
"""How long a crashed voter takes to be back in Raft after it restarts, for
several outage lengths (issue 3: "a restarted node catches up from its own
data dir plus the leader"). A measurement, not a pass/fail test: prints one
line per outage with the seconds from restart until the node reports a
leader and has the leader's applied index, and what the leader's kernel
says about its Raft connections to the node just before the restart (a
half-closed connection the leader keeps writing to shows as CLOSE-WAIT with
a long retransmission timer).

    sudo WM_BUILD_DIR=$PWD/build /usr/bin/python3 tests/chaos/restart_catchup.py --outages 5,30,60
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

import test_ha  # noqa: E402
import wmtest  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--outages", default="5,30,60",
                    help="comma-separated outage lengths in seconds (default 5,30,60)")
    ap.add_argument("--limit", type=float, default=180,
                    help="give up on a node after this many seconds (default 180)")
    return ap.parse_args()


def raft_sockets(leader, ip):
    out = leader.exec("ss", "-tno", "dst", ip).stdout.splitlines()[1:]
    return "; ".join(" ".join(line.split()) for line in out) or "none"


def measure(outage, limit):
    with wmtest.topology() as topo:
        test_ha.build_servers(topo)
        leader = test_ha.wait_cluster(topo)
        victim = next(topo.nodes[v] for v in test_ha.VOTERS if v != leader.name)
        ip = wmtest.host_ip(test_ha.status(victim)["address_ipv4"])
        victim.crash()
        time.sleep(outage)  # the outage is what is being measured against
        sockets = raft_sockets(leader, ip)
        victim.restart()
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            try:
                s = test_ha.status(victim, timeout=5)
                want = test_ha.status(leader, timeout=5)["applied_index"]
                if s.get("leader_id") == leader.name and s.get("applied_index", 0) >= want:
                    return time.monotonic() - t0, sockets
            except AssertionError:
                pass  # not serving its socket yet
            time.sleep(0.2)
        return None, sockets


def main():
    args = parse_args()
    if os.geteuid() != 0:
        sys.exit("restart_catchup: needs root (network namespaces)")
    outages = [float(x) for x in args.outages.split(",") if x]
    print(f"restart_catchup: binaries from {wmtest.BUILD_DIR}", flush=True)
    for outage in outages:
        with open(os.devnull, "w") as null:
            saved, sys.stdout = sys.stdout, null  # the harness narrates its waits
            try:
                secs, sockets = measure(outage, args.limit)
            finally:
                sys.stdout = saved
        took = f"{secs:.1f}s" if secs is not None else f"not within {args.limit:.0f}s"
        print(f"outage {outage:.0f}s: back in Raft and caught up {took} after the restart; "
              f"leader's sockets to it before: {sockets}", flush=True)


if __name__ == "__main__":
    main()
