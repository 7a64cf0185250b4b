"""bench/live.py's GUI driver: the real editor, offscreen (see bench/live.py for what is measured)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from gui.session.generation_params import GenerationParams  # numpy only, no Qt
from inference.engine.engine import Engine

from live_common import COLORS, StrokeTimes, now, stroke_line


# --- GUI driver: the real editor, offscreen ---------------------------------------------------------


class GuiLive:
    """The real editor from ``gui.app.build_editor`` (settings file in a temp dir), in live mode,
    with probes: viewport paint events, worker events, submissions and shown results."""

    def __init__(self, args, engine: Engine, params: GenerationParams, picture: np.ndarray, tmp: Path):
        from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer
        from PySide6.QtWidgets import QApplication, QMessageBox

        from gui.app import build_editor
        from gui.session.settings import Settings

        self.app = QApplication.instance() or QApplication([])
        self._wait_flag = QEventLoop.ProcessEventsFlag.WaitForMoreEvents
        self._wake = QTimer(singleShot=True)  # wakes a wait at its deadline or end of a sleep
        self.args = args
        # A failing job would open a modal dialog and hang an offscreen run: fail loudly instead.
        self.errors: list[str] = []
        QMessageBox.warning = staticmethod(lambda _parent, _title, text, *a: self.errors.append(text))
        # The engine the worker would make itself, kept so the bare runs use the same one.
        self.ed = build_editor(Settings(str(tmp / "settings.ini")), engine_factory=lambda: engine)
        self.ed.window.show()

        class PaintProbe(QObject):
            """Stamps every paint event of the widget it filters (when painting starts)."""

            def __init__(self, parent):
                super().__init__(parent)
                self.stamps: list[float] = []

            def eventFilter(self, _obj, event):  # noqa: N802
                if event.type() == QEvent.Type.Paint:
                    self.stamps.append(now())
                return False

        probe = PaintProbe(self.ed.canvas)
        self.ed.canvas.viewport().installEventFilter(probe)
        self.paints = probe.stamps  # canvas viewport paints
        self.submitted: list[tuple[float, object]] = []  # (time, request)
        self.first_step, self.started, self.terminal, self.shown = {}, {}, {}, {}  # job id → time
        worker, controller = self.ed.worker, self.ed.controller
        submit = worker.submit  # instrumented, not replaced: every submission is stamped
        worker.submit = lambda request: (self.submitted.append((now(), request)), submit(request))
        # Connected after the controller's own slots: they run once the canvas has the preview.
        worker.started.connect(lambda e: self.started.setdefault(e.job_id, now()))
        worker.step.connect(lambda e: self.first_step.setdefault(e.job_id, now()) if e.rgb is not None else None)
        for signal in (worker.finished, worker.cancelled, worker.failed):
            signal.connect(lambda e: self.terminal.setdefault(e.job_id, (now(), type(e).__name__)))
        controller.result_shown.connect(
            lambda on: self.shown.setdefault(controller.shown_entry().job_id, now()) if on else None)

        # The document and the panel, set as a person would (the Fast button applies the preset).
        doc, panel = self.ed.document, self.ed.panel
        doc.load(picture)
        panel.model_combo.setEditText(params.model_ref)
        panel.prompt_edit.setPlainText(params.prompt)
        panel.random_check.setChecked(False)
        panel.seed_spin.setValue(params.seed)
        panel.strength_spin.setValue(params.strength)
        panel.set_fast(True)
        panel.steps_spin.setValue(params.steps)
        self.params = panel.params

    # -- waiting without blocking the event loop --

    def wait_until(self, condition, timeout_s: float = 900.0, wake_s: float | None = None) -> None:
        """Run the event loop (as app.exec would) until ``condition()``; the stamps are taken
        in the slots and the paint probe, not here, so this loop adds no latency."""
        deadline = now() + timeout_s
        self._wake.start(int((wake_s if wake_s is not None else timeout_s) * 1000))
        while not condition():
            if self.errors:
                raise RuntimeError(f"live job failed: {self.errors[0]}")
            if now() > deadline:
                raise TimeoutError("live mode did not get there in time")
            self.app.processEvents(self._wait_flag)
        self._wake.stop()

    def sleep_until(self, t: float) -> None:
        self.wait_until(lambda: now() >= t, wake_s=max(0.0, t - now()))

    def settled(self) -> bool:
        live, controller = self.ed.live, self.ed.controller
        return not controller.busy and not live._dirty and not live._timer.isActive()

    def job_after(self, t: float):
        """The first request submitted at or after ``t`` (None yet)."""
        return next((r for s, r in self.submitted if s >= t), None)

    def drawn_after(self, t: float | None) -> float | None:
        return next((p for p in self.paints if t is not None and p >= t), None)

    def stroke(self, k: int) -> float:
        """Draw stroke ``k`` into the paint layer and end it; returns the time just before the end."""
        doc = self.ed.document
        y, xs, radius = stroke_line(k, self.args.size)
        doc.begin_stroke(layer="paint", color=COLORS[k % len(COLORS)])
        doc.paint_dab(xs[0], y, radius)
        for x0, x1 in itertools.pairwise(xs):
            doc.paint_segment(x0, y, x1, y, radius)
        t0 = now()
        doc.end_stroke()
        return t0

    def _times_of(self, t0: float) -> StrokeTimes:
        """Wait for the job the stroke that ended at ``t0`` started, shown and drawn."""
        self.wait_until(lambda: (r := self.job_after(t0)) is not None and r.job_id in self.shown
                        and self.drawn_after(self.shown[r.job_id]) is not None)
        request = self.job_after(t0)
        job = request.job_id
        submitted = next(s for s, r in self.submitted if r is request)
        return StrokeTimes(request, submitted - t0, self.first_step[job] - t0,
                           self.drawn_after(self.first_step[job]) - t0, self.drawn_after(self.shown[job]) - t0)

    # -- the three things measured --

    def warm_up(self) -> None:
        self.ed.live.set_enabled(True)  # the first live job starts at once (and loads the model)
        self.wait_until(lambda: self.settled() and self.ed.controller.shown_entry() is not None)

    def idle_stroke(self, k: int) -> StrokeTimes:
        self.wait_until(self.settled)
        return self._times_of(self.stroke(k))

    def stale_stroke(self, k: int, delay_s: float) -> StrokeTimes:
        self.wait_until(self.settled)
        t_a = self.stroke(k)
        self.wait_until(lambda: (r := self.job_after(t_a)) is not None and r.job_id in self.started)
        job_a = self.job_after(t_a).job_id
        self.sleep_until(self.started[job_a] + delay_s)
        t_start = now()
        t0 = self.stroke(k + 1)  # its first segment cancels A
        times = self._times_of(t0)
        stopped_at, kind = self.terminal[job_a]
        times.stale_stopped = stopped_at - t_start
        times.stale_outcome = "idle" if stopped_at < t_start else kind.removeprefix("Job").lower()
        return times

    def close(self) -> None:
        self.ed.worker.shutdown()
