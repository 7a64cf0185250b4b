"""bench/live.py's headless driver: the job runner (inference.core.jobs) that gui/session/worker.py adapts
to Qt, driven the way gui/session/live_mode.py drives it, with no Qt (see bench/live.py for what is measured)."""

from __future__ import annotations

import threading
import time

import numpy as np

from gui.session.generation_params import GenerationParams, build_request  # numpy only, no Qt
from inference.core.api import JobCancelled, JobFailed, JobFinished, JobStarted, StepPreview
from inference.core.jobs import JobRunner
from inference.engine.jobs import run_engine_job
from inference.engine.engine import Engine

from live_common import COLORS, StrokeTimes, now, stroke_line


# --- headless driver: inference.engine.engine the way the GUI drives it -----------------------------------------


class HeadlessLive:
    """``gui/session/worker.py`` + ``gui/session/live_mode.py`` without Qt, for machines without PySide6.

    The job runner the editor uses runs one request at a time. A stroke that ends builds a request from the picture at that moment with
    ``gui.session.generation_params.build_request`` (as ``GenerationController.generate``) and submits
    it. A stroke during a job sets that job's cancel event at its first segment and the new job is
    submitted once the stale job's terminal event has arrived (``LiveMode``'s policy). Strokes are
    painted straight into the composite picture (a band of colour; their look does not matter).
    """

    def __init__(self, args, engine: Engine, params: GenerationParams, picture: np.ndarray):
        self.args, self.engine, self.params = args, engine, params
        self.picture = picture.copy()  # the document's composite: photo + paint so far
        self.events: dict[int, dict] = {}  # job id → {"started"|"preview"|"terminal": time (, event)}
        self._cond = threading.Condition()
        self._runner = JobRunner(lambda: engine, self._on_event, run=run_engine_job, thread_name="kiln-inference")

    def _on_event(self, event) -> None:  # the worker thread
        t = now()
        with self._cond:
            marks = self.events.setdefault(event.job_id, {})
            if isinstance(event, JobStarted):
                marks.setdefault("started", t)
            elif isinstance(event, StepPreview) and event.rgb is not None:
                marks.setdefault("preview", t)
            elif isinstance(event, (JobFinished, JobCancelled, JobFailed)):
                marks["terminal"] = (t, event)
            self._cond.notify_all()

    def _wait(self, job_id: int, key: str, timeout_s: float = 900.0):
        """The time job ``job_id`` reached ``key`` (for "terminal": (time, event))."""
        with self._cond:
            marks = self.events.setdefault(job_id, {})
            if not self._cond.wait_for(lambda: key in marks or "terminal" in marks, timeout_s):
                raise TimeoutError(f"job {job_id} never reached '{key}'")
            terminal = marks.get("terminal")
            if terminal and isinstance(terminal[1], JobFailed):
                raise RuntimeError(f"live job failed: {terminal[1].message}")
            if key not in marks:
                raise RuntimeError(f"job {job_id} ended ({terminal[1]}) before '{key}'")
            return marks[key]

    def paint(self, k: int) -> None:
        y, xs, radius = stroke_line(k, self.args.size)
        top, bottom = int(max(0, y - radius)), int(min(self.args.size, y + radius + 1))
        self.picture[top:bottom, int(xs[0]): int(xs[-1]) + 1] = COLORS[k % len(COLORS)]

    def submit(self):
        """What the live timer does once idle: a request from the picture now, to the worker."""
        mask = np.zeros(self.picture.shape[:2], np.uint8)
        return self._runner.submit(build_request(0, self.params, self.picture, mask, False, True))

    def _times_of(self, t0: float, request, submitted: float) -> StrokeTimes:
        preview = self._wait(request.job_id, "preview") - t0
        image = self._wait(request.job_id, "terminal")[0] - t0
        return StrokeTimes(request, submitted - t0, preview, preview, image)

    # -- the three things measured --

    def warm_up(self) -> None:
        self._wait(self.submit().job_id, "terminal")

    def idle_stroke(self, k: int) -> StrokeTimes:
        self.paint(k)
        t0 = now()  # the stroke ended
        request = self.submit()
        return self._times_of(t0, request, now())

    def stale_stroke(self, k: int, delay_s: float) -> StrokeTimes:
        self.paint(k)
        job_a = self.submit().job_id
        started = self._wait(job_a, "started")
        time.sleep(max(0.0, started + delay_s - now()))
        t_start = now()
        self._runner.cancel(job_a)  # the stroke's first segment: A is stale
        self.paint(k + 1)
        t0 = now()  # the stroke ended
        stopped_at, event = self._wait(job_a, "terminal")  # B starts only after A's terminal event
        request = self.submit()
        times = self._times_of(t0, request, now())
        times.stale_stopped = stopped_at - t_start
        times.stale_outcome = "idle" if stopped_at < t_start else type(event).__name__.removeprefix("Job").lower()
        return times

    def close(self) -> None:
        self._runner.close(60)
