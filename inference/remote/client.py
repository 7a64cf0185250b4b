"""Talking to a Kiln server over plain HTTP (no Ray on this computer): health, and jobs as streams.

``ServerClient(url, token)`` is what the job runner's engine factory returns when jobs run on a
server; ``run_remote_job`` is then the runner's ``run``: it sends the request, emits the server's
events as they arrive (with this runner's job id), and closes the connection when ``cancel`` is
set — the server stops the job within a step — ending with ``JobCancelled`` at once. Every failure
is one ``JobFailed`` with a message a person can act on: unreachable, not a Kiln server, token
refused, no such model, busy, over the limits, or a server that stopped mid-job.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import threading
from urllib.parse import urlsplit

from inference.core.api import JobCancelled, JobFailed, JobStarted, StepPreview
from inference.core.errors import KilnError

SERVER_ENV, TOKEN_ENV = "KILN_SERVER", "KILN_TOKEN"
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0  # the server sends an empty line every 10 s while a job is quiet


class ServerError(KilnError):
    """A server could not be used, with what to do about it."""


class ServerClient:
    def __init__(self, url: str, token: str | None = None):
        url = (url or "").strip()
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ServerError(f"'{url}' is not a server address: give one like http://192.168.1.20:7860.")
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self._parts, self.token = parts, (token or None)
        self.session = secrets.token_hex(8)  # the server keeps this client's last timeline under it
        self.models: list[str] = []  # what the server offers, as its last /health said
        self._lora_names: dict[tuple, str] = {}  # (path, size, mtime) → sha256 name
        self._sent: set[str] = set()  # LoRAs the server has

    @classmethod
    def from_environment(cls, url: str | None = None, token: str | None = None) -> ServerClient | None:
        """A client for ``url`` (else ``KILN_SERVER``), with ``token`` (else ``KILN_TOKEN``); None without a URL."""
        url = url or os.environ.get(SERVER_ENV, "")
        return cls(url, token or os.environ.get(TOKEN_ENV) or None) if url.strip() else None

    # --- plain requests ------------------------------------------------------------------------

    def health(self) -> dict:
        """The server's /health answer; raises ServerError when it is not a reachable Kiln server."""
        status, body = self._request("GET", "/health", with_token=False)
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if status != 200 or not isinstance(data, dict) or "kiln" not in data:
            raise ServerError(f"{self.url} answers, but it is not a Kiln server (HTTP {status}). Check the "
                              "address and port.")
        self.models = [str(m) for m in data.get("models", []) if isinstance(m, str)]
        return data

    def cancel_job(self, server_job: str) -> None:
        """Ask the server to stop its job ``server_job`` (best effort: closing the stream stops it too)."""
        try:
            self._request("POST", f"/jobs/{int(server_job)}/cancel", timeout=2.0)
        except (ServerError, ValueError):
            pass

    # --- jobs ----------------------------------------------------------------------------------

    def run(self, request, emit, cancel: threading.Event) -> None:
        """Run ``request`` on the server; emits its events, ending with exactly one terminal event."""
        from inference.core.jobs import TERMINAL_EVENTS
        from inference.remote.wire import event_from_line, request_to_json

        job_id, last_step = request.job_id, 0
        try:
            body = json.dumps(request_to_json(request, self._send_loras(request))).encode("utf-8")
        except KilnError as exc:
            emit(JobFailed(job_id, str(exc)))
            return
        connection = self._connect(READ_TIMEOUT_S)
        watcher = _CloseOnCancel(self, connection, cancel)
        try:
            headers = {"Content-Type": "application/json", "Content-Length": str(len(body)),
                       "X-Kiln-Session": self.session}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            try:
                connection.request("POST", self._path("/jobs"), body=body, headers=headers)
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                emit(JobCancelled(job_id, 0) if cancel.is_set() else JobFailed(job_id, str(self._unreachable(exc))))
                return
            if response.status != 200:
                emit(JobFailed(job_id, self._refusal(response)))
                return
            watcher.server_job = response.getheader("X-Kiln-Job")
            for line in response:
                if not line.strip():
                    continue  # the server's heartbeat
                event = event_from_line(line)
                event = type(event)(**{**event.__dict__, "job_id": job_id})
                if isinstance(event, (JobStarted, StepPreview)):
                    last_step = getattr(event, "step", last_step)
                emit(event)
                if isinstance(event, TERMINAL_EVENTS):
                    return
            raise ConnectionError("the stream ended before the job did")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if cancel.is_set():
                emit(JobCancelled(job_id, last_step))
            elif isinstance(exc, ValueError):
                emit(JobFailed(job_id, f"{self.url} sent something that is not a Kiln event ({exc}); the picture is "
                                       "as it was."))
            else:
                emit(JobFailed(job_id, f"the server at {self.url} stopped answering in the middle of the job "
                                       f"({_reason(exc)}); the picture is as it was. Check the server, then try again."))
        finally:
            watcher.stop()
            connection.close()

    def _send_loras(self, request) -> dict[str, str]:
        """Upload the request's LoRA files the server does not have yet → path → travelling name."""
        from inference.remote.lora_store import lora_name

        names = {}
        for path, _weight in getattr(request, "loras", ()) or ():
            try:
                stat = os.stat(path)
                key = (path, stat.st_size, stat.st_mtime_ns)
                name = self._lora_names.get(key) or lora_name(path)
            except OSError as exc:
                raise ServerError(f"cannot read the LoRA '{path}': {exc.strerror or exc}.") from None
            self._lora_names[key] = names[path] = name
            if name in self._sent:
                continue
            digest = name.split(":", 1)[1]
            status, message = self._call("HEAD", f"/loras/{digest}")
            if status == 404:
                with open(path, "rb") as fh:
                    status, message = self._call("PUT", f"/loras/{digest}", fh.read(), timeout=600.0)
            if status == 401:
                raise ServerError(f"the token was refused by {self.url}.")
            if status != 200:
                raise ServerError(f"the server did not take the LoRA {os.path.basename(path)}: "
                                  f"{message or f'HTTP {status}'}")
            self._sent.add(name)
        return names

    def _call(self, method: str, route: str, body: bytes | None = None, timeout: float = CONNECT_TIMEOUT_S):
        """One plain request → (status, the server's error message or "")."""
        status, raw = self._request(method, route, body, timeout)
        try:
            message = json.loads(raw).get("error", "") if raw else ""
        except (ValueError, AttributeError):
            message = ""
        return status, message

    def _request(self, method: str, route: str, body: bytes | None = None, timeout: float = CONNECT_TIMEOUT_S,
                 with_token: bool = True) -> tuple[int, bytes]:
        """One plain request → (status, up to 1 MB of the answer). Raises ServerError when unreachable."""
        connection = self._connect(timeout)
        headers = {"Content-Length": str(len(body or b""))}
        if self.token and with_token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            connection.request(method, self._path(route), body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read(1_000_000)
        except (OSError, http.client.HTTPException) as exc:
            raise self._unreachable(exc) from None
        finally:
            connection.close()

    # --- inside --------------------------------------------------------------------------------

    def _connect(self, timeout: float = CONNECT_TIMEOUT_S) -> http.client.HTTPConnection:
        parts = self._parts
        port = parts.port or (443 if parts.scheme == "https" else 80)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        return cls(parts.hostname, port, timeout=timeout)

    def _path(self, route: str) -> str:
        return (self._parts.path.rstrip("/") or "") + route

    def _unreachable(self, exc: BaseException) -> ServerError:
        return ServerError(f"the server is unreachable at {self.url} ({_reason(exc)}). Is it running "
                           "(main.py serve), and is the address right?")

    def _refusal(self, response) -> str:
        try:
            message = json.loads(response.read(1_000_000)).get("error")
        except (ValueError, AttributeError, OSError):
            message = None
        if response.status == 401:
            return message or f"the token was refused by {self.url}."
        if message:
            return f"the server refused the job: {message}"
        return f"{self.url} is not a Kiln server (HTTP {response.status} for a job). Check the address and port."


def run_remote_job(client: ServerClient, request, emit, cancel: threading.Event) -> None:
    """The job runner's ``run`` for jobs on a server (its engine factory returns the ``ServerClient``)."""
    try:
        client.run(request, emit, cancel)
    except ServerError as exc:  # could not even connect
        emit(JobFailed(request.job_id, str(exc)))


class _CloseOnCancel:
    """When ``cancel`` is set: asks the server to stop the job, and shuts the connection's socket so
    a blocked read ends at once (the server stops a job whose client went away, too)."""

    def __init__(self, client: ServerClient, connection, cancel: threading.Event):
        self._client, self._connection, self._cancel, self._done = client, connection, cancel, threading.Event()
        self.server_job: str | None = None
        threading.Thread(target=self._watch, name="kiln-remote-cancel", daemon=True).start()

    def _watch(self) -> None:
        while not self._done.wait(0.02):
            if self._cancel.is_set():
                sock = self._connection.sock
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                if self.server_job and self.server_job.isdigit():
                    self._client.cancel_job(self.server_job)
                return

    def stop(self) -> None:
        self._done.set()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.timeout):
        return "no answer in time"
    if isinstance(exc, socket.gaierror):
        return "no such host"
    return str(exc) or type(exc).__name__
