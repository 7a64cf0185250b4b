"""A Kiln server (Ray Serve on a local Ray) as a client meets it: the same pixels as a local run in
every mode, every step's preview in order, cancel within a step, the token, the models it offers,
its limits, a server that dies mid-job, and addresses that are not Kiln servers."""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import numpy as np
import pytest

from inference.cli.generate import run_one_job
from inference.core.api import GenerationRequest, JobCancelled, JobFailed, JobFinished, JobStarted, Mode, StepPreview
from inference.engine.engine import Engine
from inference.hardware.devices import choose_device
from inference.remote.client import ServerClient, ServerError, run_remote_job
from kiln_server import TOKEN, free_port, replica_actors, wait_until
from photos import scan

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the replica runs one thread too: same sums


def _requests(model: str) -> dict[str, GenerationRequest]:
    photo = scan(1, size=(96, 64), gray=False)
    mask = np.zeros((64, 96), np.uint8)
    mask[16:48, 24:72] = 255
    common = dict(job_id=0, prompt="a red barn", model_ref=model, steps=4, seed=11)
    return {
        "txt2img": GenerationRequest(mode=Mode.TXT2IMG, width_px=64, height_px=64, **common),
        "img2img": GenerationRequest(mode=Mode.IMG2IMG, image=photo, width_px=96, height_px=64, strength=0.6, **common),
        "inpaint": GenerationRequest(mode=Mode.INPAINT, image=photo, mask=mask, width_px=96, height_px=64, **common),
    }


def _remote(client, request, on_event=None, cancel=None):
    events = []

    def listen(event):
        events.append(event)
        if on_event is not None:
            on_event(event)

    final = run_one_job(client, request, listen, cancel or threading.Event(), run=run_remote_job)
    return final, events


def test_a_remote_job_gives_the_local_pixels_with_every_step_in_order(kiln_server, tiny_model_dir):
    client = ServerClient(kiln_server, TOKEN)
    assert client.health()["models"] == ["compact-x2.safetensors", "tiny"]
    local_engine = Engine(choose_device(precision="fp32"))
    for mode, request in _requests("tiny").items():
        final, events = _remote(client, request)
        assert isinstance(final, JobFinished), (mode, final)
        local_events = []
        local = run_one_job(local_engine, request.__class__(**{**request.__dict__, "model_ref": str(tiny_model_dir)}),
                            local_events.append, threading.Event())
        assert np.array_equal(final.image, local.image), mode  # pixel for pixel, in every mode
        started = [e for e in events if isinstance(e, JobStarted)]
        steps = [e for e in events if isinstance(e, StepPreview)]
        assert len(started) == 1 and [s.step for s in steps] == list(range(1, started[0].total_steps + 1))
        assert all(e.job_id == final.job_id for e in events)
        assert all(s.rgb is not None and s.rgb.dtype == np.uint8 for s in steps)
        local_steps = [e for e in local_events if isinstance(e, StepPreview)]
        assert [s.box for s in steps] == [s.box for s in local_steps]  # drawn in the same place
        assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(steps, local_steps))  # the same previews


def test_cancel_stops_the_job_within_a_step_and_nothing_is_finished(kiln_server):
    client = ServerClient(kiln_server, TOKEN)
    request = GenerationRequest(job_id=0, mode=Mode.TXT2IMG, prompt="slow", model_ref="tiny", width_px=64,
                                height_px=64, steps=400, seed=1)
    cancel = threading.Event()
    final, events = _remote(client, request, lambda e: isinstance(e, StepPreview) and e.step == 2 and cancel.set(),
                            cancel)
    assert isinstance(final, JobCancelled) and not any(isinstance(e, JobFinished) for e in events)
    assert wait_until(lambda: client.health()["jobs"] == 0, 30)  # the server stopped it, long before 400 steps
    final, _ = _remote(client, _requests("tiny")["txt2img"])
    assert isinstance(final, JobFinished)  # and the next job runs


def test_the_token_and_the_models_it_offers_are_enforced(kiln_server, tmp_path):
    request = _requests("tiny")["txt2img"]
    for token in (None, "wrong-token-0123456789"):
        final, _ = _remote(ServerClient(kiln_server, token), request)
        assert isinstance(final, JobFailed) and "token was refused" in final.message
    client = ServerClient(kiln_server, TOKEN)
    for asked in (str(tmp_path), "/etc/passwd", "someone/not-downloaded"):
        final, _ = _remote(client, request.__class__(**{**request.__dict__, "model_ref": asked}))
        assert isinstance(final, JobFailed), asked
        assert f"the server has no model '{asked}'; it has: compact-x2.safetensors, tiny" in final.message
    parts = urlsplit(kiln_server)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.putrequest("POST", "/jobs")  # a body over the limit is refused before it is read
    connection.putheader("Authorization", f"Bearer {TOKEN}")
    connection.putheader("Content-Length", str(10**10))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413 and "this server takes up to" in json.loads(response.read())["error"]
    connection.close()


def test_a_server_that_dies_mid_job_is_reported_and_the_next_job_works(kiln_server):
    import ray

    client = ServerClient(kiln_server, TOKEN)
    request = GenerationRequest(job_id=0, mode=Mode.TXT2IMG, prompt="slow", model_ref="tiny", width_px=64,
                                height_px=64, steps=400, seed=2)

    def crash(event):
        if isinstance(event, StepPreview) and event.step == 2:
            for actor in replica_actors():
                ray.kill(actor, no_restart=False)

    final, _ = _remote(client, request, crash)
    assert isinstance(final, JobFailed) and "stopped answering in the middle of the job" in final.message
    assert wait_until(lambda: isinstance(_remote(client, _requests("tiny")["txt2img"])[0], JobFinished), 120)


def test_addresses_that_are_not_kiln_servers_say_so():
    with pytest.raises(ServerError, match="unreachable at http://127.0.0.1:"):
        ServerClient(f"http://127.0.0.1:{free_port()}").health()

    class NotKiln(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>a router</html>")

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotKiln)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ServerError, match="not a Kiln server"):
            ServerClient(f"127.0.0.1:{server.server_port}").health()
    finally:
        server.shutdown()
    with pytest.raises(ServerError, match="not a server address"):
        ServerClient("ftp://example.org")


def test_upscale_and_restore_run_on_the_server_with_the_local_results(kiln_server, tmp_path, tiny_model_dir,
                                                                      compact_upscaler, capsys):
    import main
    from PIL import Image

    photo = scan(4, size=(120, 90), gray=False)
    Image.fromarray(photo).save(tmp_path / "p.png")
    remote = ["--server", kiln_server, "--token", TOKEN]
    runs = {
        "upscale": (["upscale", tmp_path / "p.png", "--scale", 2, "--model"], "compact-x2.safetensors",
                    compact_upscaler, "p-x2.png"),
        "restore": (["restore", tmp_path / "p.png", "--detect", "--steps", 2, "--model"], "tiny", tiny_model_dir,
                    "p-restored.png"),
    }
    for name, (args, server_name, local_path, output) in runs.items():
        assert main.main([str(a) for a in [*args, server_name, "--out", tmp_path / f"{name}-remote", *remote]]) == 0, \
            capsys.readouterr().err
        assert main.main([str(a) for a in [*args, local_path, "--out", tmp_path / f"{name}-local"]]) == 0
        there = np.array(Image.open(tmp_path / f"{name}-remote" / output))
        here = np.array(Image.open(tmp_path / f"{name}-local" / output))
        assert np.array_equal(there, here), name
    capsys.readouterr()
    other = tmp_path / "copy.safetensors"
    other.write_bytes(compact_upscaler.read_bytes())
    assert main.main(["upscale", str(tmp_path / "p.png"), "--model", str(other), "--out",
                      str(tmp_path / "o"), *remote]) == 1  # a path on the server it was not given
    assert "the server has no model" in capsys.readouterr().err


def test_branching_from_a_step_works_against_the_server_per_client(kiln_server, tiny_model_dir):
    import dataclasses

    client, other = ServerClient(kiln_server, TOKEN), ServerClient(kiln_server, TOKEN)
    first = dataclasses.replace(_requests("tiny")["txt2img"], steps=6)
    final, _ = _remote(client, first)
    assert isinstance(final, JobFinished)
    assert isinstance(_remote(other, first)[0], JobFinished)  # another client's job in between
    branch = dataclasses.replace(first, seed=99, branch_from=(final.job_id, 3))
    remote_varied, _ = _remote(client, branch)
    assert isinstance(remote_varied, JobFinished), remote_varied

    local_engine = Engine(choose_device(precision="fp32"))
    done = run_one_job(local_engine, dataclasses.replace(first, model_ref=str(tiny_model_dir)), lambda _e: None,
                       threading.Event())
    local_varied = run_one_job(local_engine, dataclasses.replace(branch, model_ref=str(tiny_model_dir),
                                                                 branch_from=(done.job_id, 3)),
                               lambda _e: None, threading.Event())
    assert np.array_equal(remote_varied.image, local_varied.image)  # as a branch on this computer
    assert not np.array_equal(remote_varied.image, final.image)
    refused, _ = _remote(client, dataclasses.replace(branch, branch_from=(final.job_id + 5, 2)))
    assert isinstance(refused, JobFailed) and "can no longer be branched" in refused.message


def test_an_explicit_cancel_call_stops_a_job(kiln_server):
    client = ServerClient(kiln_server, TOKEN)
    parts = urlsplit(kiln_server)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    from inference.remote.wire import request_to_json

    request = GenerationRequest(job_id=5, mode=Mode.TXT2IMG, prompt="slow", model_ref="tiny", width_px=64,
                                height_px=64, steps=400, seed=1)
    body = json.dumps(request_to_json(request))
    connection.request("POST", "/jobs", body=body, headers={"Authorization": f"Bearer {TOKEN}",
                                                           "Content-Type": "application/json"})
    response = connection.getresponse()
    job = response.getheader("X-Kiln-Job")
    assert response.readline()  # it started
    client.cancel_job(job)
    lines = [line for line in response if line.strip()]
    assert json.loads(lines[-1])["event"] == "JobCancelled"  # the stream ends with the cancel, well before 400 steps
    assert json.loads(lines[-1])["step"] < 100
    connection.close()


def test_a_job_behind_another_is_told_how_many_are_ahead(kiln_server):
    from inference.core.api import JobNotice

    client = ServerClient(kiln_server, TOKEN)
    long = GenerationRequest(job_id=0, mode=Mode.TXT2IMG, prompt="slow", model_ref="tiny", width_px=64,
                             height_px=64, steps=400, seed=3)
    first_cancel, started = threading.Event(), threading.Event()
    first = threading.Thread(target=_remote, args=(client, long, lambda e: isinstance(e, StepPreview) and started.set(),
                                                   first_cancel))
    first.start()
    assert started.wait(60)
    second_cancel, notices = threading.Event(), []

    def on_event(event):
        if isinstance(event, JobNotice):
            notices.append(event.message)
            second_cancel.set()  # told; stop waiting

    final, _ = _remote(ServerClient(kiln_server, TOKEN), long, on_event, second_cancel)
    first_cancel.set()
    first.join(60)
    assert notices and notices[0].startswith("The server is busy: 1 job ahead")
    assert isinstance(final, JobCancelled)


def test_a_lora_travels_once_and_gives_the_local_pixels(kiln_server, tiny_model_dir, tmp_path):
    import dataclasses

    from inference.models.tiny_model import build_tiny_pipeline
    from tiny_lora import save_unet_lora

    lora = save_unet_lora(build_tiny_pipeline().unet, tmp_path)
    client = ServerClient(kiln_server, TOKEN)
    request = dataclasses.replace(_requests("tiny")["txt2img"], loras=((str(lora), 0.8),))
    calls = []
    real_call = client._call
    client._call = lambda method, route, *a, **k: (calls.append(method), real_call(method, route, *a, **k))[1]
    final, _ = _remote(client, request)
    again, _ = _remote(client, dataclasses.replace(request, seed=12))
    assert isinstance(final, JobFinished) and isinstance(again, JobFinished)
    assert calls == ["HEAD", "PUT"]  # sent once, for both jobs
    local = run_one_job(Engine(choose_device(precision="fp32")),
                        dataclasses.replace(request, model_ref=str(tiny_model_dir)), lambda _e: None,
                        threading.Event())
    plain, _ = _remote(client, dataclasses.replace(request, loras=()))
    assert np.array_equal(final.image, local.image) and not np.array_equal(final.image, plain.image)
    other = ServerClient(kiln_server, TOKEN)  # another client: the server has it already
    other_calls = []
    other._call = lambda method, route, *a, **k: (other_calls.append(method), real_call(method, route, *a, **k))[1]
    assert isinstance(_remote(other, request)[0], JobFinished) and other_calls == ["HEAD"]


def test_a_copy_of_a_model_the_server_has_means_the_servers_own(tiny_model_dir, tmp_path):
    from inference.core.errors import ModelError
    from inference.remote.models_offered import ModelsOffered

    offered = ModelsOffered([str(tiny_model_dir)])
    assert offered.resolve("/home/someone/models/tiny") == str(tiny_model_dir)
    with pytest.raises(ModelError, match="it has: tiny"):
        offered.resolve(str(tmp_path / "other"))
