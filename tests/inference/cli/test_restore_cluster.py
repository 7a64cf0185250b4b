"""``restore --cluster`` on a local Ray: 200 photos on 2 workers, one killed mid-run; every photo
restored exactly once and identical to a local run, the report complete; a second run skips all."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest
from PIL import Image

from kiln_server import ensure_ray, wait_until
from photos import scan

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_batch_survives_a_dead_worker_and_resumes(tmp_path, compact_upscaler, capsys):
    import main

    ray = ensure_ray()
    scans = tmp_path / "scans"
    scans.mkdir()
    for i in range(200):
        Image.fromarray(scan(i % 17, size=(48, 36), gray=i % 3 == 0)).save(scans / f"photo{i:03d}.png")
    recipe = ["--detect", "--upscale", str(compact_upscaler), "--scale", "2"]
    out = tmp_path / "cluster"

    def kill_one_worker():
        if wait_until(lambda: out.is_dir() and len(list(out.glob("*-restored.png"))) >= 40, 120):
            ray.kill(ray.get_actor(f"kiln-restore-{os.getpid()}-0"), no_restart=False)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    code = main.main(["restore", str(scans), "--out", str(out), *recipe, "--cluster", "--workers", "2"])
    killer.join()
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "kiln-report.json").read_text())
    assert report["workers"] == 2 and report["total"] == 200
    assert sorted(report["done"]) == sorted(str(p) for p in scans.glob("*.png"))  # each once, none missing
    assert report["retried"] and report["missing"] == [] and report["failed"] == []

    assert main.main(["restore", str(scans), "--out", str(tmp_path / "local"), *recipe]) == 0
    for i in range(200):
        name = f"photo{i:03d}-restored.png"
        assert np.array_equal(np.array(Image.open(out / name)), np.array(Image.open(tmp_path / "local" / name))), name

    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*-restored.png")}
    assert main.main(["restore", str(scans), "--out", str(out), *recipe, "--cluster", "--workers", "2"]) == 0
    again = json.loads((out / "kiln-report.json").read_text())
    assert len(again["already_done"]) == 200 and again["done"] == [] and again["missing"] == []
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*-restored.png")} == stamps  # nothing written twice


def test_upscale_on_the_cluster_gives_the_local_pictures(tmp_path, compact_upscaler):
    import main

    ensure_ray()
    for i in range(6):
        Image.fromarray(scan(i, size=(40, 30), gray=False)).save(tmp_path / f"p{i}.png")
    photos = [str(tmp_path / f"p{i}.png") for i in range(6)]
    common = ["--model", str(compact_upscaler), "--scale", "2"]
    assert main.main(["upscale", *photos, "--out", str(tmp_path / "c"), *common, "--cluster", "--workers", "2"]) == 0
    assert main.main(["upscale", *photos, "--out", str(tmp_path / "l"), *common]) == 0
    for i in range(6):
        there, here = (np.array(Image.open(tmp_path / d / f"p{i}-x2.png")) for d in ("c", "l"))
        assert there.shape == (60, 80, 3) and np.array_equal(there, here)
    report = json.loads((tmp_path / "c" / "kiln-report.json").read_text())
    assert len(report["done"]) == 6 and report["missing"] == []
