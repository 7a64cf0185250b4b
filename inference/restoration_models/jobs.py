"""Upscale, Restore faces and Fill as kinds of job of the one job runner.

Each request names its model file; ``run_restoration_job`` loads it (kept while the next job uses the
same file), emits ``JobStarted``, one ``StepPreview`` per tile / face / window with the box it
covers in the input picture — so the editor draws the work in place as it happens — and ends with
``JobFinished`` (the new picture), ``JobCancelled`` or ``JobFailed`` with a message a person can act on.
Cancel is checked between tiles and, while the model runs, before each of its layers
(``stop_inside``): a full-size model on a CPU spends minutes on one tile, and Esc or Ctrl+C must
not wait for it.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from inference.core.api import JobCancelled, JobFailed, JobFinished, JobStarted, StepPreview
from inference.core.errors import KilnError

log = logging.getLogger(__name__)
PREVIEW_SIDE_PX = 256  # previews are small: the canvas stretches them over their box


@dataclass(frozen=True)
class UpscaleRequest:
    job_id: int
    model_path: str
    image: np.ndarray = field(repr=False, compare=False)
    factor: int = 2


@dataclass(frozen=True)
class FaceRequest:
    job_id: int
    model_path: str
    image: np.ndarray = field(repr=False, compare=False)
    boxes: tuple[tuple[int, int, int, int], ...] = ()
    fidelity: float = 0.5


@dataclass(frozen=True)
class FillRequest:
    job_id: int
    model_path: str
    image: np.ndarray = field(repr=False, compare=False)
    mask: np.ndarray = field(repr=False, compare=False)


RESTORATION_REQUESTS = (UpscaleRequest, FaceRequest, FillRequest)


class _Stopped(Exception):
    pass


class ModelCache:
    """The last restoration model used, kept for the next job that names the same file."""

    def __init__(self):
        self._key = None
        self._model = None
        self.allow_noncommercial = False

    def get(self, path: str, device: str):
        from inference.restoration_models.model_file import load_restoration_model

        key = (str(path), device, self.allow_noncommercial)
        if key != self._key:
            self._key, self._model = None, None  # free the old one first
            self._model = load_restoration_model(path, self.allow_noncommercial, device)
            self._key = key
        return self._model


_CACHE = ModelCache()


def set_allow_noncommercial(allowed: bool) -> None:
    """Whether jobs may open non-commercial architectures (the user's choice, off by default)."""
    _CACHE.allow_noncommercial = bool(allowed)


def model_for(path: str):
    """The model in ``path`` from the shared cache (loaded on first use, on the best device)."""
    return _CACHE.get(path, _device())


@contextmanager
def stop_inside(module, check_cancel):
    """While inside, ``check_cancel()`` runs before every layer of ``module`` (a torch module, or
    None) runs, so raising there stops the model mid-tile; the hooks are removed on the way out."""
    if module is None:
        yield
        return
    handles = [layer.register_forward_pre_hook(lambda _layer, _inputs: check_cancel())
               for layer in module.modules()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def run_restoration_job(request, emit, cancel: threading.Event, cache: ModelCache = _CACHE,
                        device: str | None = None) -> None:
    """Run one restoration request; emits exactly one terminal event. No exception escapes."""
    import torch

    started = time.monotonic()
    last_step = [0]

    def check_cancel():
        if cancel.is_set():
            raise _Stopped

    def report(index, total, box, rgb):
        last_step[0] = index + 1
        emit(StepPreview(request.job_id, index + 1, total, _small(rgb), time.monotonic() - started, box))

    try:
        device = device or _device()
        model = cache.get(request.model_path, device)
        with stop_inside(getattr(model.descriptor, "model", None), check_cancel):
            result = _run(request, model, emit, report, check_cancel, device)
        final = JobFinished(request.job_id, result, 0, time.monotonic() - started)
    except _Stopped:
        final = JobCancelled(request.job_id, last_step[0])
    except KilnError as exc:
        final = JobFailed(request.job_id, str(exc))
    except torch.OutOfMemoryError:
        final = JobFailed(request.job_id, "the GPU ran out of memory: close other GPU programs, or work on a "
                                          "smaller picture or selection.")
    except MemoryError:
        final = JobFailed(request.job_id, "this computer ran out of memory: close other programs, or work on a "
                                          "smaller picture or selection.")
    except Exception as exc:  # the worker must survive any bug to run the next job
        log.exception("restoration job %s failed", request.job_id)
        final = JobFailed(request.job_id, f"the model failed ({type(exc).__name__}: {exc}).")
    emit(final)


def _run(request, model, emit, report, check_cancel, device: str) -> np.ndarray:
    image = request.image
    height, width = image.shape[:2]
    if isinstance(request, UpscaleRequest):
        from inference.restoration_models.model_file import require_kind
        from inference.restoration_models.tiling import tile_grid
        from inference.restoration_models.upscale import check_upscale_size, tile_for, upscale_image

        require_kind(model, "upscale", "Upscale")
        check_upscale_size(width, height, request.factor)
        tile = tile_for(device)
        emit(JobStarted(request.job_id, len(tile_grid(width, height, tile)), width, height))
        return upscale_image(model, image, request.factor, tile=tile, on_tile=report, check_cancel=check_cancel,
                             device=device)
    if isinstance(request, FaceRequest):
        from inference.restoration_models.faces import restore_faces

        emit(JobStarted(request.job_id, len(request.boxes), width, height))
        return restore_faces(model, image, request.boxes, request.fidelity, check_cancel, report, device)
    from inference.restoration_models.fill import count_fill_windows, fill_holes

    emit(JobStarted(request.job_id, count_fill_windows(request.mask), width, height))
    return fill_holes(model, image, request.mask, check_cancel=check_cancel, on_window=report, device=device)


def _device() -> str:
    from inference.hardware.devices import choose_device

    return choose_device(precision="fp32").device


def _small(rgb: np.ndarray) -> np.ndarray:
    from PIL import Image

    height, width = rgb.shape[:2]
    if max(height, width) <= PREVIEW_SIDE_PX:
        return np.array(rgb)
    ratio = PREVIEW_SIDE_PX / max(height, width)
    size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize(size, Image.BILINEAR))
