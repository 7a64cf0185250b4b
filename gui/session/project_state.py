"""What a project holds, taken from the editor and given back to it.

``snapshot`` gathers the document (its base picture, undo history, layers), the results in the
history strip and the generation settings into an ``inference.files.project_file.ProjectState``;
``apply_state`` makes the editor show a state read back from a project file or a recovery
folder. Arrays are shared, not copied: every array a snapshot refers to is immutable (undo
patches, results, the base picture), except the current layers, which are only taken when
asked for (an explicit save, in the GUI thread).
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from gui.session.commands import stack_edits
from gui.session.face_boxes import face_boxes_of
from gui.session.generation_params import GenerationParams, params_from_values
from gui.session.results import HistoryEntry
from inference.core.api import Mode
from inference.core.errors import ProjectFileError
from inference.files.project_file import ArrayRef, ProjectState, Result


def _clean_index(stack) -> int:
    return stack.cleanIndex() if stack.cleanIndex() >= 0 else -1


def snapshot(document, results, params, with_layers: bool) -> ProjectState:
    """The editor's state now. ``with_layers``: include copies of the current layers (a
    project file); without them the state is what a recovery folder needs."""
    image, mask, paint, is_blank, key = document.base
    state = ProjectState(
        base_image=ArrayRef(key, lambda: image), base_is_blank=is_blank, base_mask=mask, base_paint=paint,
        paint_visible=document.paint_visible, edits=stack_edits(document.undo_stack),
        undo_index=document.undo_stack.index(), clean_index=_clean_index(document.undo_stack),
        results=[Result(e.job_id, e.mode.value, e.seed, e.parameters, ArrayRef(f"r{e.job_id}", lambda i=e.image: i))
                 for e in results.entries()],
        last_applied=results.accepted.job_id if results.accepted else None,
        params=asdict(params), original_path=document.path, face_boxes=list(face_boxes_of(document).boxes),
    )
    if with_layers:
        state.image, state.mask, state.paint = (np.array(a) for a in (document.image, document.mask, document.paint))
    return state


def apply_state(state: ProjectState, label: str, document, controller, current: GenerationParams) -> list[str]:
    """Show ``state`` in the editor: picture, undo history, results, settings. Returns notes for
    the user (what could not be restored). Everything that can be refused is checked before the
    editor changes (``inference.files.project_read`` has checked every value); raises
    ``ProjectFileError`` when the picture itself cannot be rebuilt, the editor then holding a
    blank canvas."""
    # 1. Settings and results first: nothing in the editor has changed yet.
    notes = list(state.notes)
    params = params_from_values(state.params)
    params.model_ref = params.model_ref or current.model_ref  # a project without a model keeps yours
    modes = {m.value for m in Mode}
    entries = [HistoryEntry(r.job_id, r.image, Mode(r.mode), r.seed, r.parameters)
               for r in state.results if r.mode in modes]
    # 2. The picture and its undo history.
    base = (state.base_image, state.base_mask, state.base_paint, state.base_is_blank)
    try:
        document.restore(base, state.edits, state.undo_index, state.clean_index, state.paint_visible,
                         state.original_path)
    except ValueError as exc:
        raise ProjectFileError(f"cannot open '{label}': the project is damaged ({exc}).") from exc
    layers = (state.image, state.mask, state.paint)
    if state.image is not None and not all(
            a.shape == b.shape and np.array_equal(a, b) for a, b in zip(layers, (document.image, document.mask,
                                                                                document.paint))):
        # The saved layers are what the user saw; the history that should lead to them does not.
        document.restore((state.image, state.mask, state.paint, False), [], 0, 0, state.paint_visible,
                         state.original_path)
        notes.append("Its undo history could not be restored; the picture is as it was saved.")
    if state.face_boxes is not None:  # as saved; else as its history left them
        face_boxes_of(document).reset(state.face_boxes)
    # 3. The settings (the panels follow them), with values they accept.
    for name, value in asdict(params).items():
        setattr(current, name, value)  # the panels show each field as it changes
    controller.adopt_history(entries, state.last_applied)
    return notes
