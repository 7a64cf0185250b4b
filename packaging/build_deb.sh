#!/usr/bin/env bash
# Package dist/kiln/ (from packaging/build.py) as dist/kiln_VERSION_ARCH.deb with dpkg-deb.
#   /opt/kiln/                                    the bundle
#   /usr/bin/kiln -> /opt/kiln/kiln               symlink (PyInstaller resolves its own path)
#   /usr/share/applications/kiln.desktop          menu entry
#   /usr/share/icons/hicolor/256x256/apps/kiln.png
# Depends: the system libraries the frozen app needs on a minimal Debian (field notes: libgl1 libegl1
# libxcb1 + fontconfig-config) plus a font so text is not drawn as boxes, and the xcb plugin's helpers
# for a real X11 display.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUNDLE="$ROOT/dist/kiln"
[ -x "$BUNDLE/kiln" ] || { echo "no $BUNDLE/kiln: run python packaging/build.py first" >&2; exit 1; }
VERSION="${KILN_VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml")}"
ARCH="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
OUT="$ROOT/dist/kiln_${VERSION}_${ARCH}.deb"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
chmod 755 "$STAGE"  # mktemp makes it 0700: it becomes / on install

mkdir -p "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
         "$STAGE/usr/share/icons/hicolor/256x256/apps" "$STAGE/DEBIAN"
cp -a "$BUNDLE" "$STAGE/opt/kiln"
ln -s /opt/kiln/kiln "$STAGE/usr/bin/kiln"
install -m 644 "$ROOT/packaging/kiln.desktop" "$STAGE/usr/share/applications/kiln.desktop"
install -m 644 "$ROOT/resources/icons/kiln.png" "$STAGE/usr/share/icons/hicolor/256x256/apps/kiln.png"
SIZE_KB="$(du -sk "$STAGE" | cut -f1)"

cat > "$STAGE/DEBIAN/control" <<CTRL
Package: kiln
Version: $VERSION
Architecture: $ARCH
Maintainer: Kiln developers <kiln@example.org>
Installed-Size: $SIZE_KB
Section: graphics
Priority: optional
Depends: libgl1, libegl1, libxcb1, fontconfig-config, libfontconfig1, libxkbcommon0, libxkbcommon-x11-0, libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, libxcb-shape0, libxcb-xkb1, libxcb-render-util0, libxcb-image0, libdbus-1-3
Recommends: fonts-dejavu-core
Homepage: https://example.org/kiln
Description: restore old photos and turn sketches into images
 Kiln is a desktop image editor built on diffusion models: paint over scratches,
 tears and missing corners and let the model fill them in, or turn rough sketches
 and a prompt into images, watching every denoising step appear. This build
 carries the CPU build of PyTorch; models are downloaded separately.
CTRL
cat > "$STAGE/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q /usr/share/applications || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true
exit 0
SH
cp "$STAGE/DEBIAN/postinst" "$STAGE/DEBIAN/postrm"
chmod 755 "$STAGE/DEBIAN/postinst" "$STAGE/DEBIAN/postrm"

dpkg-deb --root-owner-group -Z"${KILN_DEB_COMPRESS:-gzip}" --build "$STAGE" "$OUT" >/dev/null
echo "wrote $OUT ($(du -h "$OUT" | cut -f1), installs $((SIZE_KB / 1024)) MB)"
