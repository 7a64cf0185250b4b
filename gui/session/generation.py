"""The generation controller: document + panel params → request → job runner → overlay and results.

Owns the running job, the progress text and which result is shown over the picture. The
request's image is the picture as shown — the photo or blank canvas with the visible paint layer
over it — so paint is a sketch the model works from. Each step's preview is the overlay's
``STEP`` frame, in place (for inpainting, only inside the mask); a finished result joins the
results model (``gui.session.results``) and is the overlay's ``RESULT`` frame until the user
accepts it (one undoable edit) or moves on. Live jobs
(``generate(live=True)``, started by ``gui.session.live_mode``) show their result the same way but enter
the history only when accepted. Cancel restores the canvas.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtCore import QObject, Signal

from gui.session.generation_params import GenerationParams, build_request, mode_for
from gui.session.overlay import CanvasOverlay, Layer
from gui.session.results import HistoryEntry, ResultsModel
from gui.session.step_overlay import step_overlay
from gui.session.timeline import StepTimeline
from inference.core.api import GenerationRequest, JobCancelled, JobFailed, JobFinished, JobStarted, Mode, StepPreview
from inference.core.errors import KilnError
from inference.restore.tone_match import luminance
from inference.files.metadata import format_parameters
from inference.models.model_ref import model_display_name


def format_eta(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class GenerationController(QObject):
    """Signals: ``busy_changed(bool)`` (emitted last when a job ends, so listeners see the final
    state), ``progress(step, total, text)``, ``message(str)`` for the status bar, ``error(str)``
    for a dialog, ``model_needed()`` when Generate has no model, ``mode_changed(Mode, sketch)``
    (sketch: visible paint is part of the image), ``result_shown(bool)`` (a result is on the
    canvas, not applied), ``applied()`` after Accept changed the document."""

    busy_changed = Signal(bool)
    progress = Signal(int, int, str)
    message = Signal(str)
    error = Signal(str)
    model_needed = Signal()
    mode_changed = Signal(object, bool)
    result_shown = Signal(bool)
    applied = Signal()
    awaits_accept = Signal()  # a finished (not live) result waits for Enter / Backspace

    def __init__(self, document, overlay: CanvasOverlay, params: GenerationParams, worker, results: ResultsModel,
                 parent=None):
        super().__init__(parent)
        self._document, self._overlay, self._params = document, overlay, params
        self._worker, self.results = worker, results
        self._request: GenerationRequest | None = None
        self._live = False  # the running job is a live one
        self._stopping = False  # cancel was asked: the running job's previews are stale
        self._sketch_jobs: set[int] = set()  # jobs whose image held visible paint
        self._own_mask_jobs: set[int] = set()  # inpainting jobs whose mask was not the document's
        self.timeline = StepTimeline(self)  # the last job's step previews, to scrub and branch from
        worker.started.connect(self._on_started)
        worker.step.connect(self._on_step)
        worker.finished.connect(self._on_finished)
        worker.cancelled.connect(self._on_cancelled)
        worker.failed.connect(self._on_failed)
        worker.status.connect(self.message)
        worker.notice.connect(self._on_notice)
        results.shown_changed.connect(self._on_shown_changed)
        # The mode is re-read per edit, not per pointer move: finding paint scans the layer.
        document.undo_stack.indexChanged.connect(self._emit_mode)
        document.paint_visibility_changed.connect(self._emit_mode)
        document.replaced.connect(self._on_replaced)
        document.resized.connect(self._on_resized)

    @property
    def busy(self) -> bool:
        return self._request is not None

    @property
    def mode(self) -> Mode:
        return self._mode_and_sketch()[0]

    @property
    def sketching(self) -> bool:
        """Whether visible paint is part of the image the next request starts from."""
        return self._mode_and_sketch()[1]

    def _mode_and_sketch(self) -> tuple[Mode, bool]:
        doc = self._document
        has_paint = doc.paint_visible and doc.has_paint()
        return mode_for(doc.is_blank, doc.has_mask(), has_paint), has_paint

    # --- actions ------------------------------------------------------------------------

    def generate(self, live: bool = False) -> bool:
        """Start a job from the current document — the picture as shown, visible paint
        included — and params; a running job is replaced. ``live``: the result is shown but
        enters the history only when accepted. Returns whether a job started."""
        doc = self._document
        return self._start_from_document(live, lambda params, has_paint: build_request(
            0, params, doc.composite(), doc.mask, doc.is_blank, has_paint))

    def colorize(self) -> bool:
        """Colourise the picture (Image → Colourise): image-to-image from the picture as shown,
        with the panel's prompt, strength and seed, of which only the colours are kept, on the
        photo's own luminance (``inference.restore.chroma``). Colour hints painted on the paint
        layer steer the colours and leave no trace in the tones. A result like any other."""
        doc = self._document
        if doc.is_blank:
            self.error.emit("Colourise works on a photo: open one first (File → Open).")
            return False

        def colourise(params, has_paint):  # the whole picture, whatever is masked
            request = build_request(0, params, doc.composite(), np.zeros(doc.mask.shape, np.uint8), False, has_paint)
            return dataclasses.replace(request, colorize=True, luminance=luminance(doc.image))

        return self._start_from_document(False, colourise)

    @property
    def model_ref(self) -> str:
        """The diffusion model chosen in the panel ("" when none)."""
        return self._params.model_ref

    def add_detail(self, strength: float = 0.3) -> bool:
        """Add detail (Image → Add detail…, or after Upscale): image-to-image over the whole picture
        at a low ``strength``, tile by tile at the model's own size and the picture's full
        resolution (``GenerationRequest.detail``), with the panel's model, prompt, LoRAs and seed.
        A result like any other."""
        doc = self._document
        if doc.is_blank:
            self.error.emit("Add detail works on a photo: open one first (File → Open).")
            return False

        def detail(params, has_paint):
            params.strength = strength
            request = build_request(0, params, doc.composite(), np.zeros(doc.mask.shape, np.uint8), False, has_paint)
            return dataclasses.replace(request, detail=True)

        return self._start_from_document(False, detail)

    def inpaint_area(self, mask: np.ndarray, strength: float) -> bool:
        """Inpaint where ``mask`` (H×W uint8, the picture's size; 255 = regenerate) says, at
        ``strength``, with the panel's model, prompt, LoRAs and seed, through the inpainting
        windows at full resolution (Image → Faces → Face pass: the face boxes). The document's
        own mask is neither used nor, when the result is accepted, cleared. A result like any other."""
        doc = self._document
        if doc.is_blank:
            self.error.emit("The face pass works on a photo: open one first (File → Open).")
            return False

        def inpaint(params, has_paint):
            params.strength = strength
            return build_request(0, params, doc.composite(), mask, False, has_paint)

        started = self._start_from_document(False, inpaint)
        if started:
            self._own_mask_jobs.add(self._request.job_id)
        return started

    def _start_from_document(self, live: bool, make_request) -> bool:
        """``make_request(params, has_paint)`` from the panel's params, unless training holds the
        engine or no model is chosen; a refused request is said as an error."""
        if self._held_by_training():
            return False
        params = self._params.copy()
        if not params.model_ref:
            self.model_needed.emit()
            return False
        doc = self._document
        has_paint = doc.paint_visible and doc.has_paint()
        try:
            request = make_request(params, has_paint)
        except KilnError as exc:
            self.error.emit(str(exc))
            return False
        return self._start(request, live, sketch=has_paint)

    def branch(self, step: int) -> bool:
        """Continue the last finished text-to-image or image-to-image job after ``step`` with the
        panel's prompt, guidance and seed (``StepTimeline.branch_request``); its result goes to
        the history like any. Returns whether a job started."""
        if self._held_by_training():
            return False
        try:
            request = self.timeline.branch_request(0, self._params.copy(), step)
        except KilnError as exc:
            self.error.emit(str(exc))
            return False
        return self._start(request, live=False)

    def _held_by_training(self) -> bool:
        """A training job runs on the one engine: a generation would stop it, so it waits."""
        if getattr(self._worker, "teaching", False):
            self.message.emit("Kiln is teaching the model: generating waits until that ends (or stop it in "
                              "File → Teach the model…).")
            return True
        return False

    def _start(self, request: GenerationRequest, live: bool, sketch: bool = False) -> bool:
        """Submit ``request`` (the job runner numbers it). ``sketch``: its image held visible paint."""
        self.results.show(None)
        request = self._worker.submit(request)
        self._request, self._live, self._stopping = request, live, False
        if sketch:
            self._sketch_jobs.add(request.job_id)
        self.timeline.begin(request)
        self.busy_changed.emit(True)
        self.progress.emit(0, 0, "Starting…")
        return True

    def cancel(self) -> None:
        """Stop the running job: its canvas preview goes at once, its JobCancelled follows."""
        if self.busy:
            self._stopping = True
            self._worker.cancel()
            self._overlay.clear(Layer.STEP)
            if not self._live:
                self.message.emit("Stopping…")

    def accept(self) -> bool:
        """Apply the result shown on the canvas as one undoable edit: the image becomes the
        result, the mask that asked for it is cleared, and so is the paint it was made from
        (the sketch became the picture). A live result enters the history now."""
        entry = self.results.shown
        if entry is None:
            return False
        if entry.image.shape[:2] != self._document.image.shape[:2]:
            self.results.show(None)
            self.error.emit("This result was made for a picture of another size and cannot be applied here.")
            return False
        self.results.accept()  # a live result joins the list now
        stack = self._document.undo_stack
        stack.beginMacro(f"Apply result (seed {entry.seed})")
        self._document.apply_image(entry.image, "Apply result")
        if entry.mode is Mode.INPAINT and entry.job_id not in self._own_mask_jobs:
            self._document.clear_mask()
        if entry.job_id in self._sketch_jobs:
            self._document.clear_paint("Clear paint (now in the picture)")
        stack.endMacro()
        self.applied.emit()
        self.message.emit(f"Applied the result with seed {entry.seed}. Undo with Ctrl+Z.")
        return True

    def discard(self) -> None:
        self.results.show(None)

    @property
    def last_applied(self) -> HistoryEntry | None:
        return self.results.accepted

    def adopt_history(self, entries: list[HistoryEntry], last_applied: int | None) -> None:
        """The results become ``entries`` (a reopened project's), none shown; new jobs get ids
        after theirs."""
        self.results.replace(entries, last_applied)
        self._worker.skip_ids_through(max([e.job_id for e in entries], default=0))

    def show_result(self, entry: HistoryEntry) -> None:
        """Show a result over the photo, not yet applied (not while a job runs). Picking the one
        shown takes the canvas back from a timeline step or the strength view."""
        if self.busy:
            return
        if entry is self.results.shown:
            self._overlay.set(Layer.RESULT, entry.image)
        else:
            self.results.show(entry)

    def set_before_after(self, show_before: bool) -> None:
        """Before/after toggle: hide (before) or show (after) the pending result."""
        self._overlay.set_result_hidden(show_before)

    def set_split(self, fraction: float) -> None:
        """Split before/after: the result left of ``fraction`` × width, the original right of it,
        a divider between them. The result stays uploaded; only the split moves."""
        self._overlay.set_split(min(max(fraction, 0.0), 1.0))

    def shown_entry(self) -> HistoryEntry | None:
        return self.results.shown

    def _on_shown_changed(self, entry: HistoryEntry | None) -> None:
        if entry is None:
            self._overlay.clear(Layer.RESULT)
        else:
            self._overlay.set(Layer.RESULT, entry.image)
        self.result_shown.emit(entry is not None)

    # --- worker events ------------------------------------------------------------------

    def _on_started(self, event: JobStarted) -> None:
        self.message.emit("")  # loading is over: clear "Loading the model…"
        self.progress.emit(0, event.total_steps, f"Step 0/{event.total_steps}")

    def _on_step(self, event: StepPreview) -> None:
        request = self._request
        self.timeline.add(event)  # even when stopping: a job that still finishes is the engine's last
        if request is None or self._stopping:
            return
        if event.rgb is not None:
            self._show_step(request, event)
        eta = event.elapsed_s / event.step * (event.total - event.step)
        self.progress.emit(event.step, event.total, f"Step {event.step}/{event.total} · ETA {format_eta(eta)}")

    def _show_step(self, request: GenerationRequest, event: StepPreview) -> None:
        """Draw a step preview in place: over the region it covers, and for inpainting only
        where the mask is painted inside it (``gui.session.step_overlay.step_overlay``)."""
        overlay = step_overlay(request, event)
        if overlay is not None:
            self._overlay.set(Layer.STEP, *overlay)

    def _on_finished(self, event: JobFinished) -> None:
        request, self._request = self._request, None
        self.timeline.finish(event.job_id)
        self._overlay.clear(Layer.STEP)
        self.progress.emit(1, 1, f"Done in {event.elapsed_s:.1f} s")
        parameters = format_parameters(request, model_display_name(request.model_ref))
        entry = HistoryEntry(event.job_id, event.image, request.mode, event.seed, parameters)
        if not self._live:
            self.results.add(entry)  # and shows it
            self.message.emit("Accept the result with Enter, compare with \\, or pick another in the history.")
            self.awaits_accept.emit()
        elif not self._stopping:  # a live job cancelled too late made a picture of an old state
            self.results.show(entry)
            self.message.emit("Live result: Accept with Enter, or keep painting to regenerate.")
        if event.notice:  # e.g. it ran out of memory once and was retried lighter: say so last
            self.message.emit(event.notice)
        self.busy_changed.emit(False)

    def _on_notice(self, event) -> None:
        self.message.emit(event.message)

    def _on_cancelled(self, event: JobCancelled) -> None:
        if not self._owns(event):
            return
        self._request = None
        self._overlay.clear(Layer.STEP)
        self.progress.emit(0, 1, f"Stopped after step {event.step}")
        if not self._live:
            self.message.emit("Stopped. The picture is unchanged.")
        self.busy_changed.emit(False)

    def _on_failed(self, event: JobFailed) -> None:
        if not self._owns(event):
            return  # e.g. a forward view (gui.panels.forward_view_panel) that failed: its panel says so
        self._request = None
        self._overlay.clear(Layer.STEP)
        self.progress.emit(0, 1, "Failed")
        self.error.emit(event.message)
        self.busy_changed.emit(False)

    def _owns(self, event) -> bool:
        # The worker also runs other requests (forward views) while no generation runs.
        return self._request is not None and event.job_id == self._request.job_id

    # --- document -----------------------------------------------------------------------

    def _emit_mode(self, *_args) -> None:
        self.mode_changed.emit(*self._mode_and_sketch())

    def _on_replaced(self) -> None:
        self.results.clear()
        self._overlay.clear_all()
        self._sketch_jobs.clear()
        self._own_mask_jobs.clear()
        self._emit_mode()

    def _on_resized(self) -> None:
        self.cancel()  # a running job was made for the old size
        self.results.show(None)
        self._emit_mode()
