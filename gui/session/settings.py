"""Remembered preferences (QSettings): recent and local models, the last generation settings
(LoRAs included), the device panel's choices and the restoration models chosen for Upscale, Faces
and Fill.

Tests pass their own ``path`` so they never touch the user's settings.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields

from PySide6.QtCore import QSettings

from gui.session.generation_params import GenerationParams, params_from_values

MAX_RECENT_MODELS = 10


class Settings:
    def __init__(self, path: str | None = None):
        if path:
            self._qs = QSettings(path, QSettings.Format.IniFormat)
        else:
            self._qs = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "Kiln", "Kiln")

    def recent_models(self) -> list[str]:
        value = self._qs.value("models/recent", [])
        if isinstance(value, str):  # QSettings returns a lone entry as a plain string
            value = [value]
        return [str(v) for v in value or [] if str(v).strip()]

    def remember_model(self, ref: str) -> None:
        ref = ref.strip()
        if not ref:
            return
        recent = [ref] + [r for r in self.recent_models() if r != ref]
        self._qs.setValue("models/recent", recent[:MAX_RECENT_MODELS])

    def load_params(self) -> GenerationParams:
        return params_from_values({f.name: self._qs.value(f"generation/{f.name}") for f in fields(GenerationParams)})

    def save_params(self, params: GenerationParams) -> None:
        for name, value in asdict(params).items():
            self._qs.setValue(f"generation/{name}", json.dumps(value) if name == "loras" else value)
        self._qs.sync()

    def device_choices(self) -> tuple[str, str]:
        """(precision, memory mode) chosen in the device panel; ("auto", "auto") at first."""
        return (str(self._qs.value("device/precision", "auto")), str(self._qs.value("device/memory", "auto")))

    def save_device_choices(self, precision: str, memory_mode: str) -> None:
        self._qs.setValue("device/precision", precision)
        self._qs.setValue("device/memory", memory_mode)
        self._qs.sync()

    def local_models(self) -> list[str]:
        """Diffusers folders and .safetensors files added in the Models dialog, newest first."""
        value = self._qs.value("models/local", [])
        if isinstance(value, str):  # QSettings returns a lone entry as a plain string
            value = [value]
        return [str(v) for v in value or [] if str(v).strip()]

    def add_local_model(self, path: str) -> None:
        path = path.strip()
        if path:
            self._qs.setValue("models/local", [path] + [p for p in self.local_models() if p != path])
            self._qs.sync()

    # Restoration models (super-resolution, faces, fill): files added in the Models dialog, and the
    # one chosen for each use ("upscale", "face", "fill"; inference.restoration_models.model_file.KINDS)

    def restoration_models(self) -> list[str]:
        """Restoration model files added or downloaded, newest first."""
        value = self._qs.value("restoration/files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value or [] if str(v).strip()]

    def add_restoration_model(self, path: str) -> None:
        path = path.strip()
        if path:
            self._qs.setValue("restoration/files", [path] + [p for p in self.restoration_models() if p != path])
            self._qs.sync()

    def restoration_choice(self, kind: str) -> str:
        """The model file chosen for ``kind`` ("upscale", "face" or "fill"), or ""."""
        return str(self._qs.value(f"restoration/{kind}", "") or "")

    def choose_restoration_model(self, kind: str, path: str) -> None:
        self._qs.setValue(f"restoration/{kind}", path)
        self._qs.sync()

    def allow_noncommercial(self) -> bool:
        """Non-commercial restoration architectures (CodeFormer, DDColor…) turned on; off by default."""
        return str(self._qs.value("restoration/allow_noncommercial", "false")).lower() == "true"

    def set_allow_noncommercial(self, allowed: bool) -> None:
        self._qs.setValue("restoration/allow_noncommercial", "true" if allowed else "false")
        self._qs.sync()

    # Where generation runs: this computer, or a Kiln server (main.py serve) at a URL with a token.
    # The token is kept in this settings file, readable by this user only as the file is.

    def server_choice(self) -> tuple[bool, str, str]:
        """(run on the server, its URL, its token)."""
        on = str(self._qs.value("server/on", "false")).lower() == "true"
        return on, str(self._qs.value("server/url", "") or ""), str(self._qs.value("server/token", "") or "")

    def save_server_choice(self, on: bool, url: str, token: str) -> None:
        self._qs.setValue("server/on", "true" if on else "false")
        self._qs.setValue("server/url", url.strip())
        self._qs.setValue("server/token", token.strip())
        self._qs.sync()
