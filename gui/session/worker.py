"""The editor's handle on the job runner: Qt signals over ``inference.core.jobs.JobRunner``.

Threads and ownership:
  * The runner (no Qt) owns the worker thread and runs one job at a time. torch/diffusers are
    imported there on the first job, so the window appears before they load.
  * ``WorkerClient`` lives in the GUI thread. It submits requests with the *replace* policy (the
    newest wins: a running job is cancelled and the new one runs once it has ended), relays every
    event into the GUI thread through a queued signal connected to a bound slot, and drops
    events of jobs the editor no longer waits for. Cancel sets the job's ``threading.Event``
    directly: the worker is busy inside the job, a queued cancel would arrive too late.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot

from inference.core.api import (
    ForwardViewReady, ForwardViewRequest, GenerationRequest, JobCancelled, JobFailed, JobFinished, JobNotice, JobStarted,
    StepPreview,
)
from inference.core.jobs import JobRunner, Policy
from inference.core.training_requests import TrainingFinished, TrainingProgress, TrainingRequest, TrainingSample
from inference.engine.jobs import run_engine_job


class _Relay(QObject):
    """Carries calls from the worker thread into the GUI thread: emitted there, its signals are
    queued to ``WorkerClient``'s bound slots (a lambda would run in the worker thread)."""

    event = Signal(object)
    status = Signal(int, str)  # job id, text for the status bar
    device = Signal(str)
    problem = Signal(str)


class WorkerClient(QObject):
    """GUI-thread handle on the job runner. One job runs at a time; a new one replaces it.

    Signals (all in the GUI thread, only for the current job): ``started(JobStarted)``,
    ``step(StepPreview)``, ``finished(JobFinished)``, ``cancelled(JobCancelled)``,
    ``failed(JobFailed)``, ``notice(JobNotice)`` (the job goes on), ``status(str)``,
    ``view_ready(ForwardViewReady)`` (a ``ForwardViewRequest``'s answer; it fails as ``failed``),
    ``training(event)`` (a ``TrainingRequest``'s progress, samples and ``TrainingFinished``; it
    ends as ``cancelled`` or ``failed`` otherwise). While a training job runs (``teaching``),
    other submissions are the caller's to hold back: one would replace it.
    Events of other types are informational and ignored; only the terminal ones end a job.
    """

    started = Signal(object)
    step = Signal(object)
    finished = Signal(object)
    cancelled = Signal(object)
    failed = Signal(object)
    notice = Signal(object)
    view_ready = Signal(object)
    training = Signal(object)
    status = Signal(str)
    device = Signal(str)  # "NVIDIA H100: 71.2 of 79.1 GiB free · fp16", after each job
    problem = Signal(str)  # a device setting that cannot be used here, in words

    def __init__(self, engine_factory=None, parent: QObject | None = None):
        super().__init__(parent)
        self._engine_factory = engine_factory
        self._precision, self._memory_mode = "auto", "auto"
        self._relay = _Relay()  # created in the GUI thread: its queued signals land here
        self._relay.event.connect(self._on_event)
        self._relay.status.connect(self._on_status)
        self._relay.device.connect(self._on_device)
        self._relay.problem.connect(self._on_problem)
        self._current_job = None
        self._terminal = {JobFinished: self.finished, JobCancelled: self.cancelled, JobFailed: self.failed,
                          ForwardViewReady: self.view_ready, TrainingFinished: self.training}
        self._teaching = False
        self._server = None  # a ServerClient: generation jobs run there (read and set in the worker thread)
        self.server_url = ""  # the GUI thread's copy, for what the panels say
        self._runner = JobRunner(self._make_engine, self._relay.event.emit, run=self._run,
                                 thread_name="kiln-inference")

    @property
    def runner(self) -> JobRunner:
        return self._runner

    @property
    def busy(self) -> bool:
        return self._current_job is not None

    @property
    def teaching(self) -> bool:
        """A training job runs: the model is being taught, and a generation would stop it."""
        return self._teaching and self.busy

    def submit(self, request):
        """Run ``request`` next under a fresh job id; a job still running is cancelled first (the
        latest wins). Returns the request as submitted, carrying its job id."""
        request = self._runner.submit(request, Policy.REPLACE)
        self._current_job, self._teaching = request.job_id, isinstance(request, TrainingRequest)
        return request

    def skip_ids_through(self, job_id: int) -> None:
        """Number later jobs above ``job_id`` (results of an opened project keep their ids)."""
        self._runner.skip_ids_through(job_id)

    def configure(self, precision: str, memory_mode: str) -> None:
        """Precision ("auto", "fp16", "bf16", "fp32") and memory mode (``inference.hardware.memory``'s
        names) for the next jobs; applied in the worker thread between jobs."""
        self._runner.call_between_jobs(lambda runner: self._apply_settings(runner, precision, memory_mode))

    def use_server(self, client) -> None:
        """Run generation jobs on ``client`` (an ``inference.remote.client.ServerClient``) from the
        next job on, or on this computer when None. Upscale, faces, fill and teaching stay here."""
        self.server_url = client.url if client is not None else ""
        self._runner.call_between_jobs(lambda _runner: setattr(self, "_server", client))

    def cancel(self) -> None:
        """Stop the current job within a step; its JobCancelled still arrives."""
        self._runner.cancel()

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel, stop the worker thread and wait for it (call before the app quits)."""
        self._runner.close(timeout_ms / 1000)

    # --- the worker thread (no widgets, no QObject of the GUI thread touched) ------------------

    def _apply_settings(self, runner: JobRunner, precision: str, memory_mode: str) -> None:
        from inference.core.errors import KilnError

        if precision != self._precision:
            runner.reset_engine()  # the next job loads the model in the new precision
        elif runner.engine is not None and self._engine_factory is None:
            try:
                runner.engine.set_memory_mode(memory_mode)
            except KilnError as exc:  # e.g. offloading on the CPU: keep the mode that works
                self._relay.problem.emit(str(exc))
                return
        self._precision, self._memory_mode = precision, memory_mode

    def _make_engine(self):
        self._relay.status.emit(self._runner.running_job_id or 0, "Loading the image libraries…")
        if self._engine_factory is not None:
            return self._engine_factory()
        from inference.hardware.devices import choose_device
        from inference.engine.engine import Engine

        return Engine(choose_device(precision=self._precision), memory_mode=self._memory_mode)

    def _run(self, engine, request, emit, cancel) -> None:
        if isinstance(request, TrainingRequest):
            from inference.training.jobs import run_training_job

            self._relay.status.emit(request.job_id, "Loading the model to teach…")
            run_training_job(engine, request, emit, cancel)
            return
        server = self._server
        if server is not None and isinstance(request, (GenerationRequest, ForwardViewRequest)):
            self._run_on_server(server, request, emit, cancel)
            return
        if not engine.has_model(request.model_ref):
            self._relay.status.emit(request.job_id, "Loading the model…")
        run_engine_job(engine, request, emit, cancel)
        self._report_device(engine)

    def _run_on_server(self, server, request, emit, cancel) -> None:
        from inference.remote.client import run_remote_job

        if isinstance(request, ForwardViewRequest):
            emit(JobFailed(request.job_id, "The strength view runs on this computer only: choose Run on: This "
                                           "computer in the Device panel to see it."))
            return
        self._relay.status.emit(request.job_id, f"Running on the server at {server.url}…")
        run_remote_job(server, request, emit, cancel)

    def _report_device(self, engine) -> None:
        from inference.hardware.devices import device_info, precision_name

        plan = engine.device_plan
        kind = {"cuda": "GPU", "mps": "Apple GPU"}.get(plan.device, "CPU")
        self._relay.device.emit(f"{kind} — {device_info(plan.device).summary()} · {precision_name(plan.dtype)}")

    # --- the GUI thread -------------------------------------------------------------------------

    @Slot(object)
    def _on_event(self, event) -> None:
        if event.job_id != self._current_job:
            return  # a stale job's event: the user has moved on
        if isinstance(event, StepPreview):
            self.step.emit(event)
        elif isinstance(event, (TrainingProgress, TrainingSample)):
            self.training.emit(event)
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
