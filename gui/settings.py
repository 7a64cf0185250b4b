"""Remembered preferences (QSettings): recent models and the last generation settings.

Tests pass their own ``path`` so they never touch the user's settings.
"""

from __future__ import annotations

from dataclasses import asdict, fields

from PySide6.QtCore import QSettings

from gui.generation_params import GenerationParams

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
        params = GenerationParams()
        for f in fields(GenerationParams):
            value = self._qs.value(f"generation/{f.name}")
            if value is None:
                continue
            try:
                if f.type in ("bool", bool):
                    value = value if isinstance(value, bool) else str(value).lower() == "true"
                elif f.type in ("int", int):
                    value = int(value)
                elif f.type in ("float", float):
                    value = float(value)
                setattr(params, f.name, value)
            except (TypeError, ValueError):
                continue  # a damaged entry: keep the default
        return params

    def save_params(self, params: GenerationParams) -> None:
        for name, value in asdict(params).items():
            self._qs.setValue(f"generation/{name}", value)
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
