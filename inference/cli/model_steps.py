"""Running a restoration model (upscale, faces, fill) as one job from the command line.

Shared by ``main.py upscale`` and ``main.py restore``'s recipe: the job runs on the job runner,
Ctrl+C cancels it within a step, and a failure becomes a ``KilnError`` the batch reports. With
``server`` (an ``inference.remote.client.ServerClient``, from ``--server``) the job runs there.
"""

from __future__ import annotations

import threading

from inference.cli.generate import cancel_on_ctrl_c, run_one_job
from inference.core.errors import KilnError


def run_job_or_raise(engine, request, cancel: threading.Event, on_event=lambda _event: None, server=None):
    """Run ``request`` as one job (on ``server`` when given), Ctrl+C cancelling it within a step;
    → its ``JobFinished``. Raises ``KilnError`` on failure and ``KeyboardInterrupt`` when Ctrl+C
    cancelled it."""
    from inference.core.api import JobCancelled, JobFailed

    run = None
    if server is not None:
        from inference.remote.client import run_remote_job

        engine, run = server, run_remote_job
    restore_ctrl_c = cancel_on_ctrl_c(cancel)
    try:
        final = run_one_job(engine, request, on_event, cancel, run=run)
    finally:
        restore_ctrl_c()
    if isinstance(final, JobFailed):
        raise KilnError(final.message)
    if isinstance(final, JobCancelled):
        raise KeyboardInterrupt
    return final


def run_model_step(request, cancel: threading.Event, on_event=lambda _event: None, server=None):
    """Run ``request`` (an Upscale/Face/Fill request: no engine needed); → the new picture."""
    return run_job_or_raise(None, request, cancel, on_event, server).image


def check_model_file(path: str, kind: str, flag: str) -> None:
    """Open ``path`` once before a batch starts: a wrong, damaged or unsafe file stops the batch at
    once with its reason. Raises ``KilnError``."""
    from inference.restoration_models.model_file import load_restoration_model, require_kind

    model = load_restoration_model(path)
    action = {"upscale": "Upscale", "face": "Restore faces", "fill": "Fill"}[kind]
    try:
        require_kind(model, kind, f"{flag} ({action})")
    finally:
        del model
