"""Build Kiln's one-folder bundle: dist/kiln/ (run dist/kiln/kiln), then report its size.

    python packaging/build.py [--deb] [--keep-build]

Needs the project's dependencies (CPU torch for the default bundle, see packaging/README.md) and
pyinstaller==6.22.0 in the Python that runs this. Removes build/pyinstaller and dist/kiln first,
so every build starts clean. --deb also runs packaging/build_deb.sh on the result.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "packaging"
DIST = ROOT / "dist"
BUNDLE = DIST / "kiln"
WORK = ROOT / "build" / "pyinstaller"
LIMIT_MB = 750


def tree_size(p: Path) -> int:
    if p.is_symlink():
        return 0
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink())


def mb(n: int) -> str:
    return f"{n / 1e6:8.1f} MB"


def report(bundle: Path, top: int = 15) -> int:
    internal = bundle / "_internal"
    parts = [(tree_size(p), f"_internal/{p.name}") for p in internal.iterdir()]
    parts += [(tree_size(p), p.name) for p in bundle.iterdir() if p.name != "_internal"]
    files = sorted(((f.stat().st_size, str(f.relative_to(bundle))) for f in bundle.rglob("*")
                    if f.is_file() and not f.is_symlink()), reverse=True)
    total = sum(s for s, _ in files)
    print(f"\n{top} biggest parts of {bundle}:")
    for size, name in sorted(parts, reverse=True)[:top]:
        print(f"  {mb(size)}  {name}")
    print(f"\n{top} biggest files:")
    for size, name in files[:top]:
        print(f"  {mb(size)}  {name}")
    print(f"\ntotal: {mb(total).strip()} in {len(files)} files (limit {LIMIT_MB} MB)")
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deb", action="store_true", help="also build the .deb (packaging/build_deb.sh)")
    ap.add_argument("--keep-build", action="store_true", help="reuse build/pyinstaller (faster rebuilds)")
    args = ap.parse_args()

    if not all((PKG / n).exists() for n in ("kiln.png", "kiln.ico", "kiln.icns")):
        subprocess.run([sys.executable, str(PKG / "make_icon.py")], check=True)
    if not args.keep_build:
        shutil.rmtree(WORK, ignore_errors=True)
    shutil.rmtree(BUNDLE, ignore_errors=True)

    t0 = time.monotonic()
    cmd = [sys.executable, "-m", "PyInstaller", str(PKG / "kiln.spec"), "--noconfirm",
           "--distpath", str(DIST), "--workpath", str(WORK), "--log-level", "WARN"]
    print("$", " ".join(cmd), flush=True)
    rc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "0"}).returncode
    took = time.monotonic() - t0
    if rc:
        print(f"PyInstaller failed (exit {rc}) after {took:.0f} s", file=sys.stderr)
        return rc
    print(f"\nbuilt {BUNDLE} in {took / 60:.1f} min")
    total = report(BUNDLE)
    if total > LIMIT_MB * 1e6:
        print(f"WARNING: bundle is over {LIMIT_MB} MB", file=sys.stderr)
    if args.deb:
        return subprocess.run(["bash", str(PKG / "build_deb.sh")], cwd=ROOT).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
