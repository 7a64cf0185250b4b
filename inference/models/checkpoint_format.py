"""Content sniffing for model files, before anything hands them to torch.

A ``.ckpt``/``.pt``/``.bin`` checkpoint is a Python pickle: opening it can run any code its
author put in it. Kiln only opens safetensors files, and it decides what a file is from its
bytes, never from its name, so a pickle renamed ``.safetensors`` is still refused. This module
reads the safetensors header itself (plain JSON, no torch), so a damaged or truncated download
is reported as such instead of as a confusing error from deep inside a loader.

Safetensors layout: 8-byte little-endian header length N, N bytes of JSON (a map of tensor
name → ``{"dtype", "shape", "data_offsets": [begin, end]}`` plus an optional
``"__metadata__"`` map), then the tensor bytes; offsets are relative to the end of the header.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from inference.core.errors import ModelError, UnsafeCheckpoint

# A real header holds a few hundred bytes per tensor; even SDXL's is well under 1 MB.
MAX_HEADER_BYTES = 100_000_000

# Bits per element of every dtype safetensors writes.
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64,
    "I64": 64, "U64": 64, "F64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}

PICKLE_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"}
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = 0x80  # opcode PROTO, followed by the protocol number (2..5 in practice)
_HEAD_BYTES = 512  # enough for the magic numbers below and a zip's first file name
# Files people mistake for models (or save by accident), by their first bytes → what they are.
_FOREIGN_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"GGUF": "a GGUF file (a format for llama.cpp-style runtimes)",
    b"\x1f\x8b": "a gzip archive",
    b"7z\xbc\xaf\x27\x1c": "a 7-Zip archive",
    b"Rar!": "a RAR archive",
}

_UNSAFE_ADVICE = (
    "Pickle checkpoints can run arbitrary code when they are opened, so Kiln never opens them. "
    "Get the .safetensors version of this model, or convert the file with a trusted tool in an "
    "isolated environment."
)


def check_checkpoint_file(path) -> dict:
    """Validate that ``path`` is a complete safetensors file and return its parsed header.

    The returned dict maps tensor name → ``{"dtype": str, "shape": list[int],
    "data_offsets": [begin, end]}`` and may hold ``"__metadata__"`` (str → str). Only the
    header is read; no tensor data is touched and nothing is unpickled.

    Raises:
      UnsafeCheckpoint: the file is a pickle or a torch zip checkpoint (by its bytes), or it is
        not safetensors and carries a pickle extension (.ckpt, .pt, .pth, .bin).
      ModelError: missing file, folder, empty file, truncated or damaged safetensors (overlapping
        or gapped tensor data too), unknown dtypes, or bytes that are not a model file at all
        (images, web pages, archives and other formats are named).
    """
    # 1. The path itself.
    path = Path(path)
    if not path.exists():
        raise ModelError(f"There is no file at {path}. Check the path, or choose the model file again.")
    if path.is_dir():
        raise ModelError(
            f"{path} is a folder, not a model file. Choose the .safetensors file inside it, "
            "or open the folder as a diffusers model if it holds model_index.json."
        )
    size = path.stat().st_size
    if size == 0:
        raise ModelError(f"{path.name} is empty (0 bytes): the download probably failed; download it again.")

    # 2. Only the first bytes decide what the file is.
    with open(path, "rb") as file:
        head = file.read(_HEAD_BYTES)
        header_len = int.from_bytes(head[:8], "little") if len(head) >= 8 else 0
        looks_safetensors = len(head) > 8 and head[8:9] == b"{" and 2 <= header_len <= MAX_HEADER_BYTES
        if not looks_safetensors:
            _refuse_non_safetensors(path, head)
        if 8 + header_len > size:
            raise _truncated(path, size, 8 + header_len)
        file.seek(8)
        raw = file.read(header_len)

    # 3. The header must be a JSON object of well-formed tensor entries inside the file.
    try:
        # Valid JSON that starts with "{" (checked above, as safetensors requires) is an object.
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(
            f"{path.name} is damaged: its safetensors header is not valid JSON ({error}). Download it again."
        ) from None
    except RecursionError:  # a real header is two levels deep; thousands mean a damaged or hostile file
        raise ModelError(
            f"{path.name} is damaged: its safetensors header is nested too deeply to be a model's. "
            "Download it again from a source you trust."
        ) from None
    _validate_entries(path, header, size - 8 - header_len, size)
    return header


def _refuse_non_safetensors(path: Path, head: bytes) -> None:
    """Raise the right error for a file whose first bytes are not a safetensors header."""
    if head.startswith(_ZIP_MAGIC) and _first_zip_entry(head).endswith(".pkl"):
        # torch.save writes "<archive>/data.pkl" first; that pickle is what runs code.
        raise UnsafeCheckpoint(
            f"{path.name} is a PyTorch pickle checkpoint (zip format), not safetensors. {_UNSAFE_ADVICE}"
        )
    if len(head) >= 2 and head[0] == _PICKLE_PROTO and 2 <= head[1] <= 5:
        raise UnsafeCheckpoint(f"{path.name} is a Python pickle, not safetensors. {_UNSAFE_ADVICE}")
    if path.suffix.lower() in PICKLE_SUFFIXES:
        # Old or odd pickle variants have no reliable magic; the name is the best warning left.
        raise UnsafeCheckpoint(
            f"{path.name} is a {path.suffix} checkpoint, a format that is a Python pickle. {_UNSAFE_ADVICE}"
        )
    if head.lstrip().lower().startswith((b"<!doctype html", b"<html")):
        raise ModelError(
            f"{path.name} is a web page, not a model file: the download probably failed or needed a login. "
            "Download the model again from its page."
        )
    if head.startswith(_ZIP_MAGIC):
        raise ModelError(
            f"{path.name} is a zip archive, not a model file: unpack it and choose the .safetensors file inside."
        )
    kind = next((kind for magic, kind in _FOREIGN_MAGIC.items() if head.startswith(magic)), None)
    what = f"is {kind}, not a model file" if kind else "is not a model file Kiln can read"
    raise ModelError(
        f"{path.name} {what}: it is not in the safetensors format. "
        "Choose a Stable Diffusion .safetensors checkpoint or a diffusers model folder."
    )


def _first_zip_entry(head: bytes) -> str:
    """The name of the first file in a zip archive, from its local file header (or "")."""
    if len(head) < 30:
        return ""
    name_len = int.from_bytes(head[26:28], "little")
    return head[30 : 30 + name_len].decode("utf-8", errors="replace")


def _truncated(path: Path, size: int, needed: int) -> ModelError:
    return ModelError(
        f"{path.name} is truncated or damaged: it is {size} bytes but its header says {needed}; "
        "download it again."
    )


def _validate_entries(path: Path, header: dict, data_size: int, size: int) -> None:
    """Check each tensor entry's dtype, shape and byte range against the data section.

    As safetensors itself requires, the byte ranges must tile the data section exactly: no
    overlaps, no gaps, nothing after the last tensor (safetensors would refuse such a file
    later, deep inside a loader, with a message nobody can act on).
    """
    ranges = []  # (begin, end, name) of every tensor
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict):
                raise ModelError(
                    f"{path.name} is damaged: its metadata is not a JSON object. Download it again."
                )
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            well_formed = (
                isinstance(dtype, str)
                and isinstance(shape, list)
                and all(isinstance(n, int) and n >= 0 for n in shape)
                and isinstance(begin, int)
                and isinstance(end, int)
                and 0 <= begin <= end
            )
        except (TypeError, KeyError, ValueError):
            well_formed = False
        if not well_formed:
            raise ModelError(
                f"{path.name} is damaged: the header entry for tensor {name!r} is malformed. "
                "Download it again."
            )
        if dtype not in DTYPE_BITS:
            raise ModelError(
                f"{path.name} holds tensor {name!r} of type {dtype}, which Kiln does not know. "
                "Use a checkpoint saved in float32, float16 or bfloat16."
            )
        bits = DTYPE_BITS[dtype]
        if bits % 8 == 0 and end - begin != math.prod(shape) * bits // 8:
            raise ModelError(
                f"{path.name} is damaged: tensor {name!r} should take {math.prod(shape) * bits // 8} bytes "
                f"but its header gives it {end - begin}. Download it again."
            )
        ranges.append((begin, end, name))
    needed = max((end for _, end, _ in ranges), default=0)
    if needed > data_size:
        raise _truncated(path, size, size - data_size + needed)
    position, previous = 0, None
    for begin, end, name in sorted(ranges):
        if begin < position:
            raise ModelError(
                f"{path.name} is damaged: tensors {previous!r} and {name!r} overlap in the file. "
                "Download it again."
            )
        if begin > position:
            raise ModelError(
                f"{path.name} is damaged: bytes {position} to {begin} of its tensor data belong to no tensor. "
                "Download it again."
            )
        position, previous = end, name
    if position < data_size:
        raise ModelError(
            f"{path.name} is damaged: it has {data_size - position} bytes after its last tensor. "
            "Download it again."
        )


def header_shapes(header: dict) -> dict[str, tuple[int, ...]]:
    """Tensor name → shape, from a header returned by ``check_checkpoint_file``."""
    return {name: tuple(entry["shape"]) for name, entry in header.items() if name != "__metadata__"}

