"""The forward-diffusion view: "What strength does", a 0–100 % slider that shows the current
picture noised to the level image-to-image at that strength starts from
(``inference.engine.forward``), drawn over the canvas.

The view needs the model, so it runs in the worker thread as a ``ForwardViewRequest``. Policy:
  * slider moves are debounced (``DEBOUNCE_MS``); at most one request is in flight, and when it
    answers, the slider's latest value is asked next if it moved meanwhile (the latest wins);
  * requests go only while no generation runs (a submission would cancel it); a generation that
    starts abandons the view in flight and sets the slider back to 0;
  * the view stays on the canvas while the slider is away from 0; 0, an edit of the picture or
    leaving the panel takes it away and gives the canvas back to the result (or the picture).
"""

from __future__ import annotations

from dataclasses import dataclass

import shiboken6
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider, QVBoxLayout, QWidget

from gui.session.generation_params import GenerationParams, effective_steps
from gui.session.overlay import CanvasOverlay, Layer
from inference.core.api import ForwardViewReady, ForwardViewRequest, JobFailed
from inference.core.errors import KilnError

WIDEST_LABEL = "100% · timestep 999 · 100% noise"  # the longest level the label shows
DEBOUNCE_MS = 150  # slider moves closer together than this ask for one view


@dataclass(frozen=True)
class _Asked:
    """What one view request was for: the slider's percent and the settings it depends on."""

    percent: int
    model_ref: str
    steps: int
    seed: int
    scheduler: str


class ForwardViewPanel(QWidget):
    """The "What strength does" slider, drawn on ``overlay``, for ``document``'s picture, with the
    model, steps, seed and sampler of ``params`` (the panel's: its shown seed even when Random
    is ticked), run by ``worker`` while ``controller`` runs no generation.

    Signals: ``message(str)`` for the status bar, ``strength_chosen(float)`` ("Use as strength":
    0.05–1 for the panel). The view is the overlay's ``STRENGTH`` frame.
    """

    message = Signal(str)
    strength_chosen = Signal(float)

    def __init__(self, document, overlay: CanvasOverlay, params: GenerationParams, worker, controller,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._document, self._overlay, self._params = document, overlay, params
        self._worker, self._controller = worker, controller
        self._in_flight: tuple[int, _Asked] | None = None  # (job id, what it asked) the worker is answering
        self._shown: _Asked | None = None  # what the view on the canvas shows; None: no view shown
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self._ask)

        self.slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=0)
        self.slider.setToolTip("Image to image noises the picture to this level, then denoises it: "
                               "drag to see where each strength starts from")
        self.slider.setPageStep(10)
        self.level_label = QLabel()
        # On a line of its own, never wider than the panel: a label beside the slider that grew
        # with its text ("54% · timestep 501 · 85% noise") moved the slider under the pointer.
        self.level_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.level_label.setMinimumWidth(self.level_label.fontMetrics().horizontalAdvance(WIDEST_LABEL) + 8)
        self.use_button = QPushButton("Use as strength")
        self.use_button.setToolTip("Set the generation panel's strength to this value")
        row = QHBoxLayout()
        row.addWidget(QLabel("What strength does"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.use_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.level_label)

        self.slider.valueChanged.connect(self._on_value)
        self.use_button.clicked.connect(self._use_as_strength)
        worker.view_ready.connect(self._on_ready)
        worker.failed.connect(self._on_failed)
        controller.busy_changed.connect(self._on_busy)
        overlay.withdrawn.connect(self._on_withdrawn)
        for signal in (document.image_changed, document.paint_changed, document.paint_visibility_changed,
                       document.replaced, document.resized):
            signal.connect(self._on_picture_changed)
        self._show_label("")

    @property
    def percent(self) -> int:
        return self.slider.value()

    @property
    def busy(self) -> bool:
        """A view request is in flight."""
        return self._in_flight is not None

    def leave(self) -> None:
        """Back to 0: the view goes and the canvas shows the result (or the picture) again."""
        self.slider.setValue(0)

    def set_in_view(self, visible: bool) -> None:
        """The panel was shown or hidden (its dock): hidden is leaving (``leave``)."""
        # A window destroyed without closing hides its docks after their widgets are gone.
        if not visible and shiboken6.isValid(self.slider):
            self.leave()

    def _step_aside(self) -> None:
        """Another frame took the canvas: back to 0 without drawing."""
        self._timer.stop()
        self._shown = None
        with QSignalBlocker(self.slider):
            self.slider.setValue(0)
        self._show_label("")

    # --- slider → requests --------------------------------------------------------------

    def _on_value(self, percent: int) -> None:
        if percent == 0:
            self._timer.stop()
            if self._shown is not None:
                self._shown = None
                self._overlay.clear(Layer.STRENGTH)  # the result, or the picture, shows again
            self._show_label("")
            return
        self._show_label(f"{percent}% · …")
        self._timer.start()

    def _wanted(self) -> _Asked:
        p = self._params
        return _Asked(self.percent, p.model_ref, p.steps, p.seed, p.scheduler)

    def _ask(self) -> None:
        """Ask for the slider's level now, unless a view is in flight (its answer asks again)."""
        if self.percent == 0 or self._in_flight is not None or self._controller.busy:
            return
        if self._worker.teaching:  # a view would stop the training job
            self._show_label("Waits while Kiln teaches the model")
            return
        wanted = self._wanted()
        if not wanted.model_ref:
            self._show_label("Choose a model first")
            return
        strength = wanted.percent / 100
        try:
            request = ForwardViewRequest(job_id=0, model_ref=wanted.model_ref,
                                         image=self._document.composite(), strength=strength,
                                         steps=effective_steps(wanted.steps, strength), seed=wanted.seed,
                                         scheduler=wanted.scheduler)
        except KilnError as exc:
            self._show_label(str(exc))
            return
        request = self._worker.submit(request)  # the job runner numbers it
        self._in_flight = (request.job_id, wanted)

    # --- worker → canvas ----------------------------------------------------------------

    def _on_ready(self, event: ForwardViewReady) -> None:
        if self._in_flight is None or event.job_id != self._in_flight[0]:
            return
        asked, self._in_flight = self._in_flight[1], None
        if self.percent == 0:
            return  # the user went back to the picture meanwhile
        self._overlay.set(Layer.STRENGTH, event.rgb)  # the view is at most the budget: stretched over the picture
        self._shown = asked
        level = "the picture itself" if event.timestep is None else (
            f"timestep {event.timestep} · {event.noise_fraction:.0%} noise")
        self._show_label(f"{asked.percent}% · {level}")
        if asked != self._wanted() and not self._timer.isActive():
            self._ask()  # the slider moved while this one was made

    def _on_failed(self, event: JobFailed) -> None:
        if self._in_flight is None or event.job_id != self._in_flight[0]:
            return
        self._in_flight = None
        self._show_label("No view")
        self.message.emit(f"The strength view failed: {event.message}")

    def _on_busy(self, busy: bool) -> None:
        if busy:
            # The generation's submission replaced the view in flight: its answer never comes.
            self._in_flight = None
            self._overlay.clear(Layer.STRENGTH)  # the job's previews take over the canvas
            self._step_aside()
        self.slider.setEnabled(not busy)
        self.use_button.setEnabled(not busy)

    def _on_withdrawn(self, layer: Layer) -> None:
        # Another frame took the canvas, or a result was picked, accepted or discarded.
        if layer is Layer.STRENGTH:
            self._step_aside()

    def _on_picture_changed(self, *_args) -> None:
        if self.percent:
            self.leave()  # the view shows an older picture, and hides the edit being made

    def _use_as_strength(self) -> None:
        self.strength_chosen.emit(max(self.percent, 5) / 100)  # the panel's strength starts at 0.05

    def _show_label(self, text: str) -> None:
        text = text or "0% · the picture itself"
        label = self.level_label
        # Longer messages (a missing model, an error) are cut to the width; the tooltip has them whole.
        label.setText(label.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight,
                                                     max(label.width(), label.minimumWidth()) - 4))
        label.setToolTip(text)
