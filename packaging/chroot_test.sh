#!/usr/bin/env bash
# Run the frozen app on a fresh minimal Debian: proves the bundle needs nothing from the build machine.
#
#   sudo bash packaging/chroot_test.sh            (after python packaging/build.py [--deb])
#
# 1. debootstrap --variant=minbase bookworm into a temp dir (or reuse a pristine one: KILN_CHROOT_BASE=DIR,
#    which is copied, never changed).
# 2. With dist/kiln_*.deb: apt-get install ./kiln.deb inside it, so the package's Depends alone pull the
#    system libraries. Without one: copy dist/kiln to /opt/kiln and install only the documented minimum
#    (libgl1 libegl1 libxcb1 fontconfig-config).
# 3. packaging/smoke_test.py from the host against the chroot (chroot ... /opt/kiln/kiln): no Python
#    inside the chroot is needed or installed.
# Needs root, network access to a Debian mirror (KILN_MIRROR) and python3 + Pillow-free stdlib on the host.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MIRROR="${KILN_MIRROR:-http://deb.debian.org/debian}"
PY="${PYTHON:-python3}"
command -v debootstrap >/dev/null || apt-get install -y debootstrap
WORK="$(mktemp -d /tmp/kiln-chroot.XXXXXX)"

cleanup() {
  for m in proc dev/pts dev sys; do mountpoint -q "$WORK/$m" && umount -l "$WORK/$m" || true; done
  [ -n "${KILN_KEEP_CHROOT:-}" ] && { echo "kept $WORK"; return; }
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

t0=$(date +%s)
if [ -n "${KILN_CHROOT_BASE:-}" ]; then
  cp -a "$KILN_CHROOT_BASE/." "$WORK/"
else
  debootstrap --variant=minbase bookworm "$WORK" "$MIRROR" >/dev/null
fi
echo "minbase bookworm ready in $(( $(date +%s) - t0 )) s: $(du -sh --exclude=proc "$WORK" | cut -f1)"
mount -t proc proc "$WORK/proc"; mount --bind /dev "$WORK/dev"; mount --bind /dev/pts "$WORK/dev/pts"; mount -t sysfs sys "$WORK/sys"
cp /etc/resolv.conf "$WORK/etc/resolv.conf" 2>/dev/null || true
in_root() { chroot "$WORK" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
in_root apt-get update -qq

DEB="$(ls -t "$ROOT"/dist/kiln_*.deb 2>/dev/null | head -1 || true)"
if [ -n "$DEB" ] && [ -z "${KILN_NO_DEB:-}" ]; then
  echo "installing $(basename "$DEB") with its Depends"
  cp "$DEB" "$WORK/tmp/kiln.deb"
  in_root apt-get install -y -qq --no-install-recommends /tmp/kiln.deb >/dev/null
  KILN=/usr/bin/kiln
else
  echo "no .deb: copying dist/kiln and installing libgl1 libegl1 libxcb1 fontconfig-config"
  in_root apt-get install -y -qq --no-install-recommends libgl1 libegl1 libxcb1 fontconfig-config >/dev/null
  cp -a "$ROOT/dist/kiln" "$WORK/opt/kiln"
  KILN=/opt/kiln/kiln
fi
echo "installed: $(in_root dpkg-query -W -f '${binary:Package}\n' | wc -l) packages, no python: $(in_root sh -c 'command -v python3 || echo none')"

"$PY" "$ROOT/packaging/smoke_test.py" --chroot "$WORK" --kiln "$KILN" "$@"
