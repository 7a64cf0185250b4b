"""Watching what an editor submits to its job runner, for the GUI tests."""

from __future__ import annotations


def record_submissions(editor) -> list:
    """From now on, every request ``editor.worker`` submits is appended to the returned list as
    (request as numbered by the job runner, whether another job was still in flight then)."""
    submitted, submit = [], editor.worker.submit

    def spy(request):
        busy = editor.worker.busy
        sent = submit(request)
        submitted.append((sent, busy))
        return sent

    editor.worker.submit = spy
    return submitted
