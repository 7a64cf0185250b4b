"""Requests validate at the boundary and teach in the message; they own frozen copies."""

from __future__ import annotations

import numpy as np
import pytest

from inference.core.api import GenerationRequest, JobFinished, JobNotice, Mode
from inference.core.errors import InvalidRequest
from inference.files.metadata import format_parameters, parse_parameters


def test_request_owns_a_read_only_copy_of_its_arrays():
    image = np.zeros((16, 24, 3), np.uint8)
    mask = np.zeros((16, 24), np.uint8)
    mask[2:4, 2:4] = 255
    request = GenerationRequest(job_id=1, mode=Mode.INPAINT, prompt="p", image=image, mask=mask)
    image[:] = 9
    mask[:] = 0
    assert request.image.max() == 0 and request.mask.max() == 255
    assert (request.width_px, request.height_px) == (24, 16)
    with pytest.raises(ValueError):
        request.image[0, 0, 0] = 1
    with pytest.raises(AttributeError):
        request.seed = 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mode=Mode.TXT2IMG, width_px=513, height_px=512), "multiples of 8, got 513×512"),
        (dict(mode=Mode.IMG2IMG), "needs an input image"),
        (dict(mode=Mode.INPAINT, image=np.zeros((8, 8, 3), np.uint8)), "needs a mask"),
        (dict(mode=Mode.INPAINT, image=np.zeros((8, 8, 3), np.uint8), mask=np.zeros((8, 8), np.uint8)), "the mask is empty"),
        (dict(mode=Mode.INPAINT, image=np.zeros((16, 8, 3), np.uint8), mask=np.ones((8, 8), np.uint8)), "the mask is 8×8 but the image is 8×16"),
        (dict(mode=Mode.IMG2IMG, image=np.zeros((8, 8), np.uint8)), "H×W×3 uint8"),
        (dict(mode=Mode.TXT2IMG, steps=0), "steps must be between 1 and 500"),
        (dict(mode=Mode.TXT2IMG, strength=0.0), "strength must be above 0"),
        (dict(mode=Mode.TXT2IMG, seed=-1), "seed must be between"),
        (dict(mode=Mode.TXT2IMG, guidance=-1.0), "guidance must be between"),
    ],
)
def test_invalid_requests_say_what_to_fix(kwargs, message):
    with pytest.raises(InvalidRequest, match=message):
        GenerationRequest(job_id=1, prompt="p", **kwargs)


def test_parameters_round_trip_and_read_other_tools_text():
    request = GenerationRequest(job_id=1, mode=Mode.IMG2IMG, prompt="a barn, at dusk", negative_prompt="text",
                                image=np.zeros((64, 48, 3), np.uint8), steps=30, guidance=6.5, strength=0.4,
                                seed=123, scheduler="dpm++_2m_karras")
    text = format_parameters(request, "v1-5-pruned.safetensors")
    assert parse_parameters(text) == {
        "prompt": "a barn, at dusk", "negative_prompt": "text", "steps": 30, "guidance": 6.5, "seed": 123,
        "scheduler": "dpm++_2m_karras", "width_px": 48, "height_px": 64, "strength": 0.4,
        "model": "v1-5-pruned.safetensors",
    }
    a1111 = ("portrait of an old man\nNegative prompt: lowres\nSteps: 25, Sampler: Euler a, CFG scale: 7, "
             'Seed: 42, Size: 512x768, Model hash: abc, Model: sd15, Lora hashes: "x: 1, y: 2", Version: v1')
    assert parse_parameters(a1111) == {
        "prompt": "portrait of an old man", "negative_prompt": "lowres", "steps": 25, "guidance": 7.0,
        "seed": 42, "scheduler": "euler_a", "width_px": 512, "height_px": 768, "model": "sd15",
    }
    assert parse_parameters("just a prompt") == {"prompt": "just a prompt"}
    assert parse_parameters("") == {}


def test_loras_are_validated_pairs_and_finished_jobs_can_carry_a_notice(tmp_path):
    lora = tmp_path / "style.safetensors"
    lora.write_bytes(b"x")
    request = GenerationRequest(job_id=1, mode=Mode.TXT2IMG, prompt="p", loras=[(lora, 1)])
    assert request.loras == ((str(lora), 1.0),)
    with pytest.raises(InvalidRequest, match="the LoRA weight must be between -2 and 2, got -2.5"):
        GenerationRequest(job_id=1, mode=Mode.TXT2IMG, prompt="p", loras=((str(lora), -2.5),))
    with pytest.raises(InvalidRequest, match="does not exist"):
        GenerationRequest(job_id=1, mode=Mode.TXT2IMG, prompt="p", loras=((str(tmp_path / "nope"), 1.0),))
    assert JobFinished(1, np.zeros((8, 8, 3), np.uint8)).notice is None
    assert JobNotice(1, "retried").message == "retried"
