"""What travels between a client and a server: lossless pictures, every field checked on arrival,
and what the server must refuse (not PNG, over the pixel limit, unknown fields, files of the client)."""

from __future__ import annotations

import base64
import dataclasses
import io
import json

import numpy as np
import pytest
from PIL import Image

from inference.core.api import GenerationRequest, JobFinished, Mode, StepPreview
from inference.core.errors import InvalidRequest
from inference.remote.wire import (
    decode_png, encode_png, event_from_line, event_to_line, request_from_json, request_to_json,
)
from inference.restoration_models.jobs import FaceRequest
from photos import scan


def test_requests_and_events_travel_losslessly():
    photo = scan(2, size=(70, 50), gray=False)
    mask = np.zeros((50, 70), np.uint8)
    mask[10:30, 20:50] = 200
    request = GenerationRequest(job_id=3, mode=Mode.INPAINT, prompt="a barn", model_ref="tiny", image=photo,
                                mask=mask, width_px=70, height_px=50, steps=7, seed=5, branch_from=None)
    back = request_from_json(json.loads(json.dumps(request_to_json(request))))
    assert np.array_equal(back.image, photo) and np.array_equal(back.mask, mask)
    plain = [f.name for f in dataclasses.fields(request) if f.name not in ("image", "mask", "job_id")]
    assert [getattr(back, n) for n in plain] == [getattr(request, n) for n in plain]
    faces = FaceRequest(1, "gfpgan", photo, ((5, 6, 30, 30),), 0.4)
    again = request_from_json(json.loads(json.dumps(request_to_json(faces))))
    assert isinstance(again, FaceRequest) and again.boxes == ((5, 6, 30, 30),) and np.array_equal(again.image, photo)
    preview = StepPreview(9, 2, 5, photo, 1.5, (1, 2, 3, 4))
    got = event_from_line(event_to_line(preview))
    assert got.box == (1, 2, 3, 4) and got.step == 2 and np.array_equal(got.rgb, photo)
    assert np.array_equal(event_from_line(event_to_line(JobFinished(9, photo, 5, 2.0))).image, photo)


def test_the_server_refuses_what_it_must(tmp_path):
    good = request_to_json(GenerationRequest(job_id=0, mode=Mode.TXT2IMG, prompt="x", model_ref="tiny",
                                             width_px=64, height_px=64))
    with pytest.raises(InvalidRequest, match="does not know: secret"):
        request_from_json({**good, "secret": 1})
    with pytest.raises(InvalidRequest, match="not a PNG"):
        request_from_json({**good, "mode": "img2img", "image": base64.b64encode(b"GIF89a....").decode()})
    buffer = io.BytesIO()
    Image.new("RGB", (3000, 2000)).save(buffer, format="PNG")  # 6 MP, over a 5 MP limit
    with pytest.raises(InvalidRequest, match="refused"):
        decode_png(base64.b64encode(buffer.getvalue()).decode(), max_megapixels=5)
    with pytest.raises(InvalidRequest, match="'prompt' must be text"):
        request_from_json({**good, "prompt": ["x"]})
    with pytest.raises(InvalidRequest, match="wrong types|must be"):
        request_from_json({**good, "steps": "many"})
    lora = tmp_path / "style.safetensors"  # a LoRA is a file on this computer: it cannot go to a server
    lora.write_bytes(b"")
    with pytest.raises(InvalidRequest, match="LoRA"):
        request_to_json(GenerationRequest(job_id=0, mode=Mode.TXT2IMG, prompt="x", model_ref="tiny", width_px=64,
                                          height_px=64, loras=((str(lora), 1.0),)))
    with pytest.raises(InvalidRequest, match="8-bit"):
        encode_png(np.zeros((8, 8, 3), np.uint16))
