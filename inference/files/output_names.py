"""Output file names for one command-line run that never land on an input or on each other.

A run (``generate``, ``restore``) reads some files and writes others. Two things must never
happen: an output replacing one of the inputs (the user's originals, a given mask), and two
outputs of the same run sharing a name so that the second silently replaces the first. Files
left by an earlier run under an output's usual name are replaced, as before (rerunning a batch
into the same folder updates its results).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def same_file_key(path: str | os.PathLike) -> str:
    """A key equal for two spellings of one file (relative, ``..``, symlinks, case on Windows)."""
    return os.path.normcase(os.path.realpath(os.path.abspath(path)))


class OutputNames:
    """Hands out output paths for one run.

    protected: the run's inputs (files that must never be written). Each path handed out is
    remembered, so later claims avoid it too. Not thread-safe.
    """

    def __init__(self, protected: Iterable[str | os.PathLike | None] = ()):
        self._taken = {same_file_key(p) for p in protected if p}

    def is_free(self, path: Path) -> bool:
        return same_file_key(path) not in self._taken

    def claim(self, wanted: Path) -> Path:
        """``wanted``, or ``STEM-2.png``, ``STEM-3.png``… when it is an input or already handed out."""
        return self.claim_group([wanted])[0]

    def claim_group(self, wanted: list[Path]) -> list[Path]:
        """The ``wanted`` paths, or all of them with one shared number (``STEM-N.SUFFIX``, N = 2, 3, …)
        where any is taken, so the files made from one photo keep matching names.

        E.g. [a-restored.png, a-mask.png] → the same, or a-restored-2.png, a-mask-2.png."""
        number = 1
        while True:
            paths = [p if number == 1 else p.with_name(f"{p.stem}-{number}{p.suffix}") for p in wanted]
            keys = {same_file_key(p) for p in paths}
            if len(keys) == len(paths) and not keys & self._taken:
                self._taken |= keys
                return paths
            number += 1
