#!/bin/bash
# `make demo`: a 3-node webmesh on this machine. Node n1 bootstraps, n2 and n3
# join it; each node has its own network and mount namespace (see netns.sh).
# Shows the mesh from n1, pings n3 across it, then waits for Ctrl-C and
# removes every namespace and process it made. `make demo-down` does the same
# for a demo left behind (e.g. after a SIGKILL).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export WM_RUN_DIR=${WM_DEMO_DIR:-/tmp/webmesh-demo}
export WM_NS_PREFIX=wmdemo
export WM_BIN_DIR=${WM_BUILD_DIR:-$ROOT/build}
export WM_SUBNET=0
# shellcheck source=scripts/netns.sh
. "$ROOT/scripts/netns.sh"

[ "$(id -u)" -eq 0 ] || { echo "demo: must run as root (network namespaces)" >&2; exit 1; }
for b in "$(wm_webmeshd)" "$(wm_wmctl_bin)"; do
	[ -x "$b" ] || { echo "demo: $b not built; run: make demo" >&2; exit 1; }
done
if [ -e "$WM_RUN_DIR" ]; then
	if [ -f "$WM_RUN_DIR/pids" ]; then
		while read -r pid; do
			if wm_pid_is_ours "$pid"; then
				echo "demo: a demo is already running (webmeshd pid $pid);" \
					"stop it with Ctrl-C or make demo-down" >&2
				exit 1
			fi
		done <"$WM_RUN_DIR/pids"
	fi
	echo "demo: removing an earlier demo left in $WM_RUN_DIR"
	"$ROOT/scripts/demo-down.sh"
fi

done_cleanup=0
sleeper=
forwarder=
cleanup() {
	local rc=$?
	set +e
	[ $done_cleanup -eq 1 ] && return
	done_cleanup=1
	trap - INT TERM
	[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
	[ -n "$forwarder" ] && kill "$forwarder" 2>/dev/null
	echo
	echo "demo: stopping nodes and removing namespaces"
	wm_teardown
	rm -rf "$WM_RUN_DIR"
	echo "demo: cleaned up"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

section() { printf '\n=== %s\n' "$*"; }

section "starting 3 nodes (logs in $WM_RUN_DIR/n*.log)"
if ! wm_mesh_up 3; then
	echo "demo: the mesh did not come up" >&2
	exit 1
fi
for n in n1 n2 n3; do
	echo "$n: webmeshd pid $(wm_node_pid "$n"), underlay $(wm_node_ip "$n"), namespace $(wm_ns_name "$n")"
done

section "wmctl status (on n1)"
wm_wmctl n1 status
section "wmctl get nodes (on n1)"
wm_wmctl n1 get nodes

s3=$(wm_wmctl n3 status -o json)
v4=$(wm_json address_ipv4 <<<"$s3")
v6=$(wm_json address_ipv6 <<<"$s3")
v4=${v4%/*}
v6=${v6%/*}
pub3=$(wm_json public_key <<<"$s3")
# n1 learns about n3 through its peer stream; wait for the peer before pinging.
wm_wait 10 "n3 as a WireGuard peer of n1" wm_node_has_peer n1 "$pub3"
section "ping n1 -> n3 over the mesh ($v4, $v6)"
rc=0
wm_node_exec n1 ping -c 3 -W 2 "$v4" || rc=1
wm_node_exec n1 ping -6 -c 3 -W 2 "$v6" || rc=1
[ $rc -eq 0 ] || { echo "demo: ping across the mesh failed" >&2; exit 1; }

# The console: n1's HTTP listener is 127.0.0.1:8080 inside its namespace;
# socat makes the host's 127.0.0.1:PORT reach it (the page checks that its
# calls come from the origin it was served from, so the port stays the same
# unless WM_DEMO_CONSOLE_PORT says otherwise, and then the URL follows).
console_port=${WM_DEMO_CONSOLE_PORT:-8080}
console_url=
if command -v socat >/dev/null 2>&1; then
	socat "TCP-LISTEN:$console_port,bind=127.0.0.1,reuseaddr,fork" \
		"EXEC:ip netns exec $(wm_ns_name n1) socat STDIO TCP\:127.0.0.1\:8080" \
		2>>"$WM_RUN_DIR/console-forward.log" &
	forwarder=$!
	echo "$forwarder" >"$WM_RUN_DIR/console-forward.pid"
	sleep 0.3
	if ! kill -0 "$forwarder" 2>/dev/null; then
		echo "demo: 127.0.0.1:$console_port is taken on this host; set" \
			"WM_DEMO_CONSOLE_PORT to a free port for the console" >&2
		forwarder=
	elif url=$(wm_wmctl n1 console 2>/dev/null); then
		console_url=${url/:8080\//:$console_port/}
	fi
fi
section "the web console (n1)"
if [ -n "$console_url" ]; then
	echo "Open in a browser on this host (the token works once):"
	echo "  $console_url"
	echo "Another token: nsenter -t $(wm_node_pid n1) -m -n $(wm_wmctl_bin) console"
else
	echo "not reachable from the host (socat missing, or n1's HTTP listener is off)"
fi

section "the mesh is running"
cat <<EOT
Run commands inside a node with nsenter, e.g.:
  nsenter -t $(wm_node_pid n2) -m -n $(wm_wmctl_bin) status
  nsenter -t $(wm_node_pid n2) -m -n wg show webmesh0
  nsenter -t $(wm_node_pid n2) -m -n $(wm_wmctl_bin) get graph -o dot
Press Ctrl-C to stop the demo and remove everything.
EOT
while :; do
	sleep 3600 &
	sleeper=$!
	wait $sleeper || true
done
