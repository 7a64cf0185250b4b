"""Single-file SD checkpoints: export layout, detection from tensors, offline loading, configs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from inference.checkpoint_export import original_layout_state_dict
from inference.errors import ModelError
from inference.resources import model_config_dir
from inference.single_file import inspect_checkpoint, load_single_file, sd1_configs

SD15 = model_config_dir("sd15")
GEN = dict(prompt="a red barn", height=128, width=128, num_inference_steps=4, output_type="np")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # On this 2-core machine two intra-op threads next to other busy processes run 20-50x
    # slower; one thread is fast and still bit-identical between the two pipelines compared.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _images(pipe, **extra) -> np.ndarray:
    return pipe(generator=torch.Generator("cpu").manual_seed(1), **GEN, **extra).images


def _full_size_sd15(in_channels=4):
    """SD1.5's UNet, VAE and text encoder from the bundled configs, on the meta device."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(
            UNet2DConditionModel.load_config(SD15 / "unet"), in_channels=in_channels
        )
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(SD15 / "vae"))
        text_encoder = CLIPTextModel(CLIPTextConfig.from_pretrained(SD15 / "text_encoder"))
    return unet, vae, text_encoder


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _assert_round_trip(unet, vae, text_encoder, compare_values: bool):
    """Export to the LDM layout, convert back with diffusers' converters, compare every tensor."""
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint,
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
    )

    state = original_layout_state_dict(unet, vae, text_encoder)
    back = {
        "unet": convert_ldm_unet_checkpoint(state, unet.config),
        "vae": convert_ldm_vae_checkpoint(state, vae.config),
        # transformers >= 5.6 CLIPTextModel has no text_model level
        "text": {k.removeprefix("text_model."): v for k, v in convert_ldm_clip_checkpoint(state).items()},
    }
    for name, model in (("unet", unet), ("vae", vae), ("text", text_encoder)):
        reference = model.state_dict()
        assert set(back[name]) == set(reference), name
        for key, tensor in reference.items():
            assert back[name][key].shape == tensor.shape, key
            if compare_values:
                assert torch.equal(back[name][key], tensor), key
    return state


# --- export ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("inpainting", [False, True])
def test_tiny_export_round_trips_through_diffusers_converters(inpainting):
    from inference.tiny_model import build_tiny_pipeline

    pipe = build_tiny_pipeline(inpainting=inpainting)
    state = _assert_round_trip(pipe.unet, pipe.vae, pipe.text_encoder, compare_values=True)
    assert state["model.diffusion_model.input_blocks.0.0.weight"].shape[1] == (9 if inpainting else 4)
    assert state["first_stage_model.encoder.mid.attn_1.q.weight"].ndim == 4  # 1×1 conv, as in LDM


def test_full_size_export_matches_diffusers_layout():
    unet, vae, text_encoder = _full_size_sd15()
    state = _assert_round_trip(unet, vae, text_encoder, compare_values=False)
    # Landmarks of real SD1.5 checkpoints.
    assert state["model.diffusion_model.output_blocks.11.0.skip_connection.weight"].shape == (320, 640, 1, 1)
    assert state["model.diffusion_model.output_blocks.2.1.conv.weight"].shape == (1280, 1280, 3, 3)
    assert state["model.diffusion_model.output_blocks.5.2.conv.weight"].shape == (1280, 1280, 3, 3)
    assert state["model.diffusion_model.input_blocks.3.0.op.weight"].shape == (320, 320, 3, 3)
    assert state["first_stage_model.decoder.up.0.block.0.nin_shortcut.weight"].shape == (128, 256, 1, 1)
    assert state["first_stage_model.encoder.mid.attn_1.proj_out.weight"].shape == (512, 512, 1, 1)
    assert state["cond_stage_model.transformer.text_model.final_layer_norm.weight"].shape == (768,)


# --- bundled SD1.5 configs ------------------------------------------------------------------------


def test_sd15_parameter_counts():
    unet, vae, text_encoder = _full_size_sd15()
    assert _count(unet) == 859_520_964
    assert _count(vae) == 83_653_863
    assert _count(text_encoder) == 123_060_480
    assert _count(_full_size_sd15(in_channels=9)[0]) == 859_535_364


@pytest.mark.parametrize("in_channels", [4, 9])
def test_overrides_reproduce_bundled_config_for_real_sd15_shapes(in_channels):
    shapes = {k: tuple(t.shape) for k, t in original_layout_state_dict(*_full_size_sd15(in_channels)).items()}
    configs = sd1_configs(shapes)
    for name, relative in [("unet", "unet/config.json"), ("vae", "vae/config.json"),
                           ("text_encoder", "text_encoder/config.json"),
                           ("scheduler", "scheduler/scheduler_config.json")]:
        bundled = json.loads((SD15 / relative).read_text())
        if name == "unet":
            bundled["in_channels"] = in_channels
        assert configs[name] == bundled, name


def test_bundled_folder_has_no_tokenizer_copy():
    # The loader copies resources/tokenizer in; the repo keeps one copy.
    assert not (SD15 / "tokenizer").exists()
    index = json.loads((SD15 / "model_index.json").read_text())
    assert index["safety_checker"] == [None, None] and index["feature_extractor"] == [None, None]


# --- detection and loading ------------------------------------------------------------------------


def test_tiny_single_file_is_bit_identical_to_folder(tiny_single_file, tiny_model_dir):
    from diffusers import StableDiffusionPipeline

    pipe, info = load_single_file(tiny_single_file, torch.float32)
    assert (info.family, info.inpainting, info.dtype) == ("sd1", False, "F32")
    assert type(pipe) is StableDiffusionPipeline and pipe.safety_checker is None
    folder = StableDiffusionPipeline.from_pretrained(tiny_model_dir, use_safetensors=True)
    for p in (pipe, folder):
        p.set_progress_bar_config(disable=True)
    assert np.array_equal(_images(pipe), _images(folder))


def test_tiny_inpaint_single_file_is_detected_and_bit_identical(
    tiny_inpaint_single_file, tiny_inpaint_dir, tmp_path
):
    from diffusers import StableDiffusionInpaintPipeline

    # A name that says nothing (or the wrong thing) about inpainting, and a pickle-like suffix.
    misleading = tmp_path / "sd15-base-txt2img.ckpt"
    shutil.copyfile(tiny_inpaint_single_file, misleading)
    info = inspect_checkpoint(misleading)
    assert (info.family, info.inpainting, info.unet_in_channels) == ("sd1", True, 9)

    pipe, info = load_single_file(misleading, torch.float32)
    assert type(pipe) is StableDiffusionInpaintPipeline and info.inpainting
    folder = StableDiffusionInpaintPipeline.from_pretrained(tiny_inpaint_dir, use_safetensors=True)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    mask = np.zeros((128, 128), dtype=np.uint8)
    mask[32:96, 32:96] = 255
    from PIL import Image

    extra = dict(image=Image.fromarray(image), mask_image=Image.fromarray(mask))
    for p in (pipe, folder):
        p.set_progress_bar_config(disable=True)
    assert np.array_equal(_images(pipe, **extra), _images(folder, **extra))


def _fake_checkpoint(path, names):
    from safetensors.torch import save_file

    tensors = {name: torch.zeros(shape) for name, shape in names.items()}
    save_file(tensors, str(path))
    return path


def test_family_detection_from_tensor_names(tmp_path):
    conv_in = {"model.diffusion_model.input_blocks.0.0.weight": (8, 4, 3, 3)}
    open_clip = {"cond_stage_model.model.token_embedding.weight": (4, 2)}
    sd2 = _fake_checkpoint(tmp_path / "a.safetensors", {**conv_in, **open_clip})
    xl = _fake_checkpoint(tmp_path / "b.safetensors", {
        "model.diffusion_model.input_blocks.0.0.weight": (8, 9, 3, 3),
        "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias": (4,),
    })
    assert (inspect_checkpoint(sd2).family, inspect_checkpoint(sd2).inpainting) == ("sd2", False)
    assert (inspect_checkpoint(xl).family, inspect_checkpoint(xl).inpainting) == ("sdxl", True)

    lora = _fake_checkpoint(tmp_path / "lora.safetensors", {"lora_unet_down_blocks_0.alpha": (1,)})
    with pytest.raises(ModelError, match="no UNet weights"):
        inspect_checkpoint(lora)
    unet_only = _fake_checkpoint(tmp_path / "c.safetensors", conv_in)
    with pytest.raises(ModelError, match="no text encoder"):
        inspect_checkpoint(unet_only)


def test_sdxl_without_hub_gives_clear_error(tmp_path):
    # conftest sets HF_HUB_OFFLINE=1: the hub is unreachable and nothing is cached.
    xl = _fake_checkpoint(tmp_path / "xl.safetensors", {
        "model.diffusion_model.input_blocks.0.0.weight": (8, 4, 3, 3),
        "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias": (4,),
    })
    with pytest.raises(ModelError) as caught:
        load_single_file(xl)
    message = str(caught.value)
    assert "SDXL" in message and "Hugging Face hub" in message and "diffusers folder" in message


def test_incomplete_sd1_checkpoint_is_explained(tmp_path):
    path = _fake_checkpoint(tmp_path / "half.safetensors", {
        "model.diffusion_model.input_blocks.0.0.weight": (8, 4, 3, 3),
        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": (10, 4),
    })
    with pytest.raises(ModelError, match="SD1.x checkpoint"):
        load_single_file(path)


def test_sd1_checkpoint_without_vae_names_the_missing_tensor(tiny_single_file, tmp_path):
    from safetensors.torch import load_file, save_file

    state = {k: v for k, v in load_file(str(tiny_single_file)).items() if not k.startswith("first_stage_model.")}
    path = tmp_path / "no-vae.safetensors"
    save_file(state, str(path))
    with pytest.raises(ModelError, match="incomplete.*first_stage_model"):
        load_single_file(path)


def test_fp16_checkpoint_with_real_world_extras_loads(tiny_single_file, tmp_path):
    # Files from model sites also carry the noise-schedule buffers, EMA counters and CLIP's
    # position_ids; diffusers must skip or accept them, and a half-precision file must load.
    from safetensors.torch import load_file, save_file

    state = load_file(str(tiny_single_file))
    state["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    state["alphas_cumprod"] = torch.linspace(1, 0, 1000)
    state["model_ema.num_updates"] = torch.tensor(1, dtype=torch.int32)
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    path = tmp_path / "real-world.safetensors"
    save_file(half, str(path))

    pipe, info = load_single_file(path, torch.float32)
    assert info.dtype == "F16" and pipe.unet.dtype == torch.float32
    key = "model.diffusion_model.out.2.weight"
    assert torch.equal(pipe.unet.conv_out.weight, half[key].float())
