"""Requests and events as they travel between a Kiln client and a Kiln server: JSON, arrays as PNG.

A request is its frozen dataclass's fields as a JSON object (``Mode`` by value, tuples as lists),
with each array (image, mask, luminance) as a base64 PNG — 8-bit RGB or 8-bit gray, lossless, so a
remote job sees exactly the pixels a local one would. Events go back one JSON object per line
(NDJSON), tagged by ``"event"``; previews and the finished picture are PNGs too.

The server decodes arrays with the hardened image loader (``inference.files.image_io``: format
sniffing, pixel limits, truncation) after a size check on the raw bytes, and builds the request
through its dataclass, so every check a local request passes applies. Model references (the
diffusion model, a learned-fill model, a restoration model) go through the server's ``resolve``;
LoRAs travel by the SHA-256 of their file (``lora_store``: the client uploads one the server lacks).
``branch_from`` carries the client's job id; the server maps it.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import io
import json
import tempfile
from pathlib import Path

import numpy as np

from inference.core.api import (
    GenerationRequest, JobCancelled, JobFailed, JobFinished, JobNotice, JobStarted, Mode, StepPreview,
)
from inference.core.errors import InvalidRequest

ARRAY_FIELDS = ("image", "mask", "luminance")
EVENTS = {cls.__name__: cls for cls in (JobStarted, StepPreview, JobNotice, JobFinished, JobCancelled, JobFailed)}
MAX_REQUEST_BYTES = 256 * 1024 * 1024  # a 24 MP scan with its mask and luminance is about 60 MB of PNG
MAX_REQUEST_MEGAPIXELS = 64.0


def encode_png(array: np.ndarray) -> str:
    """An H×W×3 or H×W uint8 array → base64 PNG text (lossless, fast compression)."""
    from PIL import Image

    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise InvalidRequest(f"only 8-bit RGB or gray pictures travel to a server, not {array.dtype} "
                             f"{array.shape}.")
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_png(text: str, gray: bool = False, max_megapixels: float = MAX_REQUEST_MEGAPIXELS) -> np.ndarray:
    """Base64 PNG text → uint8 array, through the hardened loader. Raises InvalidRequest."""
    from inference.core.errors import KilnError
    from inference.files.image_io import load_mask, load_rgb

    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeError) as exc:
        raise InvalidRequest(f"a picture in the request is not base64 PNG ({exc}).") from None
    if not raw.startswith(b"\x89PNG\r\n\x1a\n"):
        raise InvalidRequest("a picture in the request is not a PNG.")
    with tempfile.TemporaryDirectory(prefix="kiln-request-") as folder:
        path = Path(folder) / "picture.png"
        path.write_bytes(raw)
        try:
            return (load_mask if gray else load_rgb)(path, max_megapixels=max_megapixels)
        except KilnError as exc:
            raise InvalidRequest(f"a picture in the request was refused: {exc}") from None


def _kinds() -> dict:
    from inference.restoration_models.jobs import FaceRequest, FillRequest, UpscaleRequest

    return {cls.__name__: cls for cls in (GenerationRequest, UpscaleRequest, FaceRequest, FillRequest)}


def request_to_json(request, lora_names: dict[str, str] | None = None) -> dict:
    """The request as a JSON object, ``"kind"`` its class. LoRAs go by ``lora_names`` (path →
    ``sha256:…``, the names they were uploaded under); without it a request with LoRAs is refused."""
    if not isinstance(request, GenerationRequest):
        out = {"kind": type(request).__name__}
        for f in dataclasses.fields(request):
            value = getattr(request, f.name)
            if f.name in ARRAY_FIELDS:
                value = encode_png(np.asarray(value))
            elif f.name == "model_path":
                value = str(value)
            elif isinstance(value, tuple):
                value = [list(v) for v in value]
            out[f.name] = value
        return out
    if request.loras and not all(path in (lora_names or {}) for path, _ in request.loras):
        raise InvalidRequest("LoRAs are files on this computer: they must be sent to the server first.")
    out = {"kind": "GenerationRequest"}
    for f in dataclasses.fields(request):
        value = getattr(request, f.name)
        if f.name in ARRAY_FIELDS:
            value = None if value is None else encode_png(np.asarray(value))
        elif isinstance(value, enum.Enum):
            value = value.value
        elif f.name == "loras":
            value = [[lora_names[path], weight] for path, weight in value]
        elif isinstance(value, tuple):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        out[f.name] = value
    return out


def request_from_json(data, job_id: int = 0, resolve=lambda ref: ref):
    """A request built from its JSON object, every field checked; each model reference goes through
    ``resolve`` (the server's models; it raises KilnError for one it does not offer) and each LoRA
    must be in the server's store. Raises InvalidRequest (or resolve's KilnError)."""
    if not isinstance(data, dict):
        raise InvalidRequest("the request is not a JSON object.")
    data = dict(data)
    cls = _kinds().get(data.pop("kind", "GenerationRequest"))
    if cls is None:
        raise InvalidRequest("this server does not run that kind of job: use the same Kiln version on both computers.")
    if cls is not GenerationRequest:
        if isinstance(data.get("model_path"), str):
            data["model_path"] = resolve(data["model_path"])
        return _restoration_from_json(cls, data, job_id)
    names = {f.name for f in dataclasses.fields(GenerationRequest)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InvalidRequest(f"the request has fields this server does not know: {', '.join(unknown)}. "
                             "Use the same Kiln version on both computers.")
    values = dict(data, job_id=job_id)
    for name in ARRAY_FIELDS:
        if values.get(name) is not None:
            if not isinstance(values[name], str):
                raise InvalidRequest(f"'{name}' must be a base64 PNG.")
            values[name] = decode_png(values[name], gray=name != "image")
    try:
        values["mode"] = Mode(values.get("mode"))
    except ValueError:
        raise InvalidRequest(f"unknown mode {values.get('mode')!r}.") from None
    values["loras"] = _stored_loras(values.get("loras") or [])
    for key in ("model_ref", "fill_model"):
        if isinstance(values.get(key), str) and (key == "model_ref" or values[key]):
            values[key] = resolve(values[key])
    branch = values.get("branch_from")
    if branch is not None:
        if not (isinstance(branch, list) and len(branch) == 2 and all(isinstance(v, int) for v in branch)):
            raise InvalidRequest("'branch_from' must be [job id, step].")
        values["branch_from"] = tuple(branch)
    for key in ("prompt", "negative_prompt", "model_ref", "scheduler", "prefill", "fill_model"):
        if key in values and not isinstance(values[key], str):
            raise InvalidRequest(f"'{key}' must be text.")
    try:
        return GenerationRequest(**values)
    except TypeError as exc:
        raise InvalidRequest(f"the request's fields have the wrong types ({exc}).") from None


def _stored_loras(loras) -> tuple:
    from inference.remote.lora_store import stored_path

    if not isinstance(loras, list) or len(loras) > 16:
        raise InvalidRequest("'loras' must be a list of [name, weight] pairs (16 at most).")
    found = []
    for pair in loras:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], (int, float))):
            raise InvalidRequest("each LoRA must be [name, weight].")
        path = stored_path(pair[0] if isinstance(pair[0], str) else "")
        if path is None:
            raise InvalidRequest(f"the server does not have the LoRA {pair[0]}: send it first (PUT /loras/…).")
        found.append((str(path), float(pair[1])))
    return tuple(found)


def _restoration_from_json(cls, data: dict, job_id: int):
    names = {f.name for f in dataclasses.fields(cls)}
    if set(data) - names or not isinstance(data.get("model_path"), str) or not isinstance(data.get("image"), str):
        raise InvalidRequest(f"the {cls.__name__} has unknown or missing fields: use the same Kiln version on both "
                             "computers.")
    values = dict(data, job_id=job_id, image=decode_png(data["image"]))
    if cls.__name__ == "FillRequest":
        if not isinstance(data.get("mask"), str):
            raise InvalidRequest("a fill needs its mask.")
        values["mask"] = decode_png(data["mask"], gray=True)
        if values["mask"].shape != values["image"].shape[:2]:
            raise InvalidRequest("the mask and the picture differ in size.")
    if "boxes" in values:
        try:
            values["boxes"] = tuple(tuple(int(v) for v in box) for box in values["boxes"])[:64]
        except (TypeError, ValueError):
            raise InvalidRequest("face boxes must be [x, y, width, height] lists.") from None
    for key in ("factor", "fidelity"):
        if key in values and not isinstance(values[key], (int, float)):
            raise InvalidRequest(f"'{key}' must be a number.")
    return cls(**values)


def event_to_line(event) -> bytes:
    """One event as one NDJSON line."""
    data = {"event": type(event).__name__}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if isinstance(value, np.ndarray):
            value = encode_png(value)
        elif isinstance(value, tuple):
            value = list(value)
        data[f.name] = value
    return (json.dumps(data) + "\n").encode("utf-8")


def event_from_line(line: bytes | str):
    """One NDJSON line → the event it carries. Raises ValueError for a line that is not one."""
    data = json.loads(line)
    cls = EVENTS.get(data.pop("event", None)) if isinstance(data, dict) else None
    if cls is None:
        raise ValueError("not a Kiln event")
    for key in ("rgb", "image"):
        if isinstance(data.get(key), str):
            data[key] = _png_array(data[key])
    if isinstance(data.get("box"), list):
        data["box"] = tuple(data["box"])
    return cls(**data)


def _png_array(text: str) -> np.ndarray:
    """A PNG from the server (previews, results): decoded with Pillow's limits in force."""
    from PIL import Image

    from inference.files.image_io import kiln_pillow_limits

    with kiln_pillow_limits(), Image.open(io.BytesIO(base64.b64decode(text))) as image:
        return np.asarray(image.convert("RGB"))
