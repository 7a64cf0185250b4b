"""Start-up probe: how long until the editor window is up, for packaging/smoke_test.py.

Inert unless the environment has ``KILN_SMOKE_EXIT_AFTER_SHOWN=1``. Then, once the event loop runs
and the main window has been shown and painted, it prints ``window shown after X s`` (X: seconds
since the process started, a frozen app's bootloader included), keeps the figure in
``last_report``, closes the window (its own close handling stops the inference thread) and quits
the event loop with exit status 0 (3 when no window is visible).

``gui.app.run_app`` arms it just before ``app.exec()``; nothing else in the app knows about it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

ENV = "KILN_SMOKE_EXIT_AFTER_SHOWN"
_T0 = time.perf_counter()  # fallback clock: when this module was imported


@dataclass
class StartupReport:
    seconds: float  # since the process started
    title: str
    width: int
    height: int


last_report: StartupReport | None = None


def process_age() -> float:
    """Seconds since this process started (Linux: from /proc; elsewhere psutil, else since import)."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import psutil

        return time.time() - psutil.Process().create_time()
    except Exception:
        return time.perf_counter() - _T0


def arm_startup_probe(app, window) -> bool:
    """With ``KILN_SMOKE_EXIT_AFTER_SHOWN=1``: report and quit once ``window`` is shown, as soon as
    ``app``'s event loop starts. Returns whether the probe was armed."""
    if os.environ.get(ENV) != "1":
        return False
    from PySide6.QtCore import QTimer

    QTimer.singleShot(0, lambda: _report_and_quit(app, window))
    return True


def _report_and_quit(app, window) -> None:
    global last_report
    app.processEvents()  # let the first expose and paint events through
    if not window.isVisible():
        print("window NOT shown", flush=True)
        app.exit(3)
        return
    window.grab()  # renders the whole window, as its first paint does
    last_report = StartupReport(process_age(), window.windowTitle(), window.width(), window.height())
    print(f"window shown after {last_report.seconds:.2f} s ({last_report.title!r}, "
          f"{last_report.width}x{last_report.height})", flush=True)
    window.close()
    app.exit(0)
