"""pytest wiring for the end-to-end suite: preconditions, generated protobuf
modules, node logs attached to every failure, cleanup on SIGTERM."""

import os
import signal
import sys

import pytest

import wmtest


def _on_term(signum, frame):
    # atexit does not run on a signal death: clean up, then exit.
    wmtest._close_all()
    os._exit(128 + signum)


signal.signal(signal.SIGTERM, _on_term)
signal.signal(signal.SIGHUP, _on_term)


@pytest.fixture(scope="session", autouse=True)
def preconditions():
    if os.geteuid() != 0:
        pytest.fail("the integration tests need root (network namespaces)")
    for b in (wmtest.WEBMESHD, wmtest.WMCTL):
        if not os.access(b, os.X_OK):
            pytest.fail(f"{b} is not built (make build, or set WM_BUILD_DIR)")
    yield
    # leak check: every test cleaned up after itself
    left = [t.prefix for t in wmtest.live_topologies()]
    ns = [line.split()[0] for line in
          wmtest.run(["ip", "netns", "list"]).stdout.splitlines()
          if line.startswith(wmtest.RUN_ID + "-")]
    assert not left and not ns, f"left behind: topologies {left}, namespaces {ns}"


@pytest.fixture(scope="session")
def pb_gen(tmp_path_factory):
    """Directory with webmesh/v1/*_pb2.py generated at test time."""
    return wmtest.generate_protos(tmp_path_factory.mktemp("pbgen"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for t in wmtest.live_topologies():
            if not t.closed:
                rep.sections.append((f"node state ({t.prefix})", t.diagnostics()))
            rep.sections.append((f"webmeshd logs ({t.prefix})", t.logs()))


def pytest_report_header(config):
    return [f"webmesh: binaries from {wmtest.BUILD_DIR}, run id {wmtest.RUN_ID}, "
            f"python {sys.executable}"]
