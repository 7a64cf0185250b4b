"""The step timeline of the session: the running job's step previews and the last finished
job's, and the request that branches from one of its steps.

The ``GenerationController`` feeds it every job's request (``begin``), step previews (``add``)
and end (``finish``); it keeps the previews of the last *finished* job, as the engine keeps that
job's denoising states (``inference.engine.timeline``). ``gui.panels.timeline_panel`` scrubs it.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal

from gui.session.generation_params import SEED_MAX, GenerationParams
from inference.core.api import GenerationRequest, Mode, StepPreview
from inference.core.errors import InvalidRequest

NOT_BRANCHABLE_TEXT = "Inpainting results cannot be branched: only text-to-image and image-to-image ones."


@dataclass
class TimelineRun:
    """One job's step previews in step order: ``previews[i]`` is step i + 1. A branch's first
    ``branched_at`` previews are its source's (their ``job_id`` and ``step`` are the source's)."""

    request: GenerationRequest
    previews: list[StepPreview] = field(default_factory=list)
    branched_at: int = 0

    @property
    def branchable(self) -> bool:
        """Whether the engine can continue this job (it keeps no states of inpainting jobs, nor of
        tile-by-tile detail passes)."""
        return self.request.mode is not Mode.INPAINT and not self.request.detail


def branch_request(job_id: int, source: GenerationRequest, params: GenerationParams, step: int) -> GenerationRequest:
    """A request that continues ``source``'s job after ``step``.

    From the source: model, LoRAs, mode, picture, size, steps, sampler and strength (the engine
    resumes that job's schedule). From ``params`` (the panel): prompt, negative prompt,
    guidance and seed — a new random one when ``params.random_seed``, so a branch is a
    variation; the source's seed and prompt give the source's result again.
    """
    seed = secrets.randbelow(SEED_MAX + 1) if params.random_seed else params.seed
    return dataclasses.replace(source, job_id=job_id, prompt=params.prompt, negative_prompt=params.negative_prompt,
                               guidance=params.guidance, seed=seed, branch_from=(source.job_id, step))


class StepTimeline(QObject):
    """The step previews of the running job and of the last finished one.

    Signals ``changed()`` when the last finished run changes (a job finished, or ``clear``).
    Arrays are kept as the events carry them (the events own them; nobody writes to them).
    """

    changed = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._last: TimelineRun | None = None
        self._running: TimelineRun | None = None

    @property
    def last(self) -> TimelineRun | None:
        return self._last

    def begin(self, request: GenerationRequest) -> None:
        """A job starts. A branch of the last run starts with that run's first k previews."""
        prefix = []
        last = self._last
        if request.branch_from is not None and last is not None and last.request.job_id == request.branch_from[0]:
            prefix = last.previews[: request.branch_from[1]]
        self._running = TimelineRun(request, list(prefix), len(prefix))

    def add(self, preview: StepPreview) -> None:
        """A step of the running job (others are ignored). Steps count from 1 again when the job
        restarts (an out-of-memory retry): the earlier attempt's later steps are dropped."""
        run = self._running
        if run is None or preview.job_id != run.request.job_id:
            return
        index = run.branched_at + preview.step - 1
        run.previews[index:] = [preview]

    def finish(self, job_id: int) -> None:
        """The running job ``job_id`` finished: it becomes the last run. A cancelled or failed job
        never finishes, and the last run stays (the engine keeps its states too)."""
        run = self._running
        if run is not None and run.request.job_id == job_id:
            self._last, self._running = run, None
            self.changed.emit()

    def clear(self) -> None:
        """Forget the last run (another picture: its results no longer apply)."""
        if self._last is not None:
            self._last = None
            self.changed.emit()

    def branch_request(self, job_id: int, params: GenerationParams, step: int) -> GenerationRequest:
        """``branch_request`` from the last run after ``step``. Raises ``InvalidRequest`` when
        there is none, it was an inpainting job, or ``step`` is not 1 … N − 1."""
        last = self._last
        if last is None:
            raise InvalidRequest("Nothing to branch from yet: generate a picture first.")
        if not last.branchable:
            raise InvalidRequest(NOT_BRANCHABLE_TEXT)
        total = len(last.previews)
        if not 1 <= step < total:
            raise InvalidRequest(f"Branch from a step between 1 and {total - 1}: step {total} is the result itself.")
        return branch_request(job_id, last.request, params, step)
