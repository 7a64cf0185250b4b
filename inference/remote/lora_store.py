"""LoRA files a client sends a server, kept by their SHA-256 so each travels once.

A request names a LoRA as ``sha256:<hex>``; the client uploads the file first when the server does
not have it (``PUT /loras/<hex>``). The server keeps only what hashes to its name and is a whole
safetensors file (checked as any model file is; a pickle is refused), under
``~/.cache/kiln/server-loras`` (``KILN_LORA_STORE`` elsewhere). What is in a LoRA is judged by the
engine when it loads it, as for a local file. No Qt, no Ray.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from inference.core.errors import InvalidRequest, KilnError

MAX_LORA_BYTES = 1024 * 1024 * 1024
_NAME = re.compile(r"^sha256:([0-9a-f]{64})$")


def store_folder() -> Path:
    folder = Path(os.environ.get("KILN_LORA_STORE") or Path.home() / ".cache" / "kiln" / "server-loras")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def lora_name(path) -> str:
    """The name a LoRA file travels under: ``sha256:`` and the hash of its bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def stored_path(name: str) -> Path | None:
    """The stored file of a ``sha256:<hex>`` name, or None when the server does not have it."""
    match = _NAME.match(name or "")
    if match is None:
        raise InvalidRequest(f"a LoRA must be named by its sha256 on a server, not {name!r}.")
    path = store_folder() / f"{match.group(1)}.safetensors"
    return path if path.is_file() else None


def store(hex_digest: str, data: bytes) -> Path:
    """Keep ``data`` as the LoRA ``sha256:hex_digest``. Raises InvalidRequest when it is not that file
    or not a safetensors file."""
    from inference.files.image_save import write_atomically
    from inference.models.checkpoint_format import check_checkpoint_file

    if not re.fullmatch(r"[0-9a-f]{64}", hex_digest or ""):
        raise InvalidRequest("a LoRA upload is named by the sha256 of its bytes.")
    if len(data) > MAX_LORA_BYTES:
        raise InvalidRequest(f"the LoRA is over {MAX_LORA_BYTES >> 20} MB.")
    if hashlib.sha256(data).hexdigest() != hex_digest:
        raise InvalidRequest("the LoRA's bytes do not match its sha256: the upload was damaged. Try again.")
    path = store_folder() / f"{hex_digest}.safetensors"
    partial = path.with_name(f".{hex_digest}.checking.safetensors")
    partial.write_bytes(data)
    try:
        check_checkpoint_file(partial)
    except KilnError as exc:
        raise InvalidRequest(f"the LoRA was refused: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    write_atomically(path, lambda fh: fh.write(data))
    return path
