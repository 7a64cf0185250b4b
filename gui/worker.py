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

from inference.api import ForwardViewReady, JobCancelled, JobFailed, JobFinished, JobNotice, JobStarted, StepPreview


class _Worker(QObject):
    """Runs in the worker thread. Emits ``event`` (any inference.api event) and ``status``."""

    event = Signal(object)
    status = Signal(int, str)  # job id, text for the status bar
    device = Signal(str)  # the device the engine runs on, for the device panel
    problem = Signal(str)  # a setting the device cannot use, in words

    def __init__(self, engine_factory=None):
        super().__init__()
        self._engine = None
        self._engine_factory = engine_factory
        self._precision, self._memory_mode = "auto", "auto"

    @Slot(str, str)
    def configure(self, precision: str, memory_mode: str) -> None:
        """Use ``precision`` and ``memory_mode`` from the next job on. A new precision needs the
        model loaded again (the next job does that); a memory mode applies to the loaded one."""
        from inference.errors import KilnError

        if precision != self._precision:
            self._engine = None
        elif self._engine is not None and self._engine_factory is None:
            try:
                self._engine.set_memory_mode(memory_mode)
            except KilnError as exc:  # e.g. offloading on the CPU: keep the mode that works
                self.problem.emit(str(exc))
                return
        self._precision, self._memory_mode = precision, memory_mode

    @Slot(object, object)
    def run(self, request, cancel: threading.Event) -> None:
        if cancel.is_set():
            self.event.emit(JobCancelled(request.job_id, 0))
            return
        from inference.errors import KilnError

        if self._engine is None:
            self.status.emit(request.job_id, "Loading the image libraries…")
            try:
                self._engine = self._make_engine()
            except KilnError as exc:  # e.g. bf16 on a GPU without it: say so, stay alive
                self.event.emit(JobFailed(request.job_id, str(exc)))
                return
        from inference.engine import run_job

        if not self._engine.has_model(request.model_ref):
            self.status.emit(request.job_id, "Loading the model…")
        run_job(self._engine, request, self.event.emit, cancel)
        self._report_device()

    def _make_engine(self):
        if self._engine_factory is not None:
            return self._engine_factory()
        from inference.devices import choose_device
        from inference.engine import Engine

        return Engine(choose_device(precision=self._precision), memory_mode=self._memory_mode)

    def _report_device(self) -> None:
        from inference.devices import device_info, precision_name

        plan = self._engine.device_plan
        kind = {"cuda": "GPU", "mps": "Apple GPU"}.get(plan.device, "CPU")
        self.device.emit(f"{kind} — {device_info(plan.device).summary()} · {precision_name(plan.dtype)}")


class WorkerClient(QObject):
    """GUI-thread handle on the worker. One job runs at a time; later submissions queue.

    Signals (all in the GUI thread, only for the current job): ``started(JobStarted)``,
    ``step(StepPreview)``, ``finished(JobFinished)``, ``cancelled(JobCancelled)``,
    ``failed(JobFailed)``, ``notice(JobNotice)`` (the job goes on), ``status(str)``,
    ``view_ready(ForwardViewReady)`` (a ``ForwardViewRequest``'s answer; it fails as ``failed``).
    Events of other types are informational and ignored; only the terminal ones end a job.
    """

    started = Signal(object)
    step = Signal(object)
    finished = Signal(object)
    cancelled = Signal(object)
    failed = Signal(object)
    notice = Signal(object)
    view_ready = Signal(object)
    status = Signal(str)
    device = Signal(str)  # "NVIDIA H100: 71.2 of 79.1 GiB free · fp16", after each job
    problem = Signal(str)  # a device setting that cannot be used here, in words
    _submit = Signal(object, object)
    _configure = Signal(str, str)

    def __init__(self, engine_factory=None, parent: QObject | None = None):
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("kiln-inference")
        self._worker = _Worker(engine_factory)
        self._worker.moveToThread(self._thread)
        self._submit.connect(self._worker.run)
        self._worker.event.connect(self._on_event)  # bound method of a GUI-thread object: queued
        self._worker.status.connect(self._on_status)
        self._worker.device.connect(self._on_device)
        self._worker.problem.connect(self._on_problem)
        self._configure.connect(self._worker.configure)
        self._current_job = None
        self._cancel = threading.Event()
        self._terminal = {JobFinished: self.finished, JobCancelled: self.cancelled, JobFailed: self.failed,
                          ForwardViewReady: self.view_ready}
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

    def configure(self, precision: str, memory_mode: str) -> None:
        """Precision ("auto", "fp16", "bf16", "fp32") and memory mode (``inference.memory``'s
        names) for the next jobs; applied in the worker thread between jobs."""
        self._configure.emit(precision, memory_mode)

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

    @Slot(str)
    def _on_device(self, text: str) -> None:
        self.device.emit(text)

    @Slot(str)
    def _on_problem(self, text: str) -> None:
        self.problem.emit(text)

    @Slot(int, str)
    def _on_status(self, job_id: int, text: str) -> None:
        if job_id == self._current_job:
            self.status.emit(text)
