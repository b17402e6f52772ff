# shellcheck shell=bash
# Shared by scripts/demo.sh, scripts/demo-down.sh and bench/footprint: builds a
# mesh of webmeshd nodes on one machine, each in its own network and mount
# namespace, and tears down exactly what it built. Sourced, not executed.
#
# Layout: a "switch" namespace with bridge br0; node i gets namespace
# $WM_NS_PREFIX-<name> with eth0 = 10.250.$WM_SUBNET.i/24 on a veth to the
# bridge. No namespace gets a default route and the root namespace is not
# touched (no forwarding, no addresses), so mesh traffic cannot leave.
# Every node runs in a private mount namespace with tmpfs on /run/wireguard
# and /run/webmesh, so webmeshd and wireguard-go use their real defaults.
#
# Everything made is recorded under $WM_RUN_DIR (namespaces, PIDs) so that wm_teardown - in this shell or a later one (demo-down) -
# removes exactly that and ends only the processes it started.
#
# Callers set: WM_RUN_DIR, WM_NS_PREFIX, WM_BIN_DIR (holding src/node/webmeshd
# and src/cli/wmctl); optional WM_SUBNET (default 0), WM_TIMEOUT (seconds,
# default 60).

WM_PY=/usr/bin/python3
WM_SUBNET=${WM_SUBNET:-0}
WM_TIMEOUT=${WM_TIMEOUT:-60}

wm_log() { printf '%s\n' "$*" >&2; }
wm_die() { wm_log "error: $*"; return 1; }

wm_webmeshd() { printf '%s\n' "$WM_BIN_DIR/src/node/webmeshd"; }
wm_wmctl_bin() { printf '%s\n' "$WM_BIN_DIR/src/cli/wmctl"; }

# wm_json FIELD < json: prints one top-level field ("" if absent); booleans
# print as true/false.
wm_json() {
	"$WM_PY" -c '
import json, sys
try:
    v = json.load(sys.stdin).get(sys.argv[1], "")
except Exception:
    v = ""
print(json.dumps(v) if isinstance(v, bool) else v)' "$1"
}

# wm_wait SECONDS WHAT CMD...: polls CMD (quietly) every 0.2 s until it
# succeeds; fails naming WHAT after SECONDS.
wm_wait() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$(($(date +%s%N) / 1000000 + secs * 1000))
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ $(($(date +%s%N) / 1000000)) -ge $deadline ] && break
		sleep 0.2
	done
	wm_die "timed out after ${secs}s waiting for: $what"
}

wm_ns_name() { printf '%s-%s\n' "$WM_NS_PREFIX" "$1"; }
wm_node_dir() { printf '%s/%s\n' "$WM_RUN_DIR" "$1"; }

# Records a namespace before creating it, so a failure half-way is cleaned up.
wm_ns_add() {
	echo "$1" >>"$WM_RUN_DIR/namespaces" &&
		ip netns add "$1" &&
		ip -n "$1" link set lo up
}

# wm_mesh_init: the run dir, /run mount points and the switch namespace.
wm_mesh_init() {
	local d sw
	mkdir -p "$WM_RUN_DIR" && : >>"$WM_RUN_DIR/namespaces" || return 1
	# The per-node tmpfs needs mount points. They are the tools' standard
	# directories and stay: removing one would silently detach the tmpfs
	# of every node still running in another mount namespace (another
	# demo or test run).
	for d in /run/wireguard /run/webmesh; do
		[ -d "$d" ] || mkdir -p "$d" || return 1
	done
	sw=$(wm_ns_name sw)
	wm_ns_add "$sw" &&
		ip -n "$sw" link add br0 type bridge &&
		ip -n "$sw" link set br0 up
}

# wm_node_add NAME INDEX: namespace + veth to the bridge + underlay address.
wm_node_add() {
	local name=$1 idx=$2 ns sw
	ns=$(wm_ns_name "$name")
	sw=$(wm_ns_name sw)
	wm_ns_add "$ns" &&
		ip -n "$sw" link add "v$idx" type veth peer name eth0 netns "$ns" &&
		ip -n "$sw" link set "v$idx" master br0 up &&
		ip -n "$ns" addr add "10.250.$WM_SUBNET.$idx/24" dev eth0 &&
		ip -n "$ns" link set eth0 up &&
		mkdir -p "$(wm_node_dir "$name")/state" &&
		chmod 0700 "$(wm_node_dir "$name")/state" &&
		echo "10.250.$WM_SUBNET.$idx" >"$(wm_node_dir "$name")/underlay"
}

wm_node_ip() { cat "$(wm_node_dir "$1")/underlay"; }
wm_node_pid() { cat "$(wm_node_dir "$1")/pid" 2>/dev/null; }

# wm_node_start NAME ARGS...: runs webmeshd ARGS in the node's namespaces,
# in its own session (Ctrl-C on the terminal reaches only our trap, which
# then stops the nodes in order). sh execs webmeshd, so the PID we keep is
# webmeshd's own. Output goes to RUN_DIR/NAME.log.
wm_node_start() {
	local name=$1 ns dir pid i
	shift
	ns=$(wm_ns_name "$name")
	dir=$(wm_node_dir "$name")
	setsid ip netns exec "$ns" unshare -m --propagation private sh -c \
		'mount -t tmpfs -o mode=0755 none /run/wireguard &&
		 mount -t tmpfs -o mode=0755 none /run/webmesh && exec "$@"' \
		sh "$(wm_webmeshd)" --state-dir "$dir/state" "$@" \
		</dev/null >>"$WM_RUN_DIR/$name.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/pid"
	echo "$pid" >>"$WM_RUN_DIR/pids"
	# The exec chain (setsid, ip, unshare, sh) keeps the PID; wait until it
	# is webmeshd so that nsenter sees the final namespaces.
	for i in $(seq 100); do
		[ "$(cat /proc/$pid/comm 2>/dev/null)" = webmeshd ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	wm_die "webmeshd for $name did not start; log $WM_RUN_DIR/$name.log:"
	tail -n 30 "$WM_RUN_DIR/$name.log" >&2
	return 1
}

# wm_node_exec NAME CMD...: runs CMD in the node's network and mount namespaces.
wm_node_exec() {
	local name=$1 pid
	shift
	pid=$(wm_node_pid "$name") || return 1
	nsenter -t "$pid" -m -n "$@"
}

wm_wmctl() {
	local name=$1
	shift
	wm_node_exec "$name" "$(wm_wmctl_bin)" "$@"
}

# Readiness as the CLI reports it: the bootstrap node leads; a member has an
# IPv4 lease and a connected peer stream.
wm_node_is_leader() {
	local s
	s=$(wm_wmctl "$1" status -o json 2>/dev/null) || return 1
	[ "$(wm_json raft_state <<<"$s")" = leader ]
}
wm_node_is_member() {
	local s
	s=$(wm_wmctl "$1" status -o json 2>/dev/null) || return 1
	[ -n "$(wm_json address_ipv4 <<<"$s")" ] &&
		[ "$(wm_json subscribed <<<"$s")" = true ]
}
# wm_node_has_peer NAME PUBKEY: the key is a peer on the node's webmesh0.
wm_node_has_peer() {
	wm_node_exec "$1" wg show webmesh0 peers 2>/dev/null | grep -qxF -- "$2"
}
wm_node_alive() { kill -0 "$(wm_node_pid "$1")" 2>/dev/null; }

# The ready-to-paste join line the bootstrap node logs.
wm_fingerprint() {
	grep -oE -- '--join-fingerprint[ =]sha256:[0-9a-fA-F]{64}' "$WM_RUN_DIR/$1.log" |
		head -n1 | grep -oE 'sha256:[0-9a-fA-F]{64}'
}

# wm_wait_node NAME leader|member: waits for readiness, failing early (with
# the log) if the daemon exits.
wm_wait_node() {
	local name=$1 kind=$2 deadline
	deadline=$(($(date +%s) + WM_TIMEOUT))
	while [ "$(date +%s)" -lt $deadline ]; do
		if ! wm_node_alive "$name"; then
			wm_log "error: webmeshd on $name exited; last lines of $WM_RUN_DIR/$name.log:"
			tail -n 30 "$WM_RUN_DIR/$name.log" >&2
			return 1
		fi
		"wm_node_is_$kind" "$name" && return 0
		sleep 0.2
	done
	wm_log "error: $name not ready as $kind after ${WM_TIMEOUT}s; last lines of its log:"
	tail -n 30 "$WM_RUN_DIR/$name.log" >&2
	return 1
}

# wm_mesh_up N: node n1 bootstraps, n2..nN join it. Nodes advertise their
# underlay address explicitly so the demo does not depend on detection.
wm_mesh_up() {
	local n=$1 i fp
	wm_mesh_init || return 1
	for i in $(seq "$n"); do wm_node_add "n$i" "$i" || return 1; done
	wm_node_start n1 --bootstrap --node-id n1 \
		--endpoints "$(wm_node_ip n1):51820" || return 1
	wm_wait_node n1 leader || return 1
	wm_wait "$WM_TIMEOUT" "the join fingerprint in n1's log" wm_fingerprint n1 || return 1
	fp=$(wm_fingerprint n1)
	for i in $(seq 2 "$n"); do
		wm_node_start "n$i" --join "$(wm_node_ip n1):8443" --join-fingerprint "$fp" \
			--node-id "n$i" --endpoints "$(wm_node_ip "n$i"):51820" || return 1
	done
	for i in $(seq 2 "$n"); do wm_wait_node "n$i" member || return 1; done
}

# True if PID is alive and its network namespace is one we made: guards
# against PID reuse when a later shell (demo-down) reads old PID files.
wm_pid_is_ours() {
	local pid=$1 ns
	kill -0 "$pid" 2>/dev/null || return 1
	ns=$(ip netns identify "$pid" 2>/dev/null) || return 1
	[ -n "$ns" ] && grep -qxF -- "$ns" "$WM_RUN_DIR/namespaces"
}

# Sends SIG to the PIDs, waits up to SECS for them to exit.
wm_kill_wait() {
	local sig=$1 secs=$2 pid left i
	shift 2
	[ $# -eq 0 ] && return 0
	kill "-$sig" "$@" 2>/dev/null || true
	for i in $(seq $((secs * 10))); do
		left=0
		for pid in "$@"; do kill -0 "$pid" 2>/dev/null && left=1; done
		[ $left -eq 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# wm_teardown: stops our webmeshd processes (newest first, SIGTERM then
# SIGKILL), then anything still running in our namespaces (a wireguard-go
# orphaned by a SIGKILL) and deletes the namespaces. The tmpfs mounts live in
# the nodes' private mount namespaces and vanish with their last process.
wm_teardown() {
	local pids=() pid ns left
	[ -d "$WM_RUN_DIR" ] || return 0
	if [ -f "$WM_RUN_DIR/pids" ]; then
		for pid in $(tac "$WM_RUN_DIR/pids"); do
			wm_pid_is_ours "$pid" && pids+=("$pid")
		done
	fi
	if [ ${#pids[@]} -gt 0 ]; then
		wm_kill_wait TERM 15 "${pids[@]}" || wm_kill_wait KILL 5 "${pids[@]}" || true
	fi
	if [ -f "$WM_RUN_DIR/namespaces" ]; then
		for ns in $(tac "$WM_RUN_DIR/namespaces"); do
			ip netns list | grep -qE "^$ns( |\$)" || continue
			left=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
			if [ -n "$left" ]; then
				# shellcheck disable=SC2086
				wm_kill_wait TERM 5 $left || wm_kill_wait KILL 5 $left || true
			fi
			ip netns del "$ns" 2>/dev/null || wm_log "warning: could not delete namespace $ns"
		done
	fi
	rm -f "$WM_RUN_DIR/pids" "$WM_RUN_DIR/namespaces"
}
