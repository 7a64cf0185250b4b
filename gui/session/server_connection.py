"""Where generation runs: this computer, or a Kiln server (``main.py serve``) at a URL with a token.

``ServerConnection`` holds the choice (remembered in the settings), hands the worker a
``ServerClient`` (or None) so the next jobs go there, and checks the server's ``/health`` off the
GUI thread, saying what it found: "Connected to the Kiln server at … — models: …", or why not
(unreachable, not a Kiln server). A server that cannot be reached stays chosen — the jobs then say
why they cannot run — so a slow laptop never starts a heavy job by surprise.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from gui.session.background import BackgroundRunner
from inference.core.errors import KilnError


class ServerConnection(QObject):
    """Signals: ``status_changed(text, ok)`` — what the check found; ``models_found(list)``."""

    status_changed = Signal(str, bool)
    models_found = Signal(list)

    def __init__(self, settings, worker, parent: QObject | None = None):
        super().__init__(parent)
        self._settings, self._worker = settings, worker
        self._checker: BackgroundRunner | None = None  # made on the first check: no thread at start-up
        self.on, self.url, self.token = settings.server_choice()
        self.status = ""

    def start(self) -> None:
        """Apply the remembered choice (at startup)."""
        if self.on:
            self.apply(True, self.url, self.token)

    def apply(self, on: bool, url: str, token: str) -> bool:
        """Run on the server at ``url`` (``on``) or on this computer; remembered. Returns False, with a
        status, when the address cannot be a server address (jobs then stay on this computer)."""
        from inference.remote.client import ServerClient

        self.on, self.url, self.token = on, url.strip(), token.strip()
        self._settings.save_server_choice(on, self.url, self.token)
        if not on:
            self._worker.use_server(None)
            self._say("Generating on this computer.", True)
            return True
        try:
            client = ServerClient(self.url, self.token or None)
        except KilnError as exc:
            self._worker.use_server(None)
            self._say(f"{exc} Generating on this computer until then.", False)
            return False
        self._worker.use_server(client)
        self._say(f"Checking the Kiln server at {client.url}…", True)
        if self._checker is None:
            self._checker = BackgroundRunner("server-health", self)
            self._checker.done.connect(self._on_checked)
            self._checker.failed.connect(self._on_failed)
        self._checker.submit(client.health, client.url)
        return True

    def wait(self, timeout_s: float = 30.0) -> bool:
        from gui.session.background import wait_with_events

        return wait_with_events(lambda: self._checker is None or not self._checker.busy, timeout_s)

    def shutdown(self) -> None:
        if self._checker is not None:
            self._checker.stop(timeout_s=0.1)

    def _on_checked(self, url: str, health: dict) -> None:
        if not self.on or url != self._worker.server_url:
            return  # the choice changed meanwhile
        models = [str(m) for m in health.get("models", [])]
        listed = ", ".join(models) or "those in its Hugging Face cache"
        self._say(f"Connected to the Kiln server at {url} — models: {listed}. Generation runs there, and so do "
                  "Upscale, faces and Fill hole when it has their model file; teaching runs here.", True)
        self.models_found.emit(models)

    def _on_failed(self, url: str, message: str) -> None:
        if self.on and url == self._worker.server_url:
            self._say(message, False)

    def _say(self, text: str, ok: bool) -> None:
        self.status = text
        self.status_changed.emit(text, ok)
