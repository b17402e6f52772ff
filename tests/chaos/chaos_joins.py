#!/usr/bin/python3
"""Safety under faults, in a loop (issue 3): each run builds a fresh mesh of
three voters and an observer in network namespaces, sends concurrent joins
through every server while the leader is SIGKILLed and another voter loses
its underlay link for a few seconds, restarts the killed leader, and checks
that every join answered OK is on every voter with the address its caller
was told, that no address is held twice and that every replica is identical
(test_ha.joins_under_faults; `make test` runs it once). Prints one line per
run and "held K/N" at the end; exits 0 only if every run held.

    sudo WM_BUILD_DIR=$PWD/build /usr/bin/python3 tests/chaos/chaos_joins.py --runs 10

Each run leaves its progress and report (with every failed call) in --out,
and its node logs if it did not hold.
"""

import argparse
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

import test_ha  # noqa: E402
import wmtest  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="how many runs (default 5)")
    ap.add_argument("--joins", type=int, default=30, help="joins per run (default 30)")
    ap.add_argument("--link-down", type=float, default=4.0,
                    help="seconds the second voter is cut off (default 4)")
    ap.add_argument("--seed", type=int, default=None,
                    help="seed for the choice of voter to cut off (default: random)")
    ap.add_argument("--out", default=None, help="where failed runs leave their evidence")
    ap.add_argument("--stop-on-failure", action="store_true")
    return ap.parse_args()


def _on_signal(signum, frame):
    wmtest._close_all()
    os._exit(128 + signum)


def one_run(i, args, gen, rng, out):
    """Returns (verdict, report or None, seconds)."""
    t0 = time.monotonic()
    report = None
    with wmtest.topology() as topo:
        try:
            test_ha.build_servers(topo)
        except AssertionError as e:
            (out / f"run{i}-setup.log").write_text(f"{e}\n\n{topo.logs(400)}")
            return "setup-failed", None, time.monotonic() - t0
        report = test_ha.joins_under_faults(topo, gen, n_joins=args.joins,
                                            link_down_s=args.link_down, rng=rng,
                                            tag=f"r{i}")
        (out / f"run{i}-report.json").write_text(json.dumps(report, indent=1))
        if report["problems"]:
            (out / f"run{i}-logs.txt").write_text(topo.logs(2000))
    if not report["problems"]:
        verdict = "held"
    elif not report["recovered"]:
        verdict = "no-recovery"
    else:
        verdict = "VIOLATED"
    return verdict, report, time.monotonic() - t0


def main():
    args = parse_args()
    if os.geteuid() != 0:
        sys.exit("chaos_joins: needs root (network namespaces)")
    for b in (wmtest.WEBMESHD, wmtest.WMCTL):
        if not os.access(b, os.X_OK):
            sys.exit(f"chaos_joins: {b} is not built (set WM_BUILD_DIR)")
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    out = Path(args.out or tempfile.mkdtemp(prefix="wmchaos-"))
    out.mkdir(parents=True, exist_ok=True)
    gen_dir = tempfile.TemporaryDirectory(prefix="wmchaos-pb-")
    gen = wmtest.generate_protos(Path(gen_dir.name))
    print(f"chaos_joins: {args.runs} runs, {args.joins} joins each, link down "
          f"{args.link_down}s, seed {seed}, binaries from {wmtest.BUILD_DIR}", flush=True)
    verdicts = []
    for i in range(1, args.runs + 1):
        # the harness narrates every wait; keep that out of the summary
        with open(out / f"run{i}-progress.txt", "w") as progress, \
                contextlib.redirect_stdout(progress):
            verdict, r, secs = one_run(i, args, gen, random.Random(seed + i), out)
        verdicts.append(verdict)
        what = test_ha.format_report(r) if r else "the mesh could not be built"
        print(f"run {i}/{args.runs}: {verdict} in {secs:.0f}s: {what}", flush=True)
        for p in (r or {}).get("problems", [])[:10]:
            print(f"    {p.splitlines()[0][:300]}", flush=True)
        if verdict != "held" and args.stop_on_failure:
            break
    gen_dir.cleanup()
    held = verdicts.count("held")
    counts = {v: verdicts.count(v) for v in sorted(set(verdicts))}
    print(f"held {held}/{len(verdicts)} {counts}; evidence of failed runs in {out}")
    sys.exit(0 if held == len(verdicts) == args.runs else 1)


if __name__ == "__main__":
    main()
