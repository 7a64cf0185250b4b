"""Undo history at scale: replaying a reopened project's steps, and keeping the memory of a
long stack bounded without walking it on every edit (``gui.session.document.Document`` uses both).

Both were quadratic: each push walked the whole stack (with a list ``pop(0)``) to bound undo
memory, so 8,000 reopened steps took 73 s and each later stroke 21 ms more.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker
from PySide6.QtGui import QUndoCommand, QUndoStack

from gui.session.commands import push_edit
from gui.session.undo_store import PatchStore


def stack_commands(stack: QUndoStack) -> list[QUndoCommand]:
    """Every command on ``stack``, oldest first, a macro's children in their order (linear)."""
    commands, pending = [], [stack.command(i) for i in range(stack.count() - 1, -1, -1)]
    while pending:  # newest last: popping from the end keeps the walk linear
        command = pending.pop()
        commands.append(command)
        pending.extend(command.child(i) for i in range(command.childCount() - 1, -1, -1))
    return commands


class StackMemory:
    """Keeps the patches of a QUndoStack under its ``PatchStore``'s budget. Undo memory grows
    only when a command is pushed: an upper bound of what is held is kept (deleted commands are
    not subtracted), and the whole stack is walked only when that bound passes the budget."""

    def __init__(self, store: PatchStore):
        self._store, self._held_bound, self._newest = store, 0, None

    def update(self, stack: QUndoStack) -> None:
        newest = stack.command(stack.count() - 1) if stack.count() else None
        if newest is not None and newest is not self._newest:
            pending = [newest]
            while pending:
                command = pending.pop()
                self._held_bound += getattr(command, "nbytes", 0)
                pending.extend(command.child(i) for i in range(command.childCount()))
        self._newest = newest
        if self._held_bound > self._store.budget_bytes:
            self._held_bound = self._store.bound([p for c in stack_commands(stack) for p in getattr(c, "patches", ())])


def replay_edits(document, edits: list, memory: StackMemory) -> None:
    """Push ``edits`` (``inference.files.project_file.Edit``) onto ``document``'s undo stack, in linear
    time: the stack's signals are held (nothing needs to follow each step), undo memory is
    bounded as they are pushed, and the stack's state is said once at the end (the Undo and Redo
    actions follow it). Raises what ``push_edit`` raises."""
    stack = document.undo_stack
    with QSignalBlocker(stack):
        for edit in edits:
            push_edit(document, edit)
            memory.update(stack)


def announce(stack: QUndoStack) -> None:
    """Emit the state signals of ``stack`` once (after changes made with its signals held)."""
    for signal, value in ((stack.indexChanged, stack.index()), (stack.cleanChanged, stack.isClean()),
                          (stack.canUndoChanged, stack.canUndo()), (stack.canRedoChanged, stack.canRedo()),
                          (stack.undoTextChanged, stack.undoText()), (stack.redoTextChanged, stack.redoText())):
        signal.emit(value)
