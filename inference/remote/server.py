"""The Kiln server: a Ray Serve application whose replicas each own one job runner and one engine.

One HTTP request is one job. ``POST /jobs`` takes a request (``inference.remote.wire``: JSON, arrays
as PNG) and answers with the job's events as they happen, one JSON line each (started, step
previews, notices, then the finished picture or the failure), and the stream ends. The client
going away (Stop, a dropped network) cancels the job within a step: Ray Serve cancels the request,
and the stream's generator tells the runner. ``GET /health`` answers without a token (a client can
tell "not a Kiln server" from "token refused"); everything else needs ``Authorization: Bearer
TOKEN`` when the server has one. Requests over ``MAX_REQUEST_BYTES`` or ``MAX_REQUEST_MEGAPIXELS``,
models the server does not offer (``models_offered``) and a full queue are refused with a message.
``POST /jobs/{id}/cancel`` (the id from the ``X-Kiln-Job`` header) stops a job explicitly.

Branching from a step: each client sends ``X-Kiln-Session``; the replica keeps the last job's
timeline per session (``SESSIONS_KEPT`` of them) under the client's own job id, and puts it back
in the engine before that client's branch request runs. With several replicas a branch needs the
replica that ran the job; elsewhere it is refused with the engine's "can no longer be branched".

Needs Ray Serve (``pip install -e ".[cluster]"``); this module is imported only to serve.
"""

# No ``from __future__ import annotations``: FastAPI reads the handlers' annotations as types.
import asyncio
import dataclasses
import hmac
import json
import logging
import threading

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from ray import serve

from inference.core.api import JobNotice
from inference.core.errors import InvalidRequest, KilnError
from inference.remote.wire import MAX_REQUEST_BYTES, event_to_line, request_from_json

log = logging.getLogger(__name__)
MAX_WAITING = 8  # jobs queued on one replica before new ones are refused as busy
SESSIONS_KEPT = 16  # clients whose last timeline a replica keeps for branching
HEARTBEAT_S = 10.0  # an empty line this often while no event comes, so a dead network is noticed
app = FastAPI(title="Kiln server", docs_url=None, redoc_url=None, openapi_url=None)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


@serve.deployment(name="kiln", max_ongoing_requests=MAX_WAITING + 2)
@serve.ingress(app)
class KilnServer:
    """config: {"token": str or None, "models": [refs], "version": str}."""

    def __init__(self, config: dict):
        from inference.core.jobs import TERMINAL_EVENTS, JobRunner
        from inference.engine.engine import Engine
        from inference.engine.jobs import run_engine_job
        from inference.remote.models_offered import ModelsOffered

        self._token = config.get("token") or None
        self._version = config.get("version", "")
        self._models = ModelsOffered(config.get("models", ()))
        self._terminal = TERMINAL_EVENTS
        self._lock = threading.Lock()
        self._streams = {}  # job id → (its stream's event loop, its queue)
        self._job_sessions = {}  # job id → (the client's session, the client's job id)
        self._timelines = {}  # session → (the client's job id, that job's timeline); oldest first
        self._run_engine_job = run_engine_job
        self._runner = JobRunner(Engine, self._on_event, run=self._run, thread_name="kiln-serve")

    # --- HTTP ---------------------------------------------------------------------------------

    @app.get("/health")
    def health(self) -> dict:
        return {"kiln": self._version, "models": self._models.listing(), "token_required": self._token is not None,
                "jobs": self._runner.pending_count}

    @app.post("/jobs")
    async def jobs(self, request: Request):
        refused = self._refuse_token(request)
        if refused is not None:
            return refused
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
            return _error(413, f"the request is {int(declared) / 1e6:.0f} MB; this server takes up to "
                               f"{MAX_REQUEST_BYTES / 1e6:.0f} MB.")
        body = await request.body()
        if len(body) > MAX_REQUEST_BYTES:
            return _error(413, f"the request is over {MAX_REQUEST_BYTES / 1e6:.0f} MB.")
        try:
            data = json.loads(body)
        except ValueError as exc:  # json.JSONDecodeError included
            return _error(400, f"the request is not valid JSON ({exc}).")
        client_job = data.get("job_id") if isinstance(data, dict) and isinstance(data.get("job_id"), int) else 0
        try:
            # Decoding pictures takes a while for a big scan: off the event loop, so other streams flow
            job = await asyncio.to_thread(request_from_json, data, 0, self._models.resolve)
        except InvalidRequest as exc:
            return _error(400, str(exc))
        except KilnError as exc:
            return _error(404, str(exc))
        ahead = self._runner.pending_count
        if ahead >= MAX_WAITING:
            return _error(503, f"the server is busy: {ahead} jobs ahead. Try again in a while.")
        loop, queue = asyncio.get_running_loop(), asyncio.Queue()
        session = request.headers.get("x-kiln-session", "")[:64]
        with self._lock:  # registered before its first event can arrive
            job = self._runner.submit(job)
            self._streams[job.job_id] = (loop, queue)
            self._job_sessions[job.job_id] = (session, client_job)
        return StreamingResponse(self._stream(job.job_id, queue, ahead), media_type="application/x-ndjson",
                                 headers={"X-Kiln-Job": str(job.job_id)})

    @app.head("/loras/{digest}")
    def has_lora(self, digest: str, request: Request):
        from inference.remote.lora_store import stored_path

        refused = self._refuse_token(request)
        if refused is not None:
            return refused
        try:
            return JSONResponse({}, status_code=200 if stored_path(f"sha256:{digest}") else 404)
        except InvalidRequest as exc:
            return _error(400, str(exc))

    @app.put("/loras/{digest}")
    async def put_lora(self, digest: str, request: Request):
        from inference.remote.lora_store import MAX_LORA_BYTES, store

        refused = self._refuse_token(request)
        if refused is not None:
            return refused
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_LORA_BYTES:
            return _error(413, f"the LoRA is over {MAX_LORA_BYTES >> 20} MB.")
        try:
            await asyncio.to_thread(store, digest, await request.body())
        except InvalidRequest as exc:
            return _error(400, str(exc))
        return {"stored": f"sha256:{digest}"}

    @app.post("/jobs/{job_id}/cancel")
    def cancel(self, job_id: int, request: Request):
        refused = self._refuse_token(request)
        if refused is not None:
            return refused
        known = job_id in self._streams
        self._runner.cancel(job_id)
        return {"cancelled": known}

    # --- the runner's thread --------------------------------------------------------------------

    def _run(self, engine, job, emit, cancel) -> None:
        """Run ``job``; a branch gets its client's timeline back, and a job's timeline is kept for its client."""
        session, client_job = self._job_sessions.pop(job.job_id, ("", 0))
        branch = getattr(job, "branch_from", None)
        if branch is not None:
            kept = self._timelines.get(session) if session else None
            if kept is not None and kept[0] == branch[0]:
                engine.timeline = kept[1]
                job = dataclasses.replace(job, branch_from=(kept[1].job_id, branch[1]))
            else:
                engine.timeline = None  # refused by the engine, with its reason
        self._run_engine_job(engine, job, emit, cancel)
        timeline = getattr(engine, "timeline", None)
        if session and timeline is not None and timeline.job_id == job.job_id:
            self._timelines.pop(session, None)
            self._timelines[session] = (client_job, timeline)
            while len(self._timelines) > SESSIONS_KEPT:
                self._timelines.pop(next(iter(self._timelines)))

    # --- the job's events -----------------------------------------------------------------------

    async def _stream(self, job_id: int, queue: asyncio.Queue, ahead: int):
        ended = False
        try:
            if ahead:
                yield event_to_line(JobNotice(job_id, f"The server is busy: {ahead} job{'s' if ahead > 1 else ''} "
                                                      "ahead; this one starts when they end."))
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                except asyncio.TimeoutError:
                    yield b"\n"  # a model loading or a long step: the client knows the server is there
                    continue
                yield event_to_line(event)
                if isinstance(event, self._terminal):
                    ended = True
                    return
        finally:
            if not ended:  # the client went away (Stop, or the network): stop the job within a step
                self._runner.cancel(job_id)
            with self._lock:
                self._streams.pop(job_id, None)

    def _on_event(self, event) -> None:
        """On the runner's thread: hand the event to its stream's event loop."""
        with self._lock:
            target = self._streams.get(getattr(event, "job_id", None))
        if target is not None:
            loop, queue = target
            try:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            except RuntimeError:  # the loop is closing
                pass

    def _refuse_token(self, request: Request):
        if self._token is None:
            return None
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self._token.encode()):
            return _error(401, "the token was refused: use the token the server was started with "
                               "(--token, or KILN_TOKEN).")
        return None


def build_app(token: str | None, models: list[str], version: str, replicas: int = 1, gpus_per_replica: float = 0.0,
              cpus_per_replica: float = 1.0):
    """The application to ``serve.run``."""
    options = {"num_cpus": cpus_per_replica, "num_gpus": gpus_per_replica}
    deployment = KilnServer.options(num_replicas=replicas, ray_actor_options=options)
    return deployment.bind({"token": token, "models": list(models), "version": version})
