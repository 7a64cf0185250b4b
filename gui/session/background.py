"""Long work off the GUI thread, on the job runner: the newest request wins.

``BackgroundRunner`` runs plain functions (numpy, Pillow, file writing; no Qt objects) as
``WorkRequest`` jobs of a ``inference.core.jobs.JobRunner`` of its own, one at a time, with the
replace policy: a request submitted while one runs waits, and a newer submission cancels it
before it starts, so a burst of requests (slider moves) costs the one running plus the newest.
Results come back as the ``done``/``failed`` signals in the GUI thread; each carries the token
given to ``submit`` so the owner can drop answers it no longer wants.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, Signal

from inference.core.api import JobFailed
from inference.core.errors import KilnError
from inference.core.jobs import JobRunner, Policy, WorkDone, WorkRequest

log = logging.getLogger(__name__)


class BackgroundRunner(QObject):
    """Signals (delivered in the GUI thread to GUI-thread receivers): ``done(token, result)``,
    ``failed(token, message)`` with a message a person can act on, ``busy_changed(bool)``.

    ``submit(work, token)`` queues ``work()`` (a callable that must not touch Qt widgets or the
    live document) and returns at once. ``wait(timeout_s)`` blocks until nothing runs or waits
    (quitting, tests)."""

    done = Signal(object, object)
    failed = Signal(object, str)
    busy_changed = Signal(bool)
    _ended = Signal(object)  # a job's terminal event, queued into the GUI thread

    def __init__(self, name: str, parent: QObject | None = None):
        super().__init__(parent)
        self._busy = False
        self.last_crash: BaseException | None = None  # of the last work, when it raised no Exception
        self._tokens: dict[int, object] = {}  # job id → token, until its answer is delivered
        # A bound method of this GUI-thread object: queued into the GUI thread.
        self._ended.connect(self._deliver)
        self._runner = JobRunner(lambda: None, self._on_event, run=self._run_work, thread_name=f"kiln-{name}")

    @property
    def busy(self) -> bool:
        """Work runs or waits, or its answer is on its way to the GUI thread."""
        return self._busy

    def submit(self, work, token=None) -> None:
        """Run ``work()`` after the running request; cancels a request still waiting."""
        request = self._runner.submit(WorkRequest(0, work), Policy.REPLACE)
        self._tokens[request.job_id] = token
        self._set_busy(True)

    def wait(self, timeout_s: float = 60.0) -> bool:
        """Block until the runner has nothing to do (answers may still be queued)."""
        return self._runner.wait_idle(timeout_s)

    def stop(self, timeout_s: float = 60.0) -> None:
        """Drop waiting work and end the thread after the running request (idempotent);
        waits for it at most ``timeout_s`` (its answer is dropped)."""
        self._tokens.clear()
        self._runner.close(timeout_s)

    # --- the runner's thread --------------------------------------------------------------

    def _run_work(self, _engine, request: WorkRequest, emit, _cancel) -> None:
        self.last_crash = None
        try:
            emit(WorkDone(request.job_id, request.work()))
        except (KilnError, OSError, ValueError) as exc:
            emit(JobFailed(request.job_id, str(exc)))
        except Exception as exc:  # noqa: BLE001 - a bug here must not take the editor down
            log.exception("background work failed")
            emit(JobFailed(request.job_id,
                           f"Kiln hit an error ({type(exc).__name__}: {exc}); your picture is unchanged."))
        except BaseException as exc:  # noqa: BLE001 - not an error: handed to whoever waits for it
            self.last_crash = exc
            emit(JobFailed(request.job_id, f"Stopped ({type(exc).__name__})."))

    def _on_event(self, event) -> None:
        try:
            self._ended.emit(event)
        except RuntimeError:  # the window, and this runner with it, is gone (quitting)
            pass

    # --- the GUI thread -------------------------------------------------------------------

    def _deliver(self, event) -> None:
        if event.job_id not in self._tokens:
            return  # stopped meanwhile
        token = self._tokens.pop(event.job_id)
        self._set_busy(bool(self._tokens))
        if isinstance(event, WorkDone):
            self.done.emit(token, event.result)
        elif isinstance(event, JobFailed):
            self.failed.emit(token, event.message)
        # JobCancelled: a newer request replaced it before it ran; nobody waits for its answer

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)


def wait_with_events(done, timeout_s: float = 120.0) -> bool:
    """Keep the GUI painting (the event loop turning) until ``done()`` is true or the time is
    up; returns ``done()``. For the few places that must wait for background work (quitting,
    opening another picture after Save)."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.005)
    return done()
