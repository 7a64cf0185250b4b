"""``main.py serve`` refuses, before Ray starts, what would let others in or could not work."""

from __future__ import annotations

import builtins

import main


def test_serve_says_what_is_wrong_before_starting(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KILN_TOKEN", raising=False)
    assert main.main(["serve", "--host", "0.0.0.0"]) == 1
    assert "give a token" in capsys.readouterr().err
    assert main.main(["serve", "--host", "0.0.0.0", "--token", "short"]) == 1
    assert "too short" in capsys.readouterr().err
    assert main.main(["serve", "--token-file", str(tmp_path / "missing")]) == 1
    assert "cannot read the token file" in capsys.readouterr().err
    assert main.main(["serve", "--models", str(tmp_path / "nothing-here.safetensors")]) == 1
    assert "not found" in capsys.readouterr().err

    real_import = builtins.__import__

    def without_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_ray)
    assert main.main(["serve"]) == 1
    assert 'pip install -e ".[cluster]"' in capsys.readouterr().err
