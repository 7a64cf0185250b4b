"""Autosave and crash recovery.

While the picture has unsaved changes, Kiln keeps a copy of the work in a recovery folder, a
moment after each edit (``DELAY_MS``). The GUI thread only takes a snapshot — references to
arrays that never change (undo patches, results, the picture as opened) — and a background
thread writes what the folder lacks: each undo patch once, then a small ``project.json``
(``inference.files.project_file.write_recovery``). A stroke costs its patch and a JSON, not the picture.

Each running Kiln owns one session folder under the recovery root and holds an OS lock on a
file in it for its whole life. A clean quit deletes the folder; after a crash (even kill -9)
the lock is gone with the process, so the next start finds the folder, offers to restore it
and deletes it once restored or discarded.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import time
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, QTimer, Signal

from gui.session.project_state import snapshot
from inference.core.jobs import JobRunner, Policy, WorkRequest, run_work
from inference.core.errors import KilnError, ProjectFileError
from inference.files.project_file import MANIFEST, write_recovery
from inference.files.project_read import read_recovery

log = logging.getLogger(__name__)

DELAY_MS = 1000  # after an edit: a pause in the work, yet far under the few seconds a crash may cost
RECOVERY_DIR_ENV = "KILN_RECOVERY_DIR"
LOCK_NAME = "session.lock"
INFO_NAME = "session.json"


def recovery_root() -> Path:
    """Where session folders live: $KILN_RECOVERY_DIR, else Kiln/recovery in the user's data
    folder (~/.local/share, %LOCALAPPDATA%, ~/Library/Application Support)."""
    if os.environ.get(RECOVERY_DIR_ENV):
        return Path(os.environ[RECOVERY_DIR_ENV])
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return Path(base or Path.home()) / "Kiln" / "recovery"


# --- the session lock (released by the OS when the process ends, however it ends) -------------

def _lock(fd: int) -> bool:
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _unlock(fd: int) -> None:
    try:
        if os.name == "nt":
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        pass


def is_abandoned(folder: Path) -> bool:
    """Whether no running Kiln holds ``folder``'s lock."""
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        free = _lock(fd)
        if free:
            _unlock(fd)
        return free
    finally:
        os.close(fd)


class RecoverableSession:
    """A session folder a crashed Kiln left with unsaved work in it."""

    def __init__(self, folder: Path):
        self.folder = folder
        try:
            info = json.loads((folder / INFO_NAME).read_bytes()[:65536])
        except (OSError, ValueError, RecursionError):
            info = {}
        # Only paths as text are used (a damaged file must not stop the restore).
        self.info = {key: value[:4096] for key, value in (info.items() if isinstance(info, dict) else ())
                     if key in ("picture", "project") and isinstance(value, str) and "\0" not in value}
        self.saved_at = (folder / MANIFEST).stat().st_mtime

    def describe(self) -> str:
        name = Path(self.info.get("project") or self.info.get("picture") or "").name or "an untitled picture"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        return f"{name}, last autosaved {when}"

    def read(self):
        """The saved state (``inference.files.project_file.ProjectState``); raises ``ProjectFileError``."""
        return read_recovery(self.folder)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def find_recoverable(root: Path | None = None) -> list[RecoverableSession]:
    """Sessions with unsaved work whose Kiln is no longer running, newest first. Abandoned
    folders without work (a crash with nothing unsaved) are removed on the way."""
    root = recovery_root() if root is None else root
    found = []
    for folder in sorted(root.glob("session-*")) if root.is_dir() else []:
        if not folder.is_dir() or not is_abandoned(folder):
            continue
        if (folder / MANIFEST).is_file():
            found.append(RecoverableSession(folder))
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return sorted(found, key=lambda s: s.saved_at, reverse=True)


# --- the autosaver -----------------------------------------------------------------------------

class AutoSaver(QObject):
    """Keeps this session's recovery folder up to date. Signals ``problem(str)`` once when the
    recovery folder cannot be written (e.g. a full disk), ``written(float)`` with the seconds a
    background write took."""

    problem = Signal(str)
    written = Signal(float)

    def __init__(self, document, results, controller, params, root: Path | None = None, parent=None):
        super().__init__(parent)
        self._document, self._results, self._params = document, results, params
        self.folder = (recovery_root() if root is None else root) / f"session-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        self._lock_fd: int | None = None
        self._timer = QTimer(self, singleShot=True, interval=DELAY_MS)
        self._timer.timeout.connect(self.save_now)
        self._warned = False
        self._closed = False
        self._start_session()
        # The writer: a job runner of its own; a newer snapshot replaces one not yet written.
        self._writer = JobRunner(lambda: None, lambda _event: None, run=run_work, thread_name="kiln-autosave")
        for signal in (document.undo_stack.indexChanged, document.replaced, document.resized,
                       document.paint_visibility_changed, controller.applied, results.added):
            signal.connect(self.schedule)
        document.undo_stack.cleanChanged.connect(self.schedule)

    def _start_session(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
            _lock(self._lock_fd)
        except OSError as exc:
            self._warn(f"Autosave is off: cannot create '{self.folder}' ({exc.strerror or exc}).")

    def schedule(self, *_args) -> None:
        """Save a moment after the first edit not yet saved: edits in quick succession make one
        save, and steady work is still saved every ``DELAY_MS`` (the timer is not restarted)."""
        if not self._timer.isActive():
            self._timer.start()

    def save_now(self) -> None:
        """Take a snapshot now (GUI thread) and hand it to the writer."""
        self._timer.stop()
        if self._closed:
            return
        doc = self._document
        if doc.dirty:
            state = snapshot(doc, self._results, self._params, with_layers=False)
            job = (state, {"picture": doc.path, "project": doc.project_path, "pid": os.getpid()})
        else:
            job = None  # nothing unsaved: nothing to recover
        self._writer.submit(WorkRequest(0, lambda: self._write_safely(job)), Policy.REPLACE)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until everything handed to the writer is on disk (tests, quitting)."""
        return self._writer.wait_idle(timeout)

    def close(self) -> None:
        """A clean quit: stop the writer and delete this session's folder."""
        self._timer.stop()
        self._closed = True
        self._writer.close(timeout_s=30)
        if self._lock_fd is not None:
            _unlock(self._lock_fd)
            os.close(self._lock_fd)
            self._lock_fd = None
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- the writer thread ----------------------------------------------------------------------

    def _write_safely(self, job) -> None:
        started = time.perf_counter()
        try:
            self._write(job)
        except FileNotFoundError:
            log.info("autosave skipped: an undo patch went away while it was written")
        except (KilnError, OSError) as exc:
            self._warn(self._failure_message(exc))
        except Exception:  # noqa: BLE001 - a bug here must not take the editor down
            log.exception("autosave failed")
            self._warn("Autosave failed because of an error in Kiln; please save your project.")
        else:
            self.written.emit(time.perf_counter() - started)

    def _write(self, job) -> None:
        if self._lock_fd is None:
            return
        if job is None:
            (self.folder / MANIFEST).unlink(missing_ok=True)
            used = {LOCK_NAME}
        else:
            state, info = job
            (self.folder / INFO_NAME).write_text(json.dumps(info))
            used = write_recovery(self.folder, state) | {LOCK_NAME, INFO_NAME}
        for path in self.folder.rglob("*"):  # patches of undo steps that are gone, old pictures
            if path.is_file() and path.relative_to(self.folder).as_posix() not in used:
                path.unlink(missing_ok=True)

    def _failure_message(self, exc: BaseException) -> str:
        """What a failed write means to a person: a full disk is said as such, with where."""
        cause = exc
        while cause is not None and getattr(cause, "errno", None) not in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            return f"Autosave failed: {exc}"
        return (f"Autosave failed: the disk is full where Kiln keeps its recovery copy ({self.folder}). Free some "
                "space there; your work is still open, and saving the project to another drive keeps it safe.")

    def _warn(self, text: str) -> None:
        if not self._warned:  # once: a full disk would otherwise say so after every stroke
            self._warned = True
            self.problem.emit(text)


def restore_session(session: RecoverableSession, projects, document) -> bool:
    """Show a crashed session's work in the editor (``gui.actions.project_actions.ProjectActions``);
    the folder is deleted once its work is in the editor (and so in this session's autosave)."""
    try:
        state = session.read()
    except ProjectFileError as exc:
        projects.warn("Cannot restore the session", f"{exc}\n\nThe autosaved copy is kept in {session.folder}.")
        return False
    notes = projects.apply(state, "the recovered session")
    if notes is None:
        return False
    document.project_path = session.info.get("project")
    session.discard()
    projects.message.emit(" ".join(["Restored the work Kiln had autosaved.", *notes]))
    return True
