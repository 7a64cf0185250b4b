"""The inference worker: one long-lived QThread that owns the engine, and its GUI-side client.

Threads and ownership:
  * ``_Worker`` lives in the worker thread. torch/diffusers are imported there on the first job,
    so the window appears before they load. It runs one job at a time with ``run_job``.
  * ``WorkerClient`` lives in the GUI thread. It owns the thread, hands requests over through a
    queued signal, relays every event back through a bound slot (queued into the GUI thread),
    drops events of stale jobs, and cancels by setting a ``threading.Event`` directly — the
    worker's event loop is busy inside the run, so a queued cancel would arrive too late.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QThread, Signal, Slot

from inference.api import JobCancelled, JobFailed, JobFinished, JobNotice, JobStarted, StepPreview


class _Worker(QObject):
    """Runs in the worker thread. Emits ``event`` (any inference.api event) and ``status``."""

    event = Signal(object)
    status = Signal(int, str)  # job id, text for the status bar

    def __init__(self, engine_factory=None):
        super().__init__()
        self._engine = None
        self._engine_factory = engine_factory

    @Slot(object, object)
    def run(self, request, cancel: threading.Event) -> None:
        if cancel.is_set():
            self.event.emit(JobCancelled(request.job_id, 0))
            return
        if self._engine is None:
            self.status.emit(request.job_id, "Loading the image libraries…")
            self._engine = self._make_engine()
        from inference.engine import run_job

        if not self._engine.has_model(request.model_ref):
            self.status.emit(request.job_id, "Loading the model…")
        run_job(self._engine, request, self.event.emit, cancel)

    def _make_engine(self):
        if self._engine_factory is not None:
            return self._engine_factory()
        from inference.engine import Engine

        return Engine()


class WorkerClient(QObject):
    """GUI-thread handle on the worker. One job runs at a time; later submissions queue.

    Signals (all in the GUI thread, only for the current job): ``started(JobStarted)``,
    ``step(StepPreview)``, ``finished(JobFinished)``, ``cancelled(JobCancelled)``,
    ``failed(JobFailed)``, ``notice(JobNotice)`` (the job goes on), ``status(str)``.
    Events of other types are informational and ignored; only the terminal ones end a job.
    """

    started = Signal(object)
    step = Signal(object)
    finished = Signal(object)
    cancelled = Signal(object)
    failed = Signal(object)
    notice = Signal(object)
    status = Signal(str)
    _submit = Signal(object, object)

    def __init__(self, engine_factory=None, parent: QObject | None = None):
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("kiln-inference")
        self._worker = _Worker(engine_factory)
        self._worker.moveToThread(self._thread)
        self._submit.connect(self._worker.run)
        self._worker.event.connect(self._on_event)  # bound method of a GUI-thread object: queued
        self._worker.status.connect(self._on_status)
        self._current_job = None
        self._cancel = threading.Event()
        self._terminal = {JobFinished: self.finished, JobCancelled: self.cancelled, JobFailed: self.failed}
        self._thread.start()

    @property
    def busy(self) -> bool:
        return self._current_job is not None

    def submit(self, request) -> None:
        """Run ``request`` next; a job still running is cancelled first (the latest wins)."""
        self.cancel()
        self._cancel = threading.Event()
        self._current_job = request.job_id
        self._submit.emit(request, self._cancel)

    def cancel(self) -> None:
        """Stop the current job within a step; its JobCancelled still arrives."""
        self._cancel.set()

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel, stop the thread and wait for it (call before the app quits)."""
        self.cancel()
        self._thread.quit()  # direct: a queued quit would never arrive while we wait
        self._thread.wait(timeout_ms)

    @Slot(object)
    def _on_event(self, event) -> None:
        if event.job_id != self._current_job:
            return  # a stale job's event: the user has moved on
        if isinstance(event, StepPreview):
            self.step.emit(event)
        elif isinstance(event, JobStarted):
            self.started.emit(event)
        elif isinstance(event, JobNotice):  # e.g. an out-of-memory retry: the job goes on
            self.notice.emit(event)
        elif type(event) in self._terminal:
            self._current_job = None
            self._terminal[type(event)].emit(event)

    @Slot(int, str)
    def _on_status(self, job_id: int, text: str) -> None:
        if job_id == self._current_job:
            self.status.emit(text)
