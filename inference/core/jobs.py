"""One job runner for every kind of job: one worker thread, one id counter, no Qt.

The editor (through ``gui.session.worker``'s Qt adapter), the command line and the benchmarks all run
their jobs here, so the protocol is written once:

* ``submit(request, policy)`` gives the request a fresh job id from one counter (the request is
  a frozen dataclass with a ``job_id`` field; the runner returns a copy carrying the id) and runs
  jobs one at a time, in submission order, on one long-lived thread.
* Two policies. ``QUEUE``: the job waits for those before it. ``REPLACE``: the newest wins —
  the running job is cancelled (it stops within a step and still ends with its terminal event)
  and every queued job is cancelled before it starts (``JobCancelled(id, 0)``); the new job runs
  once the running one's terminal event has been delivered.
* Every event of every job reaches the one ``listener``, in order, on the worker thread; each
  job ends with exactly one terminal event (finished, cancelled or failed, or a kind's own
  terminal event such as ``ForwardViewReady``). Nothing is dropped here: dropping what is stale
  is the listener's decision (it knows which job it waits for).
* Cancel is a ``threading.Event`` per job, set directly from any thread: the worker is busy
  inside the job, so anything queued to it would arrive too late.
* The engine is built lazily by ``engine_factory`` in the worker thread on the first job that
  needs one, so the heavy libraries (torch, diffusers) load there, not in the caller's thread.
  ``call_between_jobs(fn)`` runs ``fn(runner)`` on the worker thread between jobs (e.g. a new
  precision drops the engine with ``reset_engine``).

Kinds of job: a kind is a request class. ``run`` (for the engine's kinds
``inference.engine.jobs.run_engine_job``) receives ``(engine, request, emit, cancel)`` and must
emit exactly one terminal event; the runner adds a ``JobFailed`` if a kind breaks that contract or raises. ``kind_of(job_id)`` names a job's
kind, so listeners tell a strength view from a generation by its type, not by its id.
``WorkRequest`` is the kind for plain functions without a model (damage detection, healing,
writing a project or a recovery copy): ``run_work`` runs it and answers ``WorkDone``.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from inference.core.api import ForwardViewReady, JobCancelled, JobFailed, JobFinished
from inference.core.training_requests import TrainingFinished

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class WorkRequest:
    """A plain function to run as a job: ``work()`` takes no arguments, needs no engine, and is not
    cancelled once it runs (a newer ``REPLACE`` submission cancels it only while it waits)."""

    job_id: int
    work: Callable[[], Any]


@dataclass(frozen=True)
class WorkDone:
    """``WorkRequest``'s terminal event: what ``work()`` returned."""

    job_id: int
    result: Any


def run_work(_engine, request: WorkRequest, emit, _cancel) -> None:
    """The ``run`` of runners whose jobs are ``WorkRequest`` s (an exception becomes ``JobFailed``)."""
    emit(WorkDone(request.job_id, request.work()))


TERMINAL_EVENTS = (JobFinished, JobCancelled, JobFailed, ForwardViewReady, WorkDone, TrainingFinished)
"""Event types that end a job; a new kind with its own terminal event adds it here."""


class Policy(enum.Enum):
    QUEUE = "queue"  # run after the jobs before it
    REPLACE = "replace"  # cancel the running and queued jobs; run once the running one has ended


@dataclass
class _Job:
    request: Any
    cancel: threading.Event

    @property
    def job_id(self) -> int:
        return self.request.job_id


class JobRunner:
    """Runs jobs one at a time on its own thread and tells ``listener`` every event.

    ``engine_factory()`` builds the engine (called in the worker thread, at most once until
    ``reset_engine``); a factory that raises fails the job that needed it, and the next job tries
    again. ``listener(event)`` is called on the worker thread; it must not block for long (a Qt
    adapter emits a signal). The runner starts its thread at once; call ``close`` when done.
    """

    def __init__(self, engine_factory: Callable[[], Any], listener: Callable[[Any], None], *,
                 run: Callable, thread_name: str = "kiln-jobs"):
        self._engine_factory = engine_factory
        self._listener = listener
        self._run = run
        self._engine = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pending: dict[int, _Job] = {}  # submitted, not yet ended (the running one included)
        self._kinds: dict[int, str] = {}
        self._running: _Job | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=thread_name, daemon=True)
        self._thread.start()

    # --- the caller's side (any thread) -------------------------------------------------------

    def submit(self, request, policy: Policy = Policy.QUEUE):
        """Queue ``request`` under a fresh job id and return the copy that carries it.

        ``REPLACE`` cancels every job submitted before (running or queued) first.
        Raises ``RuntimeError`` after ``close``.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the job runner is closed")
            if policy is Policy.REPLACE:
                for job in self._pending.values():
                    job.cancel.set()
            request = dataclasses.replace(request, job_id=next(self._ids))
            job = _Job(request, threading.Event())
            self._pending[job.job_id] = job
            self._kinds[job.job_id] = type(request).__name__
        self._queue.put(job)
        return request

    def cancel(self, job_id: int | None = None) -> None:
        """Cancel job ``job_id`` (default: every job not yet ended). A running job stops within a
        step; a queued one ends with ``JobCancelled(id, 0)`` when its turn comes. Unknown or
        ended ids are ignored."""
        with self._lock:
            jobs = self._pending.values() if job_id is None else [self._pending.get(job_id)]
            for job in jobs:
                if job is not None:
                    job.cancel.set()

    def skip_ids_through(self, job_id: int) -> None:
        """Issue ids above ``job_id`` from now on (e.g. after opening a project whose results
        carry ids of an earlier session)."""
        with self._lock:
            current = next(self._ids)
            self._ids = itertools.count(max(current, job_id + 1))

    def kind_of(self, job_id: int) -> str | None:
        """The request class name of job ``job_id`` (e.g. "GenerationRequest"), if it was submitted here."""
        return self._kinds.get(job_id)

    @property
    def alive(self) -> bool:
        """Whether the worker thread still runs (False after ``close`` returned True)."""
        return self._thread.is_alive()

    @property
    def running_job_id(self) -> int | None:
        """The id of the job running now, if any."""
        job = self._running
        return None if job is None else job.job_id

    @property
    def pending_count(self) -> int:
        """How many jobs are queued or running."""
        with self._lock:
            return len(self._pending)

    @property
    def busy(self) -> bool:
        """True while a job is queued or running."""
        with self._lock:
            return bool(self._pending)

    def wait_idle(self, timeout_s: float = 60.0, poll_s: float = 0.01) -> bool:
        """Block until no job is queued or running (the last one has emitted its end); False if
        that took longer than ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self.busy:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)
        return True

    def call_between_jobs(self, fn: Callable[["JobRunner"], None]) -> None:
        """Run ``fn(self)`` on the worker thread after the jobs submitted before this call."""
        self._queue.put(fn)

    def reset_engine(self) -> None:
        """Drop the engine; the next job builds a new one. Worker thread only (``call_between_jobs``)."""
        self._engine = None

    @property
    def engine(self):
        """The engine, or None before the first job. Worker thread only."""
        return self._engine

    def close(self, timeout_s: float = 30.0) -> bool:
        """Cancel everything, stop the thread and wait for it. Returns False if a job was still
        running after ``timeout_s`` (the thread is a daemon: it will not keep the process alive)."""
        with self._lock:
            self._closed = True
            for job in self._pending.values():
                job.cancel.set()
        self._queue.put(None)
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    # --- the worker thread ---------------------------------------------------------------------

    def _serve(self) -> None:
        while (item := self._queue.get()) is not None:
            if isinstance(item, _Job):
                self._run_one(item)
            else:
                try:
                    item(self)
                except Exception:  # a control call must not take the worker down
                    log.exception("job runner: a call between jobs failed")

    def _run_one(self, job: _Job) -> None:
        ended: list = []

        def emit(event) -> None:
            if ended:  # a kind that emits after its terminal event: drop it, loudly
                log.error("job %s emitted %r after it ended", job.job_id, type(event).__name__)
                return
            if isinstance(event, TERMINAL_EVENTS):
                ended.append(event)
                with self._lock:
                    self._pending.pop(job.job_id, None)
                    self._running = None
            self._deliver(event)

        with self._lock:
            self._running = job
        if job.cancel.is_set():
            emit(JobCancelled(job.job_id, 0))
            return
        try:
            if self._engine is None:
                self._engine = self._engine_factory()
            self._run(self._engine, job.request, emit, job.cancel)
        except Exception as exc:  # the thread boundary: the next job must still run
            log.exception("job %s failed", job.job_id)
            if not ended:
                emit(JobFailed(job.job_id, _failure_text(exc)))
        if not ended:
            emit(JobFailed(job.job_id, "the job ended without a result (a defect in Kiln; please report it)."))

    def _deliver(self, event) -> None:
        try:
            self._listener(event)
        except Exception:  # a listener's bug must not stop the jobs after it
            log.exception("job runner: the listener failed on %r", type(event).__name__)


def _failure_text(exc: BaseException) -> str:
    from inference.core.errors import KilnError

    if isinstance(exc, KilnError):
        return str(exc)
    return f"the job failed ({type(exc).__name__}: {exc})."
