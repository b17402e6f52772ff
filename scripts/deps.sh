#!/bin/bash
# Installs the Debian packages webmesh needs to build, test and run the demo.
# Idempotent and silent when everything is present: dpkg-query decides, and
# apt-get runs (once update, once install) only for what is missing.
set -euo pipefail

PKGS=(
	# build
	build-essential cmake pkg-config clang
	# make format-check (part of make test): .clang-format's style
	clang-format
	# libraries
	libuv1-dev libraft-dev libnghttp2-dev libssl-dev protobuf-c-compiler
	libprotobuf-c-dev libsqlite3-dev libmnl-dev libyaml-dev
	libcmocka-dev libnftables-dev libldap-dev libcrypt-dev
	# the HTTP listener (metrics, health, console): nodejs' http_parser 2.9.4
	libhttp-parser-dev
	# NAT traversal: ICE/TURN (libnice on GLib); zlib's crc32 checks STUN's in a test
	libnice-dev libglib2.0-dev zlib1g-dev
	# fuzzing (make fuzz): clang's libFuzzer runtime
	libclang-rt-14-dev
	# runtime: userspace WireGuard, wg, namespaces
	wireguard-go wireguard-tools iproute2 iputils-ping procps util-linux
	# integration tests: pytest, an independent gRPC client, python stubs
	python3 python3-pytest python3-grpcio python3-protobuf protobuf-compiler
	# the tests' own node proofs (X25519, HKDF), independent of our C code
	python3-cryptography
	# the tests' certificates (openssl req/x509/ca): auth, remote plugins
	openssl
	# inspecting the state database
	sqlite3
	# promtool checks a live node's /metrics (tests/integration/test_metrics.py)
	prometheus
	# authentication tests: a real LDAP server, nftables for ACLs
	slapd ldap-utils nftables
	# the etcd storage provider's tests: real etcd members and etcdctl
	etcd-server etcd-client
	# NAT traversal tests and benchmark: a TURN/STUN server, NAT routers
	# (nftables), overlay throughput
	coturn iperf3
	# libp2p interop tests: js-libp2p (tests/p2p, npm ci from its lockfile) on Node
	nodejs
	# the Debian package (make deb) and its checks: lintian, the unit with
	# systemd-analyze, the man pages with man -l
	debhelper dpkg-dev fakeroot lintian systemd man-db groff-base
	# MeshDNS: dig in the tests, dnsperf and dnsmasq in bench/meshdns
	bind9-dnsutils dnsperf dnsmasq-base
	# make test-kernel: a VM (TCG) whose initramfs is built from busybox,
	# kernel modules (depmod) and a cpio archive
	qemu-system-x86 busybox-static kmod cpio
	# the web console: npm builds it from console/package-lock.json; the
	# browser tests drive Debian's chromium headless (playwright-core)
	nodejs chromium
	# make demo: the host's 127.0.0.1 reaches the first node's console
	# (its HTTP listener is on loopback inside the node's namespace)
	socat
)
# Debian's npm, unless the installed nodejs brings its own (a nodejs build
# that bundles npm conflicts with Debian's npm package).
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

# make test-kernel boots Debian's kernel, which has the WireGuard module. Its
# package is only downloaded into apt's cache, never installed: installing it
# pulls in initramfs-tools and udev (an upgrade of systemd in a container) and
# its hooks build an initrd for /boot that nothing would boot.
# tests/kernel/mkinitramfs.sh unpacks it from there.
archives=${WM_APT_ARCHIVES:-/var/cache/apt/archives}
kernel_deb() {
	local f
	for f in "$archives"/linux-image-[0-9]*-amd64_*_amd64.deb; do
		[ -f "$f" ] && return 0
	done
	return 1
}
fetch_kernel() {
	kernel_deb && return 0
	# only root can run make test-kernel (nor write apt's cache); it says
	# what is missing itself
	[ "$(id -u)" -eq 0 ] || return 0
	# the versioned package the linux-image-amd64 metapackage points to
	local pkg
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	if [ -z "$pkg" ]; then
		apt-get update -qq
		pkg=$(apt-cache depends linux-image-amd64 |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	fi
	[ -n "$pkg" ] || { echo "deps: apt knows no linux-image-amd64" >&2; return 1; }
	echo "deps: downloading $pkg into $archives (not installed)"
	# apt's sandbox user cannot write there: apt says so and downloads as root
	(cd "$archives" && { apt-get download -qq "$pkg" 2>&1 |
		grep -v 'Download is performed unsandboxed' || true; })
	kernel_deb || { echo "deps: apt-get download $pkg failed" >&2; return 1; }
}

# npm: Debian packages it apart from nodejs; NodeSource's nodejs has it
# inside (and conflicts with Debian's npm).
command -v npm >/dev/null || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done

# systemd-resolved for tests/integration/test_meshdns_resolved.py: downloaded
# into apt's cache, never installed. Its postinst would turn this host's
# /etc/resolv.conf into a symlink to resolved's stub and start the service;
# the test unpacks the .deb (dpkg-deb -x) into the build dir and runs it in a
# namespace of its own. Its version is the installed systemd's (it depends
# on exactly that libsystemd-shared).
sysv=$(dpkg-query -W -f='${Version}' systemd 2>/dev/null || true)
need_resolved=
if [ -n "$sysv" ] && ! ls /var/cache/apt/archives/systemd-resolved_"${sysv//:/%3a}"_*.deb \
	>/dev/null 2>&1; then
	need_resolved=1
fi
[ ${#missing[@]} -eq 0 ] && [ -z "$need_resolved" ] && { fetch_kernel; exit; }

if [ "$(id -u)" -ne 0 ] && [ ${#missing[@]} -eq 0 ]; then
	echo "deps: as root, scripts/deps.sh downloads systemd-resolved for test_meshdns_resolved.py" >&2
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages: ${missing[*]}" >&2
	echo "deps: run as root (or: apt-get install ${missing[*]})" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null; then
	echo "deps: apt-get not found; install these packages by hand: ${missing[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ -n "$need_resolved" ]; then
	echo "deps: downloading (not installing) systemd-resolved $sysv for the tests"
	apt-get install -y -qq --download-only --no-install-recommends "systemd-resolved=$sysv"
fi
fetch_kernel
