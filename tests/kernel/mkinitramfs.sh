#!/bin/bash
# Builds what `make test-kernel` boots: Debian's own kernel, unpacked from its
# package in apt's cache (never installed: the package's hooks would build an
# initrd for /boot and pull in udev), and an initramfs holding busybox, the
# WireGuard module with its dependencies, this build's webmeshd, wmctl and
# modules, wg, wireguard-go, ip and every shared library they need.
#
#   mkinitramfs.sh BUILD_DIR OUT_DIR [SCENARIO]
#
# Writes OUT_DIR/vmlinuz and OUT_DIR/initramfs.cpio.gz. The kernel's files are
# unpacked once per package version into OUT_DIR/kernel-VERSION/ (the whole
# package is 400 MB unpacked: only the modules the test loads are kept).
# $WM_KERNEL_DEB picks another linux-image-*.deb.
set -euo pipefail
trap 'echo "mkinitramfs: line $LINENO failed: $BASH_COMMAND" >&2' ERR

build=$(realpath "$1")
out=$(realpath -m "$2")
here=$(dirname "$(realpath "$0")")
scenario=$(realpath "${3:-$here/scenario}")
mkdir -p "$out"

die() {
	echo "mkinitramfs: $*" >&2
	exit 1
}

for t in busybox depmod modprobe cpio dpkg-deb ldd; do
	command -v "$t" >/dev/null || die "$t not found: run scripts/deps.sh as root"
done
busybox=/usr/bin/busybox
[ -x /bin/busybox ] && busybox=/bin/busybox
# the static build: the dynamic one would need its libraries in the image too
file_info=$(LC_ALL=C ldd "$busybox" 2>&1 || true)
case "$file_info" in
*"not a dynamic executable"*) ;;
*) die "$busybox is dynamically linked: install busybox-static" ;;
esac

# --- the kernel package ----------------------------------------------------
deb=${WM_KERNEL_DEB:-}
if [ -z "$deb" ]; then
	# the newest linux-image-<abi>-amd64 in apt's cache (scripts/deps.sh puts it there)
	for f in /var/cache/apt/archives/linux-image-[0-9]*-amd64_*_amd64.deb; do
		[ -f "$f" ] && echo "$f"
	done | sort -V | tail -n1 >"$out/.deb"
	deb=$(cat "$out/.deb")
	rm -f "$out/.deb"
fi
if [ -z "$deb" ] || [ ! -f "$deb" ]; then
	die "no linux-image-*-amd64 package in /var/cache/apt/archives: run scripts/deps.sh as root"
fi
pkg=$(dpkg-deb -f "$deb" Package)
ver=${pkg#linux-image-}
kdir=$out/kernel-$ver
# The modules the test needs (depmod resolves what they need in turn):
# WireGuard; veth and bridge for the namespaces' network; tun for
# wireguard-go and the embedded backend; nf_tables and its expressions for
# webmeshd's firewall rules.
want_modules=(wireguard veth bridge tun nf_tables)
if [ ! -f "$kdir/.done" ]; then
	echo "mkinitramfs: unpacking $(basename "$deb")"
	rm -rf "$kdir" "$kdir.full"
	mkdir -p "$kdir.full" "$kdir/lib/modules/$ver"
	dpkg-deb -x "$deb" "$kdir.full"
	mods=$kdir.full/lib/modules/$ver
	[ -f "$kdir.full/boot/vmlinuz-$ver" ] || die "$deb has no boot/vmlinuz-$ver"
	depmod -b "$kdir.full" "$ver"
	# the netfilter expressions are loaded on demand by the kernel, so they
	# are not in any module's dependency list: take the directories whole
	extra=$(cd "$mods" && find kernel/net/netfilter kernel/net/ipv4/netfilter \
		kernel/net/ipv6/netfilter kernel/net/bridge/netfilter -name '*.ko' \
		-printf '%f\n' | sed 's/\.ko$//')
	# shellcheck disable=SC2086
	modprobe -d "$kdir.full" -S "$ver" -a --show-depends "${want_modules[@]}" $extra |
		awk '$1 == "insmod" { print $2 }' | sort -u >"$kdir.list"
	[ -s "$kdir.list" ] || die "modprobe listed no modules for ${want_modules[*]}"
	while read -r ko; do
		rel=${ko#"$mods"/}
		mkdir -p "$kdir/lib/modules/$ver/$(dirname "$rel")"
		cp "$ko" "$kdir/lib/modules/$ver/$rel"
	done <"$kdir.list"
	cp "$mods"/modules.order "$mods"/modules.builtin "$mods"/modules.builtin.modinfo \
		"$kdir/lib/modules/$ver/"
	cp "$kdir.full/boot/vmlinuz-$ver" "$kdir/vmlinuz"
	rm -rf "$kdir.full" "$kdir.list"
	touch "$kdir/.done"
fi
cp "$kdir/vmlinuz" "$out/vmlinuz"

# --- the root file system ----------------------------------------------------
root=$out/root
rm -rf "$root"
mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib,usr/lib64,bb,wm,proc,sys,dev,run,tmp,etc,var,mnt}
# merged /usr, as on the host, so that ldd's paths resolve either way
ln -s usr/bin "$root/bin"
ln -s usr/sbin "$root/sbin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
ln -s ../run "$root/var/run"
cp -a "$kdir/lib/modules" "$root/usr/lib/"
depmod -b "$root" "$ver"
cp "$busybox" "$root/bb/busybox"
cp "$here/guest.sh" "$root/init"
cp "$scenario" "$root/scenario"
chmod 0755 "$root/init"
printf 'root:x:0:0:root:/:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
: >"$root/etc/resolv.conf"

bins=("$build/src/node/webmeshd" "$build/src/cli/wmctl" "$build/tests/kernel/wg_probe")
for f in "${bins[@]}"; do
	[ -x "$f" ] || die "$f is not built (make build)"
	cp "$f" "$root/wm/"
done
# webmeshd's optional modules: looked for beside the executable
mods_so=("$build"/src/node/*.so)
[ -e "${mods_so[0]}" ] || die "no webmeshd modules (*.so) in $build/src/node"
cp "${mods_so[@]}" "$root/wm/"
tools=()
for t in wg wireguard-go ip; do
	p=$(command -v "$t") || die "$t not found: run scripts/deps.sh as root"
	p=$(realpath "$p")
	cp "$p" "$root/usr/bin/$t"
	tools+=("$p")
done

# Libraries webmeshd opens by soname when a feature first needs them
# (src/sys/linux/nft.c, src/node/config_load.c, src/auth/basic.c): not in
# ldd's list, but a node writes nftables rules at its start.
dlopened=()
for so in libnftables.so.1 libyaml-0.so.2 libcrypt.so.1; do
	# (no early exit from awk: pipefail would take ldconfig's SIGPIPE for an error)
	p=$(ldconfig -p | awk -v so="$so" '$1 == so && /x86-64/ && !p { p = $NF } END { print p }')
	[ -n "$p" ] || die "$so not found (ldconfig -p): run scripts/deps.sh as root"
	dlopened+=("$p")
done

# Every shared library ldd lists for any of them, at the path ldd gives
# (the loader finds them there through its default directories).
libs=$(printf '%s\n' "${dlopened[@]}"
for f in "${bins[@]}" "${mods_so[@]}" "${tools[@]}" "${dlopened[@]}"; do
	LC_ALL=C ldd "$f" | awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }' || true
done | sort -u)
for l in $libs; do
	mkdir -p "$root$(dirname "$l")"
	cp -L "$l" "$root$l"
done
missing=$(for f in "${bins[@]}" "${mods_so[@]}" "${tools[@]}" "${dlopened[@]}"; do
	LC_ALL=C ldd "$f" | grep 'not found' || true
done)
[ -z "$missing" ] || die "unresolved libraries: $missing"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out/initramfs.cpio.gz"
echo "mkinitramfs: kernel $ver, initramfs $(du -h "$out/initramfs.cpio.gz" | cut -f1)"
