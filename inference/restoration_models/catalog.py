"""Restoration models Kiln recommends, by what they are for: one file each on the Hugging Face hub.

Plain data, no network and no heavy imports: the Models dialog lists these before anything is
downloaded. ``inference.models.file_download.download_file`` fetches an entry's one file into the
Hugging Face cache; ``load_restoration_model`` then recognises it like any other file.

Where the hub holds a file whose sha256 was seen (on the hub's own LFS pointer, and equal to the
authors' release), the entry pins it: a download whose file on the hub has another sha256 is refused
before a byte is fetched, so a mirror that changes its file cannot hand Kiln something else.
``.pth`` entries are plain-weights pickles (the hub's scan lists only ``OrderedDict``,
``_rebuild_tensor_v2`` and the storage types) and are opened with ``torch.load(weights_only=True)``.

Provenance, as checked on huggingface.co's pages when this table was written:

* Real-ESRGAN x4plus / x2plus — ``LykosAI/Upscalers`` (Stability Matrix's model mirror): the commit
  adding ``RealESRGAN/RealESRGAN_x{2,4}plus.pth`` shows the sha256 of the xinntao/Real-ESRGAN release
  files (x4plus ``4fa0d389…``, 67,040,989 bytes; x2plus ``49fafd45…``, 67,061,725 bytes). Verified.
* GFPGAN v1.4 — ``th2w33knd/GFPGANv1.4``: a repo of that one file (349 MB, plain-weights pickle). Its
  sha256 was not shown on the pages seen; the pin is the TencentARC release's (``e2cd4703…``,
  348,632,874 bytes, the same in every mirror whose pointer was seen, e.g. ``hacksider/deep-live-cam``),
  so a different file there is refused rather than used. Repo verified, bytes not.
* LaMa — ``biali/big-lama``: big-lama's generator converted from Sanster's TorchScript release to a
  safetensors state dict (the key layout spandrel reads). The repo was seen; the file name
  ``big-lama.safetensors`` comes from its model card's example and was not seen in a file list.
  NOT verified: if the hub has no such file, the download says so and nothing else happens.
* YuNet 2023mar — ``opencv/face_detection_yunet``: OpenCV's own repo of its model zoo's face detector
  (``face_detection_yunet_2023mar.onnx``, 232,589 bytes, MIT, from ShiqiYu/libfacedetection). NOT
  verified from here: the repo and file name are OpenCV's published ones; no pin.
* CodeFormer (non-commercial) — ``XuminYu/example_safetensors``: ``codeformer.pth`` with the sha256 of
  sczhou/CodeFormer's v0.1.0 release (``1009e537…``). Verified bytes; an unofficial mirror.
* DDColor (non-commercial in Kiln's table) — ``piddnad/DDColor-models``, the author's own repo
  (``ddcolor_modelscope.pth``, 912 MB, plain-weights pickle). Repo and file verified; no pin.
"""

from __future__ import annotations

from dataclasses import dataclass

from inference.restoration_models.model_file import NONCOMMERCIAL

# What each kind is for, in the order the Models dialog shows them, with their headings.
PURPOSES: tuple[tuple[str, str], ...] = (
    ("upscale", "Upscale"),
    ("face", "Restore faces"),
    ("fill", "Fill"),
    ("restore", "Colourise and restore"),
    ("detect", "Find faces"),
)


@dataclass(frozen=True)
class RestorationEntry:
    """One recommended model file.

    kind: "upscale", "face", "fill", "restore" (``model_file.KINDS``) or "detect" (a face detector,
    ONNX: ``face_finder``); scale: the upscaler's
    factor (1 for the others). sha256: the pinned content of ``filename`` (None: not pinned).
    noncommercial: off unless the user allows non-commercial models (``licence`` says why).
    """

    name: str
    kind: str
    scale: int
    repo_id: str
    filename: str
    licence: str
    size_mb: float
    description: str
    sha256: str | None = None
    noncommercial: bool = False

    @property
    def size_bytes(self) -> int:
        return int(self.size_mb * 1_000_000)

    def offered(self, allow_noncommercial: bool) -> bool:
        """Whether it may be downloaded now (a non-commercial entry only once the user allowed them)."""
        return allow_noncommercial or not self.noncommercial


RESTORATION_CATALOG: tuple[RestorationEntry, ...] = (
    RestorationEntry(
        name="Real-ESRGAN x4plus", kind="upscale", scale=4,
        repo_id="LykosAI/Upscalers", filename="RealESRGAN/RealESRGAN_x4plus.pth",
        licence="BSD-3-Clause", size_mb=67,
        description="Four times the pixels with real detail; the all-round choice for photos.",
        sha256="4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
    ),
    RestorationEntry(
        name="Real-ESRGAN x2plus", kind="upscale", scale=2,
        repo_id="LykosAI/Upscalers", filename="RealESRGAN/RealESRGAN_x2plus.pth",
        licence="BSD-3-Clause", size_mb=67,
        description="Twice the pixels, gentler than ×4: for pictures that are nearly big enough.",
        sha256="49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
    ),
    RestorationEntry(
        name="GFPGAN v1.4", kind="face", scale=1,
        repo_id="th2w33knd/GFPGANv1.4", filename="GFPGANv1.4.pth",
        licence="Apache-2.0", size_mb=349,
        description="Sharpens blurred or damaged faces in old photos while keeping who they are.",
        sha256="e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad",
    ),
    RestorationEntry(
        name="LaMa (big-lama)", kind="fill", scale=1,
        repo_id="biali/big-lama", filename="big-lama.safetensors",
        licence="Apache-2.0", size_mb=205,
        description="Fills scratches, tears and removed objects from their surroundings, fast and without a prompt.",
    ),
    RestorationEntry(
        name="CodeFormer", kind="face", scale=1,
        repo_id="XuminYu/example_safetensors", filename="codeformer.pth",
        licence=NONCOMMERCIAL["CodeFormer"], size_mb=377,
        description="Face restoration that copes with very damaged faces; personal, non-commercial use only.",
        sha256="1009e537e0c2a07d4cabce6355f53cb66767cd4b4297ec7a4a64ca4b8a5684b7", noncommercial=True,
    ),
    RestorationEntry(
        name="DDColor (ModelScope)", kind="restore", scale=1,
        repo_id="piddnad/DDColor-models", filename="ddcolor_modelscope.pth",
        licence=NONCOMMERCIAL["DDColor"], size_mb=912,
        description="Colours black-and-white photos in one step; personal, non-commercial use only.",
        noncommercial=True,
    ),
)


RESTORATION_CATALOG += (
    RestorationEntry(
        name="YuNet (2023mar)", kind="detect", scale=1,
        repo_id="opencv/face_detection_yunet", filename="face_detection_yunet_2023mar.onnx",
        licence="MIT", size_mb=0.2,
        description="Finds the faces in a photo and proposes a box around each, for Restore faces.",
    ),
)


def entries_for(kind: str) -> list[RestorationEntry]:
    """The catalog entries of one kind, in catalog order."""
    return [entry for entry in RESTORATION_CATALOG if entry.kind == kind]


def find_entry(repo_id: str, filename: str) -> RestorationEntry | None:
    """The entry for that hub file, or None when it is not a recommended one."""
    return next((e for e in RESTORATION_CATALOG if (e.repo_id, e.filename) == (repo_id, filename)), None)
