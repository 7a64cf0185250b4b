# PyInstaller runtime hook: a start-up probe for packaging/smoke_test.py, inert unless asked for.
#
# With KILN_SMOKE_EXIT_AFTER_SHOWN=1 the frozen app prints "window shown after X s" (X = seconds since
# the process started, bootloader included) once the main window has been shown and painted, then quits.
# It wraps QApplication.exec, so the app itself needs no change. Once main.py/gui/app.py carry the same
# hook themselves (see packaging/README.md), drop this file from kiln.spec's runtime_hooks.
import os

if os.environ.get("KILN_SMOKE_EXIT_AFTER_SHOWN") == "1":
    import sys
    import time

    def _process_age() -> float:
        try:  # Linux: process start in clock ticks since boot, compared with the uptime
            with open("/proc/self/stat") as f:
                start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
            with open("/proc/uptime") as f:
                uptime = float(f.read().split()[0])
            return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return time.perf_counter() - _T0

    _T0 = time.perf_counter()

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    _orig_exec = QApplication.exec

    def _report_and_quit() -> None:
        app = QApplication.instance()
        app.processEvents()  # let the first expose/paint events through
        shown = [w for w in app.topLevelWidgets() if isinstance(w, QMainWindow) and w.isVisible()]
        if shown:
            shown[0].grab()  # forces a full render of the window, as the first paint would
            print(f"window shown after {_process_age():.2f} s ({shown[0].windowTitle()!r}, "
                  f"{shown[0].width()}x{shown[0].height()})", flush=True)
            shown[0].close()  # the window's own close handling stops the inference thread
            app.exit(0)
        else:
            print("window NOT shown", flush=True)
            app.exit(3)

    def _exec(*args):
        QTimer.singleShot(0, _report_and_quit)
        return _orig_exec()  # exec is static: drop a self the call may have passed

    QApplication.exec = _exec
    print("smoke probe armed", file=sys.stderr, flush=True)
