"""Upscale and Fill in the editor: learned restoration models on the editor's job runner.

``RestorationJobs`` owns the running upscale or fill job. It sends an ``UpscaleRequest`` or a
``FillRequest`` (``inference.restoration_models.jobs``; the frozen request carries copies of the
picture and mask) through the editor's ``RestorationWorker``, on the one runner that also runs
generations — one job at a time, so it refuses to start while another job runs, and a generation
started meanwhile replaces it (it stops, the picture unchanged, and says so). While it runs:

* each finished tile (upscale) or window (fill) is drawn in place over the picture as the
  overlay's ``STEP`` frame (``TileSweep``), so the work sweeps across the canvas;
* ``progress(step, total, text)`` says "Upscaling: tile 3 of 40, about 1 min left";
* ``cancel()`` (Esc, Stop) stops it within a tile; nothing in the document changes.

The result is one undoable edit: Upscale replaces every layer at the new size
(``Document.resize_layers``: the picture enlarged, the mask and the paint layer scaled with it);
Upscale of the masked area (``upscale(factor, masked_area=True)``) enlarges only the bounding box
of the masked pixels plus ``MASK_MARGIN_PX`` (``masked_area``), previewed over that area, and the
picture becomes that crop enlarged: the mask and paint are cropped and scaled with it, and the face
boxes moved by the crop's offset and scaled (``FaceBoxes.moving_with_picture``), in one step;
Fill replaces the masked pixels (pixels outside the mask stay byte for byte) and clears the mask.
A result made from a picture (or, for Fill, a mask) that changed meanwhile is not applied.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, QRect, Signal

from gui.session.face_boxes import face_boxes_of
from gui.session.overlay import CanvasOverlay, Layer
from inference.core.api import MAX_IMAGE_SIDE_PX, JobCancelled, JobFailed, JobFinished, JobStarted, StepPreview
from inference.core.errors import InvalidRequest
from inference.restoration_models.jobs import FillRequest, UpscaleRequest
from inference.restoration_models.upscale import check_upscale_size

MASK_MARGIN_PX = 8  # around the masked pixels, when only the masked area is upscaled
PREVIEW_SIDE_PX = 2048  # the sweep's frame: tile previews are small, more pixels only cost uploads
ACTIONS = {  # kind → (action, doing, what it needs, what one step is)
    "upscale": ("Upscale", "Upscaling", "an upscaler (super-resolution model)", "tile"),
    "fill": ("Fill", "Filling", "a fill model (LaMa)", "window"),
}


def upscale_problem(width_px: int, height_px: int, factor: int) -> str:
    """Why ×``factor`` of a ``width_px``×``height_px`` picture cannot be made ("" if it can)."""
    try:
        check_upscale_size(width_px, height_px, factor)
    except InvalidRequest as exc:
        return str(exc)
    side = max(width_px, height_px) * factor
    if side > MAX_IMAGE_SIDE_PX:
        return (f"×{factor} of {width_px}×{height_px} would be {side:,} px on its long side; Kiln's pictures "
                f"go up to {MAX_IMAGE_SIDE_PX:,} px a side. Choose a smaller factor.")
    return ""


def masked_area(mask: np.ndarray, margin: int = MASK_MARGIN_PX) -> tuple[int, int, int, int] | None:
    """The area Upscale crops to for "only the masked area": the bounding box of ``mask``'s (H×W)
    pixels above 0 grown by ``margin`` px each side, clamped to the picture, as (x, y, w, h) image
    px; None when nothing is masked."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    height, width = mask.shape[:2]
    x0, y0 = max(0, int(cols[0]) - margin), max(0, int(rows[0]) - margin)
    x1, y1 = min(width, int(cols[-1]) + 1 + margin), min(height, int(rows[-1]) + 1 + margin)
    return x0, y0, x1 - x0, y1 - y0


def model_needed_text(kind: str) -> str:
    action, _doing, needs, _step = ACTIONS[kind]
    return (f"{action} needs {needs}, and none is chosen. Choose one in File → Models… → Restoration.\n\n"
            f"To try {action} without downloading one, make a random-weight model:\n"
            f"python main.py make-test-model {kind}.safetensors --restoration {kind}")


def about_left(seconds: float) -> str:
    """A rough time left: "a few seconds left", "about 40 s left", "about 3 min left"."""
    if seconds < 8:
        return "a few seconds left"
    if seconds < 60:
        return f"about {round(seconds / 5) * 5} s left"
    return f"about {max(1, round(seconds / 60))} min left"


class TileSweep:
    """The tiles or windows finished so far, in place over the picture: an H×W×4 uint8 frame of
    the picture's size (shrunk to at most ``PREVIEW_SIDE_PX`` a side), transparent where nothing
    is finished yet. With ``mask`` (H×W uint8) a window shows only where the mask is painted."""

    def __init__(self, width_px: int, height_px: int, mask: np.ndarray | None = None):
        self._scale = min(1.0, PREVIEW_SIDE_PX / max(width_px, height_px))
        size = (max(1, round(width_px * self._scale)), max(1, round(height_px * self._scale)))
        self._frame = np.zeros((size[1], size[0], 4), np.uint8)
        self._mask = None
        if mask is not None:
            self._mask = np.asarray(Image.fromarray(np.ascontiguousarray(mask)).resize(size, Image.BILINEAR))

    def add(self, box: tuple[int, int, int, int], rgb: np.ndarray) -> np.ndarray:
        """Draw ``rgb`` (h×w×3 uint8, any size) stretched over ``box`` (x, y, w, h in picture px);
        returns the frame as a new array (the overlay compares frames by identity)."""
        x, y, w, h = box
        height, width = self._frame.shape[:2]
        x0, y0 = min(width - 1, math.floor(x * self._scale)), min(height - 1, math.floor(y * self._scale))
        x1, y1 = min(width, max(x0 + 1, math.ceil((x + w) * self._scale))), min(height, max(y0 + 1, math.ceil((y + h) * self._scale)))
        piece = np.asarray(Image.fromarray(np.ascontiguousarray(rgb[..., :3])).resize((x1 - x0, y1 - y0), Image.BILINEAR))
        target = self._frame[y0:y1, x0:x1]
        alpha = np.full(piece.shape[:2], 255, np.uint8) if self._mask is None else self._mask[y0:y1, x0:x1]
        shown = alpha > 0
        target[..., :3][shown] = piece[shown]
        np.maximum(target[..., 3], alpha, out=target[..., 3])
        return self._frame.copy()


def scale_layers(mask: np.ndarray, paint: np.ndarray, width_px: int, height_px: int) -> tuple[np.ndarray, np.ndarray]:
    """The mask (H×W uint8) and the paint layer (H×W×4 straight RGBA) at ``width_px``×``height_px``:
    the mask bilinear (a soft edge stays soft), the paint bicubic on premultiplied colour (Pillow's
    RGBA resize), so no dark fringe appears where it is transparent. Empty layers stay empty."""
    size = (width_px, height_px)
    new_mask = np.zeros((height_px, width_px), np.uint8)
    if mask.any():
        new_mask = np.asarray(Image.fromarray(np.ascontiguousarray(mask)).resize(size, Image.BILINEAR))
    new_paint = np.zeros((height_px, width_px, 4), np.uint8)
    if paint[..., 3].any():
        new_paint = np.asarray(Image.fromarray(np.ascontiguousarray(paint), "RGBA").resize(size, Image.BICUBIC))
    return new_mask, new_paint


class RestorationJobs(QObject):
    """Signals: ``busy_changed(bool)``; ``progress(step, total, text)`` for the status bar;
    ``message(str)``; ``error(str)`` for a dialog (no model chosen, a job that failed: the
    picture is unchanged); ``fill_available(bool, reason)`` (Fill needs a mask and an idle
    runner); ``applied(kind)`` after a result changed the document."""

    busy_changed = Signal(bool)
    progress = Signal(int, int, str)
    message = Signal(str)
    error = Signal(str)
    fill_available = Signal(bool, str)
    applied = Signal(str)

    def __init__(self, document, overlay: CanvasOverlay, worker, settings, parent: QObject | None = None):
        super().__init__(parent)
        from inference.restoration_models.jobs import set_allow_noncommercial

        set_allow_noncommercial(settings.allow_noncommercial())  # the saved choice, from the first job on
        self._document, self._overlay, self._worker, self._settings = document, overlay, worker, settings
        self._request = None  # the running job's request (None: nothing runs)
        self._kind = ""
        self._stopping = False  # cancel was asked: its previews are stale
        self._sweep: TileSweep | None = None
        self._crop: tuple[int, int, int, int] | None = None  # the running upscale's area (None: all of it)
        self._versions = {"image": 0, "mask": 0}
        self._asked_versions = (0, 0)
        worker.restoration.connect(self._on_event)
        document.image_changed.connect(lambda *_: self._bump("image"))
        document.mask_changed.connect(lambda *_: self._bump("mask"))
        for signal in (document.replaced, document.resized):
            signal.connect(self._on_picture_replaced)
        document.undo_stack.indexChanged.connect(self._emit_fill_available)
        document.replaced.connect(self._emit_fill_available)

    @property
    def busy(self) -> bool:
        return self._request is not None

    @property
    def kind(self) -> str:
        """"upscale" or "fill" while that runs, else ""."""
        return self._kind if self.busy else ""

    def model_path(self, kind: str) -> str:
        """The model file chosen for ``kind`` in File → Models… → Restoration ("" if none)."""
        return self._settings.restoration_choice(kind)

    def allow_noncommercial(self) -> bool:
        """Non-commercial architectures turned on (File → Models… → Restoration)."""
        return self._settings.allow_noncommercial()

    def fill_state(self) -> tuple[bool, str]:
        """Whether Fill can start now, and if not, why (for its button's tip)."""
        if self.busy:
            return False, f"{ACTIONS[self._kind][1]}… (Esc stops it)"
        if not self._document.has_mask():
            return False, "Paint the mask over what to fill first (or use Detect damage), then Fill."
        return True, "Fill the masked area from its surroundings with the learned fill model (LaMa)"

    # --- starting -------------------------------------------------------------------------

    def upscale(self, factor: int, masked_area: bool = False) -> bool:
        """Enlarge the picture ×``factor`` (2, 3 or 4) with the chosen upscaler; with
        ``masked_area``, only the masked area (``masked_area()``), which the picture becomes. False,
        with a message or error saying why, when it cannot start."""
        doc = self._document
        crop = self.masked_area() if masked_area else (0, 0, doc.width_px, doc.height_px)
        if crop is None:
            self.message.emit("Paint the mask over the area to enlarge first, then Upscale only the masked area.")
            return False
        x, y, width, height = crop
        problem = upscale_problem(width, height, factor)
        if problem:
            self.error.emit(problem)
            return False
        path = self.ready_model("upscale")
        if not path:
            return False
        image = np.array(doc.image[y:y + height, x:x + width])
        started = self._start("upscale", UpscaleRequest(0, path, image, factor),
                              f"{'the masked area ' if masked_area else ''}{width}×{height} → "
                              f"{width * factor}×{height * factor}")
        self._crop = crop if masked_area else None
        return started

    def masked_area(self) -> tuple[int, int, int, int] | None:
        """The area (x, y, w, h image px) Upscale of the masked area enlarges; None without a mask."""
        return masked_area(self._document.mask)

    def fill(self) -> bool:
        """Fill the masked area with the chosen fill model, then clear the mask (one undo step)."""
        doc = self._document
        if not self.busy and not doc.has_mask():
            self.message.emit(self.fill_state()[1])
            return False
        path = self.ready_model("fill")
        if not path:
            return False
        return self._start("fill", FillRequest(0, path, np.array(doc.image), np.array(doc.mask)), "the masked area")

    def ready_model(self, kind: str) -> str:
        """The chosen model's path if a job of ``kind`` may start now, else "" (said why)."""
        action = ACTIONS[kind][0]
        if self.busy:
            self.message.emit(f"{ACTIONS[self._kind][1]} runs already: wait for it, or stop it with Esc.")
            return ""
        if getattr(self._worker, "teaching", False):
            self.message.emit(f"Kiln is teaching the model: {action} waits until that ends (or stop it in "
                              "File → Teach the model…).")
            return ""
        if self._worker.busy:
            self.message.emit(f"A generation is running: wait for it, or stop it with Esc, then {action}.")
            return ""
        path = self.model_path(kind)
        if not path:
            self.error.emit(model_needed_text(kind))
            return ""
        if not Path(path).is_file():
            self.error.emit(f"The model chosen for {action}, {path}, is no longer there. Choose it again in "
                            "File → Models… → Restoration.")
            return ""
        return path

    def _start(self, kind: str, request, what: str) -> bool:
        self._request = self._worker.submit(request)  # the job runner numbers it
        self._kind, self._stopping, self._sweep, self._crop = kind, False, None, None
        self._asked_versions = (self._versions["image"], self._versions["mask"])
        self.busy_changed.emit(True)
        self._emit_fill_available()
        self.progress.emit(0, 0, f"{ACTIONS[kind][1]} {what}: loading the model…")
        return True

    def cancel(self) -> None:
        """Stop the running job within a tile; the picture stays exactly as it was."""
        if self.busy and not self._stopping:
            self._stopping = True
            self._worker.runner.cancel(self._request.job_id)
            self._overlay.clear(Layer.STEP)
            self.message.emit("Stopping…")

    # --- the job's events -----------------------------------------------------------------

    def _on_event(self, event) -> None:
        request = self._request
        if request is None or event.job_id != request.job_id:
            return
        _action, doing, _needs, step_name = ACTIONS[self._kind]
        if isinstance(event, JobStarted):
            height, width = request.image.shape[:2]
            self._sweep = TileSweep(width, height, request.mask if isinstance(request, FillRequest) else None)
            total = f": {event.total_steps} {step_name}s" if event.total_steps else ""
            self.progress.emit(0, event.total_steps, f"{doing}{total}…")
        elif isinstance(event, StepPreview):
            if self._stopping or self._sweep is None:
                return
            if event.rgb is not None and event.box:
                # The boxes are in the request's pixels: a crop's sweep is drawn over the crop.
                target = QRect(*self._crop) if self._crop is not None else None
                self._overlay.set(Layer.STEP, self._sweep.add(event.box, event.rgb), target)
            left = event.elapsed_s / event.step * (event.total - event.step)
            self.progress.emit(event.step, event.total,
                               f"{doing}: {step_name} {event.step} of {event.total}, {about_left(left)}")
        elif isinstance(event, JobFinished):
            self._end()
            self._apply(request, event)
        elif isinstance(event, JobCancelled):
            stopped_by_user = self._stopping
            self._end()
            self.progress.emit(0, 1, "Stopped")
            self.message.emit("Stopped. The picture is unchanged." if stopped_by_user else
                              f"{ACTIONS[self._kind][0]} stopped: another job took its place. The picture is unchanged.")
        elif isinstance(event, JobFailed):
            self._end()
            self.progress.emit(0, 1, "Failed")
            self.error.emit(f"{ACTIONS[self._kind][0]} failed: {event.message} The picture is unchanged.")

    def _end(self) -> None:
        self._request, self._sweep = None, None
        self._overlay.clear(Layer.STEP)
        self.busy_changed.emit(False)
        self._emit_fill_available()

    def _apply(self, request, event: JobFinished) -> None:
        doc = self._document
        image_changed = self._versions["image"] != self._asked_versions[0]
        mask_changed = isinstance(request, FillRequest) and self._versions["mask"] != self._asked_versions[1]
        action = ACTIONS[self._kind][0]
        if image_changed or mask_changed:
            self.progress.emit(0, 1, "Not applied")
            self.message.emit(f"The picture{'s mask' if mask_changed and not image_changed else ''} changed while "
                              f"{ACTIONS[self._kind][1].lower()}: {action} again.")
            return
        if isinstance(request, UpscaleRequest):
            height, width = event.image.shape[:2]
            try:
                old = self._apply_upscale(event.image, request.factor)
            except MemoryError:
                self.error.emit(f"This computer ran out of memory holding the {width}×{height} picture: close "
                                "other programs, or choose a smaller factor. The picture is unchanged.")
                return
            self.message.emit(f"Upscaled {old} → {width}×{height}. Undo with Ctrl+Z.")
        else:
            # Only masked pixels change: the model's feathered paste-back reaches a few px past the
            # mask, and what is outside the mask is the user's to keep.
            filled = np.where(request.mask[..., None] > 0, event.image, request.image)
            stack = doc.undo_stack
            stack.beginMacro("Fill hole")
            doc.apply_image(filled, "Fill hole")
            doc.clear_mask()
            stack.endMacro()
            self.message.emit("Filled the masked area. Undo with Ctrl+Z; compare with \\.")
        self.progress.emit(1, 1, f"{action} done in {event.elapsed_s:.1f} s")
        self.applied.emit(self._kind)

    def _apply_upscale(self, image: np.ndarray, factor: int) -> str:
        """The enlarged picture (or crop) replaces every layer, as one undo step; says what was enlarged."""
        doc = self._document
        height, width = image.shape[:2]
        if self._crop is None:
            old = f"{doc.width_px}×{doc.height_px}"
            mask, paint = scale_layers(doc.mask, doc.paint, width, height)
            doc.resize_layers(image, mask, paint, f"Upscale ×{factor}")
            return old
        x, y, w, h = self._crop
        text = f"Upscale ×{factor} (masked area)"
        mask, paint = scale_layers(doc.mask[y:y + h, x:x + w], doc.paint[y:y + h, x:x + w], width, height)
        # Said explicitly, not guessed from the sizes: the boxes move by the crop's offset, then scale.
        with face_boxes_of(doc).moving_with_picture(-x, -y, text, scale=factor):
            doc.resize_layers(image, mask, paint, text)
        return f"the masked area {w}×{h}"

    # --- the document ---------------------------------------------------------------------

    def _bump(self, layer: str) -> None:
        self._versions[layer] += 1

    def _on_picture_replaced(self) -> None:
        self._bump("image")
        self._bump("mask")
        self.cancel()  # the job was made for a picture that is gone

    def _emit_fill_available(self, *_args) -> None:
        self.fill_available.emit(*self.fill_state())
