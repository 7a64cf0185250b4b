"""The denoising timeline: the last generation's step previews, scrubbed on the canvas, and
branching from one of its steps.

``StepTimeline`` is the state: the ``GenerationController`` feeds it every job's request
(``begin``), step previews (``add``) and end (``finish``); it keeps the previews of the last
*finished* job, as the engine keeps that job's denoising states (``inference.engine.timeline``).
``TimelinePanel`` is the strip: a slider over steps 1..N. Moving it below N draws that step's
preview in place on the canvas (noise turning into the picture); N, releasing at N or leaving the
timeline shows the result again. "Branch from this step" continues the last text-to-image or
image-to-image job after the chosen step with the panel's prompt and seed
(``GenerationController.branch``); the branch's timeline starts with its source's first steps,
so it shows the whole history.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass, field

import shiboken6
from PySide6.QtCore import QObject, QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from gui.session.generation_params import SEED_MAX, GenerationParams
from gui.session.step_overlay import step_overlay
from inference.core.api import GenerationRequest, Mode, StepPreview
from inference.core.errors import InvalidRequest

NOT_BRANCHABLE_TEXT = "Inpainting results cannot be branched: only text-to-image and image-to-image ones."
BRANCH_TIP = ("Continue from the chosen step with the panel's prompt and seed: Random gives a variation, "
              "the result's own seed (Ctrl+R) the same picture")


@dataclass
class TimelineRun:
    """One job's step previews in step order: ``previews[i]`` is step i + 1. A branch's first
    ``branched_at`` previews are its source's (their ``job_id`` and ``step`` are the source's)."""

    request: GenerationRequest
    previews: list[StepPreview] = field(default_factory=list)
    branched_at: int = 0

    @property
    def branchable(self) -> bool:
        """Whether the engine can continue this job (it keeps no states of inpainting jobs)."""
        return self.request.mode is not Mode.INPAINT


def branch_request(job_id: int, source: GenerationRequest, params: GenerationParams, step: int) -> GenerationRequest:
    """A request that continues ``source``'s job after ``step``.

    From the source: model, LoRAs, mode, picture, size, steps, sampler and strength (the engine
    resumes that job's schedule). From ``params`` (the panel): prompt, negative prompt,
    guidance and seed — a new random one when ``params.random_seed``, so a branch is a
    variation; the source's seed and prompt give the source's result again.
    """
    seed = secrets.randbelow(SEED_MAX + 1) if params.random_seed else params.seed
    return dataclasses.replace(source, job_id=job_id, prompt=params.prompt, negative_prompt=params.negative_prompt,
                               guidance=params.guidance, seed=seed, branch_from=(source.job_id, step))


class StepTimeline(QObject):
    """The step previews of the running job and of the last finished one.

    Signals ``changed()`` when the last finished run changes (a job finished, or ``clear``).
    Arrays are kept as the events carry them (the events own them; nobody writes to them).
    """

    changed = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._last: TimelineRun | None = None
        self._running: TimelineRun | None = None

    @property
    def last(self) -> TimelineRun | None:
        return self._last

    def begin(self, request: GenerationRequest) -> None:
        """A job starts. A branch of the last run starts with that run's first k previews."""
        prefix = []
        last = self._last
        if request.branch_from is not None and last is not None and last.request.job_id == request.branch_from[0]:
            prefix = last.previews[: request.branch_from[1]]
        self._running = TimelineRun(request, list(prefix), len(prefix))

    def add(self, preview: StepPreview) -> None:
        """A step of the running job (others are ignored). Steps count from 1 again when the job
        restarts (an out-of-memory retry): the earlier attempt's later steps are dropped."""
        run = self._running
        if run is None or preview.job_id != run.request.job_id:
            return
        index = run.branched_at + preview.step - 1
        run.previews[index:] = [preview]

    def finish(self, job_id: int) -> None:
        """The running job ``job_id`` finished: it becomes the last run. A cancelled or failed job
        never finishes, and the last run stays (the engine keeps its states too)."""
        run = self._running
        if run is not None and run.request.job_id == job_id:
            self._last, self._running = run, None
            self.changed.emit()

    def clear(self) -> None:
        """Forget the last run (another picture: its results no longer apply)."""
        if self._last is not None:
            self._last = None
            self.changed.emit()

    def branch_request(self, job_id: int, params: GenerationParams, step: int) -> GenerationRequest:
        """``branch_request`` from the last run after ``step``. Raises ``InvalidRequest`` when
        there is none, it was an inpainting job, or ``step`` is not 1 … N − 1."""
        last = self._last
        if last is None:
            raise InvalidRequest("Nothing to branch from yet: generate a picture first.")
        if not last.branchable:
            raise InvalidRequest(NOT_BRANCHABLE_TEXT)
        total = len(last.previews)
        if not 1 <= step < total:
            raise InvalidRequest(f"Branch from a step between 1 and {total - 1}: step {total} is the result itself.")
        return branch_request(job_id, last.request, params, step)


def show_current_result(controller, canvas) -> None:
    """Give the canvas back to the result: the one shown (not yet applied), else the picture."""
    entry = controller.shown_entry()
    if entry is not None and not controller.busy:
        controller.show_result(entry)
    else:
        canvas.clear_preview()


class TimelinePanel(QWidget):
    """The timeline strip of ``controller.timeline`` over ``canvas``.

    The slider runs over steps 1..N of the last finished job; below N the canvas shows that
    step's preview, at N (once released) the result. It is disabled while a job runs; a new
    picture in the document forgets the timeline. Signals: ``branch_available(bool)`` (whether
    "Branch from this step" can run now), ``took_canvas()`` (the timeline started drawing on
    the canvas: other overlays step aside).
    """

    branch_available = Signal(bool)
    took_canvas = Signal()

    def __init__(self, controller, canvas, parent: QWidget | None = None):
        super().__init__(parent)
        self._controller, self._canvas = controller, canvas
        self._timeline: StepTimeline = controller.timeline
        self._showing_step = False  # a step preview is on the canvas, not the result

        self.slider = QSlider(Qt.Orientation.Horizontal, minimum=1, maximum=1)
        self.slider.setToolTip("Drag to watch the last generation form step by step; the end shows the result")
        self.slider.setPageStep(1)
        self.step_label = QLabel()
        self.step_label.setMinimumWidth(150)
        self.branch_button = QPushButton("Branch from this step (Ctrl+B)")
        row = QHBoxLayout()
        row.addWidget(QLabel("Steps"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.step_label)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.branch_button)

        self.slider.valueChanged.connect(self._on_value)
        self.slider.sliderReleased.connect(self._on_released)
        self.branch_button.clicked.connect(self.branch)
        self._timeline.changed.connect(self._on_timeline_changed)
        controller.busy_changed.connect(self._on_busy)
        controller.result_shown.connect(self._on_result_shown)
        document = canvas.document
        document.replaced.connect(self._timeline.clear)
        document.resized.connect(self._timeline.clear)
        self._on_timeline_changed()

    @property
    def step(self) -> int:
        """The chosen step, 1..N (N: the result)."""
        return self.slider.value()

    def branch(self) -> bool:
        """Branch from the chosen step (``GenerationController.branch``); whether a job started."""
        if not self.branch_button.isEnabled():
            return False
        return self._controller.branch(self.step)

    def leave(self) -> None:
        """Stop scrubbing: back to the last step and the result on the canvas."""
        showing = self._showing_step
        self._reset_to_end()
        if showing:
            show_current_result(self._controller, self._canvas)

    def set_in_view(self, visible: bool) -> None:
        """The panel was shown or hidden (its dock): hidden is leaving (``leave``)."""
        # A window destroyed without closing hides its docks after their widgets are gone.
        if not visible and shiboken6.isValid(self.slider):
            self.leave()

    def step_aside(self) -> None:
        """Another overlay draws on the canvas now: back to the last step without redrawing."""
        self._reset_to_end()

    # --- slots --------------------------------------------------------------------------

    def _on_value(self, step: int) -> None:
        run = self._timeline.last
        if run is None or self._controller.busy:
            return
        if step >= len(run.previews) and not self.slider.isSliderDown():
            self.leave()
            return
        overlay = step_overlay(run.request, run.previews[step - 1])
        if overlay is not None:
            if not self._showing_step:
                self.took_canvas.emit()
            self._canvas.show_preview(*overlay)
            self._showing_step = True
        self._show_state()

    def _on_released(self) -> None:
        run = self._timeline.last
        if run is not None and self.step >= len(run.previews):
            self.leave()

    def _on_timeline_changed(self) -> None:
        run = self._timeline.last
        self._showing_step = False
        with QSignalBlocker(self.slider):
            self.slider.setRange(1, max(1, len(run.previews) if run else 1))
            self.slider.setValue(self.slider.maximum())
        self._show_state()

    def _on_busy(self, busy: bool) -> None:
        if busy and self._showing_step:
            self._canvas.clear_preview()  # the new job's previews take over the canvas
        if busy:
            self._reset_to_end()
        self._show_state()

    def _on_result_shown(self, _shown: bool) -> None:
        # The result was shown, accepted or discarded elsewhere (history, Accept, Discard):
        # whatever the canvas shows now is not a step.
        if self._showing_step:
            self._reset_to_end()

    def _reset_to_end(self) -> None:
        self._showing_step = False
        with QSignalBlocker(self.slider):
            self.slider.setValue(self.slider.maximum())
        self._show_state()

    def _show_state(self) -> None:
        run, busy = self._timeline.last, self._controller.busy
        total = len(run.previews) if run else 0
        self.slider.setEnabled(total > 1 and not busy)
        if run is None:
            self.step_label.setText("No steps yet: generate a picture")
        else:
            where = "the result" if self.step >= total else f"seed {run.request.seed}"
            self.step_label.setText(f"Step {self.step} of {total} · {where}")
        can_branch = run is not None and run.branchable and not busy and 1 <= self.step < total
        self.branch_button.setEnabled(can_branch)
        self.branch_button.setToolTip(NOT_BRANCHABLE_TEXT if run is not None and not run.branchable else BRANCH_TIP)
        self.branch_available.emit(can_branch)
