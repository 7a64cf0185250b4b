"""The engine's kinds of job as the job runner (``inference.core.jobs``) runs them.

``run_engine_job`` is the ``run`` of every runner whose jobs need the engine (generation, the
strength view): it imports the engine — torch, diffusers — on the runner's thread, at the first
job, so callers that only submit jobs start quickly.
"""

from __future__ import annotations


def run_engine_job(engine, request, emit, cancel) -> None:
    """Run one ``GenerationRequest`` or ``ForwardViewRequest`` (``inference.engine.engine.run_job``),
    or an upscale, face or fill request (``inference.restoration_models.jobs``; no engine needed)."""
    from inference.restoration_models.jobs import RESTORATION_REQUESTS, run_restoration_job

    if isinstance(request, RESTORATION_REQUESTS):
        run_restoration_job(request, emit, cancel)
        return
    from inference.engine.engine import run_job

    run_job(engine, request, emit, cancel)
