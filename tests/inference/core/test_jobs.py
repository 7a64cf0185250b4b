"""The one job runner (inference.core.jobs): order, the newest-wins policy, cancel, failures."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from inference.core.api import JobCancelled, JobFailed, JobFinished, JobStarted, StepPreview
from inference.core.jobs import TERMINAL_EVENTS, JobRunner, Policy
from inference.engine.jobs import run_engine_job


@dataclasses.dataclass(frozen=True)
class Sleepy:
    """A job kind for the protocol tests: ``steps`` steps of ``step_s`` seconds each."""

    job_id: int = 0
    steps: int = 3
    step_s: float = 0.02
    explode: bool = False


def sleepy_run(engine, request, emit, cancel):
    """Runs like the engine: started, a preview per step, cancel checked between steps."""
    engine.append(request.job_id)  # which jobs ran, in order
    if request.explode:
        raise ValueError("boom")
    emit(JobStarted(request.job_id, request.steps, 8, 8))
    for step in range(1, request.steps + 1):
        time.sleep(request.step_s)
        if cancel.is_set():
            emit(JobCancelled(request.job_id, step))
            return
        emit(StepPreview(request.job_id, step, request.steps, None))
    emit(JobFinished(request.job_id, np.zeros((8, 8, 3), np.uint8)))


class Recorder:
    """The listener: every event, in order, plus a way to wait for a job's end."""

    def __init__(self):
        self.events, self._cond = [], threading.Condition()

    def __call__(self, event):
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def terminal(self, job_id, timeout_s=30.0):
        with self._cond:
            assert self._cond.wait_for(lambda: self._end(job_id) is not None, timeout_s), f"job {job_id} never ended"
            return self._end(job_id)

    def _end(self, job_id):
        return next((e for e in self.events if e.job_id == job_id and isinstance(e, TERMINAL_EVENTS)), None)

    def of(self, job_id):
        return [e for e in self.events if e.job_id == job_id]


@pytest.fixture
def runner():
    ran, events = [], Recorder()
    made = JobRunner(lambda: ran, events, run=sleepy_run)
    made.ran, made.events = ran, events
    yield made
    assert made.close(10)


def test_queue_runs_jobs_in_order_each_with_one_terminal_event(runner):
    jobs = [runner.submit(Sleepy(steps=2)) for _ in range(4)]
    ids = [job.job_id for job in jobs]
    assert ids == sorted(set(ids)), "one counter: fresh, increasing ids"
    for job_id in ids:
        assert isinstance(runner.events.terminal(job_id), JobFinished)
    assert runner.ran == ids
    for job_id in ids:
        kinds = [type(e) for e in runner.events.of(job_id)]
        assert kinds == [JobStarted, StepPreview, StepPreview, JobFinished]
    # one at a time: a job's events never interleave with another's
    order = [e.job_id for e in runner.events.events]
    assert order == sorted(order)
    assert runner.kind_of(ids[0]) == "Sleepy"
    assert not runner.busy


def test_replace_five_rapid_submissions_run_only_the_last_to_its_end(runner):
    first = runner.submit(Sleepy(steps=50, step_s=0.02))
    jobs = [runner.submit(Sleepy(steps=3), Policy.REPLACE) for _ in range(5)]
    last = jobs[-1]
    assert isinstance(runner.events.terminal(last.job_id), JobFinished)
    for job in [first, *jobs[:-1]]:
        end = runner.events.terminal(job.job_id)
        assert isinstance(end, JobCancelled), f"job {job.job_id} should have been cancelled, got {end}"
    # the stale queued ones never started; the running one stopped within a step
    assert runner.ran[-1] == last.job_id
    assert all(job.job_id not in runner.ran for job in jobs[:-1])
    assert runner.events.terminal(first.job_id).step < 50
    # at most one job running at any moment: each job's events are contiguous
    seen, current = set(), None
    for event in runner.events.events:
        if event.job_id != current:
            assert event.job_id not in seen, "a job's events were split by another's"
            seen.add(current)
            current = event.job_id


def test_cancel_stops_a_running_job_within_a_step(runner):
    job = runner.submit(Sleepy(steps=200, step_s=0.05))
    deadline = time.monotonic() + 10
    while not any(isinstance(e, StepPreview) for e in runner.events.of(job.job_id)):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    asked = time.monotonic()
    runner.cancel(job.job_id)
    end = runner.events.terminal(job.job_id)
    assert isinstance(end, JobCancelled)
    assert time.monotonic() - asked < 0.05 * 3, "more than a step after cancel"
    previews = [e.step for e in runner.events.of(job.job_id) if isinstance(e, StepPreview)]
    assert end.step <= previews[-1] + 1


def test_an_exception_in_a_job_fails_it_and_the_next_job_runs(runner):
    bad = runner.submit(Sleepy(explode=True))
    good = runner.submit(Sleepy(steps=1))
    failed = runner.events.terminal(bad.job_id)
    assert isinstance(failed, JobFailed) and "boom" in failed.message
    assert isinstance(runner.events.terminal(good.job_id), JobFinished)


def test_a_failing_engine_factory_fails_the_job_and_the_next_one_tries_again():
    attempts, events = [], Recorder()

    def factory():
        attempts.append(1)
        if len(attempts) == 1:
            from inference.core.errors import KilnError

            raise KilnError("this GPU cannot run bf16: choose fp16 or fp32.")
        return []

    runner = JobRunner(factory, events, run=sleepy_run)
    try:
        first, second = runner.submit(Sleepy(steps=1)), runner.submit(Sleepy(steps=1))
        assert events.terminal(first.job_id) == JobFailed(first.job_id, "this GPU cannot run bf16: choose fp16 or fp32.")
        assert isinstance(events.terminal(second.job_id), JobFinished)
        assert len(attempts) == 2
    finally:
        runner.close(10)


def test_a_kind_that_forgets_its_terminal_event_still_ends(runner):
    def silent(engine, request, emit, cancel):
        emit(JobStarted(request.job_id, 1, 8, 8))

    events = Recorder()
    quiet = JobRunner(lambda: None, events, run=silent)
    try:
        job = quiet.submit(Sleepy())
        assert isinstance(events.terminal(job.job_id), JobFailed)
    finally:
        quiet.close(10)


def test_calls_between_jobs_run_on_the_worker_in_submission_order(runner):
    marks = []
    runner.submit(Sleepy(steps=2))
    runner.call_between_jobs(lambda r: marks.append(("call", threading.current_thread().name, list(r.ran))))
    second = runner.submit(Sleepy(steps=1))
    runner.events.terminal(second.job_id)
    (label, thread, ran_before), = marks
    assert thread == "kiln-jobs" and len(ran_before) == 1


def test_ids_continue_above_a_reserved_id(runner):
    runner.skip_ids_through(41)
    assert runner.submit(Sleepy(steps=1)).job_id == 42


def test_the_real_engine_cancels_within_a_step(tiny_model_dir, one_torch_thread):
    """The default kind dispatch is the engine's: a tiny real model, cancelled after its first preview."""
    from gui.session.generation_params import GenerationParams, build_request  # numpy only, no Qt
    from inference.engine.engine import Engine
    from inference.hardware.devices import choose_device

    events = Recorder()
    runner = JobRunner(lambda: Engine(choose_device(precision="fp32")), events, run=run_engine_job)
    try:
        params = GenerationParams(model_ref=str(tiny_model_dir), steps=30, width_px=128, height_px=128, seed=3, random_seed=False)
        picture = np.zeros((128, 128, 3), np.uint8)
        request = build_request(0, params, picture, np.zeros((128, 128), np.uint8), True, False)
        job = runner.submit(request)
        assert job.job_id == 1 and request.job_id == 0, "the runner numbers jobs, not the caller"
        deadline = time.monotonic() + 120
        while not any(isinstance(e, StepPreview) for e in events.of(job.job_id)):
            assert time.monotonic() < deadline, "no step preview"
            time.sleep(0.01)
        runner.cancel()
        end = events.terminal(job.job_id, timeout_s=60)
        assert isinstance(end, JobCancelled)
        steps = [e.step for e in events.of(job.job_id) if isinstance(e, StepPreview)]
        assert end.step <= steps[-1] + 1 < 30
    finally:
        assert runner.close(30)
