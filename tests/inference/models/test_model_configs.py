"""Bundled config folders: the real architectures, fitted to tensor shapes, chosen as diffusers does."""

from __future__ import annotations

import functools
import json

import pytest

from inference.models.checkpoint_export import original_layout_state_dict
from inference.models.model_configs import BUNDLED_FOLDERS, fitted_configs, meta_models, write_config_folder
from inference.files.resources import model_config_dir

# (family, inpainting) → UNet, VAE, text encoder(s) parameter counts of the real models.
REAL_PARAMETER_COUNTS = {
    ("sd1", False): (859_520_964, 83_653_863, [123_060_480]),
    ("sd1", True): (859_535_364, 83_653_863, [123_060_480]),
    ("sd2", False): (865_910_724, 83_653_863, [340_387_840]),
    ("sd2", True): (865_925_124, 83_653_863, [340_387_840]),
    ("sdxl", False): (2_567_463_684, 83_653_863, [123_060_480, 694_659_840]),
    ("sdxl", True): (2_567_478_084, 83_653_863, [123_060_480, 694_659_840]),
}
VARIANTS = list(REAL_PARAMETER_COUNTS)
# diffusers' model type (infer_diffusers_model_type) for each variant's full-size checkpoint.
DIFFUSERS_MODEL_TYPES = {
    ("sd1", False): "v1",
    ("sd1", True): "inpainting",
    ("sd2", False): "v2",
    ("sd2", True): "inpainting_v2",
    ("sdxl", False): "xl_base",
    ("sdxl", True): "xl_inpaint",
}
# Repos each bundled folder copies (see inference/models/model_configs.py).
SOURCE_REPOS = {
    "sd15": "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "sd21": "stabilityai/stable-diffusion-2-1",
    "sd2-inpainting": "stabilityai/stable-diffusion-2-inpainting",
    "sdxl-base": "stabilityai/stable-diffusion-xl-base-1.0",
}


@functools.cache
def _models(family: str, inpainting: bool) -> dict:
    return meta_models(family, inpainting)  # read-only here: built once per variant


def _meta_state(family: str, inpainting: bool) -> dict:
    """Original-layout tensor name → meta tensor of the full-size model (nothing allocated)."""
    models = _models(family, inpainting)
    return original_layout_state_dict(
        models["unet"], models["vae"], models["text_encoder"], models.get("text_encoder_2"), family
    )


def _shapes(family: str, inpainting: bool) -> dict[str, tuple[int, ...]]:
    return {name: tuple(tensor.shape) for name, tensor in _meta_state(family, inpainting).items()}


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("family, inpainting", VARIANTS)
def test_bundled_configs_build_the_real_architectures(family, inpainting):
    models = _models(family, inpainting)
    unet, vae, text = REAL_PARAMETER_COUNTS[family, inpainting]
    texts = [models["text_encoder"], *([models["text_encoder_2"]] if family == "sdxl" else [])]
    assert (_count(models["unet"]), _count(models["vae"]), [_count(t) for t in texts]) == (unet, vae, text)


@pytest.mark.parametrize("family, inpainting", VARIANTS)
def test_overrides_reproduce_the_bundled_configs_for_real_shapes(family, inpainting):
    folder = model_config_dir(BUNDLED_FOLDERS[family, inpainting])
    configs = fitted_configs(_shapes(family, inpainting), family, inpainting)
    for relative, config in configs.items():
        bundled = json.loads((folder / relative).read_text(encoding="utf-8"))
        if relative == "unet/config.json":
            bundled["in_channels"] = 9 if inpainting else 4  # SD1/SDXL inpainting reuse the base folder
        assert config == bundled, relative


@pytest.mark.parametrize("family, inpainting", VARIANTS)
def test_folder_choice_follows_diffusers(family, inpainting):
    from diffusers.loaders.single_file_utils import DIFFUSERS_DEFAULT_PIPELINE_PATHS, infer_diffusers_model_type

    model_type = infer_diffusers_model_type(_meta_state(family, inpainting))
    assert model_type == DIFFUSERS_MODEL_TYPES[family, inpainting]
    folder = BUNDLED_FOLDERS[family, inpainting]
    diffusers_repo = DIFFUSERS_DEFAULT_PIPELINE_PATHS[model_type]["pretrained_model_name_or_path"]
    if inpainting and family != "sd2":
        # diffusers fetches a separate inpainting repo; Kiln fits the base folder (class, in_channels).
        assert folder == BUNDLED_FOLDERS[family, False]
    else:
        assert SOURCE_REPOS[folder] == diffusers_repo


def test_sd2_defaults_are_diffusers_choices():
    def scheduler(folder):
        return json.loads((model_config_dir(folder) / "scheduler" / "scheduler_config.json").read_text())

    # SD2 single files default to 2.1 (v-prediction, 768 px); SD2 inpainting is epsilon at 512 px.
    assert scheduler("sd21")["prediction_type"] == "v_prediction"
    assert scheduler("sd2-inpainting").get("prediction_type", "epsilon") == "epsilon"
    vae = json.loads((model_config_dir("sdxl-base") / "vae" / "config.json").read_text())
    assert vae["scaling_factor"] == 0.13025 and vae["force_upcast"] is True


@pytest.mark.parametrize(
    "family, inpainting, pads",
    [
        ("sd1", False, {"tokenizer": "<|endoftext|>"}),
        ("sd2", False, {"tokenizer": "!"}),
        ("sd2", True, {"tokenizer": "!"}),
        ("sdxl", False, {"tokenizer": "<|endoftext|>", "tokenizer_2": "!"}),
    ],
)
def test_written_folder_has_tokenizers_with_the_family_pad_token(family, inpainting, pads, tmp_path):
    from transformers import CLIPTokenizer

    dest = write_config_folder(_shapes(family, inpainting), family, inpainting, tmp_path, "AnyPipeline")
    assert json.loads((dest / "model_index.json").read_text())["_class_name"] == "AnyPipeline"
    for component, pad in pads.items():
        tokenizer = CLIPTokenizer.from_pretrained(dest / component)
        assert (tokenizer.pad_token, len(tokenizer)) == (pad, 49408), component
        assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_bundled_folders_hold_no_weights_and_no_vocabulary():
    # The loader copies resources/tokenizer in; the repo keeps one copy of the 1.5 MB vocabulary.
    root = model_config_dir("sd15").parent
    files = [path for path in root.rglob("*") if path.is_file()]
    assert files and all(path.suffix == ".json" for path in files)
    assert all(path.stat().st_size < 10_000 for path in files)
    for folder in set(BUNDLED_FOLDERS.values()):
        index = json.loads((root / folder / "model_index.json").read_text())
        assert index.get("safety_checker", [None, None]) == [None, None]
