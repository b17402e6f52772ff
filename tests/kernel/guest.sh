#!/bb/busybox sh
# /init of the VM `make test-kernel` boots (busybox sh). Runs the mesh of
# /scenario in network namespaces and records what the host checks: every
# node's `wmctl status`, `wmctl get nodes`, `wg show dump` and link type at
# each phase, and every ping. It only waits (bounded polls) and records; the
# verdicts are the host's (tests/kernel/test_kernel.py), so a step that fails
# here shows there as missing or wrong data. The records go to the host as a
# base64 tar on the second serial port, between BEGIN and END lines; then the
# VM powers off.
export PATH=/usr/sbin:/usr/bin:/bb
/bb/busybox --install -s /bb
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs -o mode=0755 run /run
mount -t tmpfs tmp /tmp
mkdir -p /run/netns /run/wireguard /run/webmesh /tmp/out /tmp/wm
# the kernel loads netfilter expressions on demand with this
echo /bb/modprobe >/proc/sys/kernel/modprobe
# kernel messages to the console only from warnings up
dmesg -n 4

# Debian's busybox runs its own applets before anything on PATH: iproute2's
# ip (netns, veth, bridge) is called by its path.
ip() { /usr/bin/ip "$@"; }

OUT=/tmp/out
SCALE=${wmscale:-1}
WM=/wm
WG_PORT=51820
API_PORT=8443

log() { echo "guest: $*"; }
# a line the host reads as a failed step
fail() {
	log "FAIL: $*"
	echo "$*" >>$OUT/failures
}

send_results() {
	set +e
	log "sending results"
	for n in $NODES; do
		cp /tmp/wm/"$n"/log $OUT/"$n".log 2>/dev/null
	done
	dmesg >$OUT/dmesg
	stty -F /dev/ttyS1 raw -echo 2>/dev/null
	{
		echo "BEGIN RESULTS"
		tar -c -C $OUT . | gzip | base64
		echo "END RESULTS"
	} >/dev/ttyS1
	sync
	poweroff -f
}
trap send_results EXIT

# wait_for SECONDS WHAT CMD...: polls CMD (every 0.5 s) until it succeeds;
# a timeout is recorded as a failure and returns 1.
wait_for() {
	secs=$(($1 * SCALE))
	what=$2
	shift 2
	tries=$((secs * 2))
	while [ $tries -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		tries=$((tries - 1))
		sleep 0.5
	done
	fail "timed out after ${secs}s: $what"
	return 1
}

# --- the scenario ----------------------------------------------------------
NODES=""
INDEX=0
while read -r name backend role rest; do
	case "$name" in '' | '#'*) continue ;; esac
	INDEX=$((INDEX + 1))
	mkdir -p /tmp/wm/$name/state
	chmod 0700 /tmp/wm/$name/state
	echo "$backend" >/tmp/wm/$name/backend
	echo "$role" >/tmp/wm/$name/role
	echo "10.250.0.$INDEX" >/tmp/wm/$name/underlay
	NODES="$NODES $name"
done </scenario
cp /scenario $OUT/scenario

# a child that has exited is a zombie until wait reaps it
exited() { [ ! -e /proc/$1/stat ] || [ "$(cut -d' ' -f3 /proc/$1/stat)" = Z ]; }
role() { cat /tmp/wm/$1/role; }
underlay() { cat /tmp/wm/$1/underlay; }
pid() { cat /tmp/wm/$1/pid; }
nodes_with() { for n in $NODES; do case " $* " in *" $(role $n) "*) echo $n ;; esac; done; }

# nsx NODE CMD...: CMD in the node's network and mount namespaces
nsx() {
	n=$1
	shift
	nsenter -t "$(pid $n)" -m -n "$@"
}
wmctl() {
	n=$1
	shift
	nsx $n $WM/wmctl "$@"
}

# --- the network: a bridge in namespace sw, a veth per node ------------------
log "kernel $(uname -r); loading wireguard"
modprobe wireguard || fail "modprobe wireguard failed"
cat /sys/module/wireguard/version >$OUT/wireguard-version 2>/dev/null ||
	fail "no /sys/module/wireguard after modprobe"
# /dev/net/tun (wireguard-go, the embedded backend) exists once tun is loaded
for m in tun veth bridge; do
	modprobe $m || fail "modprobe $m failed"
done
ip netns add sw
ip -n sw link set lo up
ip -n sw link add br0 type bridge
ip -n sw link set br0 up

add_netns() {
	n=$1
	ip netns add wm-$n
	ip -n wm-$n link set lo up
	ip -n sw link add v-$n type veth peer name eth0 netns wm-$n
	ip -n sw link set v-$n master br0 up
	ip -n wm-$n addr add "$(underlay $n)/24" dev eth0
	ip -n wm-$n link set eth0 up
}

# start NODE ARGS...: webmeshd in the node's namespace, with its own tmpfs on
# /run/wireguard and /run/webmesh (as tests/integration/wmtest.py does)
start() {
	n=$1
	shift
	backend=$(cat /tmp/wm/$n/backend)
	log "starting $n ($backend)"
	# by its path, not the function: $! must be the PID that becomes webmeshd
	/usr/bin/ip netns exec wm-$n unshare -m sh -c \
		'mount -t tmpfs -o mode=0755 none /run/wireguard &&
		 mount -t tmpfs -o mode=0755 none /run/webmesh && exec "$@"' \
		sh $WM/webmeshd --state-dir /tmp/wm/$n/state --node-id $n \
		--endpoints "$(underlay $n):$WG_PORT" --wireguard-backend "$backend" "$@" \
		>/tmp/wm/$n/log 2>&1 &
	echo $! >/tmp/wm/$n/pid
	# the namespaces are webmeshd's once sh has exec'ed it
	wait_for 10 "$n to exec webmeshd" sh -c "[ \"\$(cat /proc/$!/comm)\" = webmeshd ]"
}

is_leader() { wmctl $1 status -o json | grep -q '"raft_state": *"leader"'; }
is_member() {
	s=$(wmctl $1 status -o json) &&
		echo "$s" | grep -q '"subscribed": *true' &&
		echo "$s" | grep -q '"address_ipv4": *"[0-9]'
}
fingerprint() {
	sed -n 's/.*--join-fingerprint[ =]\(sha256:[0-9a-fA-F]\{64\}\).*/\1/p' \
		/tmp/wm/$1/log | head -n1
}
peer_count() { nsx $1 wg show webmesh0 peers | grep -c .; }
has_peers() { [ "$(peer_count $1)" = "$2" ]; }

join() {
	n=$1
	add_netns $n
	start $n --join "$(underlay $BOOT):$API_PORT" --join-fingerprint "$FP"
}

# every node in "$@" has all the others as peers
wait_full_mesh() {
	want=$(($# - 1))
	for n in "$@"; do
		wait_for 60 "$n to have $want WireGuard peers" has_peers $n $want || return 1
	done
}

# ping_pairs PHASE NODE...: every ordered pair, to each overlay address of the
# target; 1400-byte payloads so that the counters the diff check compares
# stand well above what a handshake and keepalives add
ping_pairs() {
	phase=$1
	shift
	for a in "$@"; do
		for b in "$@"; do
			[ $a = $b ] && continue
			for addr in $(ip -n wm-$b -o addr show dev webmesh0 scope global |
				awk '{ sub("/.*", "", $4); print $4 }'); do
				# the first packets may wait for the handshake
				if wait_for 20 "ping $a -> $b $addr" \
					ip netns exec wm-$a ping -c 1 -W 1 -s 1400 "$addr"; then
					ip netns exec wm-$a ping -c 3 -i 0.2 -W 1 -s 1400 "$addr" >/dev/null 2>&1
					echo "$phase $a $b $addr ok" >>$OUT/pings
				else
					echo "$phase $a $b $addr fail" >>$OUT/pings
				fi
			done
		done
	done
}

# snapshot PHASE NODE...: what each node's mesh and device say
snapshot() {
	phase=$1
	shift
	mkdir -p $OUT/$phase
	for n in "$@"; do
		d=$OUT/$phase/$n
		mkdir -p $d
		wmctl $n status -o json >$d/status.json 2>$d/status.err
		wmctl $n get nodes -o json >$d/nodes.json 2>$d/nodes.err
		# the device's private key stays in the VM
		nsx $n wg show webmesh0 dump 2>$d/wg.err |
			awk -F '\t' -v OFS='\t' 'NR == 1 { $1 = "(hidden)" } { print }' >$d/wg.dump
		ip -n wm-$n -d link show webmesh0 >$d/link 2>&1
	done
	log "snapshot $phase of $*"
}

# --- the kernel backend alone: big chunked writes and a diff (wg_probe.c) --
ip netns add probe
ip netns exec probe $WM/wg_probe >$OUT/wg_probe.out 2>&1
echo $? >$OUT/wg_probe.rc
ip netns del probe
log "wg_probe exited with $(cat $OUT/wg_probe.rc)"

# --- phase "mesh": the initial nodes -------------------------------------
BOOT=$(nodes_with bootstrap)
[ "$(echo $BOOT | wc -w)" = 1 ] || {
	fail "the scenario needs exactly one bootstrap node, has: $BOOT"
	exit 1
}
INITIAL=$(nodes_with bootstrap join)
LATE=$(nodes_with late)

add_netns $BOOT
start $BOOT --bootstrap
wait_for 120 "$BOOT to lead" is_leader $BOOT || exit 1
wait_for 20 "the join fingerprint in $BOOT's log" \
	sh -c "grep -q -- --join-fingerprint /tmp/wm/$BOOT/log" || exit 1
FP=$(fingerprint $BOOT)
for n in $INITIAL; do
	[ $n = $BOOT ] || join $n || exit 1
done
for n in $INITIAL; do
	[ $n = $BOOT ] || wait_for 120 "$n to become a member" is_member $n || exit 1
done
wait_full_mesh $INITIAL || exit 1
ping_pairs mesh $INITIAL
snapshot mesh $INITIAL

# --- phase "joined": the late nodes join ----------------------------------
if [ -n "$LATE" ]; then
	for n in $LATE; do join $n || exit 1; done
	for n in $LATE; do wait_for 120 "$n to become a member" is_member $n || exit 1; done
	wait_full_mesh $INITIAL $LATE || exit 1
	for n in $LATE; do
		for o in $INITIAL; do
			ping_pairs joined $n $o
		done
	done
	snapshot joined $INITIAL $LATE

	# --- phase "left": they leave again ---------------------------------------
	for n in $LATE; do
		wmctl $n leave >$OUT/leave-$n.out 2>&1 || fail "wmctl leave on $n failed"
	done
	for n in $LATE; do
		p=$(pid $n)
		wait_for 30 "$n to exit after wmctl leave" exited $p || exit 1
		wait $p
		echo $? >$OUT/exit-$n
	done
	wait_full_mesh $INITIAL || exit 1
	snapshot left $INITIAL
	ping_pairs left $INITIAL
fi

echo finished >$OUT/done
log "scenario done"
