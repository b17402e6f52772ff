"""Builds webmeshd and wmctl of an older commit for the rolling-upgrade test.

The commit is WM_UPGRADE_BASE (default: 30926c0, the main this feature was
branched from, the last build without command versions). Its source comes
from `git worktree add --detach` into a temp dir, removed again after the
build; the build goes to build/upgrade-base/<full hash>/ and is reused by
later runs (a finished build leaves a stamp file). Run as a script, it only
builds: `/usr/bin/python3 tests/integration/upgrade_base.py`.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BASE = "30926c0"
BUILD_TIMEOUT = 3600  # a cold build on a busy 2-core machine


class Unavailable(Exception):
    """git or the source of the base commit is not there: the test skips."""


def _git(*args, timeout=60):
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          timeout=timeout)


def base_commit():
    """The full hash of WM_UPGRADE_BASE, or raises Unavailable."""
    want = os.environ.get("WM_UPGRADE_BASE", DEFAULT_BASE)
    if shutil.which("git") is None:
        raise Unavailable("git is not installed")
    p = _git("rev-parse", "--verify", "--quiet", want + "^{commit}")
    if p.returncode != 0:
        raise Unavailable(f"commit {want} (WM_UPGRADE_BASE) is not in {ROOT}: "
                          "a source tree without git history")
    return p.stdout.strip()


def build_base(build_root, log=print):
    """Returns the build dir holding src/node/webmeshd and src/cli/wmctl of
    the base commit, building it first when no finished build is cached."""
    commit = base_commit()
    out = Path(build_root) / "upgrade-base" / commit
    stamp = out / "upgrade-base.stamp"
    if stamp.exists():
        return out, commit
    out.mkdir(parents=True, exist_ok=True)
    src = Path(tempfile.mkdtemp(prefix="wm-upgrade-src-"))
    shutil.rmtree(src)  # git worktree add wants to create it
    p = _git("worktree", "add", "--detach", str(src), commit)
    if p.returncode != 0:
        raise Unavailable(f"git worktree add {commit}: {p.stderr.strip()}")
    try:
        log(f"building base {commit[:12]} into {out}")
        for cmd in (["cmake", "-S", str(src), "-B", str(out), "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                     "-DWM_BUILD_TESTS=OFF"],
                    ["cmake", "--build", str(out), "-j2"]):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
            if r.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout[-3000:]}\n"
                                   f"{r.stderr[-3000:]}")
    finally:
        _git("worktree", "remove", "--force", str(src))
        shutil.rmtree(src, ignore_errors=True)
    for b in ("src/node/webmeshd", "src/cli/wmctl"):
        if not (out / b).exists():
            raise RuntimeError(f"the base build has no {b}")
    stamp.write_text(commit + "\n")
    return out, commit


if __name__ == "__main__":
    build = Path(os.environ.get("WM_BUILD_DIR", ROOT / "build"))
    d, c = build_base(build)
    print(f"{c} built in {d}")
    sys.exit(0)
