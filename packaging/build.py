"""Build Kiln's one-folder bundle: dist/kiln/ (run dist/kiln/kiln), then report its size.

    python packaging/build.py [--deb] [--keep-build] [--no-strip]

Needs the project's dependencies (CPU torch for the default bundle, see packaging/README.md) and
pyinstaller==6.22.0 in the Python that runs this. Removes build/pyinstaller and dist/kiln first,
so every build starts clean. On Linux it then strips the symbol tables from the bundle's shared
libraries (`strip --strip-unneeded`: PyTorch's CPU wheel ships libtorch_cpu.so unstripped, 434 →
345 MB); --no-strip skips that. --deb also runs packaging/build_deb.sh on the result.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import shutil
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "packaging"
DIST = ROOT / "dist"
BUNDLE = DIST / "kiln"
WORK = ROOT / "build" / "pyinstaller"
LIMIT_MB = 850  # 750 before the restoration models: spandrel's torchvision and onnxruntime (Find faces)


def tree_size(p: Path) -> int:
    if p.is_symlink():
        return 0
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink())


def mb(n: int) -> str:
    return f"{n / 1e6:8.1f} MB"


def _is_shared_library(f: Path) -> bool:
    name = f.name
    if f.is_symlink() or not f.is_file() or not (name.endswith(".so") or ".so." in name):
        return False
    with open(f, "rb") as fh:
        return fh.read(4) == b"\x7fELF"


def load_segments(path: str) -> list[tuple[int, int, int, int]] | None:
    """(offset, vaddr, memsz, align) of each PT_LOAD segment of a 64-bit little-endian ELF file."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return None
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    segments = []
    for i in range(phnum):
        p_type, _flags, offset, vaddr, _paddr, _filesz, memsz, align = struct.unpack_from("<IIQQQQQQ", table, i * phentsize)
        if p_type == 1:  # PT_LOAD
            segments.append((offset, vaddr, memsz, align))
    return segments


def strip_is_safe(original: str, stripped: str) -> bool:
    """The loader maps the stripped file as it mapped the original: the same segments at the same
    addresses, each file offset congruent with its address. binutils' strip breaks libraries that
    patchelf rewrote (auditwheel's *.libs, e.g. numpy's OpenBLAS: "ELF load command address/offset
    not page-aligned"); those are kept unstripped."""
    before, after = load_segments(original), load_segments(stripped)
    if not before or not after or len(before) != len(after):
        return False
    for (_, vaddr0, memsz0, _), (offset, vaddr, memsz, align) in zip(before, after):
        if vaddr != vaddr0 or memsz != memsz0 or (align > 1 and (vaddr - offset) % align):
            return False
    return True


def strip_libraries(bundle: Path) -> None:
    """`strip --strip-unneeded` every ELF shared library in the bundle, keeping a file as it was
    when strip fails or gains nothing. Only the symbol tables and debug sections go: the dynamic
    symbols the loader and Python need stay, and a stripped file whose segments would load
    differently is thrown away (see strip_is_safe). The `kiln` executable is left alone (the
    Python archive is appended to it). Linux only; needs binutils."""
    strip = shutil.which("strip")
    if not sys.platform.startswith("linux") or not strip:
        print("not stripping: " + ("no strip (binutils)" if sys.platform.startswith("linux") else "Linux only"))
        return
    libs = [f for f in bundle.rglob("*") if _is_shared_library(f)]
    t0 = time.monotonic()

    def one(f: Path) -> tuple[int, int, str | None]:
        before = f.stat().st_size
        fd, tmp = tempfile.mkstemp(dir=f.parent, prefix=f".{f.name}.", suffix=".strip")
        os.close(fd)
        try:
            p = subprocess.run([strip, "--strip-unneeded", "-o", tmp, str(f)], capture_output=True, text=True)
            if p.returncode != 0:
                return before, before, (p.stderr.strip().splitlines() or [f"strip exit {p.returncode}"])[-1]
            if not strip_is_safe(str(f), tmp):
                return before, before, "segments would move (patchelf-rewritten library)"
            after = os.path.getsize(tmp)
            if after >= before:
                return before, before, None
            shutil.copymode(f, tmp)
            os.replace(tmp, f)
            return before, after, None
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        results = list(pool.map(one, libs))
    before = sum(r[0] for r in results)
    after = sum(r[1] for r in results)
    skipped = [f"{f.relative_to(bundle)}: {r[2]}" for f, r in zip(libs, results) if r[2]]
    print(f"\nstripped {len(libs)} shared libraries: {mb(before).strip()} -> {mb(after).strip()} "
          f"in {time.monotonic() - t0:.0f} s" + (f"; left as they were: {'; '.join(skipped)}" if skipped else ""))


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
    ap.add_argument("--no-strip", action="store_true", help="keep the shared libraries' symbol tables")
    args = ap.parse_args()

    icons = (ROOT / "resources" / "icons" / "kiln.png", PKG / "kiln.ico", PKG / "kiln.icns")
    if not all(p.exists() for p in icons):
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
    if not args.no_strip:
        strip_libraries(BUNDLE)
    total = report(BUNDLE)
    if total > LIMIT_MB * 1e6:
        print(f"WARNING: bundle is over {LIMIT_MB} MB", file=sys.stderr)
    if args.deb:
        return subprocess.run(["bash", str(PKG / "build_deb.sh")], cwd=ROOT).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
