"""Restore faces and the face pass: the face boxes of the picture, worked on by a model.

* **Restore faces** runs one ``FaceRequest`` (``inference.restoration_models.jobs``) with every
  box on the editor's worker (a ``gui.session.restoration_worker.RestorationWorker``: its events
  come by the ``restoration`` signal, and the job's own end always reaches us). Each restored face
  is drawn in place as it comes, as the overlay's ``STEP`` frame; the finished picture is applied
  as one undo step ("Restore faces"), so Before / After (\\) and Ctrl+Z work on it. Stop (Esc)
  leaves the picture as it was.
* **The face pass** inpaints the boxes at a low strength with the diffusion model through the
  generation controller (``GenerationController.inpaint_area``): the same path, windows, LoRAs and
  result handling as Generate.

Which face model: ``Settings.restoration_choice("face")`` (File → Models… → Restoration).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, QRect, Signal

from gui.session.face_boxes import FaceBoxes
from gui.session.overlay import CanvasOverlay, Layer
from inference.core.api import JobCancelled, JobFailed, JobFinished, JobStarted, StepPreview
from inference.core.errors import InvalidRequest
from inference.restoration_models.faces import check_face_boxes, face_crop, face_pass_mask
from inference.restoration_models.jobs import FaceRequest

DEFAULT_FIDELITY = 0.5
DEFAULT_PASS_STRENGTH = 0.35  # low: the face pass refines a face, it must not make another person
PREVIEW_SIDE_PX = 1024  # the in-place preview of the faces restored so far, at most this long a side
NO_FACE_MODEL = "Choose a face model in File → Models… → Restoration first"


class FaceRestoration(QObject):
    """Signals: ``busy_changed(bool)`` (a Restore faces job runs), ``progress(str)`` (its status
    text, "" when it ended), ``message(str)`` for the status bar, ``error(str)`` for a dialog,
    ``state_changed()`` (what can run, and why not, may have changed)."""

    busy_changed = Signal(bool)
    progress = Signal(str)
    message = Signal(str)
    error = Signal(str)
    state_changed = Signal()

    def __init__(self, document, boxes: FaceBoxes, overlay: CanvasOverlay, worker, controller, params, settings,
                 parent: QObject | None = None):
        super().__init__(parent)
        self._document, self._boxes, self._overlay = document, boxes, overlay
        self._worker, self._controller, self._params, self._settings = worker, controller, params, settings
        self.fidelity = DEFAULT_FIDELITY
        self.pass_strength = DEFAULT_PASS_STRENGTH
        self._job: FaceRequest | None = None
        self._stopping = False  # Stop was asked: the job's last previews are stale
        self._picture_edits = 0  # image edits so far: one made while a job runs voids its result
        self._edits_at_start = 0
        self._preview: tuple[np.ndarray, QRect, float] | None = None  # buffer, region it covers, scale
        worker.restoration.connect(self._on_event)
        boxes.changed.connect(self.state_changed)
        controller.busy_changed.connect(lambda _busy: self.state_changed.emit())
        params.watch("model_ref", lambda _ref: self.state_changed.emit())
        document.image_changed.connect(self._on_picture_changed)
        document.replaced.connect(self._on_picture_replaced)
        document.resized.connect(self._on_picture_replaced)

    # --- state ----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._job is not None

    def face_model(self) -> str:
        """The face model file chosen in the Models dialog, or ""."""
        return self._settings.restoration_choice("face")

    def restore_ready(self) -> tuple[bool, str]:
        """Whether Restore faces can run now, and what its button says about it (a tooltip)."""
        if self.busy:
            return False, "Restoring faces… Esc stops and leaves the picture as it was"
        if not self._boxes.boxes:
            return False, "Draw a box around each face first (Image → Faces → Face box tool, F)"
        if not self.face_model():
            return False, NO_FACE_MODEL
        return True, "Restore every boxed face with the face model; Fidelity blends the original and the model's face"

    def pass_ready(self) -> tuple[bool, str]:
        """Whether the face pass can run now, and why not (a tooltip)."""
        if self.busy or self._controller.busy:
            return False, "A job is running: wait for it, or stop it with Esc"
        if not self._boxes.boxes:
            return False, "Draw a box around each face first (Image → Faces → Face box tool, F)"
        if not self._params.model_ref:
            return False, "Choose a diffusion model in the Model box first"
        return True, ("Inpaint every boxed face at a low strength with the diffusion model, its LoRAs and the "
                      "prompt; Accept the result with Enter")

    # --- Restore faces ----------------------------------------------------------------------

    def restore(self) -> bool:
        """Restore every box with the face model at ``fidelity``. Returns whether a job started;
        when it cannot, says why (``message``, or ``error`` for a missing model file)."""
        ready, reason = self.restore_ready()
        if not ready:
            self.message.emit(reason + ".")
            return False
        if self._worker.busy:  # replacing it would lose that job's end
            self.message.emit("Another job is running: wait for it, or stop it with Esc, then restore the faces.")
            return False
        model = self.face_model()
        if not Path(model).is_file():
            self.error.emit(f"The face model '{model}' is not there any more: choose one in File → Models… → "
                            "Restoration.")
            return False
        doc = self._document
        boxes = self._checked_boxes("restore the faces")
        if boxes is None:
            return False
        request = FaceRequest(0, model, np.array(doc.image), tuple(boxes), float(self.fidelity))
        self._job, self._stopping = self._worker.submit(request), False
        self._edits_at_start = self._picture_edits
        self._begin_preview(boxes)
        self.progress.emit(f"Restoring faces: 0 of {len(boxes)} done (Esc stops)")
        self.busy_changed.emit(True)
        self.state_changed.emit()
        return True

    def cancel(self) -> None:
        """Stop Restore faces (Esc): the previews go at once, the picture stays as it was."""
        if self._job is not None and not self._stopping:
            self._stopping = True
            self._worker.runner.cancel(self._job.job_id)
            self._overlay.clear(Layer.STEP)
            self.message.emit("Stopping…")

    # --- the face pass ----------------------------------------------------------------------

    def face_pass(self) -> bool:
        """Inpaint the boxes at ``pass_strength`` with the diffusion model (a result to accept).
        Returns whether the generation started."""
        ready, reason = self.pass_ready()
        if not ready or self._worker.busy:  # e.g. an upscale: a generation would replace it
            self.message.emit(reason + "." if not ready else "Another job is running: wait for it, or stop it with Esc.")
            return False
        doc = self._document
        boxes = self._checked_boxes("run the face pass")
        if boxes is None:
            return False
        mask = face_pass_mask(boxes, (doc.height_px, doc.width_px))
        return self._controller.inpaint_area(mask, float(self.pass_strength))

    def _checked_boxes(self, action: str):
        """The boxes clipped to the picture, or None after saying why ``action`` cannot run."""
        try:
            return check_face_boxes(self._boxes.boxes, self._document.width_px, self._document.height_px)
        except InvalidRequest as exc:
            self.error.emit(f"Cannot {action}: {exc}")
            return None

    # --- the job's events -------------------------------------------------------------------

    def _on_event(self, event) -> None:
        if self._job is None or event.job_id != self._job.job_id:
            return  # another restoration job (Upscale, Fill) or an old one
        if isinstance(event, JobStarted):
            self.message.emit("")  # "Loading…" is over
        elif isinstance(event, StepPreview):
            if self._stopping:
                return
            self._show_face(event)
            self.progress.emit(f"Restoring faces: {event.step} of {event.total} done (Esc stops)")
        elif isinstance(event, JobFinished):
            self._end()
            if self._picture_edits != self._edits_at_start:
                self.message.emit("The picture changed while the faces were restored, so the result was left out: "
                                  "run Restore faces again.")
            elif self._document.apply_image(event.image, "Restore faces"):
                count = len(self._boxes.boxes)
                self.message.emit(f"Restored {count} face{'' if count == 1 else 's'}. "
                                  "Compare with \\, undo with Ctrl+Z.")
            else:
                self.message.emit("Restore faces changed nothing (Fidelity 0 keeps the original).")
        elif isinstance(event, JobCancelled):
            by_user = self._stopping
            self._end()
            self.message.emit("Stopped. The picture is unchanged." if by_user else
                              "Restore faces stopped: another job took its place. The picture is unchanged.")
        elif isinstance(event, JobFailed):
            self._end()
            self.error.emit(f"Restore faces failed: {event.message}")

    def _end(self) -> None:
        self._job, self._preview = None, None
        self._overlay.clear(Layer.STEP)
        self.progress.emit("")
        self.busy_changed.emit(False)
        self.state_changed.emit()

    # --- the preview: the faces restored so far, in place ---------------------------------------

    def _begin_preview(self, boxes) -> None:
        """A small copy of the region the faces' crops cover, to paste each restored face into."""
        doc = self._document
        region = QRect()
        for box in boxes:
            region |= QRect(*face_crop(box, doc.width_px, doc.height_px))
        scale = min(1.0, PREVIEW_SIDE_PX / max(region.width(), region.height()))
        crop = np.ascontiguousarray(doc.image[region.top():region.bottom() + 1, region.left():region.right() + 1])
        size = (max(1, round(region.width() * scale)), max(1, round(region.height() * scale)))
        buffer = crop if scale == 1.0 else np.asarray(Image.fromarray(crop).resize(size, Image.BILINEAR))
        self._preview = (np.array(buffer), region, scale)

    def _show_face(self, event: StepPreview) -> None:
        if self._preview is None or event.rgb is None or not event.box:
            return
        buffer, region, scale = self._preview
        x, y, w, h = event.box
        left, top = round((x - region.left()) * scale), round((y - region.top()) * scale)
        right, bottom = round((x + w - region.left()) * scale), round((y + h - region.top()) * scale)
        if right <= left or bottom <= top:
            return
        face = Image.fromarray(np.ascontiguousarray(event.rgb[..., :3])).resize((right - left, bottom - top),
                                                                               Image.BILINEAR)
        buffer = buffer.copy()  # a new frame: the canvas uploads each frame once, by identity
        buffer[top:bottom, left:right] = np.asarray(face)[:buffer.shape[0] - top, :buffer.shape[1] - left]
        self._preview = (buffer, region, scale)
        self._overlay.set(Layer.STEP, buffer, region)

    # --- the picture ------------------------------------------------------------------------

    def _on_picture_changed(self, _rect) -> None:
        self._picture_edits += 1

    def _on_picture_replaced(self) -> None:
        self._picture_edits += 1
        if self._job is not None:
            self.cancel()  # its result was made for the picture that went
