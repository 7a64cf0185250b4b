"""Restoration tools that need no model: detect damage, heal, grow/shrink/feather the mask.

Each action is one undoable edit of the document. The image work itself lives in
``inference`` (numpy/OpenCV, no torch); Detect damage and Heal take seconds on a 24 MP scan,
so they run on a background thread (``gui.session.background``) while the editor goes on, and their
answers are applied here, in the GUI thread:

* a request made while one runs replaces the one waiting (Detect twice: one more detection);
* Sensitivity moves settle for ``SETTLE_MS`` before the last detection is redone at the newest
  value; answers for an older value, or for a picture that has changed since, are dropped;
* Heal is applied only if the picture and the mask are still those it healed.

``detect_damage()`` and ``heal()`` wait for their answer (scripts, tests); the buttons and
menu use ``request_detection()`` and ``request_heal()``, which return at once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from gui.session.background import BackgroundRunner, wait_with_events
from inference.core.api import DEFAULT_SENSITIVITY

MASK_STEP_PX = 4
SETTLE_MS = 150  # slider moves closer together than this make one detection


@dataclass(frozen=True)
class _Ask:
    """One request: what it was for, and the picture and mask it was made from."""

    kind: str  # "detect" or "heal"
    serial: int
    sensitivity: float
    image_version: int
    mask_version: int
    replace: bool = False  # a detection that replaces the last one (the sensitivity moved)


def _detect_and_merge(image: np.ndarray, mask: np.ndarray, sensitivity: float) -> tuple:
    """(found, mask before, pixels found, patch): H×W uint8 masks, a count, and the change as
    ((x, y, w, h), before patch, after patch) or None. Runs off the GUI thread, where a 24 MP
    merge and comparison would cost several frames."""
    from inference.restore.damage import detect_damage

    found = detect_damage(image, sensitivity)
    before = np.array(mask)
    return found, before, int(np.count_nonzero(found)), _changed_patch(before, np.maximum(before, found))


def _changed_patch(before: np.ndarray, after: np.ndarray):
    """((x, y, w, h), before patch, after patch) around the pixels that differ, or None."""
    diff = before != after
    rows = np.flatnonzero(diff.any(axis=1))
    if rows.size == 0:
        return None
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(diff[top:bottom].any(axis=0))
    left, right = int(cols[0]), int(cols[-1]) + 1
    window = np.s_[top:bottom, left:right]
    return (left, top, right - left, bottom - top), before[window].copy(), after[window].copy()


class RestoreActions(QObject):
    """Signals ``message(str)`` for the status bar, ``busy_changed(bool)`` while detection or
    healing runs in the background."""

    message = Signal(str)
    busy_changed = Signal(bool)

    def __init__(self, document, parent: QObject | None = None):
        super().__init__(parent)
        self._document = document
        self.sensitivity = DEFAULT_SENSITIVITY
        self._last_detection: tuple[int, np.ndarray] | None = None  # (undo index, mask before)
        self._serials = itertools.count(1)
        self._wanted: dict[str, _Ask] = {}  # the newest request of each kind
        self._versions = {"image": 0, "mask": 0}
        self.last_count = 0  # pixels the last applied detection proposed
        self.last_healed = False
        self._runners = {kind: BackgroundRunner(f"restore-{kind}", self) for kind in ("detect", "heal")}
        for runner in self._runners.values():
            runner.done.connect(self._on_done)
            runner.failed.connect(self._on_failed)
            runner.busy_changed.connect(self._emit_busy)
        self._settle = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self._settle.timeout.connect(self._redetect)
        for signal in (document.image_changed, document.replaced, document.resized):
            signal.connect(self._image_changed)
        for signal in (document.mask_changed, document.replaced, document.resized):
            signal.connect(self._mask_changed)

    @property
    def busy(self) -> bool:
        """Detection or healing runs, or waits for the sensitivity to settle."""
        return self._settle.isActive() or any(r.busy for r in self._runners.values())

    def wait(self, timeout_s: float = 120.0) -> bool:
        """Let the work in progress finish and be applied (the window keeps painting)."""
        return wait_with_events(lambda: not self.busy, timeout_s)

    def shutdown(self) -> None:
        """Stop the background threads (quitting): a detection still running is not waited
        for, its answer is dropped."""
        self._settle.stop()
        self._wanted.clear()
        for runner in self._runners.values():
            runner.stop(timeout_s=0.1)

    @property
    def activity(self) -> str:
        """What runs in the background, for the status bar ("" when nothing)."""
        busy = [text for kind, text in (("detect", "Detecting damage…"), ("heal", "Healing…"))
                if self._runners[kind].busy]
        return " ".join(busy)

    # --- detect damage ---------------------------------------------------------------------

    def request_detection(self) -> None:
        """Detect damage in the background; the answer is added to the mask (one undo step)."""
        self._ask("detect")

    def detect_damage(self) -> int:
        """Detect and wait for it: the pixels proposed (0 when none were found)."""
        self.last_count = 0
        self.request_detection()
        self.wait()
        return self.last_count

    def set_sensitivity(self, sensitivity: float) -> None:
        """Change the sensitivity; if the last edit was a detection (or one is on its way),
        redo it at the new value once the moves settle."""
        self.sensitivity = sensitivity
        if self._last_detection_is_last() or "detect" in self._wanted:
            self._settle.start()

    def _redetect(self) -> None:
        if "detect" in self._wanted:
            self._ask("detect", replace=self._wanted["detect"].replace)  # the newest value wins
        elif self._last_detection_is_last():
            self._ask("detect", replace=True)

    def _last_detection_is_last(self) -> bool:
        last = self._last_detection
        return last is not None and last[0] == self._document.undo_stack.index()

    def _apply_detection(self, ask: _Ask, result: tuple) -> None:
        doc = self._document
        found, before, count, patch = result
        text = f"Detect damage ({ask.sensitivity:.0%})"
        if ask.replace:
            if not self._last_detection_is_last():
                return  # the user has moved on: the detection to replace is no longer the last step
            doc.undo_stack.undo()  # back to the mask the patch was made against
        elif ask.mask_version != self._versions["mask"]:  # painted meanwhile: merge with that mask
            before = doc.mask.copy()
            patch = _changed_patch(before, np.maximum(before, found))
        if patch is not None:
            doc.push_mask_patch(*patch, text)
        else:
            self.message.emit("No damage found at this sensitivity: raise it, or paint the mask by hand.")
            self._last_detection = None
            return
        self._last_detection = (doc.undo_stack.index(), before)
        self.last_count = count
        self.message.emit(f"Marked {self.last_count:,} damaged pixels. Check the mask, then Heal or Generate.")

    # --- heal ------------------------------------------------------------------------------

    def request_heal(self) -> bool:
        """Fill the masked area classically (no model) in the background, then clear the mask:
        one undo step. False (with a message) when there is no mask."""
        if not self._document.has_mask():
            self.message.emit("Paint over the damage first (or use Detect damage), then Heal.")
            return False
        self._ask("heal")
        return True

    def heal(self) -> bool:
        """Heal and wait for it: whether the picture was healed."""
        self.last_healed = False
        if self.request_heal():
            self.wait()
        return self.last_healed

    def _apply_heal(self, healed: np.ndarray) -> None:
        doc = self._document
        stack = doc.undo_stack
        stack.beginMacro("Heal")
        doc.apply_image(healed, "Heal")
        doc.clear_mask()
        stack.endMacro()
        self.last_healed = True
        self.message.emit("Healed. Undo with Ctrl+Z; compare with \\.")

    # --- requests and answers --------------------------------------------------------------

    def _ask(self, kind: str, replace: bool = False) -> None:
        doc = self._document
        ask = _Ask(kind, next(self._serials), self.sensitivity, self._versions["image"], self._versions["mask"],
                   replace)
        self._wanted[kind] = ask
        # Read-only views: the thread reads them, and an edit meanwhile makes the answer stale
        # (the versions say so), so no 72 MB copy is made here.
        image, mask, sensitivity = doc.image, doc.mask, ask.sensitivity
        if kind == "detect":
            # Redoing the last detection starts from the mask it was added to (kept as a copy).
            base = self._last_detection[1] if replace and self._last_detection is not None else mask
            work = lambda: _detect_and_merge(image, base, sensitivity)  # noqa: E731
        else:
            from inference.restore.heal import heal

            work = lambda: heal(image, mask)  # noqa: E731
        self._runners[kind].submit(work, ask)

    def _on_done(self, ask: _Ask, result: np.ndarray) -> None:
        if self._wanted.get(ask.kind) != ask:
            return  # a newer request replaced it
        if ask.image_version != self._versions["image"] or (
                ask.kind == "heal" and ask.mask_version != self._versions["mask"]):
            if ask.kind == "heal":
                del self._wanted[ask.kind]
                self.message.emit("The picture or its mask changed while healing: press Heal again.")
            else:
                self._ask("detect", ask.replace)  # made from an older picture: once more
            return
        del self._wanted[ask.kind]
        if ask.kind == "detect":
            self._apply_detection(ask, result)
        else:
            self._apply_heal(result)

    def _on_failed(self, ask: _Ask, text: str) -> None:
        if self._wanted.get(ask.kind) == ask:
            del self._wanted[ask.kind]
            self.message.emit(f"{'Detect damage' if ask.kind == 'detect' else 'Heal'} failed: {text}")

    def _image_changed(self, *_args) -> None:
        self._versions["image"] += 1

    def _mask_changed(self, *_args) -> None:
        self._versions["mask"] += 1

    def _emit_busy(self, *_args) -> None:
        self.busy_changed.emit(any(r.busy for r in self._runners.values()))

    def grow(self) -> bool:
        from inference.restore.mask_ops import grow_mask

        return self._document.set_mask(grow_mask(np.asarray(self._document.mask), MASK_STEP_PX), "Grow mask")

    def shrink(self) -> bool:
        from inference.restore.mask_ops import shrink_mask

        return self._document.set_mask(shrink_mask(np.asarray(self._document.mask), MASK_STEP_PX), "Shrink mask")

    def feather(self) -> bool:
        from inference.restore.compositing import feather_mask

        return self._document.set_mask(feather_mask(np.asarray(self._document.mask), MASK_STEP_PX), "Feather mask")
