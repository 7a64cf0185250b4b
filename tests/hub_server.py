"""A loopback stand-in for the Hugging Face hub, for download tests (no internet needed).

Serves the endpoints huggingface_hub 2.4 uses to download:
  * ``GET /api/models/{repo}[/revision/{rev}]`` → repo info: ``sha`` and ``siblings`` (with
    ``size``, ``blobId`` and ``lfs`` when asked with ``?blobs=True``, as the hub does);
  * ``GET /api/models/{repo}/tree/{rev}`` → the file listing ``snapshot_download`` reads;
  * ``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` with ``X-Repo-Commit``, ``ETag`` (git blob id),
    for LFS files ``X-Linked-Etag`` (sha256) and ``X-Linked-Size``, ``Content-Length``, and
    ``Range: bytes=N-`` answered with 206 + ``Content-Range``.
Errors carry the hub's ``X-Error-Code`` header (RepoNotFound, GatedRepo, RevisionNotFound,
EntryNotFound) so the library raises its usual exception types. ``drop_once`` hangs up in the
middle of a file, as a flaky network does. Bodies are sent in
``chunk_bytes`` pieces with ``chunk_delay_s`` between them, so a test can cancel mid-file. Every
request is logged (method, path, Range header, status, body bytes sent).

``point_hub_at`` makes huggingface_hub (which reads its settings at import time) use a server
and a cache folder for one test, through pytest's monkeypatch.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".msgpack", ".onnx")


@dataclass
class LoggedRequest:
    method: str
    path: str
    range: str | None
    status: int
    body_bytes: int = 0


@dataclass
class _Repo:
    commit: str
    files: dict[str, bytes]
    gated: bool = False


class HubServer:
    """Start with ``with HubServer() as hub:``; ``hub.endpoint`` is its base URL."""

    def __init__(self, chunk_bytes: int = 64 * 1024, chunk_delay_s: float = 0.0):
        self.chunk_bytes = chunk_bytes
        self.chunk_delay_s = chunk_delay_s
        self.repos: dict[str, _Repo] = {}
        self.drop_once: dict[str, int] = {}  # repo path → hang up after this many body bytes, once
        self.log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # --- content ---

    def add_repo(self, repo_id: str, files: dict[str, bytes], gated: bool = False) -> str:
        """Serve ``files`` (repo path → bytes) as ``repo_id``; returns its commit sha."""
        commit = hashlib.sha1(repr(sorted((p, hashlib.sha1(b).hexdigest()) for p, b in files.items())).encode())
        self.repos[repo_id] = _Repo(commit.hexdigest(), dict(files), gated)
        return self.repos[repo_id].commit

    def add_folder(self, repo_id: str, folder: Path, extra: dict[str, bytes] | None = None) -> str:
        """Serve every file under ``folder`` (plus ``extra``) as ``repo_id``."""
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        return self.add_repo(repo_id, {**files, **(extra or {})})

    # --- observation ---

    def requests(self, method: str | None = None, path_contains: str = "") -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.log if (method is None or r.method == method) and path_contains in r.path]

    def fetched_files(self) -> set[str]:
        """Repo paths that were GET from a resolve URL (with or without a Range)."""
        return {r.path.split("/resolve/", 1)[1].split("/", 1)[1] for r in self.requests("GET", "/resolve/")}

    # --- lifetime ---

    @property
    def endpoint(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.hub = self
        threading.Thread(target=self._httpd.serve_forever, name="fake-hub", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.log.append(entry)


def git_blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the hub: the client reuses its connections

    def log_message(self, *args) -> None:  # quiet: the hub log is self.server.hub.log
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        hub: HubServer = self.server.hub
        url = urlsplit(self.path)
        path = unquote(url.path)
        entry = LoggedRequest(self.command, path, self.headers.get("Range"), 0)
        try:
            if path.startswith("/api/models/") and "/tree/" in path:
                self._tree(hub, path[len("/api/models/") :], entry)
            elif path.startswith("/api/models/"):
                self._repo_info(hub, path[len("/api/models/") :], parse_qs(url.query), entry)
            elif "/resolve/" in path:
                self._resolve(hub, path, body, entry)
            else:
                self._error(entry, 404, None, "no such endpoint")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client hung up mid-body (a cancel)
        finally:
            hub._record(entry)

    # --- endpoints ---

    def _repo_info(self, hub: HubServer, rest: str, query: dict, entry: LoggedRequest) -> None:
        repo_id, _, revision = rest.partition("/revision/")
        repo = self._find_repo(hub, repo_id, revision or "main", entry)
        if repo is None:
            return
        with_blobs = query.get("blobs", ["false"])[0].lower() == "true"
        siblings = []
        for name, content in sorted(repo.files.items()):
            sibling = {"rfilename": name}
            if with_blobs:
                sibling.update(size=len(content), blobId=git_blob_id(content))
                if name.endswith(LFS_SUFFIXES):
                    sibling["lfs"] = {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content), "pointerSize": 134}
            siblings.append(sibling)
        payload = {
            "_id": repo.commit[:24], "id": repo_id, "modelId": repo_id, "sha": repo.commit, "private": False,
            "gated": "auto" if repo.gated else False, "disabled": False, "library_name": "diffusers",
            "tags": ["diffusers"], "siblings": siblings,
        }
        data = json.dumps(payload).encode()
        self._send(entry, 200, {"Content-Type": "application/json", "Content-Length": str(len(data))})
        self.wfile.write(data)
        entry.body_bytes = len(data)

    def _tree(self, hub: HubServer, rest: str, entry: LoggedRequest) -> None:
        """The recursive file listing ``snapshot_download`` reads (one page, no ``Link`` header)."""
        repo_id, _, revision = rest.partition("/tree/")
        repo = self._find_repo(hub, repo_id, revision.split("/")[0], entry)
        if repo is None:
            return
        folders = sorted({p.rsplit("/", 1)[0] for p in repo.files if "/" in p})
        items = [{"type": "directory", "oid": git_blob_id(f.encode()), "path": f} for f in folders]
        for name, content in sorted(repo.files.items()):
            item = {"type": "file", "oid": git_blob_id(content), "size": len(content), "path": name}
            if name.endswith(LFS_SUFFIXES):
                item["lfs"] = {"oid": hashlib.sha256(content).hexdigest(), "size": len(content), "pointerSize": 134}
            items.append(item)
        data = json.dumps(items).encode()
        self._send(entry, 200, {"Content-Type": "application/json", "Content-Length": str(len(data))})
        self.wfile.write(data)
        entry.body_bytes = len(data)

    def _resolve(self, hub: HubServer, path: str, body: bool, entry: LoggedRequest) -> None:
        repo_id, _, rest = path.lstrip("/").partition("/resolve/")
        revision, _, filename = rest.partition("/")
        repo = self._find_repo(hub, repo_id, revision, entry)
        if repo is None:
            return
        if filename not in repo.files:
            self._error(entry, 404, "EntryNotFound", f"{filename} not in {repo_id}", commit=repo.commit)
            return
        content = repo.files[filename]
        size = len(content)
        headers = {
            "X-Repo-Commit": repo.commit,
            "ETag": f'"{git_blob_id(content)}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if filename.endswith(LFS_SUFFIXES):
            headers["X-Linked-Etag"] = f'"{hashlib.sha256(content).hexdigest()}"'
            headers["X-Linked-Size"] = str(size)
        start, status = 0, 200
        if entry.range and self.command == "GET":
            start = int(entry.range.removeprefix("bytes=").split("-")[0])
            if start >= size:
                self._error(entry, 416, None, "range not satisfiable")
                return
            status = 206
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        headers["Content-Length"] = str(size - start)
        self._send(entry, status, headers)
        if not body:
            return
        drop_at = hub.drop_once.pop(filename, None)
        for offset in range(start, size, hub.chunk_bytes):
            if drop_at is not None and entry.body_bytes >= drop_at:
                self.close_connection = True  # a dropped connection: the body ends short
                return
            piece = content[offset : offset + hub.chunk_bytes]
            self.wfile.write(piece)
            entry.body_bytes += len(piece)
            if hub.chunk_delay_s:
                self.wfile.flush()
                time.sleep(hub.chunk_delay_s)

    # --- helpers ---

    def _find_repo(self, hub: HubServer, repo_id: str, revision: str, entry: LoggedRequest) -> _Repo | None:
        repo = hub.repos.get(repo_id)
        if repo is None:
            self._error(entry, 404, "RepoNotFound", "Repository not found")
        elif repo.gated:
            self._error(entry, 401, "GatedRepo", "Access to this model is restricted")
        elif revision not in ("main", repo.commit):
            self._error(entry, 404, "RevisionNotFound", "Invalid rev id")
        else:
            return repo
        return None

    def _error(self, entry: LoggedRequest, status: int, code: str | None, message: str, commit: str = "") -> None:
        data = json.dumps({"error": message}).encode()
        headers = {"Content-Type": "application/json", "Content-Length": str(len(data)), "X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        if commit:
            headers["X-Repo-Commit"] = commit
        self._send(entry, status, headers)
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send(self, entry: LoggedRequest, status: int, headers: dict[str, str]) -> None:
        entry.status = status
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()


def point_hub_at(monkeypatch, endpoint: str, cache_dir: Path) -> None:
    """Make huggingface_hub talk to ``endpoint`` and cache into ``cache_dir`` for one test.

    The library reads HF_ENDPOINT, HF_HUB_CACHE and HF_HUB_OFFLINE into ``constants`` when it is
    imported, so setting the environment now would be too late: patch the constants instead
    (conftest sets HF_HUB_OFFLINE=1 for every test; downloads need it off).
    """
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache_dir))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


def go_offline(monkeypatch) -> None:
    """Switch huggingface_hub back to offline within a test (to prove a download loads without the hub)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
