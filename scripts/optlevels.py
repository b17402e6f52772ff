#!/usr/bin/python3
"""Fails when a file of a binary was not compiled at the optimization asked.

The default build compiles what an idle member maps with -Os and keeps -O2
where speed is measured (CMakeLists.txt, "Footprint", wm_speed_critical). The
compiler records its switches in each compile unit's DW_AT_producer; the last
-O there is the one that applied. This reads them with readelf, so a rename or
a merge that drops a file from the -O2 list, or a flag that overrides both,
shows here instead of in a benchmark.

usage: optlevels.py BINARY PATH=LEVEL...
  PATH is the end of a compile unit's source path (src/core/peers.c), LEVEL
  the -O it must have (O2, Os). Exits 1 when a unit has another level, or
  when no unit of BINARY ends with PATH.
"""
import re
import subprocess
import sys


def units(binary):
    """(source path, last -O switch) of every compile unit of BINARY."""
    out = subprocess.run(["readelf", "--debug-dump=info", binary], check=True,
                         capture_output=True, text=True).stdout
    found = []
    producer = None
    for line in out.splitlines():
        if "DW_AT_producer" in line:
            levels = re.findall(r"(?:^|\s)-(O[0-9sgz]?)(?=\s|$)", line)
            producer = levels[-1] if levels else "O0"
        elif "DW_AT_name" in line and producer is not None:
            found.append((line.rsplit(": ", 1)[-1].strip(), producer))
            producer = None
    return found


def main(argv):
    if len(argv) < 3 or any("=" not in a for a in argv[2:]):
        print(__doc__.strip().split("\n\n")[-1], file=sys.stderr)
        return 2
    cus = units(argv[1])
    bad = 0
    for want in argv[2:]:
        path, level = want.split("=", 1)
        got = [lv for name, lv in cus if name.endswith("/" + path)]
        if not got:
            print(f"{argv[1]}: no compile unit {path}")
            bad += 1
        for lv in got:
            ok = lv == level
            print(f"{path}: -{lv}{'' if ok else f' (wanted -{level})'}")
            bad += not ok
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
