"""Kiln's entry point: parses the command line and wires the pieces together.

    python main.py [IMAGE] [--model REF]        open the editor
    python main.py generate --model REF ...     make one image without the GUI
    python main.py restore IN... --out DIR ...  repair many scans without the GUI
    python main.py upscale IN... --model M --out DIR  enlarge photos with a super-resolution model
    python main.py make-test-model OUT          build a tiny model for trying things out
    python main.py serve [--models REF...]      run the engine for other computers (Ray Serve)
"""

from __future__ import annotations

import argparse
import sys

from inference.core.api import DEFAULT_SCHEDULER

COMMANDS = ("generate", "restore", "upscale", "train-lora", "make-test-model", "serve")


def _generate_parser(sub) -> None:
    p = sub.add_parser("generate", help="generate one image (text-to-image, image-to-image or inpainting)")
    p.add_argument("--model", required=True, help="hub id, diffusers folder or .safetensors checkpoint")
    p.add_argument("--prompt", required=True, help="what the image should show")
    p.add_argument("--negative", default="", help="what it should not show")
    p.add_argument("--image", help="input image: image-to-image, or inpainting with --mask")
    p.add_argument("--mask", help="mask image, white = regenerate (needs --image)")
    p.add_argument("--width", type=int, default=512, help="text-to-image width in px, a multiple of 8 (default 512)")
    p.add_argument("--height", type=int, default=512, help="text-to-image height in px, a multiple of 8 (default 512)")
    p.add_argument("--steps", type=int, default=20, help="denoising steps (default 20)")
    p.add_argument("--guidance", type=float, default=7.5, help="prompt guidance scale (default 7.5)")
    p.add_argument("--strength", type=float, default=0.75, help="how much of the input image changes, 0–1 (default 0.75)")
    p.add_argument("--seed", type=int, help="seed for reproducible results (default: random, printed)")
    p.add_argument("--scheduler", default=DEFAULT_SCHEDULER, help="sampler: default, ddim, euler, euler_a, dpm++_2m_karras, … (default: the model's)")
    p.add_argument("--out", required=True, help="output .png (never one of the inputs)")
    p.add_argument("--save-steps", metavar="DIR", help="also save each denoising step's preview into DIR")
    p.add_argument("--precision", choices=("auto", "fp16", "bf16", "fp32"), default="auto",
                   help="number format of the weights (default auto: fp16 on a GPU, fp32 on the CPU)")
    p.add_argument("--memory", choices=("auto", "none", "slicing", "offload", "sequential"), default="auto",
                   help="GPU memory savers: slicing (VAE tiling, attention slicing), offload (models move to the GPU "
                        "in turn), sequential (layer by layer: least memory, slowest); default auto, from free memory")
    p.add_argument("--lora", action="append", metavar="PATH[:WEIGHT]",
                   help="apply a .safetensors LoRA at WEIGHT (-2..2, default 1); repeat for several")
    _server_arguments(p)


def _server_arguments(p) -> None:
    p.add_argument("--server", metavar="URL", help="run on a Kiln server (main.py serve) instead of this computer "
                                                   "(default: KILN_SERVER)")
    p.add_argument("--token", help="the server's token (default: KILN_TOKEN)")


def _serve_parser(sub) -> None:
    p = sub.add_parser("serve", help="run the engine for other computers: a Kiln server on Ray Serve")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer only; "
                                                      "0.0.0.0: every network, needs a token)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--token", help="the token clients must send (or KILN_TOKEN; --token-file keeps it out of ps)")
    p.add_argument("--token-file", metavar="F", help="read the token from this file")
    p.add_argument("--models", nargs="+", metavar="REF", help="models clients may use: hub ids, diffusers folders or "
                                                             ".safetensors files (hub models in the cache are offered too)")
    p.add_argument("--replicas", type=int, default=1, help="engines serving at once (default 1)")
    p.add_argument("--gpus-per-replica", type=float, default=0.0, help="GPUs each replica holds (default 0: CPU; 1 "
                                                                      "on a GPU machine)")


def _restore_parser(sub) -> None:
    p = sub.add_parser("restore", help="repair scratches and dust on many scans without the GUI")
    p.add_argument("inputs", nargs="+", metavar="IN", help="photos, or folders of photos")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for NAME-restored.png files (created if needed)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--mask", help="one mask for every photo, white = repair")
    what.add_argument("--detect", action="store_true", help="find scratches, dust and spots automatically")
    p.add_argument("--sensitivity", type=float, default=None, help="damage detection sensitivity 0–1 (default 0.5)")
    p.add_argument("--heal", action="store_true", help="classical repair, no model needed (the default)")
    p.add_argument("--model", help="inpaint with this model instead (hub id, folder or .safetensors); "
                                   "with --colorize, the model that colourises (damage is then healed)")
    p.add_argument("--prompt", default="", help="with --model: describe the photo")
    p.add_argument("--steps", type=int, default=20, help="with --model: denoising steps (default 20)")
    p.add_argument("--strength", type=float, default=1.0, help="with --model: how much the masked area changes (default 1)")
    p.add_argument("--guidance", type=float, default=7.5, help="with --model: prompt guidance (default 7.5)")
    p.add_argument("--seed", type=int, default=0, help="with --model: seed (default 0, so reruns match)")
    p.add_argument("--colorize", action="store_true",
                   help="colourise with --model and --prompt: the model's colours on the scan's own luminance")
    p.add_argument("--colorize-strength", type=float, default=0.55,
                   help="with --colorize: how freely the model repaints before its colours are taken (default 0.55)")
    p.add_argument("--fill", metavar="MODEL", help="fill the mask with this learned fill model (LaMa .safetensors) "
                                                 "instead of healing; with --model, the start the model inpaints from")
    p.add_argument("--faces", metavar="MODEL|diffusion",
                   help="restore the faces boxed in NAME.faces.json beside each photo, with this face model "
                        "(GFPGAN…) or 'diffusion' (a low-strength pass of --model)")
    p.add_argument("--find-faces", metavar="DETECTOR",
                   help="with --faces: find the faces with this face detector (YuNet .onnx) in photos that have "
                        "no NAME.faces.json")
    p.add_argument("--fidelity", type=float, default=0.5,
                   help="with --faces MODEL: 0 keeps the original face, 1 takes the model's (default 0.5)")
    p.add_argument("--upscale", metavar="MODEL", help="enlarge with this super-resolution model (after the repairs)")
    p.add_argument("--scale", type=int, default=2, help="with --upscale: 2, 3 or 4 (default 2)")
    p.add_argument("--save-mask", action="store_true", help="also write NAME-mask.png, the mask that was repaired")
    p.add_argument("--changes", action="store_true", help="also write NAME-changes.png, white where pixels changed")
    _server_arguments(p)
    p.add_argument("--cluster", nargs="?", const="auto", metavar="auto|ray://HOST:10001",
                   help="spread the photos over a Ray cluster's workers (auto: the one on this computer, or a new "
                        "local one); resumable: photos already done are skipped; writes DIR/kiln-report.json")
    p.add_argument("--workers", type=int, help="with --cluster: how many workers (default: one per GPU, else one per "
                                               "two CPUs)")


def _train_lora_parser(sub) -> None:
    p = sub.add_parser("train-lora", help="teach a model a person, place or style from your photos (writes a LoRA)")
    p.add_argument("--model", required=True, help="the base model: hub id, diffusers folder or .safetensors (SD 1.x/2.x)")
    p.add_argument("--images", required=True, nargs="+", metavar="IN",
                   help="photos, or folders of photos; NAME.txt beside a photo is its caption")
    p.add_argument("--out", required=True, help="the LoRA to write, FILE.safetensors (checkpoints go into FILE.run)")
    p.add_argument("--trigger", default="sks", help="the word that calls up what was taught (default sks)")
    p.add_argument("--caption", default="a photo of {trigger}",
                   help="caption of photos without a NAME.txt; {trigger} is replaced (default 'a photo of {trigger}')")
    p.add_argument("--steps", type=int, default=500, help="training steps (default 500)")
    p.add_argument("--rank", type=int, default=8, help="adapter rank: capacity and file size (default 8)")
    p.add_argument("--lr", type=float, default=1e-4, help="learning rate (default 1e-4)")
    p.add_argument("--resolution", type=int, default=512, help="training size in px, a multiple of 64 (default 512)")
    p.add_argument("--batch", type=int, default=1, help="photos per step (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed: the same seed and photos give the same LoRA (default 0)")
    p.add_argument("--flip", action="store_true", help="also learn from mirror images (not for faces or text)")
    p.add_argument("--text-encoder", action="store_true",
                   help="also teach the text encoder (helps a new trigger word; a bigger file, more memory)")
    p.add_argument("--layout", choices=("diffusers", "kohya"), default="diffusers",
                   help="key names in the file: diffusers (Kiln, diffusers) or kohya (AUTOMATIC1111, ComfyUI; "
                        "Kiln reads it too)")
    p.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints (default 100)")
    p.add_argument("--sample-every", type=int, metavar="N", help="make a sample picture every N steps")
    p.add_argument("--sample-prompt", help="the prompt of the samples, e.g. 'a photo of sks person'")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR (OUT.run) from its checkpoint")
    p.add_argument("--precision", choices=("auto", "fp16", "bf16", "fp32"), default="auto",
                   help="number format of the frozen weights (default auto: fp16 on a GPU, fp32 on the CPU)")


def _upscale_parser(sub) -> None:
    p = sub.add_parser("upscale", help="enlarge many photos with a super-resolution model")
    p.add_argument("inputs", nargs="+", metavar="IN", help="photos, or folders of photos")
    p.add_argument("--model", required=True, help="a super-resolution model file (.safetensors, or a weights-only .pth)")
    p.add_argument("--scale", type=int, default=2, help="enlargement factor: 2, 3 or 4 (default 2)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for NAME-xN.png files (created if needed)")
    p.add_argument("--detail", metavar="REF", help="add detail: a low-strength pass of this diffusion model over the "
                                                 "enlarged photo, tile by tile at full resolution")
    p.add_argument("--prompt", default="a detailed photograph", help="with --detail: describe the photo")
    p.add_argument("--detail-strength", type=float, default=0.3, help="with --detail: how much may change (default 0.3)")
    p.add_argument("--steps", type=int, default=20, help="with --detail: denoising steps (default 20)")
    p.add_argument("--seed", type=int, default=0, help="with --detail: seed (default 0, so reruns match)")
    _server_arguments(p)
    p.add_argument("--cluster", nargs="?", const="auto", metavar="auto|ray://HOST:10001",
                   help="spread the photos over a Ray cluster's workers (as restore --cluster)")
    p.add_argument("--workers", type=int, help="with --cluster: how many workers (default: one per GPU, else one per "
                                               "two CPUs)")


def _make_test_model_parser(sub) -> None:
    p = sub.add_parser("make-test-model", help="build a tiny random-weight SD1.5-architecture model (no download)")
    p.add_argument("out", help="output folder (or .safetensors file with --single-file or --restoration)")
    p.add_argument("--inpainting", action="store_true", help="the 9-channel inpainting variant")
    p.add_argument("--single-file", action="store_true", help="one .safetensors in the original checkpoint layout")
    p.add_argument("--restoration", choices=("upscale", "face", "fill", "detect"),
                   help="instead: a random-weight restoration model (RRDBNet ×4, GFPGAN or LaMa) as one .safetensors, "
                        "or (detect) a YuNet face detector as .onnx")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiln", description="Kiln: restore photos and turn sketches into images.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _generate_parser(sub)
    _restore_parser(sub)
    _upscale_parser(sub)
    _train_lora_parser(sub)
    _make_test_model_parser(sub)
    _serve_parser(sub)
    return parser


def build_gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiln", description="Open the Kiln editor. Commands: " + ", ".join(COMMANDS))
    parser.add_argument("image", nargs="?", help="a photo to open")
    parser.add_argument("--model", help="model to select: hub id, diffusers folder or .safetensors file")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        args = build_parser().parse_args(argv)
        from inference.cli import generate as cli

        if args.command == "generate":
            return cli.generate_command(args)
        if args.command == "restore":
            from inference.cli.restore import restore_command

            return restore_command(args)
        if args.command == "upscale":
            from inference.cli.upscale import upscale_command

            return upscale_command(args)
        if args.command == "serve":
            from inference.cli.serve import serve_command

            return serve_command(args)
        if args.command == "train-lora":
            from inference.cli.train import train_lora_command

            return train_lora_command(args)
        return cli.make_test_model_command(args)
    if argv and argv[0] in ("-h", "--help"):
        build_gui_parser().print_help()
        print()
        build_parser().print_help()
        return 0
    args = build_gui_parser().parse_args(argv)
    from gui.app import run_app

    return run_app(image=args.image, model=args.model)


if __name__ == "__main__":
    sys.exit(main())
