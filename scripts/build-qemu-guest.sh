#!/usr/bin/env bash
# Builds the tiny QEMU guest the qemu driver's tests boot: a Debian kernel (apt-get download, no
# modules needed) and a busybox initramfs whose init prints a ready marker on the serial port and
# runs a shell on the VGA console, so a key pressed through QMP changes the screen. Also an empty
# qcow2 base disk, to exercise the per-session copy-on-write overlays.
#
# Output (cached; rebuilt when this script changes or with --force):
#   $AGENTFLOW_QEMU_GUEST_DIR (default /var/lib/agentflow/qemu-guest)/{vmlinuz,initrd.img,disk.qcow2}
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${AGENTFLOW_QEMU_GUEST_DIR:-/var/lib/agentflow/qemu-guest}
log() { printf '[build-qemu-guest] %s\n' "$*" >&2; }

stamp=$(sha256sum "$0" | cut -c1-16)
if [ "${1:-}" != "--force" ] && [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$stamp" ]; then
  log "$OUT is up to date"
  exit 0
fi

need=()
command -v busybox >/dev/null 2>&1 || need+=(busybox-static)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
if [ ${#need[@]} -gt 0 ]; then
  log "missing: ${need[*]} (apt-get install -y --no-install-recommends ${need[*]})"
  exit 1
fi
busybox_bin=$(command -v busybox)
if ldd "$busybox_bin" >/dev/null 2>&1; then
  log "$busybox_bin is not statically linked; install busybox-static"
  exit 1
fi

work=$(mktemp -d /tmp/agentflow-guest.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work" # apt-get download drops to the _apt user
mkdir -p "$OUT"

# The kernel: the package linux-image-amd64 points at, unpacked without installing it.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$kpkg" ]; then
  log "apt-cache knows no linux-image-amd64 (run apt-get update first)"
  exit 1
fi
log "downloading $kpkg"
(cd "$work" && apt-get download "$kpkg" >/dev/null)
dpkg-deb --fsys-tarfile "$work"/"$kpkg"_*.deb | tar -x -C "$work" --wildcards './boot/vmlinuz-*'
cp "$work"/boot/vmlinuz-* "$OUT/vmlinuz"

# The initramfs: busybox and an init.
root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp}
cp "$busybox_bin" "$root/bin/busybox"
for applet in sh mount echo cat sleep setsid stty; do ln -s busybox "$root/bin/$applet"; done
cat >"$root/init" <<'EOF'
#!/bin/sh
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
echo 'AgentFlow test guest: type here' >/dev/tty1
echo AGENTFLOW-READY >/dev/ttyS0
while true; do
  setsid sh -c 'exec sh </dev/tty1 >/dev/tty1 2>&1'
done
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) >"$OUT/initrd.img"

rm -f "$OUT/disk.qcow2"
qemu-img create -q -f qcow2 "$OUT/disk.qcow2" 64M
echo "$stamp" >"$OUT/stamp"
log "built $OUT: $(ls "$OUT" | tr '\n' ' ')"
