"""Fuzz Kiln's image loader: malformed files may only ever raise ``KilnError``.

    python bench/fuzz_loader.py --seconds 60              # atheris if installed, else built-in
    python bench/fuzz_loader.py --engine builtin --seed 7 --seconds 300
    python bench/fuzz_loader.py --replay crashes/          # re-run saved inputs

Not part of the test run. The seed corpus is made here with Pillow (small valid PNG, APNG, JPEG,
progressive/CMYK/EXIF JPEG, TIFF incl. multi-page and compressed, GIF incl. animated, WebP incl.
animated and lossless, BMP incl. RLE, 16-bit RGB and gray PNG/TIFF) plus formats Kiln does not
read (DDS incl. one whose pixel format Pillow lacks, ICO, ICNS, PPM, TGA, PCX, SGI, MSP, XBM,
QOI, JPEG 2000, AVIF, SPIDER, EPS, PDF): those must be refused by name, whatever their header
holds. Each input is written to a file and given to ``inference.files.image_io.load_rgb_with_notes``
(every third one to ``load_picture_with_notes``, which keeps 16 bits; and ``load_mask`` and
``read_parameters`` for a share of inputs). Mutations include zero-filled tails and cuts with
an end marker appended (JPEG EOI, PNG IEND): pictures that decode without an error. A ``KilnError`` is a correct refusal; a result must be H×W×3 uint8 within the pixel
limit. Anything else — another exception type, a wrong result — is a crash: the input is saved to
``crashes/<sha1>.bin`` with the traceback beside it (``.txt``). Inputs slower than ``--slow-s``
are saved to ``slow/``.

Engines: ``atheris`` (coverage-guided libFuzzer over Pillow's Python code; C decoders run
uninstrumented) or ``builtin`` (seeded random byte flips, interesting values, truncations,
insertions, deletions, chunk duplication and splicing over the seed corpus; reproducible with
``--seed``). Loads use a small pixel limit (``--max-megapixels``, 16 by default) so mutated
headers that claim huge sizes are refused quickly instead of allocating gigabytes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def seed_corpus() -> dict[str, bytes]:
    """Small valid files in every layout the loader handles, by name."""
    import numpy as np
    from PIL import Image

    yy, xx = np.mgrid[0:24, 0:32]
    rgb = np.stack([xx * 8, yy * 10, (xx + yy) * 4], -1).clip(0, 255).astype(np.uint8)
    im = Image.fromarray(rgb)
    rgba = im.copy()
    rgba.putalpha(Image.fromarray((xx * 8).clip(0, 255).astype(np.uint8)))
    frames = [Image.fromarray(np.roll(rgb, 4 * i, axis=1)) for i in range(3)]
    out: dict[str, bytes] = {}

    def save(name, image, fmt, **kw):
        buf = io.BytesIO()
        image.save(buf, fmt, **kw)
        out[name] = buf.getvalue()

    save("rgb.png", im, "PNG")
    save("rgba.png", rgba, "PNG")
    save("interlaced.png", im, "PNG", optimize=False)
    pal = im.quantize(8)
    pal.info["transparency"] = 0
    save("palette_trns.png", pal, "PNG", transparency=0)
    save("gray16.png", Image.fromarray((xx * 2000).astype(np.uint16)), "PNG")
    save("anim.png", frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)
    save("text.png", im, "PNG", pnginfo=_pnginfo("a prompt\nSteps: 3"))
    save("base.jpg", im, "JPEG", quality=80)
    save("progressive.jpg", im, "JPEG", quality=80, progressive=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    save("exif.jpg", im, "JPEG", exif=exif)
    save("cmyk.jpg", im.convert("CMYK"), "JPEG")
    save("gray.jpg", im.convert("L"), "JPEG")
    save("plain.tif", im, "TIFF")
    save("lzw.tif", im, "TIFF", compression="tiff_lzw")
    save("deflate.tif", rgba, "TIFF", compression="tiff_adobe_deflate")
    save("pages.tif", frames[0], "TIFF", save_all=True, append_images=frames[1:])
    save("gray16.tif", Image.fromarray((xx * 2000).astype(np.uint16)), "TIFF")
    save("static.gif", im, "GIF")
    save("anim.gif", frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    save("lossy.webp", im, "WEBP", quality=70)
    save("lossless.webp", rgba, "WEBP", lossless=True)
    save("anim.webp", frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)
    save("rgb.bmp", im, "BMP")
    save("pal.bmp", im.quantize(16), "BMP")
    out["rgb16.png"] = _png16(rgb.astype(np.uint16) * 257 + (xx % 7)[..., None].astype(np.uint16))
    save("gray16-b.tif", Image.fromarray((yy * 2500).astype(np.uint16)), "TIFF", compression="tiff_adobe_deflate")
    for name, data in _foreign(im).items():
        out[name] = data
    return out


def _png16(values) -> bytes:
    """A 16-bit RGB PNG (Pillow writes none)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    height, width = values.shape[:2]
    raw = b"".join(b"\0" + row.astype(">u2").tobytes() for row in values)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


FOREIGN = ("DDS", "ICO", "ICNS", "PPM", "TGA", "PCX", "SGI", "MSP", "XBM", "QOI", "JPEG2000", "AVIF", "SPIDER", "EPS", "PDF")


def _foreign(im) -> dict[str, bytes]:
    """Small files in formats Kiln does not read, as far as this Pillow writes them."""
    import struct

    out = {}
    for fmt in FOREIGN:
        picture = im.convert("1") if fmt in ("MSP", "XBM") else im.convert("F") if fmt == "SPIDER" else im
        buf = io.BytesIO()
        try:
            picture.save(buf, fmt)
        except (OSError, ValueError, KeyError):  # a codec this Pillow lacks (ghostscript for EPS…)
            continue
        out[f"foreign.{fmt.lower()}"] = buf.getvalue()
    if "foreign.dds" in out:  # a pixel format Pillow's DDS plugin does not implement
        dds = bytearray(out["foreign.dds"])
        dds[80:88] = struct.pack("<I", 4) + b"ZZZZ"
        out["foreign-fourcc.dds"] = bytes(dds)
    return out


def _pnginfo(text):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", text)
    return info


INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\x00\x00", b"\xff\xff", b"\x7f\xff\xff\xff",
               b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x00\x01\x00\x00", b"\x80\x00\x00\x00"]


TAIL_OPS = (9, 10)  # the mutations that damage a file's end the way disks and transfers do


def mutate(data: bytes, corpus: list[bytes], rng: random.Random, ops: list[int] | None = None) -> bytes:
    """One to eight random edits; headers (the first 64 bytes) are hit more often. The edits'
    numbers are appended to ``ops`` when given."""
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 8))):
        if not buf:
            buf = bytearray(rng.choice(corpus))
        n = len(buf)
        head = rng.random() < 0.5
        pos = rng.randrange(min(n, 64)) if head else rng.randrange(n)
        op = rng.randrange(11)
        if ops is not None:
            ops.append(op)
        if op == 0:  # flip a bit
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 1:  # random byte
            buf[pos] = rng.randrange(256)
        elif op == 2:  # interesting value
            value = rng.choice(INTERESTING)
            buf[pos:pos + len(value)] = value
        elif op == 3:  # truncate
            del buf[rng.randrange(n):]
        elif op == 4:  # insert random bytes
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        elif op == 5:  # delete a run
            del buf[pos:pos + rng.randrange(1, 32)]
        elif op == 6:  # duplicate a run (repeated chunks / markers)
            end = min(n, pos + rng.randrange(4, 64))
            buf[pos:pos] = buf[pos:end] * rng.randrange(1, 4)
        elif op == 7:  # splice the tail of another seed
            other = rng.choice(corpus)
            buf[pos:] = other[rng.randrange(len(other)):]
        elif op == 9:  # zero-fill the tail (a disk or transfer error): the length stays
            tail = rng.randrange(1, max(2, n // 2))
            buf[n - tail:] = bytes(tail)
        elif op == 10:  # cut, then append what ends a complete file
            del buf[rng.randrange(n // 4, n):]
            buf += b"\xff\xd9" if data[:2] == b"\xff\xd8" else b"\0\0\0\0IEND\xaeB`\x82" if data[:4] == b"\x89PNG" else b""
        else:  # add or subtract a small number at a 1-, 2- or 4-byte field
            width = rng.choice((1, 2, 4))
            if pos + width <= n:
                value = int.from_bytes(buf[pos:pos + width], "big") + rng.choice((-1, 1, -16, 16, 255, 4096))
                buf[pos:pos + width] = (value % (1 << (8 * width))).to_bytes(width, "big")
    return bytes(buf)


def save_input(folder: Path, data: bytes, text: str, suffix: str = ".bin") -> str:
    """Keep an input that crashed or was slow as ``<sha1>`` + ``suffix``, with ``text`` beside it
    (``.txt``); returns the name."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:16]
    (folder / f"{digest}{suffix}").write_bytes(data)
    (folder / f"{digest}.txt").write_text(text)
    return digest


class Harness:
    """Runs one input through the loader and keeps the figures."""

    def __init__(self, workdir: Path, crash_dir: Path, slow_dir: Path, max_megapixels: float, slow_s: float):
        from inference.files import image_io
        from inference.core.errors import KilnError

        self.image_io, self.KilnError = image_io, KilnError
        self.path = workdir / "input.img"
        self.crash_dir, self.slow_dir = crash_dir, slow_dir
        self.max_megapixels, self.slow_s = max_megapixels, slow_s
        self.iterations = self.loaded = self.refused = self.crashes = self.slow = 0
        self.tail_damaged = self.tail_loaded = 0  # inputs with a zero-filled or cut-and-ended tail; of those, loaded
        self.refusals: dict[str, int] = {}
        self.crash_kinds: dict[str, int] = {}
        self.max_s = 0.0

    def run_one(self, data: bytes, tail_damaged: bool = False) -> None:
        self.iterations += 1
        self.tail_damaged += tail_damaged
        self.path.write_bytes(data)
        start = time.perf_counter()
        try:
            if self.iterations % 3 == 0:  # the editor's and restore's door: keeps 16 bits and gray
                loaded = self.image_io.load_picture_with_notes(self.path, max_megapixels=self.max_megapixels)
                source = loaded.source
                assert source is None or source.deep is None or (
                    source.deep.dtype.name == "uint16" and source.deep.shape[:2] == loaded.rgb.shape[:2]), f"bad source {source}"
            else:
                loaded = self.image_io.load_rgb_with_notes(self.path, max_megapixels=self.max_megapixels)
            rgb = loaded.rgb
            assert rgb.dtype.name == "uint8" and rgb.ndim == 3 and rgb.shape[2] == 3, f"bad result {rgb.dtype} {rgb.shape}"
            assert rgb.shape[0] * rgb.shape[1] <= self.max_megapixels * 1_000_000 * 1.01 + 1, f"over the limit {rgb.shape}"
            assert all(isinstance(n, str) and n for n in loaded.notes), f"bad notes {loaded.notes!r}"
            if self.iterations % 4 == 0:
                mask = self.image_io.load_mask(self.path, max_megapixels=self.max_megapixels)
                assert mask.dtype.name == "uint8" and mask.ndim == 2, f"bad mask {mask.dtype} {mask.shape}"
                self.image_io.read_parameters(self.path)
            self.loaded += 1
            self.tail_loaded += tail_damaged
        except self.KilnError as exc:
            self.refused += 1
            name = type(exc).__name__
            if exc.__cause__ is not None:  # which Pillow error a refusal came from
                name += f"<{type(exc.__cause__).__name__}"
            self.refusals[name] = self.refusals.get(name, 0) + 1
            if not str(exc).strip():
                self._crash(data, "empty KilnError message")
        except Exception:  # noqa: BLE001 — a fuzz harness records every escape as a finding
            self._crash(data, traceback.format_exc())
        elapsed = time.perf_counter() - start
        self.max_s = max(self.max_s, elapsed)
        if elapsed > self.slow_s:
            self.slow += 1
            save_input(self.slow_dir, data, f"{elapsed:.2f} s")

    def _crash(self, data: bytes, text: str) -> None:
        self.crashes += 1
        kind = text.strip().splitlines()[-1][:120]
        self.crash_kinds[kind] = self.crash_kinds.get(kind, 0) + 1
        save_input(self.crash_dir, data, text)


    def report(self, seconds: float, engine: str) -> str:
        rate = self.iterations / seconds if seconds else 0.0
        lines = [
            (f"engine {engine}: {self.iterations} inputs in {seconds:.1f} s ({rate:.0f}/s), "
             f"{self.loaded} loaded, {self.refused} refused with KilnError, {self.crashes} crashes, "
             f"{self.slow} slow (> {self.slow_s} s; slowest {self.max_s:.2f} s)"),
            "refusals: " + ", ".join(f"{k} {v}" for k, v in sorted(self.refusals.items())),
            f"damaged tails (zero-filled, or cut with an end marker): {self.tail_damaged} inputs, {self.tail_loaded} loaded "
            "(a tail that only changed bytes no decoder reads, e.g. zeros over zeros, loads rightly)",
        ]
        lines += [f"CRASH x{v}: {k}" for k, v in self.crash_kinds.items()]
        return "\n".join(lines)


def run_builtin(harness: Harness, seconds: float, seed: int, max_inputs: int | None = None) -> None:
    """Mutate seeds for ``seconds`` (or until ``max_inputs`` mutated inputs: a reproducible run)."""
    rng = random.Random(seed)
    corpus = list(seed_corpus().values())
    for data in corpus:  # the seeds themselves must load
        harness.run_one(data)
    deadline = time.monotonic() + seconds
    last = time.monotonic()
    done = 0
    while time.monotonic() < deadline and (max_inputs is None or done < max_inputs):
        done += 1
        ops: list[int] = []
        data = mutate(rng.choice(corpus), corpus, rng, ops)
        harness.run_one(data, tail_damaged=any(op in TAIL_OPS for op in ops))
        if time.monotonic() - last > 15:
            last = time.monotonic()
            print(f"  … {harness.iterations} inputs, {harness.crashes} crashes", flush=True)


def run_atheris(harness: Harness, seconds: float, workdir: Path) -> None:
    import atheris

    corpus_dir = workdir / "corpus"
    corpus_dir.mkdir(exist_ok=True)
    for name, data in seed_corpus().items():
        (corpus_dir / name).write_bytes(data)
    start = time.monotonic()

    def one_input(data: bytes) -> None:
        harness.run_one(data)
        if time.monotonic() - start > seconds:  # libFuzzer's own exit skips Python's atexit
            print(harness.report(time.monotonic() - start, "atheris"), flush=True)
            os._exit(1 if harness.crashes else 0)

    atheris.Setup([sys.argv[0], "-rss_limit_mb=4096", "-max_len=65536", str(corpus_dir)], one_input)
    atheris.Fuzz()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--engine", choices=("auto", "atheris", "builtin"), default="auto")
    parser.add_argument("--seed", type=int, default=0, help="built-in engine: random seed (reproducible runs)")
    parser.add_argument("--max-megapixels", type=float, default=16.0)
    parser.add_argument("--slow-s", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=Path("."), help="where crashes/ and slow/ go")
    parser.add_argument("--replay", type=Path, help="a file or folder of saved inputs to re-run, then exit")
    args = parser.parse_args(argv)

    engine = args.engine
    if engine == "auto":
        try:
            import atheris
            engine = "atheris"
        except ImportError:
            engine = "builtin"
    if engine == "atheris":
        import atheris

        with atheris.instrument_imports(include=["PIL", "inference"]):
            import PIL.Image  # noqa: F401
            from PIL import (  # noqa: F401
                BmpImagePlugin,
                GifImagePlugin,
                JpegImagePlugin,
                MpoImagePlugin,
                PngImagePlugin,
                TiffImagePlugin,
                WebPImagePlugin,
            )

            import inference.files.image_io  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="kiln-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as tmp:
        harness = Harness(Path(tmp), args.out / "crashes", args.out / "slow", args.max_megapixels, args.slow_s)
        if args.replay:
            files = sorted(p for p in (args.replay.iterdir() if args.replay.is_dir() else [args.replay]) if p.suffix != ".txt")
            start = time.monotonic()
            for p in files:
                harness.run_one(p.read_bytes())
            print(harness.report(time.monotonic() - start, "replay"))
            return 1 if harness.crashes else 0
        start = time.monotonic()
        if engine == "atheris":
            run_atheris(harness, args.seconds, Path(tmp))
        else:
            run_builtin(harness, args.seconds, args.seed)
        print(harness.report(time.monotonic() - start, engine))
        return 1 if harness.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
