#!/bin/bash
# `make demo-down`: removes a demo left behind: stops the webmeshd processes
# whose PIDs it recorded (and only while they still live in its namespaces),
# deletes the wmdemo- namespaces it recorded and its state under the run dir.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export WM_RUN_DIR=${WM_DEMO_DIR:-/tmp/webmesh-demo}
export WM_NS_PREFIX=wmdemo
export WM_BIN_DIR=${WM_BUILD_DIR:-$ROOT/build}
# shellcheck source=scripts/netns.sh
. "$ROOT/scripts/netns.sh"

[ "$(id -u)" -eq 0 ] || { echo "demo-down: must run as root" >&2; exit 1; }
if [ ! -d "$WM_RUN_DIR" ]; then
	echo "demo-down: no demo found in $WM_RUN_DIR"
	exit 0
fi
# the console forwarder of demo.sh, only while it is still that socat
if [ -f "$WM_RUN_DIR/console-forward.pid" ]; then
	pid=$(cat "$WM_RUN_DIR/console-forward.pid")
	if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "^socat TCP-LISTEN"; then
		kill "$pid" 2>/dev/null || true
	fi
fi
wm_teardown
rm -rf "$WM_RUN_DIR"
echo "demo-down: removed the demo in $WM_RUN_DIR"
