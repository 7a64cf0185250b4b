"""The editor's worker, running restoration jobs (Upscale, Restore faces, Fill) beside generations.

``RestorationWorker`` is the editor's ``WorkerClient`` (``gui.session.worker``): one job runner, one
job at a time, the newest submission wins. A restoration request
(``inference.restoration_models.jobs``) differs from the engine's jobs in three ways, handled here:

* It names a model file and loads it itself: the engine is not asked whether it holds its model,
  and no engine is built for it (importing diffusers for the engine takes seconds; the next
  generation builds it as before).
* Its events — ``JobStarted``, a ``StepPreview`` per tile, its terminal event — go to a signal of
  their own, ``restoration(event)``, never to ``started``/``step``/``finished``: the generation
  controller treats every ``finished`` as its own result.
* They are delivered by the job's own id until its terminal event, even after a newer submission
  replaced it (the runner cancels it, and its ``JobCancelled`` still reaches its owner), so whoever
  started it always hears how it ended.

When generation runs on a Kiln server, a restoration job runs there too if the server has a model
file of the same name (its ``/health`` listing); otherwise here, on the chosen file.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal, Slot

from gui.session.worker import WorkerClient
from inference.core.jobs import TERMINAL_EVENTS
from inference.engine.jobs import run_engine_job
from inference.restoration_models.jobs import RESTORATION_REQUESTS

_RESTORATION_KINDS = frozenset(kind.__name__ for kind in RESTORATION_REQUESTS)


class RestorationWorker(WorkerClient):
    """``WorkerClient`` plus ``restoration(event)``: every event of an upscale, face or fill job
    (GUI thread). ``busy`` covers these jobs too, so other job starters wait for them."""

    restoration = Signal(object)

    def __init__(self, engine_factory=None, parent=None):
        super().__init__(engine_factory, parent)
        self._restoration_jobs: set[int] = set()  # submitted, terminal event not yet delivered

    def submit(self, request):
        request = super().submit(request)
        if isinstance(request, RESTORATION_REQUESTS):
            self._restoration_jobs.add(request.job_id)
        return request

    # --- the worker thread ----------------------------------------------------------------------

    def _make_engine(self):
        runner = self.runner
        if runner.kind_of(runner.running_job_id or 0) in _RESTORATION_KINDS:
            return None  # not needed: the first engine job builds it
        return super()._make_engine()

    def _run(self, engine, request, emit, cancel) -> None:
        if isinstance(request, RESTORATION_REQUESTS):
            server = self._server
            if server is not None and Path(request.model_path).name in server.models:
                self._run_on_server(server, request, emit, cancel)
                return
            run_engine_job(engine, request, emit, cancel)  # loads its own model file
            return
        super()._run(engine, request, emit, cancel)

    # --- the GUI thread -------------------------------------------------------------------------

    @Slot(object)
    def _on_event(self, event) -> None:
        if event.job_id not in self._restoration_jobs:
            super()._on_event(event)
            return
        if isinstance(event, TERMINAL_EVENTS):
            self._restoration_jobs.discard(event.job_id)
            if event.job_id == self._current_job:
                self._current_job = None
        self.restoration.emit(event)
