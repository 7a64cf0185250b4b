"""Where undo patches live: in memory up to a budget, the oldest moved to disk beyond it.

A stroke's patch is kilobytes, but each "Apply result" or "Heal" on a 24-megapixel scan stores
up to 2 × 72 MB; an evening of work would fill the memory. ``PatchStore`` keeps the total held in
memory under ``budget_bytes`` by writing the oldest patches (the least likely to be undone) to
a private temporary folder, and reads them back when an undo or redo needs them. Disk trouble
(a full disk) only means a patch stays in memory: undo never loses a step.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np

from inference.files.project_file import ArrayRef

log = logging.getLogger(__name__)

UNDO_MEMORY_BYTES = 512 * 2**20  # default budget: a few full-image steps of a 24 MP scan
_KEYS = itertools.count(1)


class Patch:
    """One stored array (a before or after patch), in memory or in a file of its store. ``key``
    names it for this run of Kiln (projects and autosave store each patch once under it)."""

    def __init__(self, array: np.ndarray) -> None:
        self._array: np.ndarray | None = array
        self._path: Path | None = None
        self.shape, self.dtype = array.shape, array.dtype
        self.key = f"u{next(_KEYS)}"

    def ref(self) -> ArrayRef:
        """The patch as a project entry, read when it is written."""
        return ArrayRef(self.key, self.array)

    @property
    def in_memory_bytes(self) -> int:
        return 0 if self._array is None else self._array.nbytes

    def array(self) -> np.ndarray:
        """The patch's pixels (read back from disk when it was moved there)."""
        if self._array is not None:
            return self._array
        return np.fromfile(self._path, dtype=self.dtype).reshape(self.shape)

    def move_to(self, path: Path) -> bool:
        """Write the pixels to ``path`` and drop them from memory; False (kept in memory) if the
        write fails. The file is deleted when this patch is."""
        try:
            with open(path, "wb") as file:
                file.write(np.ascontiguousarray(self._array).data)
        except OSError as exc:
            log.warning("undo history stays in memory: could not write %s (%s)", path, exc)
            path.unlink(missing_ok=True)
            return False
        self._path, self._array = path, None
        weakref.finalize(self, path.unlink, missing_ok=True)
        return True


class PatchStore:
    """Creates patches and keeps the memory they hold under ``budget_bytes``.

    ``bound(patches)`` takes every live patch, oldest first, and moves the oldest in-memory
    ones to disk until the rest fit the budget. The folder is removed with the store.
    """

    def __init__(self, budget_bytes: int = UNDO_MEMORY_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self._folder: Path | None = None
        self._count = 0

    def bound(self, patches: list[Patch]) -> int:
        """Move the oldest patches to disk until memory ≤ budget; returns the bytes still in memory."""
        held = sum(p.in_memory_bytes for p in patches)
        for patch in patches:
            if held <= self.budget_bytes:
                break
            size = patch.in_memory_bytes
            if size and patch.move_to(self._next_path()):
                held -= size
        return held

    def _next_path(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="kiln-undo-"))
            weakref.finalize(self, shutil.rmtree, self._folder, ignore_errors=True)
        self._count += 1
        return self._folder / f"{self._count}.patch"

    @property
    def folder(self) -> Path | None:
        """The temporary folder patches are moved to (None until the first move)."""
        return self._folder
